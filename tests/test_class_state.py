"""The class's own state carried through isolated grading, with stock nbgrader as the client.

A scratch class of chapter 1 with a due date set by stock ``nbgrader db assignment add`` and
nbgrader's 'zero' late-penalty method; submissions with ``timestamp.txt`` as ``nbgrader
collect`` writes it, and two of issue 11's edited notebooks. After ``pipeline.py autograde``:
lateness and penalties are in the class gradebook, the table, ``grades.csv``, stock ``nbgrader
export`` and the feedback; a flagged step waits for the instructor; formgrader, opened in a real
headless Chromium (Debian's, driven by Playwright) on 127.0.0.1, shows a submission's scores
and takes a manual grade and a comment, which a second grading run keeps.
"""
import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import jupyter_browser

ROOT = Path(__file__).resolve().parent.parent
from attn_grade import pipeline

pytestmark = pytest.mark.slow
DUE = "2026-11-01 17:00:00 UTC"
STUDENTS = ["instructor", "edit_timestamp", "edit_ambiguous", "edit_retyped",
            "edit_dup_answer_first_try"]


def _run(root, *args, timeout=1800):
    proc = subprocess.run([sys.executable, *args], cwd=root, env=jupyter_browser.env(),
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    pipeline.copy_class(root, ["01_se"])
    with open(root / "nbgrader_config.py", "a") as f:
        f.write('\nc.LateSubmissionPlugin.penalty_method = "zero"\n')
    _run(root, "-m", "attn_grade", "release")
    _run(root, "-m", "nbgrader", "db", "assignment", "add", "01_se", f"--duedate={DUE}")
    _run(root, "-m", "attn_grade", "samples", "01_se")
    sub = root / "autograde" / "submitted"
    for d in sub.iterdir():
        if d.name not in STUDENTS:
            shutil.rmtree(d)
    (sub / "instructor" / "01_se" / "timestamp.txt").write_text("2026-10-30 12:00:00.000000 UTC\n")
    first = _run(root, "-m", "attn_grade", "autograde", "--workers", "2")
    return root, first.stdout


def _gradebook(root):
    from nbgrader.api import Gradebook

    return Gradebook("sqlite:///" + str(root / "autograde" / "gradebook.db"))


def _line(table, student):
    return next(line for line in table.splitlines() if line.startswith(student + " "))


def test_issue_cases_keep_their_points(graded):
    root, table = graded
    assert "ignored extra file" not in table
    for student in ("edit_retyped", "edit_dup_answer_first_try", "instructor"):
        assert " 10/10" in _line(table, student), _line(table, student)


def test_timestamps_due_date_and_penalty_reach_gradebook_table_csv_and_feedback(graded):
    root, table = graded
    with _gradebook(root) as gb:
        late = gb.find_submission("01_se", "edit_timestamp")
        assert str(late.timestamp) == "2026-11-02 09:30:00"
        assert late.total_seconds_late == 16.5 * 3600
        assert late.late_submission_penalty == 10 and late.score == 10     # nbgrader's raw score
        on_time = gb.find_submission("01_se", "instructor")
        assert str(on_time.timestamp) == "2026-10-30 12:00:00"
        assert on_time.total_seconds_late == 0 and on_time.score == 10
    assert "late by 16 h 30 min (penalty 10)" in _line(table, "edit_timestamp")
    assert " 0/10" in _line(table, "edit_timestamp")           # the table shows the score after it
    assert "late" not in _line(table, "instructor")
    with open(root / "autograde" / "grades.csv") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert float(rows["edit_timestamp"]["late_submission_penalty"]) == 10
    assert "late by" in rows["edit_timestamp"]["notes"]
    # stock nbgrader's export reads the same gradebook
    out = root / "export.csv"
    _run(root, "-m", "nbgrader", "export", f"--to={out}")
    with open(out) as f:
        stock = {r["student_id"]: r for r in csv.DictReader(f)}
    assert stock["edit_timestamp"]["timestamp"].startswith("2026-11-02 09:30:00")
    assert float(stock["edit_timestamp"]["score"]) == 0
    assert float(stock["edit_timestamp"]["raw_score"]) == 10
    assert float(stock["instructor"]["score"]) == 10
    html = (root / "autograde" / "feedback" / "edit_timestamp" / "01_se" / "se.html").read_text()
    assert "after the due date" in html


def test_a_step_the_grader_cannot_place_is_flagged_for_the_instructor(graded):
    root, table = graded
    assert "flagged for review: se/test_squeeze" in _line(table, "edit_ambiguous")
    with _gradebook(root) as gb:
        grade = gb.find_grade("test_squeeze", "se", "01_se", "edit_ambiguous")
        assert grade.needs_manual_grade and grade.auto_score == 2
        other = gb.find_grade("test_squeeze", "se", "01_se", "edit_retyped")
        assert not other.needs_manual_grade
    html = (root / "autograde" / "feedback" / "edit_ambiguous" / "01_se" / "se.html").read_text()
    assert "Notes from grading" in html and "flagged for the instructor" in html


@pytest.fixture(scope="module")
def formgrader(graded):
    jupyter_browser.require_chromium()
    root, _ = graded
    with jupyter_browser.serve("server", root, root / "server.log") as base:
        yield root, base


def test_formgrader_shows_scores_and_regrading_keeps_its_manual_grades(formgrader):
    from playwright.sync_api import sync_playwright

    root, base = formgrader
    with _gradebook(root) as gb:
        nb_id = gb.find_submission_notebook("se", "01_se", "edit_ambiguous").id
    with sync_playwright() as p:
        browser = jupyter_browser.launch(p)
        page = browser.new_page()
        page.goto(f"{base}/formgrader/manage_students/edit_timestamp/01_se")
        page.wait_for_function("!document.body.innerText.includes('Loading, please wait')",
                               timeout=60_000)
        text = page.locator("tbody").inner_text()
        assert text.startswith("se") and "10 / 10" in text, text   # nbgrader shows the raw score
        # a manual grade and a comment on the flagged step, typed as an instructor would
        page.goto(f"{base}/formgrader/submissions/{nb_id}/")
        score = page.locator("input.score#test_squeeze")
        score.wait_for(timeout=60_000)
        score.fill("1.5")
        score.press("Tab")
        comment = page.locator("textarea#squeeze-comment")
        comment.fill("checked by hand: the definition below the test is a leftover")
        comment.press("Tab")
        # formgrader saves each field on its own request when it loses focus: wait until the
        # gradebook holds both (a fixed pause lost the comment on a busy machine)
        for _ in range(120):
            with _gradebook(root) as gb:
                grade = gb.find_grade("test_squeeze", "se", "01_se", "edit_ambiguous")
                said = gb.find_comment("squeeze", "se", "01_se", "edit_ambiguous").manual_comment
                if grade.manual_score == 1.5 and said:
                    break
            page.wait_for_timeout(500)
        browser.close()
    with _gradebook(root) as gb:
        grade = gb.find_grade("test_squeeze", "se", "01_se", "edit_ambiguous")
        assert grade.manual_score == 1.5 and not grade.needs_manual_grade
        assert "leftover" in (gb.find_comment("squeeze", "se", "01_se", "edit_ambiguous").manual_comment
                              or ""), "formgrader did not save the comment within 60 s"
    _run(root, "-m", "attn_grade", "autograde", "--workers", "2")
    with _gradebook(root) as gb:
        grade = gb.find_grade("test_squeeze", "se", "01_se", "edit_ambiguous")
        assert grade.manual_score == 1.5 and grade.auto_score == 2 and not grade.needs_manual_grade
        assert "leftover" in gb.find_comment("squeeze", "se", "01_se", "edit_ambiguous").manual_comment
        assert gb.find_submission("01_se", "edit_ambiguous").score == 9.5
