"""The learner's work is theirs: the folder `make lab` opens (attn_grade.workfolder) is never
written by `make release`, `make demo`'s steps, `make clean`, grading, or an update of the
course; a changed chapter arrives beside the learner's notebook with their answers carried over."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from attn_grade import pipeline, workfolder

ROOT = Path(__file__).resolve().parent.parent
from attn_ref.i18n import LANGUAGES

# the English chapters; course/zh-CN/ holds the Chinese edition's release (make lab COURSE_LANG=zh-CN)
CHAPTERS = sorted(p.name for p in (ROOT / "course").iterdir()
                  if p.is_dir() and p.name not in LANGUAGES)


def _type_answers(work: Path, chapters=CHAPTERS) -> dict[str, dict[str, str]]:
    """Type the instructor's answers (as a learner would) into every solution cell of the
    chapters' notebooks in ``work``; return notebook -> grade_id -> answer."""
    typed = {}
    for a in chapters:
        for path in sorted((work / a).glob("*.ipynb")):
            answers = pipeline.correct_answers(ROOT / "solutions" / a / path.name)
            nb = nbformat.read(path, as_version=4)
            for cell in nb.cells:
                gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                if cell.get("metadata", {}).get("nbgrader", {}).get("solution") and gid in answers:
                    cell.source = answers[gid] + "\n# typed by the learner"
                    typed.setdefault(f"{a}/{path.name}", {})[gid] = cell.source
            nbformat.write(nb, path)
    assert set(typed) == {f"{a}/{p.name}" for a in chapters for p in (work / a).glob("*.ipynb")}
    return typed


def _answers(path: Path) -> dict[str, str]:
    return {c.metadata.nbgrader["grade_id"]: c.source
            for c in nbformat.read(path, as_version=4).cells
            if c.get("metadata", {}).get("nbgrader", {}).get("solution")}


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_first_use_copies_the_release_and_a_second_changes_nothing(tmp_path):
    said = workfolder.update(ROOT / "course", tmp_path / "work")
    assert said and said[0].startswith("made work/")
    for a in CHAPTERS:
        for nb in (ROOT / "course" / a).glob("*.ipynb"):
            assert (tmp_path / "work" / a / nb.name).read_bytes() == nb.read_bytes()
    before = _snapshot(tmp_path / "work")
    assert workfolder.update(ROOT / "course", tmp_path / "work") == []
    assert _snapshot(tmp_path / "work") == before
    # another edition's release, kept under course/, is not this learner's
    assert sorted(p.name for p in (tmp_path / "work").iterdir() if p.is_dir()) == CHAPTERS


def test_the_chinese_edition_fills_its_own_folder(tmp_path):
    zh = ROOT / "course" / "zh-CN"
    workfolder.update(zh, tmp_path / "work-zh-CN")
    released = sorted(p.relative_to(zh).as_posix() for p in zh.rglob("*.ipynb"))
    assert released, "course/zh-CN/ holds no notebook"
    assert sorted(p.relative_to(tmp_path / "work-zh-CN").as_posix()
                  for p in (tmp_path / "work-zh-CN").rglob("*.ipynb")) == released


def test_a_course_update_never_writes_over_the_learners_answers(tmp_path):
    course, work = tmp_path / "course", tmp_path / "work"
    shutil.copytree(ROOT / "course", course, ignore=shutil.ignore_patterns("07_*"))
    workfolder.update(course, work)
    typed = _type_answers(work, ["01_se"])                  # 02_eca: handed out, not touched
    (work / "01_se" / "notes.txt").write_text("my own notes")
    mine = _snapshot(work)

    # the release changes both chapters' notebooks and adds a chapter
    for name in ("01_se/se.ipynb", "02_eca/eca.ipynb"):
        nb = nbformat.read(course / name, as_version=4)
        nb.cells[0].source += "\n\nA sentence the course added."
        nbformat.write(nb, course / name)
    shutil.copytree(ROOT / "course" / "07_bonus", course / "07_bonus")
    said = workfolder.update(course, work)

    after = _snapshot(work)
    assert after["01_se/se.ipynb"] == mine["01_se/se.ipynb"]          # theirs: untouched
    assert after["01_se/notes.txt"] == b"my own notes"
    assert after["02_eca/eca.ipynb"] == (course / "02_eca/eca.ipynb").read_bytes()  # updated
    assert "07_bonus/bonus.ipynb" in after                              # new chapter
    beside = work / "01_se" / "se.course-update.ipynb"
    assert _answers(beside) == {**_answers(course / "01_se/se.ipynb"), **typed["01_se/se.ipynb"]}
    assert "A sentence the course added." in nbformat.read(beside, as_version=4).cells[0].source
    assert any("changed in the course: 01_se/se.ipynb" in s and "untouched" in s for s in said)
    assert any(s.startswith("updated: 02_eca/eca.ipynb") for s in said)
    assert "new: 07_bonus/bonus.ipynb" in said

    # the same release again: nothing more (no second copy beside theirs)
    assert workfolder.update(course, work) == []
    # the learner edits the copy beside theirs; a further release never writes over it either
    edited = beside.read_bytes() + b" "
    beside.write_bytes(edited)
    nb = nbformat.read(course / "01_se/se.ipynb", as_version=4)
    nb.cells[0].source += " And another."
    nbformat.write(nb, course / "01_se/se.ipynb")
    workfolder.update(course, work)
    assert beside.read_bytes() == edited
    assert (work / "01_se" / "se.course-update-2.ipynb").exists()
    assert (work / "01_se" / "se.ipynb").read_bytes() == mine["01_se/se.ipynb"]


def test_the_folder_may_not_be_inside_the_release(tmp_path):
    with pytest.raises(SystemExit, match="inside the release"):
        workfolder.update(ROOT / "course", ROOT / "course" / "work")


def test_answers_typed_into_a_tracked_course_folder_are_kept_as_the_learners(tmp_path):
    """Before `make lab` opened a folder of its own, learners typed into course/: on first
    use their changed notebooks come along and count as theirs, so no update replaces them."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "course" / "01_se", repo / "course" / "01_se")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(git + ["add", "."], cwd=repo, check=True)
    subprocess.run(git + ["commit", "-qm", "release"], cwd=repo, check=True)
    typed = _type_answers(repo / "course", ["01_se"])["01_se/se.ipynb"]
    said = workfolder.update(repo / "course", repo / "work")
    assert any(s.startswith("yours: 01_se/se.ipynb") for s in said)
    theirs = (repo / "work/01_se/se.ipynb").read_bytes()
    assert {g: _answers(repo / "work/01_se/se.ipynb")[g] for g in typed} == typed
    nb = nbformat.read(repo / "course/01_se/se.ipynb", as_version=4)   # `make release` again
    nb.cells[0].source += "\n\nchanged"
    nbformat.write(nb, repo / "course/01_se/se.ipynb")
    workfolder.update(repo / "course", repo / "work")
    assert (repo / "work/01_se/se.ipynb").read_bytes() == theirs
    assert (repo / "work/01_se/se.course-update.ipynb").exists()


def _attn(root: Path, *args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "attn_grade", "--root", str(root), *args],
                          cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]


@pytest.mark.slow
def test_answers_in_every_chapter_survive_release_demo_clean_grading_and_a_course_update(tmp_path):
    """The commands of the course, run in a scratch class (chapter 01 released and graded, every
    chapter's notebook in the learner's folder with answers typed in)."""
    root = pipeline.copy_class(tmp_path / "class", only=["01_se"], course=True)
    for a in CHAPTERS:
        if not (root / "course" / a).exists():
            shutil.copytree(ROOT / "course" / a, root / "course" / a)
    shutil.copy(ROOT / "Makefile", root / "Makefile")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    (root / ".gitignore").write_text((ROOT / ".gitignore").read_text())
    subprocess.run(git + ["add", "."], cwd=root, check=True)
    subprocess.run(git + ["commit", "-qm", "the course"], cwd=root, check=True)

    work = root / "work"
    workfolder.update(root / "course", work)
    typed = _type_answers(work)
    mine = _snapshot(work)

    # make demo's steps (its grading below), and make release
    for step in (["reset-demo"], ["release"], ["samples", "01_se"]):
        _attn(root, *step)
        assert _snapshot(work) == mine, step
    # grading: the learner's 01_se handed in, beside two sample learners
    submitted = root / "autograde" / "submitted"
    for s in submitted.iterdir():
        if s.name not in ("instructor", "untouched"):
            shutil.rmtree(s)
    shutil.copytree(work / "01_se", submitted / "learner" / "01_se")
    _attn(root, "autograde", "--workers=1")
    assert _snapshot(work) == mine
    table = (root / "autograde" / "report.txt").read_text()
    assert any(line.split()[:2] == ["learner", "10/10"] for line in table.splitlines()), table
    # make clean
    subprocess.run(["make", "-s", "clean"], cwd=root, check=True, capture_output=True)
    assert _snapshot(work) == mine
    # a commit that changes a chapter, the release, and the update `make lab` runs first
    nb = nbformat.read(root / "solutions/01_se/se.ipynb", as_version=4)
    nb.cells[0].source += "\n\nA sentence the course added."
    nbformat.write(nb, root / "solutions/01_se/se.ipynb")
    subprocess.run(git + ["commit", "-qam", "chapter 1 changed"], cwd=root, check=True)
    _attn(root, "release")
    proc = subprocess.run([sys.executable, "-m", "attn_grade.workfolder", "--course", "course",
                           "work"], cwd=root, capture_output=True, text=True, check=True)
    assert "changed in the course: 01_se/se.ipynb" in proc.stdout
    after = _snapshot(work)
    kept = workfolder.MANIFEST             # the record of what was handed out: updated
    assert {k: v for k, v in after.items() if k in mine and k != kept} == \
        {k: v for k, v in mine.items() if k != kept}
    beside = work / "01_se" / "se.course-update.ipynb"
    assert {k: v for k, v in _answers(beside).items() if k in typed["01_se/se.ipynb"]} == \
        typed["01_se/se.ipynb"]
    assert set(after) - set(mine) == {"01_se/se.course-update.ipynb"}
