"""Run several nbgrader commands in one Python process.

``python -m nbgrader autograde ...`` followed by ``python -m nbgrader generate_feedback ...``
starts Python, imports nbgrader (and, through our configuration, the out-of-kernel verdict and
PyTorch) twice for every submission. Grading runs both for each submission, so the second start
is pure overhead: about two seconds of CPU per submission, as much as the verdict itself costs.
Here the commands run one after the other in this process, each as a fresh nbgrader application
(the same class ``python -m nbgrader`` starts), stopping at the first that fails.

    python -m attn_grade.nbgrader_run '[["autograde", "01_se", "--student", "s"], ...]'

The exit status is that of the first failing command (0 if all succeed). Used by
attn_grade.engine, inside the grading sandbox or not.
"""
from __future__ import annotations

import json
import sys


def run(commands: list[list[str]]) -> int:
    from jupyter_core.application import NoStart
    from nbgrader.apps.nbgraderapp import NbGraderApp

    for argv in commands:
        app = NbGraderApp()
        try:
            app.initialize(list(argv))
            app.start()
        except NoStart:                            # how a finished subcommand returns
            pass
        except SystemExit as exc:                  # nbgrader's apps exit on failure
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if code:
                return code
        finally:                                   # the next command gets fresh applications
            sub = getattr(app, "subapp", None)
            if sub is not None:
                type(sub).clear_instance()
            NbGraderApp.clear_instance()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    return run(json.loads(args[0]))


if __name__ == "__main__":
    sys.exit(main())
