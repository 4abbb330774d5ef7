"""Hidden checks of the profiling chapter (``solutions/06_profiling/profiling.ipynb``).

Nothing here is timed: the graded steps are closed forms (bytes and multiplications of a module's
passes), reading a saved operator table, and a Triton kernel whose values are compared.

What the Triton step promises the learner (and tests): ``ca_scale(x, a_h, a_w, out)`` is called
with ``x`` of shape (B, C, H, W) that may be contiguous, channels_last or a transposed view;
``a_h`` (B, C, H, 1) and ``a_w`` (B, C, 1, W) contiguous; ``out`` a contiguous (B, C, H, W)
tensor to write into; float32 and float64; sizes that are not multiples of any block size
(including a single element), and square as well as non-square maps. Every tensor lives inside a
larger buffer whose margins hold a sentinel, so a kernel without a mask on its last block reads
harmless values and is caught writing past the end of ``out`` instead of corrupting memory.
Without CUDA the learner's kernel runs in Triton's interpreter (``TRITON_INTERPRET=1``).
"""
from __future__ import annotations

import os

import numpy as np
import torch

from .. import profiling as P
from .core import Case, Check, Mistake, Rejected, case_rng, to_numpy

KIND_NAMES = {"se": "SE", "eca": "ECA", "cbam": "CBAM", "ca": "CA"}


def _count_cases(check_id, with_itemsize=True):
    specs = [("se", (32, 256, 28, 28), 4), ("ca", (32, 256, 28, 28), 4), ("cbam", (32, 64, 56, 56), 4),
             ("eca", (8, 96, 14, 14), 2), ("ca", (2, 16, 5, 9), 8), ("cbam", (3, 7, 11, 4), 2),
             ("ca", (1, 1, 1, 1), 4), ("se", (5, 3, 2, 7), 8), ("cbam", (1, 512, 7, 7), None),
             ("ca", (4, 24, 3, 17), None)]
    out = []
    for kind, (b, c, h, w), size in specs:
        args = [kind, b, c, h, w] + ([size] if size is not None and with_itemsize else [])
        label = (f"{KIND_NAMES[kind]}, B={b}, C={c}, H={h}, W={w}, " +
                 (f"itemsize={size}" if len(args) == 6 else "default itemsize"))
        out.append(Case(label, args=args))
    return out


def _unpack(case):
    kind, b, c, h, w = case.args[:5]
    size = case.args[5] if len(case.args) > 5 else 4
    return kind, b, c, h, w, size


def _gates(kind, b, c, h, w):
    return {"se": b * c, "eca": b * c, "ca": b * c * (h + w), "cbam": b * c + b * h * w}[kind]


# ----- step 1: the fused scaling pass -----------------------------------------------------------
class ScaleBytes(Check):
    step = "scale_bytes"
    title = "scale_bytes(kind, B, C, H, W, itemsize=4)"
    points_hint = ("eq. (2): read x once (N elements), read the gates (SE/ECA: B C; CA: B C (H + W); "
                   "CBAM: B C + B H W), write y once (N elements); times itemsize bytes.")

    def cases(self):
        return _count_cases(self.id)

    def expected(self, case):
        return np.asarray(P.scale_bytes(*case.args), dtype=np.float64)

    def reference(self):
        return P.scale_bytes

    def mistakes(self):
        def f(c, xs=2, gates=True, size=True, full_gates=False):
            kind, b, cc, h, w, s = _unpack(c)
            n = b * cc * h * w
            g = (n * {"se": 1, "eca": 1, "ca": 2, "cbam": 2}[kind]) if full_gates else \
                (_gates(kind, b, cc, h, w) if gates else 0)
            return np.asarray((xs * n + g) * (s if size else 1), dtype=np.float64)
        return [
            Mistake("no write", "the output y is never written: a pass reads x and writes y (2 N).",
                    lambda c: f(c, xs=1)),
            Mistake("write twice", "x and y are counted three times: one read of x and one write "
                    "of y make 2 N.", lambda c: f(c, xs=3)),
            Mistake("elements", "these are elements, not bytes: multiply by itemsize.",
                    lambda c: f(c, size=False)),
            Mistake("no gates", "the gates read by the pass are missing (SE/ECA B C, CA B C (H+W), "
                    "CBAM B C + B H W).", lambda c: f(c, gates=False)),
            Mistake("broadcast", "each gate is counted as a full-size tensor: a fused pass reads the "
                    "small gates themselves, not broadcast copies.", lambda c: f(c, full_gates=True)),
        ]


# ----- step 2: the whole forward ----------------------------------------------------------------
class MinBytes(Check):
    step = "min_bytes"
    title = "min_bytes(kind, B, C, H, W, itemsize=4)"
    points_hint = ("eq. (3): the pooling reads of x before the scaling pass (SE, ECA, CA: one; "
                   "CBAM: two, its spatial map needs M_c first) plus scale_bytes.")
    substitutes = {"scale_bytes": P.scale_bytes}

    def cases(self):
        return _count_cases(self.id)

    def expected(self, case):
        return np.asarray(P.min_bytes(*case.args), dtype=np.float64)

    def reference(self):
        return P.min_bytes

    def mistakes(self):
        def f(c, passes=None, size=True):
            kind, b, cc, h, w, s = _unpack(c)
            n = b * cc * h * w
            p = P.pooling_passes(kind) if passes is None else passes(kind)
            return np.asarray((p * n + 2 * n + _gates(kind, b, cc, h, w)) * (s if size else 1),
                              dtype=np.float64)
        return [
            Mistake("cbam one pool", "CBAM needs two pooling reads: its spatial map pools "
                    "M_c * x, so it waits for M_c, which needs all of x.",
                    lambda c: f(c, passes=lambda k: 1)),
            Mistake("no pooling", "that is only the scaling pass; the pooling must read x first.",
                    lambda c: f(c, passes=lambda k: 0)),
            # one read of x per pooling: CA's two (along W, along H) counted as two reads, the
            # others right (SE and ECA one, CBAM two)
            Mistake("ca two pools", "CA's two poolings (along W and along H) can share one read "
                    "of x: one pass accumulates both.",
                    lambda c: f(c, passes=lambda k: P.pooling_passes(k) + (k == "ca"))),
            Mistake("elements", "these are elements, not bytes: multiply by itemsize.",
                    lambda c: f(c, size=False)),
        ]


# ----- step 3: multiplications of the scaling pass ---------------------------------------------
class ScaleFlops(Check):
    step = "scale_flops"
    title = "scale_flops(kind, B, C, H, W)"
    points_hint = "one multiplication per gate per element of x: SE/ECA N, CA and CBAM 2 N."

    def cases(self):
        return _count_cases(self.id, with_itemsize=False)

    def expected(self, case):
        return np.asarray(P.scale_flops(*case.args[:5]), dtype=np.float64)

    def reference(self):
        return P.scale_flops

    def mistakes(self):
        def one(c):
            kind, b, cc, h, w, _ = _unpack(c)
            return np.asarray(b * cc * h * w, dtype=np.float64)
        return [Mistake("one gate", "CA and CBAM multiply every element by two gates "
                        "(a^h and a^w; M_c and M_s): 2 N.", one)]


# ----- step 4: the dominant operator of a saved profile ------------------------------------------
_OPS = ["aten::mul", "aten::add", "aten::mean", "aten::cat", "aten::sigmoid", "aten::copy_",
        "aten::empty", "aten::conv2d", "aten::_adaptive_avg_pool2d", "aten::max", "aten::relu6",
        "aten::permute", "aten::split", "aten::native_batch_norm", "aten::clone"]


def _synthetic_rows(rng) -> list[dict]:
    """An operator table in which the largest self time, the largest total time, the most calls
    and the first row are four different rows (rows shuffled)."""
    names = [str(s) for s in rng.choice(_OPS, size=7, replace=False)]
    rows = []
    for name in names:
        selft = float(rng.uniform(50, 900))
        rows.append({"name": name, "calls": int(rng.integers(1, 12)), "self_cpu_us": selft,
                     "cpu_total_us": selft + float(rng.uniform(0, 300)),
                     "self_cpu_memory_bytes": int(rng.integers(0, 10**6))})
    top = int(np.argmax([r["self_cpu_us"] for r in rows]))
    rows[top]["self_cpu_us"] += 1000.0                     # a clear winner by self time
    rows[top]["cpu_total_us"] = rows[top]["self_cpu_us"] + 5.0
    others = [i for i in range(len(rows)) if i != top]
    caller = others[int(rng.integers(len(others)))]        # a wrapper: long total, little self
    rows[caller]["cpu_total_us"] = rows[top]["self_cpu_us"] + 2000.0
    busiest = [i for i in others if i != caller][int(rng.integers(len(others) - 1))]
    rows[busiest]["calls"] = 100 + int(rng.integers(0, 50))
    rows.append({"name": "model.forward", "calls": 3, "self_cpu_us": 40.0,
                 "cpu_total_us": rows[caller]["cpu_total_us"] + 500.0, "self_cpu_memory_bytes": 0})
    order = list(rng.permutation(len(rows)))
    while order[0] == top:                                   # the first row is not the answer
        order = list(rng.permutation(len(rows)))
    return [rows[i] for i in order]


def _names(case):
    return [r["name"] for r in case.args[0]]


def _index(case, name):
    return np.asarray(float(_names(case).index(name)))


class DominantOp(Check):
    step = "dominant_operator"
    title = "dominant_operator(rows) (feedback names rows by their position in the table, from 0)"
    points_hint = ("the row with the largest self_cpu_us (time spent in the operator itself, "
                   "without the operators it calls); do not assume the rows are sorted.")

    def cases(self):
        saved = P.load_saved_profile()
        out = [Case(f"the saved profile ({len(saved['rows'])} rows)", args=[saved["rows"]])]
        for i in range(4):
            rows = _synthetic_rows(case_rng(self.id, i))
            out.append(Case(f"a shuffled table of {len(rows)} rows", args=[rows]))
        return out

    def run(self, obj, case):
        rows = [dict(r) for r in case.args[0]]             # the learner may not change ours
        name = obj(rows)
        if not isinstance(name, str):
            raise Rejected(f"your function returned a {type(name).__name__}, expected an "
                           "operator name (str)")
        names = _names(case)
        if name not in names:
            raise Rejected(f"your function returned {name[:80]!r}, which is not a name in the "
                           "table")
        return [np.asarray(float(names.index(name)))]

    def expected(self, case):
        return _index(case, P.dominant_operator(case.args[0]))

    def reference(self):
        return P.dominant_operator

    def mistakes(self):
        def by(key):
            return lambda c: _index(c, max(c.args[0], key=lambda r: r[key])["name"])
        return [
            Mistake("total", "that row has the largest cpu_total_us, which includes the time of "
                    "the operators it calls (or a whole recorded range); rank by self_cpu_us.",
                    by("cpu_total_us")),
            Mistake("calls", "that row has the most calls, not the most time; rank by "
                    "self_cpu_us.", by("calls")),
            Mistake("first row", "that is the first row: the rows are not always sorted; find the "
                    "largest self_cpu_us.", lambda c: _index(c, c.args[0][0]["name"])),
        ]


# ----- step 5: the fused Triton kernel ---------------------------------------------------------
GUARD = 1 << 15            # sentinel elements around every tensor handed to the learner
SENTINEL = 1234.5


def _device():
    if torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET", "0") in ("", "0"):
        return "cuda"
    return "cpu"


def _guarded(n, dtype, device):
    buf = torch.full((n + 2 * GUARD,), SENTINEL, dtype=dtype, device=device)
    return buf, buf[GUARD:GUARD + n]


PAST_THE_END = "outside out (past its end)"


class FusedScale(Check):
    step = "ca_scale"
    title = "ca_scale(x, a_h, a_w, out) (a Triton kernel)"
    points_hint = ("out[b, c, h, w] = x[b, c, h, w] * a_h[b, c, h, 0] * a_w[b, c, 0, w]; mask the "
                   "last block (offsets < n); read x through its strides or make it contiguous.")

    SPECS = [((2, 3, 5, 7), "contiguous", "float32"), ((1, 4, 9, 13), "channels_last", "float32"),
             ((2, 2, 6, 6), "contiguous", "float64"), ((3, 5, 7, 11), "transposed", "float64"),
             ((1, 1, 1, 1), "contiguous", "float32"), ((2, 8, 16, 16), "channels_last", "float32"),
             ((1, 3, 33, 31), "contiguous", "float32"), ((2, 4, 10, 10), "transposed", "float32")]

    def cases(self):
        out = []
        for i, (shape, layout, dtype) in enumerate(self.SPECS):
            rng = case_rng(self.id, i)
            b, c, h, w = shape
            x = rng.normal(0.0, 1.0, size=shape)
            a_h = rng.uniform(0.05, 1.0, size=(b, c, h, 1))
            a_w = rng.uniform(0.05, 1.0, size=(b, c, 1, w))
            out.append(Case(f"x of shape {shape}, {layout}, {dtype}", args=[x, a_h, a_w],
                            kwargs={"layout": layout}, dtype=dtype))
        return out

    def run(self, obj, case):
        dtype = getattr(torch, case.dtype)
        device = _device()
        x_np, ah_np, aw_np = case.args
        b, c, h, w = x_np.shape
        n = x_np.size
        layout = case.kwargs["layout"]
        _, xflat = _guarded(n, dtype, device)
        if layout == "channels_last":
            x = xflat.view(b, h, w, c).permute(0, 3, 1, 2)
        elif layout == "transposed":
            x = xflat.view(b, c, w, h).transpose(2, 3)
        else:
            x = xflat.view(b, c, h, w)
        x.copy_(torch.from_numpy(x_np))
        _, ahflat = _guarded(ah_np.size, dtype, device)
        _, awflat = _guarded(aw_np.size, dtype, device)
        a_h = ahflat.view(b, c, h, 1)
        a_h.copy_(torch.from_numpy(ah_np))
        a_w = awflat.view(b, c, 1, w)
        a_w.copy_(torch.from_numpy(aw_np))
        inputs = [t.clone() for t in (x, a_h, a_w)]
        obuf, oflat = _guarded(n, dtype, device)
        out = oflat.view(b, c, h, w)
        obj(x, a_h, a_w, out)
        if device == "cuda":
            torch.cuda.synchronize()
        margin = torch.cat([obuf[:GUARD], obuf[GUARD + n:]])
        outside = int((margin != SENTINEL).sum())
        if outside:
            raise Rejected(f"your kernel wrote {outside} value(s) {PAST_THE_END}: the last "
                           "block runs past the end of the tensor; mask its loads and stores "
                           "with offsets < n")
        if any(not torch.equal(a, t) for a, t in zip(inputs, (x, a_h, a_w))):
            raise Rejected("your kernel changed its inputs x, a_h or a_w; write into out only")
        return [to_numpy(out)]

    def expected(self, case):
        x, a_h, a_w = case.args
        return x * a_h * a_w

    def reference(self):
        return P.fused_ca_scale

    def mistakes(self):
        def swapped(c):
            x, a_h, a_w = c.args
            if x.shape[2] != x.shape[3]:      # undefined: such a kernel reads past a_h or a_w
                return np.full(x.shape, np.nan)
            return x * np.swapaxes(a_h, 2, 3) * np.swapaxes(a_w, 2, 3)
        return [
            Mistake("wrong axis", "a_h is broadcast along the rows instead of the columns (and a_w "
                    "the other way): a_h[b, c, h] scales row h, i.e. index it with h = (i // W) % H.",
                    swapped),
            Mistake("a_h only", "only a_h is applied; multiply by a_w too.",
                    lambda c: c.args[0] * c.args[1]),
            Mistake("a_w only", "only a_w is applied; multiply by a_h too.",
                    lambda c: c.args[0] * c.args[2]),
            # its values are right; run() sees it write past the end of out
            Mistake("no mask", "the last block runs past the end of the tensor: mask its loads "
                    "and stores with offsets < n (n = x.numel()).", self.expected,
                    shown_by=PAST_THE_END),
        ]


CHECKS = [ScaleBytes(), MinBytes(), ScaleFlops(), DominantOp(), FusedScale()]
