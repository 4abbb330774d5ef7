"""The grading system's settings, in one place: the :class:`Grading` options, set in the class's
``nbgrader_config.py`` as nbgrader's own options are (``c.Grading.submission_timeout = 600``).

nbgrader's own options stay nbgrader's: the gradebook is ``c.CourseDirectory.db_url``, the time
a cell may run while grading is ``c.ResilientExecute.timeout``. Environment variables are read
only by the command line (:func:`attn_grade.pipeline.main`), each standing for one option
(:data:`ENVIRONMENT`); ``attn-grade --help-settings`` lists them all with their help.
"""
from __future__ import annotations

from pathlib import Path

from traitlets import Bool, Float, Int, Unicode
from traitlets.config import Config, Configurable
from traitlets.config.loader import PyFileConfigLoader


class Grading(Configurable):
    """How submissions are graded: limits, isolation and where the work runs."""

    submission_timeout = Int(900, help=(
        "Seconds one submission's grading may take in all (nbgrader, its kernel, every cell). "
        "A submission over it is stopped and scores zero, with a note.")).tag(config=True)
    memory_limit_gb = Float(6.0, help=(
        "Address-space limit of one submission's grading processes, in GiB. A kernel over it "
        "stops with a MemoryError or dies; the table says which cell.")).tag(config=True)
    max_notebook_mb = Int(50, help=(
        "Largest notebook graded, in MiB of code and text (outputs are dropped first). A larger "
        "one is not graded, with a note.")).tag(config=True)
    sandbox = Bool(True, help=(
        "Grade inside the Linux-namespace sandbox (attn_grade.sandbox) where the machine allows "
        "it. Where it cannot, grading goes on and its summary says so.")).tag(config=True)
    workers = Int(0, help=(
        "Submissions graded at once on a local Dask cluster. 0: the number of CPUs; 1: one "
        "after the other, in this process.")).tag(config=True)
    scheduler = Unicode("", help=(
        "Address of a Dask scheduler (tcp://host:8786) whose workers grade; empty: a local "
        "cluster.")).tag(config=True)
    cell_timeout = Int(0, help=(
        "Seconds each cell may run while grading, for this run only. 0: "
        "c.ResilientExecute.timeout of nbgrader_config.py.")).tag(config=True)
    kernel_zygote = Bool(True, help=(
        "In the sandbox, fork each learner's kernel from a zygote that the submission's nbgrader "
        "process starts after importing PyTorch, matplotlib and attn_ref (and that runs no "
        "learner code), instead of starting a fresh Python (attn_grade.kernel_zygote). False: "
        "every kernel a fresh process.")).tag(config=True)
    grading_worker = Bool(True, help=(
        "Grade through one long-lived worker process per grading process, which imports "
        "nbgrader, PyTorch and the verdict once and forks each submission into new user, mount "
        "and PID namespaces of its own, with its limits (attn_grade.grading_worker). False: a "
        "fresh process per submission (unshare, python -m attn_grade.nbgrader_run)."
        )).tag(config=True)


# the command line's environment variables, each standing for one option
ENVIRONMENT = {
    "ATTN_SUBMISSION_TIMEOUT": "submission_timeout",
    "ATTN_MEMORY_LIMIT_GB": "memory_limit_gb",
    "ATTN_MAX_NOTEBOOK_MB": "max_notebook_mb",
    "ATTN_SANDBOX": "sandbox",
    "ATTN_WORKERS": "workers",
    "ATTN_DASK_SCHEDULER": "scheduler",
    "ATTN_CELL_TIMEOUT": "cell_timeout",
    "ATTN_KERNEL_ZYGOTE": "kernel_zygote",
    "ATTN_GRADING_WORKER": "grading_worker",
}


def class_config(root: Path) -> Config:
    """The configuration ``nbgrader_config.py`` in ``root`` sets (nbgrader's and ours)."""
    return PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()


def load(root: Path, environ: dict[str, str] | None = None) -> Grading:
    """The :class:`Grading` options of the class in ``root``, with those of ``environ`` (the
    command line's environment, see :data:`ENVIRONMENT`) over them.

    Raises traitlets.TraitError when a value does not fit its option (naming the variable)."""
    config = class_config(root)
    for var, name in ENVIRONMENT.items():
        text = (environ or {}).get(var)
        if text is None or text == "":
            continue
        trait = Grading.class_traits()[name]
        try:
            value = trait.from_string(text)
            trait.validate(None, value)
        except Exception as exc:
            raise SystemExit(f"{var}={text!r}: not a valid Grading.{name} ({exc})") from None
        config.Grading[name] = value
    return Grading(config=config)


def describe() -> str:
    """Every option with its default, help and environment variable (``--help-settings``)."""
    by_name = {name: var for var, name in ENVIRONMENT.items()}
    lines = []
    for name, trait in sorted(Grading.class_traits(config=True).items()):
        lines.append(f"c.Grading.{name} = {trait.default_value!r}   (environment: "
                     f"{by_name.get(name, '-')})")
        lines.append(f"    {trait.help}")
    return "\n".join(lines)
