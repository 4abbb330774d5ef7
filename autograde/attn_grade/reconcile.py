"""Put a handed-in notebook back into the shape of its release before nbgrader grades it.

Learners and their editors change a notebook's structure: JupyterLab and Notebook 7 copy a cell
with its nbgrader metadata (a duplicated answer or test cell), delete, move, split and merge
cells and change their type; Colab and some VS Code versions save every cell with
``metadata: {}``; older tools write nbformat 4.1–4.4 without cell ids. Stock nbgrader 0.9.6
meets several of these with an exception (its ``add_missing_cells`` raises ``KeyError`` when the
cell before a missing one is missing too) and the others by scoring zero.

:func:`reconcile` takes the submitted notebook, the released one and the test cells' sources as
stored in the gradebook, and returns a notebook in which

* every cell of the course's own (the locked set-up and read-only cells and the test cells) is
  found, by its nbgrader ``grade_id`` or else by its source, and carries the release's source
  and metadata again; text the learner typed into such a cell is kept in a cell of its own just
  before it;
* of several copies of a course cell, one (the last) is the graded one; earlier copies of a
  test cell are dropped (they would only run the same checks before the code was final);
* a course cell the learner deleted is restored after the nearest release cell still present;
* a test cell runs after the cells that define what it tests (the names its hidden
  ``grade("...", name)`` calls pass), moving it down where the learner's code sits below it;
* every answer cell (nbgrader's solution cell) is found by its metadata, or, where the metadata
  is gone, as the cell that defines the names its test uses;
* the learner's own cells keep their order and source, with no nbgrader metadata.

It also returns what it did, as notes for the learner and the instructor, and the test cells it
could not place with certainty (the step's code is defined differently on both sides of its
test cell): those are *flagged* for the instructor's review rather than silently scored.

The same function runs in the grading engine's preflight (whose notes reach the grade table,
``grades.csv`` and the feedback) and as the nbgrader preprocessor :class:`ReconcileCells` (for
``nbgrader autograde`` run by hand), where it changes nothing in a notebook already reconciled.
"""
from __future__ import annotations

import ast
import copy
import re
import threading
import uuid
from dataclasses import dataclass, field

import nbformat
from nbconvert.preprocessors import Preprocessor
from nbformat.notebooknode import from_dict
from traitlets import Bool

NOTES_MARK = "attn_course_grading_notes"      # cell metadata key of the notes cell we insert
GRADE_CALL = re.compile(r"""\bgrade\(\s*["'][\w.\-]+["']\s*,\s*([A-Za-z_]\w*)""")


# Python 3.11's ast module keeps its recursion-depth count in state that threads share: two
# grading threads parsing at once (the local Dask cluster's workers are threads) can fail with
# "SystemError: AST constructor recursion depth mismatch" (CPython gh-106905). One parse at a time.
_AST_LOCK = threading.Lock()


@dataclass
class Reconciled:
    """What :func:`reconcile` did: ``notes`` (one line each, for learner and instructor) and
    ``flags`` (test cell grade_id -> why the instructor should look at that step)."""
    notes: list[str] = field(default_factory=list)
    flags: dict[str, str] = field(default_factory=dict)


def _norm(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.replace("\r\n", "\n").strip().splitlines())


def _meta(cell) -> dict:
    return (cell.get("metadata") or {}).get("nbgrader") or {}


def _is_test(meta: dict) -> bool:
    return bool(meta.get("grade")) and not meta.get("solution")


def _is_course(meta: dict) -> bool:
    return bool(meta.get("locked")) or _is_test(meta)


def checked_names(source: str) -> list[str]:
    """The names a test cell's hidden ``grade("check", name)`` calls pass, in order."""
    return list(dict.fromkeys(GRADE_CALL.findall(source)))


def defined_names(source: str) -> set[str]:
    """Names a code cell binds at top level (def, class, assignment, import); empty if the cell
    does not parse (IPython magics and shell lines are ignored)."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        with _AST_LOCK:
            tree = ast.parse("\n".join(lines))
    except (SyntaxError, ValueError):
        return set()
    names: set[str] = set()

    def targets(node):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for elt in node.elts:
                targets(elt)

    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                targets(t)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets(node.target)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


@dataclass
class _Entry:
    kind: str                  # "course", "answer", "anchor" (markdown of the release), "learner"
    release: int | None        # index of the matching release cell
    cell: dict
    restored: bool = False


def _remainder(source: str, originals: list[str]) -> str:
    """What the learner added to a course cell: its source less the original text."""
    text = source.replace("\r\n", "\n")
    for original in originals:
        if original and original.strip() in text:
            text = text.replace(original.strip(), "", 1)
            break
    return text.strip()


def _learner_cell(source: str, cell_type: str = "code"):
    make = nbformat.v4.new_code_cell if cell_type == "code" else nbformat.v4.new_markdown_cell
    return make(source)


def reconcile(nb, release, gradebook_sources: dict[str, str] | None = None):
    """Return ``(notebook, Reconciled)``: ``nb`` (a submitted nbformat v4 notebook, not changed)
    reshaped after ``release`` (the released notebook). ``gradebook_sources`` maps test cells'
    grade_ids to their sources as stored in the gradebook (hidden tests included); without it
    the release's sources are used, and a test cell's names are not known (no moves)."""
    gradebook_sources = gradebook_sources or {}
    out = Reconciled()
    rcells = release.cells
    rmeta = [_meta(c) for c in rcells]
    by_id = {m["grade_id"]: i for i, m in enumerate(rmeta) if m.get("grade_id")}
    by_source: dict[str, int] = {}
    for i, c in enumerate(rcells):
        if (c.cell_type == "markdown" or _is_course(rmeta[i])) and c.source.strip():
            by_source.setdefault(_norm(c.source), i)
            gid = rmeta[i].get("grade_id")
            if gid in gradebook_sources:
                by_source.setdefault(_norm(gradebook_sources[gid]), i)

    # 1. what each submitted cell is
    entries: list[_Entry] = []
    for cell in nb.cells:
        if (cell.get("metadata") or {}).get(NOTES_MARK):
            continue                                  # our own notes from an earlier pass
        gid = _meta(cell).get("grade_id")
        i = by_id.get(gid)
        if i is not None:
            entries.append(_Entry("answer" if rmeta[i].get("solution") else "course", i, cell))
            continue
        i = by_source.get(_norm(cell.get("source", "")))
        if i is not None and _is_course(rmeta[i]):
            entries.append(_Entry("course", i, cell))
        elif i is not None and cell.get("cell_type") == "markdown":
            entries.append(_Entry("anchor", i, cell))
        else:
            entries.append(_Entry("learner", None, cell))

    # 2. course cells: keep the last copy, put back what the learner typed into them
    last = {}
    for k, e in enumerate(entries):
        if e.kind in ("course", "answer"):
            last[e.release] = k
    rebuilt: list[_Entry] = []
    dropped = 0
    for k, e in enumerate(entries):
        if e.kind != "course":
            if e.kind == "answer" and last[e.release] != k:
                e = _Entry("learner", None, e.cell)           # an earlier copy of an answer
            rebuilt.append(e)
            continue
        i, gid = e.release, rmeta[e.release]["grade_id"]
        original = rcells[i]
        extra = _remainder(e.cell.get("source", ""), [gradebook_sources.get(gid, ""), original.source])
        if extra and _norm(e.cell.get("source", "")) not in (_norm(original.source),
                                                             _norm(gradebook_sources.get(gid, ""))):
            rebuilt.append(_Entry("learner", None, _learner_cell(extra, original.cell_type)))
            out.notes.append(f"your changes to the course's cell {gid!r} were kept in a cell of "
                             "their own just before it; the cell itself was restored")
        if last[i] == k:
            rebuilt.append(_Entry("course", i, copy.deepcopy(original)))
        elif _is_test(rmeta[i]):
            dropped += 1
        else:                                         # an earlier copy of a read-only cell
            twin = copy.deepcopy(original)
            twin.metadata.pop("nbgrader", None)
            rebuilt.append(_Entry("learner", None, twin))
    if dropped:
        out.notes.append(f"{dropped} extra copy/copies of test cells removed (each test cell is "
                         "graded once, at its last copy)")
    entries = rebuilt

    # 3. course cells the learner deleted, restored after the nearest release cell still present
    present = {e.release for e in entries if e.release is not None}
    for i, rc in enumerate(rcells):
        if not _is_course(rmeta[i]) or i in present:
            continue
        at = 0
        for j in range(i - 1, -1, -1):
            spots = [k for k, e in enumerate(entries) if e.release == j]
            if spots:
                at = spots[-1] + 1
                break
        entries.insert(at, _Entry("course", i, copy.deepcopy(rc), restored=True))
        present.add(i)
        if _is_test(rmeta[i]):
            out.notes.append(f"test cell {rmeta[i]['grade_id']!r} was missing: restored from the "
                             "gradebook")

    # 4. answer cells whose metadata is gone: the learner's cell that defines what is tested
    answer_ids = [i for i, m in enumerate(rmeta) if m.get("solution") and rcells[i].cell_type == "code"]
    for a in answer_ids:
        if any(e.kind == "answer" and e.release == a for e in entries):
            continue
        nxt = next((j for j in range(a + 1, len(rcells)) if _is_test(rmeta[j])), None)
        names = set(checked_names(gradebook_sources.get(rmeta[nxt]["grade_id"], ""))) if nxt else set()
        names |= defined_names(rcells[a].source)
        found = [k for k, e in enumerate(entries)
                 if e.kind == "learner" and e.cell.get("cell_type") == "code"
                 and defined_names(e.cell.get("source", "")) & names]
        if found:
            k = found[-1]
            entries[k] = _Entry("answer", a, entries[k].cell)
        else:
            out.notes.append(f"no cell answers {rmeta[a]['grade_id']!r}: its step scores zero")

    # 5. each test cell after the code it tests
    def definers(name):
        return [k for k, e in enumerate(entries) if e.kind in ("learner", "answer")
                and e.cell.get("cell_type") == "code" and name in defined_names(e.cell.get("source", ""))]

    for i, m in enumerate(rmeta):
        if not _is_test(m):
            continue
        gid = m["grade_id"]
        names = checked_names(gradebook_sources.get(gid, ""))
        k = next(k for k, e in enumerate(entries) if e.release == i)
        need = [min(d) for d in (definers(n) for n in names) if d]
        if need and max(need) > k:
            entry = entries.pop(k)
            target = max(need)                  # its index after the pop
            entries.insert(target, entry)
            k = target
            if not entry.restored:
                out.notes.append(f"test cell {gid!r} was above the code it tests: it ran after it")
        for n in names:
            d = definers(n)
            before = [x for x in d if x < k]
            after = [x for x in d if x > k]
            live = _norm(entries[before[-1]].cell.source) if before else None
            if after and any(_norm(entries[x].cell.source) != live for x in after):
                out.flags[gid] = (f"{n} is defined differently above and below its test cell; "
                                  "the definition above it was graded")
                break

    # 6. the notebook: release metadata on course and answer cells, none on the learner's
    cells = []
    for e in entries:
        if e.kind == "course":
            cell = copy.deepcopy(rcells[e.release])
        elif e.kind == "answer":
            cell = copy.deepcopy(e.cell)
            release_cell = rcells[e.release]
            cell.metadata = copy.deepcopy(release_cell.metadata)
            if cell.get("cell_type") != release_cell.cell_type:     # type changed: back
                metadata = cell.metadata
                cell = _learner_cell(cell.get("source", ""), release_cell.cell_type)
                cell.metadata = metadata
        else:
            cell = copy.deepcopy(e.cell)
            (cell.get("metadata") or {}).pop("nbgrader", None)
        cells.append(cell)
    seen = set()
    for cell in cells:
        if not cell.get("id") or cell["id"] in seen:
            cell["id"] = uuid.uuid4().hex[:8]
        seen.add(cell["id"])
        cell.setdefault("metadata", {})
        if cell["cell_type"] == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
    result = copy.deepcopy(nb)
    result.cells = [from_dict(c) for c in cells]
    result.nbformat, result.nbformat_minor = 4, max(5, int(nb.get("nbformat_minor", 5)))
    for gid, why in out.flags.items():
        out.notes.append(f"flagged for the instructor: {gid}: {why}")
    return result, out


def notes_cell(notes: list[str], lang: str = "en"):
    """A markdown cell listing ``notes``, put first in the graded notebook (and so in the
    feedback), in ``lang``, the language of the notebook's edition (attn_ref.i18n.tr: the
    catalogue's translation of each note, the note as it is where it has none)."""
    from attn_ref.i18n import tr

    text = tr("**Notes from grading** (how your notebook was read; your code was not "
              "changed)", lang) + "\n\n" + "\n".join(f"- {tr(n, lang)}" for n in notes)
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata[NOTES_MARK] = True
    return cell


class ReconcileCells(Preprocessor):
    """nbgrader sanitize preprocessor: :func:`reconcile` against the released notebook (in
    ``CourseDirectory.release_directory``) and the gradebook's test sources; its notes become a
    first markdown cell. The grading engine runs :func:`reconcile` itself before nbgrader and
    switches this off (``--ReconcileCells.enabled=False``)."""

    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        from pathlib import Path

        from nbgrader.api import Gradebook
        from nbgrader.coursedir import CourseDirectory

        info = resources.get("nbgrader", {})
        coursedir = CourseDirectory(config=self.config)
        from .editions import edition_of, release_path

        course = Path(coursedir.format_path(coursedir.release_directory, ".", "."))
        name = f"{info['notebook']}.ipynb"
        lang = edition_of(course, info["assignment"], name, nb)
        path = release_path(course, info["assignment"], name, lang)
        if not path.exists():
            self.log.warning("no released notebook at %s: cells not reconciled", path)
            return nb, resources
        release = nbformat.read(path, as_version=4)
        with Gradebook(info["db_url"]) as gb:
            notebook = gb.find_notebook(info["notebook"], info["assignment"])
            sources = {c.name: c.source for c in notebook.source_cells}
        fixed, what = reconcile(nb, release, sources)
        if what.notes:
            fixed.cells.insert(0, notes_cell(what.notes, lang))
        for note in what.notes:
            self.log.warning("%s: %s", info["notebook"], note)
        return fixed, resources
