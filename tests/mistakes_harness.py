"""Run the hidden checks' catalogue of mistakes against the chapters' *visible* tests.

Each chapter notebook in ``solutions/`` is executed in this process, cell by cell (magics
dropped, plots closed). Just before each graded test cell, every object that the cell's hidden
part hands to ``grade("<check>", name)`` is replaced, one catalogued mistake at a time, by an
object that makes exactly that mistake (built from ``Mistake.compute``, which says what code with
the mistake returns), and the cell's visible part -- what a learner sees -- is run. It must raise
an ``AssertionError`` whose message starts with the hint (not a ``NameError``, not a broadcasting
error, and not pass).

The sample learners of ``autograde/samples`` are the same mistakes written out as code: each
sample's cells are pasted in place of the solution cells, and every test cell in which the sample
is expected to lose points must fail visibly, while every cell in which it keeps its points must
pass visibly.
"""
from __future__ import annotations

import contextlib
import inspect
import io
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "autograde" / "samples"
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", re.S)
GRADE_CALL = re.compile(r"""grade\(\s*["']([\w.]+)["']\s*,\s*([A-Za-z_]\w*)\s*\)""")

# cells before the last test cell that no visible test needs and that are too slow to run here
# (timings and profiles, 2-21 s each); a display cell that needed one of them fails quietly
SKIP: dict[str, set] = {"06_profiling": {"code-02", "code-03", "code-06", "code-07", "code-08",
                                         "code-09", "code-12"}}


@dataclass
class TestCell:
    grade_id: str
    points: float
    visible: str
    calls: list          # [(check_id, name)]


def _code(src: str) -> str:
    return "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in src.splitlines())


def notebook(chapter: str, root: str = "solutions"):
    path = next((ROOT / root / chapter).glob("*.ipynb"))
    return nbformat.read(path, as_version=4)


def test_cells(nb) -> list[TestCell]:
    out = []
    for cell in nb.cells:
        md = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and md.get("grade"):
            hidden = "".join(m.group(0) for m in HIDDEN.finditer(cell.source))
            out.append(TestCell(md["grade_id"], md.get("points", 0), HIDDEN.sub("", cell.source),
                                GRADE_CALL.findall(hidden)))
    return out


def run_visible(cell: TestCell, ns: dict, replace: dict | None = None):
    """Run the visible part of a test cell in the notebook's namespace ``ns`` (as a kernel
    would: the functions defined earlier see the replaced names), with ``replace`` applied;
    ``ns`` is restored afterwards. Return the exception raised, or None."""
    import matplotlib.pyplot as plt

    saved = dict(ns)
    ns.update(replace or {})
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(_code(cell.visible), f"<{cell.grade_id}>", "exec"), ns)
    except BaseException as exc:          # noqa: BLE001 - what the learner would see
        return exc
    finally:
        plt.close("all")
        ns.clear()
        ns.update(saved)
    return None


def walk(chapter: str, solutions: dict[str, str] | None = None, tolerate: bool = False,
         root: str = "solutions"):
    """Execute a chapter's cells in order; yield (test cell, namespace) before each test cell.

    ``solutions`` replaces solution cells by grade id (a sample learner's cells). With
    ``tolerate``, errors in cells that are not test cells are ignored (a mistaken sample may
    break the cells that display its results); so are errors in the cells that display results
    of a chapter with skipped cells (nbval runs every cell). A test cell's visible part runs
    after it is yielded, as in the released notebook."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nb = notebook(chapter, root)
    tests = {t.grade_id: t for t in test_cells(nb)}
    ns: dict = {"__name__": "__main__"}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        md = cell.metadata.get("nbgrader", {})
        gid = md.get("grade_id", "")
        if gid in SKIP.get(chapter, {}):
            continue
        if gid in tests:
            cell_ = tests.pop(gid)
            yield cell_, ns
            if not tests:
                return
            src = cell_.visible             # what the released notebook runs there
        elif md.get("solution"):
            src = (solutions or {}).get(gid, cell.source)
        else:
            src = cell.source
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(_code(src), f"<{chapter}:{gid}>", "exec"), ns)
        except Exception:
            if tolerate or md.get("grade") or (chapter in SKIP and not md.get("solution")
                                               and gid != "setup"):
                continue
            raise
        finally:
            plt.close("all")


# ----- objects that make one catalogued mistake ------------------------------------------------
def _np_arg(a):
    import torch
    if isinstance(a, torch.Tensor):
        return a.detach().double().numpy()
    if isinstance(a, (tuple, list)):
        return type(a)(_np_arg(v) for v in a)
    return a


def _torch_out(arr, like):
    import torch
    t = torch.from_numpy(np.asarray(arr, dtype=np.float64))
    return t.to(like.dtype) if isinstance(like, torch.Tensor) and like.is_floating_point() else t


def _unpack_pair(arr, H, W):
    import torch
    t = torch.from_numpy(np.asarray(arr, dtype=np.float64))
    B, C = t.shape[:2]
    return t[:, :, :H].reshape(B, C, H, 1), t[:, :, H:].reshape(B, C, 1, W)


def mistaken(check, mistake, reference):
    """An object like ``reference`` (the solution's function or value) that makes ``mistake``;
    None where the catalogue's mistake cannot be turned into an object (modules)."""
    from attn_ref.grading.core import Case

    if check.kind == "value":
        case = check.cases()[0]
        value = np.asarray(mistake.compute(case))
        if isinstance(reference, (tuple, list)):
            conv = int if all(isinstance(v, (int, np.integer)) for v in reference) else float
            return type(reference)(conv(v) for v in value.reshape(-1)) if value.ndim == 1 \
                else [[conv(v) for v in row] for row in value]
        if isinstance(reference, (int, np.integer)) and float(value) == int(value):
            return int(value)
        if isinstance(reference, (int, float, np.floating, np.integer)):
            return float(value)
        return value
    if check.kind != "function":
        return None
    sig = inspect.signature(reference)
    n_args = len(check.cases()[0].args)      # arguments with defaults beyond these keep them

    def wrong(*args, **kwargs):
        bound = sig.bind(*args, **kwargs)
        given = list(bound.arguments.values())      # a mistake about a default needs it left out
        bound.apply_defaults()
        vals = list(bound.arguments.values())
        out_buffer = vals[3] if check.id == "profiling.ca_scale" else None
        vals = vals[:n_args]
        like = next((v for v in vals if hasattr(v, "dtype")), None)
        if check.id == "profiling.dominant_operator":
            rows = vals[0]
            idx = int(mistake.compute(Case("visible", args=[rows])))
            return rows[idx]["name"]
        try:
            out = mistake.compute(Case("visible", args=[_np_arg(v) for v in given[:n_args]]))
        except (TypeError, ValueError, IndexError, AttributeError):
            out = mistake.compute(Case("visible", args=[_np_arg(v) for v in vals]))
        if out_buffer is not None:
            out_buffer.copy_(_torch_out(out, like))
            return out_buffer
        if check.id == "ca.coordinate_pool":
            return _unpack_pair(out, vals[0].shape[2], vals[0].shape[3])
        if check.id == "ca.split_gates":
            return _unpack_pair(out, vals[1], vals[2])
        if np.ndim(out) == 0 and like is None:
            v = np.asarray(out).item()
            return int(v) if float(v) == int(v) else v
        return _torch_out(out, like)

    wrong.__name__ = f"{reference.__name__}_{mistake.name.replace(' ', '_')}"
    return wrong


def samples_of(chapter: str):
    """(name, cells by grade id, expected scores by test cell) of the chapter's sample learners
    that write code (not the attacks on the grader nor the broken submissions)."""
    for d in sorted(SAMPLES.iterdir()):
        spec = d / "sample.json"
        src = d / f"{chapter}.py"
        if d.name.startswith(("mallory", "rob_")) or not spec.exists() or not src.exists():
            continue
        scores = json.loads(spec.read_text())["scores"].get(chapter)
        if scores is None:
            continue
        from attn_grade.pipeline import parse_cells
        yield d.name, parse_cells(src), scores


def message(exc) -> str:
    return f"{type(exc).__name__}: {exc}"
