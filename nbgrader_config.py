"""nbgrader configuration for attention-course (read by every `nbgrader` command run from here).

Layout: solutions/ is nbgrader's source directory, course/ its release directory, and everything
grading produces lives under autograde/.
"""
import os

from attn_grade.nbgrader_plugin import (GradedSummary, OutOfKernelVerdict, ResilientExecute,
                                        RunAllPastErrors)
from attn_grade.reconcile import ReconcileCells
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.converters import GenerateAssignment
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput,
                                    DeduplicateIds, IgnorePattern, LimitOutput,
                                    OverwriteCells, OverwriteKernelspec, SaveAutoGrades)

c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)
here = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.root = here
c.CourseDirectory.course_id = "attention-course"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "course"
c.CourseDirectory.submitted_directory = os.path.join("autograde", "submitted")
c.CourseDirectory.autograded_directory = os.path.join("autograde", "autograded")
c.CourseDirectory.feedback_directory = os.path.join("autograde", "feedback")
# The class gradebook. A class whose formgrader runs on a shared hub may use PostgreSQL instead:
# c.CourseDirectory.db_url = "postgresql+psycopg2://grader@dbhost/gradebook"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(here, "autograde", "gradebook.db")
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]

# Released notebooks: every cell that is not the learner's to write is locked. nbgrader locks
# test and read-only cells by default; lock_all_cells also locks the rest, which in this course
# is the instruction markdown (no deleting or editing it by accident). Solution cells stay
# editable (and undeletable).
c.LockCells.lock_all_cells = True
# ... and their code cells from the first exercise on are tagged `raises-exception`, so that
# JupyterLab's Run All goes past the stubs to the end of the chapter (RunAllPastErrors); the
# instructor's notebooks are not tagged, so nbval still fails on any error there.
c.GenerateAssignment.preprocessors = (
    GenerateAssignment.class_traits()["preprocessors"].default() + [RunAllPastErrors])

# Learner stubs fail only with NotImplementedError.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Grading: the notebook runs in a kernel as usual (a kernel that dies ends the run, not the
# grading), then OutOfKernelVerdict judges each test cell in this (the grader's) process from the
# results the kernel sent, before nbgrader scores it.
c.Autograde.autograde_preprocessors = [
    ResilientExecute,
    OutOfKernelVerdict,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    GradedSummary,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]
# Before anything runs, a handed-in notebook is put back into the shape of its release
# (attn_grade.reconcile): duplicated, deleted, moved, split, merged or retyped cells and
# lost metadata (Colab) no longer cost a correct learner points. It replaces nbgrader's
# add_missing_cells, which raises on several of these.
c.Autograde.sanitize_preprocessors = [
    ClearOutput,
    ReconcileCells,
    DeduplicateIds,
    OverwriteKernelspec,
    OverwriteCells,
    CheckCellMetadata,
]
c.OverwriteCells.add_missing_cells = False
# Late work: due dates live in the class gradebook (`nbgrader db assignment add 01_se
# --duedate="2026-12-01 17:00:00 UTC"`); submission times come from each submission's
# timestamp.txt (as `nbgrader collect` writes it). nbgrader's LateSubmissionPlugin decides the
# penalty: 'none' (the default: lateness is reported, not penalised) or 'zero'; a subclass set
# as c.AssignLatePenalties.plugin_class can do anything else.
c.LateSubmissionPlugin.penalty_method = "none"
c.ResilientExecute.timeout = 60           # seconds per cell (`attn-grade autograde --cell-timeout`)

# The grading system's own options (attn_grade.settings.Grading; `attn-grade settings` lists
# them with their help). The defaults:
# c.Grading.submission_timeout = 900      # seconds for one submission in all
# c.Grading.memory_limit_gb = 6.0         # address space of its processes
# c.Grading.max_notebook_mb = 50          # code and text, outputs dropped
# c.Grading.sandbox = True                # Linux namespaces where available
# c.Grading.workers = 0                   # local Dask cluster; 0: the CPU count
# c.Grading.scheduler = ""                # a Dask scheduler's address instead
