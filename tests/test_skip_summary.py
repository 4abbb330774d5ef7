"""`make test` says what it skipped and the one command that installs it (tests/conftest.py),
and the browser tests fail instead of skipping under CI, whose set-up installs Chromium."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import jupyter_browser

HERE = Path(__file__).resolve().parent


def test_the_run_ends_with_what_was_skipped_and_how_to_install_it(tmp_path):
    shutil.copy(HERE / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_x.py").write_text(
        "import pytest\n"
        "def test_browser():\n    pytest.skip(\"Debian's chromium is not installed\")\n"
        "def test_pg():\n    pytest.skip(\"PostgreSQL's server is not installed\")\n"
        "def test_runs():\n    pass\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                           str(tmp_path)], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "skipped checks: what they need" in out
    assert "1 skipped for want of Debian's Chromium (browser tests) " \
           "(install: apt-get install chromium)" in out
    assert "(install: apt-get install postgresql)" in out
    assert "test_x.py::test_browser" in out


def test_a_run_that_skips_nothing_says_nothing_of_skips(tmp_path):
    shutil.copy(HERE / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_y.py").write_text("def test_runs():\n    pass\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                           str(tmp_path)], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0 and "skipped checks" not in proc.stdout


def test_without_chromium_the_browser_tests_skip_but_fail_in_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(jupyter_browser, "CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium"):
        jupyter_browser.require_chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="chromium"):
        jupyter_browser.require_chromium()
