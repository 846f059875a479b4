"""Run the notebook in fast mode with every output in a temporary folder.

The Jupyter kernel that nbval starts inherits this process's environment, so the GAN_* variables
set here reach the notebook's configuration cell. Nothing is written to the committed
generated_samples/ or to a user's runs/; the MNIST files are read from ./data (GAN_DATA_DIR overrides).
"""
import os
import tempfile
from pathlib import Path

_OUTPUT = Path(tempfile.mkdtemp(prefix="gan-notebook-test-"))


def pytest_configure(config):
    os.environ.setdefault("GAN_FAST", "1")
    os.environ.setdefault("GAN_DATA_DIR", str(Path(__file__).parent / "data"))
    os.environ["GAN_SAMPLES_DIR"] = str(_OUTPUT / "generated_samples")
    os.environ["GAN_RUNS_DIR"] = str(_OUTPUT / "runs")
    os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_report_header(config):
    return f"notebook outputs (fast mode): {_OUTPUT}"
