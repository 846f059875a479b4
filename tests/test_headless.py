"""Headless with papermill: each epoch's line shows while it runs, it exits 0, and no TensorBoard outlives a run."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_papermill_logs_every_epoch_of_every_model_and_starts_no_tensorboard(tmp_path):
    import tensorboard.manager

    runs = tmp_path / "runs"
    environ = os.environ | {"GAN_FAST": "1", "GAN_BENCHMARK": "0", "GAN_RUNS_DIR": str(runs)}
    environ |= {"GAN_EVALUATOR_PATH": str(ROOT / "runs" / "mnist_evaluator.pt")}  # the one nbval trains
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
    assert f"to watch: tensorboard --logdir {runs}" in log
    assert not [info for info in tensorboard.manager.get_all() if str(runs) in info.logdir], "a TensorBoard started"
    assert tensorboards_of(runs) == []


def tensorboards_of(logdir):
    """Pids of running TensorBoard processes whose command line names `logdir`."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "tensorboard" in command and str(logdir) in command:
            found.append(int(proc.name))
    return found


def test_an_interactive_kernel_stops_its_tensorboard_when_it_stops(tmp_path):
    from jupyter_client.manager import start_new_kernel

    cells = json.loads((ROOT / "DCGAN_MNIST_digit_generation.ipynb").read_text())["cells"]
    helper = next("".join(c["source"]) for c in cells if "def open_tensorboard" in "".join(c["source"]))
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        client.execute_interactive(helper, timeout=60)
        client.execute_interactive(f"open_tensorboard({str(tmp_path)!r}, 'on')", timeout=90)
        pids = []
        client.execute_interactive("print(STARTED_TENSORBOARDS)", timeout=10, output_hook=lambda m: pids.append(m))
        started = json.loads(next(m["content"]["text"] for m in pids if m["msg_type"] == "stream"))
        assert len(started) == 1 and started[0] in tensorboards_of(tmp_path)  # and its data server
        client.execute("exit()")  # the kernel stops by itself, so no process-group kill by the manager helps
        for _ in range(100):
            if not manager.is_alive() and not tensorboards_of(tmp_path):
                break
            time.sleep(0.1)
        assert tensorboards_of(tmp_path) == [], "the kernel left its TensorBoard running"
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
