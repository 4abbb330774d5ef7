"""The summary at the end of each chapter (attn_ref.grading.summary): which graded steps passed
their visible tests in this kernel session, with their points. Run in a real kernel (nbclient),
on a small notebook with nbgrader's metadata."""
import json

import nbformat
from nbclient import NotebookClient


def _test_cell(grade_id, points, source):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata = {"nbgrader": {"grade": True, "grade_id": grade_id, "locked": True,
                                  "points": points, "schema_version": 3, "solution": False,
                                  "task": False}}
    return cell


def test_summary_lists_each_graded_step_with_points_and_outcome(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("from attn_ref.grading import expect_equal, summary"),
        _test_cell("test_one", 2, 'expect_equal(1 + 1, 2, "one")'),
        _test_cell("test_two", 3, 'expect_equal(1 + 1, 3, "two", hint="a hint")'),
        _test_cell("test_three", 1, "raise NotImplementedError()"),
        nbformat.v4.new_code_cell('summary("course.ipynb")'),
        _test_cell("test_four", 4, 'print("never run before the summary")'),
        nbformat.v4.new_code_cell("_ = 1  # a later, ungraded cell"),
        _test_cell("test_one", 2, 'expect_equal(1 + 1, 2, "one")'),   # unchanged
    ]
    path = tmp_path / "course.ipynb"
    path.write_text(json.dumps(nb))
    NotebookClient(nb, allow_errors=True, timeout=120,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    out = "".join(o.get("text", "") for o in nb.cells[4].outputs)
    lines = out.splitlines()
    assert lines[0].startswith("Graded steps")
    assert lines[1].split() == ["✔", "one", "2", "points", "passed"]
    assert lines[2].split() == ["✘", "two", "3", "points", "failed", "(AssertionError)"]
    assert lines[3].split() == ["✘", "three", "1", "point", "failed", "(NotImplementedError)"]
    assert lines[4].split() == ["·", "four", "4", "points", "not", "run"]
    assert lines[5].startswith("Visible tests pass for 2 of 10 points."), out   # test_one once
