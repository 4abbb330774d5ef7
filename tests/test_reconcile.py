"""Handed-in notebooks as editors and learners change them: the catalogue's notebooks (built by
attn_grade.edits from a correct learner) are put back into the shape of their release, and
the grader's kernel-side half leaves the notebook's state alone. The scores these notebooks earn
in real grading are checked by test_course.py (every sample's expected score)."""
import json
import random
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from attn_ref.grading import collect
from attn_grade import edits, engine, pipeline
from attn_grade.nbgrader_plugin import FORBIDDEN, _learners_lines
from attn_grade.reconcile import _meta, defined_names, reconcile, checked_names

ROOT = Path(__file__).resolve().parent.parent

CATALOGUE = sorted(p.parent.name for p in (ROOT / "autograde" / "samples").glob("edit_*/sample.json"))


def _sources(assignment, name):
    """Test and locked cells' sources as the gradebook stores them (the instructor's)."""
    nb = nbformat.read(pipeline.SOLUTIONS / assignment / name, as_version=4)
    return {_meta(c)["grade_id"]: c.source for c in nb.cells if _meta(c).get("grade_id")}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("samples")
    pipeline.build_samples(tmp)
    return tmp


def _reconciled(built, student):
    spec = json.loads((ROOT / "autograde" / "samples" / student / "sample.json").read_text())
    for a in spec["scores"]:
        for path in sorted((built / student / a).glob("*.ipynb")):
            release = nbformat.read(pipeline.COURSE / a / path.name, as_version=4)
            submitted, _ = engine.as_jupyter_opens(path.read_bytes())   # as preflight reads it
            fixed, what = reconcile(submitted, release, _sources(a, path.name))
            yield spec, a, release, submitted, fixed, what


def test_the_catalogue_covers_the_kinds_of_edit():
    used = {e[0] for s in CATALOGUE
            for eds in json.loads((ROOT / "autograde/samples" / s / "sample.json").read_text())
            .get("edits", {}).values() for e in eds}
    assert used == set(edits.EDITS), set(edits.EDITS) - used


@pytest.mark.parametrize("student", CATALOGUE)
def test_every_course_cell_once_with_its_release_source_and_tests_after_their_code(built, student):
    for spec, a, release, submitted, fixed, what in _reconciled(built, student):
        nbformat.validate(fixed)
        sources = _sources(a, next((built / student / a).glob("*.ipynb")).name)
        course = {_meta(c)["grade_id"]: c for c in release.cells
                  if _meta(c).get("locked") or (_meta(c).get("grade") and not _meta(c).get("solution"))}
        ids = [_meta(c).get("grade_id") for c in fixed.cells]
        for gid, original in course.items():
            assert ids.count(gid) == 1, (student, gid, ids)
            cell = fixed.cells[ids.index(gid)]
            assert cell.source == original.source and cell.cell_type == original.cell_type
            assert _meta(cell) == _meta(original)
        for gid in course:
            k = ids.index(gid)
            for name in checked_names(sources.get(gid, "")):
                defs = [i for i, c in enumerate(fixed.cells) if c.cell_type == "code"
                        and _meta(c).get("grade_id") not in course and name in defined_names(c.source)]
                if defs:
                    assert min(defs) < k, f"{student}: {gid} runs before {name} is defined"
        # the learner's own code is all still there
        learner = [c.source for c in submitted.cells if c.cell_type == "code"
                   and _meta(c).get("grade_id") not in course
                   and c.source not in [o.source for o in course.values()]]
        kept = "\n".join(c.source for c in fixed.cells)
        for src in learner:
            assert src.strip() in kept, (student, src[:80])
        flagged = set(spec.get("flags", {}).get(a, []))
        assert set(what.flags) == flagged, (student, what.flags)


def test_a_notebook_reconciled_twice_is_unchanged(built):
    for *_, release, _, fixed, _ in _reconciled(built, "edit_colab"):
        sources = _sources("01_se", "se.ipynb")
        again, what = reconcile(fixed, release, sources)
        assert [c.source for c in again.cells] == [c.source for c in fixed.cells]
        assert not what.notes and not what.flags


def test_an_untouched_release_is_left_as_it_is():
    release = nbformat.read(pipeline.COURSE / "02_eca" / "eca.ipynb", as_version=4)
    fixed, what = reconcile(release, release, _sources("02_eca", "eca.ipynb"))
    assert [(c.cell_type, c.source) for c in fixed.cells] == \
        [(c.cell_type, c.source) for c in release.cells]
    assert not what.notes and not what.flags


def test_defined_and_tested_names():
    assert defined_names("def f(x):\n    return x\nclass A: pass\nk, (m, n) = 1, (2, 3)\n"
                         "%timeit f(1)\nimport numpy as np\nz: int = 3") == \
        {"f", "A", "k", "m", "n", "np", "z"}
    assert defined_names("def broken(:") == set()
    assert checked_names('grade("se.squeeze", squeeze)\ngrade(\'se.x\', se_x)\ngrade("a.b", squeeze)') \
        == ["squeeze", "se_x"]


def test_course_lines_do_not_trip_the_wire_but_the_learners_do():
    setup = nbformat.read(pipeline.COURSE / "01_se" / "se.ipynb", as_version=4).cells[1].source
    course_lines = {line.strip() for line in setup.splitlines()}
    assert "attn_ref" in setup
    merged = setup + "\n\ndef squeeze(x):\n    return x.mean((2, 3))"
    assert not FORBIDDEN.search(_learners_lines(merged, course_lines))
    cheat = merged + "\nSqueezeExcitation = attn_ref.SqueezeExcitation"
    assert FORBIDDEN.search(_learners_lines(cheat, course_lines))
    assert not FORBIDDEN.search(_learners_lines("x = 1  # attn_ref in a comment", set()))


def test_hidden_checks_leave_the_notebooks_state_as_they_found_it():
    torch.manual_seed(123)
    np.random.seed(7)
    random.seed(5)
    threads = torch.get_num_threads()
    expect = (torch.rand(3), np.random.rand(2), random.random())
    torch.manual_seed(123)
    np.random.seed(7)
    random.seed(5)

    def learner_squeeze(x):              # a learner whose code changes global settings
        torch.set_default_dtype(torch.float64)
        torch.set_grad_enabled(False)
        np.random.rand(5)
        random.random()
        return x.mean(dim=(2, 3))

    collect("se.squeeze", learner_squeeze)
    assert torch.get_default_dtype() == torch.float32
    assert torch.is_grad_enabled()
    assert torch.get_num_threads() == threads
    got = (torch.rand(3), np.random.rand(2), random.random())
    assert torch.equal(got[0], expect[0]) and np.array_equal(got[1], expect[1]) and got[2] == expect[2]


def test_cells_are_parsed_safely_by_grading_threads_side_by_side():
    """The local cluster grades in threads, and Python 3.11's AST construction keeps a recursion
    count that threads share (CPython gh-106905): a thread switch in the middle of it (here forced
    by finalizers that run during garbage collection) used to fail a learner's submission with a
    SystemError."""
    import gc
    import threading

    from attn_grade.reconcile import defined_names

    class Finalized:
        def __del__(self):
            sum(range(50))

    source = "\n".join(f"def f{i}(x):\n    return " + "(" * 30 + "x" + ")" * 30 for i in range(200))
    errors, interval = [], sys.getswitchinterval()

    def work():
        for _ in range(60):
            junk = [Finalized() for _ in range(50)]
            for j in junk:
                j.cycle = j
            del junk
            try:
                assert len(defined_names(source)) == 200
            except SystemError as exc:
                errors.append(exc)
                return

    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
        gc.collect()
    assert errors == []


def test_the_notes_cell_speaks_the_language_of_the_edition():
    """The notes put first in a graded notebook (and so in its feedback) are in the language of
    the notebook's edition, each note as the catalogue translates it; English as written."""
    from attn_grade.reconcile import notes_cell

    notes = ["test cell 'test_squeeze' was missing: restored from the gradebook",
             "handed in 2026-12-01 10:00:00 UTC, after the due date 2026-11-30 00:00:00"]
    assert notes_cell(notes).source == (
        "**Notes from grading** (how your notebook was read; your code was not changed)\n\n"
        f"- {notes[0]}\n- {notes[1]}")
    assert notes_cell(notes, "zh-CN").source == (
        "**评分说明**（评分程序如何读取你的笔记本；你的代码没有被改动）\n\n"
        "- 缺少测试单元格 'test_squeeze'：已从成绩簿恢复\n"
        "- 提交于 2026-12-01 10:00:00 UTC，晚于截止时间 2026-11-30 00:00:00")
