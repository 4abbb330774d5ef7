"""Every instructor notebook solutions/<assignment>/<name>.ipynb and its text form
solutions_py/<assignment>/<name>.py (jupytext's py:percent, paired by jupytext.toml) agree, and the
text form holds everything nbgrader reads: cell types, sources and cell metadata (nbgrader's,
tags, editable/deletable). What only the .ipynb keeps: cell ids, outputs, execution counts and the
notebook's own metadata (kernelspec, title); `make pair` (jupytext --sync) carries them over from
the .ipynb when it writes it from the .py."""
import copy
import json
from pathlib import Path

import jupytext
import nbformat
import pytest
from jupytext.combine import combine_inputs_with_outputs
from jupytext.config import load_jupytext_configuration_file
from jupytext.formats import long_form_multiple_formats
from jupytext.paired_paths import find_base_path_and_format, paired_paths

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS, TEXT = ROOT / "solutions", ROOT / "solutions_py"
CONFIG = load_jupytext_configuration_file(str(ROOT / "jupytext.toml"))
FIX = "run `make pair`, which syncs the two (jupytext --sync: the more recently edited one wins)"
# the English notebooks and the other languages' editions (solutions/<lang>/<assignment>/)
NOTEBOOKS = sorted(SOLUTIONS.glob("*/*.ipynb")) + sorted(SOLUTIONS.glob("*/*/*.ipynb"))
# cell metadata that jupytext keeps in the .ipynb only (the state of JupyterLab's view of a cell)
UI_STATE = {"autoscroll", "collapsed", "scrolled", "trusted", "execution", "ExecuteTime"}


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def text_form(notebook: Path) -> tuple[Path, dict]:
    """The path and jupytext format of a notebook's text form, as jupytext.toml pairs them."""
    formats = long_form_multiple_formats(CONFIG.default_formats(str(notebook)))
    pairs = paired_paths(str(notebook), find_base_path_and_format(str(notebook), formats)[1], formats)
    (path, fmt), = [(p, f) for p, f in pairs if f["extension"] == ".py"]
    return Path(path), fmt


def _cell_name(cell) -> str:
    gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return f"{cell.cell_type} cell" + (f" {gid!r}" if gid else "")


def differences(notebook: Path) -> list[str]:
    """How the text form of ``notebook`` differs from what jupytext writes from it (empty: in step)."""
    path, fmt = text_form(notebook)
    if not path.exists():
        return [f"{_rel(path)} is missing"]
    nb = nbformat.read(notebook, as_version=4)
    want_text = jupytext.writes(nb, fmt=fmt, config=CONFIG)
    got_text = path.read_text(encoding="utf-8")
    if got_text == want_text:
        return []
    want = jupytext.reads(want_text, fmt=fmt, config=CONFIG).cells
    got = jupytext.reads(got_text, fmt=fmt, config=CONFIG).cells
    out = []
    for i, (a, b) in enumerate(zip(want, got)):
        what = [k for k in ("cell_type", "source", "metadata") if a.get(k) != b.get(k)]
        if what:
            out.append(f"cell {i} ({_cell_name(a)} in the .ipynb, {_cell_name(b)} in the .py): "
                       f"{' and '.join(what)} differ{'s' if len(what) == 1 else ''}")
    if len(want) != len(got):
        out.append(f"{len(want)} cells in the .ipynb, {len(got)} in the .py")
    return out or ["the same cells, but not written as jupytext writes them"]


def test_every_notebook_has_its_text_form_and_no_text_form_is_left_over():
    assert NOTEBOOKS, "no instructor notebooks found"
    paired = {text_form(nb)[0] for nb in NOTEBOOKS}
    texts = set(TEXT.glob("*/*.py")) | set(TEXT.glob("*/*/*.py"))
    missing = sorted(_rel(p) for p in paired - texts)
    orphans = sorted(_rel(p) for p in texts - paired)
    assert not missing, f"notebooks without their text form: {missing}: {FIX}"
    assert not orphans, (f"text forms without their notebook: {orphans}: run `make pair` to "
                         "make the notebook from it, or delete it if its notebook was removed")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: str(p.parent.relative_to(SOLUTIONS)))
def test_notebook_and_text_form_agree(notebook):
    diffs = differences(notebook)
    assert not diffs, (f"{_rel(notebook)} and {_rel(text_form(notebook)[0])} differ: "
                       + "; ".join(diffs[:5]) + f"; {FIX}")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: str(p.parent.relative_to(SOLUTIONS)))
def test_text_form_round_trips_the_notebook(notebook):
    """The text form alone holds every cell's type, source and metadata (jupytext's view state
    aside), and the .ipynb that `make pair` writes from it is the committed one, byte for byte."""
    nb = nbformat.read(notebook, as_version=4)
    path, fmt = text_form(notebook)
    from_text = jupytext.read(path, fmt=fmt, config=CONFIG)
    assert len(from_text.cells) == len(nb.cells), _rel(path)
    for i, (a, b) in enumerate(zip(nb.cells, from_text.cells)):
        meta = {k: v for k, v in a.metadata.items() if k not in UI_STATE}
        assert (b.cell_type, b.source, b.metadata) == (a.cell_type, a.source, meta), \
            f"{_rel(path)}: cell {i} ({_cell_name(a)}) does not round-trip (if the two differ: {FIX})"
    rebuilt = combine_inputs_with_outputs(from_text, copy.deepcopy(nb), fmt=fmt)
    assert nbformat.writes(rebuilt) + "\n" == notebook.read_text(encoding="utf-8"), \
        f"{_rel(notebook)} written again from {_rel(path)} is not the committed notebook ({FIX})"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: str(p.parent.relative_to(SOLUTIONS)))
def test_no_jupytext_metadata_in_the_notebook(notebook):
    # nbgrader copies the notebook's metadata into course/; jupytext writes a "jupytext" key into
    # a notebook it makes from a .py alone (with a cell metadata filter that would hide metadata
    # from later text forms)
    meta = json.loads(notebook.read_text(encoding="utf-8"))["metadata"]
    assert "jupytext" not in meta, (f"{_rel(notebook)}: remove the 'jupytext' entry of its "
                                    "notebook metadata, then run `make pair`")


def test_every_kind_of_cell_and_metadata_round_trips(tmp_path):
    """Beyond the chapters as they are: a raw cell, a manually graded markdown task, tags, the
    solution/test markers, a source holding the cell marker itself, trailing blank lines."""
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3",
                                                            "display_name": "Python 3"}})
    grading = {"schema_version": 3, "locked": True, "solution": False, "task": False}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title\n\nText with `# %%` in it.",
                                      metadata={"editable": False, "deletable": False}),
        nbformat.v4.new_raw_cell("raw text\n# %% not a cell\n",
                                 metadata={"tags": ["raw-tag"]}),
        nbformat.v4.new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION",
                                  metadata={"nbgrader": {**grading, "grade_id": "f", "grade": False,
                                                         "locked": False, "solution": True}}),
        nbformat.v4.new_code_cell("assert f() == 1\n\n\n",
                                  metadata={"tags": ["a", "b"], "editable": False,
                                            "nbgrader": {**grading, "grade_id": "test_f",
                                                         "grade": True, "points": 2}}),
        nbformat.v4.new_markdown_cell("Explain.", metadata={"nbgrader": {
            **grading, "grade_id": "explain", "grade": True, "solution": True, "points": 1,
            "locked": False}}),
        nbformat.v4.new_code_cell(""),
    ]
    path = tmp_path / "solutions" / "01_x" / "x.ipynb"
    fmt = text_form(path)[1]
    back = jupytext.reads(jupytext.writes(nb, fmt=fmt, config=CONFIG), fmt=fmt, config=CONFIG)
    assert [(c.cell_type, c.source, c.metadata) for c in back.cells] == \
        [(c.cell_type, c.source, c.metadata) for c in nb.cells]
