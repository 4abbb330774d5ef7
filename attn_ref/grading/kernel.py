"""The half of grading that runs inside a notebook's kernel: collect and send, never judge.

:func:`grade` runs the learner's object on a check's hidden cases and sends the results out of
the kernel as a display output of type :data:`~attn_ref.grading.core.MIME`. It also checks them
on the spot, so an instructor running a solution notebook (or nbval in CI) sees at once whether
the hidden tests pass; that local check is a convenience only. The verdict that counts is
reached again, outside the kernel, by :mod:`attn_ref.grading.nbgrader_plugin`.
"""
from __future__ import annotations

import contextlib
import sys
import traceback
import warnings
from typing import Any

from .core import MIME, PAYLOAD_VERSION, encode_array, verify
from .registry import get_check


def _describe(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if "attn_ref" not in f.filename.replace("\\", "/")]
    where = f" (in {mine[-1].name}, line {mine[-1].lineno})" if mine else ""
    return f"{type(exc).__name__}: {exc}{where}"


@contextlib.contextmanager
def _substituted(namespace: dict | None, substitutes: dict):
    """Replace earlier steps' names in the notebook by their references while a step runs, so a
    mistake in an earlier step costs only that step's points."""
    if not namespace or not substitutes:
        yield
        return
    saved = {k: namespace[k] for k in substitutes if k in namespace}
    try:
        namespace.update(substitutes)
        yield
    finally:
        for k in substitutes:
            namespace.pop(k, None)
        namespace.update(saved)


def collect(check_id: str, obj: Any, namespace: dict | None = None) -> dict:
    """Run ``obj`` on every hidden case of ``check_id``; return the payload (plain data)."""
    import torch

    check = get_check(check_id)
    results = []
    with warnings.catch_warnings(), _substituted(namespace, check.substitutes):
        warnings.simplefilter("ignore")
        for case in check.cases():
            try:
                torch.manual_seed(0)
                outs = check.run(obj, case)
                results.append({"outputs": [encode_array(a) for a in outs], "error": None})
            except Exception as exc:       # the learner's error is a result, reported as such
                results.append({"outputs": None, "error": _describe(exc)})
    return {"check": check_id, "version": PAYLOAD_VERSION, "cases": results}


def grade(check_id: str, obj: Any, namespace: dict | None = None) -> None:
    """Hidden test: collect the learner's results for ``check_id`` and send them to the grader.

    ``namespace`` defaults to the calling notebook's globals (where earlier steps are replaced by
    their references while this step runs).
    """
    if namespace is None:
        namespace = sys._getframe(1).f_globals
    payload = collect(check_id, obj, namespace)
    verdict = verify(get_check(check_id), payload)
    summary = ("hidden checks: " + verdict.lines[0])
    try:
        from IPython import get_ipython
        from IPython.display import display
        shown = get_ipython() is not None
    except ImportError:
        shown = False
    if shown:
        display({MIME: payload, "text/plain": summary}, raw=True)
    if not verdict.passed:
        raise AssertionError(verdict.text())
    if not shown:
        print(summary)
