"""Figures in the chapters' prose: papers' figures are listed with their source in FACTS.md, and
results of the notebooks' own runs are printed by their cells, not typed into the text."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "solutions").glob("*/*.ipynb"))
# a percentage with two integer digits, or a two-decimal figure in a markdown table cell
PAPER_FIGURE = re.compile(r"(?<![\d.])(\d\d\.\d+) ?%|\|\s*\**(\d\d\.\d\d)\**\s*(?=\|)")
RUN_RESULT = re.compile(r"\d+\.\d\s*±\s*\d+\.\d")           # mean ± std typed into the text


def _markdown(path):
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_every_quoted_paper_figure_is_in_the_fact_table(path):
    facts = (ROOT / "FACTS.md").read_text()
    missing = sorted({m.group(1) or m.group(2) for text in _markdown(path)
                      for m in PAPER_FIGURE.finditer(text)} - set(re.findall(r"\d\d\.\d+", facts)))
    assert not missing, f"{path.parent.name}: figures not listed in FACTS.md: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_no_run_results_typed_into_the_text(path):
    typed = [m.group(0) for text in _markdown(path) for m in RUN_RESULT.finditer(text)]
    assert not typed, f"{path.parent.name}: results typed into the prose: {typed}"


def test_eca_chapter_shows_the_released_mobilenetv2_kernels_of_the_hidden_check():
    from attn_ref.grading.checks_eca import MOBILENETV2_RELEASED

    nb = nbformat.read(ROOT / "solutions" / "02_eca" / "eca.ipynb", as_version=4)
    src = "".join(c.source for c in nb.cells if c.cell_type == "code")
    assert f'"MobileNetV2": {MOBILENETV2_RELEASED}' in src
    assert MOBILENETV2_RELEASED == (1, 1, 1, 1, 3, 3, 3)      # k = 1 below 96 channels, 3 from 96


def test_the_readme_lists_every_chapter_with_its_points():
    """The README's *Chapters* table has one row per assignment, its points the sum of the
    chapter's graded cells (nbgrader metadata)."""
    readme = (ROOT / "README.md").read_text()
    table = dict(re.findall(r"^\| `(\d\d_\w+)` \| [^|]+ \| (\d+) \|", readme, re.M))
    points = {p.parent.name: sum(c.metadata.get("nbgrader", {}).get("points", 0)
                                 for c in nbformat.read(p, as_version=4).cells
                                 if c.metadata.get("nbgrader", {}).get("grade"))
              for p in NOTEBOOKS}
    assert table == {a: str(int(n)) for a, n in points.items()}
