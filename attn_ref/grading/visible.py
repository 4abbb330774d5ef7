"""Helpers for visible tests: small hand-checkable cases that say what differs and where to look.

They raise ``AssertionError`` whose message starts with what was checked and the hint, then says
what differs and shows a few values (never whole tensors), and print one line on success.
Nothing goes to stderr.
"""
from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from ..i18n import figures, language, tr
from .core import Refused, Rejected, compare, error_line, to_numpy

SHOWN = 8          # values shown of a tensor in a failure message


def _fmt(a: np.ndarray) -> str:
    """A few values of ``a`` on one line: all of them when there are at most SHOWN, else the
    first ones of the flattened tensor with its shape."""
    a = np.asarray(a, dtype=np.float64)
    flat = a.reshape(-1)
    vals = np.array2string(flat[:SHOWN], precision=4, suppress_small=True, separator=", ",
                           max_line_width=10_000)
    if flat.size <= SHOWN:
        return vals if a.ndim <= 1 else f"{vals} (shape {tuple(a.shape)}, flattened)"
    return f"{vals[:-1]}, ...] (first {SHOWN} of {flat.size}, shape {tuple(a.shape)}, flattened)"


def _fail(name: str, hint: str, *details: str) -> AssertionError:
    # each part in the learner's language (attn_ref.i18n), the hint first
    colon = ": " if language() == "en" else "："
    head = (f"{tr(name)}{colon}{tr(hint)}".strip() if hint else
            f"{tr(name)}{colon}{tr('wrong')}")
    return AssertionError("\n  ".join([head, *[tr(d) for d in details if d]]))


def expect_shape(got: Any, shape: tuple, name: str, hint: str = "") -> None:
    _translated_prints()
    try:
        arr = to_numpy(got)
    except TypeError as exc:
        raise _fail(name, hint, f"{exc}") from None
    if tuple(arr.shape) != tuple(shape):
        raise _fail(name, hint, f"expected shape {tuple(shape)}, got {tuple(arr.shape)}")
    print(tr(f"ok: {name} has shape {tuple(shape)}"))


def expect_dtype(got: Any, dtype: Any, name: str, hint: str = "") -> None:
    """Visible test: ``got`` must be a torch tensor of ``dtype`` (a ``torch.dtype``). ``got`` may
    be a function of no arguments, called here: an error it raises fails the test, hint first
    (inputs of mixed dtypes make code that does not cast them raise)."""
    import torch

    _translated_prints()

    if callable(got):
        try:
            got = got()
        except Exception as exc:  # noqa: BLE001 - the learner's error, reported with the hint
            raise _fail(name, hint, f"your code raised {type(exc).__name__}: {exc}"[:300]) from None
    if not isinstance(got, torch.Tensor):
        raise _fail(name, hint, f"expected a tensor of dtype {dtype}, got a {type(got).__name__}")
    if got.dtype != dtype:
        raise _fail(name, hint, f"expected dtype {dtype}, got {got.dtype}")
    print(tr(f"ok: {name} has dtype {dtype}"))


def expect_close(got: Any, expected: Any, name: str, hint: str = "",
                 dtype: str = "float64") -> None:
    """Visible test: ``got`` must equal ``expected`` to the course's tolerance for ``dtype``."""
    _translated_prints()
    try:
        g = to_numpy(got)
    except TypeError as exc:
        raise _fail(name, hint, f"{exc}") from None
    w = to_numpy(expected)
    ok, what = compare(g, w, dtype)
    if not ok:
        raise _fail(name, hint, what, f"expected: {_fmt(w)}", f"got:      {_fmt(g)}")
    print(tr(f"ok: {name} ({what})"))


def expect_equal(got: Any, expected: Any, name: str, hint: str = "") -> None:
    """Visible test for exact values (counts, kernel sizes, shapes)."""
    _translated_prints()
    if isinstance(got, bool) or not isinstance(got, (int, np.integer, float)) or got != expected:
        raise _fail(name, hint, f"expected {expected!r}, got {got!r}")
    print(tr(f"ok: {name} = {expected!r}"))


def expect_defined(*names: str) -> None:
    """First line of a test whose exercise defines values at the top level of its cell: while the
    cell still holds its stub, say so with ``NotImplementedError`` instead of a ``NameError``."""
    _translated_prints()
    import sys

    scope = sys._getframe(1).f_globals
    missing = [n for n in names if n not in scope]
    if missing:
        raise NotImplementedError(tr(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                                     "not defined yet: write your answer in the exercise cell "
                                     "above and run it."))


def _mistake_hint(check, case, outs: list) -> str:
    """The hint of the first catalogued mistake that returns ``outs`` (one of them) on ``case``;
    "" if none does."""
    for m in check.mistakes():
        try:
            mw = np.asarray(m.compute(case))
        except Exception:  # noqa: BLE001 - a mistake that raises or cannot occur here
            continue
        if mw.dtype.kind in "biuf" and not np.all(np.isfinite(mw)):
            continue        # undefined on this case
        if any(a.shape == mw.shape and compare(a, mw, case.dtype)[0] for a in outs):
            return m.hint
    return ""


def expect_answer(got: Any, check_id: str, name: str, labels: tuple | None = None) -> None:
    """Visible test for a step that has no smaller hand-checkable case (a count, a table) or
    whose mistakes only show on the hidden check's own cases: ``got`` is run here on the cases of
    the hidden check ``check_id`` and compared, each value on its own (``labels`` names them);
    a known mistake is named by its hint, first. The answers themselves are not shown, and the
    grader judges again, outside the kernel, when you submit."""
    _translated_prints()
    import sys
    import warnings

    import torch

    from .kernel import _describe, _state_kept, _substituted
    from .registry import get_check

    check = get_check(check_id)
    cases = check.cases()
    failures = []
    with _state_kept(), warnings.catch_warnings(), \
            _substituted(sys._getframe(1).f_globals, check.substitutes):
        warnings.simplefilter("ignore")
        for i, case in enumerate(cases):
            try:
                torch.manual_seed(0)
                outs = [np.asarray(a) for a in check.run(got, case)]
            except Exception as exc:   # noqa: BLE001 - the learner's error, reported as such
                # a refused result's numbers (core.Refused: a module of another layout, say) can
                # still name its mistake, unless they are the right ones (as in verify)
                refused = [np.asarray(a) for a in exc.arrays] if isinstance(exc, Refused) else []
                want = np.asarray(check.expected(case))
                hint = "" if any(compare(a, want, case.dtype)[0] for a in refused) else \
                    _mistake_hint(check, case, refused)
                # a mistake the check's run sees itself names itself by its error (shown_by)
                hint = next((m.hint for m in check.mistakes()
                             if m.shown_by and m.shown_by in str(exc)), hint)
                failures.append((case, hint or check.points_hint,
                                 [error_line(_describe(exc), isinstance(exc, Rejected))]))
                continue
            want = np.asarray(check.expected(case))
            verdicts = [compare(a, want, case.dtype, check.axis_names) for a in outs]
            if any(ok for ok, _ in verdicts):
                continue
            arr = outs[0]
            hint = _mistake_hint(check, case, outs) or check.points_hint
            details = [verdicts[0][1]]
            if check.kind == "value" and arr.shape == want.shape and arr.ndim == 1 and arr.size > 1:
                wrong = [j for j in range(arr.size)
                         if not compare(arr[j:j + 1], want[j:j + 1], case.dtype)[0]]
                which = [str(labels[j]) if labels else f"value {j}" for j in wrong]
                details = [f"{arr.size - len(wrong)} of {arr.size} values are right; wrong: "
                           + ", ".join(which)]
            failures.append((case, hint, details))
    if not failures:
        print(tr(f"ok: {name}" + (f" ({len(cases)} cases)" if len(cases) > 1 else "")))
        return
    case, hint, details = failures[0]
    if check.kind == "value":
        raise _fail(name, hint, *details, f"yours: {got!r}"[:300])
    raise _fail(name, hint, f"{len(failures)} of {len(cases)} cases fail; the first: {case.label}",
                *details)


# --- the summary of the graded steps, before submitting --------------------------------------
#
# While a notebook runs in IPython, every cell's outcome is recorded by its source (a test cell
# is locked, so its source is the one stored in the notebook file). summary() reads the graded
# test cells and their points from the notebook's nbgrader metadata and says which of them last
# ran without an error in this kernel session.

_RUNS: dict[str, str] = {}     # cell source (stripped) -> "" (passed) or the error's class name


def _record(result) -> None:
    source = (getattr(result.info, "raw_cell", "") or "").strip()
    if source:
        err = result.error_in_exec or result.error_before_exec
        _RUNS[source] = "" if err is None else type(err).__name__


def _watch() -> None:
    """Record cell outcomes from now on, where this runs in IPython (a notebook's kernel)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and _record not in shell.events.callbacks["post_run_cell"]:
        shell.events.register("post_run_cell", _record)


def _nbgrader_cells(notebook: str):
    """(cell, its nbgrader metadata, its source stripped) of each cell of ``notebook`` (a path)
    that nbgrader marks. Raises OSError, ValueError or KeyError for a file that is not a
    notebook."""
    with open(notebook, encoding="utf-8") as f:
        cells = json.load(f)["cells"]
    for cell in cells:
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        if meta:
            src = cell.get("source", "")
            yield cell, meta, ("".join(src) if isinstance(src, list) else str(src)).strip()


def steps(notebook: str) -> list[dict]:
    """The graded steps of ``notebook`` (a path): one dict per autograded test cell, with its
    ``step`` (grade_id without ``test_``), ``points`` and ``status`` ("passed", "not run", or the
    error's class name) as last run in this kernel."""
    found, seen = [], set()
    for cell, meta, source in _nbgrader_cells(notebook):
        if cell.get("cell_type") != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        if meta.get("grade_id") in seen:     # a duplicated test cell: one step, counted once
            continue
        seen.add(meta.get("grade_id"))
        status = _RUNS.get(source)
        found.append({"step": meta.get("grade_id", "?").removeprefix("test_"),
                      "points": meta.get("points", 0),
                      "status": "not run" if status is None else status or "passed"})
    return found


def summary(notebook: str) -> None:
    """Print which graded steps of ``notebook`` pass their visible tests in this kernel session,
    with their points. Never raises: it is the last cell of a chapter."""
    _translated_prints()
    try:
        found = steps(notebook)
    except (OSError, ValueError, KeyError) as exc:
        print(tr(f"no summary: {notebook} could not be read ({exc})"))
        return
    width = max([len(s["step"]) for s in found] + [4])
    mark = {"passed": "✔", "not run": "·"}
    print(tr("Graded steps, as their visible tests last ran in this session:"))
    for s in found:
        what = s["status"] if s["status"] in mark else f"failed ({s['status']})"
        unit = tr("points" if s["points"] != 1 else "point")
        print(f"  {mark.get(s['status'], '✘')} {s['step']:<{width}} {s['points']:>3g} "
              f"{unit:<{6 if language() == 'en' else 2}}  {tr(what)}")
    passed = sum(s["points"] for s in found if s["status"] == "passed")
    total = sum(s["points"] for s in found)
    print(tr(f"Visible tests pass for {passed:g} of {total:g} points. When you submit, the grader "
             "runs the hidden tests of each step on your code as it is saved; rerun a step's test "
             "after you change its code."))



def _translated_prints() -> None:
    """In an edition in another language than English (attn_ref.i18n), what the course's own
    cells print is shown in that language: the visible tests' closing line, the lines the
    chapters' read-only cells print (their code is the same in both editions, written in English)
    and the messages of the AssertionErrors the test cells raise, each through the catalogue
    (:func:`attn_ref.i18n.tr`: exactly or by a template; unknown text as it is). In the cells a
    learner writes only texts the catalogue holds word for word are swapped (a learner's own
    "expected 3, got 4" stays as typed). A course cell is one of the nbgrader cells that are not
    answers, of the notebook this kernel runs (:func:`attn_ref.i18n.kernel_notebooks`).

    IPython puts its own wrapper around ``sys.stdout.write`` for each cell it runs and takes it
    off afterwards, so the translation wraps whatever writes at the start of every cell
    (``pre_run_cell``); the errors go through IPython's handler for chosen exceptions
    (``set_custom_exc``, left alone where something else set one). Only in a notebook's kernel.
    Set up on import, by each visible-test helper, and as an IPython extension (the grader's
    kernels forked from its zygote import this module before they have a shell), with the
    translation of figures (:func:`attn_ref.i18n.figures.watch`)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    figures.watch()                    # and the figures (attn_ref.i18n.figures)
    if shell is None or _wrap_stdout in shell.events.callbacks["pre_run_cell"] \
            or language() == "en":
        return
    shell.events.register("pre_run_cell", _wrap_stdout)
    if not shell.custom_exceptions:
        shell.set_custom_exc((AssertionError,), _translated_error)
    _wrap_stdout()                     # the cell running now


def load_ipython_extension(shell) -> None:
    """``%load_ext attn_ref.grading.visible``, or a kernel's ``extensions``: the translations of
    :func:`_translated_prints` in a kernel that imported this module before it had a shell."""
    _translated_prints()


_now = {"course_cell": False}          # whether the cell running now is one of the course's


def _course_cells() -> frozenset:
    """The sources of the course's own cells (nbgrader cells that are not answers) of the
    notebooks this kernel runs, read again when one of them changes on disk."""
    from ..i18n import kernel_notebooks

    paths = kernel_notebooks()
    key = tuple((p, os.path.getmtime(p)) for p in paths if os.path.isfile(p))
    if _course_cells.key != key:
        sources = set()
        for p in paths:
            try:
                sources.update(source for _, meta, source in _nbgrader_cells(p)
                               if not meta.get("solution"))
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue
        _course_cells.key, _course_cells.sources = key, frozenset(sources)
    return _course_cells.sources


_course_cells.key, _course_cells.sources = None, frozenset()


def _wrap_stdout(info=None) -> None:
    import sys

    from ..i18n import catalogue

    raw = getattr(info, "raw_cell", None)
    _now["course_cell"] = isinstance(raw, str) and raw.strip() in _course_cells()
    out = sys.stdout
    write = out.write
    if getattr(write, "_attn_translated", False):
        return
    lang = language()
    messages, _ = catalogue(lang)

    def translated(text, *args, **kwargs):
        if isinstance(text, str):
            text = tr(text, lang) if _now["course_cell"] else messages.get(text, text)
        return write(text, *args, **kwargs)

    translated._attn_translated = True
    try:
        out.write = translated
    except AttributeError:            # a stream that takes no attributes: left as it is
        pass


def _translated_error(shell, etype, value, tb, tb_offset=None):
    """IPython's handler for an AssertionError: its message through the catalogue where a course
    cell raised it, then the traceback as IPython shows any other."""
    if _now["course_cell"] and value.args and isinstance(value.args[0], str):
        said = tr(value.args[0])
        if said != value.args[0]:
            value.args = (said, *value.args[1:])
    shell.showtraceback((etype, value, tb), tb_offset=tb_offset)


_watch()
_translated_prints()
