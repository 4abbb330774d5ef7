"""attn_grade: the instructor's grading system for attention-course, one module per phase.

A learner's kernel never imports this package. What a kernel needs (the in-kernel collector
``attn_ref.grading.grade``, the visible-test helpers, the chapters' hidden cases and the catalogue
of mistakes their hints come from) is in ``attn_ref.grading``. Everything that releases, isolates,
runs nbgrader, judges, schedules and writes gradebooks is here:

=====================  ===================================================================
phase                  module
=====================  ===================================================================
command line           :mod:`attn_grade.pipeline` (``attn-grade``, ``python -m attn_grade``)
release                :mod:`attn_grade.pipeline` (``nbgrader generate_assignment``) and the
                       release preprocessor :class:`attn_grade.nbgrader_plugin.RunAllPastErrors`
preflight, reconcile   :func:`attn_grade.engine.preflight`, :mod:`attn_grade.reconcile`
isolate                :mod:`attn_grade.sandbox` (namespaces), limits in :mod:`attn_grade.engine`
run nbgrader           :mod:`attn_grade.nbgrader_run` (autograde + generate_feedback, one Python)
judge                  :class:`attn_grade.nbgrader_plugin.OutOfKernelVerdict` (outside the kernel)
schedule               :func:`attn_grade.engine.run` (in-process, local or remote Dask)
write                  :func:`attn_grade.engine.merge` (class gradebook), :mod:`attn_grade.report`
sample class           :mod:`attn_grade.edits` (the catalogue's edited notebooks)
class hub exchange     :mod:`attn_grade.exchange` (every edition released, each learner's
                       fetched in the language of their JupyterLab)
=====================  ===================================================================

The sample submissions (``autograde/samples/``) and everything grading writes (nbgrader's
``autograde/submitted``, ``autograded``, ``feedback``, the gradebook and the report) are data of
the class folder, beside this package, never inside it.
"""
