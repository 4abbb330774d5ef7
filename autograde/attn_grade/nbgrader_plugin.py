"""nbgrader preprocessor that sets each autograded test cell's outcome from outside the kernel.

Stock nbgrader scores a test cell by whether it raised in the learner's kernel, which the
learner's own code can fake. :class:`OutOfKernelVerdict` runs after ``Execute`` in the grader's
process. For every autograded test cell it reads the hidden-check ids from the cell's source *as
stored in the gradebook* (the learner cannot edit it), takes the results the kernel sent for each
id, judges them with :func:`attn_ref.grading.verify`, and rewrites the cell's outputs so that
nbgrader's own scoring gives full points exactly when every hidden check passed:

* passed: the learner's stdout lines, then one line per check;
* failed: an error output naming what differs (nbgrader gives zero).

A test cell that calls no hidden check cannot be graded this way; it is scored zero with a
message for the instructor, so a chapter that forgets its hidden check shows at once.

Each autograded test cell also gets the verdicts in structured form, in its metadata under
:data:`METADATA_KEY` (``{"checks": [{"check", "passed", "mistakes"}], "refused"}``), where the
class report (attn_grade.report) reads which catalogued mistakes (``Mistake.name``) the
learner's results matched. The key is removed from every cell first, so what the autograded
notebook holds there was written here, never by the learner.

The outputs are written in the language of the notebook's edition (its ``attn_course.language``
metadata, which the learner's copy keeps from the release; :mod:`attn_ref.i18n`), English by
default.
"""
from __future__ import annotations

import re

from nbconvert.preprocessors import Preprocessor
from nbformat.notebooknode import NotebookNode, from_dict
from traitlets import Bool

from attn_ref.grading.core import MIME, Verdict, verify
from attn_ref.i18n import notebook_language, tr
from attn_ref.grading.registry import get_check

METADATA_KEY = "attn_grading"
CHECK_CALL = re.compile(r"""\bgrade\(\s*["']([\w.\-]+)["']""")


def check_ids(source: str) -> list[str]:
    """Hidden-check ids called by a test cell's source, in order."""
    return CHECK_CALL.findall(source)


def _is_autograded_test(cell) -> bool:
    nb = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and nb.get("grade") and not nb.get("solution")


# Learner code has no business naming the reference package or reaching into the grader's
# objects. This catches the plain ways of doing it (calling attn_ref's modules instead of writing
# them, patching a check to return its own expected values); it is a tripwire, not a sandbox.
FORBIDDEN = re.compile(r"\battn_ref\b|__globals__|\bsys\.modules\b|\bimportlib\b|__import__|"
                       r"\bget_check\b|\bgc\.get_objects\b|\bgc\.get_referrers\b")


def _learners_lines(source: str, course_lines: set[str]) -> str:
    """A code cell's source without comments and without the lines it shares with the course's
    own locked cells: the course's set-up and read-only cells use attn_ref, and a learner whose
    editor duplicated, merged or lost the metadata of such a cell must not trip the wire."""
    return "\n".join(line.split("#", 1)[0] for line in source.splitlines()
                     if line.strip() not in course_lines)


class OutOfKernelVerdict(Preprocessor):
    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        self._lang = notebook_language(nb)
        sources, course_lines = self._locked_sources(resources)
        tripped = None
        for cell in nb.cells:                 # only the grader writes this key
            cell.get("metadata", {}).pop(METADATA_KEY, None)
        for index, cell in enumerate(nb.cells):
            if cell.get("cell_type") == "code" and tripped is None:
                m = FORBIDDEN.search(_learners_lines(cell.get("source", ""), course_lines))
                if m:
                    tripped = (index, m.group(0))
            if _is_autograded_test(cell):
                grade_id = cell.metadata.nbgrader.get("grade_id")
                source = sources.get(grade_id, cell.get("source", ""))
                if tripped:
                    self._refuse(cell, *tripped, lang=self._lang)
                else:
                    self._judge(cell, grade_id, source)
        return nb, resources

    @staticmethod
    def _refuse(cell, index, word, lang="en") -> None:
        text = tr(f"Not graded: cell {index + 1} of your notebook uses {word!r}. Your own cells may "
                "not use attn_ref (the course's reference package) or reach into the grader; "
                "every step after that cell scores zero. Ask your instructor if this is a "
                "mistake.", lang)
        cell.outputs = [from_dict({"output_type": "error", "ename": "NotGraded",
                                   "evalue": text, "traceback": [text]})]
        cell.metadata[METADATA_KEY] = {"checks": [], "refused": word}

    def _locked_sources(self, resources) -> tuple[dict[str, str], set[str]]:
        """(grade_id -> source as stored in the gradebook at generate_assignment time, the lines
        of the course's locked cells)."""
        info = resources.get("nbgrader", {}) if resources else {}
        if not info.get("db_url"):
            return {}, set()
        from nbgrader.api import Gradebook

        with Gradebook(info["db_url"]) as gb:
            notebook = gb.find_notebook(info["notebook"], info["assignment"])
            cells = notebook.source_cells
            return ({c.name: c.source for c in cells},
                    {line.strip() for c in cells if c.locked for line in c.source.splitlines()})

    def _judge(self, cell, grade_id, source) -> None:
        def t(text: str) -> str:
            return tr(text, getattr(self, "_lang", "en"))

        ids = check_ids(source)
        payloads: dict[str, list] = {}
        kept, kernel_errors = [], []
        for out in cell.get("outputs", []):
            data = out.get("data", {}) if out.get("output_type") in ("display_data",
                                                                       "execute_result") else {}
            if MIME in data:
                p = data[MIME]
                if isinstance(p, dict) and isinstance(p.get("check"), str):
                    payloads.setdefault(p["check"], []).append(p)
                continue
            if out.get("output_type") == "error":
                kernel_errors.append(f"{out.get('ename', 'Error')}: {out.get('evalue', '')}")
                continue
            if out.get("output_type") == "stream" and out.get("name") == "stdout":
                kept.append(out)
        verdicts: list[Verdict] = []
        if not ids:
            verdicts.append(Verdict("", False, [f"Test cell {grade_id!r} calls no hidden check, so "
                                                "it cannot be graded outside the kernel "
                                                "(a course bug: tell your instructor)."]))
        for cid in ids:
            got = payloads.get(cid, [])
            if not got:
                why = (f" The cell stopped with {kernel_errors[0][:300]}" if kernel_errors
                       else "")
                verdicts.append(Verdict(cid, False, [f"{get_check(cid).title}: no results reached "
                                                     f"the grader.{why}"]))
                continue
            # every copy sent under this id must pass: a second, forged copy cannot help
            judged = [verify(get_check(cid), p) for p in got]
            failed = [v for v in judged if not v.passed]
            verdicts.append(failed[0] if failed else judged[0])
        cell.metadata[METADATA_KEY] = {"checks": [
            {"check": v.check_id, "passed": v.passed, "mistakes": list(v.mistakes)}
            for v in verdicts], "refused": None}
        passed = all(v.passed for v in verdicts)
        right = sum(v.passed for v in verdicts)
        if not passed and right and len(verdicts) > 1:
            # a multi-value test cell: each value earns its share of the cell's points
            points = float(cell.metadata.nbgrader.get("points", 0))
            share = round(points * right / len(verdicts), 4)
            lines = []
            for v in verdicts:
                lines += [("✔ " if v.passed else "✘ ") + v.lines[0]] + v.lines[1:]
            lines.append(f"{right} of {len(verdicts)} values right: {share:g} of {points:g} points")
            kept.append(from_dict({"output_type": "stream", "name": "stdout",
                                   "text": t("\n".join(lines)) + "\n"}))
            kept.append(from_dict({"output_type": "execute_result", "execution_count": None,
                                   "metadata": {}, "data": {"text/plain": repr(share)}}))
        elif passed:
            text = "".join(f"✔ {v.lines[0]}\n" for v in verdicts)
            if kernel_errors:
                text += ("note: a visible test in this cell failed in your notebook "
                         f"({kernel_errors[0][:200]}). Visible tests use your earlier steps too; "
                         "this step's own code passed its hidden checks.\n")
            kept.append(from_dict({"output_type": "stream", "name": "stdout", "text": t(text)}))
        else:
            lines = []
            for v in verdicts:
                lines += [("✔ " if v.passed else "✘ ") + v.lines[0]] + v.lines[1:]
            kept.append(from_dict({"output_type": "error", "ename": "HiddenTestsFailed",
                                   "evalue": t(f"{sum(not v.passed for v in verdicts)} hidden "
                                               "check(s) failed"),
                                   "traceback": [t(ln) for ln in lines]}))
        cell.outputs = [o if isinstance(o, NotebookNode) else from_dict(o) for o in kept]


class GradedSummary(Preprocessor):
    """Autograde preprocessor, just before nbgrader saves the grades: the chapter's closing
    ``summary(...)`` cell (grade_id ``summary``) gets the grader's verdict in place of what the
    learner's kernel printed.

    In the learner's kernel ``summary`` reports the visible tests of this kernel session;
    in the grader's kernel nothing of that session exists, and the verdict is reached outside
    the kernel (:class:`OutOfKernelVerdict`), so what the kernel printed there ("not run",
    "0 of N points") would contradict the score at the head of the feedback. Each step's
    points come from nbgrader's own :func:`nbgrader.utils.determine_grade` on the test cell's
    final outputs, the rule SaveAutoGrades then applies, so the summary and the gradebook
    agree; a test cell that appears twice counts once, as in ``summary``."""

    enabled = Bool(True).tag(config=True)
    GRADE_ID = "summary"

    def preprocess(self, nb, resources):
        from nbgrader.utils import determine_grade

        target = [c for c in nb.cells if c.get("cell_type") == "code" and
                  c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == self.GRADE_ID]
        if not target:
            return nb, resources
        steps, seen = [], set()
        for cell in nb.cells:
            if not _is_autograded_test(cell):
                continue
            grade_id = cell.metadata.nbgrader.get("grade_id", "?")
            if grade_id in seen:
                continue
            seen.add(grade_id)
            score, most = determine_grade(cell, self.log)
            steps.append((grade_id.removeprefix("test_"), float(score or 0.0), float(most)))
        lang = notebook_language(nb)          # in the language of the notebook's edition
        width = max([len(step) for step, _, _ in steps] + [4])
        lines = [tr("Graded steps, as the grader scored them (hidden checks, run outside your "
                    "kernel, on your code as you handed it in):", lang)]
        for step, score, most in steps:
            mark = "✔" if score >= most else ("✘" if score <= 0 else "◐")
            lines.append(f"  {mark} {step:<{width}} "
                         + tr(f"{score:g} of {most:g} point{'s' if most != 1 else ''}", lang))
        got, total = sum(s for _, s, _ in steps), sum(m for _, _, m in steps)
        lines.append(tr(f"The grader gave {got:g} of {total:g} points for these steps (before any "
                        "late penalty or your instructor's review, which the score above "
                        "includes). Each step's test cell above shows what its hidden checks "
                        "found.", lang))
        for cell in target:
            cell.outputs = [from_dict({"output_type": "stream", "name": "stdout",
                                       "text": "\n".join(lines) + "\n"})]
        return nb, resources


def _resilient_execute():
    from nbclient.exceptions import DeadKernelError
    from nbgrader.preprocessors import Execute

    class ResilientExecute(Execute):
        """nbgrader's Execute, except that a kernel that dies (``os._exit``, a crash, the memory
        limit) ends the run instead of the grading: the cells run so far keep their outputs, so
        the steps before the crash are graded, and the cells after it are left unrun (their
        checks then find no results and score zero)."""

        def preprocess(self, nb, resources=None, km=None):
            self._dead = False
            self._lang = notebook_language(nb)
            return super().preprocess(nb, resources, km=km)

        def preprocess_cell(self, cell, resources, index):
            if self._dead:
                return cell, self.resources
            try:
                return super().preprocess_cell(cell, resources, index)
            except DeadKernelError:
                self._dead = True
                text = tr("The kernel stopped while running this cell (an exit, a crash or the "
                          "memory limit); the cells after it were not run.",
                          getattr(self, "_lang", "en"))
                cell.outputs.append(from_dict({"output_type": "error", "ename": "KernelDied",
                                               "evalue": text, "traceback": [text]}))
                return cell, self.resources

    return ResilientExecute


ResilientExecute = _resilient_execute()


class RunAllPastErrors(Preprocessor):
    """Release preprocessor: tag every code cell from the first solution cell on with
    ``raises-exception``, so that a learner's *Run All* in JupyterLab goes on past a stub's
    ``NotImplementedError`` (and the failing tests and demonstrations after it) to the end of
    the chapter, where the summary of the graded steps is.

    JupyterLab sends such a cell's code with ``stop_on_error: false``, so the kernel does not
    drop the cells queued after it when it raises. Only the released notebooks carry the tag: in
    ``solutions/`` every error still fails nbval. It changes nothing in grading, where nbgrader
    runs every cell whatever it raises, and a cell's output shows its error as before.
    """

    TAG = "raises-exception"
    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        started = False
        for cell in nb.cells:
            started = started or bool(cell.get("metadata", {}).get("nbgrader", {})
                                      .get("solution"))
            if started and cell.get("cell_type") == "code":
                tags = cell.metadata.setdefault("tags", [])
                if self.TAG not in tags:
                    tags.append(self.TAG)
        return nb, resources
