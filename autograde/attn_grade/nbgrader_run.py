"""Run several nbgrader commands in one Python process.

``python -m nbgrader autograde ...`` followed by ``python -m nbgrader generate_feedback ...``
starts Python, imports nbgrader (and, through our configuration, the out-of-kernel verdict and
PyTorch) twice for every submission. Grading runs both for each submission, so the second start
is pure overhead: about two seconds of CPU per submission, as much as the verdict itself costs.
Here the commands run one after the other in this process, each as a fresh nbgrader application
(the same class ``python -m nbgrader`` starts), stopping at the first that fails.

    python -m attn_grade.nbgrader_run [--zygote SOCKET --gradebook DB] \
        '[["autograde", "01_se", "--student", "s"], ...]'

The exit status is that of the first failing command (0 if all succeed), whose name stderr's
last line then gives (:data:`FAILED`, then the subcommand). Used by
attn_grade.engine, inside the grading sandbox or not, and by the grading worker's children.

``--zygote``: in the grading sandbox, before nbgrader runs anything, start the kernel zygote
(attn_grade.kernel_zygote) listening at SOCKET, its kernels seeing /dev/null over DB; the
commands then ask for the ``attn-sandbox-zygote`` kernelspec. If it cannot start, stderr says
why and the commands ask for the fresh ``attn-sandbox`` kernel instead.
"""
from __future__ import annotations

import json
import sys

FAILED = "attn-grade: this nbgrader command failed: "


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
                print(FAILED + str(argv[0]), file=sys.stderr, flush=True)
                return code
        except Exception:                          # raised past nbgrader's own handling
            print(FAILED + str(argv[0]), file=sys.stderr, flush=True)
            raise
        finally:                                   # the next command gets fresh applications
            sub = getattr(app, "subapp", None)
            if sub is not None:
                type(sub).clear_instance()
            NbGraderApp.clear_instance()
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m attn_grade.nbgrader_run", usage=__doc__)
    p.add_argument("--zygote", metavar="SOCKET", help="start the kernel zygote here first")
    p.add_argument("--gradebook", help="the scratch gradebook, hidden from forked kernels")
    p.add_argument("commands", help="JSON list of nbgrader argument lists")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    commands = json.loads(args.commands)
    zygote = _start_zygote(args.zygote, args.gradebook) if args.zygote else None
    if args.zygote and zygote is None:
        commands = _fresh_kernels(commands)
    try:
        return run(commands)
    finally:
        if zygote:
            from . import kernel_zygote

            kernel_zygote.stop(*zygote)


def _start_zygote(path: str, gradebook: str | None) -> tuple[int, int] | None:
    """The kernel zygote (attn_grade.kernel_zygote) listening at ``path``: (pid, lifeline), or
    None, with the reason on stderr, where it cannot start."""
    from . import kernel_zygote

    try:
        kernel_zygote.preload()
        return kernel_zygote.start(path, gradebook)
    except OSError as exc:
        print(f"kernel zygote not started ({exc}); kernels start fresh", file=sys.stderr)
        return None


def _fresh_kernels(commands: list[list[str]]) -> list[list[str]]:
    """``commands`` asking for the sandbox's fresh kernel where they asked for a forked one."""
    from .sandbox import KERNEL_NAME, ZYGOTE_KERNEL_NAME

    forked = f"--ResilientExecute.kernel_name={ZYGOTE_KERNEL_NAME}"
    return [[f"--ResilientExecute.kernel_name={KERNEL_NAME}" if a == forked else a for a in c]
            for c in commands]


if __name__ == "__main__":
    sys.exit(main())
