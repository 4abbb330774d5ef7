"""Grading engine: every submission graded in isolation, the results merged by one writer.

nbgrader grades one submission at a time and its SQLite gradebook is not safe for several
writers. Here each submission is graded by :func:`grade_one` in a scratch course of its own
(a copy of the assignment's release bundle, with its own SQLite gradebook), in a child process
with a time and memory limit; nbgrader's autograde and generate_feedback run in one process
(attn_grade.nbgrader_run) inside the grading sandbox, forked from this process's long-lived
grading worker (attn_grade.grading_worker) unless the Task says otherwise, the learner's kernels
forked from a zygote (attn_grade.kernel_zygote). :func:`grade_one` takes and returns plain data (file contents as bytes, scores
as numbers), so it can run in this process, in a local Dask cluster, or on Dask workers on other
machines that have the same environment. The coordinator alone writes the class gradebook
(SQLite or PostgreSQL: nbgrader's ``CourseDirectory.db_url``) and the files under autograde/.
A Task carries its limits (:class:`attn_grade.settings.Grading`), so a worker reads no settings.

Before grading, each submission is checked: notebooks that are not valid JSON, missing or
renamed notebooks, oversized files and extra files each get a clear note. A submission that
cannot be graded at all scores zero with its note; nothing stops the others.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from attn_ref.i18n import METADATA_KEY

from .editions import EDITIONS, edition_of, generate_args, release_path
from .settings import Grading

_DEFAULT = Grading()
# the scratch course's own gradebook, whatever the class uses (appended to its configuration)
SCRATCH_DB = ('\n# a scratch course: its own gradebook\nc.CourseDirectory.db_url = "sqlite:///" + '
              'os.path.join(os.path.dirname(os.path.abspath(__file__)), "autograde", '
              '"gradebook.db")\n')


@dataclass
class Task:
    student: str
    assignment: str
    files: dict[str, bytes]            # the submission: path inside the assignment -> content
    release: dict[str, bytes]          # a released scratch course (see release_bundle): path -> content
    timeout: int = _DEFAULT.submission_timeout           # seconds, the whole submission
    memory: int = int(_DEFAULT.memory_limit_gb * 2**30)  # address space, bytes
    max_notebook_bytes: int = _DEFAULT.max_notebook_mb * 2**20
    sandbox: bool = _DEFAULT.sandbox   # in the sandbox, where the machine allows it
    cell_timeout: int = 0              # seconds per cell; 0: the configuration's
    hidden: tuple[str, ...] = ()       # the class folder: hidden by the sandbox where it exists
    kernel_zygote: bool = _DEFAULT.kernel_zygote     # kernels forked from a warm zygote (sandbox)
    grading_worker: bool = _DEFAULT.grading_worker   # through this process's grading worker
    duedate: str | None = None         # the assignment's due date in the class gradebook (ISO, UTC)

    @classmethod
    def with_settings(cls, settings: Grading, **fields) -> "Task":
        """A Task carrying the limits of ``settings``."""
        return cls(timeout=settings.submission_timeout,
                   memory=int(settings.memory_limit_gb * 2**30),
                   max_notebook_bytes=settings.max_notebook_mb * 2**20,
                   sandbox=settings.sandbox, cell_timeout=settings.cell_timeout,
                   kernel_zygote=settings.kernel_zygote, grading_worker=settings.grading_worker,
                   **fields)

    @property
    def notebooks(self) -> list[str]:
        """The notebooks the learner was given (and must hand back, under these names)."""
        prefix = f"course/{self.assignment}/"
        return sorted(k[len(prefix):] for k in self.release
                      if k.startswith(prefix) and k.endswith(".ipynb") and "/" not in k[len(prefix):])


@dataclass
class Result:
    student: str
    assignment: str
    graded: bool = False
    notes: list[str] = field(default_factory=list)
    # notebook -> grade cell -> (auto_score, max_score)
    scores: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)   # "autograded/..." / "feedback/..."
    seconds: float = 0.0
    sandboxed: bool | None = None      # None: no learner code ran (nothing to grade)
    info: list[str] = field(default_factory=list)      # how the notebooks were read (reconcile)
    flags: dict[str, dict[str, str]] = field(default_factory=dict)  # notebook -> test cell -> why
    timestamp: str | None = None       # from timestamp.txt, as nbgrader reads it (ISO, UTC)
    penalties: dict[str, float | None] = field(default_factory=dict)  # notebook -> late penalty
    worker: str | None = None          # the address of the Dask worker that graded it (--scheduler)


# ----- the worker side ------------------------------------------------------------------------
# Sets the address-space limit, then becomes the command. A small program rather than
# Popen's preexec_fn, which is unsafe in a process with threads (the local Dask cluster's).
_WITH_LIMIT = ("import os, resource, sys; m = int(sys.argv[1]); "
               "m > 0 and resource.setrlimit(resource.RLIMIT_AS, (m, m)); "
               "os.execvp(sys.argv[2], sys.argv[2:])")


def _run(commands: list[list[str]], cwd: Path, timeout: int, memory: int = 0,
         sandboxed: bool = False, hidden: tuple[str, ...] = (), zygote: bool = False,
         worker: bool = False) -> subprocess.CompletedProcess:
    """Run the nbgrader ``commands`` (argument lists, as after ``nbgrader``) one after the other
    in one Python process (attn_grade.nbgrader_run) in ``cwd``, in the sandbox when
    ``sandboxed`` (its kernels forked from a zygote when ``zygote``: give the commands
    :func:`kernel_option`), with a memory limit and a time limit for the whole process tree.
    ``worker``: that process is forked from this process's grading worker
    (attn_grade.grading_worker) instead of started afresh."""
    from . import sandbox

    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["MPLBACKEND"] = "Agg"
    env["PYTHONWARNINGS"] = "ignore"
    argv = [json.dumps([[*c, "--log-level=WARN"] for c in commands])]
    if sandboxed and zygote:
        argv = ["--zygote", sandbox.ZYGOTE_SOCKET, "--gradebook", sandbox.GRADEBOOK, *argv]
    if worker:
        return _worker().run(argv, str(cwd), env, timeout, memory, sandboxed, hidden)
    cmd = [sys.executable, "-m", "attn_grade.nbgrader_run", *argv]
    if sandboxed:
        cmd = sandbox.command(cwd, [cmd], list(hidden))
    cmd = [sys.executable, "-c", _WITH_LIMIT, str(memory), *cmd]
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)                      # nbgrader and the kernel it started
        proc.communicate()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def kernel_option(sandboxed: bool, zygote: bool) -> list[str]:
    """nbgrader's option choosing the learner's kernel: the sandbox's (forked from the zygote
    where ``zygote``), or none (the notebook's own) outside the sandbox."""
    from . import sandbox

    if not sandboxed:
        return []
    name = sandbox.ZYGOTE_KERNEL_NAME if zygote else sandbox.KERNEL_NAME
    return [f"--ResilientExecute.kernel_name={name}"]


_WORKER: list = []
_WORKER_LOCK = threading.Lock()


def worker_running() -> bool:
    """Whether this process has started its grading worker (a submission was graded with
    ``grading_worker`` on)."""
    with _WORKER_LOCK:
        return bool(_WORKER)


def _worker():
    """This process's grading worker (attn_grade.grading_worker), started on first use and
    ended at exit (its CPU time then counts as this process's children's)."""
    import atexit

    from .grading_worker import Worker

    with _WORKER_LOCK:
        if not _WORKER:
            _WORKER.append(Worker())
            atexit.register(_WORKER[0].close)
        return _WORKER[0]


# ----- the release each submission is graded against --------------------------------------------
def _release_key(root: Path, assignment: str) -> str:
    import nbgrader

    h = hashlib.sha256(nbgrader.__version__.encode())
    h.update((root / "nbgrader_config.py").read_bytes())
    for src in [root / "solutions" / assignment] + [root / "solutions" / lang / assignment
                                                     for lang in EDITIONS]:
        for p in sorted(src.rglob("*")):
            if p.is_file() and ".ipynb_checkpoints" not in p.parts:
                h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes() + b"\0")
    return f"{assignment}-{h.hexdigest()[:20]}"


def release_bundle(root: Path, assignment: str, cache: Path) -> dict[str, bytes]:
    """The scratch course every submission of ``assignment`` is graded in: nbgrader_config.py,
    a SQLite gradebook holding only this assignment (as generate_assignment leaves it), the
    released notebooks, and the non-notebook files of solutions/<assignment>/ (autograde puts
    them back over the submission's copies). No solution notebook is in it.

    generate_assignment takes seconds, so the bundle is made once per content and kept under
    ``cache`` (keyed by a hash of the configuration, the source files and nbgrader's version);
    the coordinator ships it to the workers inside each Task, so no worker, local or remote,
    releases anything itself."""
    key = _release_key(root, assignment)
    done = cache / key
    if not (done / "autograde" / "gradebook.db").exists():
        cache.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache))
        try:
            (work / "nbgrader_config.py").write_text(
                (root / "nbgrader_config.py").read_text() + SCRATCH_DB)
            shutil.copytree(root / "solutions" / assignment, work / "solutions" / assignment,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
            (work / "autograde").mkdir()
            runs = [["generate_assignment", assignment, "--force"]]
            for lang in EDITIONS:                    # the editions' releases, beside it
                if (root / "solutions" / lang / assignment).is_dir():
                    shutil.copytree(root / "solutions" / lang / assignment,
                                    work / "solutions" / lang / assignment,
                                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
                    runs.append(generate_args(lang, assignment))
            proc = _run(runs, work, 600)
            if proc.returncode:
                raise RuntimeError(f"could not release {assignment}: {proc.stderr[-2000:]}")
            for nb in (work / "solutions").rglob("*.ipynb"):
                nb.unlink()                          # the solutions stay with the instructor
            try:
                work.rename(done)
            except OSError:                          # made meanwhile by another process
                pass
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return {str(p.relative_to(done)): p.read_bytes() for p in sorted(done.rglob("*"))
            if p.is_file()}


def _timestamp(data: bytes) -> tuple[str | None, str | None]:
    """(ISO timestamp, note): ``timestamp.txt`` read as nbgrader's CourseDirectory reads it."""
    from nbgrader.utils import parse_utc

    text = data.decode("utf-8", "replace").strip()
    if not text:
        return None, "timestamp.txt is empty; graded as on time"
    try:
        return parse_utc(text).isoformat(), None
    except (ValueError, OverflowError):
        return None, f"timestamp.txt holds no valid time ({text[:40]!r}); graded as on time"


# the keys nbformat 4's schema allows on each kind of cell (and "id" from 4.5 on)
_CELL_KEYS = {"code": {"cell_type", "metadata", "execution_count", "source", "outputs"},
              "markdown": {"cell_type", "metadata", "attachments", "source"},
              "raw": {"cell_type", "metadata", "attachments", "source"}}
_WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def as_jupyter_opens(data: bytes):
    """``(notebook, repairs)``: a submitted notebook read the way Jupyter opens it, whatever
    schema warnings its editor left, and repaired so that nbgrader and nbconvert can work on it.

    Jupyter's file manager opens any JSON notebook that nbformat can read and convert to
    version 4, and only *warns* about schema errors; so does this. The repairs are the quirks
    editors are known to leave (the sample learners ``edit_*`` of autograde/samples carry each):
    keys the schema does not know on a cell (VS Code's ``outputs`` on a markdown cell, nteract's
    ``outputExpanded``), a code cell without ``outputs`` or ``execution_count``, attachments on
    a code cell, cell ids in a notebook older than nbformat 4.5, duplicated or malformed ids,
    non-string sources, Colab's widget state without its ``state`` key (which nbconvert's HTML
    export fails on), and last nbformat's own ``normalize(strip_invalid_metadata=True)``.
    ``repairs`` names each kind of repair made (empty when the notebook was valid).

    Raises ValueError (with nbformat's reason) where Jupyter could not open it either: not
    UTF-8, not JSON, not a notebook nbformat reads."""
    import re
    import uuid

    import nbformat
    from nbformat import reader, validator

    try:
        nb = nbformat.convert(reader.reads(data.decode("utf-8")), 4)
    except Exception as exc:
        raise ValueError(f"{type(exc).__name__}: {str(exc).splitlines()[0][:80] if str(exc) else ''}")
    if not isinstance(nb.get("cells"), list):
        raise ValueError("it has no list of cells")
    repairs: list[str] = []

    def fixed(what):
        if what not in repairs:
            repairs.append(what)

    if not isinstance(nb.get("metadata"), dict):
        nb["metadata"] = nbformat.from_dict({})
        fixed("notebook metadata")
    widgets = nb.metadata.get("widgets")
    state = widgets.get(_WIDGET_STATE) if isinstance(widgets, dict) else None
    if widgets is not None and not isinstance(widgets, dict) or \
            state is not None and not (isinstance(state, dict) and "state" in state):
        del nb.metadata["widgets"]                   # view state only: nothing graded reads it
        fixed("widget state without 'state' dropped")
    cells, seen = [], set()
    with_ids = nb.get("nbformat_minor", 0) >= 5
    for cell in nb.cells:
        if not isinstance(cell, dict):
            fixed("an entry that is not a cell dropped")
            continue
        kind = cell.get("cell_type")
        if kind not in _CELL_KEYS:
            cell["cell_type"] = kind = "raw"
            fixed("unknown cell type read as raw")
        src = cell.get("source", "")
        if isinstance(src, list):
            cell["source"] = "".join(str(s) for s in src)
        elif not isinstance(src, str):
            cell["source"] = "" if src is None else str(src)
            fixed("source that is not text")
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = nbformat.from_dict({})
            fixed("cell metadata")
        if kind == "code":
            if not isinstance(cell.get("outputs"), list):
                cell["outputs"] = []
                fixed("code cell without outputs")
            if "execution_count" not in cell or not (cell["execution_count"] is None or
                                                     isinstance(cell["execution_count"], int)):
                cell["execution_count"] = None
                fixed("code cell without execution_count")
            for out in cell["outputs"]:
                if isinstance(out, dict) and out.pop("transient", None) is not None:
                    fixed("outputs with a 'transient' key")
        extra = set(cell) - _CELL_KEYS[kind] - ({"id"} if with_ids else set())
        if extra - {"id"}:
            fixed(f"keys the schema does not know on a {kind} cell "
                  f"({', '.join(sorted(extra - {'id'}))})")
        if "id" in extra:
            fixed("cell ids in a notebook older than nbformat 4.5")
        for key in extra:
            del cell[key]
        if with_ids:
            cid = cell.get("id")
            if not isinstance(cid, str) or not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", cid) or \
                    cid in seen:
                cell["id"] = uuid.uuid4().hex[:8]
                fixed("missing, malformed or duplicated cell ids")
            seen.add(cell["id"])
        cells.append(cell)
    nb["cells"] = cells
    if _schema_error(nb) is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            changes, repaired = validator.normalize(nb, strip_invalid_metadata=True)
        nb = nbformat.from_dict(repaired)
        if changes:
            fixed("metadata the schema rejects stripped (nbformat's normalize)")
    left = _schema_error(nb)
    if left:
        fixed(f"still off nbformat's schema ({left}), graded as Jupyter opens it")
    return nb, repairs


# The files nbgrader itself puts into a submission: `nbgrader collect` writes timestamp.txt, and
# `nbgrader submit` (0.9) submission_secret.txt, which names the learner's feedback in the exchange
SUBMISSION_SECRET = "submission_secret.txt"
NBGRADER_FILES = ("timestamp.txt", SUBMISSION_SECRET)


def _schema_error(nb) -> str | None:
    """nbformat's first schema complaint about ``nb`` (untouched), or None where it is valid."""
    import copy

    from nbformat import validator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            validator.validate(copy.deepcopy(nb))
        except Exception as exc:
            return str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__
    return None


def without_outputs(data: bytes, strict: bool = False) -> bytes:
    """A notebook's bytes with its code cells' outputs dropped (nbgrader clears them before it
    runs anything). With ``strict`` (preflight), read as Jupyter opens it and repaired
    (:func:`as_jupyter_opens`; ValueError where it cannot be opened); otherwise (the
    coordinator, before shipping a submission) only the outputs change, the editor's quirks stay
    for preflight to note, and what cannot be read comes back as it was."""
    if not strict:
        try:
            nb = json.loads(data.decode("utf-8"))
            for cell in nb["cells"]:
                if cell.get("cell_type") == "code" and cell.get("outputs"):
                    cell["outputs"] = []
            return json.dumps(nb, indent=1, ensure_ascii=False).encode() + b"\n"
        except Exception:
            return data
    return _cleared(as_jupyter_opens(data)[0])


def _cleared(nb) -> bytes:
    """The notebook node ``nb`` as bytes, without its code cells' outputs."""
    import nbformat

    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return nbformat.writes(nb, version=nbformat.NO_CONVERT).encode()


def preflight(task: Task, info: list[str] | None = None) -> tuple[dict[str, bytes], list[str]]:
    """Which submitted notebooks to grade under which names, and notes on everything odd.

    A notebook is graded if Jupyter would open it (:func:`as_jupyter_opens`); what had to be
    repaired for that is added to ``info`` (how the notebooks were read) where given.
    Outputs are dropped here (nbgrader clears them before running anything), so the size limit
    applies to what the learner wrote, and a notebook with huge outputs is still graded."""
    notes, ok = [], {}
    expected = task.notebooks
    readable, broken = {}, set()
    for rel, data in sorted(task.files.items()):
        if rel in NBGRADER_FILES:
            continue                                  # nbgrader's own; grade_one passes them on
        if not rel.endswith(".ipynb"):
            notes.append(f"ignored extra file {rel}")
            continue
        if len(data) > 20 * task.max_notebook_bytes:
            notes.append(f"{rel}: {len(data) / 2**20:.0f} MB is too large to open; not graded")
            continue
        try:
            nb, repairs = as_jupyter_opens(data)
            data = _cleared(nb)
        except ValueError as exc:
            notes.append(f"{rel}: not a valid notebook ({exc}); not graded")
            broken.add(rel)
            continue
        if repairs and info is not None:
            info.append(f"{rel}: read as Jupyter opens it, its editor's quirks repaired "
                        f"({'; '.join(repairs)})")
        if len(data) > task.max_notebook_bytes:
            notes.append(f"{rel}: {len(data) / 2**20:.0f} MB of code and text is over the "
                         f"{task.max_notebook_bytes // 2**20} MB limit; not graded")
            continue
        readable[rel] = data
    for name in expected:
        if name in readable:
            ok[name] = readable.pop(name)
    missing = [n for n in expected if n not in ok]
    if len(missing) == 1 and len(readable) == 1:        # one notebook, renamed
        (other, data), = readable.items()
        notes.append(f"{other} graded as {missing[0]} (the expected name)")
        ok[missing[0]] = data
        readable.clear()
        missing = []
    for n in missing:
        if n not in broken:
            notes.append(f"{n} is missing; its points are zero")
    for other in readable:
        notes.append(f"ignored extra notebook {other}")
    return ok, notes


def reconcile_all(notebooks: dict[str, bytes], scratch: Path, task: Task, res: Result) -> dict[str, bytes]:
    """Each notebook reshaped after its release (attn_grade.reconcile), its notes first
    in it (and so in the feedback) and in ``res``."""
    import nbformat
    from nbgrader.api import Gradebook

    from attn_grade.reconcile import notes_cell, reconcile

    out = {}
    with Gradebook("sqlite:///" + str(scratch / "autograde" / "gradebook.db")) as gb:
        for name, data in notebooks.items():
            submitted = nbformat.reads(data.decode(), as_version=4)
            # the edition it was worked in (attn_grade.editions): reshaped after that release,
            # its feedback in that language
            lang = edition_of(scratch / "course", task.assignment, name, submitted)
            release = nbformat.read(release_path(scratch / "course", task.assignment, name, lang),
                                    as_version=4)
            sources = {c.name: c.source for c in
                       gb.find_notebook(name[:-len(".ipynb")], task.assignment).source_cells}
            nb, what = reconcile(submitted, release, sources)
            if lang != "en":
                nb.metadata[METADATA_KEY] = {"language": lang}
            notes = list(what.notes)
            if task.duedate and res.timestamp and \
                    datetime.fromisoformat(res.timestamp) > datetime.fromisoformat(task.duedate):
                notes.append(f"handed in {res.timestamp} UTC, after the due date {task.duedate}")
            if notes:
                nb.cells.insert(0, notes_cell(notes, lang))
            res.info += [f"{name}: {n}" for n in what.notes if not n.startswith("flagged")]
            if what.flags:
                res.flags[name[:-len(".ipynb")]] = dict(what.flags)
            out[name] = nbformat.writes(nb).encode()
    return out


def run_notes(folder: Path, memory: int) -> list[str]:
    """What went wrong while the notebooks ran: timeouts, kernel deaths, memory exhaustion."""
    import nbformat

    notes = []
    for path in sorted(folder.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells, 1):
            for out in cell.get("outputs", []):
                name = out.get("ename") if out.get("output_type") == "error" else None
                if name == "KernelDied":
                    notes.append(f"{path.name} cell {i}: the kernel stopped (an exit, a crash or "
                                 "the memory limit); the cells after it were not run")
                elif name == "CellTimeoutError":
                    notes.append(f"{path.name} cell {i}: interrupted at the time limit")
                elif name == "MemoryError":
                    notes.append(f"{path.name} cell {i}: ran out of memory (limit "
                                 f"{memory / 2**30:g} GB)")
    return notes


def _scores_of(db: Path, assignment: str, student: str) -> tuple[dict, dict]:
    """(notebook -> grade cell -> (auto score, max score), notebook -> late penalty)."""
    from nbgrader.api import Gradebook, MissingEntry

    out, penalties = {}, {}
    with Gradebook("sqlite:///" + str(db)) as gb:
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:
            return out, penalties
        for nb in sub.notebooks:
            out[nb.name] = {g.name: (float(g.auto_score or 0.0), float(g.max_score))
                            for g in nb.grades}
            penalties[nb.name] = nb.late_submission_penalty
    return out, penalties


def _set_duedate(db: Path, assignment: str, duedate: str | None) -> None:
    """The class's due date in a scratch gradebook, so that nbgrader's AssignLatePenalties (with
    the class's configuration) and its feedback see it."""
    if not duedate:
        return
    from nbgrader.api import Gradebook
    from nbgrader.utils import parse_utc

    with Gradebook("sqlite:///" + str(db)) as gb:
        gb.update_or_create_assignment(assignment, duedate=parse_utc(duedate))


def grade_one(task: Task) -> Result:
    """Grade one submission in a scratch course; plain data in, plain data out."""
    t0 = time.monotonic()
    res = Result(task.student, task.assignment)
    scratch = None
    try:
        notebooks, res.notes = preflight(task, res.info)
        if "timestamp.txt" in task.files:
            res.timestamp, why = _timestamp(task.files["timestamp.txt"])
            if why:
                res.notes.append(why)
        if not notebooks:
            return res
        scratch = Path(tempfile.mkdtemp(prefix="attn-grade-"))
        for rel, data in task.release.items():
            p = scratch / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        _set_duedate(scratch / "autograde" / "gradebook.db", task.assignment, task.duedate)
        notebooks = reconcile_all(notebooks, scratch, task, res)
        sub = scratch / "autograde" / "submitted" / task.student / task.assignment
        sub.mkdir(parents=True)
        for name, data in notebooks.items():
            (sub / name).write_bytes(data)
        if res.timestamp:
            (sub / "timestamp.txt").write_text(res.timestamp + "\n")
        if SUBMISSION_SECRET in task.files:
            # nbgrader copies it into the feedback, where `nbgrader release_feedback` needs it
            (sub / SUBMISSION_SECRET).write_bytes(task.files[SUBMISSION_SECRET])
        from . import nbgrader_run, sandbox

        res.sandboxed = task.sandbox and sandbox.available()
        options = ["--ReconcileCells.enabled=False",      # done above, with notes
                   *kernel_option(res.sandboxed, task.kernel_zygote)]
        if task.cell_timeout:
            options.append(f"--ResilientExecute.timeout={task.cell_timeout}")
        log = ""
        for attempt in (1, 2):
            # a second attempt only where nbgrader itself failed: a kernel can fail to start
            # when another one is starting at the same moment (a race for free ports)
            try:
                proc = _run([["autograde", task.assignment, "--student", task.student, "--force",
                              *options],
                             ["generate_feedback", task.assignment, "--student", task.student,
                              "--force"]],
                            scratch, task.timeout, task.memory, sandboxed=res.sandboxed,
                            hidden=task.hidden, zygote=task.kernel_zygote,
                            worker=task.grading_worker)
            except subprocess.TimeoutExpired:
                res.notes.append(f"grading took longer than {task.timeout} s; not graded")
                return res
            log += f"--- attempt {attempt}, exit status {proc.returncode}\n{proc.stderr}"
            failed = failed_command(proc.stderr) if proc.returncode else None
            if failed is None or failed == "generate_feedback":    # a retry cannot mend it
                break
        if attempt > 1 or failed:
            res.files["autograded/nbgrader.log"] = log[-400_000:].encode()
        res.scores, res.penalties = _scores_of(scratch / "autograde" / "gradebook.db",
                                               task.assignment, task.student)
        if failed:
            lines = [ln for ln in proc.stderr.strip().splitlines()
                     if ("ERROR" in ln or "Error" in ln) and nbgrader_run.FAILED not in ln] or \
                proc.stderr.strip().splitlines() or ["?"]
            where = f"(its log: autograded/{task.student}/{task.assignment}/nbgrader.log)"
            if failed == "generate_feedback" and res.scores:
                # graded: the score stands, and the table, grades.csv and gradebook show it
                res.notes.append(f"graded, but its feedback could not be rendered: "
                                 f"{lines[0][:200]} {where}")
            else:
                res.notes.append(f"nbgrader could not grade it: {lines[0][:200]} {where}")
        res.graded = bool(res.scores) and failed in (None, "generate_feedback")
        if res.graded:
            res.notes += run_notes(scratch / "autograde" / "autograded" / task.student / task.assignment,
                                   task.memory)
        for kind in ("autograded", "feedback"):
            base = scratch / "autograde" / kind / task.student / task.assignment
            if base.exists():
                for p in base.rglob("*"):
                    if p.is_file() and p.stat().st_size <= task.max_notebook_bytes:
                        res.files[f"{kind}/{p.relative_to(base)}"] = p.read_bytes()
        return res
    except Exception as exc:                          # the grader's own failure: say so, go on
        res.notes.append(f"grader error: {type(exc).__name__}: {exc}"[:300])
        return res
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        res.seconds = time.monotonic() - t0


def failed_command(stderr: str) -> str | None:
    """The nbgrader subcommand attn_grade.nbgrader_run names as failed in its ``stderr``
    ("autograde", "generate_feedback"), "?" where it names none (the process itself failed)."""
    from .nbgrader_run import FAILED

    for line in reversed(stderr.splitlines()):
        if line.startswith(FAILED):
            return line[len(FAILED):].strip()
    return "?"


def grade_on_worker(task: Task) -> Result:
    """:func:`grade_one` on a Dask worker of a scheduler, the result naming the worker."""
    from distributed import get_worker

    res = grade_one(task)
    res.worker = get_worker().address
    return res


# ----- the coordinator side -------------------------------------------------------------------
def release_bundles(root: Path, assignments: list[str], cache: Path,
                    workers: int = 2) -> dict[str, dict[str, bytes]]:
    """:func:`release_bundle` of each assignment, made side by side where missing."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max(1, workers)) as pool:
        return dict(zip(assignments, pool.map(lambda a: release_bundle(root, a, cache),
                                              assignments)))


def make_tasks(root: Path, submitted: Path, assignments: list[str],
               cache: Path | None = None, workers: int = 2,
               duedates: dict[str, str | None] | None = None,
               settings: Grading | None = None) -> list[Task]:
    """One Task per submitted (student, assignment), each carrying its assignment's release
    bundle, due date (``duedates``: assignment -> ISO time in UTC, from the class gradebook) and
    the limits of ``settings`` (default: the defaults); an assignment not in ``assignments`` gets
    an empty bundle (the caller reports it)."""
    present = {a.name for s in submitted.iterdir() if s.is_dir() for a in s.iterdir()
               if a.is_dir()} if submitted.exists() else set()
    bundles = release_bundles(root, [a for a in assignments if a in present],
                              cache or root / "autograde" / ".release-cache", workers)
    tasks = []
    for sdir in sorted(p for p in submitted.iterdir() if p.is_dir()) if submitted.exists() else []:
        for adir in sorted(p for p in sdir.iterdir() if p.is_dir()):
            # outputs stay here: a notebook's image outputs can be tens of MB, and tasks travel
            files = {str(p.relative_to(adir)):
                     without_outputs(p.read_bytes()) if p.suffix == ".ipynb" else p.read_bytes()
                     for p in adir.rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts}
            tasks.append(Task.with_settings(
                settings or _DEFAULT, student=sdir.name, assignment=adir.name, files=files,
                release=bundles.get(adir.name, {}), duedate=(duedates or {}).get(adir.name),
                hidden=(str(Path(root).resolve()),)))
    return tasks


def merge(result: Result, db_url: str, out: Path) -> None:
    """Write one result into the class gradebook and under ``out`` (autograde/). One writer."""
    from nbgrader.api import Gradebook, MissingEntry

    for kind in ("autograded", "feedback"):
        target = out / kind / result.student / result.assignment
        shutil.rmtree(target, ignore_errors=True)
    for rel, data in result.files.items():
        kind, _, path = rel.partition("/")
        p = out / kind / result.student / result.assignment / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    with warnings.catch_warnings(), Gradebook(db_url) as gb:
        warnings.simplefilter("ignore")         # SQLAlchemy's autoflush notes from nbgrader's API
        try:
            gb.find_assignment(result.assignment)
        except MissingEntry:
            result.notes.append(f"no assignment named {result.assignment!r}; not graded")
            return
        gb.update_or_create_student(result.student)
        # the time nbgrader collect wrote (None: on time); the due date is the class gradebook's
        sub = gb.update_or_create_submission(
            result.assignment, result.student,
            timestamp=datetime.fromisoformat(result.timestamp) if result.timestamp else None)
        for nb in sub.notebooks:
            flags = result.flags.get(nb.name, {})
            for g in nb.grades:
                # not graded: zero here too, so the gradebook, grades.csv and the table agree
                auto = result.scores.get(nb.name, {}).get(g.name) if result.graded else None
                g.auto_score = auto[0] if auto else 0.0
                # a flagged step waits for the instructor, unless they already graded it by hand;
                # manual scores, comments and extra credit entered in formgrader are kept
                g.needs_manual_grade = g.name in flags and g.manual_score is None
            nb.late_submission_penalty = result.penalties.get(nb.name)
        gb.db.commit()


SCHEDULER_WAIT = 60    # seconds to reach a scheduler, and then for its first worker to join


def _client(scheduler: str):
    """A Dask client of ``scheduler`` that has at least one worker.

    Raises SystemExit naming the address when the scheduler cannot be reached, or when no worker
    has joined it within :data:`SCHEDULER_WAIT` seconds (the tasks would wait forever)."""
    from distributed import Client

    try:
        client = Client(scheduler, timeout=SCHEDULER_WAIT)
    except OSError as exc:
        raise SystemExit(f"cannot reach the Dask scheduler at {scheduler} ({exc}); start it with "
                         "`dask scheduler`, or grade here without --scheduler") from None
    try:
        client.wait_for_workers(1, timeout=SCHEDULER_WAIT)
    except TimeoutError:
        client.close()
        raise SystemExit(f"no Dask worker joined the scheduler at {scheduler} within "
                         f"{SCHEDULER_WAIT} s; start one with `dask worker {scheduler}` "
                         "(see site/teach/parallel.md)") from None
    return client


def run(tasks: list[Task], db_url: str, out: Path, workers: int = 1,
        scheduler: str | None = None, progress: bool = True) -> list[Result]:
    """Grade ``tasks`` (serially, on a local Dask cluster, or on a Dask scheduler) and merge each
    result as it arrives; return the results in the order of ``tasks``."""
    from tqdm.auto import tqdm

    results: dict[tuple[str, str], Result] = {}
    bar = tqdm(total=len(tasks), desc="grading", unit="submission", disable=not progress,
               file=sys.stdout, dynamic_ncols=True)

    def done(r: Result):
        merge(r, db_url, out)
        results[(r.student, r.assignment)] = r
        bar.set_postfix_str(f"{r.student}/{r.assignment} {'ok' if r.graded else 'not graded'}")
        bar.update(1)

    if scheduler is None and workers <= 1:
        for t in tasks:
            done(grade_one(t))
    else:
        from distributed import Client, LocalCluster, as_completed

        # kernels graded side by side share the cores: one math thread each, unless set
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // max(1, workers))))

        cluster = None
        if scheduler is None:
            # grade_one spends its time waiting for its nbgrader process, so the local cluster's
            # workers are threads of this process: no worker processes to start (seconds each)
            cluster = LocalCluster(n_workers=1, threads_per_worker=workers, processes=False,
                                   dashboard_address=":0", silence_logs=50)
        client = _client(scheduler) if cluster is None else Client(cluster)
        try:
            grade = grade_one if cluster is not None else grade_on_worker
            futures = [client.submit(grade, t, key=f"grade-{t.student}-{t.assignment}-{i}",
                                     pure=False) for i, t in enumerate(tasks)]
            for fut in as_completed(futures):
                done(fut.result())
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    bar.close()
    return [results[(t.student, t.assignment)] for t in tasks]
