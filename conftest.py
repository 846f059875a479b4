"""Run the notebook in fast mode, with TensorBoard runs and checkpoints in a temporary folder.

The Jupyter kernel that nbval starts inherits this process's environment, so the GAN_* variables set
here reach the notebook's settings cell. Fast mode never writes into generated_samples/ (its pictures go
under GAN_RUNS_DIR); the session fails if the committed pictures changed all the same.
"""

import hashlib
import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).parent
OUTPUT = Path(tempfile.mkdtemp(prefix="gan-notebook-test-"))


def pictures_digest():
    """One hash over every file under generated_samples/, names and bytes."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "generated_samples").rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(ROOT)).encode() + path.read_bytes())
    return digest.hexdigest()


def pytest_configure(config):
    os.environ.setdefault("GAN_FAST", "1")
    os.environ.setdefault("GAN_DATA_DIR", str(ROOT / "data"))
    os.environ["GAN_RUNS_DIR"] = str(OUTPUT / "runs")
    os.environ.setdefault("MPLBACKEND", "Agg")
    config.pictures_before = pictures_digest()


def pytest_sessionfinish(session, exitstatus):
    if pictures_digest() != session.config.pictures_before:
        print("\nFAILED: the tests changed files under generated_samples/; fast mode must never write there")
        session.exitstatus = 1


def pytest_report_header(config):
    return f"notebook outputs (fast mode): {OUTPUT}"
