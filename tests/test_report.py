"""The class report's inputs, without grading a class: the verdict's mistakes reach the autograded
notebook's metadata only from the grader, and similar answers are grouped. (The report on the
graded sample class is checked in tests/test_course.py, which grades it once.)"""
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from attn_ref.grading import collect
from attn_ref.grading.core import MIME
from attn_grade import report
from attn_grade.nbgrader_plugin import METADATA_KEY, OutOfKernelVerdict

ROOT = Path(__file__).resolve().parent.parent

FORGED = {"checks": [{"check": "se.squeeze", "passed": True, "mistakes": ["sum"]}],
          "refused": None}


def _graded(squeeze, source='grade("se.squeeze", squeeze)'):
    answer = new_code_cell("def squeeze(x): ...", metadata={
        "nbgrader": {"solution": True, "grade": False, "grade_id": "squeeze"},
        METADATA_KEY: FORGED})
    test = new_code_cell(source, metadata={
        "nbgrader": {"solution": False, "grade": True, "grade_id": "test_squeeze", "points": 2},
        METADATA_KEY: FORGED})
    payload = collect("se.squeeze", squeeze)
    test.outputs = [nbformat.from_dict({"output_type": "display_data", "metadata": {},
                                        "data": {MIME: payload, "text/plain": "sent"}})]
    nb = new_notebook(cells=[answer, test])
    OutOfKernelVerdict().preprocess(nb, {})
    return nb


def test_the_verdict_records_the_matched_mistake_and_overwrites_a_forged_one():
    nb = _graded(lambda x: x.amax(dim=(2, 3)))
    answer, test = nb.cells
    assert METADATA_KEY not in answer.metadata            # only test cells carry it, from the grader
    assert test.metadata[METADATA_KEY] == {
        "checks": [{"check": "se.squeeze", "passed": False, "mistakes": ["max"]}], "refused": None}
    assert test.outputs[-1]["output_type"] == "error"    # and the cell scores zero


def test_a_correct_answer_records_no_mistake():
    nb = _graded(lambda x: x.mean(dim=(2, 3)))
    assert nb.cells[1].metadata[METADATA_KEY]["checks"] == [
        {"check": "se.squeeze", "passed": True, "mistakes": []}]


def test_a_refused_notebook_records_why():
    nb = _graded(lambda x: x.mean(dim=(2, 3)))
    nb.cells[0].source = "from attn_ref import se_squeeze as squeeze"
    OutOfKernelVerdict().preprocess(nb, {})
    assert nb.cells[1].metadata[METADATA_KEY] == {"checks": [], "refused": "attn_ref"}


def test_report_reads_the_verdicts_of_an_autograded_notebook(tmp_path):
    nb = _graded(lambda x: x.sum(dim=(2, 3)))
    nbformat.write(nb, tmp_path / "se.ipynb")
    assert report.verdicts_of(tmp_path / "se.ipynb") == {"test_squeeze": [
        {"check": "se.squeeze", "passed": False, "mistakes": ["sum"]}]}


def test_similar_pairs_are_grouped():
    pairs = [("01_se", "a", "b", 1.0, 1.0, 50), ("01_se", "b", "c", 0.9, 0.8, 40),
             ("01_se", "d", "e", 0.85, 0.7, 30), ("02_eca", "a", "b", 0.95, 0.95, 20)]
    assert report.similarity_groups(pairs) == [
        ("01_se", ["a", "b", "c"], 0.9, 1.0, 2), ("01_se", ["d", "e"], 0.85, 0.85, 1),
        ("02_eca", ["a", "b"], 0.95, 0.95, 1)]


def test_a_recorded_mistake_agrees_with_the_passed_cases_too():
    # ties settled downwards differ from the rule only where t is an even integer; there
    # "down to odd" and "natural log" happen to give the same kernels, elsewhere they do not
    from attn_ref.grading import get_check, verify
    from attn_ref.grading.checks_eca import _nearest_odd_ties_down

    v = verify(get_check("eca.kernel_size"), collect("eca.kernel_size", _nearest_odd_ties_down))
    assert not v.passed
    assert v.mistakes == ["nearest odd (ties down)"]
