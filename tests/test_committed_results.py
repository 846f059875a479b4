"""The README's results table is the committed run's: the notebook's own table output and the shipped generators."""

import json
import re
from pathlib import Path

import torch

ROOT = Path(__file__).parent.parent
README_NAMES = {
    "real test digits": "real test digits",
    "DCGAN": "dcgan",
    "cGAN": "cgan",
    "self-conditioned GAN": "selfcond",
}


def table_rows(markdown, first_header_cell):
    """{first cell: the other cells} of the Markdown table whose header starts with `first_header_cell`."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header_cell} |"))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0]] = [re.sub(r" \(\d\)$", "", cell) for cell in cells[1:]]  # "98.6% (7)": the digit is extra
    return rows


def committed_results_output():
    cells = json.loads((ROOT / "DCGAN_MNIST_digit_generation.ipynb").read_text())["cells"]
    shown = "display(Markdown(results_table(trained, baseline)))"
    cell = next(c for c in cells if c["cell_type"] == "code" and "".join(c["source"]).strip() == shown)
    return "".join(cell["outputs"][0]["data"]["text/markdown"])


def test_readme_results_are_the_notebooks_committed_table():
    readme = table_rows((ROOT / "README.md").read_text(), "samples (10,000 each)")
    notebook = table_rows(committed_results_output(), "samples")
    assert {README_NAMES[name] for name in readme} == set(notebook)
    for name, cells in readme.items():
        assert cells == notebook[README_NAMES[name]], f"README row {name!r} differs from the notebook's output"


def test_the_committed_table_is_the_shipped_generators_last_epoch():
    notebook = table_rows(committed_results_output(), "samples")
    for kind in ("dcgan", "cgan", "selfcond"):
        shipped = torch.load(ROOT / "generated_samples" / kind / "generator.pt", map_location="cpu", weights_only=False)
        metrics = shipped["history"]["epochs"][-1]["metrics"]
        fid, _, score, unsure, spread = notebook[kind][:5]
        assert fid == f"{metrics['fid']:.2f}", kind
        assert score == f"{metrics['inception_score']:.2f}", kind
        assert unsure == f"{metrics['unsure_share']:.1%}", kind
        assert spread == f"{metrics['spread']:.3f}", kind
