"""The class report: what a graded class got wrong, at a glance, in one static HTML page.

    attn-grade report        # also written at the end of `attn-grade autograde`

reads only what grading left on the grader's side:

* the class gradebook (scores per step, timestamps, lateness, penalties);
* the autograded notebooks, whose test cells carry the verdicts in structured form in their
  metadata (``attn_grading``, written by attn_grade.nbgrader_plugin in the grader's
  process after the learner's kernel has stopped, the key cleared first): the checks' catalogued
  mistakes (``Mistake.name``) each step's results matched;
* ``autograde/grading.json``, the engine's notes per submission (not graded, limits, flags),
  its grading time and, graded through a Dask scheduler, the worker that graded it;
* the learners' own answer cells (solution cells of the autograded notebooks), for similarity.

and writes ``autograde/report.html`` (matplotlib figures embedded as PNG, opened from the file,
no server), ``autograde/report/*.csv`` (the same numbers for a spreadsheet),
``autograde/report/examples/`` (one anonymised feedback file per named mistake) and
``autograde/grades_steps.csv`` (one row per learner and step, beside nbgrader's own
``grades.csv``). Similarity is listed for the instructor to judge; nothing is acted on.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import json
import re
import shutil
import statistics
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from attn_ref.i18n import tr   # the page in the instructor's language (ATTN_COURSE_LANG)

METADATA_KEY = "attn_grading"          # attn_grade.nbgrader_plugin.METADATA_KEY
SIMILARITY_THRESHOLD = 0.8             # copydetect's share of one learner's tokens found in the other's
NOISE_K, GUARANTEE_T = 12, 20          # copydetect's defaults: k-gram length, winnowing guarantee
LIMIT_WORDS = ("time limit", "kernel stopped", "out of memory", "took longer", "over the")


@dataclass
class Submission:
    student: str
    assignment: str
    score: float = 0.0
    max: float = 0.0
    steps: dict = field(default_factory=dict)       # step -> (score, max)
    notebook_of: dict = field(default_factory=dict)  # step -> notebook name
    mistakes: dict = field(default_factory=dict)    # step -> [(check, mistake name)]
    failed: dict = field(default_factory=dict)      # step -> [check] that failed
    graded: bool = True
    notes: list = field(default_factory=list)
    flags: list = field(default_factory=list)
    seconds: float | None = None
    timestamp: str | None = None
    late: float = 0.0
    penalty: float | None = None


# ----- reading what grading left ----------------------------------------------------------------
def verdicts_of(notebook: Path) -> dict[str, list[dict]]:
    """Test cell grade_id -> the checks' structured verdicts stored by the grader in the
    autograded notebook ``notebook``."""
    import nbformat

    out = {}
    for cell in nbformat.read(notebook, as_version=4).cells:
        meta = cell.get("metadata", {})
        nbg = meta.get("nbgrader", {})
        gid = nbg.get("grade_id")
        if gid and nbg.get("grade") and not nbg.get("solution") and METADATA_KEY in meta:
            out[gid] = meta[METADATA_KEY].get("checks", [])
    return out


def collect(grading: Path, db_url: str) -> dict[tuple[str, str], Submission]:
    """(student, assignment) -> Submission, from the gradebook, grading.json and the autograded
    notebooks under ``grading`` (autograde/)."""
    from nbgrader.api import Gradebook

    subs: dict[tuple[str, str], Submission] = {}
    with Gradebook(db_url) as gb:
        for a in gb.assignments:
            for sub in a.submissions:
                s = Submission(sub.student.id, a.name, max=float(sub.max_score))
                s.score = max(0.0, float(sub.score) - float(sub.late_submission_penalty or 0.0))
                for nb in sub.notebooks:
                    for g in nb.grades:
                        s.steps[g.name] = (float(g.score), float(g.max_score))
                        s.notebook_of[g.name] = nb.name
                s.late = float(sub.total_seconds_late or 0.0)
                s.penalty = sub.late_submission_penalty
                s.timestamp = sub.timestamp.isoformat() if sub.timestamp else None
                subs[(s.student, s.assignment)] = s
    outcome = load_outcome(grading)
    for key, o in outcome.items():
        s = subs.setdefault(key, Submission(*key))
        s.graded = bool(o.get("graded"))
        s.notes = list(o.get("notes", []))
        s.flags = list(o.get("flags", []))
        s.seconds = o.get("seconds")
        if not s.graded:
            s.score = 0.0
    for (student, a), s in subs.items():
        folder = grading / "autograded" / student / a
        for path in sorted(folder.glob("*.ipynb")) if folder.exists() else []:
            for step, checks in verdicts_of(path).items():
                for c in checks:
                    if not c.get("passed"):
                        s.failed.setdefault(step, []).append(c.get("check", ""))
                    for name in c.get("mistakes", []):
                        s.mistakes.setdefault(step, []).append((c.get("check", ""), name))
    return subs


def outcome_file(grading: Path) -> Path:
    return grading / "grading.json"


def load_outcome(grading: Path) -> dict[tuple[str, str], dict]:
    path = outcome_file(grading)
    if not path.exists():
        return {}
    return {tuple(k.split("/", 1)): v for k, v in json.loads(path.read_text()).items()}


def save_outcome(grading: Path, outcome: dict) -> None:
    """Keep the engine's notes and times of each graded submission (merged with earlier runs),
    so that the report can be written again later without grading."""
    known = {f"{s}/{a}": v for (s, a), v in load_outcome(grading).items()}
    for (s, a), o in outcome.items():
        known[f"{s}/{a}"] = {k: o.get(k) for k in ("graded", "notes", "flags", "seconds", "info",
                                                   "worker")}
    outcome_file(grading).write_text(json.dumps(known, indent=1, sort_keys=True) + "\n")


def mistakes_by_submission(subs) -> dict[tuple[str, str], dict[str, list[str]]]:
    """(student, assignment) -> step -> sorted names of the mistakes matched there."""
    return {key: {step: sorted({n for _, n in found}) for step, found in s.mistakes.items()}
            for key, s in subs.items()}


def hints() -> dict[tuple[str, str], str]:
    """(check id, mistake name) -> its hint, from the registry of checks."""
    from attn_ref.grading import all_checks

    out = {}
    for cid, check in all_checks().items():
        for m in check.mistakes():
            out.setdefault((cid, m.name), m.hint)
    return out


# ----- similarity ---------------------------------------------------------------------------------
def answer_cells(notebook: Path) -> str:
    """The learner's own answer cells of a notebook (its nbgrader solution cells), as one text."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    return "\n\n".join(c.source for c in nb.cells if c.get("cell_type") == "code"
                       and c.get("metadata", {}).get("nbgrader", {}).get("solution"))


def similar_pairs(grading: Path, course: Path, subs, threshold: float = SIMILARITY_THRESHOLD):
    """Pairs of one assignment's submissions whose answer cells overlap by at least
    ``threshold`` of either one's tokens (copydetect's winnowed fingerprints), with the released
    stubs as boilerplate. Returns [(assignment, a, b, sim_a, sim_b, tokens)], most similar first."""
    import numpy as np
    from copydetect import CodeFingerprint, compare_files

    pairs = []
    by_assignment = defaultdict(list)
    for (student, a), s in subs.items():
        if (grading / "autograded" / student / a).exists():
            by_assignment[a].append(student)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for a, students in sorted(by_assignment.items()):
            stub = tmp / f"{a}-stub.py"
            stub.write_text("\n\n".join(answer_cells(p) for p in sorted((course / a).glob("*.ipynb"))))
            boiler = np.unique(np.array(sorted(CodeFingerprint(str(stub), NOISE_K, 1).hashes)))
            prints = {}
            for student in sorted(students):
                text = "\n\n".join(answer_cells(p) for p in
                                   sorted((grading / "autograded" / student / a).glob("*.ipynb")))
                path = tmp / f"{a}-{len(prints)}.py"
                path.write_text(text)
                fp = CodeFingerprint(str(path), NOISE_K, GUARANTEE_T - NOISE_K + 1, boiler)
                if fp.token_coverage > 0 and len(fp.hashes):
                    prints[student] = fp
            names = sorted(prints)
            for i, x in enumerate(names):
                for y in names[i + 1:]:
                    tokens, (sx, sy), _ = compare_files(prints[x], prints[y])
                    if max(sx, sy) >= threshold:
                        pairs.append((a, x, y, float(sx), float(sy), int(tokens)))
    return sorted(pairs, key=lambda p: (-max(p[3], p[4]), p[0], p[1], p[2]))


def similarity_groups(pairs) -> list[tuple[str, list[str], float, float, int]]:
    """The pairs joined into groups (connected pairs of one assignment): a class in which many
    learners hand in the same correct answer gives one line, not every pair of them. Returns
    [(assignment, members, lowest share, highest share, pairs)], largest groups first."""
    groups = []
    for a in sorted({p[0] for p in pairs}):
        parent = {}

        def root(s):
            while parent.setdefault(s, s) != s:
                s = parent[s]
            return s
        mine = [p for p in pairs if p[0] == a]
        for _, x, y, *_ in mine:
            parent[root(x)] = root(y)
        members = defaultdict(list)
        for s in list(parent):
            members[root(s)].append(s)
        for group in members.values():
            inside = [p for p in mine if p[1] in group]
            shares = [max(p[3], p[4]) for p in inside]
            groups.append((a, sorted(group), min(shares), max(shares), len(inside)))
    return sorted(groups, key=lambda g: (g[0], -len(g[1]), g[1]))


# ----- figures ------------------------------------------------------------------------------------
def _png(fig) -> str:
    import matplotlib.pyplot as plt

    from attn_ref.i18n.figures import translate

    translate(fig)                     # its texts in the instructor's language, as the page's
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(png: str, alt: str) -> str:
    return f'<img class="figure" alt="{html.escape(tr(alt))}" src="data:image/png;base64,{png}">'


def figure_scores(by_assignment) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    names = sorted(by_assignment)
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax, a in zip(axes.flat, names):
        subs = by_assignment[a]
        mx = max((s.max for s in subs), default=0) or 1
        ax.hist([s.score for s in subs], bins=min(20, int(mx) + 1), range=(0, mx),
                color="#4477aa", edgecolor="white")
        ax.set_title(f"{a} ({len(subs)} submissions)", fontsize=9)
        ax.set_xlabel(f"score (of {mx:g})", fontsize=8)
        ax.set_ylabel("learners", fontsize=8)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return _png(fig)


def figure_steps(a: str, subs) -> str:
    import matplotlib.pyplot as plt

    steps = sorted({st for s in subs for st in s.steps}, key=lambda st: _step_order(subs, st))
    full = [sum(1 for s in subs if st in s.steps and s.steps[st][0] >= s.steps[st][1] > 0)
            for st in steps]
    zero = [sum(1 for s in subs if st in s.steps and s.steps[st][0] <= 0) for st in steps]
    part = [sum(1 for s in subs if st in s.steps) - f - z for st, f, z in zip(steps, full, zero)]
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * len(steps) + 1.0))
    y = range(len(steps))
    ax.barh(y, full, color="#228833", label="full points")
    ax.barh(y, part, left=full, color="#ccbb44", label="part")
    ax.barh(y, zero, left=[f + p for f, p in zip(full, part)], color="#ee6677", label="none")
    ax.set_yticks(list(y), steps, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("learners", fontsize=8)
    ax.set_title(f"{a}: points per step", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _png(fig)


def figure_mistakes(a: str, counts: dict) -> str:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    items = sorted(counts.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    # a step may hold several checks that name the same mistake: the check tells them apart
    labels = [f"{step} ({check}): {name}" for (step, check, name), _ in items]
    fig, ax = plt.subplots(figsize=(6.5, 0.3 * len(items) + 1.0))
    ax.barh(range(len(items)), [len(v) for _, v in items], color="#aa3377")
    ax.set_yticks(range(len(items)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))          # counts of learners
    ax.set_xlabel("learners", fontsize=8)
    ax.set_title(f"{a}: named mistakes", fontsize=9)
    fig.tight_layout()
    return _png(fig)


def figure_times(subs) -> str:
    import matplotlib.pyplot as plt

    secs = [s.seconds for s in subs if s.seconds is not None]
    fig, ax = plt.subplots(figsize=(6.5, 2.4))
    ax.hist(secs, bins=30, color="#66ccee", edgecolor="white")
    ax.set_xlabel("seconds to grade one submission", fontsize=8)
    ax.set_ylabel("submissions", fontsize=8)
    ax.set_title(f"grading time ({len(secs)} submissions, {sum(secs):.0f} s in all)", fontsize=9)
    fig.tight_layout()
    return _png(fig)


def _step_order(subs, step):
    """Steps in notebook order where known (the order of grade cells in the gradebook)."""
    for s in subs:
        if step in s.steps:
            return list(s.steps).index(step), step
    return 10**6, step


# ----- the report ---------------------------------------------------------------------------------
def _table(head: list[str], rows: list[list], raw: set[int] = frozenset()) -> str:
    out = ["<table><tr>" + "".join(f"<th>{html.escape(tr(h))}</th>" for h in head) + "</tr>"]
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{v if i in raw else html.escape(str(v))}</td>"
                                    for i, v in enumerate(r)) + "</tr>")
    return "\n".join(out) + "</table>"


def duration(seconds: float) -> str:
    """A lateness as "1 d 16 h 30 min" (whole minutes), or "N s" under a minute."""
    d, rest = divmod(int(seconds), 86400)
    h, rest = divmod(rest, 3600)
    return " ".join(f"{v} {u}" for v, u in ((d, "d"), (h, "h"), (rest // 60, "min")) if v) or \
        f"{int(seconds)} s"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "x"


def _write_csv(path: Path, head: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(head)
        w.writerows(rows)


def anonymised_example(grading: Path, s: Submission, step: str, dest: Path) -> str | None:
    """Copy the feedback of ``s``'s notebook holding ``step`` to ``dest`` with the learner's id
    replaced; return its path relative to autograde/ (None if there is no feedback)."""
    nb = s.notebook_of.get(step)
    src = grading / "feedback" / s.student / s.assignment / f"{nb}.html"
    if not src.exists():
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(re.sub(re.escape(s.student), "a-learner", src.read_text(errors="replace")))
    return str(dest.relative_to(grading))


def write(grading: Path, course: Path, db_url: str, threshold: float = SIMILARITY_THRESHOLD) -> Path:
    """Write the report, its CSVs and examples under ``grading``; return the HTML page's path."""
    subs = collect(grading, db_url)
    out = grading / "report"
    shutil.rmtree(out, ignore_errors=True)
    (out / "examples").mkdir(parents=True)
    by_assignment = defaultdict(list)
    for key in sorted(subs):
        by_assignment[key[1]].append(subs[key])
    known_hints = hints()

    # per learner and step: the LMS's per-step CSV, beside nbgrader's grades.csv
    _write_csv(grading / "grades_steps.csv",
               ["assignment", "student_id", "notebook", "step", "score", "max_score"],
               [[s.assignment, s.student, s.notebook_of.get(st, ""), st, f"{sc:g}", f"{mx:g}"]
                for key, s in sorted(subs.items()) for st, (sc, mx) in s.steps.items()])
    _write_csv(out / "submissions.csv",
               ["assignment", "student_id", "score", "max_score", "graded", "timestamp",
                "seconds_late", "late_penalty", "grading_seconds", "notes"],
               [[s.assignment, s.student, f"{s.score:g}", f"{s.max:g}", int(s.graded),
                 s.timestamp or "", f"{s.late:g}", "" if s.penalty is None else f"{s.penalty:g}",
                 "" if s.seconds is None else f"{s.seconds:.1f}",
                 "; ".join(s.notes + [f"flagged for review: {f}" for f in s.flags])]
                for _, s in sorted(subs.items(), key=lambda kv: (kv[0][1], kv[0][0]))])

    # steps and mistakes
    step_rows, mistake_rows = [], []
    mistakes = {}                # assignment -> (step, check, name) -> [students]
    for a, group in sorted(by_assignment.items()):
        steps = sorted({st for s in group for st in s.steps}, key=lambda st: _step_order(group, st))
        for st in steps:
            have = [s for s in group if st in s.steps]
            pts = [s.steps[st][0] for s in have]
            mx = max(s.steps[st][1] for s in have)
            unnamed = sum(1 for s in have if st in s.failed and st not in s.mistakes)
            step_rows.append([a, st, f"{mx:g}", len(have), f"{statistics.mean(pts):.2f}",
                              sum(p >= mx > 0 for p in pts), sum(p <= 0 for p in pts), unnamed])
        counts = defaultdict(list)
        for s in group:
            for st, found in s.mistakes.items():
                for check, name in sorted(set(found)):
                    counts[(st, check, name)].append(s.student)
        mistakes[a] = counts
        for (st, check, name), who in sorted(counts.items(), key=lambda kv: (kv[0][0], -len(kv[1]))):
            example = anonymised_example(grading, subs[(who[0], a)], st,
                                         out / "examples" / f"{_slug(a)}-{_slug(st)}-{_slug(name)}.html")
            mistake_rows.append([a, st, check, name, known_hints.get((check, name), ""), len(who),
                                 " ".join(sorted(who)), example or ""])
    _write_csv(out / "steps.csv", ["assignment", "step", "max_score", "learners", "mean_score",
                                   "full_points", "no_points", "failed_without_named_mistake"],
               step_rows)
    _write_csv(out / "mistakes.csv", ["assignment", "step", "check", "mistake", "hint", "learners",
                                      "student_ids", "example_feedback"], mistake_rows)

    not_graded = [s for s in subs.values() if not s.graded or s.flags or any(
        w in n for n in s.notes for w in LIMIT_WORDS)]
    late = [s for s in subs.values() if s.late > 0]
    pairs = similar_pairs(grading, course, subs, threshold)
    _write_csv(out / "similarity.csv", ["assignment", "student_a", "student_b", "share_of_a",
                                        "share_of_b", "shared_tokens", "score_a", "score_b"],
               [[a, x, y, f"{sx:.3f}", f"{sy:.3f}", t, f"{subs[(x, a)].score:g}",
                 f"{subs[(y, a)].score:g}"] for a, x, y, sx, sy, t in pairs])

    # the page
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    secs = [s.seconds for s in subs.values() if s.seconds is not None]
    links = ", ".join(f'<a href="report/{n}">{n}</a>' for n in
                      ("submissions.csv", "steps.csv", "mistakes.csv", "similarity.csv"))
    parts = [f"<h1>{tr('Class report')}</h1><p>"
             + tr(f"Written {now} from the class gradebook and the autograded notebooks: "
                  f"{len(subs)} submissions of {len({k[0] for k in subs})} learners in "
                  f"{len(by_assignment)} assignments. The same numbers for a spreadsheet: "
                  f'{links}, and per learner and step <a href="grades_steps.csv">grades_steps.csv'
                  '</a> (nbgrader\'s own export: <a href="grades.csv">grades.csv</a>).')
             + "</p>"]
    parts.append(f"<h2 id='scores'>{tr('Scores')}</h2>")
    if by_assignment:
        parts.append(_img(figure_scores(by_assignment), "score distribution per assignment"))
    parts.append(_table(["assignment", "submissions", "mean", "median", "full marks", "of"],
                        [[a, len(g), f"{statistics.mean(s.score for s in g):.2f}",
                          f"{statistics.median(s.score for s in g):g}",
                          sum(s.score >= s.max > 0 for s in g), f"{max(s.max for s in g):g}"]
                         for a, g in sorted(by_assignment.items())]))
    parts.append(f"<h2 id='steps'>{tr('Steps and their named mistakes')}</h2><p>"
                 + tr("A named mistake is one of the hidden check's catalogued mistakes whose "
                      "results the learner's code returned on every hidden case, failed or "
                      "passed, as the grader recorded it (the feedback's <code>hint:</code> lines "
                      "name the closest mistake case by case). Each links to one learner's "
                      "feedback with the learner's id removed.") + "</p>")
    for a, group in sorted(by_assignment.items()):
        parts.append(f"<h3>{html.escape(a)}</h3>")
        parts.append(_img(figure_steps(a, group), f"{a}: points per step"))
        if mistakes[a]:
            parts.append(_img(figure_mistakes(a, mistakes[a]), f"{a}: named mistakes"))
        rows = [r for r in mistake_rows if r[0] == a]
        parts.append(_table(["step", "check", "mistake", "hint", "learners", "example"],
                            [[html.escape(r[1]), html.escape(r[2]), html.escape(r[3]),
                              html.escape(tr(r[4])), r[5],
                              f'<a href="{html.escape(r[7])}">{tr("feedback")}</a>' if r[7] else ""]
                             for r in rows], raw={0, 1, 2, 3, 5}) if rows else
                     f"<p>{tr('No named mistakes.')}</p>")
        srows = [r for r in step_rows if r[0] == a]
        parts.append(_table(["step", "points", "learners", "mean", "full", "none",
                             "failed, no named mistake"], [r[1:] for r in srows]))
    parts.append(f"<h2 id='problems'>{tr('Not graded, limits hit, flagged for review')}</h2>")
    parts.append(_table(["student", "assignment", "graded", "notes"],
                        [[s.student, s.assignment, tr("yes" if s.graded else "no"),
                          "; ".join([tr(n) for n in s.notes]
                                    + [tr(f"flagged for review: {f}") for f in s.flags])]
                         for s in sorted(not_graded, key=lambda s: (s.assignment, s.student))])
                 if not_graded else f"<p>{tr('None.')}</p>")
    parts.append(f"<h2 id='late'>{tr('Late work')}</h2>")
    parts.append(_table(["student", "assignment", "handed in", "late by", "penalty"],
                        [[s.student, s.assignment, s.timestamp or "", duration(s.late),
                          "" if s.penalty is None else f"{s.penalty:g}"]
                         for s in sorted(late, key=lambda s: (s.assignment, s.student))])
                 if late else f"<p>{tr('None.')}</p>")
    parts.append(f"<h2 id='time'>{tr('Grading time')}</h2>")
    if secs:
        parts.append(_img(figure_times(list(subs.values())), "grading time per submission"))
        slow = sorted((s for s in subs.values() if s.seconds is not None),
                      key=lambda s: -s.seconds)[:10]
        parts.append(f"<p>{tr('The slowest:')}</p>" + _table(
            ["student", "assignment", "seconds"],
            [[s.student, s.assignment, f"{s.seconds:.1f}"] for s in slow]))
    else:
        parts.append(f"<p>{tr('No grading times recorded (autograde/grading.json is missing).')}</p>")
    parts.append(f"<h2 id='similarity'>{tr('Similar answers')}</h2><p>"
                 + tr(f"Pairs of submissions of one assignment whose answer cells (the learners' "
                      f"own solution cells; the released stubs ignored) share at least "
                      f"{threshold:.0%} of either one's code, by copydetect's fingerprints. "
                      f"Correct answers to short exercises are often alike; this list is for the "
                      f"instructor to judge, and grading ignores it.") + "</p>")
    groups = similarity_groups(pairs)
    parts.append("<p>" + tr(f"{len(pairs)} pairs in {len(groups)} groups (learners joined by a "
                            "pair); every pair is in <a href='report/similarity.csv'>"
                            "similarity.csv</a>.") + "</p>")
    parts.append(_table(["assignment", "learners (score)", "pairs", "share of the more similar "
                         "side, lowest to highest"],
                        [[a, ", ".join(f"{s} ({subs[(s, a)].score:g})" for s in members), n,
                          tr(f"{lo:.0%} to {hi:.0%}")] for a, members, lo, hi, n in groups])
                 if pairs else f"<p>{tr('None above the threshold.')}</p>")
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>" + tr("Class report") + "</title><style>"
            "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
            "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;"
            "padding:2px 6px;font-size:90%;text-align:left;vertical-align:top}"
            "img.figure{display:block;max-width:100%;margin:.5em 0}</style></head><body>"
            + "\n".join(parts) + "</body></html>\n")
    path = grading / "report.html"
    path.write_text(page)
    return path
