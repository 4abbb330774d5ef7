"""What the browser tests share: a Jupyter server or JupyterLab on 127.0.0.1 for one test module,
and Debian's Chromium for Playwright (never a downloaded browser).

The server listens on 127.0.0.1 only, on a free port, for the test's lifetime, with no token:
formgrader's pages call its API without one, and the browser here holds no login cookie. It is
allowed to run as root (CI does).
"""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"


def require_chromium() -> None:
    """Skip where Debian's chromium is missing; fail in CI, whose set-up installs it."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed (.ci/run installs it)")
        pytest.skip("Debian's chromium is not installed")


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env(**extra: str) -> dict:
    """The environment of this Python's venv (its jupyter and nbgrader first on PATH)."""
    e = dict(os.environ)
    e["PATH"] = str(Path(sys.executable).parent) + os.pathsep + e.get("PATH", "")
    e.update(extra)
    return e


def wait_until_up(proc: subprocess.Popen, url: str, log: Path, what: str) -> None:
    """Until ``url`` answers (two minutes at most); fail with the end of ``log`` where the
    process ``proc`` exits first or never answers."""
    for _ in range(240):
        if proc.poll() is not None:
            pytest.fail(f"{what} exited:\n" + log.read_text()[-3000:])
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"{what} did not answer:\n" + log.read_text()[-3000:])


@contextlib.contextmanager
def serve(app: str, root_dir: Path, log: Path, args=(), cwd: Path | None = None,
          environ: dict | None = None):
    """Run ``jupyter <app>`` (``server`` or ``lab``) on ``root_dir`` and yield its base URL once
    it answers; stop it afterwards. Its output goes to ``log``."""
    port = free_port()
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter", app, "--no-browser", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={port}", "--IdentityProvider.token=",
             f"--ServerApp.root_dir={root_dir}", "--allow-root", *args],
            cwd=cwd or root_dir, env=environ or env(), stdout=out, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(proc, f"{base}/api/status", log, f"jupyter {app}")
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def make_lab(chapter: Path, tmp: Path, **extra: str):
    """JupyterLab as ``make lab`` starts it (``lab/jupyter_lab_config.py``, run from the checkout)
    on a scratch folder ``tmp/course`` holding a copy of the released ``chapter``; the learner's
    own settings, workspaces and custom CSS (~/.jupyter) stay out of it. ``extra`` goes into the
    server's environment (``ATTN_COURSE_LANG="zh-CN"`` as ``make lab COURSE_LANG=zh-CN`` sets
    it). Yields the base URL."""
    import shutil

    root = Path(__file__).resolve().parent.parent
    (tmp / "course").mkdir()
    shutil.copytree(chapter, tmp / "course" / chapter.name)
    environ = env(JUPYTER_CONFIG_DIR=str(tmp / "config"), **extra)
    args = [f"--config={root / 'lab' / 'jupyter_lab_config.py'}",
            f"--LabApp.user_settings_dir={tmp / 'settings'}",
            f"--LabApp.workspaces_dir={tmp / 'workspaces'}"]
    with serve("lab", tmp / "course", tmp / "lab.log", args, cwd=root, environ=environ) as base:
        yield base
