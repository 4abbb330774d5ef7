"""The edits real learners and their editors make to a notebook, as functions on nbformat notebooks.

The sample learners of the catalogue (``autograde/samples/edit_*``) are built from a correct
learner's notebook (``"base": "correct"``: the release with the instructor's answers typed in)
by a list of these edits in their ``sample.json``, for example::

    "edits": {"01_se": [["duplicate", "squeeze", {"source": "def squeeze(x):\\n    return x.max()"}]]}

so they follow the chapters when the chapters change. Cells are named by their nbgrader
``grade_id`` (as the learner's editor keeps it in the cell's metadata). Each edit is what the
named tool does to the file, as far as the file shows it:

=================  ==========================================================================
duplicate          JupyterLab / Notebook 7 copy and paste: the copy keeps the nbgrader metadata
delete             the cell is gone
retype             the answer cell deleted and the same code typed into a new cell (no metadata)
move               a cell moved (``after`` / ``before`` another cell, or to the ``end``)
split              JupyterLab's split: the first part keeps the metadata, the rest is a new cell
merge              JupyterLab's merge of a cell with the next: one cell, the first one's metadata
change_type        a cell turned into markdown (or raw) and, with ``back``, into code again
type_into          the learner typed into a locked cell (Colab does not enforce locks)
colab              Colab: ``metadata: {}`` on every cell, its own notebook metadata, nbformat 4.0
partial_metadata   an editor that kept the nbgrader metadata of some cells only
clear_outputs      every output cleared
huge_outputs       a large image output in one cell (MB)
nbformat_minor     saved as nbformat 4.N (4.1–4.4 have no cell ids)
vscode             VS Code's schema slips: cell ids in an nbformat 4.4 file, ``outputs`` and
                   ``execution_count`` on markdown cells, ``transient`` on a display output
colab_widgets      Colab's widget state saved without its ``state`` key (what nbconvert's HTML
                   export raises ``KeyError: 'state'`` on), Colab's cell metadata
no_outputs_keys    code cells without ``outputs`` and ``execution_count`` (hand-written JSON)
duplicate_ids      copied cells that kept their id (two cells, one id)
extra_cell_key     a key the schema does not know on every cell (nteract's ``outputExpanded``)
=================  ==========================================================================

The last five are the quirks that public bug reports show editors leaving in files that
JupyterLab still opens (with a warning at most): VS Code (microsoft/vscode-python #10855,
#12350; ids under 4.4: jupytext #764), Colab (jupyter/nbconvert #1731, googlecolab/colabtools
#4559), duplicated ids (OpenBioLink/ThoughtSource #128), nteract (jupyter/nbformat #73).
Each sample that carries one must be graded with full marks.
"""
from __future__ import annotations

import base64
import copy
import json
import uuid

import nbformat


def _find(nb, grade_id: str) -> int:
    for i, cell in enumerate(nb.cells):
        if (cell.get("metadata") or {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return i
    raise KeyError(f"no cell {grade_id!r} in the notebook")


def _new_id(cell):
    if "id" in cell:
        cell["id"] = uuid.uuid4().hex[:8]
    return cell


def duplicate(nb, grade_id, where="above", source=None, after=None):
    i = _find(nb, grade_id)
    twin = _new_id(copy.deepcopy(nb.cells[i]))
    if source is not None:
        twin.source = source
    at = _find(nb, after) + 1 if after else (i if where == "above" else i + 1)
    nb.cells.insert(at, twin)


def delete(nb, *grade_ids):
    for gid in grade_ids:
        del nb.cells[_find(nb, gid)]


def retype(nb, grade_id, to=None):
    i = _find(nb, grade_id)
    old = nb.cells.pop(i)
    new = nbformat.v4.new_code_cell(old.source)
    if to == "end":
        nb.cells.append(new)
    else:
        nb.cells.insert(i, new)


def move(nb, grade_id, after=None, before=None, to=None):
    cell = nb.cells.pop(_find(nb, grade_id))
    if to == "end":
        nb.cells.append(cell)
    elif after is not None:
        nb.cells.insert(_find(nb, after) + 1, cell)
    else:
        nb.cells.insert(_find(nb, before), cell)


def split(nb, grade_id, before):
    """Split at the first line that starts with ``before``."""
    i = _find(nb, grade_id)
    lines = nb.cells[i].source.splitlines()
    at = next(k for k, line in enumerate(lines) if line.startswith(before))
    rest = nbformat.v4.new_code_cell("\n".join(lines[at:]))
    nb.cells[i].source = "\n".join(lines[:at])
    nb.cells.insert(i + 1, rest)


def merge(nb, grade_id):
    i = _find(nb, grade_id)
    nxt = nb.cells.pop(i + 1)
    nb.cells[i].source = nb.cells[i].source + "\n\n" + nxt.source


def change_type(nb, grade_id, to="markdown", back=True):
    i = _find(nb, grade_id)
    cell = nb.cells[i]
    make = {"markdown": nbformat.v4.new_markdown_cell, "raw": nbformat.v4.new_raw_cell}[to]
    changed = make(cell.source)
    changed.metadata = copy.deepcopy(cell.metadata)
    if back:
        changed = nbformat.v4.new_code_cell(cell.source)
        changed.metadata = copy.deepcopy(cell.metadata)
    nb.cells[i] = changed


def type_into(nb, grade_id, text, where="end"):
    i = _find(nb, grade_id)
    src = nb.cells[i].source
    nb.cells[i].source = (src + "\n" + text) if where == "end" else (text + "\n" + src)


def colab(nb):
    for cell in nb.cells:
        cell.metadata = {}
        cell.pop("id", None)
        if cell.cell_type == "code":
            cell.execution_count = None
    nb.metadata = {"colab": {"provenance": [], "name": "se.ipynb"},
                   "kernelspec": {"name": "python3", "display_name": "Python 3"},
                   "language_info": {"name": "python"}}
    nb.nbformat_minor = 0


def partial_metadata(nb, keep_every=2):
    for k, cell in enumerate(nb.cells):
        if k % keep_every:
            cell.metadata.pop("nbgrader", None)


def clear_outputs(nb):
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None


def huge_outputs(nb, megabytes=60, grade_id="setup"):
    blob = base64.b64encode(b"\0" * int(megabytes * 2**20 * 3 / 4)).decode()
    nb.cells[_find(nb, grade_id)].outputs = [nbformat.v4.new_output(
        "display_data", data={"image/png": blob, "text/plain": "<Figure>"})]


def nbformat_minor(nb, minor):
    nb.nbformat_minor = minor
    if minor < 5:
        for cell in nb.cells:
            cell.pop("id", None)


def vscode(nb):
    nb.nbformat_minor = 4                    # ids kept: "Additional properties ... 'id'"
    for k, cell in enumerate(nb.cells):
        cell.setdefault("id", f"vsc{k:05d}")
        if cell.cell_type == "markdown":
            cell["outputs"], cell["execution_count"] = [], None
        else:
            cell.metadata["vscode"] = {"languageId": cell.cell_type == "code" and "python" or "raw"}
    code = next(c for c in nb.cells if c.cell_type == "code")
    code["outputs"] = [{"output_type": "display_data", "metadata": {},
                        "data": {"text/plain": "<Figure>"}, "transient": {"display_id": "d1"}}]
    nb.metadata["vscode"] = {"interpreter": {"hash": "0" * 64}}


def colab_widgets(nb):
    for k, cell in enumerate(nb.cells):
        cell.metadata["id"] = f"colab{k:04d}"
        if cell.cell_type == "code":
            cell.metadata["colab"] = {"base_uri": "https://localhost:8080/"}
            cell.metadata["outputId"] = f"out{k:04d}"
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output(                      # a progress bar, as saved
        "display_data", data={"application/vnd.jupyter.widget-view+json": {
            "model_id": "0a1b2c", "version_major": 2, "version_minor": 0},
            "text/plain": "  0%|          | 0/10"})]
    nb.metadata["colab"] = {"provenance": [], "name": "se.ipynb"}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "0a1b2c": {"model_module": "@jupyter-widgets/controls", "model_name": "HBoxModel",
                   "model_module_version": "1.5.0", "state": {}}}}      # no top-level "state"


def no_outputs_keys(nb):
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.pop("outputs", None)
            cell.pop("execution_count", None)


def duplicate_ids(nb):
    first = nb.cells[0].get("id", "dup")
    for cell in nb.cells[:6]:
        cell["id"] = first


def extra_cell_key(nb, key="outputExpanded", value=False):
    for cell in nb.cells:
        cell[key] = value


EDITS = {f.__name__: f for f in (duplicate, delete, retype, move, split, merge, change_type,
                                 type_into, colab, partial_metadata, clear_outputs, huge_outputs,
                                 nbformat_minor, vscode, colab_widgets, no_outputs_keys,
                                 duplicate_ids, extra_cell_key)}


def apply(nb, edits: list) -> None:
    """Apply ``edits`` (``[name, *args, {keyword args}]`` each) to ``nb`` in place."""
    for edit in edits:
        name, *args = edit
        kwargs = args.pop() if args and isinstance(args[-1], dict) else {}
        if name not in EDITS:
            raise KeyError(f"unknown edit {name!r}; known: {sorted(EDITS)}")
        EDITS[name](nb, *args, **kwargs)


def dumps(nb) -> str:
    """The notebook as the editor would write it: as JSON, without nbformat's upgrade to 4.5."""
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
