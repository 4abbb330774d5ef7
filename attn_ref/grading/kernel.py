"""The half of grading that runs inside a notebook's kernel: collect and send, never judge.

:func:`grade` runs the learner's object on a check's hidden cases and sends the results out of
the kernel as a display output of type :data:`~attn_ref.grading.core.MIME`. It also checks them
on the spot, so an instructor running a solution notebook (or nbval in CI) sees at once whether
the hidden tests pass; that local check is a convenience only. The verdict that counts is
reached again, outside the kernel, by :mod:`attn_grade.nbgrader_plugin` (the instructor's
package).
"""
from __future__ import annotations

import contextlib
import os
import sys
import traceback
import warnings
from typing import Any

from ..i18n import tr
from .core import MIME, PAYLOAD_VERSION, Refused, Rejected, encode_array, verify
from .registry import get_check


def _describe(exc: BaseException) -> str:
    """An error as the feedback states it (:func:`~attn_ref.grading.core.error_line` adds "your
    code raised" to an error of the learner's code): a check's refusal of the learner's result or
    module (:class:`~attn_ref.grading.core.Rejected`) is its message alone; any other error is
    its class, message and the learner's line it came from."""
    if isinstance(exc, Rejected):
        return str(exc)
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


@contextlib.contextmanager
def _state_kept():
    """Leave the notebook's global state as it was: the torch (CPU and CUDA), NumPy and Python
    random states, grad mode, default dtype, intra-op thread count and deterministic-algorithms
    setting. Hidden checks seed and run the learner's code; the cells after a test cell must
    compute in the graded run what they computed in the learner's own run, where no hidden
    check ran."""
    import random

    import numpy as np
    import torch

    py, legacy = random.getstate(), np.random.get_state()
    grad, dtype, threads = torch.is_grad_enabled(), torch.get_default_dtype(), torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    try:
        with torch.random.fork_rng(devices=cuda):
            yield
    finally:
        random.setstate(py)
        np.random.set_state(legacy)
        torch.set_grad_enabled(grad)
        torch.set_default_dtype(dtype)
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


def _refused(exc: BaseException) -> list | None:
    """The numbers of a result the check refused (:class:`~attn_ref.grading.core.Refused`), sent
    beside the error so the grader can still name the mistake that made them; else None."""
    if not isinstance(exc, Refused):
        return None
    try:
        return [encode_array(a) for a in exc.arrays]
    except Exception:                      # noqa: BLE001 - the error is reported all the same
        return None


def collect(check_id: str, obj: Any, namespace: dict | None = None) -> dict:
    """Run ``obj`` on every hidden case of ``check_id``; return the payload (plain data). The
    notebook's random states and settings are as before afterwards (see :func:`_state_kept`)."""
    import torch

    check = get_check(check_id)
    results = []
    with _state_kept(), warnings.catch_warnings(), _substituted(namespace, check.substitutes):
        warnings.simplefilter("ignore")
        for case in check.cases():
            try:
                torch.manual_seed(0)
                outs = check.run(obj, case)
                results.append({"outputs": [encode_array(a) for a in outs], "error": None})
            except Exception as exc:       # the learner's error is a result, reported as such
                results.append({"outputs": _refused(exc), "error": _describe(exc),
                                "rejected": isinstance(exc, Rejected)})
    return {"check": check_id, "version": PAYLOAD_VERSION, "cases": results}


def grade(check_id: str, obj: Any, namespace: dict | None = None) -> None:
    """Hidden test: collect the learner's results for ``check_id`` and send them to the grader.

    ``namespace`` defaults to the calling notebook's globals (where earlier steps are replaced by
    their references while this step runs).
    """
    if namespace is None:
        namespace = sys._getframe(1).f_globals
    payload = collect(check_id, obj, namespace)
    # while nbgrader autogrades, the verdict that counts is reached outside the kernel, which
    # drops this output: the check on the spot (the reference and every catalogued mistake, on
    # every case) would only cost time
    autograding = os.environ.get("NBGRADER_EXECUTION") == "autograde"
    verdict = None if autograding else verify(get_check(check_id), payload)
    # in the language of the notebook's edition (an instructor running a Chinese solution)
    summary = tr("hidden checks: " + (verdict.lines[0] if verdict else "results sent to the grader"))
    try:
        from IPython import get_ipython
        from IPython.display import display
        shown = get_ipython() is not None
    except ImportError:
        shown = False
    if shown:
        display({MIME: payload, "text/plain": summary}, raw=True)
    # while nbgrader autogrades, the verdict is reached outside; raising here would keep the
    # later checks of a multi-value test cell from sending their results
    if verdict is not None and not verdict.passed:
        raise AssertionError(tr(verdict.text()))
    if not shown:
        print(summary)
