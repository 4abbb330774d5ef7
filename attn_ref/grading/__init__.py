"""Grading for attention-course: hidden checks, the in-kernel collector, visible-test helpers.

* Notebook test cells call :func:`grade` (hidden tests) and :func:`expect_close` (visible tests).
* The grader judges outside the kernel with :mod:`attn_grade.nbgrader_plugin` (the
  instructor's package, in autograde/; never imported in a learner's kernel).
* Each chapter's checks live in ``checks_<chapter>.py``; see :mod:`attn_ref.grading.core`.
"""
from .core import Case, Check, Mistake, Verdict, compare, verify
from .kernel import collect, grade
from .registry import all_checks, get_check
from .visible import (expect_answer, expect_close, expect_defined, expect_dtype, expect_equal,
                      expect_shape, summary)

__all__ = ["Case", "Check", "Mistake", "Verdict", "compare", "verify", "collect", "grade",
           "all_checks", "get_check", "expect_answer", "expect_close", "expect_defined",
           "expect_dtype", "expect_equal", "expect_shape", "summary"]
