"""The closing summary cell of a chapter, in the autograded notebook and so in the feedback,
states what the grader found (attn_grade.nbgrader_plugin.GradedSummary), never the "not run"
the grader's own kernel would print."""
import re

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from attn_grade.nbgrader_plugin import GradedSummary


def _test_cell(grade_id, points, outputs):
    cell = new_code_cell("grade('x')")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": grade_id,
                                 "points": points, "locked": True}
    cell.outputs = outputs
    return cell


def _notebook():
    error = new_output("error", ename="HiddenTestsFailed", evalue="1", traceback=["x"])
    ok = new_output("stream", name="stdout", text="✔ passed\n")
    half = new_output("execute_result", data={"text/plain": "1.5"}, execution_count=None)
    summary = new_code_cell('from attn_ref.grading import summary\nsummary("se.ipynb")')
    summary.metadata["nbgrader"] = {"grade": False, "solution": False, "grade_id": "summary",
                                    "locked": True}
    summary.outputs = [new_output("stream", name="stdout",
                                  text="  · squeeze 2 points  not run\nVisible tests pass for 0 "
                                       "of 10 points.\n")]
    nb = new_notebook(cells=[_test_cell("test_squeeze", 2, [ok]),
                             _test_cell("test_excitation", 3, [error]),
                             _test_cell("test_squeeze", 2, [ok]),        # a duplicate: once
                             _test_cell("test_cost", 3, [half]), summary])
    return nb


def test_the_summary_shows_each_steps_score_as_nbgrader_counts_it():
    nb, _ = GradedSummary().preprocess(_notebook(), {})
    text = "".join(o.text for o in nb.cells[-1].outputs)
    assert "not run" not in text and "Visible tests" not in text
    lines = [line.split() for line in text.splitlines()]
    assert ["✔", "squeeze", "2", "of", "2", "points"] in lines
    assert ["✘", "excitation", "0", "of", "3", "points"] in lines
    assert ["◐", "cost", "1.5", "of", "3", "points"] in lines
    assert "The grader gave 3.5 of 8 points for these steps" in text


def test_the_summary_of_a_chinese_notebook_is_in_chinese():
    """Written in the language of the notebook's edition (its attn_course metadata), as the
    hidden checks' feedback is."""
    nb = _notebook()
    nb.metadata["attn_course"] = {"language": "zh-CN"}
    nb, _ = GradedSummary().preprocess(nb, {})
    lines = "".join(o.text for o in nb.cells[-1].outputs).splitlines()
    assert lines[0].startswith("计分步骤（按评分程序的评分")
    assert [ln.split() for ln in lines[1:4]] == [["✔", "squeeze", "2", "/", "2", "分"],
                                                 ["✘", "excitation", "0", "/", "3", "分"],
                                                 ["◐", "cost", "1.5", "/", "3", "分"]]
    assert lines[4].startswith("评分程序给这些步骤的分数是 3.5 / 8 分"), lines[4]
    assert not [ln for ln in lines if re.search(r"[A-Za-z]{3,}", ln.replace(ln.split()[1], "")
                                                 if ln.startswith("  ") else ln)], lines


def test_a_notebook_without_a_summary_cell_is_left_as_it_is():
    nb = new_notebook(cells=[_test_cell("test_a", 1, [])])
    before = nbformat.writes(nb)
    nb, _ = GradedSummary().preprocess(nb, {})
    assert nbformat.writes(nb) == before
