"""Grading kernels forked from a warm zygote, inside the grading sandbox.

Every notebook nbgrader autogrades runs in a fresh kernel, and in this course every kernel
starts by importing PyTorch, matplotlib and attn_ref: about as much CPU as running the cells of a
chapter. Here the sandboxed nbgrader process (:mod:`attn_grade.nbgrader_run`, given
``--zygote``), before nbgrader runs anything, imports those modules and forks a *zygote*: a
single-threaded process that waits on a Unix socket. The ``attn-sandbox-zygote`` kernelspec
(written by :func:`attn_grade.sandbox.arrange`) runs :func:`launch` (a small program that starts
in milliseconds): it hands the zygote its connection file, working folder, environment and
standard streams, and the zygote forks a kernel that

* hides the scratch gradebook (``/dev/null`` bound over it) and the zygote's socket in a mount
  namespace of its own, then enters a further user and mount namespace where those mounts are
  locked: the same confinement as the ``unshare`` chain of ``sandbox.kernel``;
* reseeds Python's ``random`` and NumPy's legacy global generator from ``os.urandom``, as a fresh
  process seeds them (PyTorch's default generator is untouched: nothing ran in the zygote, so it
  holds PyTorch's fixed initial seed, as in a fresh process);
* takes the launcher's environment, folder, ``sys.argv`` and ``sys.path[0]`` as
  ``python -m ipykernel_launcher -f <connection file>`` would have them, and starts ipykernel's
  ``IPKernelApp`` on the connection file.

The zygote never runs learner code or a PyTorch operation, and it is born with each submission's
nbgrader process (inside that submission's sandbox, under its memory limit) and dies with it:
every kernel of a submission is forked from a state no other submission touched. A kernel dies
when its launcher does (what jupyter_client kills), when the zygote does, or with the sandbox's
PID namespace; the zygote reaps every kernel, so their CPU time is accounted to the grading.

Setting: ``c.Grading.kernel_zygote = False`` starts every kernel as a fresh process instead (the
``unshare`` chain). This module's top level imports only the standard library: the launcher
runs it as a script (``python -I -S``).

    python -I -S .../attn_grade/kernel_zygote.py <socket> <connection file>    # the launcher
"""
from __future__ import annotations

import json
import os
import socket
import sys

# modules every chapter's kernel imports in its first cells: imported once in the zygote
# (and the out-of-kernel verdict, in the nbgrader process the zygote is forked from), with every
# chapter's checks (attn_ref.grading.registry)
PRELOAD = ("numpy", "torch", "torch.nn.functional", "torch.utils.flop_counter", "matplotlib",
           "matplotlib.pyplot", "tqdm.auto", "ipykernel.kernelapp", "IPython", "attn_ref",
           "attn_ref.grading", "attn_ref.grading.kernel", "attn_ref.data", "attn_ref.plots",
           # what the chapters' cells import on the way (measured on 01_se: PyTorch's _dynamo,
           # with sympy, about a second of CPU in every kernel; scikit-image's sample images);
           # imports only, each leaving the process single-threaded
           "torch._dynamo", "scipy.linalg", "skimage.data", "skimage.io", "skimage.color",
           "skimage.exposure", "skimage.util", "matplotlib_inline.backend_inline")
MAX_REQUEST = 1 << 20
# what python -m put first on sys.path for the process the zygote is forked from
_MAIN_FOLDER = sys.path[0] if sys.path else None
# sys.path as a fresh process has it, where the process the zygote is forked from imported
# modules that change it (the grading worker: setuptools' vendored packages); None: as it is
FRESH_SYS_PATH: list[str] | None = None


# ----- the launcher (the kernelspec's command) ----------------------------------------------------
def launch(path: str, connection_file: str) -> int:
    """Ask the zygote listening at ``path`` for a kernel on ``connection_file``; wait for it.

    Returns the kernel's exit status (128 + signal number if a signal ended it), or 1 when the
    zygote cannot be reached or goes away first. Killing the launcher kills the kernel."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        s.connect(path)
        request = {"connection_file": os.path.abspath(connection_file), "cwd": os.getcwd(),
                   "env": dict(os.environ)}
        socket.send_fds(s, [json.dumps(request).encode()], [0, 1, 2])
        status = 1
        while True:
            msg = s.recv(4096)
            if not msg:
                return status
            word, _, value = msg.decode().partition(" ")
            if word == "exit":
                return int(value)
    except OSError as exc:
        print(f"kernel_zygote: no kernel from {path}: {exc}", file=sys.stderr)
        return 1


# ----- the zygote ---------------------------------------------------------------------------------
def preload(modules=PRELOAD) -> list[str]:
    """Import ``modules`` (those that cannot be imported are skipped); return the ones imported."""
    import importlib

    done = []
    try:
        from attn_ref.grading.registry import CHAPTERS

        modules = (*modules, *CHAPTERS.values())
    except ImportError:
        pass
    for name in modules:
        try:
            importlib.import_module(name)
            done.append(name)
        except Exception:
            pass
    return done


def start(path: str, gradebook: str | None) -> tuple[int, int]:
    """Fork a zygote listening at ``path``; return (its pid, the write end of its lifeline).

    Call it while this process is single-threaded (for Python; native pools such as OpenBLAS's
    are re-made after fork by their own handlers), after :func:`preload`. Closing the lifeline
    (or this process dying) ends the zygote and its kernels. ``gradebook`` is the file each
    kernel sees as ``/dev/null``. Raises OSError if the socket cannot be made."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(16)
    r, w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(w)
            die_with_parent(os.getppid())
            code = _serve(listener, r, path, gradebook)
        finally:
            os._exit(code)
    os.close(r)
    listener.close()
    return pid, w


def stop(pid: int, lifeline: int) -> None:
    """End the zygote started by :func:`start` (its kernels with it) and reap it."""
    try:
        os.close(lifeline)
    except OSError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def die_with_parent(parent: int) -> None:
    """SIGKILL this process when its parent dies; end it now if ``parent`` already has (the first
    process of a PID namespace passes 0: its parent is outside)."""
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


def _serve(listener: socket.socket, lifeline: int, path: str, gradebook: str | None) -> int:
    return serve_forks(listener, lifeline, 3,
                       lambda request, fds, others: _kernel(request, fds, others, path, gradebook))


def fork_child(fn, *args) -> int:
    """Fork; the child runs ``fn(*args)`` and exits with what it returns (a SystemExit's code; 1,
    with the traceback on stderr, for any other exception) and never returns here. Returns the
    child's pid. Raises OSError if there is no memory for the fork."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        code = fn(*args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except BaseException:
        import traceback
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def adopt(fds: list[int], first: int, others: list[int]) -> None:
    """In a child of :func:`serve_forks`: a session of its own, the requester's ``fds`` as its
    descriptors ``first``, ``first`` + 1, ..., the server's descriptors ``others`` closed."""
    os.setsid()
    for i, fd in enumerate(fds, first):
        os.dup2(fd, i)
        os.close(fd)
    for fd in others:
        try:
            os.close(fd)
        except OSError:
            pass


def serve_forks(listener: socket.socket, lifeline: int, nfds: int, child) -> int:
    """Serve ``listener`` (a SOCK_SEQPACKET Unix socket) until ``lifeline`` reads end-of-file.

    Each request is one JSON message carrying ``nfds`` file descriptors; for each, a child is
    forked that runs ``child(request, fds, others)`` (``others``: this server's descriptors, for
    the child to close) and exits with its result, which the requester then receives as
    ``exit <status>`` (128 + the signal number if a signal ended it). A child whose requester
    goes away is killed (SIGKILL); so is every child when the lifeline ends. Every child is
    reaped here. Returns 0."""
    import selectors
    import signal

    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "accept")
    sel.register(lifeline, selectors.EVENT_READ, "lifeline")
    children: dict[int, tuple[socket.socket, int]] = {}     # pid -> (requester's socket, pidfd)

    def reap(pid: int) -> None:
        conn, pidfd = children.pop(pid)
        sel.unregister(conn)
        sel.unregister(pidfd)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        try:
            conn.send(f"exit {code if code >= 0 else 128 - code}".encode())
        except OSError:
            pass
        conn.close()
        os.close(pidfd)

    def kill(pid: int) -> None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    while True:
        for key, _ in sel.select():
            what = key.data
            if what == "lifeline":
                if os.read(lifeline, 4096):
                    continue
                for pid in list(children):              # the requesters' process is done
                    kill(pid)
                    reap(pid)
                return 0
            if what == "accept":
                try:
                    conn, _ = listener.accept()
                    msg, fds, _, _ = socket.recv_fds(conn, MAX_REQUEST, nfds)
                    request = json.loads(msg)
                    if len(fds) != nfds:
                        raise ValueError(f"{nfds} file descriptors expected")
                except (OSError, ValueError):
                    continue
                others = [sel.fileno(), listener.fileno(), lifeline, conn.fileno()] + \
                         [c.fileno() for c, _ in children.values()] + \
                         [p for _, p in children.values()]
                try:
                    pid = fork_child(child, request, fds, others)
                except OSError:                           # no memory left: the requester sees
                    pid = None                            # the connection end without a status
                for fd in fds:
                    os.close(fd)
                if pid is None:
                    conn.close()
                    continue
                pidfd = os.pidfd_open(pid)
                children[pid] = (conn, pidfd)
                sel.register(conn, selectors.EVENT_READ, ("requester", pid))
                sel.register(pidfd, selectors.EVENT_READ, ("exited", pid))
                continue
            kind, pid = what
            if pid not in children:
                continue
            if kind == "requester":                     # it went away: so does its child
                try:
                    if key.fileobj.recv(1):
                        continue
                except OSError:
                    pass
                kill(pid)
            reap(pid)


# ----- a kernel, in the zygote's child ------------------------------------------------------------
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID = 0x00020000, 0x10000000, 0x20000000
_MS_BIND, _MS_REC, _MS_PRIVATE = 4096, 16384, 1 << 18


def _libc():
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _confine(gradebook: str | None, hide: str) -> None:
    """As ``sandbox.kernel`` and ``sandbox.kernel_inner`` do with ``unshare``: hide the gradebook
    and ``hide`` in a mount namespace of this process's own, then enter a user and mount
    namespace of its own (uid 0 mapped to the current one), where those mounts are locked."""
    libc = _libc()
    _check(libc.unshare(CLONE_NEWNS), "unshare(mount)")
    _check(libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "mount private")
    if gradebook and os.path.exists(gradebook):
        _check(libc.mount(b"/dev/null", gradebook.encode(), None, _MS_BIND, None),
               "hide the gradebook")
    _check(libc.mount(b"tmpfs", hide.encode(), b"tmpfs", 0, b"size=1m,mode=0555"),
           "hide the zygote")
    enter_user_namespace(CLONE_NEWNS)


def enter_user_namespace(flags: int = 0) -> None:
    """As ``unshare --user --map-root-user`` (with ``--mount``, ``--pid`` as ``flags`` ask): a new
    user namespace where this process is root, mapped to its current user, plus the namespaces
    of ``flags``; mounts made private. The process must be single-threaded. Raises OSError."""
    libc = _libc()
    uid, gid = os.geteuid(), os.getegid()
    _check(libc.unshare(CLONE_NEWUSER | flags), "unshare")
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"0 {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"0 {gid} 1")
    if flags & CLONE_NEWNS:
        _check(libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "mount private")


def _kernel(request: dict, fds: list[int], others: list[int], path: str,
            gradebook: str | None) -> int:
    import random

    zygote = os.getppid()
    adopt(fds, 0, others)                             # a session, as jupyter_client starts it
    _confine(gradebook, os.path.dirname(path))
    die_with_parent(zygote)                    # after the user namespace: it resets this

    random.seed()                                     # as a fresh process seeds them
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    env = request["env"]
    env.pop("JPY_PARENT_PID", None)                   # the zygote, not nbgrader, is the parent
    os.environ.clear()
    os.environ.update(env)
    os.chdir(request["cwd"])
    import ipykernel_launcher

    sys.argv = [ipykernel_launcher.__file__, "-f", request["connection_file"]]
    # python -m puts the folder first on sys.path; ipykernel_launcher takes it off while it
    # imports, and IPython puts '' back
    if FRESH_SYS_PATH is not None:
        sys.path[:] = FRESH_SYS_PATH
    if sys.path and sys.path[0] == _MAIN_FOLDER:
        sys.path.pop(0)
    from ipykernel import kernelapp

    # the course's translations of what its cells print (attn_ref.grading.visible): set up on
    # import where a shell exists, which the zygote's import preceded
    kernelapp.IPKernelApp.launch_instance(extensions=["attn_ref.grading.visible"])
    return 0


if __name__ == "__main__":
    sys.exit(launch(sys.argv[1], sys.argv[2]))
