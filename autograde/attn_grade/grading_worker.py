"""A long-lived grading worker: nbgrader imported once, each submission forked into its own sandbox.

Used where ``c.Grading.grading_worker`` is on (the Task carries it). Otherwise
:func:`attn_grade.engine._run` starts, for every submission,
``unshare ... python -m attn_grade.sandbox outer ...`` and in it ``python -m
attn_grade.nbgrader_run``, which imports nbgrader, PyTorch and the out-of-kernel verdict again
each time (about 40% of a 01_se submission's CPU seconds). Here one worker process per grading
process imports them once (:data:`PRELOAD`; nothing else runs in it) and, for each submission,
forks a child that

* takes the request's environment and folder, its stdout and stderr, and the address-space limit;
* where the sandbox is asked for, enters new user, mount and PID namespaces itself (``unshare(2)``
  through libc, the child being single-threaded), as ``unshare --user --map-root-user --mount
  --pid --fork --kill-child`` does: it forks the namespace's first process, which dies with it
  (``PR_SET_PDEATHSIG``) and takes every process of the submission with it; that process
  arranges the filesystem (:func:`attn_grade.sandbox.arrange`: the class folder hidden, this
  namespace's own /proc) and runs the nbgrader commands in-process
  (:func:`attn_grade.nbgrader_run.main`, which forks the kernels from a zygote inside the
  sandbox when asked, attn_grade.kernel_zygote);
* reports its exit status; the worker kills it when the requester goes away (a timeout).

The worker's own state never changes after the imports, so each submission starts from the same
state a fresh process would reach after importing these modules; no learner code runs in it or
in anything forked before the submission's own sandbox.

    python -m attn_grade.grading_worker <socket>      # serves until its stdin closes
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading

PRELOAD = ("numpy", "torch", "nbgrader.apps.nbgraderapp", "nbgrader.apps.autogradeapp",
           "nbgrader.apps.generatefeedbackapp", "nbgrader.api", "nbconvert.exporters.html",
           "attn_grade.nbgrader_plugin", "attn_grade.reconcile", "attn_grade.nbgrader_run",
           "attn_grade.sandbox", "attn_grade.kernel_zygote")
MAX_REQUEST = 1 << 20


# ----- the requester's side (attn_grade.engine) ------------------------------------------------
class Worker:
    """One worker process, started on first use, shared by the threads of this process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._path = ""

    def _started(self, env: dict) -> str:
        import tempfile

        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                folder = tempfile.mkdtemp(prefix="attn-worker-")
                self._path = os.path.join(folder, "worker.sock")
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "attn_grade.grading_worker", self._path],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
                if self._proc.stdout.readline().strip() != b"ready":
                    raise RuntimeError("the grading worker did not start")
            return self._path

    def close(self) -> None:
        """End the worker (its stdin closes) and reap it, so that its CPU time is accounted."""
        with self._lock:
            if self._proc is not None:
                self._proc.stdin.close()
                self._proc.wait()
                self._proc = None
                try:
                    os.unlink(self._path)
                    os.rmdir(os.path.dirname(self._path))
                except OSError:
                    pass

    def run(self, argv: list[str], cwd: str, env: dict, timeout: float, memory: int = 0,
            sandboxed: bool = False, hidden: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
        """Run ``python -m attn_grade.nbgrader_run <argv>`` as :func:`attn_grade.engine._run`
        does, in a child of the worker, in the sandbox (hiding also ``hidden``) when
        ``sandboxed``. Raises subprocess.TimeoutExpired after ``timeout`` seconds (the child and all it
        started are killed), RuntimeError if the worker cannot be reached."""
        import selectors
        import time

        path = self._started(env)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            s.connect(path)
            request = {"argv": argv, "cwd": str(cwd), "env": env, "memory": memory,
                       "sandboxed": sandboxed, "hidden": list(hidden)}
            socket.send_fds(s, [json.dumps(request).encode()], [out_w, err_w])
            os.close(out_w)
            os.close(err_w)
            out_w = err_w = -1
            chunks = {out_r: [], err_r: []}
            sel = selectors.DefaultSelector()
            for fd in chunks:
                sel.register(fd, selectors.EVENT_READ)
            sel.register(s, selectors.EVENT_READ)
            deadline, status, open_ = time.monotonic() + timeout, None, 3
            while open_:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise subprocess.TimeoutExpired(argv, timeout)
                for key, _ in sel.select(left):
                    if key.fileobj is s:
                        msg = s.recv(4096)
                        if msg.startswith(b"exit "):
                            status = int(msg.split()[1])
                        sel.unregister(s)
                        open_ -= 1
                        continue
                    data = os.read(key.fd, 1 << 16)
                    if data:
                        chunks[key.fd].append(data)
                    else:
                        sel.unregister(key.fd)
                        open_ -= 1
            if status is None:
                raise RuntimeError("the grading worker went away")
            out, err = (b"".join(chunks[fd]).decode("utf-8", "replace") for fd in (out_r, err_r))
            return subprocess.CompletedProcess(argv, status, out, err)
        finally:
            s.close()                                 # the worker kills a child still running
            for fd in (out_r, err_r, out_w, err_w):
                if fd >= 0:
                    os.close(fd)


# ----- the worker -------------------------------------------------------------------------------


def serve(path: str) -> int:
    """Preload (nbgrader's modules and the kernel zygote's, in a folder of the worker's own, so
    that no ``matplotlibrc`` of the class folder is read), warm the feedback's templates, listen
    at ``path``, fork a child per request until stdin closes."""
    from . import kernel_zygote

    kernel_zygote.FRESH_SYS_PATH = list(sys.path)     # the kernels get it back
    here = os.getcwd()
    own = os.path.dirname(path)
    os.environ["MPLCONFIGDIR"] = os.path.join(own, "mpl")
    os.chdir(own)
    try:
        kernel_zygote.preload(PRELOAD + kernel_zygote.PRELOAD)
        warm_feedback()
        from . import sandbox

        sandbox._private("/etc")          # what each submission's sandbox hides in /etc
    finally:
        os.chdir(here)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(16)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    return kernel_zygote.serve_forks(listener, 0, 2, _submission)


def _template_cache():
    """Jinja's compiled templates, kept in memory (a ``jinja2.BytecodeCache``): filled by the
    worker's :func:`warm_feedback`, read by every submission forked after it. Jinja checks each
    entry against its template's source, so a changed template is compiled afresh."""
    import jinja2

    class Cache(jinja2.BytecodeCache):
        def __init__(self):
            self.store: dict[str, bytes] = {}

        def load_bytecode(self, bucket):
            if bucket.key in self.store:
                bucket.bytecode_from_string(self.store[bucket.key])

        def dump_bytecode(self, bucket):
            self.store[bucket.key] = bucket.bytecode_to_string()

    return Cache()


def warm_feedback():
    """Render a small notebook with nbgrader's feedback template once, in the worker: the
    templates are compiled (and kept, :func:`_template_cache`), the syntax highlighter's and the
    HTML parser's regular expressions built, so that each submission's generate_feedback only
    renders. Nothing of a submission is involved; a failure here only leaves things cold."""
    import nbformat
    from nbconvert.exporters import HTMLExporter, TemplateExporter
    from nbgrader.converters.generate_feedback import GenerateFeedback
    from nbgrader.preprocessors import GetGrades  # noqa: F401  (imported by generate_feedback)

    cache = _template_cache()
    create = TemplateExporter._create_environment

    def _create_environment(self):
        env = create(self)
        env.bytecode_cache = cache
        return env

    TemplateExporter._create_environment = _create_environment
    # the template folders GenerateFeedback gives its exporter
    formgrader = os.path.join(os.path.dirname(os.path.abspath(
        sys.modules[GenerateFeedback.__module__].__file__)), "..", "server_extensions",
        "formgrader")
    css = os.path.join(formgrader, "static", "node_modules", "bootstrap", "dist", "css")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# a title\n\nsome *text* and `code`"),
        nbformat.v4.new_code_cell("import numpy as np\nx = np.ones(3)  # a comment\nprint(x)",
                                  metadata={"nbgrader": {"grade": True, "solution": False,
                                                         "grade_id": "t", "points": 2,
                                                         "score": 1, "comment": "ok"}},
                                  outputs=[nbformat.v4.new_output("stream", text="[1. 1. 1.]\n"),
                                           nbformat.v4.new_output("error", ename="ValueError",
                                                                  evalue="no", traceback=["no"])])])
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    try:
        HTMLExporter(template_name="feedback",
                     extra_template_basedirs=[os.path.abspath(os.path.join(formgrader, "templates"))],
                     extra_template_paths=[os.path.abspath(css)],
                     ).from_notebook_node(nb, resources={"nbgrader": {
                         "notebook": "warm", "score": 1.0, "max_score": 2.0,
                         "late_penalty": 0.0}})
    except Exception as exc:
        print(f"grading worker: feedback not warmed ({type(exc).__name__}: {exc})",
              file=sys.stderr)
    return cache


def _submission(request: dict, fds: list[int], others: list[int]) -> int:
    """In the worker's child: become the submission's grading process, sandboxed if asked."""
    import resource

    from . import kernel_zygote, nbgrader_run

    worker = os.getppid()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    kernel_zygote.adopt(fds, 1, others)               # the requester's stdout and stderr
    kernel_zygote.die_with_parent(worker)
    memory = int(request.get("memory") or 0)
    if memory > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    argv = list(request["argv"])
    if not request.get("sandboxed"):
        return nbgrader_run.main(argv)
    kernel_zygote.enter_user_namespace(kernel_zygote.CLONE_NEWNS | kernel_zygote.CLONE_NEWPID)
    pid = kernel_zygote.fork_child(_first_process, request, argv)   # PID 1 of the namespace
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


def _first_process(request: dict, argv: list[str]) -> int:
    """The PID namespace's first process: dies with its parent (``--kill-child``), arranges the
    sandbox's filesystem and runs the nbgrader commands in-process."""
    from . import kernel_zygote, nbgrader_run, sandbox

    kernel_zygote.die_with_parent(0)           # its parent is outside the namespace
    env = sandbox.arrange(request["cwd"], request.get("hidden", []))
    os.environ.clear()
    os.environ.update(env)
    os.chdir(sandbox.COURSE)
    return nbgrader_run.main(argv)


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1]))
