"""Fixtures that run the notebook's own code cells in this process, so tests can call its functions."""

import json
from pathlib import Path

import pytest
import torch

NOTEBOOK = Path(__file__).parent.parent / "DCGAN_MNIST_digit_generation.ipynb"


def code_cells():
    """The notebook's code cells as text, without the cells nbval skips and without IPython magics."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    sources = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
    return [
        "\n".join(line for line in s.splitlines() if not line.startswith("%")) for s in sources if "NBVAL_SKIP" not in s
    ]


def run_notebook_until(marker=None, train=True):
    """Execute the code cells in order up to (not including) the first one that contains `marker`.

    With train=False no GAN is trained: right after the settings cell, the list of models to train is emptied.
    """
    namespace = {"__name__": "notebook"}
    for source in code_cells():
        if marker and marker in source:
            return namespace
        exec(compile(source, str(NOTEBOOK), "exec"), namespace)
        if not train and "MODELS" in namespace:
            namespace["MODELS"] = []
    if marker:
        raise AssertionError(f"no code cell contains {marker!r}")
    return namespace


@pytest.fixture(scope="session")
def nb():
    """The whole notebook's namespace in fast mode, every definition and the evaluator, but no GAN trained."""
    return run_notebook_until(train=False)


@pytest.fixture
def tiny(nb):
    """A few batches of images with digits and k-means groups, and a settings object for quick runs."""
    cfg = nb["replace"](
        nb["cfg"], log_every=1, compile=False, selfcond_groups=4, epochs_dcgan=2, epochs_cgan=2, epochs_selfcond=2
    )
    images = nb["gan_images"][: 4 * cfg.batch_size]
    digits = nb["gan_labels"][: 4 * cfg.batch_size]
    groups, _ = nb["kmeans"](images, cfg.selfcond_groups, 5, cfg.seed)
    return cfg, images, {"dcgan": None, "cgan": digits, "selfcond": groups}


@pytest.fixture
def assert_same_weights():
    """A check that every tensor of a restored network equals the trained one's, bit for bit (on any device)."""

    def check(trained, restored):
        for name, value in trained.state_dict().items():
            assert torch.equal(value.cpu(), restored.state_dict()[name].cpu()), name

    return check
