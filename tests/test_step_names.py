"""One name per graded step: the grade_id S of its solution cell, in the notebook N.ipynb.

Its test cell is ``test_S``; the hidden check of the step's value is ``N.S``, and a test cell
that grades several values calls ``grade("N.S", ...)`` first, then ``grade("N.S.<value>", ...)``
for each further value (``Check.id`` in ``attn_ref/grading/core.py`` builds the ids this way from
each check's ``step`` and ``value``, in ``checks_N.py``). Read from every notebook of
``solutions/``; every failure names the notebook and the cell."""
import re
from pathlib import Path

import nbformat
import pytest

from attn_ref.grading import all_checks
from attn_ref.grading.registry import CHAPTERS
from attn_grade.nbgrader_plugin import check_ids

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "solutions").glob("*/*.ipynb"))
EXPECT_ANSWER = re.compile(r"""\bexpect_answer\([^"']*["']([\w.\-]+)["']""")
VALUE = re.compile(r"[a-z][a-z0-9_]*")


def step_problems(chapter: str, cells) -> tuple[list[str], list[str]]:
    """(problems, check ids called) of one notebook whose file stem is ``chapter``, given its
    cells as (cell_type, nbgrader metadata, source)."""
    problems, called = [], []
    solution = None                      # the grade_id of the nearest solution cell above
    tested = set()
    for cell_type, meta, source in cells:
        gid = meta.get("grade_id", "")
        if meta.get("solution"):
            solution = gid
            continue
        if not (meta.get("grade") and cell_type == "code"):
            continue
        where = f"{chapter}.ipynb, test cell {gid!r}"
        if solution is None or gid != f"test_{solution}":
            problems.append(f"{where}: a test cell is named test_<its solution cell>, here "
                            f"{'test_' + solution if solution else 'one below a solution cell'!r}")
            continue
        tested.add(solution)
        step = f"{chapter}.{solution}"
        ids = check_ids(source)
        called += ids
        if not ids or ids[0] != step:
            problems.append(f"{where}: its first grade() call must grade {step!r}, got {ids}")
        for cid in ids[1:]:
            value = cid.removeprefix(step + ".")
            if value == cid or not VALUE.fullmatch(value):
                problems.append(f"{where}: a further value is graded as {step!r} + "
                                f"'.<value>', got {cid!r}")
        if len(set(ids)) != len(ids):
            problems.append(f"{where}: grades a value twice: {ids}")
        for cid in EXPECT_ANSWER.findall(source):
            if cid not in ids:
                problems.append(f"{where}: expect_answer names {cid!r}, which this cell does "
                                f"not grade ({ids})")
    for cell_type, meta, _ in cells:
        if meta.get("solution") and meta.get("grade_id") not in tested:
            problems.append(f"{chapter}.ipynb, solution cell {meta.get('grade_id')!r}: no test "
                            f"cell test_{meta.get('grade_id')} follows it")
    return problems, called


def _cells(path):
    return [(c.cell_type, c.get("metadata", {}).get("nbgrader", {}), c.source)
            for c in nbformat.read(path, as_version=4).cells]


def test_there_are_notebooks():
    assert NOTEBOOKS, "solutions/ holds no notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_cells_and_checks_follow_the_step_name(path):
    problems, _ = step_problems(path.stem, _cells(path))
    assert not problems, "\n".join(problems)


def test_every_check_is_graded_by_its_steps_test_cell():
    assert sorted(CHAPTERS) == sorted(p.stem for p in NOTEBOOKS), \
        "each notebook N.ipynb has its checks in attn_ref/grading/checks_N.py, and no other"
    called = {cid: path for path in NOTEBOOKS for cid in step_problems(path.stem, _cells(path))[1]}
    unused = [f"{cid} (checks_{cid.split('.')[0]}.py: no test cell of "
              f"{cid.split('.')[0]}.ipynb calls grade({cid!r}, ...))"
              for cid in all_checks() if cid not in called]
    assert not unused, "checks no test cell grades:\n" + "\n".join(unused)
    unknown = [f"{path.name}: grade({cid!r}, ...) names no check" for cid, path in called.items()
               if cid not in all_checks()]
    assert not unknown, "\n".join(unknown)


def _nb(*cells):
    return [("code", meta, src) for meta, src in cells]


SOL = lambda gid: ({"solution": True, "grade_id": gid}, "### BEGIN SOLUTION\n### END SOLUTION")  # noqa: E731
TEST = lambda gid, src: ({"grade": True, "grade_id": gid, "points": 1}, src)  # noqa: E731


def test_the_rule_catches_each_way_of_breaking_it():
    good = _nb(SOL("cost"), TEST("test_cost", 'grade("x.cost", f)\ngrade("x.cost.macs", g)\n'
                                              'expect_answer(g, "x.cost.macs", "g")'))
    assert step_problems("x", good) == ([], ["x.cost", "x.cost.macs"])
    bad = {
        "renamed test cell": _nb(SOL("cost"), TEST("test_costs", 'grade("x.cost", f)')),
        "check of another name": _nb(SOL("cost"), TEST("test_cost", 'grade("x.param_count", f)')),
        "another chapter's prefix": _nb(SOL("cost"), TEST("test_cost", 'grade("y.cost", f)')),
        "further value first": _nb(SOL("cost"), TEST("test_cost", 'grade("x.cost.macs", g)')),
        "further value not under the step": _nb(
            SOL("cost"), TEST("test_cost", 'grade("x.cost", f)\ngrade("x.macs", g)')),
        "a value graded twice": _nb(
            SOL("cost"), TEST("test_cost", 'grade("x.cost", f)\ngrade("x.cost", f)')),
        "expect_answer of another check": _nb(
            SOL("cost"), TEST("test_cost", 'grade("x.cost", f)\nexpect_answer(f, "x.macs", "f")')),
        "no grade() call": _nb(SOL("cost"), TEST("test_cost", "assert True")),
        "a solution cell without its test": _nb(SOL("cost"), SOL("macs"),
                                                TEST("test_macs", 'grade("x.macs", f)')),
    }
    for what, cells in bad.items():
        problems, _ = step_problems("x", cells)
        assert problems, what
        assert all(p.startswith("x.ipynb, ") for p in problems), (what, problems)
