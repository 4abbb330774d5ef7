"""The grading system's settings: traitlets options in nbgrader_config.py, the environment read
only at the command line's edge, and every limit reaching the worker inside its Task."""
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_notebook

from attn_grade import engine, settings

ROOT = Path(__file__).resolve().parent.parent


def _class(tmp_path, extra=""):
    (tmp_path / "nbgrader_config.py").write_text(
        (ROOT / "nbgrader_config.py").read_text() + extra)
    return tmp_path


def test_defaults_come_from_the_options_and_the_configuration_overrides_them(tmp_path):
    assert settings.load(_class(tmp_path)).submission_timeout == 900
    s = settings.load(_class(tmp_path, "\nc.Grading.submission_timeout = 120\n"
                                       "c.Grading.sandbox = False\n"))
    assert (s.submission_timeout, s.sandbox) == (120, False)
    assert s.config.ResilientExecute.timeout == 60          # nbgrader's options come along


def test_the_environment_goes_over_the_configuration_and_bad_values_are_named(tmp_path):
    root = _class(tmp_path, "\nc.Grading.max_notebook_mb = 20\n")
    s = settings.load(root, {"ATTN_MAX_NOTEBOOK_MB": "5", "ATTN_SANDBOX": "0",
                             "ATTN_DASK_SCHEDULER": "tcp://127.0.0.1:8786", "OTHER": "x"})
    assert (s.max_notebook_mb, s.sandbox, s.scheduler) == (5, False, "tcp://127.0.0.1:8786")
    assert settings.load(root, {}).max_notebook_mb == 20
    with pytest.raises(SystemExit, match="ATTN_WORKERS='two'"):
        settings.load(root, {"ATTN_WORKERS": "two"})


def test_every_option_has_help_and_an_environment_variable():
    traits = settings.Grading.class_traits(config=True)
    assert set(settings.ENVIRONMENT.values()) == set(traits)
    text = settings.describe()
    for name, trait in traits.items():
        assert trait.help and f"c.Grading.{name} = " in text


def test_a_task_carries_its_limits_and_the_worker_applies_them(tmp_path):
    s = settings.load(_class(tmp_path, "\nc.Grading.max_notebook_mb = 1\n"
                                       "c.Grading.memory_limit_gb = 2.5\n"))
    release = {"course/01_se/se.ipynb": b"{}"}
    task = engine.Task.with_settings(s, student="s", assignment="01_se", files={}, release=release)
    assert (task.max_notebook_bytes, task.memory) == (2**20, int(2.5 * 2**30))
    nb = new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("x = '" + "a" * 2**20 + "'"))
    task.files = {"se.ipynb": nbformat.writes(nb).encode()}
    ok, notes = engine.preflight(task)
    assert not ok and "over the 1 MB limit" in notes[0]


def test_only_the_command_line_reads_the_environment():
    """No module of either package reads an ATTN_* variable except the settings' table, which
    only attn_grade.pipeline.main hands the environment to."""
    readers = []
    for path in sorted([*(ROOT / "attn_ref").rglob("*.py"), *(ROOT / "autograde" / "attn_grade").rglob("*.py"),
                        ROOT / "nbgrader_config.py"]):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"(environ(\.get|\[|\.pop|\.setdefault)?|getenv)\W*[\"']ATTN_", line):
                readers.append(f"{path.relative_to(ROOT)}:{i}")
    assert readers == []
    main = (ROOT / "autograde" / "attn_grade" / "pipeline.py").read_text()
    assert "load_settings(ROOT, os.environ)" in main


def test_the_command_says_when_it_falls_back_to_the_checkout(tmp_path, monkeypatch, capsys):
    """Outside any class folder the command works on the checkout's class, and says so; inside
    the checkout it says nothing."""
    from attn_grade import pipeline

    monkeypatch.chdir(tmp_path)
    assert pipeline.main(["settings"]) == 0
    err = capsys.readouterr().err
    assert f"no nbgrader_config.py in {tmp_path} or above" in err
    assert str(pipeline.ROOT) in err
    monkeypatch.chdir(pipeline.ROOT / "autograde")
    assert pipeline.main(["settings"]) == 0
    assert "nbgrader_config.py" not in capsys.readouterr().err


def test_trial_passes_its_grading_flags_to_the_autograde_it_runs(tmp_path, monkeypatch):
    """`attn-grade trial A --workers 1` grades with one worker (the flags were once dropped), and
    `--keep DIR` leaves the scratch class, report included, in DIR."""
    from attn_grade import pipeline

    ran = []
    monkeypatch.setattr(pipeline, "_SETTINGS", None)        # main() sets it: restored after
    monkeypatch.setattr(pipeline, "copy_class", lambda dest, only: dest)
    monkeypatch.setattr(pipeline.subprocess, "run",
                        lambda cmd, **kw: ran.append(cmd) or type("P", (), {"returncode": 0})())
    keep = tmp_path / "kept"
    assert pipeline.main(["trial", "01_se", "--workers", "1", "--cell-timeout", "30",
                          "--keep", str(keep)]) == 0
    commands = {cmd[cmd.index("--root") + 2]: cmd[cmd.index("--root") + 1:] for cmd in ran}
    assert commands["autograde"] == [str(keep), "autograde", "--workers=1", "--cell-timeout=30"]
    assert commands["check-samples"] == [str(keep), "check-samples", "01_se"]
    with pytest.raises(SystemExit):
        pipeline.main(["release", "--keep", str(keep)])
