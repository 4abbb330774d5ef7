"""Helpers for visible tests: small hand-checkable cases that say what differs and where to look.

They raise ``AssertionError`` with the expected value, the learner's value and a hint, and print
one line on success. Nothing goes to stderr.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .core import compare, to_numpy


def _fmt(a: np.ndarray) -> str:
    return np.array2string(np.asarray(a, dtype=np.float64), precision=4, suppress_small=True,
                           max_line_width=88, threshold=40)


def expect_shape(got: Any, shape: tuple, name: str, hint: str = "") -> None:
    try:
        arr = to_numpy(got)
    except TypeError as exc:
        raise AssertionError(f"{name}: {exc}. {hint}".strip()) from None
    if tuple(arr.shape) != tuple(shape):
        raise AssertionError(f"{name}: expected shape {tuple(shape)}, got {tuple(arr.shape)}. "
                             f"{hint}".strip())
    print(f"ok: {name} has shape {tuple(shape)}")


def expect_close(got: Any, expected: Any, name: str, hint: str = "",
                 dtype: str = "float64") -> None:
    """Visible test: ``got`` must equal ``expected`` to the course's tolerance for ``dtype``."""
    try:
        g = to_numpy(got)
    except TypeError as exc:
        raise AssertionError(f"{name}: {exc}. {hint}".strip()) from None
    w = to_numpy(expected)
    ok, what = compare(g, w, dtype)
    if not ok:
        raise AssertionError(f"{name}: {what}\n  expected:\n{_fmt(w)}\n  got:\n{_fmt(g)}\n"
                             f"  hint: {hint}")
    print(f"ok: {name} ({what})")


def expect_equal(got: Any, expected: Any, name: str, hint: str = "") -> None:
    """Visible test for exact values (counts, kernel sizes, shapes)."""
    if isinstance(got, bool) or not isinstance(got, (int, np.integer, float)) or got != expected:
        raise AssertionError(f"{name}: expected {expected!r}, got {got!r}. {hint}".strip())
    print(f"ok: {name} = {expected!r}")
