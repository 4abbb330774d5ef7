"""A sandbox for grading one submission, from Linux namespaces (util-linux's ``unshare``).

The learner's code runs in a Jupyter kernel started by nbgrader. Without a sandbox it could
read the solutions, rewrite the class gradebook or another learner's files, patch the reference
package or nbgrader on disk for the submissions graded after it, or leave a process behind that
edits the results once grading is over. Here:

``outer`` (the nbgrader process, started by :mod:`attn_grade.engine` as
``unshare --user --map-root-user --mount --pid --fork --kill-child python -m attn_grade.sandbox outer ...``)
  sees the submission's scratch course at ``/mnt`` (writable) and, of the rest of the machine,
  only the system's folders (:data:`SYSTEM`: /usr, /etc, the libraries, the devices). Every
  other top-level folder (/home, /root, /tmp, /var, /run, /srv, /opt, ...) is an empty tmpfs,
  and so are /dev/shm, the class folder grading was started in and the checkout this package
  is installed from (solutions, gradebook, submissions and results), wherever they lie: only the
  two packages' folders (``attn_ref``, ``attn_grade``), the environment and the Python
  installation come back, read-only. Another clone of the course, another class or the
  instructor's own files elsewhere on the machine are out of reach. Every process started
  inside dies when it ends (its own PID namespace), whose own /proc lists only its processes.
``kernel`` (the learner's kernel, through the ``attn-sandbox`` kernelspec) additionally sees
  ``/dev/null`` in place of the scratch gradebook, and runs in a user namespace of its own, so it
  cannot undo any of these mounts (they are locked for it) nor make anything writable again.
  The ``attn-sandbox-zygote`` kernelspec instead forks the kernel from a warm zygote started by
  the nbgrader process (attn_grade.kernel_zygote), which confines it the same way.

If ``unshare`` or user namespaces are not available, :func:`available` says so and the engine
grades without a sandbox, saying that in its summary.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

COURSE = "/mnt"
KERNEL_NAME = "attn-sandbox"
ZYGOTE_KERNEL_NAME = KERNEL_NAME + "-zygote"
ZYGOTE_SOCKET = COURSE + "/.sandbox/zygote/kernel.sock"
GRADEBOOK = COURSE + "/autograde/gradebook.db"       # the scratch gradebook, as the sandbox sees it
OUTER = ["unshare", "--user", "--map-root-user", "--mount", "--pid", "--fork", "--kill-child"]


@functools.lru_cache(maxsize=1)
def available() -> bool:
    if not shutil.which("unshare") or not os.path.isdir(COURSE):
        return False
    try:
        probe = subprocess.run(OUTER + ["sh", "-c", f"mount -t tmpfs tmpfs {COURSE} && "
                                        "unshare --mount true"],
                               capture_output=True, timeout=30)
        return probe.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def _mount_undo(path: str) -> None:
    subprocess.run(["umount", path], check=True, capture_output=True)


def _code() -> list[str]:
    """The folders of the two packages grading imports: attn_ref (in the kernel) and this one."""
    import attn_ref

    return [os.path.dirname(os.path.abspath(attn_ref.__file__)), os.path.dirname(os.path.abspath(__file__))]


# top-level folders the sandbox leaves visible (read-only for the kernel, whose user namespace
# owns none of them): the system's programs, libraries and configuration, and the devices.
# Every other top-level folder (/home, /root, /srv, /opt, /var, /run, /work, ...) is hidden
# under an empty tmpfs, and only the Python installation, the environment and the two packages
# come back from it (:func:`_kept`): an allowlist, so that another clone of the course, another
# class or the instructor's files elsewhere on the machine stay out of reach.
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/dev",
          "/proc", "/sys", COURSE)


def _elsewhere() -> list[str]:
    """Every real top-level folder outside :data:`SYSTEM` (symbolic links, such as /bin on a
    merged-/usr system, point into it and are left alone)."""
    return [str(p) for p in sorted(Path("/").iterdir())
            if p.is_dir() and not p.is_symlink() and str(p) not in SYSTEM]


@functools.lru_cache(maxsize=None)
def _private(top: str) -> tuple[tuple[str, bool], ...]:
    """The files and folders under ``top`` that other users may not read (no ``o+r``), outermost
    only, as (path, is a folder); symbolic links are not followed. Found once per process (a
    tenth of a second for /etc): the grading worker finds them before it forks."""
    import stat

    found: list[tuple[str, bool]] = []
    for folder, dirs, files in os.walk(top):
        for name in (*dirs, *files):
            path = os.path.join(folder, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)) and \
                    not st.st_mode & stat.S_IROTH:
                found.append((path, stat.S_ISDIR(st.st_mode)))
        dirs[:] = [d for d in dirs if (os.path.join(folder, d), True) not in found]
    return tuple(found)


def _kept() -> list[str]:
    """What grading needs from folders the sandbox hides, brought back read-only: the two
    packages, the environment (sys.prefix), the Python installation it comes from
    (sys.base_prefix) and the site-packages folders on sys.path (a user's, the system's); not
    the other folders of sys.path, whose first is the working folder of ``python -m`` (it may be
    the class folder); outermost first, none inside another."""
    sites = [p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages")]
    found = {os.path.realpath(p) for p in (*_code(), sys.prefix, sys.base_prefix,
                                            sys.base_exec_prefix, *sites)
             if p and os.path.isabs(p) and os.path.isdir(p)}
    found |= {p for p in (*_code(), sys.prefix) if os.path.isdir(p)}
    return [p for p in sorted(found) if not any(_within(p, q) and p != q for q in found)]


def _checkout() -> Path | None:
    """The class folder this package is installed from (an editable install in a clone of the
    course, holding nbgrader_config.py, solutions/ and autograde/), if it is."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "nbgrader_config.py").is_file() else None


def _within(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or inside it."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def outer(course: str, commands: list[list[str]], hidden: list[str] = ()) -> int:
    """Inside the outer namespaces: arrange the filesystem (:func:`arrange`), then run the
    grading commands."""
    env = arrange(course, hidden)
    rc = 0
    for cmd in commands:
        rc = subprocess.run(cmd, cwd=COURSE, env=env).returncode
        if rc:
            break
    return rc


def arrange(course: str, hidden: list[str] = ()) -> dict[str, str]:
    """Inside new user, mount and PID namespaces (``unshare`` for :func:`outer`, or the grading
    worker's own, attn_grade.grading_worker): bind ``course`` at /mnt, hide and lock the rest (see
    the module's description), mount this namespace's /proc and write the kernelspecs; return the
    environment to grade in. ``hidden``: further folders to hide (the class folder grading was
    started in), where they exist here; never one that holds the Python installation itself.
    Raises CalledProcessError if a mount fails."""
    import tempfile

    _mount("--bind", course, COURSE)
    keep = _kept()
    # the packages and the environment may live under a folder about to be hidden (the class
    # folder, a clone in /tmp): hold them at a stash inside the course, hide, then put them back
    # read-only
    stash = Path(COURSE) / ".sandbox" / "stash"
    for i, p in enumerate(keep):
        (stash / str(i)).mkdir(parents=True, exist_ok=True)
        _mount("--bind", p, str(stash / str(i)))
    # hidden: the temporary folders (other scratch courses, the release cache), the checkout the
    # packages come from and the class folder grading started in (solutions, the class
    # gradebook, everyone's submissions and results)
    hide = {"/tmp", tempfile.gettempdir(), str(Path.home() / ".cache"), *_elsewhere()}
    if _checkout() is not None:
        hide.add(str(_checkout()))
    python = [os.path.realpath(p) for p in (sys.base_prefix, sys.base_exec_prefix)]
    hide.update(p for p in map(os.path.realpath, hidden)
                if not any(_within(b, p) for b in python))
    done: list[str] = []
    for p in sorted(hide):
        if os.path.isdir(p) and not _within(COURSE, p) and not any(_within(p, h) for h in done):
            _mount("-t", "tmpfs", "-o", "size=512m", "tmpfs", p)
            done.append(p)
    for i, p in enumerate(keep):
        os.makedirs(p, exist_ok=True)
        _mount("--bind", str(stash / str(i)), p)
        _mount("-o", "remount,bind,ro", p)
    for i in range(len(keep)):
        _mount_undo(str(stash / str(i)))
    # what /etc keeps from other users (/etc/shadow, private keys, a database's access rules):
    # still unreadable to a grader run as root
    for path, is_dir in _private("/etc"):
        if is_dir:
            _mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", path)
        else:
            _mount("--bind", "/dev/null", path)
    # shared memory of this namespace's own: nothing another submission left there
    _mount("-t", "tmpfs", "-o", "size=512m", "tmpfs", "/dev/shm")
    # /proc of this PID namespace: the machine's other processes (other graders, the
    # coordinator) and their command lines are not listed
    _mount("-t", "proc", "proc", "/proc")
    from . import kernel_zygote

    # a fresh kernel (the unshare chain below), or one forked from the zygote that
    # ``nbgrader_run --zygote`` starts; the command line's kernel_name picks one
    specs = {KERNEL_NAME: [sys.executable, "-m", "attn_grade.sandbox", "kernel",
                           "{connection_file}", GRADEBOOK],
             ZYGOTE_KERNEL_NAME: [sys.executable, "-I", "-S", kernel_zygote.__file__,
                                  ZYGOTE_SOCKET, "{connection_file}"]}
    for name, argv in specs.items():
        spec_dir = Path(COURSE) / ".sandbox" / "kernels" / name
        spec_dir.mkdir(parents=True, exist_ok=True)
        (spec_dir / "kernel.json").write_text(json.dumps({
            "argv": argv, "display_name": "Python 3 (grading sandbox)", "language": "python",
            "interrupt_mode": "message"}))
    return dict(os.environ, JUPYTER_PATH=str(Path(COURSE) / ".sandbox"),
                HOME="/tmp", XDG_CACHE_HOME="/tmp/.cache",
                MPLCONFIGDIR="/tmp/.mpl", JUPYTER_RUNTIME_DIR="/tmp/.runtime",
                IPYTHONDIR="/tmp/.ipython")


def kernel(connection_file: str, gradebook: str) -> None:
    """The kernelspec's entry: hide the gradebook in a mount namespace of its own, then start
    ipykernel in a further user namespace, where those mounts are locked."""
    os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", sys.executable, "-m",
                          "attn_grade.sandbox", "kernel-inner", connection_file, gradebook])


def kernel_inner(connection_file: str, gradebook: str) -> None:
    if os.path.exists(gradebook):
        _mount("--bind", "/dev/null", gradebook)
    os.execvp("unshare", ["unshare", "--user", "--map-root-user", "--mount", sys.executable,
                          "-m", "ipykernel_launcher", "-f", connection_file])


def command(course: Path, commands: list[list[str]], hidden: list[str] = ()) -> list[str]:
    """The command line that runs ``commands`` in the sandbox around ``course``, hiding also the
    folders ``hidden``."""
    return OUTER + [sys.executable, "-m", "attn_grade.sandbox", "outer", str(course),
                    json.dumps(commands), *(f"--hide={h}" for h in hidden)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m attn_grade.sandbox")
    sub = p.add_subparsers(dest="stage", required=True)
    o = sub.add_parser("outer")
    o.add_argument("course")
    o.add_argument("commands", help="JSON list of argv lists")
    o.add_argument("--hide", action="append", default=[], help="a further folder to hide")
    for name in ("kernel", "kernel-inner"):
        k = sub.add_parser(name)
        k.add_argument("connection_file")
        k.add_argument("gradebook", help="the scratch gradebook, hidden from the kernel")
    args = p.parse_args(argv)
    if args.stage == "outer":
        return outer(args.course, json.loads(args.commands), args.hide)
    if args.stage == "kernel":
        kernel(args.connection_file, args.gradebook)
    else:
        kernel_inner(args.connection_file, args.gradebook)
    return 0


if __name__ == "__main__":
    sys.exit(main())
