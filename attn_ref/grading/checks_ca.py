"""Hidden checks of the Coordinate Attention chapter (``solutions/04_ca/ca.ipynb``).

Layouts are those of the official ``CoordAtt``: z^h (B, C, H, 1), z^w (B, C, 1, W); the shared
transform works on the (B, C, H + W, 1) column [z^h ; (z^w)^T]; a^h (B, C, H, 1), a^w (B, C, 1, W).
Functions that return a pair are packed into one (B, C, H + W) array before leaving the kernel,
after their shapes have been checked.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..coord import CoordinateAttention, HSwish
from .core import Case, Check, Mistake, Refused, Rejected, case_rng, to_numpy, float64_tensor

_hswish = HSwish()


_t, _np = float64_tensor, to_numpy       # case arguments as float64 tensors, results as arrays


# ----- references with the learner-facing signatures (also used as substitutes) ---------------
def ref_coordinate_pool(x):
    """Eqs. (1)-(2): z^h (B, C, H, 1), the mean over W; z^w (B, C, 1, W), the mean over H."""
    return x.mean(dim=3, keepdim=True), x.mean(dim=2, keepdim=True)


def ref_ca_bottleneck(channels, reduction=32):
    """Width of the shared 1x1 convolution, as the reference module builds it."""
    return CoordinateAttention(channels, reduction=reduction).mip


def ref_shared_transform(z_h, z_w, weight, bias, bn_weight, bn_bias, bn_mean, bn_var, eps=1e-5):
    """Eq. (3): h-swish(BN(conv1x1([z^h ; (z^w)^T]))) with eval-mode BN; (B, C', H + W, 1)."""
    z = torch.cat([z_h, z_w.transpose(2, 3)], dim=2)
    y = F.conv2d(z, weight, bias)
    y = F.batch_norm(y, bn_mean, bn_var, bn_weight, bn_bias, training=False, eps=eps)
    return _hswish(y)


def ref_split_gates(f, H, W, w_h, b_h, w_w, b_w):
    """Eqs. (4)-(5): a^h = sigmoid(F_h(f^h)) (B, C, H, 1), a^w = sigmoid(F_w(f^w)) (B, C, 1, W)."""
    f_h, f_w = torch.split(f, [H, W], dim=2)
    return torch.sigmoid(F.conv2d(f_h, w_h, b_h)), torch.sigmoid(F.conv2d(f_w.transpose(2, 3), w_w, b_w))


class RefCoordinateAttention(CoordinateAttention):
    """The reference block with the notebook's constructor signature."""

    def __init__(self, channels, reduction=32):
        super().__init__(channels, reduction=reduction)


def _pack(out, shape_h, shape_w, what):
    """A learner's pair (first, second) as one (B, C, H + W) array, after checking the shapes.
    A pair of the wrong shapes is refused, with its numbers packed the same way (first, then
    second, each flattened per (b, c)) where both keep B and C: pooling along the wrong axes
    gives z_h of shape (B, C, 1, W), and those numbers still name the mistake."""
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise Rejected(f"{what[0]} must return a pair ({what[1]}, {what[2]}), "
                       f"got {type(out).__name__}")
    a, b = to_numpy(out[0]), to_numpy(out[1])
    B, C = shape_h[0], shape_h[1]
    for arr, shape, name, keeps in ((a, shape_h, what[1], "one value per row: (B, C, H, 1)"),
                                    (b, shape_w, what[2], "one value per column: (B, C, 1, W)")):
        if tuple(arr.shape) != tuple(shape):
            message = (f"your {name} has shape {tuple(arr.shape)}, expected {tuple(shape)}; "
                       f"{name} holds {keeps}")
            if a.shape[:2] != (B, C) or b.shape[:2] != (B, C):
                raise Rejected(message)
            raise Refused(message, [_flat_pair(a, b)])
    return _flat_pair(a, b)


def _flat_pair(a, b):
    """Arrays a, b of shapes (B, C, ...) as one (B, C, a's size + b's size) array."""
    B, C = a.shape[:2]
    return np.concatenate([a.reshape(B, C, -1), b.reshape(B, C, -1)], axis=2)


def _pack_t(first, second):
    return _flat_pair(_np(first), _np(second))


# ----- step 1: direction-aware pooling ---------------------------------------------------------
class Pool(Check):
    step = "coordinate_pool"
    axis_names = ("batch", "channel", "position (z_h's H rows, then z_w's W columns)")
    title = "coordinate_pool(x)"
    points_hint = ("eqs. (1)-(2): z^h averages over the width W (the last axis) and keeps H, "
                   "shape (B, C, H, 1); z^w averages over the height H and keeps W, (B, C, 1, W).")

    def cases(self):
        shapes = [((2, 3, 4, 5), "float64"), ((1, 1, 1, 1), "float64"), ((3, 8, 7, 1), "float32"),
                  ((1, 16, 1, 9), "float64"), ((2, 5, 6, 6), "float64"), ((2, 7, 3, 11), "float32")]
        return [Case(f"x of shape {s}, {d}", args=[case_rng(self.id, i).normal(0.5, 2.0, size=s)],
                     dtype=d) for i, (s, d) in enumerate(shapes)]

    def run(self, obj, case):
        x = torch.from_numpy(case.args[0]).to(getattr(torch, case.dtype))
        B, C, H, W = x.shape
        with torch.no_grad():
            out = obj(x)
        return [_pack(out, (B, C, H, 1), (B, C, 1, W), ("coordinate_pool", "z_h", "z_w"))]

    def expected(self, case):
        return _pack_t(*ref_coordinate_pool(_t(case.args[0])))

    def reference(self):
        return ref_coordinate_pool

    def mistakes(self):
        x = lambda c: _t(c.args[0])  # noqa: E731
        return [
            Mistake("swapped", "z_h and z_w are swapped: z^h(h) averages row h over the width "
                    "(dim 3), z^w(w) averages column w over the height (dim 2).",
                    lambda c: _pack_t(x(c).mean(2), x(c).mean(3))),
            Mistake("max", "these are maxima; coordinate attention pools with the mean.",
                    lambda c: _pack_t(x(c).amax(3), x(c).amax(2))),
            Mistake("sum", "these are sums; divide by W for z^h and by H for z^w.",
                    lambda c: _pack_t(x(c).sum(3), x(c).sum(2))),
            Mistake("global", "both are the 2-D global mean: that throws away the position "
                    "that CA keeps. Average over one axis only.",
                    lambda c: _pack_t(x(c).mean((2, 3), keepdim=True).expand(-1, -1, x(c).shape[2], 1),
                                      x(c).mean((2, 3), keepdim=True).expand(-1, -1, 1, x(c).shape[3]))),
        ]


# ----- step 2: bottleneck width ----------------------------------------------------------------
class Bottleneck(Check):
    step = "ca_bottleneck"
    title = "ca_bottleneck(channels, reduction=32)"
    points_hint = "C' = max(8, channels // reduction), with reduction = 32 by default."

    SPECS = [(16, 4), (64,), (96, 8), (512,), (1024, 16), (7, 1), (960,), (384,), (12, 2),
             (100, 3), (2048,)]

    def cases(self):
        return [Case(f"channels={s[0]}" + (f", reduction={s[1]}" if len(s) > 1 else
                                            ", default reduction"), args=list(s)) for s in self.SPECS]

    def expected(self, case):
        return np.asarray(ref_ca_bottleneck(*case.args))

    def reference(self):
        return ref_ca_bottleneck

    def mistakes(self):
        def width(c, r=32, lo=8, div=lambda a, b: a // b):
            return max(lo, div(c, r))
        return [
            Mistake("no max", "the width never goes below 8: max(8, C // r).",
                    lambda c: np.asarray(max(1, c.args[0] // (c.args[1] if len(c.args) > 1 else 32)))),
            Mistake("r16", "the default reduction of CA is r = 32 (SE and CBAM use 16).",
                    lambda c: np.asarray(width(c.args[0], c.args[1] if len(c.args) > 1 else 16))),
            Mistake("round up", "C / r is rounded down (integer division), as in the official code.",
                    lambda c: np.asarray(width(c.args[0], c.args[1] if len(c.args) > 1 else 32,
                                               div=lambda a, b: -(-a // b)))),
        ]


# ----- step 3: the shared transform ------------------------------------------------------------
def _transform(args, act=_hswish, bn="eval", order="hw", eps=1e-5):
    z_h, z_w, w, b, g, beta, mean, var = args
    parts = [z_h, z_w.transpose(2, 3)]
    z = torch.cat(parts if order == "hw" else parts[::-1], dim=2)
    y = F.conv2d(z, w, b)
    if bn == "eval":
        y = F.batch_norm(y, mean, var, g, beta, training=False, eps=eps)
    elif bn == "train":
        y = F.batch_norm(y, None, None, g, beta, training=True, eps=eps)
    return act(y)


def _tensors_and_eps(case):
    """A case of a function with BatchNorm's ``eps`` last (passed or left at 1e-5): its tensor
    arguments in float64, and eps."""
    n = len(case.args)
    eps = case.args[n - 1] if n and not isinstance(case.args[-1], np.ndarray) else 1e-5
    return [_t(v) for v in case.args if isinstance(v, np.ndarray)], float(eps)


class Transform(Check):
    step = "shared_transform"
    axis_names = ("batch", "channel", "position (the H rows, then the W columns)", "column")
    title = "shared_transform(z_h, z_w, weight, bias, bn_weight, bn_bias, bn_mean, bn_var, eps)"
    points_hint = ("eq. (3): concatenate [z^h ; (z^w)^T] along dim 2 into (B, C, H + W, 1), then "
                   "the 1x1 convolution with its bias, BatchNorm with the given running statistics "
                   "and eps (eval mode; eps = 1e-5 when it is not given), then "
                   "h-swish(t) = t * ReLU6(t + 3) / 6.")

    def cases(self):
        # eps: passed (None: left out, the default 1e-5 applies)
        specs = [(2, 8, 4, 5, 8, "float64", 1e-3), (1, 16, 3, 3, 8, "float64", None),
                 (3, 12, 1, 6, 8, "float32", 0.1), (2, 32, 7, 2, 8, "float64", None),
                 (1, 40, 1, 1, 10, "float64", 1e-5), (2, 24, 5, 3, 12, "float32", 0.5)]
        out = []
        for i, (B, C, H, W, m, dtype, eps) in enumerate(specs):
            rng = case_rng(self.id, i)
            args = [rng.normal(0.0, 1.0, (B, C, H, 1)), rng.normal(0.0, 1.0, (B, C, 1, W)),
                    rng.normal(0.0, 2.0 / np.sqrt(C), (m, C, 1, 1)), rng.normal(0.0, 0.5, (m,)),
                    rng.uniform(0.5, 2.0, (m,)), rng.uniform(-1.0, 1.0, (m,)),
                    rng.uniform(-0.5, 0.5, (m,)), rng.uniform(0.5, 2.0, (m,))]
            given = "eps left out" if eps is None else f"eps={eps:g}"
            out.append(Case(f"B={B}, C={C}, H={H}, W={W}, C'={m}, {given}, {dtype}",
                            args=args + ([] if eps is None else [eps]), dtype=dtype))
        return out

    def expected(self, case):
        tensors, eps = _tensors_and_eps(case)
        return _np(ref_shared_transform(*tensors, eps=eps))

    def reference(self):
        return ref_shared_transform

    def mistakes(self):
        def tr(**kw):
            def compute(c):
                tensors, eps = _tensors_and_eps(c)
                return _np(_transform(tensors, **{"eps": eps, **kw}))
            return compute
        ident = lambda t: t  # noqa: E731
        return [
            Mistake("eps", "BatchNorm divides by sqrt(bn_var + eps) with the eps you are given: "
                    "pass eps on to the BatchNorm (1e-5 only when it is left out).",
                    tr(eps=1e-5)),
            Mistake("relu", "this is ReLU after the BatchNorm; the official code uses h-swish, "
                    "t * ReLU6(t + 3) / 6 (negative inputs above -3 give small negative values).",
                    tr(act=torch.relu)),
            Mistake("no bn", "the BatchNorm is missing: normalise with the given running mean "
                    "and variance, then scale by bn_weight and shift by bn_bias.",
                    tr(bn=None)),
            Mistake("train bn", "the BatchNorm used the statistics of this batch (training mode); "
                    "use the given running mean and variance (eval mode).",
                    tr(bn="train")),
            Mistake("silu", "this is swish/SiLU, t * sigmoid(t); h-swish is its piecewise "
                    "approximation t * ReLU6(t + 3) / 6.",
                    tr(act=F.silu)),
            Mistake("hsigmoid", "this is h-sigmoid, ReLU6(t + 3) / 6; h-swish multiplies it by t.",
                    tr(act=lambda t: F.relu6(t + 3) / 6)),
            Mistake("no act", "no non-linearity after the BatchNorm: apply h-swish.",
                    tr(act=ident)),
            Mistake("order", "the positions are in the wrong order: z^h's H positions first, then "
                    "z^w's W positions.", tr(order="wh")),
        ]


# ----- step 4: split and gates -----------------------------------------------------------------
def _gates(f, H, W, w_h, b_h, w_w, b_w, gate=torch.sigmoid, swap=False, split_wh=False):
    if split_wh:
        f_w, f_h = torch.split(f, [W, H], dim=2)
    else:
        f_h, f_w = torch.split(f, [H, W], dim=2)
    if swap:
        w_h, b_h, w_w, b_w = w_w, b_w, w_h, b_h
    return _pack_t(gate(F.conv2d(f_h, w_h, b_h)), gate(F.conv2d(f_w.transpose(2, 3), w_w, b_w)))


class Gates(Check):
    step = "split_gates"
    axis_names = ("batch", "channel", "position (a_h's H rows, then a_w's W columns)")
    title = "split_gates(f, H, W, w_h, b_h, w_w, b_w)"
    points_hint = ("eqs. (4)-(5): the first H positions of f are f^h, the last W are f^w; "
                   "a^h = sigmoid(conv(f^h, w_h, b_h)) of shape (B, C, H, 1), "
                   "a^w = sigmoid(conv((f^w)^T, w_w, b_w)) of shape (B, C, 1, W).")

    def cases(self):
        specs = [(2, 8, 8, 4, 5, "float64"), (1, 8, 16, 3, 3, "float64"),
                 (3, 8, 12, 1, 6, "float32"), (2, 12, 24, 7, 2, "float64"),
                 (1, 10, 5, 1, 1, "float64"), (2, 8, 7, 6, 4, "float32")]
        out = []
        for i, (B, m, C, H, W, dtype) in enumerate(specs):
            rng = case_rng(self.id, i)
            args = [rng.normal(0.0, 1.5, (B, m, H + W, 1)), H, W,
                    rng.normal(0.0, 2.0 / np.sqrt(m), (C, m, 1, 1)), rng.normal(0.0, 0.5, (C,)),
                    rng.normal(0.0, 2.0 / np.sqrt(m), (C, m, 1, 1)), rng.normal(0.0, 0.5, (C,))]
            out.append(Case(f"B={B}, C'={m}, C={C}, H={H}, W={W}, {dtype}", args=args, dtype=dtype))
        return out

    def run(self, obj, case):
        dtype = getattr(torch, case.dtype)
        args = [torch.from_numpy(a).to(dtype) if isinstance(a, np.ndarray) else a for a in case.args]
        B, H, W, C = args[0].shape[0], args[1], args[2], args[3].shape[0]
        with torch.no_grad():
            out = obj(*args)
        return [_pack(out, (B, C, H, 1), (B, C, 1, W), ("split_gates", "a_h", "a_w"))]

    def _args(self, c):
        return [_t(v) if isinstance(v, np.ndarray) else v for v in c.args]

    def expected(self, case):
        return _pack_t(*ref_split_gates(*self._args(case)))

    def reference(self):
        return ref_split_gates

    def mistakes(self):
        return [
            Mistake("swapped", "the gates are swapped: F_h (w_h, b_h) acts on f^h, the first H "
                    "positions; F_w (w_w, b_w) on f^w.",
                    lambda c: _gates(*self._args(c), swap=True)),
            Mistake("no sigmoid", "the gates are not squashed into (0, 1): apply the sigmoid.",
                    lambda c: _gates(*self._args(c), gate=lambda t: t)),
            Mistake("hsigmoid", "this is h-sigmoid, ReLU6(t + 3) / 6; the gates use the sigmoid.",
                    lambda c: _gates(*self._args(c), gate=lambda t: F.relu6(t + 3) / 6)),
            Mistake("split", "f was split in the wrong place: the H positions of z^h come first.",
                    lambda c: _gates(*self._args(c), split_wh=True)),
        ]


# ----- step 5: the block -----------------------------------------------------------------------
def _ca_params(rng, C, m):
    return {"conv1.weight": rng.normal(0, 2 / np.sqrt(C), (m, C, 1, 1)),
            "conv1.bias": rng.normal(0, 0.5, (m,)),
            "bn1.weight": rng.uniform(0.5, 2.0, (m,)), "bn1.bias": rng.uniform(-1.0, 1.0, (m,)),
            "bn1.running_mean": rng.uniform(-0.5, 0.5, (m,)),
            "bn1.running_var": rng.uniform(0.5, 2.0, (m,)),
            "conv_h.weight": rng.normal(0, 2 / np.sqrt(m), (C, m, 1, 1)),
            "conv_h.bias": rng.normal(0, 0.5, (C,)),
            "conv_w.weight": rng.normal(0, 2 / np.sqrt(m), (C, m, 1, 1)),
            "conv_w.bias": rng.normal(0, 0.5, (C,))}


class Module(Check):
    step = "ca_module"
    kind = "module"
    title = "CoordinateAttention(channels, reduction).forward"
    points_hint = ("forward: pool (eqs. 1-2), conv1 -> bn1 -> h-swish on the concatenation "
                   "(eq. 3), split, a^h = sigmoid(conv_h(f^h)), a^w = sigmoid(conv_w((f^w)^T)) "
                   "(eqs. 4-5), y = x * a^h * a^w (eq. 6). Use the layers __init__ creates.")
    substitutes = {"coordinate_pool": ref_coordinate_pool, "ca_bottleneck": ref_ca_bottleneck,
                   "shared_transform": ref_shared_transform, "split_gates": ref_split_gates}

    def cases(self):
        specs = [(dict(channels=16, reduction=4), (2, 16, 5, 7), "float64"),
                 (dict(channels=64), (1, 64, 4, 4), "float64"),
                 (dict(channels=96, reduction=8), (2, 96, 3, 6), "float64"),
                 (dict(channels=21, reduction=1), (1, 21, 1, 1), "float64"),
                 (dict(channels=24, reduction=2), (3, 24, 6, 1), "float32"),
                 (dict(channels=40), (2, 40, 1, 8), "float32")]
        out = []
        for i, (kw, shape, dtype) in enumerate(specs):
            rng = case_rng(self.id, i)
            m = ref_ca_bottleneck(**kw)
            params = _ca_params(rng, kw["channels"], m)
            x = rng.normal(0.3, 1.5, size=shape)
            args = ", ".join(f"{k}={v}" for k, v in kw.items())
            out.append(Case(f"CoordinateAttention({args}) on x of shape {shape}, {dtype}",
                            args=[x], kwargs=kw, params=params, dtype=dtype))
        return out

    def run(self, obj, case):
        dtype = getattr(torch, case.dtype)
        module = obj(**case.kwargs)
        if not isinstance(module, torch.nn.Module):
            raise Rejected(f"calling your class gave a {type(module).__name__}, not a "
                            "torch.nn.Module")
        module = module.to(dtype).eval()
        tensors = dict(module.named_parameters())
        tensors.update(dict(module.named_buffers()))
        with torch.no_grad():
            for name, value in case.params.items():
                t = tensors.get(name)
                if t is None:
                    raise Rejected(f"your module has no tensor {name!r}: keep the layers "
                                     "conv1, bn1, conv_h and conv_w that __init__ creates")
                if t.numel() != value.size:
                    raise Rejected(f"your module's {name} has shape {tuple(t.shape)}, expected "
                                     f"{tuple(value.shape)}")
                t.copy_(torch.from_numpy(np.ascontiguousarray(value)).reshape(t.shape))
            x = torch.from_numpy(case.args[0]).to(dtype)
            return [to_numpy(module(x))]

    def _reference_module(self, case):
        m = RefCoordinateAttention(**case.kwargs).double().eval()
        state = {k: _t(v) for k, v in case.params.items()}
        m.load_state_dict(state, strict=False)
        return m

    def expected(self, case):
        with torch.no_grad():
            return _np(self._reference_module(case)(_t(case.args[0])))

    def reference(self):
        return RefCoordinateAttention

    def _variant(self, case, act=_hswish, bn="eval", gate=torch.sigmoid, swap=False):
        p = {k: _t(v) for k, v in case.params.items()}
        x = _t(case.args[0])
        H, W = x.shape[2], x.shape[3]
        z_h, z_w = ref_coordinate_pool(x)
        f = _transform([z_h, z_w, p["conv1.weight"], p["conv1.bias"], p["bn1.weight"],
                        p["bn1.bias"], p["bn1.running_mean"], p["bn1.running_var"]], act=act, bn=bn)
        f_h, f_w = torch.split(f, [H, W], dim=2)
        kh, kw = ("conv_w", "conv_h") if swap else ("conv_h", "conv_w")
        a_h = gate(F.conv2d(f_h, p[kh + ".weight"], p[kh + ".bias"]))
        a_w = gate(F.conv2d(f_w.transpose(2, 3), p[kw + ".weight"], p[kw + ".bias"]))
        return _np(x * a_h * a_w)

    def mistakes(self):
        return [
            Mistake("relu", "the shared transform uses ReLU; the official code uses h-swish.",
                    lambda c: self._variant(c, act=torch.relu)),
            Mistake("no bn", "bn1 is not applied after conv1.",
                    lambda c: self._variant(c, bn=None)),
            Mistake("train bn", "the BatchNorm used batch statistics; call self.bn1 (the grader "
                    "puts the module in eval mode) rather than a training-mode batch_norm.",
                    lambda c: self._variant(c, bn="train")),
            Mistake("no sigmoid", "the gates are not squashed into (0, 1).",
                    lambda c: self._variant(c, gate=lambda t: t)),
            Mistake("swapped", "conv_h and conv_w are swapped: conv_h makes a^h from the first H "
                    "positions.", lambda c: self._variant(c, swap=True)),
        ]


# ----- step 6: cost ----------------------------------------------------------------------------
def _count(C, r=32):
    return sum(p.numel() for p in CoordinateAttention(C, reduction=r).parameters())


class ParamCount(Check):
    step = "ca_cost"
    title = "ca_param_count(channels, reduction=32)"
    points_hint = ("conv1 (C -> C', with bias), bn1 (a scale and a shift per unit; the running "
                   "statistics are buffers, not parameters), conv_h and conv_w (C' -> C, with "
                   "bias); C' = max(8, C // r).")
    substitutes = {"ca_bottleneck": ref_ca_bottleneck}

    SPECS = [(64,), (16, 4), (96, 8), (512,), (1024, 16), (21, 1), (960,), (12, 2), (100, 3)]

    def cases(self):
        return [Case(f"channels={s[0]}" + (f", reduction={s[1]}" if len(s) > 1 else
                                            ", default reduction"), args=list(s)) for s in self.SPECS]

    def expected(self, case):
        return np.asarray(_count(*case.args))

    def reference(self):
        return _count

    def mistakes(self):
        def closed(c, r=32, lo=8, bn=2, biases=True):
            m = max(lo, c // r)
            return np.asarray(m * c + 2 * m * c + (m + 2 * c if biases else 0) + bn * m)
        r_of = lambda c: c.args[1] if len(c.args) > 1 else 32  # noqa: E731
        return [
            Mistake("no max", "the bottleneck width is max(8, C // r), never below 8.",
                    lambda c: closed(c.args[0], r_of(c), lo=1)),
            Mistake("no bn", "bn1 has 2 C' parameters (its scale and shift).",
                    lambda c: closed(c.args[0], r_of(c), bn=0)),
            Mistake("bn buffers", "the running mean and variance are buffers, not parameters: "
                    "count 2 C' for bn1, not 4 C'.", lambda c: closed(c.args[0], r_of(c), bn=4)),
            Mistake("no bias", "each of the three 1x1 convolutions has a bias.",
                    lambda c: closed(c.args[0], r_of(c), biases=False)),
            Mistake("r16", "the default reduction of CA is r = 32.",
                    lambda c: closed(c.args[0], c.args[1] if len(c.args) > 1 else 16)),
        ]


def _macs(C, H, W, r=32):
    from ..complexity import ca_macs
    return ca_macs(C, H, W, reduction=r)


class Macs(Check):
    step = "ca_cost"
    value = "macs"
    title = "ca_macs(channels, H, W, reduction=32)"
    points_hint = ("conv1 runs on H + W positions (C' C each), conv_h on H and conv_w on W "
                   "positions (C C' each), and eq. (6) makes 2 C H W multiplications.")
    substitutes = {"ca_bottleneck": ref_ca_bottleneck}

    SPECS = [(64, 14, 14), (16, 5, 7, 4), (96, 56, 56, 8), (960, 7, 7), (21, 1, 1, 1),
             (384, 14, 28), (12, 3, 9, 2)]

    def cases(self):
        return [Case(f"channels={s[0]}, H={s[1]}, W={s[2]}" + (f", reduction={s[3]}" if len(s) > 3
                                                                 else ", default reduction"),
                     args=list(s)) for s in self.SPECS]

    def expected(self, case):
        return np.asarray(_macs(*case.args))

    def reference(self):
        return _macs

    def mistakes(self):
        def closed(c, lo=8, scale=2, gate_pos=None, r16=False):
            C, H, W = c.args[:3]
            r = c.args[3] if len(c.args) > 3 else (16 if r16 else 32)
            m = max(lo, C // r)
            gp = (H + W) if gate_pos is None else gate_pos(H, W)
            return np.asarray(m * C * (H + W) + C * m * gp + scale * C * H * W)
        return [
            Mistake("no scaling", "add the 2 C H W multiplications of eq. (6) (x * a^h, then * a^w).",
                    lambda c: closed(c, scale=0)),
            Mistake("one scaling", "eq. (6) multiplies by two gates: 2 C H W, not C H W.",
                    lambda c: closed(c, scale=1)),
            Mistake("no max", "the bottleneck width is max(8, C // r).",
                    lambda c: closed(c, lo=1)),
            Mistake("full size", "conv_h runs on the H positions of f^h and conv_w on the W of "
                    "f^w, not on all H x W positions.", lambda c: closed(c, gate_pos=lambda h, w: 2 * h * w)),
            Mistake("r16", "the default reduction of CA is r = 32.",
                    lambda c: closed(c, r16=True)),
        ]


# ----- step 7: what flips do to the gates ------------------------------------------------------
FLIP_TABLE = np.array([[0, 0], [1, 0], [0, 1]])


class Flip(Check):
    step = "flip_table"
    kind = "value"
    axis_names = ("row", "column")         # of the table, not batch and channel
    title = "flip_table (rows: SE's s, CA's a^h, CA's a^w; columns: flip along H, along W)"
    points_hint = ("1 where the gate of the flipped input is the gate flipped along the same "
                   "axis, 0 where it is unchanged. Compute it with torch.flip and torch.allclose.")

    def cases(self):
        return [Case("a (3, 2) table of 0 and 1")]

    def run(self, obj, case):
        if isinstance(obj, (list, tuple)):
            obj = np.asarray(obj, dtype=np.float64)
        return [to_numpy(obj).astype(np.float64)]

    def expected(self, case):
        return FLIP_TABLE

    def reference(self):
        return FLIP_TABLE.copy()

    def mistakes(self):
        return [
            Mistake("like se", "CA's gates are not all invariant: a^h keeps one value per row, "
                    "so flipping the rows flips it.", lambda c: np.zeros((3, 2))),
            Mistake("swapped", "a^h has one value per row (the H axis) and a^w one per column "
                    "(the W axis): check which flip moves which.",
                    lambda c: np.array([[0, 0], [0, 1], [1, 0]])),
            Mistake("all move", "a gate pooled over an axis cannot see a flip along that axis.",
                    lambda c: np.array([[1, 1], [1, 1], [1, 1]])),
        ]


CHECKS = [Pool(), Bottleneck(), Transform(), Gates(), Module(), ParamCount(), Macs(), Flip()]
