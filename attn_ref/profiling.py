"""Measuring attention modules honestly: timing, profiles, memory, bytes and a fused Triton kernel.

The profiling chapter (``solutions/06_profiling``) uses these helpers; nothing here is needed to
run the modules themselves.

Timing (:func:`measure`, :func:`ratios_to`, :func:`measure_until_steady`, :func:`compare`,
:func:`trust_report`)
    built on ``torch.utils.benchmark.Timer``, which warms up, synchronises CUDA around every
    measurement and picks the number of repetitions itself. Several callables are timed in
    *interleaved rounds* (a, b, copy, a, b, copy, ...), so a change in the machine's load hits them
    all alike, and a module is reported as a multiple of a plain copy of its input measured in the
    same round: the median of those per-round ratios, with its spread. A measurement whose spread
    is wider than the effect, or whose ratio falls below what the operation must physically move,
    is reported as such instead of concluded from.

Bytes and FLOPs (:func:`scale_bytes`, :func:`min_bytes`, :func:`scale_flops`)
    closed forms of the traffic a module cannot avoid when its input is far larger than the
    caches (the model the chapter derives), in bytes.

Memory (:func:`peak_rss_bytes`, :func:`peak_cuda_bytes`)
    the peak resident set of this process around one call on the CPU (Linux can reset the
    high-water mark through ``/proc/self/clear_refs``), the peak allocated by PyTorch on a GPU.

Profiles (:func:`profile_rows`, :func:`save_profile`, :func:`load_saved_profile`,
:func:`dominant_operator`)
    ``torch.profiler``'s operator table as plain rows, and the table shipped with the package
    (``assets/profile_ca_baseline_cpu.json``) that the chapter's exercise reads.

Triton (:func:`fused_ca_scale`)
    one kernel computing Coordinate Attention's last step, ``y = x * a_h * a_w``, in a single pass.
    Triton is imported only when the kernel is first used; without a CUDA device the kernel runs
    in Triton's interpreter (``TRITON_INTERPRET=1``, set here before Triton is imported), which
    executes the same program with NumPy on CPU tensors -- slowly, but exactly.
"""
from __future__ import annotations

import contextlib
import json
import os
import random
import re
import resource
import sys
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch

ASSETS = Path(__file__).resolve().parent / "assets"
SAVED_PROFILE = ASSETS / "profile_ca_baseline_cpu.json"

from . import kinds as _kinds
from .i18n import tr

# the kinds with a memory-traffic model and a straightforward baseline (attn_ref.kinds), in the
# registry's order: the modules this chapter times and the bench compares
KINDS = tuple(name for name, k in _kinds.all_kinds().items()
              if k.traffic is not None and k.baseline is not None)

# ----- bytes and FLOPs --------------------------------------------------------------------------
# The model (derived in the chapter): a feature map of N = B*C*H*W elements is much larger than the
# caches, so every full-size pass costs N * itemsize bytes of memory traffic. A module must
#   * read x once per pooling pass whose result the next step needs before it can go on
#     (SE, ECA, CA: one pass computes all their pooled descriptors; CBAM: two, because the spatial
#     map pools F' = M_c * x, which needs M_c, which needs the whole of x first);
#   * then read x once more and write y once in the final scaling pass, which also reads the
#     gates it multiplies by (counted here; the tiny layers that compute the gates are not).
# Each kind's numbers (pooling passes, gate sizes) are registered beside its code as a
# ``kinds.Traffic``; the functions below read them.


def _traffic(kind: str):
    """The registered traffic model of ``kind``; ``ValueError`` if it has none."""
    k = _kinds.get(kind)
    if k.traffic is None:
        raise ValueError(f"module kind {kind!r} has no memory-traffic model; modelled: {KINDS}")
    return k.traffic


def _gate_elements(kind: str, B: int, C: int, H: int, W: int) -> int:
    """Elements of the gates read by the final scaling pass."""
    return sum(_traffic(kind).gates(B, C, H, W))


def scale_bytes(kind: str, B: int, C: int, H: int, W: int, itemsize: int = 4) -> int:
    """Bytes moved by one fused scaling pass of module ``kind``: read x, read the gates, write y."""
    n = B * C * H * W
    return itemsize * (2 * n + _gate_elements(kind, B, C, H, W))


def pooling_passes(kind: str) -> int:
    """Full-size reads of x needed before the final scaling pass can start."""
    return _traffic(kind).pooling_passes


def min_bytes(kind: str, B: int, C: int, H: int, W: int, itemsize: int = 4) -> int:
    """The least traffic of a whole inference forward: the pooling reads plus one fused scaling
    pass (the model above)."""
    return itemsize * pooling_passes(kind) * B * C * H * W + scale_bytes(kind, B, C, H, W, itemsize)


def scale_flops(kind: str, B: int, C: int, H: int, W: int) -> int:
    """Multiplications of the scaling pass: one per gate per element of x."""
    return B * C * H * W * len(_traffic(kind).gates(B, C, H, W))


def copy_bytes(x: torch.Tensor) -> int:
    """Bytes moved by copying x into a preallocated tensor: one read and one write."""
    return 2 * x.numel() * x.element_size()


# ----- timing -----------------------------------------------------------------------------------
def copy_of(x: torch.Tensor) -> Callable[[], torch.Tensor]:
    """A callable that copies x into a tensor allocated once, outside the timed region: the
    yardstick every module is divided by."""
    out = torch.empty_like(x)
    return lambda: out.copy_(x)


def measure(fns: dict[str, Callable[[], object]], rounds: int = 5, min_run_time: float = 0.05,
            threads: int | None = None) -> dict[str, dict]:
    """Time several argument-less callables in interleaved rounds with ``torch.utils.benchmark``.

    Each round runs every callable's ``Timer.blocked_autorange(min_run_time)`` once (that warms
    up, synchronises CUDA and chooses the repetitions), in an order shuffled from round to round
    (fixed seed): in a fixed order every callable always follows the same neighbour, whose
    allocations shape the heap it meets, and that alone moved ratios by up to 10 % in the module
    benchmark (bench/README.md). Returns, per name, ``times`` (one median per round, seconds),
    ``median`` and ``iqr`` over rounds.
    """
    from torch.utils import benchmark

    threads = threads or torch.get_num_threads()
    timers = {name: benchmark.Timer(stmt="f()", globals={"f": f}, num_threads=threads)
              for name, f in fns.items()}
    for f in fns.values():                     # one untimed call each: allocator, lazy init
        f()
    times = {name: [] for name in fns}
    order = random.Random(0)
    for _ in range(rounds):
        for name in order.sample(list(timers), len(timers)):
            times[name].append(timers[name].blocked_autorange(min_run_time=min_run_time).median)
    out = {}
    for name, ts in times.items():
        q1, med, q3 = np.percentile(ts, [25, 50, 75])
        out[name] = {"times": ts, "median": float(med), "iqr": float(q3 - q1)}
    return out


def ratios_to(results: dict[str, dict], base: str = "copy") -> dict[str, dict]:
    """Per name: the median, first and third quartile over rounds of time / time of ``base`` in
    the same round."""
    ref = np.asarray(results[base]["times"])
    out = {}
    for name, r in results.items():
        ratio = np.asarray(r["times"]) / ref
        q1, med, q3 = np.percentile(ratio, [25, 50, 75])
        out[name] = {"median": float(med), "q1": float(q1), "q3": float(q3)}
    return out


# ----- is the measurement good enough to conclude? -----------------------------------------------
# A busy machine (other processes on a shared 2-core laptop or hub) does not only make timings
# slower: it makes them *disagree*, and a ratio to a copy slowed by a neighbour can even fall below
# what the operation must physically move. These helpers turn the rounds of :func:`measure` into
# verdicts a chapter can print, and say when the numbers cannot support one.

NOISY_SPREAD = 0.25      # IQR / median over rounds above which a timing is called too noisy
FLOOR_SLACK = 0.5        # a ratio whose upper quartile is below this share of its floor is impossible


def relative_spread(result: dict) -> float:
    """IQR / median of one :func:`measure` result (dimensionless; ``inf`` for a zero median)."""
    return float(result["iqr"] / result["median"]) if result["median"] > 0 else float("inf")


def noisy(results: dict[str, dict], limit: float = NOISY_SPREAD) -> dict[str, float]:
    """The callables whose times varied too much between rounds to be trusted: name -> relative
    spread (IQR / median), for every spread above ``limit``."""
    return {name: relative_spread(r) for name, r in results.items() if relative_spread(r) > limit}


def compare(results: dict[str, dict], a: str, b: str) -> dict:
    """Is ``a`` faster than ``b``? The ratio time(a) / time(b) of each round (both were measured in
    the same interleaved round, so a change of load hits both), summarised by its median and
    quartiles, and a verdict: ``"faster"`` when even the third quartile is below 1, ``"slower"``
    when even the first quartile is above 1, else ``"undecided"`` (the spread is wider than the
    effect)."""
    ratio = np.asarray(results[a]["times"]) / np.asarray(results[b]["times"])
    q1, med, q3 = (float(v) for v in np.percentile(ratio, [25, 50, 75]))
    verdict = "faster" if q3 < 1 else "slower" if q1 > 1 else "undecided"
    return {"median": med, "q1": q1, "q3": q3, "verdict": verdict}


def below_floor(ratios: dict[str, dict], floors: dict[str, float],
                slack: float = FLOOR_SLACK) -> dict[str, tuple[float, float]]:
    """Ratios (from :func:`ratios_to`) that are physically impossible: name -> (measured median,
    floor) for each name in ``floors`` whose third quartile is below ``slack`` times its floor (in
    copies: the least traffic the operation must move, divided by a copy's). Such a result means
    the yardstick was slowed by something else, not that the operation beat memory."""
    return {name: (ratios[name]["median"], floor) for name, floor in floors.items()
            if name in ratios and ratios[name]["q3"] < slack * floor}


def measure_until_steady(fns: dict[str, Callable[[], object]], rounds: int = 5,
                         min_run_time: float = 0.05, threads: int | None = None,
                         limit: float = NOISY_SPREAD, retries: int = 1,
                         measure_fn: Callable[..., dict[str, dict]] | None = None
                         ) -> dict[str, dict]:
    """:func:`measure`, repeated up to ``retries`` more times while some callable is :func:`noisy`;
    the rounds of all tries are pooled (median and IQR recomputed over them). The result has an
    extra key per callable, ``tries``, and the pooled results are what later helpers read.
    ``measure_fn`` replaces :func:`measure` (tests pass synthetic timings)."""
    run = measure_fn or measure
    results = run(fns, rounds=rounds, min_run_time=min_run_time, threads=threads)
    tries = 1
    while noisy(results, limit) and tries <= retries:
        more = run(fns, rounds=rounds, min_run_time=min_run_time, threads=threads)
        results = _pooled({n: results[n]["times"] + more[n]["times"] for n in results})
        tries += 1
    for r in results.values():
        r["tries"] = tries
    return results


def _pooled(times: dict[str, list[float]]) -> dict[str, dict]:
    out = {}
    for name, ts in times.items():
        q1, med, q3 = np.percentile(ts, [25, 50, 75])
        out[name] = {"times": list(ts), "median": float(med), "iqr": float(q3 - q1)}
    return out


def trust_report(results: dict[str, dict], ratios: dict[str, dict] | None = None,
                 floors: dict[str, float] | None = None, limit: float = NOISY_SPREAD) -> list[str]:
    """Plain-language lines on whether a measurement can be trusted: which callables varied by more
    than ``limit`` (IQR / median) between rounds, and which ratios fell below their physical floor
    (:func:`below_floor`). An empty list means neither happened. Each line is in the course's
    language (:func:`attn_ref.i18n.tr`; the catalogue's templates for these lines), English by
    default."""
    lines = []
    spread = noisy(results, limit)
    if spread:
        tries = max(r.get("tries", 1) for r in results.values())
        worst = ", ".join(f"{n} {100 * v:.0f} %" for n, v in sorted(spread.items(), key=lambda kv: -kv[1])[:3])
        lines.append(tr(f"the machine was too busy for these timings: between rounds the times varied by "
                        f"more than {100 * limit:.0f} % of their median ({worst}) after {tries} "
                        f"{'try' if tries == 1 else 'tries'}; differences smaller than that spread mean "
                        "nothing. Rerun the cell when the machine is quieter."))
    if ratios is not None and floors:
        for name, (got, floor) in below_floor(ratios, floors).items():
            lines.append(tr(f"{name}: {got:.2f} copies is impossible -- it must move at least {floor:.2f} "
                            "copies' worth of bytes; the copy it is divided by was slowed by other work. "
                            "Do not read this row."))
    return lines


def module_pair(kind: str, channels: int, seed: int = 0):
    """(attn_ref module, straightforward transcription from :mod:`attn_ref.baselines`) of the same
    kind, in eval mode, with identical weights and non-trivial BatchNorm statistics, so the two
    compute the same function and only their speed differs."""
    from . import kinds
    from .official import load_official_state_dict

    entry = kinds.get(kind)
    if entry.baseline is None or entry.loader is None:
        raise ValueError(f"no baseline is known for {entry.name!r}; known: "
                         f"{[k.name for k in kinds.all_kinds().values() if k.baseline]}")
    torch.manual_seed(seed)
    ours = entry.build(channels, **entry.published_kwargs)      # e.g. SE without biases
    base = entry.baseline(ours)
    with torch.no_grad():
        for m in base.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    load_official_state_dict(ours, base.state_dict())
    return ours.eval(), base.eval()


# ----- memory -----------------------------------------------------------------------------------
def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def peak_rss_bytes(fn: Callable[[], object]) -> dict[str, int | bool]:
    """Peak resident set of this process while ``fn()`` runs, and how far above the resident set
    before the call it went.

    On Linux, writing ``5`` to ``/proc/self/clear_refs`` resets the high-water mark ``VmHWM``, so
    the peak is the call's own. Where that is impossible the lifetime peak
    (``getrusage``) is returned with ``exact=False``.
    """
    before = _status_kib("VmRSS")
    exact = False
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        exact = True
    except OSError:
        pass
    fn()
    peak = _status_kib("VmHWM") if exact else None
    if peak is None:
        exact = False
        ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak = ru // 1024 if sys.platform == "darwin" else ru
    before = before if before is not None else peak
    return {"peak": peak * 1024, "increase": max(0, peak - before) * 1024, "exact": exact}


def minor_faults(fn: Callable[[], object], repeats: int = 5) -> float:
    """Minor page faults of this process per call of ``fn`` (after one warm-up call): each is the
    kernel mapping a fresh page of memory on first touch, the cost of large new allocations."""
    fn()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(repeats):
        fn()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / repeats


def peak_cuda_bytes(fn: Callable[[], object], device=None) -> dict[str, int]:
    """Peak bytes allocated by PyTorch on a CUDA device while ``fn()`` runs, and the increase over
    what was allocated before."""
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device)
    return {"peak": int(peak), "increase": int(peak - before)}


# ----- profiles ---------------------------------------------------------------------------------
ROW_KEYS = ("name", "calls", "self_cpu_us", "cpu_total_us", "self_cpu_memory_bytes")


def rows_of(prof, with_device: bool | None = None) -> list[dict]:
    """``torch.profiler.profile``'s operator table (``key_averages()``) as plain dicts, sorted by
    self CPU time, largest first. Times are totals over all calls, in microseconds. With a CUDA
    device (or ``with_device=True``) each row also has ``self_device_us``."""
    if with_device is None:
        with_device = torch.cuda.is_available()
    rows = []
    for e in prof.key_averages():
        rows.append({"name": e.key, "calls": int(e.count),
                     "self_cpu_us": float(e.self_cpu_time_total),
                     "cpu_total_us": float(e.cpu_time_total),
                     "self_cpu_memory_bytes": int(getattr(e, "self_cpu_memory_usage", 0) or 0)})
        if with_device:                        # GPU time of the kernels the operator launched
            rows[-1]["self_device_us"] = float(getattr(e, "self_device_time_total", 0.0) or 0.0)
    rows.sort(key=lambda r: -r["self_cpu_us"])
    return rows


@contextlib.contextmanager
def _quiet_fd2():
    """Send the process's file descriptor 2 to /dev/null for a moment: the profiler's C++ side
    logs a line to it at every start and stop, which Python's warning filters cannot catch."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def profile_rows(fn: Callable[[], object], label: str = "forward", repeats: int = 3,
                 profile_memory: bool = True, trace_path: str | os.PathLike | None = None
                 ) -> list[dict]:
    """Profile ``repeats`` calls of ``fn`` (after one warm-up call) on the CPU, each inside a
    ``record_function(label)`` range; optionally write a Chrome trace (open it in
    https://ui.perfetto.dev or chrome://tracing). Returns :func:`rows_of` the profile."""
    from torch.profiler import ProfilerActivity, profile, record_function

    activities = [ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(ProfilerActivity.CUDA)
    fn()
    with _quiet_fd2(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with profile(activities=activities, profile_memory=profile_memory) as prof:
            for _ in range(repeats):
                with record_function(label):
                    fn()
    if trace_path is not None:
        prof.export_chrome_trace(str(trace_path))
    return rows_of(prof)


def save_profile(path: str | os.PathLike = SAVED_PROFILE, shape=(8, 64, 56, 56), threads: int = 1,
                 repeats: int = 5, seed: int = 0) -> dict:
    """Profile the straightforward transcription of Coordinate Attention
    (``attn_ref.baselines.CABaseline``) in inference on the CPU and save its operator table as
    JSON: the file the chapter's "dominant operator" exercise reads. Run once by the chapter's
    author (the shipped file records the machine, torch version and settings it was made with)::

        python -c "from attn_ref.profiling import save_profile; save_profile()"
    """
    import platform

    from .baselines import make_baseline

    torch.manual_seed(seed)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        module = make_baseline("ca", shape[1]).eval()
        x = torch.randn(*shape)
        with torch.no_grad():
            rows = profile_rows(lambda: module(x), label="CABaseline.forward", repeats=repeats)
    finally:
        torch.set_num_threads(before)
    doc = {"meta": {"module": "attn_ref.baselines.CABaseline (inference, torch.no_grad)",
                    "shape": list(shape), "dtype": "float32", "threads": threads,
                    "repeats": repeats, "torch": torch.__version__,
                    "machine": platform.machine(), "processor": platform.processor() or None,
                    "units": "times are totals over all calls, in microseconds"},
           "rows": rows}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(doc, indent=1) + "\n")
    return doc


def load_saved_profile(path: str | os.PathLike = SAVED_PROFILE) -> dict:
    """The saved operator table: ``{"meta": {...}, "rows": [{"name", "calls", "self_cpu_us",
    "cpu_total_us", "self_cpu_memory_bytes"}, ...]}``."""
    return json.loads(Path(path).read_text())


# An operator is what PyTorch's dispatcher runs, named ``namespace::name`` (``aten::mul``,
# ``prim::…``, ``quantized::…``). A ``record_function`` range (``"forward"``, ``"CABaseline.forward"``)
# and a CUDA runtime call (``cudaLaunchKernel``) are not: a range's *self* time is the Python and
# dispatcher overhead between the operators inside it, which on small inputs (a late-stage
# 1 x 256 x 7 x 7 map) outweighs every single operator.
_OPERATOR_NAME = re.compile(r"^[A-Za-z_]\w*::\w+")


def is_operator(name: str) -> bool:
    """Whether a profiler row named ``name`` is a dispatcher operator (``namespace::name``), not a
    ``record_function`` range or a runtime call."""
    return bool(_OPERATOR_NAME.match(name))


def dominant_operator(rows: list[dict]) -> str:
    """The operator with the largest *self* CPU time (time in the operator itself, not in the
    operators it calls), from rows with at least ``name`` and ``self_cpu_us`` (microseconds).

    Ranges recorded with ``record_function`` -- including the one :func:`profile_rows` wraps around
    each call -- and runtime calls are not operators and are skipped (:func:`is_operator`); a name
    appearing on several rows is summed. ``ValueError`` if no row is an operator.
    """
    totals: dict[str, float] = {}
    for r in rows:
        if is_operator(r["name"]):
            totals[r["name"]] = totals.get(r["name"], 0.0) + float(r["self_cpu_us"])
    if not totals:
        raise ValueError("no operator (a name of the form namespace::op, such as aten::mul) in the "
                         f"table; its rows are {[r['name'] for r in rows][:10]}")
    return max(totals, key=totals.get)


# ----- Triton -----------------------------------------------------------------------------------
_KERNEL = None


def import_triton():
    """Import Triton, in interpreter mode when there is no CUDA device (the environment variable
    must be set before Triton is first imported; an explicit ``TRITON_INTERPRET`` is kept)."""
    if not torch.cuda.is_available():
        os.environ.setdefault("TRITON_INTERPRET", "1")
    import triton
    import triton.language as tl

    return triton, tl


# dtypes Triton's interpreter computes exactly (it runs the program with NumPy, which has no
# bfloat16: bfloat16 tensors come back as values of the order of 1e38, without an error)
INTERPRETER_DTYPES = (torch.float16, torch.float32, torch.float64)


def interpreted() -> bool:
    """Whether Triton kernels run in the interpreter here (``TRITON_INTERPRET=1``, as
    :func:`import_triton` sets it without a CUDA device)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0") or not torch.cuda.is_available()


def _ca_scale_kernel():
    global _KERNEL
    if _KERNEL is not None:
        return _KERNEL
    triton, tl = import_triton()

    @triton.jit
    def ca_scale_kernel(x_ptr, ah_ptr, aw_ptr, out_ptr, n, C, H, W,
                        sxb, sxc, sxh, sxw, shb, shc, shh, swb, swc, sww,
                        BLOCK: tl.constexpr):
        # one program per BLOCK consecutive elements of the contiguous output
        i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        live = i < n                                   # the last block runs past the end
        w = i % W
        h = (i // W) % H
        c = (i // (W * H)) % C
        b = i // (W * H * C)
        x = tl.load(x_ptr + b * sxb + c * sxc + h * sxh + w * sxw, mask=live)
        ah = tl.load(ah_ptr + b * shb + c * shc + h * shh, mask=live)
        aw = tl.load(aw_ptr + b * swb + c * swc + w * sww, mask=live)
        tl.store(out_ptr + i, x * ah * aw, mask=live)

    _KERNEL = (triton, ca_scale_kernel)
    return _KERNEL


def fused_ca_scale(x: torch.Tensor, a_h: torch.Tensor, a_w: torch.Tensor,
                   out: torch.Tensor | None = None, block: int = 1024) -> torch.Tensor:
    """``out = x * a_h * a_w`` in one pass with a Triton kernel.

    x: (B, C, H, W) in any layout (contiguous, channels_last, a strided view); a_h: (B, C, H, 1);
    a_w: (B, C, 1, W), any strides. ``out`` (allocated if not given) must be a contiguous
    (B, C, H, W) tensor on x's device; all four share one dtype. On a machine without CUDA the
    kernel runs in Triton's interpreter on CPU tensors, which computes float16, float32 and float64
    exactly; other dtypes (bfloat16) raise ``TypeError`` there instead of returning garbage.
    ``ValueError`` for gates of the wrong shape or a non-contiguous ``out``.
    """
    B, C, H, W = x.shape
    tensors = {"x": x, "a_h": a_h, "a_w": a_w} | ({"out": out} if out is not None else {})
    if len({t.dtype for t in tensors.values()}) != 1 or len({t.device for t in tensors.values()}) != 1:
        raise TypeError("x, a_h, a_w and out must have one dtype and one device, got "
                        + ", ".join(f"{k} {t.dtype} on {t.device}" for k, t in tensors.items()))
    if interpreted() and x.dtype not in INTERPRETER_DTYPES:
        raise TypeError(f"Triton's interpreter (TRITON_INTERPRET=1, no GPU) does not compute {x.dtype} "
                        "correctly (NumPy has no such type; the values come back as garbage, with no "
                        f"error); it runs {', '.join(str(d) for d in INTERPRETER_DTYPES)}. Convert first, "
                        "e.g. fused_ca_scale(x.float(), a_h.float(), a_w.float()).to(x.dtype).")
    triton, kernel = _ca_scale_kernel()
    if a_h.shape != (B, C, H, 1) or a_w.shape != (B, C, 1, W):
        raise ValueError(f"a_h must be {(B, C, H, 1)} and a_w {(B, C, 1, W)}, got "
                         f"{tuple(a_h.shape)} and {tuple(a_w.shape)}")
    if out is None:
        out = torch.empty((B, C, H, W), dtype=x.dtype, device=x.device)
    if not out.is_contiguous():
        raise ValueError("out must be contiguous")
    n = x.numel()
    if n:
        grid = (triton.cdiv(n, block),)
        kernel[grid](x, a_h, a_w, out, n, C, H, W, *x.stride(), a_h.stride(0), a_h.stride(1),
                     a_h.stride(2), a_w.stride(0), a_w.stride(1), a_w.stride(3), BLOCK=block)
    return out
