"""The course pipeline: release the course, build the sample submissions, autograde, report.
Its command line is ``attn-grade`` (or ``python -m attn_grade``), run in the class folder:

    attn-grade release            # course/ from solutions/ (nbgrader generate_assignment)
    attn-grade check-release      # fail if course/ differs from a fresh release
    attn-grade samples            # sample submissions -> autograde/submitted/
    attn-grade autograde          # grade autograde/submitted/, export, feedback, table
    attn-grade report             # the class report again (autograde writes it too)
    attn-grade check-samples      # every sample earned exactly its expected points
                                  # and made exactly its declared mistakes
    attn-grade store-outputs      # refresh the outputs nbval compares in solutions/
    attn-grade reset-demo         # forget earlier demo results (refuses if real learners are there)
    attn-grade trial 02_eca       # release, build samples, grade, check: in a scratch copy
                                  # (--keep DIR: in DIR, kept with its report)

The class report (attn_grade.report: autograde/report.html and CSVs) is written at the end of autograde.

Grading (attn_grade.engine) takes each submission in isolation, in parallel on a local Dask cluster or
a remote scheduler, with a time and memory limit: a submission that cannot be graded gets a line
in the report and a score of zero, and the others are graded as usual.
"""
from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from .editions import EDITIONS, edition_assignments, generate_args
from .settings import ENVIRONMENT, Grading, describe
from .settings import load as load_settings

RELEASE_CACHE = ".release-cache"          # under autograde/: see engine.release_bundle


def find_root(start: Path | None = None) -> Path:
    """The class folder: the nearest folder at or above ``start`` (default: the working
    directory) that holds ``nbgrader_config.py``, else the checkout this package lies in.

    Raises SystemExit when neither holds one."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents, Path(__file__).resolve().parents[2]):
        if (folder / "nbgrader_config.py").is_file():
            return folder
    raise SystemExit(f"no nbgrader_config.py in {here} or above: run this in the class folder "
                     "or give --root")


def use_root(root: Path) -> None:
    """Make ``root`` the class folder every command works in: ``solutions/`` (nbgrader's
    source), ``course/`` (its release) and ``autograde/`` (submissions, samples, results)."""
    global ROOT, SOLUTIONS, COURSE, GRADING, SUBMITTED, SAMPLES, _SETTINGS
    ROOT = Path(root).resolve()
    _SETTINGS = None
    SOLUTIONS, COURSE, GRADING = ROOT / "solutions", ROOT / "course", ROOT / "autograde"
    SUBMITTED, SAMPLES = GRADING / "submitted", GRADING / "samples"


_SETTINGS: Grading | None = None
use_root(find_root())


def settings() -> Grading:
    """The class's :class:`~attn_grade.settings.Grading` options (its nbgrader_config.py; the
    command line puts its environment and flags over them). ``settings().config`` is the whole
    configuration, nbgrader's included."""
    global _SETTINGS
    if _SETTINGS is None:
        _SETTINGS = load_settings(ROOT)
    return _SETTINGS


def assignments() -> list[str]:
    return sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def _env() -> dict:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("MPLBACKEND", "Agg")
    env["PYTHONWARNINGS"] = "ignore"
    return env


def nbgrader(*args: str, cwd: Path | None = None, timeout: int | None = None) -> subprocess.CompletedProcess:
    """Run one nbgrader command in its own process (in ``cwd``, default the class folder);
    return the completed process."""
    cmd = [sys.executable, "-m", "nbgrader", *args]
    return subprocess.run(cmd, cwd=cwd or ROOT, env=_env(), capture_output=True, text=True,
                          timeout=timeout)


def _tail(text: str, n: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


# ----- release ---------------------------------------------------------------------------------
def release(root: Path | None = None, bundles: bool = True) -> None:
    """Generate course/ and the class gradebook's assignments from solutions/; with ``bundles``,
    also make (side by side, in threads) the release bundles grading ships to its workers."""
    from concurrent.futures import ThreadPoolExecutor

    from . import engine

    root = root or ROOT
    pool = ThreadPoolExecutor(1)
    pending = pool.submit(engine.release_bundles, root, assignments(),
                          root / "autograde" / RELEASE_CACHE, 1) if bundles else None
    for a in assignments():
        proc = nbgrader("generate_assignment", a, "--force", "--log-level=WARN", cwd=root)
        if proc.returncode:
            if "there are submissions associated with it" in proc.stderr:
                raise SystemExit(
                    f"cannot release {a}: its cells changed, and the gradebook already holds "
                    "submissions of it (nbgrader keeps grades tied to cells). Grade with the "
                    "release the learners had, or start a new gradebook (`make clean` deletes "
                    "all grades).")
            raise SystemExit(f"nbgrader generate_assignment {a} failed:\n{_tail(proc.stderr)}")
        print(f"released {a} -> {(root / 'course' / a).relative_to(root)}/")
    for lang in EDITIONS:                   # the other languages' editions (attn_grade.editions)
        for a in edition_assignments(root / "solutions", lang):
            proc = nbgrader(*generate_args(lang, a), "--log-level=WARN", cwd=root)
            if proc.returncode:
                raise SystemExit(f"nbgrader generate_assignment {a} ({lang}) failed:\n"
                                 f"{_tail(proc.stderr)}")
            print(f"released {a} ({lang}) -> course/{lang}/{a}/")
    if pending is not None:
        pending.result()
    pool.shutdown()


def _normalised(path: Path) -> dict:
    nb = nbformat.read(path, as_version=4)
    return json.loads(nbformat.writes(nb))


def check_release() -> list[str]:
    """Release solutions/ into a scratch copy of the repository and compare with course/."""
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = copy_class(Path(tmp), samples=False)
        release(tmp, bundles=False)
        fresh = {p.relative_to(tmp / "course") for p in (tmp / "course").rglob("*") if p.is_file()}
        ours = {p.relative_to(COURSE) for p in COURSE.rglob("*") if p.is_file()}
        for rel in sorted(fresh ^ ours):
            problems.append(f"course/{rel}: {'missing' if rel in fresh else 'not generated by nbgrader'}")
        for rel in sorted(fresh & ours):
            a, b = tmp / "course" / rel, COURSE / rel
            same = (_normalised(a) == _normalised(b)) if rel.suffix == ".ipynb" else \
                a.read_bytes() == b.read_bytes()
            if not same:
                problems.append(f"course/{rel}: differs from what nbgrader generates from "
                                "solutions/ (run `make release`)")
    return problems


def store_outputs(only: list[str] | None = None) -> None:
    """Run every solution notebook and keep the outputs of ``# NBVAL_CHECK_OUTPUT`` cells only.

    Those outputs are what nbval compares in `make test`; all other outputs are dropped so that
    solutions/ stays small in git. The editions in other languages (solutions/<lang>/) too.
    """
    from nbclient import NotebookClient

    editions = [SOLUTIONS / lang / a / p.name for lang in EDITIONS
                for a in edition_assignments(SOLUTIONS, lang) for p in (SOLUTIONS / a).glob("*.ipynb")]
    for path in sorted(SOLUTIONS.glob("*/*.ipynb")) + [p for p in editions if p.exists()]:
        if only and path.parent.name not in only:
            continue
        nb = nbformat.read(path, as_version=4)
        ran = copy.deepcopy(nb)
        NotebookClient(ran, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        for cell, done in zip(nb.cells, ran.cells):
            if cell.cell_type != "code":
                continue
            keep = "NBVAL_CHECK_OUTPUT" in cell.source
            cell.outputs = done.outputs if keep else []
            cell.execution_count = done.execution_count if keep else None   # nbval wants it
        nbformat.write(nb, path)
        print(f"stored checked outputs of {path.relative_to(ROOT)}")


# ----- sample submissions ----------------------------------------------------------------------
def _cells_of(path: Path, want) -> dict[str, float]:
    """Test cell grade_id -> points, for every autograded test cell of a notebook."""
    out = {}
    for cell in nbformat.read(path, as_version=4).cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution") and cell.get("cell_type") == "code":
            out[meta["grade_id"]] = want(meta)
    return out


def expected_samples() -> dict:
    """Every sample learner: {"about", "base", "scores": {assignment: {test cell: points}}}.

    Two are built in: ``instructor`` hands in solutions/ and must earn every point of every
    assignment; ``untouched`` hands in course/ unchanged and must earn none. The others are the
    folders of autograde/samples/ with a sample.json ({"about", "scores", "mistakes"}: the
    catalogued mistakes, by ``Mistake.name``, each step was written to make, per assignment and
    test cell; optionally "rename":
    {assignment: {old: new}} and "drop": {assignment: [notebook]}), one ``<assignment>.py`` of
    solution cells per assignment they hand in, and optionally ``files/<assignment>/`` handed in
    verbatim (broken notebooks, extra files). ``"base": "correct"`` starts from the release with
    the instructor's answers typed in, and ``"edits": {assignment: [edit, ...]}`` then changes
    the notebook as an editor or a learner's hands would (see attn_grade.edits);
    ``"edition": "zh-CN"`` hands in that language's edition instead of the English one
    (attn_grade.editions), graded as the same assignment; ``"twin": <sample>`` types in that
    sample's answers (its ``<assignment>.py``) and expects its scores and mistakes, unless the
    spec gives its own: a learner of another edition who makes the same mistakes as an English
    one earns the same score.
    """
    full = {a: {k: v for p in sorted((SOLUTIONS / a).glob("*.ipynb"))
                for k, v in _cells_of(p, lambda m: m["points"]).items()} for a in assignments()}
    samples = {
        "instructor": {"about": "the instructor's solutions, handed in as they are",
                       "base": "solutions", "scores": full, "mistakes": {}},
        "untouched": {"about": "the released notebooks, handed in without a change",
                      "base": "release", "mistakes": {},
                      "scores": {a: {k: 0 for k in cells} for a, cells in full.items()}},
    }
    for spec_file in sorted(SAMPLES.glob("*/sample.json")):
        spec = json.loads(spec_file.read_text())
        if "twin" in spec:
            twin = json.loads((SAMPLES / spec["twin"] / "sample.json").read_text())
            for key in ("scores", "mistakes", "base"):
                if key in twin:
                    spec.setdefault(key, twin[key])
        spec.setdefault("base", "release")
        samples[spec_file.parent.name] = spec
    return samples


def parse_cells(path: Path) -> dict[str, str]:
    """Split a sample file at its ``# %% <grade_id>`` markers: grade_id -> cell source."""
    cells, current, lines = {}, None, []
    for line in path.read_text().splitlines():
        m = re.match(r"#\s*%%\s*(\S+)\s*$", line)
        if m:
            if current:
                cells[current] = "\n".join(lines).strip("\n")
            current, lines = m.group(1), []
        elif current:
            lines.append(line)
    if current:
        cells[current] = "\n".join(lines).strip("\n")
    return cells


def correct_answers(solution: Path) -> dict[str, str]:
    """grade_id -> the instructor's answer, as a learner would type it (the solution cells'
    sources without nbgrader's BEGIN/END SOLUTION lines)."""
    answers = {}
    for cell in nbformat.read(solution, as_version=4).cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            answers[meta["grade_id"]] = "\n".join(
                line for line in cell.source.splitlines()
                if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
    return answers


def build_samples(dest: Path | None = None, only: list[str] | None = None) -> list[str]:
    """Write every sample learner's submission under ``dest/<student>/<assignment>/`` (default:
    autograde/submitted/)."""
    dest = dest or SUBMITTED
    built = []
    from . import edits

    for student, spec in expected_samples().items():
        base = {"release": COURSE, "solutions": SOLUTIONS, "correct": COURSE}[spec["base"]]
        if spec.get("edition", "en") != "en":     # a learner of another language's edition
            base = base / spec["edition"]
        for a in spec["scores"]:
            if only and a not in only:
                continue
            replacements = {}
            cell_file = SAMPLES / spec.get("twin", student) / f"{a}.py"
            if cell_file.exists():
                replacements = parse_cells(cell_file)
            out_dir = dest / student / a
            if out_dir.exists():
                shutil.rmtree(out_dir)
            out_dir.mkdir(parents=True)
            used = set()
            for src in sorted((base / a).glob("*.ipynb")):
                nb = nbformat.read(src, as_version=4)
                if spec["base"] == "correct":
                    replacements = {**correct_answers(SOLUTIONS / a / src.name), **replacements}
                for cell in nb.cells:
                    gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                    if gid in replacements:
                        cell.source = replacements[gid]
                        used.add(gid)
                edits.apply(nb, spec.get("edits", {}).get(a, []))
                (out_dir / src.name).write_text(edits.dumps(nb))
                if spec["base"] == "correct":
                    used |= set(replacements)
            unused = set(replacements) - used
            if unused:
                raise SystemExit(f"{cell_file}: no solution cells named {sorted(unused)}")
            # handed in as they are: broken notebooks, extra files
            verbatim = SAMPLES / student / "files" / a
            if verbatim.exists():
                shutil.copytree(verbatim, out_dir, dirs_exist_ok=True)
            for old, new in spec.get("rename", {}).get(a, {}).items():
                (out_dir / old).rename(out_dir / new)
            for name in spec.get("drop", {}).get(a, []):
                (out_dir / name).unlink()
            built.append(f"{student}/{a}")
    return built


def reset_demo() -> None:
    """Forget earlier demo results, but never a real class's: refuse if the gradebook or
    autograde/submitted/ holds anyone who is not a bundled sample learner."""
    samples = set(expected_samples())
    others = {s for s, _ in submissions()} - samples
    url = db_url()
    if not url.startswith("sqlite:///") or Path(url[len("sqlite:///"):]).exists():
        from nbgrader.api import Gradebook

        with Gradebook(url) as gb:
            others |= {s.id for s in gb.students} - samples
    if others:
        raise SystemExit(f"autograde/ holds real learners ({', '.join(sorted(others)[:5])}, ...): "
                         "`make demo` would mix the samples into their grades. Use `make "
                         "autograde` for a class, or move autograde/ aside first.")
    for d in ("submitted", "autograded", "feedback"):
        shutil.rmtree(GRADING / d, ignore_errors=True)
    shutil.rmtree(GRADING / "report", ignore_errors=True)
    for f in ("gradebook.db", "grades.csv", "report.txt", "grading.json", "report.html",
              "grades_steps.csv"):
        (GRADING / f).unlink(missing_ok=True)


# ----- autograde -------------------------------------------------------------------------------
def submissions(root: Path | None = None) -> list[tuple[str, str]]:
    root = root or SUBMITTED
    if not root.exists():
        return []
    return sorted((s.name, a.name) for s in root.iterdir() if s.is_dir()
                  for a in s.iterdir() if a.is_dir())


def db_url() -> str:
    """The class gradebook: nbgrader's ``CourseDirectory.db_url`` in nbgrader_config.py."""
    return settings().config.CourseDirectory.get("db_url") or \
        "sqlite:///" + str(GRADING / "gradebook.db")


def autograde_all(workers: int = 1, scheduler: str | None = None) -> dict[tuple[str, str], dict]:
    """Grade every submission (see attn_grade.engine); return (student, assignment) -> {"graded", "notes"}."""
    from . import engine

    known = set(assignments())
    tasks = engine.make_tasks(ROOT, SUBMITTED, sorted(known), GRADING / RELEASE_CACHE,
                              workers=max(1, workers), duedates=duedates(), settings=settings())
    outcome = {}
    for t in tasks:
        if t.assignment not in known:
            outcome[(t.student, t.assignment)] = {"graded": False,
                                                  "notes": [f"no assignment named {t.assignment!r}"]}
    tasks = [t for t in tasks if t.assignment in known]
    if tasks:
        # the class gradebook must know the assignments before results are merged into it
        missing = [a for a in sorted({t.assignment for t in tasks}) if not _in_gradebook(a)]
        if missing:
            raise SystemExit(f"the gradebook does not know {missing}: run `make release` first")
    t0 = time.monotonic()
    results = engine.run(tasks, db_url(), GRADING, workers=workers, scheduler=scheduler)
    wall = time.monotonic() - t0
    for r in results:
        outcome[(r.student, r.assignment)] = {
            "graded": r.graded, "notes": r.notes, "seconds": r.seconds, "info": r.info,
            "flags": [f"{nb}/{cell}: {why}" for nb, cells in r.flags.items()
                      for cell, why in cells.items()], "worker": r.worker}
    graded = sum(r.graded for r in results)
    unboxed = sum(r.sandboxed is False for r in results)
    if scheduler is None:
        where = f"{workers} worker(s)"
    else:                                     # which Dask worker graded how many
        by = {}
        for r in results:
            by[r.worker] = by.get(r.worker, 0) + 1
        where = f"Dask scheduler {scheduler}, by worker: " + \
            ", ".join(f"{w} {n}" for w, n in sorted(by.items(), key=str))
    print(f"graded {graded} of {len(outcome)} submissions in {wall:.0f} s ({where}); "
          f"{len(outcome) - graded} could not be graded")
    if unboxed:
        print(f"WARNING: {unboxed} submission(s) were graded without the sandbox "
              "(no usable `unshare` or user namespaces here): their code could read or change "
              "files of the grader. See site/teach/sandbox.md, 'The grading sandbox'.")
    return outcome


def duedates() -> dict[str, str | None]:
    """assignment -> its due date in the class gradebook (ISO, UTC), as set with stock
    ``nbgrader db assignment add NAME --duedate=...`` (None where there is none)."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url()) as gb:
        return {a.name: a.duedate.isoformat() if a.duedate else None for a in gb.assignments}


def _in_gradebook(assignment: str) -> bool:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url()) as gb:
        try:
            gb.find_assignment(assignment)
            return True
        except MissingEntry:
            return False


def scores() -> dict[tuple[str, str], dict]:
    """(student, assignment) -> {"score", "max", "cells": {test cell: points}} from the gradebook."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(db_url()) as gb:
        for a in gb.assignments:
            for sub in a.submissions:
                cells = {}
                for nb in sub.notebooks:
                    for g in nb.grades:
                        cells[g.name] = g.score
                # the score after the late penalty, as `nbgrader export` computes it
                score = max(0.0, sub.score - (sub.late_submission_penalty or 0.0))
                out[(sub.student.id, a.name)] = {"score": score, "max": sub.max_score,
                                                 "cells": cells, "late": sub.total_seconds_late,
                                                 "penalty": sub.late_submission_penalty,
                                                 "timestamp": sub.timestamp}
    return out


def summary_notes(o: dict | None, g: dict | None) -> list[str]:
    """What the table and grades.csv say of one submission: why it was not (fully) graded, the
    steps flagged for the instructor's review, and lateness."""
    said = list(o["notes"]) if o else []
    said += [f"flagged for review: {f}" for f in (o or {}).get("flags", [])]
    if g and g.get("late"):
        from .report import duration      # one way of writing a lateness, shared with the report
        penalty = g.get("penalty")
        said.append(f"late by {duration(g['late'])}" +
                    (f" (penalty {penalty:g})" if penalty else ""))
    return said


def report(outcome: dict) -> str:
    graded = scores()
    students = sorted({s for s, _ in outcome} | {s for s, _ in graded})
    names = sorted({a for _, a in outcome} | set(assignments()))
    width = max([len("student")] + [len(s) for s in students])
    head = f"{'student':<{width}}  " + "  ".join(f"{a:>10}" for a in names) + "  notes"
    lines = [head, "-" * len(head)]
    for s in students:
        row, notes = [], []
        for a in names:
            g, o = graded.get((s, a)), outcome.get((s, a))
            if g is None and o is None:
                row.append(f"{'-':>10}")
                continue
            said = summary_notes(o, g)
            if said:
                notes.append(f"{a}: " + "; ".join(said))
            score = g["score"] if g and (o is None or o["graded"]) else 0
            mx = g["max"] if g else 0
            row.append(f"{format(score, 'g') + '/' + format(mx, 'g'):>10}")
        lines.append(f"{s:<{width}}  " + "  ".join(row) + ("  " + " | ".join(notes) if notes else ""))
    return "\n".join(lines)


def released() -> set[str] | None:
    """The assignments released to learners through nbgrader's exchange (the folders in its
    ``<Exchange.root>/<course_id>/outbound/``, as ``nbgrader release_assignment`` makes them), or
    None where the class has no such folder (every assignment in course/ is the learners').

    The exchange is read from the nbgrader_config.py files nbgrader itself reads: those on the
    Jupyter configuration path (a hub sets it there), then the class's."""
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = Config()
    for folder in [*reversed(jupyter_config_path()), str(ROOT)]:
        if os.path.isfile(os.path.join(folder, "nbgrader_config.py")):
            config.merge(PyFileConfigLoader("nbgrader_config.py", path=folder).load_config())
    course = config.CourseDirectory.get("course_id")
    outbound = Path(config.Exchange.get("root", "/srv/nbgrader/exchange")) / str(course) / "outbound"
    if not course or not outbound.is_dir():
        return None
    return {p.name for p in outbound.iterdir() if p.is_dir()}


def write_grades_csv(outcome: dict, path: Path | None = None) -> None:
    """nbgrader's own CSV export (default: autograde/grades.csv), with a column of notes (why a
    submission was not graded, what was odd about it)."""
    from . import engine

    path = path or GRADING / "grades.csv"
    if engine.worker_running():      # nbgrader is imported there already: a fork, not a start
        proc = engine._run([["export", f"--to={path}"]], ROOT, 600, worker=True)
    else:
        proc = nbgrader("export", f"--to={path}", "--log-level=WARN")
    if proc.returncode:
        raise SystemExit(f"nbgrader export failed:\n{_tail(proc.stderr)}")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    fields = (list(rows[0].keys()) if rows else ["assignment", "student_id", "score"]) + ["notes"]
    have = {(r.get("student_id"), r.get("assignment")) for r in rows}
    for (s, a), o in outcome.items():
        if (s, a) not in have:
            rows.append({"assignment": a, "student_id": s, "score": "0"})
    graded = scores()
    shown = released()
    if shown is not None:
        # nbgrader exports a row for every learner and assignment of the gradebook: an
        # assignment not yet released through the exchange gets none, unless it was handed in
        rows = [r for r in rows if r.get("assignment") in shown
                or (r.get("student_id"), r.get("assignment")) in outcome.keys() | graded.keys()]
    for r in rows:
        key = (r.get("student_id"), r.get("assignment"))
        o = outcome.get(key)
        r["notes"] = "; ".join(summary_notes(o, graded.get(key)) + (o.get("info", []) if o else []))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in fields})


def run_autograde(workers: int = 1, scheduler: str | None = None) -> dict:
    from . import report as class_report

    outcome = autograde_all(workers, scheduler)
    if outcome:
        write_grades_csv(outcome)
        class_report.save_outcome(GRADING, outcome)
    table = report(outcome)
    (GRADING / "report.txt").write_text(table + "\n")
    print()
    print(table)
    print(f"\ngrades: {(GRADING / 'grades.csv').relative_to(ROOT)}   "
          f"feedback: {(GRADING / 'feedback').relative_to(ROOT)}/<student>/<assignment>/")
    write_class_report()
    return outcome


def write_class_report() -> Path:
    """autograde/report.html, its CSVs and grades_steps.csv (see attn_grade.report)."""
    from . import report as class_report

    path = class_report.write(GRADING, COURSE, db_url())
    print(f"class report: {path}  (open it in a browser; CSVs in "
          f"{(GRADING / 'report').relative_to(ROOT)}/, per-step grades in "
          f"{(GRADING / 'grades_steps.csv').relative_to(ROOT)})")
    return path


def check_samples(only: list[str] | None = None) -> list[str]:
    """Compare every sample's per-cell scores with what it must earn, and the mistakes the
    grader recorded for it (what the class report counts) with those its sample.json says it
    was written to make (``"mistakes": {assignment: {step: [Mistake.name, ...]}}``; a step not
    named there must show none); return the differences."""
    from . import report as class_report

    graded = scores()
    found = class_report.mistakes_by_submission(class_report.collect(GRADING, db_url()))
    diffs = []
    for student, spec in expected_samples().items():
        for a, cells in spec["scores"].items():
            if only and a not in only:
                continue
            g = graded.get((student, a))
            if g is None:
                diffs.append(f"{student}/{a}: not in the gradebook")
                continue
            for cell, pts in cells.items():
                got = g["cells"].get(cell)
                if got is None or abs(got - pts) > 1e-9:
                    diffs.append(f"{student}/{a}/{cell}: expected {pts}, got {got}")
            if "mistakes" not in spec:
                continue
            want = {st: sorted(set(n)) for st, n in spec["mistakes"].get(a, {}).items() if n}
            got = {st: n for st, n in found.get((student, a), {}).items() if n}
            for st in sorted(set(want) | set(got)):
                if want.get(st, []) != got.get(st, []):
                    diffs.append(f"{student}/{a}/{st}: expected mistakes {want.get(st, [])}, "
                                 f"the grader recorded {got.get(st, [])}")
    return diffs


def copy_class(dest: Path, only: list[str] | None = None, course: bool = False,
               samples: bool = True) -> Path:
    """A scratch class folder at ``dest``: nbgrader_config.py (with a gradebook of its own in
    ``dest/autograde``, whatever the class uses), solutions/ (only the assignments in ``only``,
    if given), the sample submissions' sources unless not ``samples`` and, with ``course``, the
    release; nothing graded. Commands then run in it with ``attn-grade --root dest`` (or from
    inside it)."""
    from .engine import SCRATCH_DB

    (dest / "autograde").mkdir(parents=True, exist_ok=True)
    for a in only or assignments():
        shutil.copytree(SOLUTIONS / a, dest / "solutions" / a)
        if course:
            shutil.copytree(COURSE / a, dest / "course" / a)
        for lang in EDITIONS:
            if (SOLUTIONS / lang / a).is_dir():
                shutil.copytree(SOLUTIONS / lang / a, dest / "solutions" / lang / a)
                if course and (COURSE / lang / a).is_dir():
                    shutil.copytree(COURSE / lang / a, dest / "course" / lang / a)
    (dest / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text() + SCRATCH_DB)
    if samples:
        shutil.copytree(SAMPLES, dest / "autograde" / "samples")
    return dest


def trial(only: list[str], grading_flags: list[str] | None = None, keep: Path | None = None) -> int:
    """Release, build the samples of, grade and check the given assignments in a scratch copy of
    the class (nothing here is touched): for chapter authors. ``grading_flags`` (``--workers``,
    ``--scheduler``, ``--cell-timeout`` as given to ``trial``) go to its autograde; with
    ``keep``, the scratch class is that new folder and stays, with its report, once done."""
    if keep is not None:
        keep = Path(keep).resolve()
        if keep.exists() and any(keep.iterdir()):
            raise SystemExit(f"--keep {keep}: the folder is not empty")
    with tempfile.TemporaryDirectory() as scratch:
        tmp = copy_class(keep or Path(scratch), only)
        script = [sys.executable, "-m", "attn_grade", "--root", str(tmp)]
        for cmd in (["release"], ["samples", *only], ["autograde", *(grading_flags or [])],
                    ["check-samples", *only]):
            proc = subprocess.run(script + cmd, cwd=tmp, text=True)
            if proc.returncode:
                return proc.returncode
        if keep is not None:
            print(f"the trial's class is kept in {tmp}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["release", "check-release", "samples", "autograde",
                                       "report", "check-samples", "store-outputs", "reset-demo",
                                       "trial", "settings"])
    p.add_argument("assignments", nargs="*", help="limit samples, check-samples, "
                   "store-outputs and trial to these assignments")
    p.add_argument("--workers", type=int, help="grade this many submissions at once (local Dask "
                   "cluster; 1 grades in this process); default: c.Grading.workers, else the CPU "
                   "count")
    p.add_argument("--scheduler", help="address of a Dask scheduler whose workers grade "
                   "(default: c.Grading.scheduler, else a local cluster)")
    p.add_argument("--cell-timeout", type=int, help="seconds each cell may run while grading "
                   "(default: c.Grading.cell_timeout, else c.ResilientExecute.timeout)")
    p.add_argument("--keep", type=Path, metavar="DIR", help="trial only: make the scratch class "
                   "in DIR (new or empty) and leave it there, to read its report and feedback")
    p.add_argument("--root", type=Path, help="the class folder (holding nbgrader_config.py, "
                   "solutions/, course/, autograde/); default: the working directory or the "
                   "nearest folder above it with nbgrader_config.py")
    p.epilog = ("Settings: c.Grading options in nbgrader_config.py (`attn-grade settings` lists "
                "them); these environment variables stand for them: " + ", ".join(ENVIRONMENT))
    args = p.parse_args(argv)
    global _SETTINGS
    if args.root:
        use_root(args.root)
    elif not Path.cwd().resolve().is_relative_to(ROOT):
        print(f"attn-grade: no nbgrader_config.py in {Path.cwd()} or above; working on the class "
              f"in the course checkout, {ROOT} (give --root or run in a class folder)",
              file=sys.stderr)
    # the one place the environment is read: over the class's configuration, under the flags
    _SETTINGS = load_settings(ROOT, os.environ)
    for flag in ("workers", "scheduler", "cell_timeout"):
        if getattr(args, flag) is not None:
            setattr(_SETTINGS, flag, getattr(args, flag))
    only = args.assignments or None
    if args.keep is not None and args.command != "trial":
        p.error("--keep is an option of trial")
    if args.command == "settings":
        print(describe())
        return 0
    if args.command == "release":
        release()
    elif args.command == "check-release":
        problems = check_release()
        print("\n".join(problems) or "course/ is exactly what nbgrader generates from solutions/")
        return 1 if problems else 0
    elif args.command == "samples":
        built = build_samples(only=only)
        print(f"built {len(built)} sample submissions in {SUBMITTED.relative_to(ROOT)}/")
    elif args.command == "autograde":
        run_autograde(_SETTINGS.workers or os.cpu_count() or 1, _SETTINGS.scheduler or None)
    elif args.command == "report":
        write_class_report()
    elif args.command == "trial":
        if not only:
            p.error("trial needs at least one assignment")
        flags = [f"--{flag.replace('_', '-')}={getattr(args, flag)}"
                 for flag in ("workers", "scheduler", "cell_timeout")
                 if getattr(args, flag) is not None]
        return trial(only, flags, args.keep)
    elif args.command == "reset-demo":
        reset_demo()
    elif args.command == "store-outputs":
        store_outputs(only)
    elif args.command == "check-samples":
        diffs = check_samples(only)
        print("\n".join(diffs) or "every sample submission earned exactly its expected score "
              "and made exactly its declared mistakes")
        return 1 if diffs else 0
    return 0
