"""Grading on many machines, here on one: the recipe of site/teach/parallel.md ("Parallel
grading, PostgreSQL, many machines") run as it is written, on 127.0.0.1. A real ``dask scheduler`` and, as a separate
command, ``dask worker ... --nthreads 1 --nworkers 2`` (two worker processes) are started from
the venv's bin/ without the venv on PATH, in a folder of their own (not the class folder), and
``attn-grade autograde --scheduler tcp://127.0.0.1:PORT`` grades sample submissions of chapter 1
through them. Every cell's score must equal that of the same submissions graded locally in a
second scratch class, and each sample's expected points and mistakes (check-samples); the
workers' own records must show that they, and nothing else, graded the submissions."""
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

import jupyter_browser
from attn_grade import pipeline

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
STUDENTS = ["instructor", "bob_max_pool", "carol_no_sigmoid", "rob_exit"]


def _stop(proc: subprocess.Popen) -> None:
    """Stop ``proc`` and everything it started (nbgrader runs in sessions of its own, so the
    process tree, not the process group, is what holds them all)."""
    try:
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        tree = []
    try:
        os.killpg(proc.pid, signal.SIGTERM)       # the worker's nanny closes its workers
    except ProcessLookupError:
        pass
    _, alive = psutil.wait_procs(tree, timeout=30)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=10)
    proc.wait(timeout=10)


def _run(cwd: Path, *args: str, ok: bool = True, timeout: int = 900) -> str:
    """``attn-grade ARGS`` in the class folder ``cwd``; its output (stdout, then stderr)."""
    proc = subprocess.Popen([str(BIN / "attn-grade"), *args], cwd=cwd, env=jupyter_browser.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.returncode is None:
            _stop(proc)
    assert proc.returncode == 0 or not ok, f"attn-grade {args}:\n{out[-3000:]}\n{err[-3000:]}"
    return out + err


def _cell_scores(root: Path) -> dict[str, dict[str, float]]:
    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///" + str(root / "autograde" / "gradebook.db")) as gb:
        return {sub.student.id: {g.name: g.score for nb in sub.notebooks for g in nb.grades}
                for sub in gb.find_assignment("01_se").submissions}


@pytest.fixture
def dask_cluster(tmp_path):
    """The recipe's two commands: a scheduler, and two worker processes of one thread each, in
    tmp/cluster with the venv not on PATH; yields the scheduler's address and the worker
    command's process. Everything they started is stopped afterwards."""
    folder = tmp_path / "cluster"
    folder.mkdir()
    venv_bin = str(BIN)
    env = jupyter_browser.env(DASK_TEMPORARY_DIRECTORY=str(folder / "dask-scratch"))
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != venv_bin)
    port = jupyter_browser.free_port()
    address = f"tcp://127.0.0.1:{port}"
    commands = {
        "scheduler": [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                      "--dashboard-address", "127.0.0.1:0"],
        "worker": [str(BIN / "dask"), "worker", address, "--nthreads", "1", "--nworkers", "2"],
    }
    procs = {}
    try:
        for name, cmd in commands.items():
            with open(folder / f"{name}.log", "w") as log:
                procs[name] = subprocess.Popen(cmd, cwd=folder, env=env, stdout=log,
                                               stderr=subprocess.STDOUT, start_new_session=True)
        yield address, procs["worker"], folder
    finally:
        for name in ("worker", "scheduler"):
            if name in procs:
                _stop(procs[name])


def test_sample_submissions_graded_on_dask_workers_score_as_graded_locally(dask_cluster, tmp_path):
    from distributed import Client

    address, worker_cmd, cluster_folder = dask_cluster
    t0 = time.monotonic()
    remote, local = tmp_path / "remote", tmp_path / "local"
    pipeline.copy_class(remote, ["01_se"])
    _run(remote, "release")
    _run(remote, "samples", "01_se")
    for d in (remote / "autograde" / "submitted").iterdir():
        if d.name not in STUDENTS:
            shutil.rmtree(d)
    assert sorted(d.name for d in (remote / "autograde" / "submitted").iterdir()) == sorted(STUDENTS)
    shutil.copytree(remote, local)         # the same release and submissions, graded locally

    def grade_keys(dask_worker):            # on each worker: the tasks whose result it made
        return sorted({e[0] for e in dask_worker.state.log
                       if len(e) > 1 and e[1] == "put-in-memory"
                       and str(e[0]).startswith("grade-")})

    with Client(address, timeout=60) as client:
        client.wait_for_workers(2, timeout=120)
        workers = sorted(client.scheduler_info()["workers"])
        assert len(workers) == 2, workers
        # two processes the worker command started, not this one nor the coordinator
        pids = client.run(os.getpid)
        for pid in pids.values():
            assert worker_cmd.pid in {p.pid for p in psutil.Process(pid).parents()}

        out = _run(remote, "autograde", "--scheduler", address)
        assert f"graded {len(STUDENTS)} of {len(STUDENTS)} submissions" in out, out[-3000:]
        keys = client.run(grade_keys)

    # the workers' own logs: each graded some, together each submission exactly once
    assert sorted(keys) == workers and all(keys.values()), keys
    ran = [re.match(r"grade-(.+)-01_se-\d+$", k).group(1) for ks in keys.values() for k in ks]
    assert sorted(ran) == sorted(STUDENTS), keys
    # and the coordinator says the same: which worker graded how many
    said = re.search(r"Dask scheduler (\S+), by worker: (.*?)\);", out)
    assert said and said.group(1) == address, out[-3000:]
    assert dict(re.findall(r"(tcp://\S+) (\d+)", said.group(2))) == \
        {w: str(len(ks)) for w, ks in keys.items()}, said.group(0)

    out_local = _run(local, "autograde", "--workers", "2")
    assert f"graded {len(STUDENTS)} of {len(STUDENTS)} submissions in" in out_local
    assert "Dask scheduler" not in out_local

    got, want = _cell_scores(remote), _cell_scores(local)
    assert sorted(got) == sorted(STUDENTS)
    assert got == want
    expected = pipeline.expected_samples()
    for s in STUDENTS:
        assert got[s] == expected[s]["scores"]["01_se"], s
    # check-samples compares points and the recorded mistakes (from the verdicts the workers
    # wrote into the graded notebooks); the samples not graded here are reported as missing
    check = _run(remote, "check-samples", "01_se", ok=False)
    assert "untouched/01_se: not in the gradebook" in check, check[-2000:]
    assert not [ln for ln in check.splitlines() if ln.split("/")[0] in STUDENTS], check
    print(f"\n{time.monotonic() - t0:.0f} s; " + said.group(0))


def test_a_scheduler_out_of_reach_or_without_workers_is_named_not_waited_on(tmp_path, monkeypatch):
    """--scheduler at an address where nothing listens, and at a real scheduler no worker has
    joined: each ends with a message naming the address and what to start, instead of a
    traceback or waiting forever."""
    from attn_grade import engine

    monkeypatch.setattr(engine, "SCHEDULER_WAIT", 3)
    nobody = f"tcp://127.0.0.1:{jupyter_browser.free_port()}"
    with pytest.raises(SystemExit, match=f"cannot reach the Dask scheduler at {nobody}"):
        engine._client(nobody)
    port = jupyter_browser.free_port()
    address = f"tcp://127.0.0.1:{port}"
    with open(tmp_path / "scheduler.log", "w") as log:
        proc = subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port",
                                 str(port), "--dashboard-address", "127.0.0.1:0"], cwd=tmp_path,
                                env=jupyter_browser.env(), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        from distributed import Client

        with Client(address, timeout=120):                   # the scheduler is up
            pass
        with pytest.raises(SystemExit, match=f"no Dask worker joined the scheduler at {address} "
                                             f"within 3 s; start one with `dask worker {address}`"):
            engine._client(address)
    finally:
        _stop(proc)
