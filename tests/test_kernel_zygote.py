"""Grading kernels forked from a warm zygote (attn_grade.kernel_zygote), and submissions forked
from a warm grading worker (attn_grade.grading_worker): confined as the fresh ones are, in the
grading sandbox, each submission starting from a state no other submission touched, and graded
the same."""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import nbformat
import pytest

from attn_grade import engine, kernel_zygote, sandbox

ROOT = Path(__file__).resolve().parent.parent
needs_sandbox = pytest.mark.skipif(not sandbox.available(), reason="no grading sandbox here")

# run by the learner's kernel: what it can see and do, one "ZYG key value" line each
PROBE = r'''
import json as _j, os as _o, random as _r, subprocess as _s, sys as _y, glob as _g
import numpy as _np
def _zyg(key, value): print("ZYG", key, _j.dumps(value))
def _read(p):
    try:
        return _o.listdir(p) if _o.path.isdir(p) else open(p, "rb").read(16).decode("latin-1")
    except OSError as e:
        return type(e).__name__
_zyg("forked", "ipykernel_launcher" not in open("/proc/self/cmdline").read())
_zyg("gradebook", _read("/mnt/autograde/gradebook.db"))
_zyg("zygote_dir", _read("/mnt/.sandbox/zygote"))
_zyg("sandbox_dir", sorted(_read("/mnt/.sandbox")))
_zyg("solutions", _read(REPO + "/solutions"))
_zyg("class", _read(CLASS))
_zyg("tmp", sorted(_read("/tmp")))
_zyg("uid_map", open("/proc/self/uid_map").read().split())
_zyg("umount", _s.run(["umount", "/mnt/autograde/gradebook.db"], capture_output=True).returncode)
_zyg("write_repo", _s.run(["touch", REPO + "/attn_ref/ZYGOTE_WAS_HERE"], capture_output=True).returncode)
_zyg("cwd", _o.getcwd())
_zyg("path", _y.path)
_zyg("random", [_r.random(), float(_np.random.rand())])
_zyg("parent_pid_env", "JPY_PARENT_PID" in _o.environ)
_zyg("few_processes", len(_g.glob("/proc/[0-9]*")) < 12)
'''
# one submission leaves state behind wherever it can; the next looks for it
LEAVE = r'''
import builtins, sys, attn_ref, torch
builtins.LEFT_BEHIND = attn_ref.LEFT_BEHIND = "by the first"
sys.modules["left_behind"] = type(sys)("left_behind")
torch.manual_seed(1234)
'''
LOOK = r'''
import builtins, sys, attn_ref, torch
print("ZYG seen", __import__("json").dumps([hasattr(builtins, "LEFT_BEHIND"),
      hasattr(attn_ref, "LEFT_BEHIND"), "left_behind" in sys.modules]))
print("ZYG torch", __import__("json").dumps(torch.initial_seed()))
'''


def _probe_outputs(result) -> dict:
    nb = nbformat.reads(result.files["autograded/se.ipynb"].decode(), as_version=4)
    seen = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            for line in out.get("text", "").splitlines():
                if line.startswith("ZYG "):
                    _, key, value = line.split(" ", 2)
                    seen[key] = json.loads(value)
    return seen


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> dict[str, bytes]:
    tmp = tmp_path_factory.mktemp("zygote")
    course = tmp / "course"
    shutil.copytree(ROOT / "solutions" / "01_se", course / "solutions" / "01_se")
    shutil.copy(ROOT / "nbgrader_config.py", course)
    (course / "autograde").mkdir()
    return engine.release_bundle(course, "01_se", tmp / "cache")


@pytest.fixture
def fresh_worker(monkeypatch):
    """This process's grading worker, started for the test and ended after it."""
    monkeypatch.setattr(engine, "_WORKER", [])
    yield engine._WORKER
    for w in engine._WORKER:
        w.close()


def _with_code(bundle: dict[str, bytes], code: str) -> dict[str, bytes]:
    """The released notebook with ``code`` first in its first answer cell."""
    nb = nbformat.reads(bundle["course/01_se/se.ipynb"].decode(), as_version=4)
    answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))
    answer.source = code + "\n" + answer.source
    return {"se.ipynb": nbformat.writes(nb).encode()}


def test_launcher_without_a_zygote_says_so_and_fails(tmp_path, capfd):
    assert kernel_zygote.launch(str(tmp_path / "no.sock"), str(tmp_path / "k.json")) == 1
    assert "no kernel from" in capfd.readouterr().err


def test_a_task_carries_the_switches():
    from attn_grade.settings import Grading

    s = Grading(kernel_zygote=False, grading_worker=True)
    t = engine.Task.with_settings(s, student="s", assignment="a", files={}, release={})
    assert (t.kernel_zygote, t.grading_worker) == (False, True)
    assert engine.kernel_option(True, True) == ["--ResilientExecute.kernel_name=attn-sandbox-zygote"]
    assert engine.kernel_option(True, False) == ["--ResilientExecute.kernel_name=attn-sandbox"]
    assert engine.kernel_option(False, True) == []


def test_a_zygote_that_cannot_start_leaves_fresh_kernels():
    from attn_grade import nbgrader_run

    cmds = [["autograde", "a", "--ResilientExecute.kernel_name=attn-sandbox-zygote"], ["x"]]
    assert nbgrader_run._fresh_kernels(cmds) == [
        ["autograde", "a", "--ResilientExecute.kernel_name=attn-sandbox"], ["x"]]


@needs_sandbox
@pytest.mark.parametrize("worker", [False, True], ids=["fresh-nbgrader", "worker"])
def test_forked_kernels_are_confined_as_fresh_ones(bundle, tmp_path, fresh_worker, worker):
    """A forked kernel and a fresh one (kernel_zygote False) see and may do the same, whether
    the submission's nbgrader process is a fresh process or forked from a grading worker."""
    klass = Path.home() / f".attn-zyg-class-{tmp_path.name}"
    (klass / "solutions").mkdir(parents=True, exist_ok=True)
    try:
        files = _with_code(bundle, f"REPO = {str(ROOT)!r}\nCLASS = {str(klass)!r}\n" + PROBE)
        seen = {}
        for zygote in (True, False):
            task = engine.Task("zoe", "01_se", files, bundle, kernel_zygote=zygote,
                               grading_worker=worker, hidden=(str(klass),))
            seen[zygote] = _probe_outputs(engine.grade_one(task))
    finally:
        shutil.rmtree(klass)
    forked, fresh = seen[True], seen[False]
    assert forked.pop("forked") is True and fresh.pop("forked") is False
    assert forked.pop("random") != fresh.pop("random")
    assert fresh.pop("parent_pid_env") is True and forked.pop("parent_pid_env") is False
    assert forked.pop("zygote_dir") == []              # the zygote's socket: out of reach
    assert fresh.pop("zygote_dir") == "FileNotFoundError"
    assert forked.pop("sandbox_dir") == sorted(fresh.pop("sandbox_dir") + ["zygote"])
    for tmp in (forked.pop("tmp"), fresh.pop("tmp")):  # an empty /tmp of the sandbox's own
        assert not [n for n in tmp if n.startswith(("attn-", "pytest")) or n == "stash"], tmp
    assert forked == fresh
    assert forked["gradebook"] == ""                  # /dev/null over the scratch gradebook
    assert forked["solutions"] in ([], "FileNotFoundError")  # hidden with the checkout
    # the class folder (under the home folder here): gone with the hidden top-level folder
    # holding it, or an empty folder over it where it lies in a system folder
    assert forked["class"] in ([], "FileNotFoundError")
    assert forked["few_processes"] is True            # this sandbox's own /proc
    assert forked["uid_map"] == ["0", "0", "1"]       # a user namespace of its own
    assert forked["umount"] != 0 and forked["write_repo"] != 0
    assert forked["cwd"] == "/mnt/autograde/autograded/zoe/01_se"
    assert not (ROOT / "attn_ref" / "ZYGOTE_WAS_HERE").exists()


@needs_sandbox
def test_nothing_one_submission_leaves_is_seen_by_the_next(bundle, fresh_worker):
    """Through one grading worker, with forked kernels: globals, modules and PyTorch's seed set
    by one submission's kernel are not in the next one's (the zygote ran no learner code)."""
    first = engine.grade_one(engine.Task("first", "01_se", _with_code(bundle, LEAVE), bundle,
                                         grading_worker=True))
    assert first.files, first.notes
    seen = _probe_outputs(engine.grade_one(engine.Task(
        "next", "01_se", _with_code(bundle, LOOK), bundle, grading_worker=True)))
    assert seen["seen"] == [False, False, False]
    assert seen["torch"] != 1234
    assert len(fresh_worker) == 1                      # both through the same worker


@needs_sandbox
def test_the_worker_grades_as_the_plain_path_does(bundle, fresh_worker):
    solution = (ROOT / "solutions" / "01_se" / "se.ipynb").read_bytes()
    scores = {}
    for worker, zygote in ((False, False), (True, True)):
        res = engine.grade_one(engine.Task("ann", "01_se", {"se.ipynb": solution}, bundle,
                                           grading_worker=worker, kernel_zygote=zygote))
        assert res.graded, res.notes
        scores[worker] = res.scores
    got = sum(s for s, _ in scores[True]["se"].values())
    assert scores[True] == scores[False] and got == sum(m for _, m in scores[True]["se"].values())


@needs_sandbox
def test_the_worker_enforces_the_memory_limit(bundle, fresh_worker):
    hog = "big = bytearray(6 * 2**30)\n"
    res = engine.grade_one(engine.Task("max", "01_se", _with_code(bundle, hog), bundle,
                                       grading_worker=True, memory=4 * 2**30))
    assert any("out of memory" in n or "kernel stopped" in n for n in res.notes), res.notes


@needs_sandbox
def test_the_worker_kills_a_submission_at_its_time_limit(bundle, fresh_worker):
    files = _with_code(bundle, "import time\ntime.sleep(600)\n")
    res = engine.grade_one(engine.Task("tim", "01_se", files, bundle, timeout=8,
                                       grading_worker=True))
    assert res.notes == ["grading took longer than 8 s; not graded"]
    worker = fresh_worker[0]._proc.pid
    for _ in range(50):                              # the worker kills and reaps it meanwhile
        left = subprocess.run(["ps", "--ppid", str(worker), "-o", "pid="], capture_output=True,
                              text=True).stdout.split()
        if not left:
            break
        time.sleep(0.1)
    assert left == []                                # the submission and all it started: gone
    # and the worker grades the next one
    ok = engine.grade_one(engine.Task("next", "01_se", {"se.ipynb": bundle["course/01_se/se.ipynb"]},
                                      bundle, grading_worker=True))
    assert ok.graded, ok.notes
