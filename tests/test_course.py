"""The course as a whole: notebooks wired to real checks, course/ generated from solutions/, and
the sample submissions graded end to end with exactly their expected scores."""
import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from attn_ref.grading import all_checks
from attn_grade.nbgrader_plugin import check_ids
from jupyter_browser import CHROMIUM, require_chromium

ROOT = Path(__file__).resolve().parent.parent
from attn_grade import pipeline  # noqa: E402

NOTEBOOKS = sorted((ROOT / "solutions").glob("*/*.ipynb"))


def _cells(path):
    for cell in nbformat.read(path, as_version=4).cells:
        yield cell, cell.get("metadata", {}).get("nbgrader", {})


def test_there_are_notebooks():
    assert NOTEBOOKS, "solutions/ holds no notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_every_graded_cell_calls_known_hidden_checks(path):
    known = all_checks()
    graded = 0
    for cell, meta in _cells(path):
        if meta.get("grade") and not meta.get("solution") and cell.cell_type == "code":
            graded += 1
            ids = check_ids(cell.source)
            assert ids, f"{meta['grade_id']}: a graded test cell must call grade(...)"
            assert all(i in known for i in ids), f"{meta['grade_id']}: unknown check in {ids}"
            assert meta.get("points", 0) > 0 and meta.get("locked")
            hidden = cell.source.split("### END HIDDEN TESTS")[0]
            assert "### BEGIN HIDDEN TESTS" in hidden, f"{meta['grade_id']}: grade() must be hidden"
        if meta.get("solution"):
            assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
    assert graded, f"{path} has no graded cells"


def test_stubs_fail_only_with_not_implemented():
    for path in sorted((ROOT / "course").glob("*/*.ipynb")):
        for cell, meta in _cells(path):
            if meta.get("solution") and cell.cell_type == "code":
                assert "raise NotImplementedError()" in cell.source
                assert "BEGIN SOLUTION" not in cell.source
            assert "BEGIN HIDDEN TESTS" not in cell.source and "grade(" not in cell.source


def test_course_is_exactly_the_release_of_solutions():
    problems = pipeline.check_release()
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def graded_copy(tmp_path_factory):
    """A scratch copy of the repository in which the sample submissions are built and graded."""
    tmp = tmp_path_factory.mktemp("course")
    pipeline.copy_class(tmp, course=True)
    env = dict(os.environ, ATTN_CELL_TIMEOUT="30")     # the endless-loop sample waits this long
    run = lambda *a: subprocess.run([sys.executable, "-m", "attn_grade", *a],  # noqa: E731
                                    cwd=tmp, env=env, capture_output=True, text=True, timeout=3000)
    results = {cmd: run(cmd) for cmd in ("release", "samples", "autograde", "check-samples")}
    results["scores"] = _all_scores(tmp)
    return tmp, results


def _all_scores(root):
    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///" + str(root / "autograde" / "gradebook.db")) as gb:
        return sorted((sub.student.id, a.name, nb.name, g.name, g.score)
                      for a in gb.assignments for sub in a.submissions
                      for nb in sub.notebooks for g in nb.grades)


@pytest.mark.slow
def test_samples_earn_exactly_their_expected_scores(graded_copy):
    tmp, results = graded_copy
    for cmd in ("release", "samples", "autograde"):
        assert results[cmd].returncode == 0, f"{cmd}:\n{results[cmd].stdout}\n{results[cmd].stderr}"
    check = results["check-samples"]
    assert check.returncode == 0, check.stdout + check.stderr
    # mallory_files tries to write into the repository (the sandbox keeps it read-only)
    assert not (ROOT / "attn_ref" / "grading" / "MALLORY_WAS_HERE").exists()
    assert "graded without the sandbox" not in results["autograde"].stdout


@pytest.mark.slow
def test_grade_table_csv_and_feedback_are_written(graded_copy):
    tmp, results = graded_copy
    expected = pipeline.expected_samples()
    out = results["autograde"].stdout
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    for student, spec in expected.items():
        for a, cells in spec["scores"].items():
            assert f" {sum(cells.values()):g}/" in lines[student], (student, a, lines[student])
        for a in spec["scores"]:
            if (tmp / "autograde" / "autograded" / student / a).exists():   # graded at all
                assert list((tmp / "autograde" / "feedback" / student / a).glob("*.html")), (student, a)
    assert not (tmp / "autograde" / "autograded" / "rob_invalid_json").exists()
    assert (tmp / "autograde" / "feedback" / "bob_max_pool" / "01_se" / "se.html").exists()
    with open(tmp / "autograde" / "grades.csv") as f:
        rows = {(r["student_id"], r["assignment"]): float(r["score"]) for r in csv.DictReader(f)}
    for student, spec in expected.items():
        for a, cells in spec["scores"].items():
            assert rows[(student, a)] == pytest.approx(sum(cells.values()))


@pytest.mark.slow
def test_feedback_explains_a_failure_without_the_hidden_inputs(graded_copy):
    tmp, _ = graded_copy
    html = next((tmp / "autograde" / "feedback" / "bob_max_pool").rglob("*.html")).read_text()
    assert "maxima over H x W" in html          # the mistake is named
    assert "hidden cases failed" in html
    assert "application/vnd.attn-course.grade+json" not in html


@pytest.mark.slow
def test_every_feedback_summary_states_the_score_the_gradebook_holds(graded_copy):
    """The chapter's closing summary, in feedback, gives the grader's per-step verdict: its
    total is the gradebook's for that notebook, and nothing says "not run" (issue 22)."""
    import re

    tmp, results = graded_copy
    per_notebook = {}
    for student, a, nb, _, score in results["scores"]:
        per_notebook[(student, a, nb)] = per_notebook.get((student, a, nb), 0.0) + score
    seen = set()
    for page in sorted((tmp / "autograde" / "feedback").glob("*/*/*.html")):
        student, a, nb = page.parent.parent.name, page.parent.name, page.stem
        html = page.read_text()
        assert "Visible tests pass for" not in html, page
        said = re.findall(r"The grader gave ([\d.]+) of ([\d.]+) points", html)
        if said:
            assert len(said) == 1, page
            assert float(said[0][0]) == pytest.approx(per_notebook[(student, a, nb)]), page
            seen.add((student, a))
    assert {("instructor", a) for a in pipeline.assignments()} <= seen
    assert ("bob_max_pool", "01_se") in seen and ("edit_colab_widgets", "01_se") in seen


@pytest.mark.slow
def test_feedback_of_the_chinese_edition_is_in_chinese(graded_copy):
    """zh_bob_max_pool hands in bob_max_pool's answers in the Chinese edition (course/zh-CN):
    check-samples holds both to the same scores and mistake; the feedback names it in Chinese."""
    tmp, _ = graded_copy
    zh = next((tmp / "autograde" / "feedback" / "zh_bob_max_pool").rglob("*.html")).read_text()
    en = next((tmp / "autograde" / "feedback" / "bob_max_pool").rglob("*.html")).read_text()
    assert "这是 H x W 上的最大值" in zh and "maxima over H x W" not in zh
    assert "个隐藏用例中" in zh and "hidden cases failed" not in zh
    assert "挤压与激励" in zh and "挤压与激励" not in en


@pytest.mark.slow
def test_every_chinese_twin_gets_its_mistakes_hints_in_chinese(graded_copy):
    """Each sample that hands in an English sample's answers in the Chinese edition ("twin"):
    its feedback gives the hint of every mistake its twin was written to make in Chinese (the
    catalogue's translation, attn_ref/i18n/zh-CN.json), and never the English hint."""
    import html

    from attn_ref.grading.registry import all_checks
    from attn_ref.i18n import tr

    tmp, _ = graded_copy
    twins = {s: spec for s, spec in pipeline.expected_samples().items()
             if spec.get("edition") == "zh-CN" and spec.get("twin")}
    assert len(twins) >= 2, twins
    for student, spec in twins.items():
        for a, steps in spec["mistakes"].items():
            chapter = next((ROOT / "solutions" / a).glob("*.ipynb")).stem
            page = html.unescape(next((tmp / "autograde" / "feedback" / student / a).glob(
                "*.html")).read_text())
            for names in steps.values():
                for name in names:
                    hints = {m.hint for c in all_checks(chapter).values() for m in c.mistakes()
                             if m.name == name}
                    assert hints, f"{a}: no check knows a mistake {name!r}"
                    assert all(tr(h, "zh-CN") != h for h in hints), f"{a} {name!r}: not translated"
                    assert any(tr(h, "zh-CN") in page for h in hints), (
                        f"{student}/{a}: no Chinese hint for {name!r}")
                    assert not any(h in page for h in hints), (
                        f"{student}/{a}: English hint for {name!r}")


def _declared_mistakes():
    """(assignment, step, mistake name) -> the sample learners whose sample.json says they were
    written to make it: what the class report must count, derived from the samples alone."""
    declared = {}
    for student, spec in pipeline.expected_samples().items():
        for a, steps in spec.get("mistakes", {}).items():
            for step, names in steps.items():
                for name in names:
                    declared.setdefault((a, step, name), set()).add(student)
    return declared


@pytest.mark.slow
def test_class_report_counts_each_samples_declared_mistakes(graded_copy):
    tmp, results = graded_copy
    assert all("mistakes" in spec for spec in pipeline.expected_samples().values())
    assert "class report: " in results["autograde"].stdout
    assert (tmp / "autograde" / "report.html").exists()
    found = {}
    with open(tmp / "autograde" / "report" / "mistakes.csv") as f:
        for r in csv.DictReader(f):
            who = set(r["student_ids"].split())
            assert len(who) == int(r["learners"])
            found.setdefault((r["assignment"], r["step"], r["mistake"]), set()).update(who)
            # the example is the feedback of one of them, with the learner's id removed
            example = (tmp / "autograde" / r["example_feedback"]).read_text()
            assert not any(s in example for s in who if len(s) > 6), r
    declared = _declared_mistakes()
    differ = {k: (sorted(found.get(k, ())), sorted(declared.get(k, ())))
              for k in set(found) | set(declared) if found.get(k) != declared.get(k)}
    assert not differ, f"(assignment, step, mistake): (counted, declared): {differ}"
    with open(tmp / "autograde" / "report" / "steps.csv") as f:
        steps = {(r["assignment"], r["step"]): r for r in csv.DictReader(f)}
    expected = pipeline.expected_samples()
    for (a, step), r in steps.items():
        got = [spec["scores"][a][step] for spec in expected.values() if a in spec["scores"]]
        assert int(r["learners"]) == len(got), (a, step)
        assert int(r["no_points"]) == sum(p == 0 for p in got), (a, step)


@pytest.mark.slow
def test_class_report_lists_problems_late_work_times_and_exports(graded_copy):
    tmp, results = graded_copy
    with open(tmp / "autograde" / "report" / "submissions.csv") as f:
        subs = {(r["student_id"], r["assignment"]): r for r in csv.DictReader(f)}
    assert subs[("rob_invalid_json", "01_se")]["graded"] == "0"
    assert "not a valid notebook" in subs[("rob_invalid_json", "01_se")]["notes"]
    assert "time limit" in subs[("rob_endless_loop", "01_se")]["notes"]
    assert all(float(r["grading_seconds"]) > 0 for r in subs.values() if r["graded"] == "1")
    assert {k for k, r in subs.items() if float(r["seconds_late"]) > 0} == set()  # no due dates
    page = (tmp / "autograde" / "report.html").read_text()
    for student in ("rob_invalid_json", "rob_missing", "rob_exit", "edit_ambiguous"):
        assert student in page.split("id='problems'")[1].split("id='late'")[0], student
    # per-step grades for an LMS: every cell's score in the gradebook, one row each
    with open(tmp / "autograde" / "grades_steps.csv") as f:
        rows = sorted((r["student_id"], r["assignment"], r["notebook"], r["step"], float(r["score"]))
                      for r in csv.DictReader(f))
    assert rows == results["scores"]


@pytest.mark.slow
def test_class_report_lists_near_identical_answers(graded_copy):
    tmp, _ = graded_copy
    with open(tmp / "autograde" / "report" / "similarity.csv") as f:
        pairs = {(r["assignment"], r["student_a"], r["student_b"]): r for r in csv.DictReader(f)}
    # both hand in the instructor's answers typed into the release, saved in other formats
    same = pairs[("01_se", "edit_nbformat_41", "edit_nbformat_44")]
    assert float(same["share_of_a"]) == float(same["share_of_b"]) == 1.0
    assert same["score_a"] == same["score_b"] == "10"
    # the released stubs are boilerplate: untouched notebooks match nothing
    assert not any("untouched" in key for key in pairs)


@pytest.mark.slow
def test_class_report_opens_from_a_file_with_its_figures(graded_copy):
    tmp, _ = graded_copy
    require_chromium()
    from playwright.sync_api import sync_playwright

    page_file = tmp / "autograde" / "report.html"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(page_file.as_uri())
            figures = page.eval_on_selector_all(
                "img.figure", "els => els.map(e => [e.alt, e.complete, e.naturalWidth])")
            links = page.eval_on_selector_all("a[href$='.html']", "els => els.length")
        finally:
            browser.close()
    names = {alt for alt, _, _ in figures}
    assert "score distribution per assignment" in names and "grading time per submission" in names
    assert {f"{a}: points per step" for a in pipeline.assignments()} <= names
    assert {f"{a}: named mistakes" for a, _, _ in _declared_mistakes()} <= names
    assert all(done and width > 0 for _, done, width in figures), figures
    assert links > 0


@pytest.mark.slow
def test_grading_again_gives_the_same_scores_and_keeps_the_gradebook_whole(graded_copy):
    tmp, results = graded_copy
    env = dict(os.environ, ATTN_CELL_TIMEOUT="30")
    students = ["bob_max_pool", "rob_exit", "rob_invalid_json", "mallory_patches"]
    # grade a few again, serially this time, and compare every cell's score with the first run
    for s in list((tmp / "autograde" / "submitted").iterdir()):
        if s.name not in students:
            shutil.move(str(s), str(tmp / f"aside-{s.name}"))
    proc = subprocess.run([sys.executable, "-m", "attn_grade", "autograde",
                           "--workers", "1"], cwd=tmp, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert _all_scores(tmp) == results["scores"]


@pytest.mark.slow
def test_robustness_notes_are_in_the_report_and_csv(graded_copy):
    tmp, results = graded_copy
    out = results["autograde"].stdout
    for student, words in [("rob_invalid_json", "not a valid notebook"),
                           ("rob_missing", "se.ipynb is missing"),
                           ("rob_renamed_extra", "graded as se.ipynb"),
                           ("rob_endless_loop", "time limit"),
                           ("rob_memory_bomb", "ran out of memory"),
                           ("rob_exit", "the kernel stopped")]:
        line = next(l for l in out.splitlines() if l.startswith(student + " "))
        assert words in line, line
    with open(tmp / "autograde" / "grades.csv") as f:
        notes = {(r["student_id"], r["assignment"]): r["notes"] for r in csv.DictReader(f)}
    assert "not a valid notebook" in notes[("rob_invalid_json", "01_se")]
