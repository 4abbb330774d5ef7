"""Grading into a PostgreSQL gradebook (nbgrader's database URL), as a class on a shared
JupyterHub would: a real server is started for the test (Debian's postgresql package; .ci/run
installs it), the course is released into it and sample submissions are graded in parallel."""
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
from attn_grade import pipeline

pytestmark = pytest.mark.slow


def _bin(name):
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name)]
    return found[-1]


@pytest.fixture(scope="module")
def postgres():
    if not _bin("initdb") or not _bin("pg_ctl"):
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL's server is not installed (.ci/run installs Debian's postgresql)")
        pytest.skip("PostgreSQL's server is not installed")
    base = Path(tempfile.mkdtemp(prefix="attn-pg-"))    # pytest's own folders are private to root
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    as_user = []
    if os.geteuid() == 0:                       # the server refuses to run as root
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres"); shutil.chown(sock, "postgres")
        base.chmod(0o755)
    port = str(20000 + os.getpid() % 20000)
    run = lambda *a: subprocess.run(as_user + list(a), check=True, capture_output=True, text=True)  # noqa: E731
    run(_bin("initdb"), "-D", str(data), "-U", "grader", "--auth=trust")
    run(_bin("pg_ctl"), "-D", str(data), "-w", "-l", str(base / "log"), "-o",
        f"-k {sock} -p {port} -c listen_addresses=''", "start")
    try:
        run(_bin("createdb"), "-h", str(sock), "-p", port, "-U", "grader", "gradebook")
        yield f"postgresql+psycopg2://grader@/gradebook?host={sock}&port={port}"
    finally:
        subprocess.run(as_user + [_bin("pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_release_and_parallel_grading_into_postgres(postgres, tmp_path):
    pipeline.copy_class(tmp_path, course=True)
    with open(tmp_path / "nbgrader_config.py", "a") as f:     # as an instructor sets it
        f.write(f"\nc.CourseDirectory.db_url = {postgres!r}\n")
    env = dict(os.environ, ATTN_CELL_TIMEOUT="30")
    script = [sys.executable, "-m", "attn_grade"]
    some = ["instructor", "untouched", "bob_max_pool", "carol_no_sigmoid"]
    for cmd in (["release"], ["samples", "01_se"]):
        proc = subprocess.run(script + cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    for s in (tmp_path / "autograde" / "submitted").iterdir():
        if s.name not in some:
            shutil.rmtree(s)
    proc = subprocess.run(script + ["autograde", "--workers", "2"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (tmp_path / "autograde" / "gradebook.db").exists(), "SQLite was used instead"

    from nbgrader.api import Gradebook

    expected = pipeline.expected_samples()
    with Gradebook(postgres) as gb:
        got = {sub.student.id: {g.name: g.score for nb in sub.notebooks for g in nb.grades}
               for sub in gb.find_assignment("01_se").submissions}
    assert set(got) == set(some)
    for s in some:
        assert got[s] == expected[s]["scores"]["01_se"], s
