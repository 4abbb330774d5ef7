"""Hidden checks of the bonus chapter, criss-cross attention and GAM (``solutions/07_bonus``).

Equation numbers are the notebook's: (1)-(5) criss-cross attention, (6)-(7) GAM's two maps.

Layouts. Criss-cross attention weights are compact, (B, H, W, H + W - 1): for the pixel (h, w),
first the H - 1 column positions (h', w), h' != h, by increasing h', then the W row positions
(h, w'), w' = 0 .. W - 1 (the pixel itself once, at w' = w), as ``attn_ref.ccnet`` stores them.
Reachability matrices index pixels row-major, u = h W + w. GAM's spatial gate takes its layers as
tuples: ``conv = (weight, bias)``, ``bn = (weight, bias, running_mean, running_var)``.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..ccnet import CrissCrossAttention, _drop_self_index, criss_cross_aggregate, criss_cross_attention
from ..complexity import gam_params
from ..gam import GAM
from .core import Case, Check, Mistake, Rejected, case_rng, to_numpy, float64_tensor


_t, _np = float64_tensor, to_numpy       # case arguments as float64 tensors, results as arrays


# ----- references with the learner-facing signatures (also used as substitutes) ---------------
def _compact(a_col, a_row):
    return CrissCrossAttention.compact_map(a_col, a_row)


def _expand_col(col, H):
    """(B, H, W, H - 1) compact column weights -> (B, H, W, H) with a zero at h' = h."""
    B, _, W, _ = col.shape
    idx = _drop_self_index(H, col.device)[:, None, :].expand(B, H, W, H - 1)
    return torch.zeros(B, H, W, H, dtype=col.dtype, device=col.device).scatter(-1, idx, col)


def ref_cc_attention(q, k):
    """Eqs. (2)-(3): compact criss-cross attention weights (B, H, W, H + W - 1)."""
    return _compact(*criss_cross_attention(q, k))


def ref_cc_aggregate(attn, v):
    """Eq. (4) without gamma and residual: sum over the cross of A_{u,v} V_v, (B, C, H, W)."""
    H = attn.shape[1]
    return criss_cross_aggregate(_expand_col(attn[..., :H - 1], H), attn[..., H - 1:], v)


def ref_reachability(H, W, passes):
    """(HW, HW) 0/1: entry [u, v] is 1 when the output at u depends on the input at v."""
    h = torch.arange(H).repeat_interleave(W)
    w = torch.arange(W).repeat(H)
    a = ((h[:, None] == h[None, :]) | (w[:, None] == w[None, :])).double()
    r = torch.eye(H * W, dtype=torch.float64)
    for _ in range(passes):
        r = ((r @ a) > 0).double()
    return r


def ref_cc_affinities(H, W, recurrence=2):
    return recurrence * H * W * (H + W - 1)


def ref_gam_channel_gate(x, w1, b1, w2, b2):
    """Eq. (6): M_c (B, C, H, W), the MLP applied to the channel vector of every position."""
    t = F.linear(F.relu(F.linear(x.permute(0, 2, 3, 1), w1, b1)), w2, b2)
    return torch.sigmoid(t.permute(0, 3, 1, 2))


def _bn(y, bn, eps=1e-5):
    g, beta, mean, var = bn
    return F.batch_norm(y, mean, var, g, beta, training=False, eps=eps)


def ref_gam_spatial_gate(f2, conv1, bn1, conv2, bn2, eps=1e-5):
    """Eq. (7): M_s = sigmoid(BN(conv7(relu(BN(conv7(F2)))))) (B, C, H, W), eval-mode BN."""
    y = F.relu(_bn(F.conv2d(f2, conv1[0], conv1[1], padding=3), bn1, eps))
    return torch.sigmoid(_bn(F.conv2d(y, conv2[0], conv2[1], padding=3), bn2, eps))


def ref_gam_param_count(channels, rate=4):
    return gam_params(channels, rate)


class RefCrissCross(CrissCrossAttention):
    def __init__(self, channels, reduction=8, recurrence=2):
        super().__init__(channels, reduction=reduction, store_maps=False, recurrence=recurrence)


class RefGAM(GAM):
    def __init__(self, channels, rate=4):
        super().__init__(channels, rate=rate, store_maps=False)


def _to_torch(a, dtype):
    if isinstance(a, np.ndarray):
        return torch.from_numpy(a).to(dtype)
    if isinstance(a, (tuple, list)):
        return tuple(_to_torch(v, dtype) for v in a)
    return a


def _load_named(obj, case, names_hint):
    """Instantiate the learner's class, load case.params by name, run it on case.args[0]."""
    dtype = getattr(torch, case.dtype)
    module = obj(**case.kwargs)
    if not isinstance(module, torch.nn.Module):
        raise Rejected(f"calling your class gave a {type(module).__name__}, not a torch.nn.Module")
    module = module.to(dtype).eval()
    tensors = dict(module.named_parameters())
    tensors.update(dict(module.named_buffers()))
    with torch.no_grad():
        for name, value in case.params.items():
            t = tensors.get(name)
            if t is None:
                raise Rejected(f"your module has no tensor {name!r}: keep the layers "
                                 f"{names_hint} that __init__ creates")
            if t.numel() != value.size:
                raise Rejected(f"your module's {name} has shape {tuple(t.shape)}, expected "
                               f"{tuple(value.shape)}")
            t.copy_(torch.from_numpy(np.ascontiguousarray(value)).reshape(t.shape))
        return [to_numpy(module(torch.from_numpy(case.args[0]).to(dtype)))]


# ----- CCNet step 1: attention weights ----------------------------------------------------------
def _cc_variant(q, k, twice=False, axis=-1, softmax=True, row_first=False):
    B, _, H, W = q.shape
    d_col = torch.einsum("bchw,bcgw->bhwg", q, k)
    d_row = torch.einsum("bchw,bchg->bhwg", q, k)
    if not twice:
        d_col = d_col.masked_fill(torch.eye(H, dtype=torch.bool)[:, None, :], float("-inf"))
    d = torch.cat([d_col, d_row], dim=-1)
    a = torch.softmax(d, dim=axis) if softmax else d
    col = _compact(a[..., :H], a[..., H:])[..., :H - 1]
    row = a[..., H:]
    return _np(torch.cat([row, col], -1) if row_first else torch.cat([col, row], -1))


class CCAttention(Check):
    step = "criss_cross_attention"
    axis_names = ("batch", "row", "column", "criss-cross position")
    title = "criss_cross_attention(q, k)"
    points_hint = ("eqs. (2)-(3): d_{u,v} = Q_u . K_v for the H - 1 column positions (without u) "
                   "and the W row positions (with u), then ONE softmax over these H + W - 1 "
                   "entries of each pixel (the last axis); column entries first.")

    def cases(self):
        specs = [((2, 3, 4, 5), "float64"), ((1, 1, 1, 1), "float64"), ((1, 2, 1, 6), "float64"),
                 ((2, 4, 7, 1), "float64"), ((1, 5, 6, 6), "float32"), ((3, 2, 3, 8), "float64"),
                 ((2, 8, 5, 3), "float32")]
        out = []
        for i, (s, d) in enumerate(specs):
            rng = case_rng(self.id, i)
            q, k = rng.normal(0, 1, s), rng.normal(0, 1, s)
            out.append(Case(f"q, k of shape {s}, {d}", args=[q, k], dtype=d))
        return out


    def reference(self):
        return ref_cc_attention

    def mistakes(self):
        a = lambda c: [_t(v) for v in c.args]  # noqa: E731
        return [
            Mistake("centre twice", "the pixel itself entered the softmax twice (once from its "
                    "column, once from its row): mask the column affinity of u with itself "
                    "(-inf) before the softmax.", lambda c: _cc_variant(*a(c), twice=True)),
            Mistake("wrong axis", "the softmax ran over the wrong axis: normalise over the "
                    "H + W - 1 entries of one pixel (the last axis), not over pixels.",
                    lambda c: _cc_variant(*a(c), axis=1)),
            Mistake("no softmax", "these are the raw affinities: apply the softmax of eq. (3).",
                    lambda c: _cc_variant(*a(c), softmax=False)),
            Mistake("row first", "the row entries come first; the documented order is the H - 1 "
                    "column entries, then the W row entries.",
                    lambda c: _cc_variant(*a(c), row_first=True)),
        ]


# ----- CCNet step 2: aggregation ----------------------------------------------------------------
def _agg_variant(attn, v, how):
    H, W = attn.shape[1], attn.shape[2]
    if how == "row first":
        row, col = attn[..., :W], attn[..., W:]
    else:
        col, row = attn[..., :H - 1], attn[..., H - 1:]
    if how == "no skip":
        B = attn.shape[0]
        full = torch.cat([col, torch.zeros(B, H, W, 1, dtype=col.dtype)], -1)
    else:
        full = _expand_col(col, H)
    return _np(criss_cross_aggregate(full, row, v))


class CCAggregate(Check):
    step = "criss_cross_aggregate"
    title = "criss_cross_aggregate(attn, v)"
    points_hint = ("eq. (4) without gamma: out[:, :, h, w] = sum over h' != h of "
                   "attn[:, h, w, j] V[:, :, h', w] (j counts the column positions without h) "
                   "+ sum over w' of attn[:, h, w, H - 1 + w'] V[:, :, h, w'].")

    def cases(self):
        specs = [(2, 3, 4, 5, "float64"), (1, 2, 1, 1, "float64"), (1, 4, 1, 6, "float64"),
                 (2, 3, 7, 1, "float64"), (1, 5, 6, 6, "float32"), (3, 2, 3, 8, "float64")]
        out = []
        for i, (B, C, H, W, d) in enumerate(specs):
            rng = case_rng(self.id, i)
            logits = rng.normal(0, 1.5, (B, H, W, H + W - 1))
            attn = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
            v = rng.normal(0, 1, (B, C, H, W))
            out.append(Case(f"attn of shape {(B, H, W, H + W - 1)}, v of shape {(B, C, H, W)}, {d}",
                            args=[attn, v], dtype=d))
        return out


    def reference(self):
        return ref_cc_aggregate

    def mistakes(self):
        a = lambda c: [_t(v) for v in c.args]  # noqa: E731
        return [
            Mistake("no skip", "the column weights were put on h' = 0 .. H - 2: they skip the "
                    "pixel's own row h (h' < h, then h' > h).",
                    lambda c: _agg_variant(*a(c), "no skip")),
            Mistake("row first", "the weights were read row first; the first H - 1 entries are "
                    "the column positions.", lambda c: _agg_variant(*a(c), "row first")),
        ]


# ----- CCNet step 3: the recurrent module -------------------------------------------------------
def _cc_params(rng, C, m):
    return {"query_conv.weight": rng.normal(0, 1.5 / np.sqrt(C), (m, C, 1, 1)),
            "query_conv.bias": rng.normal(0, 0.3, (m,)),
            "key_conv.weight": rng.normal(0, 1.5 / np.sqrt(C), (m, C, 1, 1)),
            "key_conv.bias": rng.normal(0, 0.3, (m,)),
            "value_conv.weight": rng.normal(0, 1 / np.sqrt(C), (C, C, 1, 1)),
            "value_conv.bias": rng.normal(0, 0.3, (C,)),
            "gamma": np.array([rng.choice([-1, 1]) * rng.uniform(0.5, 1.5)])}


class CCModule(Check):
    step = "cc_module"
    kind = "module"
    title = "CrissCross(channels, reduction, recurrence).forward"
    points_hint = ("repeat `recurrence` times with the same layers: attn from query_conv(x) and "
                   "key_conv(x), out = aggregate(attn, value_conv(x)), x = x + gamma * out; "
                   "the next pass starts from that x.")
    substitutes = {"criss_cross_attention": ref_cc_attention,
                   "criss_cross_aggregate": ref_cc_aggregate}

    def cases(self):
        specs = [(dict(channels=16, reduction=4), (2, 16, 5, 7), "float64"),
                 (dict(channels=8, reduction=8, recurrence=1), (1, 8, 4, 4), "float64"),
                 (dict(channels=12, reduction=3, recurrence=3), (2, 12, 3, 6), "float64"),
                 (dict(channels=9, reduction=2), (1, 9, 1, 1), "float64"),
                 (dict(channels=24), (1, 24, 6, 1), "float32"),
                 (dict(channels=10, reduction=5, recurrence=2), (2, 10, 4, 9), "float32")]
        out = []
        for i, (kw, shape, dtype) in enumerate(specs):
            rng = case_rng(self.id, i)
            m = max(1, kw["channels"] // kw.get("reduction", 8))
            params = _cc_params(rng, kw["channels"], m)
            x = rng.normal(0.2, 1.0, size=shape)
            args = ", ".join(f"{k}={v}" for k, v in kw.items())
            out.append(Case(f"CrissCross({args}) on x of shape {shape}, {dtype}", args=[x],
                            kwargs=kw, params=params, dtype=dtype))
        return out

    def run(self, obj, case):
        return _load_named(obj, case, "query_conv, key_conv, value_conv and gamma")

    def _module(self, case, recurrence=None):
        kw = dict(case.kwargs)
        if recurrence is not None:
            kw["recurrence"] = recurrence
        m = RefCrissCross(**kw).double().eval()
        m.load_state_dict({k: _t(v) for k, v in case.params.items()})
        return m

    def expected(self, case):
        with torch.no_grad():
            return _np(self._module(case)(_t(case.args[0])))

    def reference(self):
        return RefCrissCross

    def _variant(self, case, combine, twice=False, passes=None):
        m = self._module(case)
        x = _t(case.args[0])
        for _ in range(m.recurrence if passes is None else passes):
            q, k, v = m.query_conv(x), m.key_conv(x), m.value_conv(x)
            attn = torch.from_numpy(_cc_variant(q, k, twice=twice))
            x = combine(x, m.gamma, ref_cc_aggregate(attn, v))
        return _np(x)

    def mistakes(self):
        res = lambda x, g, o: x + g * o  # noqa: E731
        return [
            Mistake("no gamma", "gamma is ignored: eq. (4) adds gamma * out to x.",
                    lambda c: self._variant(c, lambda x, g, o: x + o)),
            Mistake("one pass", "only one pass ran: apply the block `self.recurrence` times "
                    "(the paper's R = 2), each pass on the previous pass's output.",
                    lambda c: self._variant(c, res, passes=1)),
            Mistake("no residual", "the input is not added back: x' = gamma * out + x.",
                    lambda c: self._variant(c, lambda x, g, o: g * o)),
            Mistake("centre twice", "each pixel's own affinity entered the softmax twice.",
                    lambda c: self._variant(c, res, twice=True)),
        ]


# ----- CCNet step 4: reachability ---------------------------------------------------------------
REACH_DTYPE = "the exercise asks for a torch.float64 tensor of 0.0 and 1.0"
class Reach(Check):
    step = "reachability"
    axis_names = ("output pixel u", "input pixel v")
    title = "reachability(H, W, passes)"
    points_hint = ("entry [u, v] (pixels numbered row-major, u = h * W + w) is 1 when, after "
                   "`passes` criss-cross passes, the output at u depends on the input at v: one "
                   "pass links u to its own row and column (u included), several passes chain "
                   "such links.")

    SPECS = [(3, 4, 1), (3, 4, 2), (1, 1, 1), (5, 2, 2), (4, 4, 3), (2, 6, 1), (1, 5, 1),
             (4, 3, 1), (6, 5, 2)]

    def cases(self):
        return [Case(f"H={h}, W={w}, passes={p}", args=[h, w, p]) for h, w, p in self.SPECS]

    def run(self, obj, case):
        with torch.no_grad():
            out = obj(*case.args)
        if not isinstance(out, torch.Tensor) or out.dtype != torch.float64:
            got = f"a tensor of dtype {out.dtype}" if isinstance(out, torch.Tensor) else \
                f"a {type(out).__name__}"
            raise Rejected(f"your reachability returned {got}; {REACH_DTYPE}")
        return [to_numpy(out)]

    def expected(self, case):
        return _np(ref_reachability(*case.args))

    def reference(self):
        return ref_reachability

    def mistakes(self):
        return [
            Mistake("one pass", "this is the reach of a single pass; chain the passes (two "
                    "passes reach every pixel).", lambda c: _np(ref_reachability(c.args[0], c.args[1], 1))),
            Mistake("all", "a single pass reaches only the pixel's row and column.",
                    lambda c: np.ones((c.args[0] * c.args[1],) * 2)),
            Mistake("no self", "a pixel's output depends on its own input (it is on its cross).",
                    lambda c: _np(ref_reachability(*c.args)) - (np.eye(c.args[0] * c.args[1])
                                                                  if c.args[2] == 1 else 0)),
            # seen by run (the numbers of a bool or integer matrix can be right)
            Mistake("dtype", "return a torch.float64 tensor of 0.0 and 1.0 (for instance "
                    "reach.double()), not a bool or integer one.",
                    lambda c: _np(ref_reachability(*c.args)), shown_by=REACH_DTYPE),
        ]


# ----- CCNet step 5: cost -----------------------------------------------------------------------
class CCCost(Check):
    step = "cc_cost"
    title = "cc_affinities(H, W, recurrence=2)"
    points_hint = "each pass computes H + W - 1 affinities for each of the H W pixels."

    SPECS = [(97, 97), (4, 5, 1), (1, 1), (64, 128, 3), (7, 1, 2), (33, 17, 1)]

    def cases(self):
        return [Case(f"H={s[0]}, W={s[1]}" + (f", recurrence={s[2]}" if len(s) > 2 else
                                              ", default recurrence"), args=list(s))
                for s in self.SPECS]

    def expected(self, case):
        return np.asarray(ref_cc_affinities(*case.args))

    def reference(self):
        return ref_cc_affinities

    def mistakes(self):
        def f(c, extra=-1, one=False):
            H, W = c.args[:2]
            R = 1 if one else (c.args[2] if len(c.args) > 2 else 2)
            return np.asarray(R * H * W * (H + W + extra))
        return [
            Mistake("centre twice", "the pixel itself is on its row and its column but counted "
                    "once: H + W - 1 per pixel.", lambda c: f(c, extra=0)),
            Mistake("one pass", "the default is R = 2 passes, each with its own affinities.",
                    lambda c: f(c, one=True)),
            Mistake("non-local", "that is the non-local count (H W)^2 per pass.",
                    lambda c: np.asarray((c.args[2] if len(c.args) > 2 else 2)
                                         * (c.args[0] * c.args[1]) ** 2)),
        ]


def _ratio97():
    return (97 * 97) ** 2 / ref_cc_affinities(97, 97, 2)


class CCRatio(Check):
    step = "cc_cost"
    value = "ratio"
    kind = "value"
    title = "nonlocal_over_rcca (a 97 x 97 map)"
    points_hint = ("one non-local block computes (H W)^2 affinities; RCCA computes R = 2 passes "
                   "of H W (H + W - 1).")

    def cases(self):
        return [Case("one number")]

    def expected(self, case):
        return np.asarray(_ratio97())

    def reference(self):
        return _ratio97()

    def mistakes(self):
        n = 97 * 97
        return [
            Mistake("one pass", "RCCA runs two passes: divide by 2 H W (H + W - 1).",
                    lambda c: np.asarray(n * n / (n * 193))),
            Mistake("centre twice", "H + W - 1 positions per pixel, not H + W.",
                    lambda c: np.asarray(n * n / (2 * n * 194))),
            Mistake("inverted", "the ratio is non-local over RCCA (greater than one).",
                    lambda c: np.asarray(1 / _ratio97())),
        ]


# ----- GAM step 1: channel gate -----------------------------------------------------------------
def _chan_variant(x, w1, b1, w2, b2, how):
    B, C, H, W = x.shape
    if how == "reshape":
        t = F.linear(F.relu(F.linear(x.reshape(B, H, W, C), w1, b1)), w2, b2)
        return _np(torch.sigmoid(t.reshape(B, C, H, W)))
    if how == "pooled":
        t = F.linear(F.relu(F.linear(x.mean((2, 3)), w1, b1)), w2, b2)
        return _np(torch.sigmoid(t)[:, :, None, None].expand(B, C, H, W))
    t = F.linear(x.permute(0, 2, 3, 1), w1, b1)
    t = F.linear(t if how == "no relu" else F.relu(t), w2, b2).permute(0, 3, 1, 2)
    return _np(t if how == "no sigmoid" else torch.sigmoid(t))


class GAMChannel(Check):
    step = "gam_channel_gate"
    title = "gam_channel_gate(x, w1, b1, w2, b2)"
    points_hint = ("eq. (6): permute x to (B, H, W, C) so that each position's channel vector is "
                   "the last axis, apply Linear(w1, b1), ReLU, Linear(w2, b2), permute back to "
                   "(B, C, H, W), then the sigmoid. No pooling.")

    def cases(self):
        specs = [(2, 8, 4, 5, 2), (1, 4, 1, 1, 1), (1, 12, 3, 1, 3), (2, 6, 2, 7, 2),
                 (1, 16, 5, 5, 4), (3, 5, 3, 4, 1)]
        out = []
        for i, (B, C, H, W, h) in enumerate(specs):
            rng = case_rng(self.id, i)
            d = "float32" if i == 4 else "float64"
            args = [rng.normal(0, 1, (B, C, H, W)), rng.normal(0, 2 / np.sqrt(C), (h, C)),
                    rng.normal(0, 0.5, (h,)), rng.normal(0, 2 / np.sqrt(h), (C, h)),
                    rng.normal(0, 0.5, (C,))]
            out.append(Case(f"x of shape {(B, C, H, W)}, C/r={h}, {d}", args=args, dtype=d))
        return out


    def reference(self):
        return ref_gam_channel_gate

    def mistakes(self):
        a = lambda c: [_t(v) for v in c.args]  # noqa: E731
        return [
            Mistake("reshape", "x was reshaped to (B, H, W, C), which scrambles channels and "
                    "positions; permute the axes (x.permute(0, 2, 3, 1)) and permute back.",
                    lambda c: _chan_variant(*a(c), "reshape")),
            Mistake("pooled", "the map has one value per channel: GAM applies the MLP at every "
                    "position, without pooling.", lambda c: _chan_variant(*a(c), "pooled")),
            Mistake("no sigmoid", "apply the sigmoid after permuting back.",
                    lambda c: _chan_variant(*a(c), "no sigmoid")),
            Mistake("no relu", "the MLP has a ReLU between its two layers.",
                    lambda c: _chan_variant(*a(c), "no relu")),
        ]


# ----- GAM step 2: spatial gate -----------------------------------------------------------------
def _spatial_variant(args, how):
    f2, conv1, bn1, conv2, bn2 = args[:5]
    eps = 1e-5 if len(args) < 6 or how == "eps" else float(args[5])
    inp = f2.mean(1, keepdim=True).expand_as(f2) if how == "channel pool" else f2
    if how == "maxpool":
        inp = F.max_pool2d(f2, 3, stride=1, padding=1)
    norm = (lambda y, bn: y) if how == "no bn" else (
        (lambda y, bn: F.batch_norm(y, None, None, bn[0], bn[1], training=True, eps=eps))
        if how == "train bn" else (lambda y, bn: _bn(y, bn, eps)))
    y = F.relu(norm(F.conv2d(inp, conv1[0], conv1[1], padding=3), bn1))
    m = torch.sigmoid(norm(F.conv2d(y, conv2[0], conv2[1], padding=3), bn2))
    if how == "map pooled":
        m = m.mean(1, keepdim=True).expand_as(m)
    return _np(m)


class GAMSpatial(Check):
    step = "gam_spatial_gate"
    title = "gam_spatial_gate(f2, conv1, bn1, conv2, bn2, eps)"
    points_hint = ("eq. (7): 7 x 7 convolution (padding 3, with bias) of F2 itself, BatchNorm "
                   "with the given running statistics and eps (eval mode; eps = 1e-5 when it is "
                   "not given), ReLU, the second 7 x 7 convolution, BatchNorm, sigmoid. No "
                   "pooling anywhere.")

    def cases(self):
        # the last: eps passed (None: left out, the default 1e-5 applies)
        specs = [(2, 8, 2, 5, 6, 1e-3), (2, 4, 1, 1, 1, None), (1, 12, 3, 7, 3, 0.1),
                 (2, 6, 3, 4, 9, None), (1, 16, 4, 6, 6, 0.5), (2, 5, 1, 8, 2, 1e-5)]
        out = []
        for i, (B, C, h, H, W, eps) in enumerate(specs):
            rng = case_rng(self.id, i)
            d = "float32" if i == 4 else "float64"
            bn = lambda n: (rng.uniform(0.5, 2, n), rng.uniform(-0.5, 0.5, n),  # noqa: E731
                            rng.uniform(-0.3, 0.3, n), rng.uniform(0.5, 2, n))
            args = [rng.normal(0, 1, (B, C, H, W)),
                    (rng.normal(0, 1.5 / np.sqrt(49 * C), (h, C, 7, 7)), rng.normal(0, 0.3, (h,))),
                    bn(h),
                    (rng.normal(0, 1.5 / np.sqrt(49 * h), (C, h, 7, 7)), rng.normal(0, 0.3, (C,))),
                    bn(C)] + ([] if eps is None else [eps])
            given = "eps left out" if eps is None else f"eps={eps:g}"
            out.append(Case(f"f2 of shape {(B, C, H, W)}, C/r={h}, {given}, {d}", args=args,
                            dtype=d))
        return out

    def run(self, obj, case):
        args = [_to_torch(a, getattr(torch, case.dtype)) for a in case.args]
        with torch.no_grad():
            return [to_numpy(obj(*args))]

    def _args(self, c):
        return [_to_torch(a, torch.float64) for a in c.args]

    def expected(self, case):
        return _np(ref_gam_spatial_gate(*self._args(case)))

    def reference(self):
        return ref_gam_spatial_gate

    def mistakes(self):
        return [
            Mistake("eps", "BatchNorm divides by sqrt(running_var + eps) with the eps you are "
                    "given: pass eps on to both BatchNorms (1e-5 only when it is left out).",
                    lambda c: _spatial_variant(self._args(c), "eps")),
            Mistake("channel pool", "the convolution saw the channel mean of F2 (CBAM-style "
                    "pooling); GAM convolves the full F2 to keep every channel's information.",
                    lambda c: _spatial_variant(self._args(c), "channel pool")),
            Mistake("map pooled", "the map was averaged over channels: GAM's M_s has a "
                    "separate value for every channel and position.",
                    lambda c: _spatial_variant(self._args(c), "map pooled")),
            Mistake("maxpool", "F2 went through a max pooling first; GAM removes pooling.",
                    lambda c: _spatial_variant(self._args(c), "maxpool")),
            Mistake("no bn", "BatchNorm follows each 7 x 7 convolution.",
                    lambda c: _spatial_variant(self._args(c), "no bn")),
            Mistake("train bn", "the BatchNorm used this batch's statistics; use the given "
                    "running mean and variance (eval mode).",
                    lambda c: _spatial_variant(self._args(c), "train bn")),
        ]


# ----- GAM step 3: the block --------------------------------------------------------------------
def _gam_params(rng, C, h):
    bn = lambda n: (rng.uniform(0.5, 2, n), rng.uniform(-0.5, 0.5, n),  # noqa: E731
                    rng.uniform(-0.3, 0.3, n), rng.uniform(0.5, 2, n))
    p = {"channel_attention.0.weight": rng.normal(0, 2 / np.sqrt(C), (h, C)),
         "channel_attention.0.bias": rng.normal(0, 0.5, (h,)),
         "channel_attention.2.weight": rng.normal(0, 2 / np.sqrt(h), (C, h)),
         "channel_attention.2.bias": rng.normal(0, 0.5, (C,)),
         "spatial_attention.0.weight": rng.normal(0, 1.5 / np.sqrt(49 * C), (h, C, 7, 7)),
         "spatial_attention.0.bias": rng.normal(0, 0.3, (h,)),
         "spatial_attention.3.weight": rng.normal(0, 1.5 / np.sqrt(49 * h), (C, h, 7, 7)),
         "spatial_attention.3.bias": rng.normal(0, 0.3, (C,))}
    for i, n in ((1, h), (4, C)):
        g, b, m, v = bn(n)
        p.update({f"spatial_attention.{i}.weight": g, f"spatial_attention.{i}.bias": b,
                  f"spatial_attention.{i}.running_mean": m, f"spatial_attention.{i}.running_var": v})
    return p


class GAMModule(Check):
    step = "gam_module"
    kind = "module"
    title = "GAMBlock(channels, rate).forward"
    points_hint = ("eqs. (6)-(7): M_c from x, F2 = M_c * x, M_s from F2, output F3 = M_s * F2. "
                   "Use the layers __init__ creates.")
    substitutes = {"gam_channel_gate": ref_gam_channel_gate,
                   "gam_spatial_gate": ref_gam_spatial_gate}

    def cases(self):
        specs = [(dict(channels=8, rate=4), (2, 8, 5, 6), "float64"),
                 (dict(channels=12), (1, 12, 3, 3), "float64"),
                 (dict(channels=6, rate=2), (2, 6, 1, 1), "float64"),
                 (dict(channels=5, rate=1), (1, 5, 4, 9), "float64"),
                 (dict(channels=16, rate=4), (2, 16, 6, 4), "float32")]
        out = []
        for i, (kw, shape, dtype) in enumerate(specs):
            rng = case_rng(self.id, i)
            h = max(1, kw["channels"] // kw.get("rate", 4))
            params = _gam_params(rng, kw["channels"], h)
            x = rng.normal(0.2, 1.0, size=shape)
            args = ", ".join(f"{k}={v}" for k, v in kw.items())
            out.append(Case(f"GAMBlock({args}) on x of shape {shape}, {dtype}", args=[x],
                            kwargs=kw, params=params, dtype=dtype))
        return out

    def run(self, obj, case):
        return _load_named(obj, case, "channel_attention and spatial_attention")

    def _module(self, case):
        m = RefGAM(**case.kwargs).double().eval()
        m.load_state_dict({k: _t(v) for k, v in case.params.items()}, strict=False)
        return m

    def expected(self, case):
        with torch.no_grad():
            return _np(self._module(case)(_t(case.args[0])))

    def reference(self):
        return RefGAM

    def _variant(self, case, how):
        m = self._module(case)
        x = _t(case.args[0])
        with torch.no_grad():
            m_c = m.channel_map(x)
            f2 = m_c * m_c if how == "self" else m_c * x
            if how == "channel pool":
                m_s = torch.sigmoid(m.spatial_attention(f2.mean(1, keepdim=True).expand_as(f2)))
            else:
                m_s = m.spatial_map(x if how == "from f1" else f2)
            if how == "spatial x":
                return _np(m_s * x)
            return _np(m_s * f2)

    def mistakes(self):
        return [
            Mistake("self", "F2 multiplies the channel map by itself and never touches x: "
                    "F2 = M_c * x.", lambda c: self._variant(c, "self")),
            Mistake("from f1", "the spatial map was computed from the input F1; eq. (7) "
                    "computes it from F2 = M_c * x.", lambda c: self._variant(c, "from f1")),
            Mistake("channel pool", "the spatial submodule saw the channel mean of F2; GAM "
                    "convolves F2 itself, without pooling.",
                    lambda c: self._variant(c, "channel pool")),
            Mistake("spatial x", "the spatial map multiplies x; F3 = M_s * F2 multiplies F2.",
                    lambda c: self._variant(c, "spatial x")),
        ]


# ----- GAM step 4: parameters -------------------------------------------------------------------
class GAMParams(Check):
    step = "gam_params"
    title = "gam_param_count(channels, rate=4)"
    points_hint = ("the MLP C -> C/r -> C with biases; two 7 x 7 convolutions C -> C/r and "
                   "C/r -> C with biases, each followed by a BatchNorm (2 parameters per "
                   "channel; running statistics are buffers); C/r = max(1, C // r).")

    SPECS = [(64,), (256, 4), (12, 5), (3, 8), (2048,), (96, 16), (7, 1)]

    def cases(self):
        return [Case(f"channels={s[0]}" + (f", rate={s[1]}" if len(s) > 1 else ", default rate"),
                     args=list(s)) for s in self.SPECS]

    def expected(self, case):
        return np.asarray(ref_gam_param_count(*case.args))

    def reference(self):
        return ref_gam_param_count

    def mistakes(self):
        def closed(c, k=7, bn=2, lo=1, r=4):
            C = c.args[0]
            h = max(lo, C // (c.args[1] if len(c.args) > 1 else r))
            return np.asarray(2 * C * h + h + C + (C * h + h * C) * k * k + h + C + bn * (h + C))
        return [
            Mistake("bn buffers", "the running mean and variance are buffers, not parameters.",
                    lambda c: closed(c, bn=4)),
            Mistake("no bn", "each 7 x 7 convolution is followed by a BatchNorm with a scale "
                    "and a shift per channel.", lambda c: closed(c, bn=0)),
            Mistake("3x3", "the spatial convolutions are 7 x 7.", lambda c: closed(c, k=3)),
            Mistake("r16", "GAM's default rate is r = 4.", lambda c: closed(c, r=16)),
        ]


# ----- critical reading -------------------------------------------------------------------------
def _value_check(value_name, title, hint, value, wrong):
    """A value the critical-reading step grades (``bonus.reading``); ``value_name`` is empty for
    its first value."""
    class _V(Check):
        kind = "value"

        def cases(self):
            return [Case("one number")]

        def expected(self, case):
            return np.asarray(value)

        def reference(self):
            return value

        def mistakes(self):
            return [Mistake(n, h, (lambda c, v=v: np.asarray(v))) for n, v, h in wrong]
    v = _V()
    v.step, v.value, v.title, v.points_hint = "reading", value_name, title, hint
    return v


FAKE_CC = _value_check(
    "", "fake_cc_positions",
    "count the input positions whose gradient at the centre output is non-zero: two 3 x 3 "
    "convolutions in a row see a 5 x 5 window.", 25,
    [("cross", 17, "17 is what one real criss-cross pass would see; this module has no attention."),
     ("full", 81, "81 is what two real criss-cross passes see; the circulating module is local."),
     ("one conv", 9, "the module stacks two 3 x 3 convolutions.")])

TWICE_ENTRIES = _value_check(
    "twice_entries", "twice_entries",
    "count the entries the snippet's softmax normalises for one pixel of a 6 x 10 map.", 16,
    [("fixed", 15, "15 = H + W - 1 is the correct count; the snippet does not mask the centre."),
     ("product", 60, "the softmax runs over one pixel's row and column, not the whole map.")])

GAM_ZERO = _value_check(
    "gam_zero", "circulating_gam_zero",
    "with every weight and bias zero, each sigmoid gives 1/2 and eval-mode BatchNorm with its "
    "initial statistics passes 0 through; follow the snippet line by line.", 0.125,
    [("correct gam", 0.0, "0 is what GAM itself outputs for x = 0; the snippet never multiplies by x."),
     ("quarter", 0.25, "that is F2 of the snippet; its output multiplies by M_s = 1/2 too."),
     ("half", 0.5, "that is one gate; follow the snippet to its output.")])


CHECKS = [CCAttention(), CCAggregate(), CCModule(), Reach(), CCCost(), CCRatio(),
          GAMChannel(), GAMSpatial(), GAMModule(), GAMParams(), FAKE_CC, TWICE_ENTRIES, GAM_ZERO]
