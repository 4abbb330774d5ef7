"""nbgrader's exchange with the course's editions (attn_grade.exchange), as a class hub sets it up
(hub/setup.sh), with nbgrader's own commands in a folder of this test: the instructor's
``release_assignment`` carries every edition, a learner's ``fetch_assignment`` gets the one of the
language chosen in JupyterLab (its user settings), and ``list`` and ``submit`` see one
assignment with one notebook. The real hub, accounts and browser: tests/test_hub.py."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from attn_ref.i18n import notebook_language

ROOT = Path(__file__).resolve().parent.parent
CHAPTER, NOTEBOOK, ENGLISH_ONLY = "01_se", "se.ipynb", "02_eca"
COURSE_ID = "attention-course"
SCHEMA = "@jupyterlab/translation-extension"
pytestmark = pytest.mark.slow           # a dozen nbgrader commands (about a minute)


@pytest.fixture()
def exchange(tmp_path):
    if not (ROOT / "course" / "zh-CN" / CHAPTER / NOTEBOOK).exists():
        pytest.skip("no Chinese release of 01_se (make release)")
    # this class has the Chinese edition of CHAPTER only: ENGLISH_ONLY is released without one
    # (as a chapter not translated yet would be), whatever course/zh-CN/ holds
    cls = tmp_path / "class"
    for rel in (CHAPTER, ENGLISH_ONLY, f"zh-CN/{CHAPTER}"):
        shutil.copytree(ROOT / "course" / rel, cls / "course" / rel)
    config = tmp_path / "etc"             # what hub/setup.sh writes into the environment
    config.mkdir()
    (config / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
        f"c.Exchange.root = {str(tmp_path / 'exchange')!r}\n"
        "c.ExchangeFactory.release_assignment = 'attn_grade.exchange.ReleaseEditions'\n"
        "c.ExchangeFactory.fetch_assignment = 'attn_grade.exchange.FetchEdition'\n")
    (cls / "nbgrader_config.py").write_text(    # the class folder's own, as in this repository
        "c = get_config()\nc.CourseDirectory.release_directory = 'course'\n"
        f"c.CourseDirectory.root = {str(cls)!r}\n")
    (tmp_path / "exchange").mkdir()
    return tmp_path


def nbgrader(tmp: Path, cwd: Path, *args: str, locale: str | None = None):
    """``nbgrader *args`` in ``cwd``, with the hub's exchange settings; ``locale``: the language
    the learner chose in JupyterLab (written where JupyterLab keeps it)."""
    settings = cwd.parent / f"{cwd.name}-lab-settings"
    if locale:
        (settings / SCHEMA).mkdir(parents=True, exist_ok=True)
        (settings / SCHEMA / "plugin.jupyterlab-settings").write_text(
            json.dumps({"locale": locale}))
    env = {**os.environ, "JUPYTER_CONFIG_PATH": str(tmp / "etc"),
           "JUPYTER_CONFIG_DIR": str(tmp / f"{cwd.name}-jupyter"),
           "JUPYTER_DATA_DIR": str(tmp / f"{cwd.name}-data"),
           "JUPYTERLAB_SETTINGS_DIR": str(settings)}
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_release_carries_each_edition_and_fetch_follows_the_learners_language(exchange):
    tmp = exchange
    cls, course = tmp / "class", tmp / "exchange" / COURSE_ID
    for a in (CHAPTER, ENGLISH_ONLY):
        nbgrader(tmp, cls, "release_assignment", a)
    outbound = course / "outbound" / CHAPTER / NOTEBOOK
    edition = course / "editions" / "zh-CN" / CHAPTER / NOTEBOOK
    assert notebook_language(outbound) == "en"
    assert notebook_language(edition) == "zh-CN"
    assert edition.read_bytes() == (cls / "course" / "zh-CN" / CHAPTER / NOTEBOOK).read_bytes()
    assert not (course / "editions" / "zh-CN" / ENGLISH_ONLY).exists()
    # read-only to everyone but the instructor, as outbound/
    assert stat.S_IMODE(edition.stat().st_mode) == stat.S_IMODE(outbound.stat().st_mode) == 0o644
    assert stat.S_IMODE(edition.parent.stat().st_mode) == 0o755

    learners = {"ada": "zh_CN", "bob": None}        # bob chose no language: JupyterLab's default
    for name, locale in learners.items():
        home = tmp / name
        home.mkdir()
        for a in (CHAPTER, ENGLISH_ONLY):
            nbgrader(tmp, home, "fetch_assignment", a, locale=locale)
            assert sorted(p.name for p in (home / a).iterdir()) == \
                sorted(p.name for p in (cls / "course" / a).iterdir())
    assert notebook_language(tmp / "ada" / CHAPTER / NOTEBOOK) == "zh-CN"
    assert notebook_language(tmp / "ada" / ENGLISH_ONLY / "eca.ipynb") == "en"
    assert (tmp / "bob" / CHAPTER / NOTEBOOK).read_bytes() == outbound.read_bytes()
    listed = nbgrader(tmp, tmp / "ada", "list")
    assert listed.count(f"{COURSE_ID} {CHAPTER}") == 1, listed

    # ada hands in the Chinese edition as the one assignment, one notebook
    out = nbgrader(tmp, tmp / "ada", "submit", CHAPTER, "--strict")
    assert "EXTRA" not in out and "MISSING" not in out, out
    (inbound,) = (course / "inbound").glob(f"*+{CHAPTER}+*")
    assert sorted(p.name for p in inbound.iterdir() if p.suffix == ".ipynb") == [NOTEBOOK]
    assert notebook_language(inbound / NOTEBOOK) == "zh-CN"

    # an edition gone from course/ is taken back at the next release
    shutil.rmtree(cls / "course" / "zh-CN" / CHAPTER)
    nbgrader(tmp, cls, "release_assignment", CHAPTER, "--force")
    assert not edition.parent.exists() and outbound.exists()
    dan = tmp / "dan"
    dan.mkdir()
    nbgrader(tmp, dan, "fetch_assignment", CHAPTER, locale="zh_CN")
    assert notebook_language(dan / CHAPTER / NOTEBOOK) == "en"
