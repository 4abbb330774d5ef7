"""The grading sandbox hides the class folder grading was started in, wherever it is, and still
runs nbgrader's Python. (Whole submissions, attacks included, are graded in it by
tests/test_course.py: see the mallory_* samples.)"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from attn_grade import sandbox

pytestmark = pytest.mark.skipif(not sandbox.available(), reason="no user namespaces here")

READ = "import pathlib, sys; p = pathlib.Path(sys.argv[1]); print(p.read_text() if p.exists() else 'absent')"


def _run_inside(code: str, *args: str, hidden: list[str] = ()) -> str:
    """What ``python -c code args`` prints, run in a sandbox over a scratch course."""
    with tempfile.TemporaryDirectory() as course:
        cmd = sandbox.command(Path(course), [[sys.executable, "-c", code, *args]], list(hidden))
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _in_sandbox(secret: Path, hidden: list[str]) -> str:
    return _run_inside(READ, str(secret), hidden=hidden)


def test_the_class_folder_is_hidden_wherever_it_lies():
    # a class folder in one of the system's folders, which the sandbox otherwise leaves visible
    # (a class folder anywhere else is hidden with every other top-level folder: next test)
    if not os.access("/usr/local", os.W_OK):
        pytest.skip("/usr/local is not writable here (the test places a class folder there)")
    with tempfile.TemporaryDirectory(dir="/usr/local", prefix=".attn-class-") as klass:
        secret = Path(klass) / "solutions" / "answers.txt"
        secret.parent.mkdir()
        secret.write_text("the answers")
        assert _in_sandbox(secret, []) == "the answers"          # the control: visible
        assert _in_sandbox(secret, [klass]) == "absent"


def test_a_folder_holding_python_itself_is_never_hidden():
    assert _in_sandbox(Path(sys.base_prefix) / "nothing-here", ["/", sys.base_prefix]) == "absent"
    # (Python ran: the folders that hold it were not hidden, though asked)


def test_the_command_line_carries_the_folders():
    cmd = sandbox.command(Path("/x"), [["true"]], ["/srv/class"])
    assert cmd[-1] == "--hide=/srv/class" and json.loads(cmd[-2]) == [["true"]]


def test_only_the_sandbox_s_own_processes_are_listed():
    count = "import glob; print(len(glob.glob('/proc/[0-9]*')))"
    outside = int(subprocess.run([sys.executable, "-c", count], capture_output=True,
                                 text=True).stdout)
    with tempfile.TemporaryDirectory() as course:
        proc = subprocess.run(sandbox.command(Path(course), [[sys.executable, "-c", count]]),
                              capture_output=True, text=True, timeout=120)
    inside = int(proc.stdout)
    # the namespace's first process (unshare's child) and this Python; the machine has more
    assert inside == 2 and outside > inside


def test_everything_outside_the_system_folders_is_hidden_unnamed():
    """Another clone of the course under the home folder and a file in shared memory: visible
    outside, absent inside without being named, while Python, the environment and both packages
    still work there (an allowlist: only SYSTEM folders and what grading needs are seen)."""
    with tempfile.TemporaryDirectory(dir=Path.home(), prefix=".attn-other-clone-") as clone, \
            tempfile.NamedTemporaryFile("w", dir="/dev/shm", prefix="attn-") as shm:
        secret = Path(clone) / "solutions" / "01_se" / "se.ipynb"
        secret.parent.mkdir(parents=True)
        secret.write_text("the instructor's notebook")
        shm.write("left by another submission")
        shm.flush()
        code = ("import pathlib, sys, attn_ref, attn_grade\n"
                "print([p.read_text() if p.exists() else 'absent' "
                "for p in map(pathlib.Path, sys.argv[1:])])")
        args = [str(secret), shm.name]
        outside = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                                 text=True, timeout=120)
        assert outside.stdout.strip() == str(["the instructor's notebook",
                                              "left by another submission"])   # the control
        assert _run_inside(code, *args) == str(["absent", "absent"])


def test_what_etc_keeps_from_other_users_is_unreadable_inside():
    """/etc stays visible (the system's configuration), but its files and folders other users
    may not read (/etc/shadow, private keys) are empty inside, even for a grader run as root."""
    private = sandbox._private("/etc")
    readable = [p for p, is_dir in private if not is_dir and os.access(p, os.R_OK)
                and os.path.getsize(p) > 0]
    if not readable:
        pytest.skip("no private file in /etc that this user can read (not run as root)")
    code = ("import pathlib, sys\n"
            "print([len(pathlib.Path(p).read_bytes()) for p in sys.argv[1:]])")
    assert _run_inside(code, *readable) == str([0] * len(readable))    # /dev/null over each
