"""The grading engine's plumbing: release bundles, the one-process nbgrader runner, preflight.

End-to-end grading of every sample is in test_course.py; these are the pieces, on a scratch
course holding chapter 1 only.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
from attn_grade import engine


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("course")
    shutil.copytree(ROOT / "solutions" / "01_se", root / "solutions" / "01_se")
    shutil.copy(ROOT / "nbgrader_config.py", root)
    (root / "autograde").mkdir()
    return root


def _run_nbgrader(commands, cwd):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return subprocess.run([sys.executable, "-m", "attn_grade.nbgrader_run",
                           json.dumps(commands)], cwd=cwd, capture_output=True, text=True, env=env)


def test_release_bundle_has_the_release_and_no_solutions(course, tmp_path):
    cache = tmp_path / "cache"
    bundle = engine.release_bundle(course, "01_se", cache)
    assert "nbgrader_config.py" in bundle and "autograde/gradebook.db" in bundle
    assert "course/01_se/se.ipynb" in bundle
    assert not [k for k in bundle if k.startswith("solutions/") and k.endswith(".ipynb")]
    released = json.loads(bundle["course/01_se/se.ipynb"])
    text = "".join("".join(c["source"]) for c in released["cells"])
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    # the gradebook knows the assignment and its graded cells
    from nbgrader.api import Gradebook

    db = tmp_path / "gb.db"
    db.write_bytes(bundle["autograde/gradebook.db"])
    with Gradebook("sqlite:///" + str(db)) as gb:
        nb = gb.find_notebook("se", "01_se")
        assert {g.name for g in nb.grade_cells} >= {"test_squeeze", "test_se_module"}
    task = engine.Task("s", "01_se", {}, bundle)
    assert task.notebooks == ["se.ipynb"]


def test_release_bundle_is_made_once_per_content(course, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = engine.release_bundle(course, "01_se", cache)
    calls = []
    real = engine._run
    monkeypatch.setattr(engine, "_run", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert engine.release_bundle(course, "01_se", cache) == first
    assert calls == []                              # taken from the cache
    nb = course / "solutions" / "01_se" / "se.ipynb"
    original = nb.read_bytes()
    try:
        data = json.loads(original)
        data["cells"][0]["source"] = ["# a changed title\n"] + list(data["cells"][0]["source"])
        nb.write_text(json.dumps(data))
        changed = engine.release_bundle(course, "01_se", cache)
    finally:
        nb.write_bytes(original)
    assert len(calls) == 1                          # the source changed: released again
    assert "a changed title" in changed["course/01_se/se.ipynb"].decode()
    assert len([p for p in cache.iterdir() if not p.name.startswith(".")]) == 2


def test_nbgrader_runner_runs_in_order_and_stops_at_a_failure(course, tmp_path):
    root = tmp_path / "c"
    shutil.copytree(course, root)
    ok = _run_nbgrader([["generate_assignment", "01_se", "--force", "--log-level=ERROR"],
                        ["db", "student", "add", "zoe", "--log-level=ERROR"]], root)
    assert ok.returncode == 0, ok.stderr
    assert (root / "course" / "01_se" / "se.ipynb").exists()
    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///" + str(root / "autograde" / "gradebook.db")) as gb:
        assert [s.id for s in gb.students] == ["zoe"]
    bad = _run_nbgrader([["generate_assignment", "no_such_assignment", "--log-level=ERROR"],
                         ["db", "student", "add", "yann", "--log-level=ERROR"]], root)
    assert bad.returncode != 0
    with Gradebook("sqlite:///" + str(root / "autograde" / "gradebook.db")) as gb:
        assert [s.id for s in gb.students] == ["zoe"]   # the second command never ran


def test_preflight_notes_and_renames(course, tmp_path):
    bundle = engine.release_bundle(course, "01_se", tmp_path / "cache")
    nb = bundle["course/01_se/se.ipynb"]
    ok, notes = engine.preflight(engine.Task("s", "01_se", {"se.ipynb": nb, "x.txt": b"x"}, bundle))
    assert list(ok) == ["se.ipynb"] and notes == ["ignored extra file x.txt"]
    ok, notes = engine.preflight(engine.Task("s", "01_se", {"se (2).ipynb": nb}, bundle))
    assert list(ok) == ["se.ipynb"] and "graded as se.ipynb" in notes[0]
    ok, notes = engine.preflight(engine.Task("s", "01_se", {"se.ipynb": b"{not json"}, bundle))
    assert ok == {} and "not a valid notebook" in notes[0]
    # the files nbgrader itself puts into a submission (collect, submit) are no extra files
    ok, notes = engine.preflight(engine.Task("s", "01_se", {
        "se.ipynb": nb, "timestamp.txt": b"2026-12-01 10:00:00 UTC",
        "submission_secret.txt": b"ab" * 64}, bundle))
    assert list(ok) == ["se.ipynb"] and notes == []


def test_released_through_the_exchange(tmp_path, monkeypatch):
    """grades.csv keeps rows of the chapters in nbgrader's exchange (outbound), where there is one."""
    from attn_grade import pipeline

    config = tmp_path / "config"
    config.mkdir()
    (config / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.Exchange.root = {str(tmp_path / 'exchange')!r}\n")
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(config))
    pipeline.use_root(ROOT)
    assert pipeline.released() is None             # no exchange: everything in course/ is out
    (tmp_path / "exchange" / "attention-course" / "outbound" / "01_se").mkdir(parents=True)
    assert pipeline.released() == {"01_se"}
