"""The README's main command, headless with papermill, shows each epoch's line while it runs and exits 0."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_papermill_logs_every_epoch_of_every_model(tmp_path):
    environ = os.environ | {"GAN_FAST": "1", "GAN_BENCHMARK": "0"}
    command = [
        sys.executable,
        "-m",
        "papermill",
        "DCGAN_MNIST_digit_generation.ipynb",
        str(tmp_path / "run.ipynb"),
        "--log-output",
    ]
    result = subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=600)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    for kind in ("dcgan", "cgan", "selfcond"):
        assert f"[{kind}] epoch   1/1" in log, f"no epoch line for {kind}"
    progress_lines = [line for line in log.splitlines() if "epoch 1/1:" in line]
    assert len(progress_lines) <= 3, f"progress bars flood the log: {progress_lines}"
    assert (tmp_path / "run.ipynb").stat().st_size > 0
