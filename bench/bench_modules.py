"""Time each attention module as a multiple of copying its input (``make bench``).

For every module (SE, ECA, CBAM, CA, from attn_ref.kinds; a kind not registered is skipped) and
every shape (default 32x256x28x28 and 32x64x56x56, float32), in one run:

* ``copy``      ``out.copy_(x)`` into a preallocated tensor: reads x once, writes once. Every
                ratio below is a median time divided by this median time, measured in the same
                interleaved rounds. (``x.clone()``, which also allocates, is printed for
                reference.)
* ``fwd``       inference: ``module.eval()``, ``torch.no_grad()``, ``module(x)``.
* ``fwd+bwd``   training: ``module.train()``, x requiring grad, ``module(x)`` then
                ``torch.autograd.grad`` of the output w.r.t. x and every parameter, with a fixed
                upstream gradient.
* the same two for ``attn_ref/baselines.py``, a straightforward transcription of the published code,
  loaded with the same weights (outputs are checked equal before timing).

Timing: ``torch.utils.benchmark.Timer``; all callables of one row are timed in interleaved
rounds and each reports its median over the rounds (see :func:`median_times`). By default every
callable runs back to back with itself, so the copy's 51 MB (x and out) can stay in the last-level
cache, and on this course's machine they do; a module, which touches x, a fresh output and its
temporaries, does not get that. ``--cold`` instead reads a 256 MiB buffer before every timed call
of every callable (the copy included), so each starts from memory, as a layer's input does in a
network whose activations do not fit in the cache. The minor page faults per inference call
(``faults``, from getrusage) are printed too: a fresh full-size output that the C library had
returned to the kernel costs about five copies' time to fault back in.

Floors (memory traffic in units of one copy = one read + one write of x): SE, ECA and CA read x
twice (pool, then scale) and write once, 1.5x; CBAM reads it three times, 2x. Goals on CPU:
SE/ECA inference within 1.8x, CA within 2.5x, CBAM within 4x, never slower than the baseline.
Both are registered with each kind (``attn_ref.kinds.Traffic``: ``floor()``, ``speed_goal``).

``--timm`` also times timm's module of the same kind (``bench/timm_layers.py``; timm installed
by ``make bench`` from ``bench/requirements.txt`` without its dependencies), configured like ours,
with its own weights: only the times are compared.

Options ``--fused`` and ``--compile`` also time the fused paths of CA and CBAM (``fused="cpp"``,
inference only; ``fused="compile"``).

``--onnxruntime`` (``make bench`` passes it) also times the module where it ships: exported with
``torch.onnx.export`` (the TorchScript-based exporter, ``dynamo=False``, which records the
reference: :func:`attn_ref.reference.tracing`; tests/test_export_matrix.py checks both exporters'
graphs equal to eager) and run by onnxruntime's CPU execution provider with the same number of
threads, on the same x, as a multiple of the same copy. Its output is checked against ours first.

Usage:  python bench/bench_modules.py [--threads 2] [--min-time 0.5] [--markdown out.md] [--cpu-time]
        [--modules se,eca,cbam,ca] [--channels-last] [--compile] [--fused] [--cold]
        [--malloc-tuned] [--timm] [--onnxruntime] [--profile ca]
"""
from __future__ import annotations

import argparse
import copy
import io
import os
import random
import statistics
import sys
import time
import warnings

import torch
from torch.utils import benchmark

from attn_ref.profiling import minor_faults


SHAPES = ((32, 256, 28, 28), (32, 64, 56, 56))
# glibc malloc: never give freed memory back to the kernel (trim threshold 16 GiB, 64 MiB kept
# at the top of the heap), and serve blocks of up to 32 MiB (the most glibc allows) from the heap
# instead of fresh mappings
MALLOC_TUNED = {"MALLOC_TRIM_THRESHOLD_": "17179869184", "MALLOC_TOP_PAD_": "67108864",
                "MALLOC_MMAP_THRESHOLD_": "33554432"}


def available(kind: str) -> bool:
    """Whether ``kind`` is registered in attn_ref.kinds with a baseline to compare with and a
    traffic model (floor and goal)."""
    from attn_ref import kinds

    try:
        k = kinds.get(kind)
    except ValueError:
        return False
    return k.baseline is not None and k.traffic is not None


def floor_and_goal(kind: str) -> tuple[float, float | None]:
    """The kind's traffic floor and speed goal, multiples of a copy (attn_ref.kinds.Traffic)."""
    from attn_ref import kinds

    t = kinds.get(kind).traffic
    return t.floor(), t.speed_goal


def title(kind: str) -> str:
    from attn_ref import kinds

    return kinds.get(kind).title


def build_pair(kind: str, channels: int):
    """(attn_ref module, baseline module) with identical weights and non-trivial BatchNorm
    statistics (:func:`attn_ref.profiling.module_pair`, shared with the profiling chapter)."""
    from attn_ref.profiling import module_pair

    return module_pair(kind, channels)


def check_equal(ours, base, x) -> float:
    """Largest absolute difference of the outputs, eval and train mode (float32)."""
    worst = 0.0
    with torch.no_grad():
        for train in (False, True):
            ours.train(train)
            base.train(train)
            a, b = ours(x), base(x)
            worst = max(worst, (a - b).abs().max().item())
    # the train-mode passes above moved BatchNorm statistics in both by the same amount
    return worst


def median_times(fns: dict, threads: int, min_time: float, rounds: int = 7,
                 cpu_time: bool = False, evict: torch.Tensor | None = None) -> dict:
    """Median seconds per call of each callable in ``fns``, measured in interleaved rounds.

    Each round times every callable once with ``torch.utils.benchmark.Timer.timeit`` (a block of
    calls lasting about ``min_time / rounds`` seconds); the median over the rounds is returned.
    Interleaving keeps the reference copy and the modules under the same background load, which
    matters on a shared machine; the order of the callables is shuffled in every round (with a
    fixed seed), so none always runs after the same neighbour: in a fixed cyclic order, SE's and
    ECA's forward passes measured up to 10 % slower than the same operations of their baselines
    did in shuffled rounds. With ``cpu_time`` (one thread only) the clock is the thread's
    CPU time, which does not run while the thread waits for a CPU another process holds.

    With ``evict`` (a tensor larger than the last-level cache), every call is timed on its own
    after a read of ``evict``, which pushes the callable's data out of the caches; then the
    rounds are at least 15 and each holds one call per callable.
    """
    clock = time.thread_time if cpu_time else time.perf_counter
    if evict is not None:
        samples = {name: [] for name in fns}
        for fn in fns.values():
            fn()                                               # warm-up (allocations, code)
        order = random.Random(0)
        for _ in range(max(rounds, 15)):
            for name in order.sample(list(fns), len(fns)):
                fn = fns[name]
                evict.sum()
                start = clock()
                fn()
                samples[name].append(clock() - start)
        return {name: statistics.median(v) for name, v in samples.items()}
    timers, numbers, samples = {}, {}, {name: [] for name in fns}
    for name, fn in fns.items():
        fn()                                                   # warm-up (allocations, caches)
        timers[name] = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads,
                                       timer=clock)
        once = statistics.median(timers[name].timeit(1).median for _ in range(3))
        numbers[name] = max(1, round(min_time / rounds / max(once, 1e-6)))
    order = random.Random(0)
    for _ in range(rounds):
        for name in order.sample(list(fns), len(fns)):
            samples[name].append(timers[name].timeit(numbers[name]).median)
    return {name: statistics.median(v) for name, v in samples.items()}


def forward_fn(module, x):
    """Inference: eval mode (set at every call, since the same module is also timed in training;
    a few microseconds), no autograd."""
    def run():
        module.eval()
        with torch.no_grad():
            module(x)
    return run


def train_fn(module, x):
    """Training: train mode (set at every call), the gradients of x and every parameter."""
    xg = x.detach().clone().requires_grad_(True)
    params = [p for p in module.parameters() if p.requires_grad]
    g = torch.randn_like(x)

    def run():
        module.train()
        out = module(xg)
        torch.autograd.grad(out, [xg] + params, g)
    return run


def onnxruntime_fn(module, x, threads: int):
    """Inference in onnxruntime (CPU execution provider, ``threads`` intra-op threads, one
    inter-op thread) of ``module`` exported to ONNX at x's shape; returns ``(run, largest
    absolute difference from the eager module's output)``."""
    import onnxruntime as ort

    m = copy.deepcopy(module).eval()
    f = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # the exporter's notice that dynamo=True is now the default, and the tracer's about the
        # input checks, once per module: not what the bench reports
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (x,), f, dynamo=False, input_names=["x"], output_names=["y"])
        expected = m(x)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(f.getvalue(), opts, providers=["CPUExecutionProvider"])
    feed = {"x": x.numpy()}
    err = float((torch.from_numpy(session.run(None, feed)[0]) - expected).abs().max())
    return (lambda: session.run(None, feed)), err


def profile(kind: str, shape, threads: int, train: bool = False, rows: int = 15) -> None:
    """Print torch.profiler's operator table for one module and its baseline."""
    from torch.profiler import profile as tprofile, ProfilerActivity

    x = torch.randn(shape)
    ours, base = build_pair(kind, shape[1])
    for name, m in (("attn_ref", ours), ("baseline", base)):
        fn = train_fn(m, x) if train else forward_fn(m, x)
        for _ in range(3):
            fn()
        with tprofile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            for _ in range(5):
                fn()
        print(f"\n### {title(kind)} {name} {'fwd+bwd' if train else 'fwd'} {shape} "
              f"(5 calls, {threads} threads)")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=0.35,
                    help="about this many seconds of timing per measured callable")
    ap.add_argument("--modules", default="se,eca,cbam,ca")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--compile", action="store_true",
                    help="also time the compiled module: fused=\"compile\" for CA and CBAM, "
                         "torch.compile(module) for SE and ECA (inductor; needs a C++ compiler)")
    ap.add_argument("--fused", action="store_true",
                    help="also time the inference of CA and CBAM with fused=\"cpp\" (the CPU "
                         "kernels of attn_ref.fused_cpu; compiled at first use)")
    ap.add_argument("--cold", action="store_true",
                    help="read a 256 MiB buffer before every timed call (copy included), so "
                         "each call starts with its data out of the caches")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time with the thread's CPU time instead of wall time (needs --threads "
                         "1): on a machine shared with other jobs, time spent waiting for a CPU "
                         "is then not counted")
    ap.add_argument("--malloc-tuned", action="store_true",
                    help="run with glibc's malloc told to keep freed memory (the environment "
                         "variables in MALLOC_TUNED), so fresh full-size tensors do not page-fault")
    ap.add_argument("--timm", action="store_true",
                    help="also time timm's module of each kind (bench/timm_layers.py; "
                         "make bench installs timm from bench/requirements.txt)")
    ap.add_argument("--onnxruntime", action="store_true",
                    help="also time the module exported to ONNX in onnxruntime's CPU provider")
    ap.add_argument("--markdown", metavar="PATH", help="also write the table as markdown")
    ap.add_argument("--profile", metavar="KIND",
                    help="print torch.profiler tables for KIND at each shape, then exit")
    args = ap.parse_args(argv)

    if args.malloc_tuned and any(os.environ.get(k) != v for k, v in MALLOC_TUNED.items()):
        # glibc reads these once, at start-up: run this script again with them set
        os.execve(sys.executable, [sys.executable, *sys.argv],
                  {**os.environ, **MALLOC_TUNED})
    if args.cpu_time and args.threads != 1:
        ap.error("--cpu-time needs --threads 1 (other threads' CPU time would not be counted)")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    kinds = [k.strip().lower() for k in args.modules.split(",") if k.strip()]
    if args.profile:
        for shape in SHAPES:
            profile(args.profile, shape, args.threads)
            profile(args.profile, shape, args.threads, train=True)
        return 0

    timm_version = None
    if args.timm:
        import timm_layers
        timm_version = timm_layers.available()
        if timm_version is None:
            ap.error("--timm: timm's layers do not import; install them with "
                     "`pip install --no-deps -r bench/requirements.txt` (make bench does)")
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, "
          f"{'thread CPU time' if args.cpu_time else 'wall time'}, "
          f"{'channels_last' if args.channels_last else 'contiguous (NCHW)'}, "
          f"{'cold caches, ' if args.cold else ''}"
          f"{'malloc tuned, ' if args.malloc_tuned else ''}"
          f"{f'timm {timm_version}, ' if timm_version else ''}"
          f"{os.cpu_count()} CPUs, load average {load()}")
    evict = torch.ones(64 * 2 ** 20) if args.cold else None          # 256 MiB
    rows = []
    for shape in SHAPES:
        x = torch.randn(shape).contiguous(memory_format=fmt)
        out = torch.empty_like(x)
        mb = x.numel() * x.element_size() / 2 ** 20
        print(f"{'x'.join(map(str, shape))}: {mb:.1f} MiB", flush=True)
        for kind in kinds:
            if not available(kind):
                print(f"  {kind}: not a registered kind with a baseline (attn_ref.kinds), "
                      "skipped")
                continue
            ours, base = build_pair(kind, shape[1])
            err = check_equal(ours, base, x)
            ours, base = build_pair(kind, shape[1])   # fresh BatchNorm statistics
            fns = {"copy": lambda: out.copy_(x), "clone": lambda: x.clone(),
                   "fwd": forward_fn(ours, x), "base_fwd": forward_fn(base, x),
                   "bwd": train_fn(ours, x), "base_bwd": train_fn(base, x)}
            if args.compile:
                try:
                    # one static graph per shape (automatic dynamic shapes recompiles the second
                    # shape symbolically, which inductor 2.13 fails on for CA);
                    # ours with its fused="compile" option (CA, CBAM), else torch.compile of
                    # the module
                    cm = copy.deepcopy(ours)
                    if hasattr(cm, "fused"):
                        cm.fused = "compile"
                    else:
                        cm = torch.compile(cm, dynamic=False)
                    fns["comp_fwd"], fns["comp_bwd"] = forward_fn(cm, x), train_fn(cm, x)
                    fns["comp_fwd"](), fns["comp_bwd"]()      # compile outside the timing
                except Exception as e:                        # report, keep going
                    fns.pop("comp_fwd", None), fns.pop("comp_bwd", None)
                    print(f"  torch.compile failed for {kind}: {type(e).__name__}: {e}"[:300])
            if args.fused and hasattr(ours, "fused"):
                fm = copy.deepcopy(ours)
                fm.fused = "cpp"
                fns["cpp_fwd"] = forward_fn(fm, x)
            if args.timm:
                tm = timm_layers.timm_module(kind, ours)
                if tm is not None:
                    fns["timm_fwd"], fns["timm_bwd"] = forward_fn(tm, x), train_fn(tm, x)
            if args.onnxruntime:
                fns["ort_fwd"], ort_err = onnxruntime_fn(ours, x, args.threads)
                err = max(err, ort_err)
            faults = {k: minor_faults(fns[k]) for k in ("fwd", "base_fwd", "cpp_fwd")
                      if k in fns}
            t = median_times(fns, args.threads, args.min_time, cpu_time=args.cpu_time,
                             evict=evict)
            r = {"module": title(kind), "kind": kind, "shape": "x".join(map(str, shape)),
                 "max_abs_diff": err, "copy_ms": t["copy"] * 1e3,
                 "gibs": 2 * mb / 1024 / t["copy"]}
            r.update({k: v / t["copy"] for k, v in t.items() if k != "copy"})
            rows.append(r)
            print(f"  {r['module']:5s} fwd {r['fwd']:5.2f}x  fwd+bwd {r['bwd']:5.2f}x  | baseline "
                  f"fwd {r['base_fwd']:5.2f}x  fwd+bwd {r['base_bwd']:5.2f}x  | copy_ "
                  f"{r['copy_ms']:.2f} ms ({r['gibs']:.1f} GiB/s r+w), clone {r['clone']:.2f}x  "
                  f"(outputs agree to {err:.1e})"
                  + (f"  | compiled fwd {r['comp_fwd']:5.2f}x  fwd+bwd {r['comp_bwd']:5.2f}x"
                     if "comp_fwd" in r else "")
                  + (f"  | cpp fwd {r['cpp_fwd']:5.2f}x" if "cpp_fwd" in r else "")
                  + (f"  | onnxruntime fwd {r['ort_fwd']:5.2f}x" if "ort_fwd" in r else "")
                  + (f"  | timm fwd {r['timm_fwd']:5.2f}x  fwd+bwd {r['timm_bwd']:5.2f}x"
                     if "timm_fwd" in r else "")
                  + "  | page faults per fwd call: " + ", ".join(
                      f"{k.replace('_fwd', '').replace('fwd', 'ours')} {v:.0f}"
                      for k, v in faults.items()), flush=True)

    table = render(rows, args.compile, args.fused, args.timm, args.onnxruntime)
    print(f"\nload average at the end: {load()} (other processes share the CPUs: ratios are only "
          "as steady as the machine is quiet)")
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(f"torch {torch.__version__}, {args.threads} threads, float32, "
                    f"{'thread CPU time' if args.cpu_time else 'wall time'}, "
                    f"{'cold caches, ' if args.cold else ''}"
                    f"{'malloc tuned, ' if args.malloc_tuned else ''}"
                    f"{f'timm {timm_version}, ' if timm_version else ''}"
                    f"{'channels_last' if args.channels_last else 'NCHW'}, "
                    f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
                    f"load average {load()}\n\n" + table + "\n")
    return 0


def load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def render(rows, compiled: bool, fused: bool = False, timm: bool = False,
           onnxruntime: bool = False) -> str:
    head = ["module", "shape", "fwd / copy", "fwd+bwd / copy", "baseline fwd / copy",
            "baseline fwd+bwd / copy", "floor", "fwd goal", "fwd within goal",
            "not slower than baseline"]
    extra = []
    if compiled:
        extra += [("comp_fwd", "compiled fwd / copy"), ("comp_bwd", "compiled fwd+bwd / copy")]
    if fused:
        extra += [("cpp_fwd", "cpp fwd / copy")]
    if onnxruntime:
        extra += [("ort_fwd", "onnxruntime fwd / copy")]
    if timm:
        extra += [("timm_fwd", "timm fwd / copy"), ("timm_bwd", "timm fwd+bwd / copy")]
        head.append("not slower than timm")
    head[6:6] = [title for _, title in extra]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        floor, goal = floor_and_goal(r["kind"])
        within = goal is not None and r["fwd"] <= goal
        cells = [r["module"], r["shape"], f"{r['fwd']:.2f}", f"{r['bwd']:.2f}",
                 f"{r['base_fwd']:.2f}", f"{r['base_bwd']:.2f}"]
        cells += [f"{r[k]:.2f}" if k in r else "n/a" for k, _ in extra]
        cells += [f"{floor:.1f}", f"{goal:.1f}" if goal else "n/a", "yes" if within else "NO",
                  not_slower(r, "base")]
        if timm:
            cells.append(not_slower(r, "timm"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def not_slower(r: dict, other: str) -> str:
    """"yes", or "NO (...)" naming the passes (fwd, fwd+bwd) where ours took longer than the
    ``other`` module's (``base`` or ``timm``); "n/a" when ``other`` was not timed."""
    if other + "_fwd" not in r:
        return "n/a"
    slower = [m for m in ("fwd", "bwd") if r[m] > r[f"{other}_{m}"]]
    return "yes" if not slower else "NO (" + ", ".join(
        {"fwd": "fwd", "bwd": "fwd+bwd"}[m] for m in slower) + ")"


if __name__ == "__main__":
    sys.exit(main())
