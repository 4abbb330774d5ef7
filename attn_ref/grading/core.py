"""The grading machinery shared by every chapter.

A *check* (``Check``) names one graded step of a chapter, for example ``"se.squeeze"``, or one
further value its test cell grades (``"se.param_count.conv4"``; see :attr:`Check.id` for the rule
that names them). It knows

* its hidden **cases**: inputs generated from fixed seeds with NumPy's own generator, so the
  learner's kernel and the grader build the same inputs independently;
* how to **run** a learner's object (function, class or value) on a case and turn what comes back
  into plain NumPy arrays (this half runs in the learner's kernel);
* the **expected** result of a case, computed with ``attn_ref`` (this half runs in the grader);
* the **mistakes** it can recognise, so a failure can say more than "wrong".

A test cell calls :func:`attn_ref.grading.grade`, which runs the learner's code on the cases and
sends the resulting arrays out of the kernel as a display output. The verdict that counts is
reached by :mod:`attn_grade.nbgrader_plugin` (the instructor's package) in the grader's own
process, which never runs learner code: it decodes the arrays (plain ``.npy`` bytes, never pickles), checks their types and
shapes, and compares them with expected values it computes itself. Whatever the learner's code
patches inside its kernel (``torch``, ``numpy``, ``attn_ref``, ``==``) can change only the arrays
it sends, and wrong arrays fail.
"""
from __future__ import annotations

import base64
import io
import itertools
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

MIME = "application/vnd.attn-course.grade+json"
PAYLOAD_VERSION = 1
MAX_ARRAY_BYTES = 64 * 2**20          # a single returned array larger than this is refused
MAX_OUTPUTS_PER_CASE = 16             # weight layouts tried per module case

# (rtol, atol) by the less precise of the input and output dtypes
TOLERANCES = {
    "float64": (1e-6, 1e-8),
    "float32": (1e-4, 1e-5),
    "float16": (2e-2, 1e-2),
    "bfloat16": (3e-2, 2e-2),
}


def case_rng(check_id: str, index: int) -> np.random.Generator:
    """The generator for case ``index`` of a check: a fixed seed derived from the check's id."""
    return np.random.default_rng([zlib.crc32(check_id.encode()), index])


@dataclass
class Case:
    """One hidden case: what the learner's object is called with, and how to describe it.

    ``args`` are positional inputs as NumPy arrays (or ``None``); ``kwargs`` are plain Python
    constructor arguments for module checks; ``params`` are the reference weights a module case
    loads into the learner's module; ``dtype`` is the torch dtype name the inputs are cast to.
    ``label`` describes the case in feedback without giving its values away.
    """
    label: str
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    dtype: str = "float64"


@dataclass
class Mistake:
    """A plausible mistake: ``compute(case)`` returns what code with that mistake would return.

    ``shown_by``: for a mistake its numbers cannot show (a Triton kernel without a mask on its
    last block returns the right values and writes past the end of its output), a phrase of the
    error the check's ``run`` raises where it sees the mistake directly; a case failing with that
    error agrees with the mistake."""
    name: str
    hint: str
    compute: Callable[[Case], np.ndarray]
    shown_by: str = ""


class Rejected(TypeError, ValueError):
    """Raised by a check itself, in the kernel, never by a learner's code: a result or module the
    check cannot use (a list where a tensor is asked for, a tensor of another dtype than the text
    asks, a pair of the wrong shapes, a module whose tensors have other shapes than the block
    needs). Its message says, in the learner's terms, what is wrong with their code's result or
    module; the feedback shows it as it is, where an error of the learner's own code reads
    "your code raised ..." (see :func:`error_line`)."""


class Refused(Rejected):
    """Raised by a check's ``run`` for a result it refuses (a pair of the wrong shapes, say) whose
    numbers can still show which catalogued mistake made it. The case fails with the message, as
    on any error; ``arrays`` travel with it and are compared with the mistakes only."""

    def __init__(self, message: str, arrays: list):
        super().__init__(message)
        self.arrays = arrays


class Raises(RuntimeError):
    """Raised by a mistake's ``compute`` on a case where code with that mistake raises (a
    convolution given maps it refuses, say) instead of being undefined there: numbers a learner
    returns on that case disagree with the mistake; a learner's error there counts neither way,
    as any error does."""


class Check:
    """Base class. Subclasses set ``step`` (and ``value`` for a further value of the step),
    ``title``, ``kind`` and implement ``cases``, ``expected`` and (for kinds other than the
    generic ones) ``run``."""

    step: str = ""                 # the grade_id of the step's solution cell
    value: str = ""                # a further value the step's test cell grades: its short name
    title: str = ""
    kind: str = "function"         # "function", "module" or "value"
    points_hint: str = ""          # where to look when the step fails
    substitutes: dict[str, Callable] = {}   # notebook names replaced by references while run
    axis_names: tuple | None = None          # how feedback names the result's axes

    @property
    def id(self) -> str:
        """The check's id, from the one name of its step: the check of step ``S`` (the grade_id
        of the solution cell, whose test cell is ``test_S``) of the chapter whose notebook is
        ``N.ipynb`` (its checks in ``checks_N.py``) is ``N.S``; a further value graded by the same
        test cell is ``N.S.<value>``. The test cell calls ``grade("N.S", ...)`` first, then each
        ``grade("N.S.<value>", ...)`` (``tests/test_step_names.py`` holds the notebooks to it).
        Hidden cases are seeded from this id (:func:`case_rng`)."""
        chapter = type(self).__module__.rpartition(".")[2].removeprefix("checks_")
        return ".".join(filter(None, (chapter, self.step, self.value)))

    def cases(self) -> list[Case]:
        raise NotImplementedError

    def expected(self, case: Case) -> np.ndarray:
        """What a correct answer returns on ``case``. By default: :meth:`reference` called on the
        case's arguments in float64; checks with other needs override it."""
        return to_numpy(self.reference()(*[float64_tensor(a) for a in case.args]))

    def mistakes(self) -> list[Mistake]:
        return []

    def reference(self) -> Any:
        """What a correct learner would hand in (used by the tests of the checks themselves)."""
        raise NotImplementedError

    # ----- the half that runs in the learner's kernel -------------------------------------
    def run(self, obj: Any, case: Case) -> list[np.ndarray]:
        """Run the learner's ``obj`` on ``case``; return one array (several for module layouts)."""
        import torch

        if self.kind == "value":
            return [to_numpy(obj)]
        dtype = getattr(torch, case.dtype)
        args = [torch.from_numpy(np.array(a)).to(dtype) if isinstance(a, np.ndarray) else a
                for a in case.args]
        if self.kind == "function":
            with torch.no_grad():
                return [to_numpy(obj(*args))]
        if self.kind == "module":
            module = obj(**case.kwargs)
            if not isinstance(module, torch.nn.Module):
                raise Rejected(f"calling your class gave a {type(module).__name__}, "
                               "not a torch.nn.Module")
            module = module.to(dtype).eval()
            outs = []
            for _ in load_by_shape(module, case.params):
                with torch.no_grad():
                    outs.append(to_numpy(module(*args)))
            return outs
        raise ValueError(f"unknown check kind {self.kind!r}")

    def run_or_refuse(self, obj: Any, case: Case, other: Callable, note: str = "") -> list:
        """:meth:`run` for a module check, where a learner's module whose tensors
        :func:`load_by_shape` refuses may still run with weights of its own layout:
        ``other(obj, case)`` returns its outputs so (None for a layout it does not know), and they
        travel with the refusal (:class:`Refused`) to name the catalogued mistake they match.
        ``note`` is added to the refusal's message."""
        try:
            return Check.run(self, obj, case)
        except Rejected as exc:
            if "do not match the reference layout" not in str(exc):
                raise
            message = f"{exc}{note}"
        try:
            outs = other(obj, case)
        except Exception:                  # noqa: BLE001 - the layout's error stands alone
            outs = None
        if outs:
            raise Refused(message, outs)
        raise Rejected(message)


def error_line(error: str, rejected: bool) -> str:
    """How feedback states a case's error: the check's own message when the check refused the
    learner's result or module (:class:`Rejected`), else "your code raised ..."."""
    return error if rejected else f"your code raised {error}"


def float64_tensor(a: Any):
    """A case argument as a float64 tensor (``None`` stays ``None``), for computing expected
    values in the grader."""
    import torch

    return None if a is None else torch.from_numpy(np.asarray(a, dtype=np.float64))


def to_numpy(value: Any) -> np.ndarray:
    """A learner's result as a plain NumPy array; anything else is a clear error."""
    import torch

    if isinstance(value, torch.Tensor):
        t = value.detach().to("cpu")
        if t.dtype in (torch.bfloat16, torch.float16):
            t = t.float()
        if t.is_complex() or not (t.is_floating_point() or t.dtype in (
                torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8, torch.bool)):
            raise Rejected(f"your code returned a tensor of dtype {value.dtype}, expected real "
                           "numbers")
        return np.array(t.numpy(), copy=True)
    if isinstance(value, np.ndarray):
        return np.array(value, copy=True)
    if isinstance(value, (bool, int, float, np.integer, np.floating)):
        return np.asarray(value)
    raise Rejected(f"your code returned a {type(value).__name__}, expected a tensor or a number")


def load_by_shape(module, params: dict[str, np.ndarray]):
    """Load reference weights into a learner's module, matching them by shape.

    Learners may build the same block from ``nn.Linear``, 1x1 convolutions or raw parameters in
    (out, in) or (in, out) layout. Each learner tensor (parameters, then floating buffers), with
    its singleton axes dropped, is matched to a reference tensor of the same shape or, for
    matrices, of the transposed shape. Every one-to-one matching that covers all reference
    tensors is loaded in turn (a generator: the caller runs the module after each). A module
    whose tensors match no reference layout raises :class:`Rejected` naming the shapes.
    """
    import torch

    learner = [(n, p) for n, p in module.named_parameters()]
    learner += [(n, b) for n, b in module.named_buffers()
                if b.is_floating_point() and not n.endswith("num_batches_tracked")]
    refs = {k: np.asarray(v) for k, v in params.items()}

    def options(t):
        shape = tuple(s for s in t.shape if s != 1)
        found = []
        for name, ref in refs.items():
            rshape = tuple(s for s in ref.shape if s != 1)
            if rshape == shape:
                found.append((name, False))
            elif len(rshape) == 2 and rshape[::-1] == shape and rshape[0] != rshape[1]:
                found.append((name, True))
        return found

    choices = [options(t) for _, t in learner]
    assignments = []
    for combo in itertools.product(*choices):
        names = [c[0] for c in combo]
        if len(set(names)) == len(names) == len(refs):
            assignments.append(combo)
            if len(assignments) >= MAX_OUTPUTS_PER_CASE:
                break
    if not assignments:
        have = ", ".join(f"{n} {tuple(t.shape)}" for n, t in learner) or "none"
        want = ", ".join(f"{k} {tuple(v.shape)}" for k, v in refs.items())
        raise Rejected(f"your module's learnable tensors ({have}) do not match the reference "
                       f"layout ({want}) in any order or orientation")
    for combo in assignments:
        with torch.no_grad():
            for (_, t), (name, transposed) in zip(learner, combo):
                value = refs[name]
                value = value.reshape([s for s in value.shape if s != 1])
                if transposed:
                    value = value.T
                t.copy_(torch.from_numpy(np.ascontiguousarray(value)).reshape(t.shape))
        yield combo


# ----- transport ------------------------------------------------------------------------------
def encode_array(a: np.ndarray) -> str:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.array(a, order="C", copy=True), allow_pickle=False)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def decode_array(text: Any) -> np.ndarray:
    """Decode one array sent by a kernel, refusing anything that is not plain numbers."""
    if not isinstance(text, str):
        raise TypeError(f"an encoded array must be a string, got {type(text).__name__}")
    if len(text) > MAX_ARRAY_BYTES * 4 // 3 + 1024:
        raise ValueError("array too large")
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    arr = np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)
    if type(arr) is not np.ndarray or arr.dtype.kind not in "biuf" or arr.dtype.hasobject:
        raise TypeError(f"expected an array of real numbers, got dtype {arr.dtype}")
    return arr


# ----- comparison (runs in the grader) --------------------------------------------------------
def _where(index: tuple, shape: tuple, axis_names: tuple | None = None) -> str:
    if not shape:
        return "the value"
    if axis_names is not None and len(axis_names) == len(shape):
        names = list(axis_names)
    else:
        names = ["batch", "channel", "row", "column"] if len(shape) == 4 else \
            ["batch", "channel"] if len(shape) == 2 else [f"axis {i}" for i in range(len(shape))]
    return ", ".join(f"{n} {i}" for n, i in zip(names, index))


def compare(got: np.ndarray, want: np.ndarray, in_dtype: str,
            axis_names: tuple | None = None) -> tuple[bool, str]:
    """Compare one returned array with the expected one. Returns (ok, what differs);
    ``axis_names`` name the axes in that message (default: batch, channel, row, column)."""
    if got.shape != want.shape:
        return False, f"shape {tuple(got.shape)}, expected {tuple(want.shape)}"
    got64 = got.astype(np.float64)
    want64 = want.astype(np.float64)
    if got64.size == 0:
        return True, "empty"
    if not np.all(np.isfinite(got64)):
        n = int(np.sum(~np.isfinite(got64)))
        return False, f"{n} value(s) are NaN or infinite"
    out_dtype = {"float16": "float16", "float32": "float32"}.get(str(got.dtype), "float64")
    loosest = max([in_dtype, out_dtype], key=lambda d: TOLERANCES.get(d, TOLERANCES["float64"]))
    rtol, atol = TOLERANCES.get(loosest, TOLERANCES["float64"])
    err = np.abs(got64 - want64)
    bad = err > atol + rtol * np.abs(want64)
    if not bad.any():
        return True, f"max abs error {err.max():.2e}"
    idx = np.unravel_index(int(np.argmax(np.where(bad, err, -1))), got64.shape)
    return False, (f"{int(bad.sum())} of {bad.size} values differ; the largest difference, "
                   f"{err[idx]:.3g}, is at {_where(idx, got64.shape, axis_names)} "
                   f"(got {got64[idx]:.6g}, expected {want64[idx]:.6g})")


@dataclass
class Verdict:
    check_id: str
    passed: bool
    lines: list[str]
    # the names of the check's catalogued mistakes (``Mistake.name``) whose code returns what
    # the learner's code returned on every case (see verify): what the class report counts;
    # the case-by-case hints are in ``lines``
    mistakes: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "\n".join(self.lines)


def expected_value(check: Check, case: Case) -> np.ndarray:
    """``check.expected(case)`` as an array, with every attn_ref module running its plain
    reference code (:func:`attn_ref.reference.reference_mode`): the reference is the
    specification, the modules' fast paths only compute the same faster."""
    from ..reference import reference_mode

    with reference_mode():
        return np.asarray(check.expected(case))


def verify(check: Check, payload: Any) -> Verdict:
    """Judge a payload sent by a kernel against the check's own expected values.

    Everything about the payload is distrusted: its structure, its types, its size. A payload
    that does not have exactly the expected cases, in order, fails.
    """
    lines: list[str] = []
    cases = check.cases()
    try:
        if not isinstance(payload, dict) or payload.get("check") != check.id:
            raise ValueError("the results are not for this check")
        if payload.get("version") != PAYLOAD_VERSION:
            raise ValueError("unknown payload version")
        results = payload.get("cases")
        if not isinstance(results, list) or len(results) != len(cases):
            raise ValueError("the number of cases does not match")
    except ValueError as exc:
        return Verdict(check.id, False, [f"{check.title}: the grader could not read the "
                                         f"results ({exc})."])
    from ..reference import reference_mode

    mistakes = check.mistakes()
    # the mistakes recorded for the class report: those whose code returns what the learner's
    # code returned on every case that returned numbers, failed or passed, the numbers of a
    # refused result included (Refused: a pair of the wrong shapes, say); a case that raised
    # otherwise, or where the mistake is undefined (say a reflection padding wider than the
    # map), counts neither way; numbers returned where the mistake raises (Raises) disagree; a
    # mistake that only some cases happen to match is a hint in the feedback, not a finding
    explained: dict[str, bool] = {}
    returned: list[tuple[Case, list]] = []        # passed cases, checked once a case fails

    def agrees(m: Mistake, case: Case, arrays: list) -> bool | None:
        try:
            with reference_mode():
                mw = np.asarray(m.compute(case))
        except Raises:                    # code with the mistake raises here; the learner's
            return False                  # returned numbers
        except Exception:                 # a mistake that cannot occur on this case
            return None
        if mw.dtype.kind in "biuf" and not np.all(np.isfinite(mw)):
            return None                   # undefined on this case
        return any(a.shape == mw.shape and compare(a, mw, case.dtype)[0] for a in arrays)

    def named(case: Case, arrays: list) -> str:
        """The failed case's hint (the first mistake that agrees); records which agree."""
        hint = ""
        for m in mistakes:
            hit = agrees(m, case, arrays)
            if hit is None:
                continue
            if hit and not hint:
                hint = f"\n    hint: {m.hint}"
            explained[m.name] = explained.get(m.name, True) and hit
        return hint

    failed = 0
    for i, (case, res) in enumerate(zip(cases, results), 1):
        head = f"case {i}/{len(cases)} ({case.label})"
        if not isinstance(res, dict):
            lines.append(f"{head}: no result"); failed += 1; continue
        if res.get("error") is not None:
            msg = f"{head}: {error_line(str(res['error'])[:500], res.get('rejected') is True)}"
            failed += 1
            shown = [m for m in mistakes if m.shown_by and m.shown_by in str(res["error"])]
            for m in shown:               # the check saw the mistake itself (Mistake.shown_by)
                explained[m.name] = explained.get(m.name, True)
            if shown:
                msg += f"\n    hint: {shown[0].hint}"
            refused = res.get("outputs")          # a refused result's numbers (core.Refused)
            if isinstance(refused, list) and 1 <= len(refused) <= MAX_OUTPUTS_PER_CASE:
                try:
                    arrays = [decode_array(o) for o in refused]
                except Exception:         # noqa: BLE001 - unreadable: the error stands alone
                    arrays = []
                if any(compare(a, expected_value(check, case), case.dtype)[0] for a in arrays):
                    returned.append((case, arrays))   # right numbers: like a passed case
                elif arrays and not shown:
                    msg += named(case, arrays)
            lines.append(msg)
            continue
        outs = res.get("outputs")
        if not isinstance(outs, list) or not 1 <= len(outs) <= MAX_OUTPUTS_PER_CASE:
            lines.append(f"{head}: no result"); failed += 1; continue
        try:
            arrays = [decode_array(o) for o in outs]
        except Exception as exc:          # malformed data is the learner's problem, not ours
            lines.append(f"{head}: the returned value could not be read as numbers ({exc})")
            failed += 1
            continue
        want = expected_value(check, case)
        verdicts = [compare(a, want, case.dtype, check.axis_names) for a in arrays]
        if any(ok for ok, _ in verdicts):
            returned.append((case, arrays))
            continue
        failed += 1
        lines.append(f"{head}: {verdicts[0][1]}" + named(case, arrays))
    if failed:
        for m in mistakes:
            for case, arrays in returned:
                if not explained.get(m.name):
                    break
                if agrees(m, case, arrays) is False:
                    explained[m.name] = False
        hint = f" Where to look: {check.points_hint}" if check.points_hint else ""
        return Verdict(check.id, False,
                       [f"{check.title}: {failed} of {len(cases)} hidden cases failed.{hint}"]
                       + ["  " + ln for ln in lines],
                       [n for n, every in explained.items() if every])
    n = len(cases)
    return Verdict(check.id, True, [f"{check.title}: " + ("the hidden case matches" if n == 1 else
                                    f"all {n} hidden cases match") + " the reference."])
