# %% [markdown]
# # Chapter 6 — Profiling attention modules (the GPU exercises)
#
# *attention-course · chapter 6 · about 60 minutes · runs on a GPU where there is one, on the CPU everywhere else · the timing cells print how long they took; `torch.compile`'s first call (section 4) takes about a minute on two CPU cores*
#
# Chapters 1–5 counted what the attention modules cost in **parameters** and **multiply-adds**, and
# found them almost free in multiply-adds (chapter 5, section 2.1). Yet on a real machine a
# module such as CBAM or Coordinate Attention (CA) can take a noticeable share of a block's time. The
# reason is that these modules do almost no arithmetic per byte: every one of them reads the whole
# feature map $X\in\mathbb{R}^{B\times C\times H\times W}$ a few times and writes it once, so their
# speed is set by **memory traffic**, not by multiply-adds. This chapter
#
# 1. times modules honestly (warm-up, synchronisation, medians and spread, a copy as the yardstick);
# 2. derives in closed form the bytes each module *must* move, its arithmetic intensity and where it
#    sits on a roofline, and has you write those formulas;
# 3. profiles the straightforward transcriptions of the published code (`attn_ref.baselines`) with
#    `torch.profiler` — operator tables, a trace you can open in Perfetto, memory — to see why a
#    straightforward CA or CBAM can run at many times the cost of a copy, and how `attn_ref` avoids it;
# 4. tries the usual levers: channels-last layout, lower precision, `torch.compile`;
# 5. has you write a **Triton kernel** that fuses CA's final product $y = x\cdot a^h\cdot a^w$ into
#    one pass.
#
# **GPU or CPU.** Every cell runs on either. On a machine with CUDA the timings are GPU timings and
# your Triton kernel is compiled for the GPU. Without one, the timings are CPU timings and Triton
# runs in its *interpreter* (`TRITON_INTERPRET=1`, set before Triton is imported): the same program
# executed with NumPy on CPU tensors — exact, but far too slow to time.
#
# **How this notebook is graded.** Five exercises, 11 points. Each is a code cell with
# `raise NotImplementedError()` to replace, followed by a locked test cell. The visible tests check a
# small case you can verify by hand; the hidden tests, run when you submit, check many cases and are
# judged outside your notebook's kernel. **Nothing graded is timed** (the grading machine has no GPU
# and is shared): the exercises are closed-form byte and FLOP counts, reading a saved profile, and a
# kernel whose *values* are compared. Measured numbers in this notebook are computed when you run it;
# yours will differ from anyone else's, and on a busy machine from one run to the next.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import os
import tempfile
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils import benchmark

GPU = torch.cuda.is_available()
if not GPU:
    os.environ.setdefault("TRITON_INTERPRET", "1")   # must be set before triton is imported
import triton
import triton.language as tl

import attn_ref
from attn_ref import profiling as P
from attn_ref.grading import expect_close, expect_equal, grade

DEVICE = "cuda" if GPU else "cpu"
GRADING = os.environ.get("NBGRADER_EXECUTION") is not None   # while grading: small and quick
if not GPU:
    torch.set_num_threads(min(2, os.cpu_count() or 1))
SHAPE = (4, 64, 28, 28) if GRADING else ((32, 256, 28, 28) if GPU else (16, 64, 56, 56))
ROUNDS, MIN_TIME = (2, 0.01) if GRADING else (5, 0.05)
torch.manual_seed(0)
torch.set_printoptions(precision=4, sci_mode=False)
# %matplotlib inline
print(f"device {DEVICE}, {torch.get_num_threads()} CPU thread(s), feature maps of shape {SHAPE}")

# %% [markdown]
# ## 1. Timing honestly
#
# ### 1.1 Why one `time.time()` around a call lies
#
# Three things go wrong when a single wall-clock difference is taken around a module call:
#
# * **Asynchronous execution (GPU).** A CUDA call returns as soon as its kernels are *queued*; the
#   GPU runs them later. `t0 = time.time(); y = module(x); time.time() - t0` measures the launch,
#   not the work — unless `torch.cuda.synchronize()` waits for the queue to drain before the second
#   reading, or CUDA events recorded on the stream time the work on the GPU itself.
# * **First-call costs.** The first call pays for things later calls do not: lazy initialisation,
#   the caching allocator requesting memory from the driver or the operating system (fresh pages are
#   mapped and zeroed on first touch), cuDNN or oneDNN choosing algorithms. Warm up before timing.
# * **Noise.** Other processes, frequency scaling and interrupts make every run different. One
#   number cannot say how much; many runs summarised by their **median** (robust to the occasional
#   slow run) and a measure of **spread** (the interquartile range, IQR) can.
#
# `torch.utils.benchmark.Timer` handles the first and third: it synchronises CUDA around each
# measurement, warms up, picks how many calls to time in a block so that the timer's resolution does
# not matter, and reports the median and IQR of the blocks. Below, eight single `time.time()`
# readings of the straightforward CA (`attn_ref.baselines.CABaseline`), then the same module timed by
# `Timer`.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-02", "locked": true, "schema_version": 3, "solution": false, "task": false}
ca_fast, ca_base = (m.to(DEVICE) for m in P.module_pair("ca", SHAPE[1]))
x = torch.randn(SHAPE, device=DEVICE)

naive = []
with torch.no_grad():
    for _ in range(8):
        t0 = time.time()
        ca_base(x)
        naive.append(time.time() - t0)
print("eight single time.time() readings, ms:", "  ".join(f"{1e3 * t:.2f}" for t in naive))

if GPU:
    with torch.no_grad():
        torch.cuda.synchronize()
        t0 = time.time(); ca_base(x); launched = time.time() - t0
        torch.cuda.synchronize(); finished = time.time() - t0
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record(); ca_base(x); end.record(); torch.cuda.synchronize()
    print(f"GPU: returned after {1e3 * launched:.3f} ms, finished after {1e3 * finished:.3f} ms, "
          f"CUDA events {start.elapsed_time(end):.3f} ms")

# Timer runs on ONE thread unless told otherwise: give it the threads the readings had. One
# blocked_autorange may time a single block when a call is slow, and one block has no spread, so
# take several and pool their blocks.
timer = benchmark.Timer("f()", globals={"f": lambda: ca_base(x)}, num_threads=torch.get_num_threads())
with torch.no_grad():
    runs = [timer.blocked_autorange(min_run_time=MIN_TIME) for _ in range(max(ROUNDS, 5))]
blocks = [t for r in runs for t in r.times]                     # seconds per call, one per block
q1, med, q3 = np.percentile(blocks, [25, 50, 75])
print(f"torch.utils.benchmark: median {1e3 * med:.2f} ms, IQR {1e3 * (q3 - q1):.2f} ms "
      f"over {len(blocks)} blocks, {torch.get_num_threads()} thread(s)")
above = sum(t > q3 for t in naive)
print(f"the single readings run from {1e3 * min(naive):.2f} to {1e3 * max(naive):.2f} ms "
      f"({max(naive) / min(naive):.1f} times the smallest); {above} of {len(naive)} lie above Timer's "
      f"third quartile; the first reading was {'the slowest' if naive[0] == max(naive) else 'not the slowest'}")
if P.relative_spread({"median": med, "iqr": q3 - q1}) > P.NOISY_SPREAD:
    print(f"Timer's own blocks varied by {100 * (q3 - q1) / med:.0f} % of their median: the machine is busy, "
          "and even the median is only a rough figure on this run")

# %% [markdown]
# The last lines compare the two on this run: how far the single readings scatter, how many of
# them lie above `Timer`'s third quartile, and whether the first (which pays the first-call
# costs) was the slowest. Each reading is one sample of a noisy quantity; the median of many is a
# statistic of it, and the IQR says how far to trust it — when `Timer` itself reports a wide IQR,
# the cell says so. (`Timer` runs on one thread unless `num_threads` says otherwise: compare
# readings only at the same number of threads.) On a GPU, the first of the three numbers shows the
# call returning long before the work is done.
#
# ### 1.2 A yardstick: the copy
#
# Times in milliseconds depend on the machine; ratios to something every machine does the same way
# travel better. The yardstick here is **copying the input** into a preallocated tensor,
# `out.copy_(x)`: one read and one write of $X$, no arithmetic — the fastest any module that must
# read $X$ and write a result of the same size could possibly be. `attn_ref.profiling.measure` times
# several callables in **interleaved rounds** (copy, module A, module B, copy, module A, …), so a
# change in the machine's load hits all of them alike, and `ratios_to` reports each as the median
# over rounds of *its time / the copy's time in the same round*, with the quartiles as error bars.
#
# Each `attn_ref` module is compared with the straightforward transcription of its published code:
# `P.module_pair(kind, C)` builds both with the same weights, and the cell asserts that they give
# the same output before timing them.
#
# **When the numbers cannot be trusted.** A busy machine does worse than slow everything down: it
# makes rounds disagree, and a copy slowed by a neighbour in one round can make an operation look
# cheaper than the bytes it must move — which is impossible. So the cell does not leave the reading
# to you. It prints each callable's **spread** (IQR / median over rounds) and, when some spread is
# above `P.NOISY_SPREAD`, measures once more and pools the rounds (`P.measure_until_steady`). It
# decides *faster* or *slower* only when the per-round ratio of the two implementations is below 1
# (or above 1) in every quartile (`P.compare`), and says *cannot tell* otherwise. And it prints a
# warning for a spread that stayed too wide and for any ratio below half its floor (eq. (3) of section 2:
# the least traffic the module must move) (`P.trust_report`). A warning means: rerun when the machine
# is quieter, and do not conclude from this run.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-03", "locked": true, "schema_version": 3, "solution": false, "task": false}
pairs = {kind: tuple(m.to(DEVICE) for m in P.module_pair(kind, SHAPE[1])) for kind in P.KINDS}
fns = {"copy": P.copy_of(x)}
with torch.no_grad():
    for kind, (ours, base) in pairs.items():
        assert torch.allclose(ours(x), base(x), atol=1e-4, rtol=1e-4), kind
        fns[kind] = lambda m=ours: m(x)
        fns[kind + " (baseline)"] = lambda m=base: m(x)
    print(f"timing {len(fns)} callables in {ROUNDS} interleaved rounds, once more if the machine is "
          "too busy ...", flush=True)
    t0 = time.perf_counter()
    results = P.measure_until_steady(fns, rounds=ROUNDS, min_run_time=MIN_TIME)
print(f"done in {time.perf_counter() - t0:.0f} s")
ratios = P.ratios_to(results)
b, c, h, w = SHAPE
floors = {name: P.min_bytes(kind, b, c, h, w, x.element_size()) / P.copy_bytes(x)   # eq. (3), in copies
          for kind in P.KINDS for name in (kind, kind + " (baseline)")}
print(f"{'callable':18} {'median ms':>10} {'IQR ms':>8} {'spread':>7} {'x copy':>7} {'quartiles':>11}")
for name, r in results.items():
    q = ratios[name]
    print(f"{name:18} {1e3 * r['median']:10.3f} {1e3 * r['iqr']:8.3f} {100 * P.relative_spread(r):6.0f}% "
          f"{q['median']:7.2f} {q['q1']:5.2f}–{q['q3']:.2f}")
print()
for kind in P.KINDS:                     # attn_ref against the published code, round by round
    v = P.compare(results, kind, kind + " (baseline)")
    words = {"faster": f"attn_ref is faster: {v['median']:.2f} of the baseline's time",
             "slower": f"attn_ref is SLOWER: {v['median']:.2f} times the baseline's time",
             "undecided": f"this run cannot tell (attn_ref / baseline = {v['median']:.2f}, but the rounds "
                          "disagree on which is faster)"}[v["verdict"]]
    print(f"{kind:5} {words}; per-round quartiles {v['q1']:.2f}–{v['q3']:.2f}")
for line in P.trust_report(results, ratios, floors):
    print("WARNING:", line)


# %% [markdown]
# ## 2. What a module must move: bytes, intensity, roofline
#
# ### 2.1 The model
#
# Let $N = BCHW$ be the number of elements of $X$ and $s$ the bytes per element (`itemsize`: 4 for
# float32, 2 for bfloat16 and float16, 8 for float64). When $X$ is much larger than the caches, each
# full pass over it moves $Ns$ bytes between memory and the cores, and a pass costs at least
# $Ns/\beta$ seconds at memory bandwidth $\beta$. A copy reads and writes once:
#
# $$ Q_{\text{copy}} = 2Ns, \qquad t_{\text{copy}} \ge \frac{2Ns}{\beta}. \tag{1}$$
#
# Every module of this course ends with a **scaling pass** that multiplies $X$ by its gates. Fused
# into one pass, it reads $X$ once, reads each gate **once in its own small shape** (a fused kernel
# broadcasts in registers, it never materialises a full-size copy of a gate), and writes $Y$ once:
#
# $$ Q_{\text{scale}} = s\,(2N + G), \qquad
# G = \begin{cases} BC & \text{SE, ECA } (s\in\mathbb{R}^{C}\text{ per example})\\
# BC\,(H+W) & \text{CA } (a^h\in\mathbb{R}^{C\times H},\ a^w\in\mathbb{R}^{C\times W})\\
# BC + BHW & \text{CBAM } (M_c\in\mathbb{R}^{C},\ M_s\in\mathbb{R}^{H\times W}).\end{cases} \tag{2}$$
#
# Before that pass can start, the gates must exist, and they depend on **all** of $X$ (a mean over
# $H\times W$, over $W$, over channels). With $X$ too large to stay in cache between the pooling and
# the scaling, the pooling costs full reads of $X$: **one** for SE, ECA and CA (a single pass can
# accumulate CA's row means and column means together), **two** for CBAM — its spatial map pools
# $F' = M_c\otimes X$ over channels, which needs $M_c$, which needs a complete pass over $X$ first
# (the second pass can read $X$ and $M_c$ and form $F'$ on the fly, without writing it). With $p$
# pooling passes, and leaving out the tiny layers that turn pooled vectors into gates,
#
# $$ Q_{\min} = s\,pN + Q_{\text{scale}}, \qquad p = \begin{cases}1 & \text{SE, ECA, CA}\\ 2 & \text{CBAM.}\end{cases} \tag{3}$$
#
# In copies, the **floor** is $Q_{\min}/Q_{\text{copy}} \approx (p+2)/2$: 1.5 for SE, ECA and CA,
# 2 for CBAM. No implementation that follows eq. (3)'s order of passes can beat it; the gap between
# a measured ratio and this floor is what an implementation wastes.

# %% [markdown]
# ### Exercise 1: the scaling pass (2 points)
#
# Write `scale_bytes(kind, B, C, H, W, itemsize=4)`, eq. (2), for `kind` in `"se"`, `"eca"`,
# `"cbam"`, `"ca"`. Return bytes (an integer).

# %% nbgrader={"grade": false, "grade_id": "scale_bytes", "locked": false, "schema_version": 3, "solution": true, "task": false}
def scale_bytes(kind: str, B: int, C: int, H: int, W: int, itemsize: int = 4) -> int:
    """Bytes moved by one fused scaling pass, eq. (2): read x, read the gates, write y."""
    ### BEGIN SOLUTION
    n = B * C * H * W
    gates = {"se": B * C, "eca": B * C, "ca": B * C * (H + W), "cbam": B * C + B * H * W}[kind]
    return itemsize * (2 * n + gates)
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_scale_bytes", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("profiling.scale_bytes", scale_bytes)
### END HIDDEN TESTS
# B=1, C=2, H=3, W=4: N = 24 elements. SE reads x (24), its gate s (2 values) and writes y (24).
expect_equal(scale_bytes("se", 1, 2, 3, 4), 4 * (24 + 2 + 24), "scale_bytes('se', 1, 2, 3, 4)",
             hint="read x once, read the B*C gate values once, write y once; 4 bytes each in float32.")
# CA reads a^h (C*H = 6 values) and a^w (C*W = 8 values) instead; float64 has 8 bytes per element.
expect_equal(scale_bytes("ca", 1, 2, 3, 4, itemsize=8), 8 * (24 + 6 + 8 + 24), "scale_bytes('ca', 1, 2, 3, 4, itemsize=8)",
             hint="CA's gates are B*C*H + B*C*W values, read in their own small shapes.")
print("Every visible test of this step passes; it earns its 2 points when the hidden tests agree.")


# %% [markdown]
# ### Exercise 2: the whole forward pass (2 points)
#
# Write `min_bytes(kind, B, C, H, W, itemsize=4)`, eq. (3): the pooling reads plus the scaling pass.
# You may call your `scale_bytes`.

# %% nbgrader={"grade": false, "grade_id": "min_bytes", "locked": false, "schema_version": 3, "solution": true, "task": false}
def min_bytes(kind: str, B: int, C: int, H: int, W: int, itemsize: int = 4) -> int:
    """The least memory traffic of an inference forward, eq. (3), in bytes."""
    ### BEGIN SOLUTION
    pooling_passes = 2 if kind == "cbam" else 1
    return pooling_passes * B * C * H * W * itemsize + scale_bytes(kind, B, C, H, W, itemsize)
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_min_bytes", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("profiling.min_bytes", min_bytes)
### END HIDDEN TESTS
# ECA at B=1, C=2, H=3, W=4 in float32: one pooling read (24 elements) + the scaling pass of exercise 1.
expect_equal(min_bytes("eca", 1, 2, 3, 4), 4 * 24 + 4 * (24 + 2 + 24), "min_bytes('eca', 1, 2, 3, 4)",
             hint="one full read of x for the pooling, then scale_bytes.")
# CA pools along W and along H, but one pass over x can accumulate both: one read, as for ECA.
expect_equal(min_bytes("ca", 1, 2, 3, 4), 4 * 24 + 4 * (24 + 6 + 8 + 24), "min_bytes('ca', 1, 2, 3, 4)",
             hint="CA: one pooling read; its row means and column means accumulate in the same pass over x.")
# CBAM pools twice: M_c needs all of x, and the spatial map pools M_c * x.
expect_equal(min_bytes("cbam", 1, 2, 3, 4), 4 * 2 * 24 + 4 * (24 + 2 + 12 + 24), "min_bytes('cbam', 1, 2, 3, 4)",
             hint="CBAM: two pooling reads; its gates are M_c (B*C) and M_s (B*H*W).")
print("Every visible test of this step passes; it earns its 2 points when the hidden tests agree.")


# %% [markdown]
# ### 2.2 Arithmetic intensity and the roofline
#
# A processor can do at most $P_{\text{peak}}$ floating-point operations per second and move at most
# $\beta$ bytes per second. A computation with $F$ operations on $Q$ bytes has **arithmetic
# intensity** $I = F/Q$ (FLOP per byte), and the *roofline model* (Williams, Waterman, Patterson,
# "Roofline", CACM 2009) bounds its speed by
#
# $$ P_{\text{attainable}} = \min\big(P_{\text{peak}},\; I\,\beta\big). \tag{4}$$
#
# Below the **ridge point** $I^* = P_{\text{peak}}/\beta$ a computation is memory-bound: more
# arithmetic units would not help, fewer bytes would. For an NVIDIA A100 (40 GB), the datasheet's
# 19.5 TFLOP/s float32 and 1,555 GB/s give $I^*\approx 12.5$ FLOP/byte; CPUs sit in the same range.
# The scaling pass does one multiplication per gate per element,
#
# $$ F_{\text{scale}} = gN, \qquad g = \begin{cases}1 & \text{SE, ECA}\\ 2 & \text{CA } (x\,a^h a^w),\ \text{CBAM } (x\,M_c M_s),\end{cases} \tag{5}$$
#
# so its intensity is about $g/(2s)$: 0.125 to 0.25 FLOP/byte in float32, fifty to a hundred times
# below the ridge. These modules are memory-bound everywhere; only bytes matter.
#
# ### Exercise 3: multiplications of the scaling pass (1 point)
#
# Write `scale_flops(kind, B, C, H, W)`, eq. (5).

# %% nbgrader={"grade": false, "grade_id": "scale_flops", "locked": false, "schema_version": 3, "solution": true, "task": false}
def scale_flops(kind: str, B: int, C: int, H: int, W: int) -> int:
    """Multiplications of the scaling pass, eq. (5)."""
    ### BEGIN SOLUTION
    gates = 1 if kind in ("se", "eca") else 2
    return gates * B * C * H * W
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_scale_flops", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("profiling.scale_flops", scale_flops)
### END HIDDEN TESTS
expect_equal(scale_flops("se", 1, 2, 3, 4), 24, "scale_flops('se', 1, 2, 3, 4)",
             hint="SE multiplies each of the N = 24 elements by its channel's gate once.")
expect_equal(scale_flops("ca", 1, 2, 3, 4), 48, "scale_flops('ca', 1, 2, 3, 4)",
             hint="CA multiplies each element by a^h and by a^w: two multiplications.")
print("Every visible test of this step passes; it earns its 1 point when the hidden tests agree.")

# %% [markdown]
# ### 2.3 Floors against measurements
#
# The reference versions of your three functions are `P.scale_bytes`, `P.min_bytes` and
# `P.scale_flops` (the cells below use them, so they run whatever your exercises return). First the
# floors of eq. (3) in copies, beside the ratios measured in section 1.2:

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-04", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
B, C, H, W = 32, 256, 28, 28
copy = 2 * B * C * H * W * 4
print(f"float32, B={B}, C={C}, H={H}, W={W}: a copy moves {copy / 2**20:.1f} MiB")
print(f"{'module':6} {'min bytes (MiB)':>16} {'floor (copies)':>15} {'intensity of scaling (FLOP/B)':>30}")
for kind in P.KINDS:
    q = P.min_bytes(kind, B, C, H, W)
    i = P.scale_flops(kind, B, C, H, W) / P.scale_bytes(kind, B, C, H, W)
    print(f"{kind:6} {q / 2**20:16.1f} {q / copy:15.3f} {i:30.3f}")

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-05", "locked": true, "schema_version": 3, "solution": false, "task": false}
b, c, h, w = SHAPE
copy = 2 * x.numel() * x.element_size()
floor = {k: P.min_bytes(k, b, c, h, w, x.element_size()) / copy for k in P.KINDS}
fig, ax = plt.subplots(figsize=(8, 3.4))
pos = np.arange(len(P.KINDS))
for off, label, key in ((-0.27, "attn_ref", "{}"), (0.0, "baseline (published code)", "{} (baseline)")):
    med = np.array([ratios[key.format(k)]["median"] for k in P.KINDS])
    lo = med - np.array([ratios[key.format(k)]["q1"] for k in P.KINDS])
    hi = np.array([ratios[key.format(k)]["q3"] for k in P.KINDS]) - med
    ax.bar(pos + off, med, 0.27, yerr=[lo, hi], capsize=3, label=label)
ax.bar(pos + 0.27, [floor[k] for k in P.KINDS], 0.27, color="0.6", label="floor, eq. (3)")
ax.axhline(1, color="k", lw=0.8); ax.set_yscale("log")
ax.set_xticks(pos, [k.upper() for k in P.KINDS]); ax.set_ylabel("time / copy (log scale)")
ax.set_title(f"inference forward on {DEVICE}, {tuple(SHAPE)} float32 (median and quartiles over rounds)")
ax.legend(fontsize=8); fig.tight_layout(); plt.show()

# %% [markdown]
# And the roofline of this machine, eq. (4), with $\beta$ taken from the copy measured above and
# $P_{\text{peak}}$ from a large matrix product (a practical peak, not the datasheet's). Each module
# is placed at its intensity $F_{\text{scale}}/Q_{\min}$ and at the rate it achieves,
# $F_{\text{scale}}/t$, with $t$ its measured time: the distance below the sloped roof is the
# traffic it wastes.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-06", "locked": true, "schema_version": 3, "solution": false, "task": false}
n = 512 if GRADING else 2048
a_mat = torch.randn(n, n, device=DEVICE)
with torch.no_grad():
    mm = P.measure({"mm": lambda: a_mat @ a_mat}, rounds=ROUNDS, min_run_time=MIN_TIME)["mm"]["median"]
peak = 2 * n**3 / mm                                  # FLOP/s
beta = copy / results["copy"]["median"]               # bytes/s
fig, ax = plt.subplots(figsize=(7, 4))
I = np.logspace(-2, 3, 200)
ax.loglog(I, np.minimum(peak, I * beta), "k-", label=f"roof: β = {beta / 1e9:.1f} GB/s, P = {peak / 1e9:.0f} GFLOP/s")
for kind in P.KINDS:
    F_ = P.scale_flops(kind, b, c, h, w)
    inten = F_ / P.min_bytes(kind, b, c, h, w, x.element_size())
    for name, marker in ((kind, "o"), (kind + " (baseline)", "x")):
        ax.plot(inten, F_ / results[name]["median"], marker, label=name)
ax.axvline(peak / beta, color="0.7", ls=":")
ax.set_xlabel("arithmetic intensity (FLOP / byte)"); ax.set_ylabel("FLOP / s")
ax.set_title(f"roofline on {DEVICE} (ridge at {peak / beta:.1f} FLOP/byte)")
ax.legend(fontsize=7, ncol=2); fig.tight_layout(); plt.show()


# %% [markdown]
# ## 3. Where the time goes: `torch.profiler`
#
# ### 3.1 Operator tables and a trace
#
# `torch.profiler.profile` records every operator PyTorch dispatches (and, on a GPU, every CUDA
# kernel) with its start and end. `key_averages()` sums them by operator name into a table. Two
# columns matter most:
#
# * **self time** — time spent in the operator itself, excluding the operators it calls;
# * **total time** — including them. `aten::conv2d` calls `aten::convolution`, which calls
#   `aten::_convolution`, …: total time counts the same work at every level, and a range recorded
#   with `record_function("…")` has the total of everything inside it.
#
# So *where the time goes* is the self-time column (on a GPU, also `self_device_us`: the time of
# the kernels an operator launched, while its CPU time is mostly the launch). `P.profile_rows(fn)` runs `fn` a few times under
# the profiler, inside a `record_function` range, and returns the table as plain rows sorted by
# self time; with `trace_path=` it also writes a **Chrome trace**, a JSON timeline to open in
# <https://ui.perfetto.dev> or `chrome://tracing` (one bar per operator; zoom in to see the gaps
# between them, where Python and the dispatcher run). With `profile_memory=True` the table also has
# the memory each operator allocated itself.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-07", "locked": true, "schema_version": 3, "solution": false, "task": false}
def show(rows, top=8, title=""):
    dev = "self_device_us" in rows[0]
    print(title)
    print(f"  {'operator':32} {'calls':>5} {'self ms':>8} {'total ms':>9} {'self alloc MiB':>15}" + ("  device ms" if dev else ""))
    for r in rows[:top]:
        print(f"  {r['name'][:32]:32} {r['calls']:5d} {r['self_cpu_us'] / 1e3:8.2f} {r['cpu_total_us'] / 1e3:9.2f} "
              f"{r['self_cpu_memory_bytes'] / 2**20:15.1f}" + (f" {r['self_device_us'] / 1e3:10.2f}" if dev else ""))

trace = None if GRADING else os.path.join(tempfile.gettempdir(), "ca_baseline_trace.json")
with torch.no_grad():
    base_rows = P.profile_rows(lambda: ca_base(x), label="CABaseline.forward", trace_path=trace)
    fast_rows = P.profile_rows(lambda: ca_fast(x), label="CoordinateAttention.forward")
show(base_rows, title="straightforward CA (attn_ref.baselines), 3 calls:")
show(fast_rows, title="attn_ref.CoordinateAttention, 3 calls:")
if trace:
    print(f"\ntrace written to {trace} ({os.path.getsize(trace) / 1e3:.0f} kB): open it in https://ui.perfetto.dev "
          "(copy it next to your notebook first if your browser cannot reach that folder)")

# %% [markdown]
# ### 3.2 Memory
#
# Traffic is one cost of a fresh full-size tensor; the memory it occupies is another. On a GPU,
# PyTorch's caching allocator keeps statistics: `torch.cuda.reset_peak_memory_stats()` then
# `torch.cuda.max_memory_allocated()` gives the peak of one call (`P.peak_cuda_bytes`). On the CPU
# there is no such allocator; what the operating system sees is the process's **resident set**.
# Linux lets a process reset its high-water mark (`echo 5 > /proc/self/clear_refs`) and read it back
# (`VmHWM` in `/proc/self/status`): `P.peak_rss_bytes` reports how far above the resident set before
# the call one call went. `P.minor_faults` counts **minor page faults** per call: each is the kernel
# mapping (and zeroing) a fresh page on first touch — the price of a large allocation that the
# allocator had to get from the operating system rather than reuse.
#
# On the CPU the resident set and the page faults often stay at zero after the first call: glibc
# keeps the memory freed by one call and hands it to the next, so the operating system sees
# nothing (whether it does depends on the heap's history; `bench/README.md` shows runs with
# thousands of faults per call). So the table also counts, with `torch.profiler`, the bytes PyTorch
# **allocates** during one call, and that count as a multiple of $x$: this is where the modules
# differ, whatever the allocator does with the memory afterwards.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-08", "locked": true, "schema_version": 3, "solution": false, "task": false}
mib = x.numel() * x.element_size() / 2**20
print(f"x is {mib:.1f} MiB")


def allocated_bytes(fn):
    """Bytes PyTorch allocates during one call (torch.profiler: each operator's own allocations)."""
    rows = P.profile_rows(fn, label="one call", repeats=1)
    return sum(max(r["self_cpu_memory_bytes"], 0) for r in rows if r["name"] != "one call")


with torch.no_grad():
    for kind, (ours, base) in pairs.items():
        row = []
        for m in (ours, base):
            if GPU:
                extra = P.peak_cuda_bytes(lambda: m(x))["increase"]
                row.append(f"peak allocated +{extra / 2**20:6.1f} MiB")
            else:
                alloc = allocated_bytes(lambda: m(x))
                extra = P.peak_rss_bytes(lambda: m(x))["increase"]
                row.append(f"allocates {alloc / 2**20:6.1f} MiB ({alloc / 2**20 / mib:3.1f} x), RSS +{extra / 2**20:5.1f} MiB, "
                           f"{P.minor_faults(lambda: m(x), repeats=2):6.0f} faults")
        print(f"{kind:5} attn_ref: {row[0]} | baseline: {row[1]}")

# %% [markdown]
# ### 3.3 Why a straightforward CA or CBAM can cost many copies
#
# Check your verdict lines of section 1.2 first: this section explains a gap between the baseline
# and `attn_ref` that a quiet machine shows. If your run printed *cannot tell*, *SLOWER* or a
# warning, the machine was busy while it measured; rerun that cell before reading on. Put the
# operator tables next to eq. (3). The measured breakdown behind `attn_ref`'s own benchmark
# (`bench/README.md`) finds the same causes; the cell after this list measures the pieces on your
# machine.
#
# * **Extra full-size passes.** The published CA ends with `identity * a_w * a_h`: the first product
#   writes a full-size temporary, the second reads it back and writes the output — two read-and-write
#   passes where eq. (2) has one, plus a second full-size allocation. Its two poolings,
#   `AdaptiveAvgPool2d((None, 1))` and `((1, None))`, read $X$ twice where one pass would do. The
#   published CBAM reads $X$ twice to pool it (average and max), **writes** $F' = M_c\otimes X$,
#   reads $F'$ twice more (max and mean over channels) and reads and rewrites it for $M_s\otimes F'$:
#   six full reads and two writes against the floor's three and one.
# * **Reductions against the memory layout.** In NCHW, $W$ is the innermost axis: a mean over $W$
#   (CA's row descriptor) reduces runs of $W$ contiguous values, short for late stages ($W = 7$ to
#   28), and a max over channels (CBAM's spatial map) strides $HW$ elements between the values it
#   combines. Both run well below copy speed.
# * **Broadcasts over strided tensors.** When $X$ is channels-last but a gate is laid out as NCHW
#   (or the other way round), every element of the product reads the gate with a stride instead of
#   in step with $X$.
# * **The allocator.** Every fresh full-size result is a new large allocation. When the allocator
#   hands it back to the operating system after use and asks for it again on the next call, every
#   page is faulted in and zeroed again — on the CPU that is roughly one more pass over the memory.
#
# `attn_ref` avoids what eager PyTorch lets it avoid: it pools a channels-last $X$ on its
# $(B, H, W, C)$ view, keeps the gates in $X$'s memory format, writes the result of CA's product
# into one allocation and scales it in place (`attn_ref.coord.scale_hw`), and uses `amax` (no
# indices) for CBAM's max pooling when no gradient is needed. What it cannot do in eager mode is
# multiply by two broadcast gates in a **single** pass — that needs a fused kernel (section 5).
#
# One more thing the tables may show that eq. (3) does not model: the small layers on the pooled
# descriptors (CA's $1\times1$ convolutions, CBAM's $7\times7$ one, the MLPs) have a fixed cost
# per call — dispatch, and for oneDNN convolutions setting up the computation — that does not
# shrink with the tensor. On a small or busy machine that overhead can rank high in the self-time
# column; it is latency, not traffic, and it matters less as $N$ grows.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-09", "locked": true, "schema_version": 3, "solution": false, "task": false}
a_h = torch.rand(b, c, h, 1, device=DEVICE)
a_w = torch.rand(b, c, 1, w, device=DEVICE)
out = torch.empty_like(x)
parts = {
    "copy": P.copy_of(x),
    "x.clone() (fresh allocation)": lambda: x.clone(),
    "x.mean(3) (pool along W)": lambda: x.mean(3),
    "x.mean(2) (pool along H)": lambda: x.mean(2),
    "x * a_w * a_h (temporary)": lambda: x * a_w * a_h,
    "mul(x, a_w, out=).mul_(a_h)": lambda: torch.mul(x, a_w, out=out).mul_(a_h),
    "x.amax(1) (CBAM, over C)": lambda: x.amax(1),
}
# the least each must move, in copies (eq. 1): a pass that only reads x moves half a copy's bytes
part_floors = {"x.clone() (fresh allocation)": 1.0, "x.mean(3) (pool along W)": 0.5,
               "x.mean(2) (pool along H)": 0.5, "x * a_w * a_h (temporary)": 2.0,
               "mul(x, a_w, out=).mul_(a_h)": 2.0, "x.amax(1) (CBAM, over C)": 0.5}
with torch.no_grad():
    part_results = P.measure_until_steady(parts, rounds=ROUNDS, min_run_time=MIN_TIME)
part_ratios = P.ratios_to(part_results)
print(f"{'operation':32} {'copies':>6} {'quartiles':>11} {'floor':>6}")
for name, r in part_ratios.items():
    print(f"{name:32} {r['median']:6.2f} {r['q1']:5.2f}–{r['q3']:.2f} {part_floors.get(name, 1.0):6.1f}")
for line in P.trust_report(part_results, part_ratios, part_floors):
    print("WARNING:", line)

# %% [markdown]
# ### Exercise 4: the dominant operator of a saved profile (2 points)
#
# Profiles are noisy and machine-dependent, so this exercise reads one **saved** with the course
# package: the straightforward CA on the CPU, in inference, made by `P.save_profile()` (its `meta`
# says with which torch, shape and threads). Its `rows` are dicts with the keys `name`, `calls`,
# `self_cpu_us` and `cpu_total_us` (totals over all calls, microseconds) and
# `self_cpu_memory_bytes`.
#
# Write `dominant_operator(rows)`: the **name** of the operator that takes the most time *itself*.
# Do not assume the rows come sorted; the hidden tests also give tables in other orders.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-10", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
saved = P.load_saved_profile()
meta = saved["meta"]
print(f"{meta['module']}, x of shape {tuple(meta['shape'])}, {meta['threads']} thread(s), "
      f"{meta['repeats']} calls, torch {meta['torch']}")
show(saved["rows"], top=10, title="the saved table (sorted by self time):")


# %% nbgrader={"grade": false, "grade_id": "dominant_operator", "locked": false, "schema_version": 3, "solution": true, "task": false}
def dominant_operator(rows: list[dict]) -> str:
    """Name of the row with the largest self CPU time."""
    ### BEGIN SOLUTION
    return max(rows, key=lambda r: r["self_cpu_us"])["name"]
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_dominant_operator", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("profiling.dominant_operator", dominant_operator)
### END HIDDEN TESTS
rows = [  # a hand-made table, not sorted: the forward range has the largest total, empty the most calls
    {"name": "aten::empty", "calls": 40, "self_cpu_us": 90.0, "cpu_total_us": 90.0, "self_cpu_memory_bytes": 0},
    {"name": "model.forward", "calls": 1, "self_cpu_us": 30.0, "cpu_total_us": 2000.0, "self_cpu_memory_bytes": 0},
    {"name": "aten::mul", "calls": 2, "self_cpu_us": 1200.0, "cpu_total_us": 1200.0, "self_cpu_memory_bytes": 0},
    {"name": "aten::mean", "calls": 2, "self_cpu_us": 600.0, "cpu_total_us": 640.0, "self_cpu_memory_bytes": 0},
]
got = dominant_operator(rows)
hints = {"model.forward": "that row has the largest cpu_total_us, which includes the operators called "
                         "inside it: rank by self_cpu_us.",
         "aten::empty": "that row has the most calls (and is the first row): rank every row by self_cpu_us."}
if got != "aten::mul":
    raise AssertionError(f"dominant_operator(rows): {hints.get(got, 'rank the rows by self_cpu_us, largest first.')}\n"
                         f"  expected 'aten::mul', got {got!r}")
print("ok: dominant_operator(rows) = 'aten::mul'")
print("Every visible test of this step passes; it earns its 2 points when the hidden tests agree.")

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-11", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
top = dominant_operator(saved["rows"])
share = sum(r["self_cpu_us"] for r in saved["rows"] if r["name"] == top) / sum(r["self_cpu_us"] for r in saved["rows"])
print(f"dominant operator of the saved profile: {top} ({100 * share:.0f} % of all self time)")

# %% [markdown]
# Compare it with the list in section 3.3: which full-size pass is it, and how many copies did the
# same operation cost on your machine in the cell above?
#
# ## 4. Levers
#
# Three changes that need no new code in the module, each measured against the same copy:
#
# * **channels-last** (`x.to(memory_format=torch.channels_last)`, $C$ innermost): changes which
#   reductions run along contiguous memory. `attn_ref`'s modules handle both layouts; the
#   straightforward code was written for NCHW.
# * **lower precision**: bfloat16 (or float16 on a GPU) halves $s$ in eqs. (1)–(3), so a memory-bound
#   module should take about half the time — *if* its tensors really are half-size. `torch.autocast`
#   runs matrix products and convolutions in lower precision but leaves element-wise products of
#   float32 inputs in float32, so for these modules it saves little; casting the module and its input
#   (`.bfloat16()`) is what halves the traffic. (CPU bfloat16 arithmetic is fast only on processors
#   with native support; elsewhere it is converted on the fly.)
# * **`torch.compile`**: TorchInductor fuses chains of element-wise operations and reductions into
#   generated kernels (C++/OpenMP on the CPU, Triton on a GPU), removing intermediate tensors. Its first
#   call compiles, which is slow (the header gives an estimate; the cell prints when it starts and
#   how long it took), so it is skipped while grading. We compile the straightforward
#   CA with `dynamic=False` (shapes fixed).

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-12", "locked": true, "schema_version": 3, "solution": false, "task": false}
x_cl = x.to(memory_format=torch.channels_last)
x_bf = x.bfloat16()
ca_fast_bf, ca_base_bf = (m.to(DEVICE).bfloat16() for m in P.module_pair("ca", SHAPE[1]))
levers = {
    "copy": P.copy_of(x),
    "CA attn_ref, NCHW": lambda: ca_fast(x),
    "CA baseline, NCHW": lambda: ca_base(x),
    "CA attn_ref, channels_last": lambda: ca_fast(x_cl),
    "CA baseline, channels_last": lambda: ca_base(x_cl),
    "CA attn_ref, autocast bf16": lambda: _autocast(ca_fast, x),
    "CA attn_ref, bfloat16": lambda: ca_fast_bf(x_bf),
    "CA baseline, bfloat16": lambda: ca_base_bf(x_bf),
}


def _autocast(m, t):
    with torch.autocast(DEVICE, dtype=torch.bfloat16):
        return m(t)


if not GRADING:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ca_compiled = torch.compile(ca_base, dynamic=False)
        print("compiling the baseline CA with torch.compile (slow the first time, less with a warm cache; "
              "the chapter's header gives an estimate); nothing more is printed until it is done ...", flush=True)
        t0 = time.time()
        with torch.no_grad():
            same = torch.allclose(ca_compiled(x), ca_base(x), atol=1e-5)
        print(f"torch.compile of the baseline CA: first call {time.time() - t0:.1f} s, same output: {same}")
    levers["CA baseline, torch.compile"] = lambda: ca_compiled(x)
print(f"timing {len(levers)} callables in {ROUNDS} interleaved rounds, once more if the machine is "
      "too busy ...", flush=True)
t0 = time.perf_counter()
with torch.no_grad():
    lever_results = P.measure_until_steady(levers, rounds=ROUNDS, min_run_time=MIN_TIME)
print(f"done in {time.perf_counter() - t0:.0f} s")
lever_ratios = P.ratios_to(lever_results)
for name, r in lever_ratios.items():
    print(f"{name:30} {r['median']:6.2f} copies of float32 x ({r['q1']:.2f}–{r['q3']:.2f})")
print()
for name in levers:                          # each lever against the same code in NCHW float32
    if name == "copy" or name.endswith("NCHW"):
        continue
    same_code = "CA attn_ref, NCHW" if "attn_ref" in name else "CA baseline, NCHW"
    v = P.compare(lever_results, name, same_code)
    said = {"faster": "helped", "slower": "HURT", "undecided": "made no difference this run could see"}[v["verdict"]]
    print(f"{name.split(', ')[1]:15} {said} for {name.split(',')[0][3:]}: {v['median']:.2f} times "
          f"its NCHW float32 time (per-round quartiles {v['q1']:.2f}–{v['q3']:.2f})")
lever_floors = {"CA attn_ref, bfloat16": 0.75, "CA baseline, bfloat16": 0.75}   # eq. (3) with s = 2, in float32 copies
lever_floors |= {n: 1.5 for n in levers if n != "copy" and n not in lever_floors and "autocast" not in n}
for line in P.trust_report(lever_results, lever_ratios, lever_floors):
    print("WARNING:", line)


# %% [markdown]
# Read the table against eq. (3): in bfloat16 the floor is half the float32 copy, 0.75 copies for CA.
# Whether a lever helps depends on the machine — a channels-last input can make the
# straightforward code *slower*, and bfloat16 on a CPU without native support can cost more than it
# saves — so the lines under the table say, lever by lever, whether it *helped*, *hurt* or made no
# difference this run could see (the same per-round test as in section 1.2), and warn when the
# machine was too busy to say. That is why every claim in this chapter is a measurement you can
# repeat, printed with the verdict its numbers support.
#
# ## 5. One pass: a fused kernel in Triton
#
# ### 5.1 The kernel
#
# Eager PyTorch computes CA's last step, eq. (6) of chapter 4, $y_c(h,w) = x_c(h,w)\,a^h_c(h)\,a^w_c(w)$,
# in two passes. A single kernel can read $x$ once, fetch the two gate values each element needs,
# and write $y$ once — exactly the $Q_{\text{scale}}$ of eq. (2).
#
# [Triton](https://triton-lang.org) writes such kernels in Python. A kernel is a function decorated
# with `@triton.jit`, launched on a **grid** of program instances; each instance handles a block of
# `BLOCK` elements at once (`BLOCK` is a `tl.constexpr`, fixed at compile time, usually a power of
# two). Inside it:
#
# * `pid = tl.program_id(0)` is the instance's index along the grid's first axis, and
#   `offs = pid * BLOCK + tl.arange(0, BLOCK)` the flat indices of its block;
# * `tl.load(ptr + offs, mask=m)` and `tl.store(ptr + offs, v, mask=m)` read and write memory; a
#   tensor argument arrives as a pointer to its first element, and you do the index arithmetic;
# * the **mask** switches off the lanes past the end: $N$ is rarely a multiple of `BLOCK`, and the
#   last block must neither read nor write beyond the tensor.
#
# For a contiguous $(B, C, H, W)$ output and a flat index $i$: $w = i \bmod W$, the row of $a^h$ is
# $\lfloor i/W\rfloor$ (it enumerates $(b, c, h)$ in order, which is exactly $a^h$'s flat index), and
# $a^w$'s flat index is $\lfloor i/(HW)\rfloor\, W + w$. The launcher computes the grid,
# $\lceil N/\texttt{BLOCK}\rceil$ instances (`triton.cdiv`), and passes the sizes.
#
# ### Exercise 5: `ca_scale` (4 points)
#
# Write the kernel and its launcher `ca_scale(x, a_h, a_w, out)`, which writes $x\,a^h a^w$ into
# `out` and returns it. What the hidden tests promise: `x` is $(B, C, H, W)$ and may be contiguous,
# channels-last or a transposed view (make it contiguous in the launcher, or use its strides);
# `a_h` is $(B, C, H, 1)$ and `a_w` $(B, C, 1, W)$, contiguous; `out` is a contiguous
# $(B, C, H, W)$ tensor; float32 and float64; sizes that are multiples of no block size, down to a
# single element, and $H \ne W$ as well as $H = W$. Any block size, a 1-D or a 2-D grid, and
# strides or a contiguous copy are all fine. A kernel that writes past the end of `out` fails.

# %% nbgrader={"grade": false, "grade_id": "ca_scale", "locked": false, "schema_version": 3, "solution": true, "task": false}
@triton.jit
def ca_scale_kernel(x_ptr, ah_ptr, aw_ptr, out_ptr, n, H, W, BLOCK: tl.constexpr):
    """out[i] = x[i] * a_h[row of i] * a_w[column of i], for BLOCK flat indices i per program."""
    ### BEGIN SOLUTION
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    live = offs < n                       # the last block runs past the end
    w = offs % W
    row = offs // W                       # flat index of (b, c, h): a_h's element
    col = (row // H) * W + w              # flat index of (b, c, w): a_w's element
    x = tl.load(x_ptr + offs, mask=live)
    ah = tl.load(ah_ptr + row, mask=live)
    aw = tl.load(aw_ptr + col, mask=live)
    tl.store(out_ptr + offs, x * ah * aw, mask=live)
    ### END SOLUTION


def ca_scale(x: torch.Tensor, a_h: torch.Tensor, a_w: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Write x * a_h * a_w into out (contiguous, x's shape) with one kernel launch; return out."""
    ### BEGIN SOLUTION
    x = x.contiguous()
    n = x.numel()
    block = 256
    grid = (triton.cdiv(n, block),)
    ca_scale_kernel[grid](x, a_h, a_w, out, n, x.shape[2], x.shape[3], BLOCK=block)
    return out
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_ca_scale", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("profiling.ca_scale", ca_scale)
### END HIDDEN TESTS
def with_margin(shape, dtype):
    """An output tensor followed by spare room filled with -1: an unmasked kernel writes there."""
    n = int(np.prod(shape))
    buf = torch.full((n + 4096,), -1.0, dtype=dtype, device=DEVICE)
    return buf[:n].view(shape), buf[n:]


def check_margin(margin, name):
    if (margin != -1).any():
        raise AssertionError(f"{name}: the last block runs past n: pass mask=offs < n to its loads and stores.\n"
                             f"  your kernel wrote {int((margin != -1).sum())} value(s) past the end of out.")


# B=1, C=2, H=2, W=3 (N = 12, not a multiple of any block size): every value is checkable by hand.
xs = torch.arange(1.0, 13.0, dtype=torch.float64, device=DEVICE).reshape(1, 2, 2, 3)
ah = torch.tensor([1.0, 10.0, 100.0, 1000.0], dtype=torch.float64, device=DEVICE).reshape(1, 2, 2, 1)
aw = torch.tensor([1.0, 2.0, 3.0, 1.0, 0.5, 0.25], dtype=torch.float64, device=DEVICE).reshape(1, 2, 1, 3)
want = xs * ah * aw          # row h of channel c is scaled by ah[c, h], column w by aw[c, w]
out, margin = with_margin((1, 2, 2, 3), torch.float64)
ca_scale(xs, ah, aw, out)
check_margin(margin, "ca_scale on a 1x2x2x3 example")
expect_close(out.cpu(), want.cpu(), "ca_scale on a 1x2x2x3 example",
             hint="a_h scales whole rows (index it with (b, c, h) = offs // W), a_w whole columns "
                  "((b, c) = offs // (H * W), then w = offs % W).")
xt = torch.randn(2, 3, 7, 5, dtype=torch.float64, device=DEVICE).transpose(2, 3)     # a strided view
ah2, aw2 = torch.rand(2, 3, 5, 1, dtype=torch.float64, device=DEVICE), torch.rand(2, 3, 1, 7, dtype=torch.float64, device=DEVICE)
out, margin = with_margin((2, 3, 5, 7), torch.float64)
ca_scale(xt, ah2, aw2, out)
check_margin(margin, "ca_scale on a transposed x")
expect_close(out.cpu(), (xt * ah2 * aw2).cpu(), "ca_scale on a transposed x (2x3x5x7, N = 210)",
             hint="x is not contiguous here: call x.contiguous() in the launcher, or index it with x.stride().")
print("Every visible test of this step passes; it earns its 4 points when the hidden tests agree.")

# %% [markdown]
# ### 5.2 Does it pay?
#
# Your kernel against `P.fused_ca_scale` (the reference: a 1-D grid that reads $x$ through its
# strides, so it needs no contiguous copy) and against eager PyTorch. On a GPU the timings show what
# fusion buys; on the CPU the interpreter runs the kernel with NumPy, one program at a time, so only
# the values and the bytes are compared.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-13", "locked": true, "schema_version": 3, "solution": false, "task": false}
small = (2, 16, 14, 14)
xs = torch.randn(small, device=DEVICE)
ahs, aws = torch.rand(small[0], small[1], small[2], 1, device=DEVICE), torch.rand(small[0], small[1], 1, small[3], device=DEVICE)
out_s, margin_s = with_margin(small, xs.dtype)        # out followed by guard space filled with -1
mine = ca_scale(xs, ahs, aws, out_s)
ref = P.fused_ca_scale(xs, ahs, aws)
same = torch.allclose(mine, ref) and torch.allclose(ref, xs * ahs * aws)
inside = bool((margin_s == -1).all())                   # an unmasked last block writes past the end
print("your kernel == reference kernel == eager, nothing written past the end of out:", same and inside)
if not inside:
    print(f"  your kernel wrote {int((margin_s != -1).sum())} value(s) past the end of out: mask the last block")
b_, c_, h_, w_ = SHAPE
fused = P.scale_bytes("ca", b_, c_, h_, w_)
eager = 4 * b_ * c_ * h_ * w_ * 4 + 4 * b_ * c_ * (h_ + w_)   # two passes: x·a_w -> temporary, temporary·a_h -> y
print(f"scaling pass at {tuple(SHAPE)}, float32: fused {fused / 2**20:.1f} MiB, eager (two passes) "
      f"{eager / 2**20:.1f} MiB: {eager / fused:.2f}x the traffic")
if GPU:
    out_ = torch.empty_like(x)
    t = P.ratios_to(P.measure({"copy": P.copy_of(x), "eager x * a_w * a_h": lambda: x * a_w * a_h,
                               "your ca_scale": lambda: ca_scale(x, a_h, a_w, out_),
                               "P.fused_ca_scale": lambda: P.fused_ca_scale(x, a_h, a_w, out_)},
                              rounds=ROUNDS, min_run_time=MIN_TIME))
    for name, r in t.items():
        print(f"{name:22} {r['median']:6.2f} copies")

# %% [markdown]
# ## 6. Pitfalls
#
# * **Timing launches instead of work.** Without `torch.cuda.synchronize()` (or CUDA events, or
#   `torch.utils.benchmark`) a GPU timing measures how fast kernels are queued.
# * **Timing the first call.** It includes allocation, initialisation and algorithm selection.
# * **One number.** Report a median and a spread, over interleaved rounds, relative to a yardstick
#   measured in the same rounds; say what else was running.
# * **Concluding from noise.** When the spread between rounds is wider than the difference you are
#   after, or a ratio falls below the bytes the operation must move, the numbers show the machine's
#   load, not the code. Decide only when every quartile of the per-round ratio agrees
#   (`P.compare`), and otherwise say *cannot tell* and measure again on a quieter machine.
# * **Timer's threads.** `torch.utils.benchmark.Timer` runs on one thread unless `num_threads` is
#   given; compared with readings taken on all threads, it measures a different program.
# * **Counting multiply-adds for memory-bound modules.** A module at 0.1–0.3 FLOP/byte is limited by
#   bytes; eq. (3) predicts its cost, a FLOP counter does not.
# * **Total time instead of self time.** In an operator table, total time counts nested operators at
#   every level, and a `record_function` range contains everything; rank by self time.
# * **Materialised broadcasts.** `x * a.expand_as(x)` is fine (a view), but `a.expand_as(x).contiguous()`
#   or `repeat` builds a full-size gate; in a fused kernel, read the small gate.
# * **A kernel without a mask.** On a GPU an unmasked last block reads garbage and writes past the
#   end, corrupting another tensor silently; in the interpreter it can crash the process.
# * **Lower precision that is not.** `autocast` leaves element-wise products of float32 inputs in
#   float32; the traffic only halves when the tensors themselves are half-size.
#
# ## 7. Summary and references
#
# | quantity | closed form | code |
# |---|---|---|
# | copy | $Q_{\text{copy}} = 2Ns$ | `P.copy_bytes(x)` |
# | scaling pass | $Q_{\text{scale}} = s(2N + G)$; $G = BC$, $BC(H+W)$, $BC + BHW$ | `scale_bytes` |
# | whole forward | $Q_{\min} = s\,pN + Q_{\text{scale}}$; $p = 1$, CBAM $2$ | `min_bytes` |
# | floor in copies | $\approx (p + 2)/2$: 1.5 (SE, ECA, CA), 2 (CBAM) | |
# | multiplications | $F = gN$; $g = 1$ (SE, ECA), $2$ (CA, CBAM) | `scale_flops` |
# | roofline | $P = \min(P_{\text{peak}}, I\beta)$, $I = F/Q$ | |
#
# * S. Williams, A. Waterman, D. Patterson. *Roofline: an insightful visual performance model for
#   multicore architectures.* Communications of the ACM 52(4), 2009.
# * PyTorch documentation: `torch.utils.benchmark` (*PyTorch Benchmark* recipe), `torch.profiler`
#   (*PyTorch Profiler* recipe), CUDA semantics (asynchronous execution), `torch.compile`.
# * P. Tillet, H. T. Kung, D. Cox. *Triton: an intermediate language and compiler for tiled neural
#   network computations.* MAPL 2019; <https://triton-lang.org> (tutorial *Vector addition*; the
#   interpreter, `TRITON_INTERPRET=1`).
# * `attn_ref/baselines.py` (the straightforward transcriptions), `attn_ref/profiling.py` (the
#   helpers of this chapter), `bench/README.md` (the course's module benchmark and its breakdown).

# %% [markdown]
# ## Before you submit
#
# The cell below lists the graded steps of this chapter with their points, and whether each step's visible tests passed when they last ran in this session (*Run → Run All Cells* runs them all; it goes on past the steps you have not written yet). Visible tests that pass are a good sign, not the grade: the grader runs each step's hidden tests when you submit.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "summary", "locked": true, "schema_version": 3, "solution": false, "task": false}
from attn_ref.grading import summary

summary("profiling.ipynb")
