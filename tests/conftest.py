"""Shared test set-up, and the skip summary at the end of every run."""
import os

import pytest
import torch

# What a skipped test needs, by a word its skip reason uses: (word, what it lacks, how to get it:
# the one command that installs it, where one does). The end of the run lists every skip so.
_USERNS = "enable them: sysctl -w kernel.unprivileged_userns_clone=1, or run as root"
NEEDS = (
    ("chromium", "Debian's Chromium (browser tests)", "install: apt-get install chromium"),
    ("PostgreSQL", "a PostgreSQL server (grading into PostgreSQL)",
     "install: apt-get install postgresql"),
    ("sandbox", "user namespaces (the grading sandbox)", _USERNS),
    ("user namespaces", "user namespaces (the grading sandbox)", _USERNS),
    ("CUDA", "a CUDA device", "runs only on a machine with an NVIDIA GPU"),
    ("not translated", "a chapter's edition in another language, not written yet",
     "nothing to install: python -m attn_grade.editions <lang> <chapter> starts it "
     "(site/learn/languages.md)"),
)


def need_of(reason: str) -> tuple[str, str]:
    """(what a skip with ``reason`` lacks, how to get it)."""
    for word, what, how in NEEDS:
        if word.lower() in reason.lower():
            return what, how
    return reason, "nothing to install: this machine cannot run it"


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """One intra-op thread: the tests use tiny tensors, and on a shared 2-core machine a second
    thread only adds waiting at every parallel region (a gradcheck went from 0.5 s to 5 s)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Say what was skipped, why, and the one command that installs what was missing, so that a
    run that skipped checks does not pass for one that ran them all."""
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    by_need: dict[tuple[str, str], list[str]] = {}
    for report in skipped:
        by_need.setdefault(need_of(_skip_reason(report)), []).append(report.nodeid)
    terminalreporter.section("skipped checks: what they need")
    for (what, how), ids in sorted(by_need.items(), key=lambda kv: -len(kv[1])):
        terminalreporter.write_line(f"{len(ids):4d} skipped for want of {what} ({how})")
        for nodeid in ids[:3]:
            terminalreporter.write_line(f"       {nodeid}")
        if len(ids) > 3:
            terminalreporter.write_line(f"       ... and {len(ids) - 3} more")
    if os.environ.get("CI"):
        terminalreporter.write_line("(CI=true: the tests that .ci/run installs for fail instead "
                                    "of skipping)")
