"""Hidden checks of the CBAM chapter (``solutions/03_cbam/cbam.ipynb``).

The learner's exercises follow the paper's convention: the spatial gate stacks the channel-pooled
maps as [AvgPool_c(F); MaxPool_c(F)] = [avg; max] (input channel 0 of the 7x7 weight meets the average,
channel 1 the maximum), the convolution has no bias and no BatchNorm follows it. Expected values
come from ``attn_ref.cbam`` with ``order="paper", batchnorm=False`` in float64; the mistakes are
written here with plain torch operations.
"""
from __future__ import annotations

import zlib

import numpy as np
import torch
import torch.nn.functional as F

from ..cbam import CBAM, ChannelAttention, SpatialAttention
from ..complexity import cbam_macs
from .core import (Case, Check, Mistake, Raises, case_rng, float64_tensor, load_by_shape,
                   to_numpy)


_t, _np = float64_tensor, to_numpy       # case arguments as float64 tensors, results as arrays


# ----- the references with the learner-facing signatures (also used as substitutes) ----------
def ref_channel_gate(x, w1, b1, w2, b2):
    """M_c (B, C, 1, 1) through attn_ref's ChannelAttention with the given weights."""
    m = ChannelAttention(x.shape[1], store_maps=False).to(x.dtype)
    if m.fc1.weight.shape != w1.shape:          # the bottleneck width is the weights' own
        m.fc1 = torch.nn.Linear(w1.shape[1], w1.shape[0]).to(x.dtype)
        m.fc2 = torch.nn.Linear(w2.shape[1], w2.shape[0]).to(x.dtype)
    with torch.no_grad():
        m.fc1.weight.copy_(w1); m.fc1.bias.copy_(b1)
        m.fc2.weight.copy_(w2); m.fc2.bias.copy_(b2)
        return m(x)


def ref_spatial_gate(x, conv_w):
    """M_s (B, 1, H, W) through attn_ref's SpatialAttention, paper order, no BatchNorm."""
    k = conv_w.shape[-1]
    m = SpatialAttention(k, order="paper", batchnorm=False, store_maps=False).to(x.dtype)
    with torch.no_grad():
        m.conv.weight.copy_(conv_w.reshape(1, 2, k, k))
        return m(x)


def ref_channel_first(x, w1, b1, w2, b2, conv_w):
    f1 = x * ref_channel_gate(x, w1, b1, w2, b2)
    return f1 * ref_spatial_gate(f1, conv_w)


def ref_spatial_first(x, w1, b1, w2, b2, conv_w):
    f1 = x * ref_spatial_gate(x, conv_w)
    return f1 * ref_channel_gate(f1, w1, b1, w2, b2)


def ref_parallel(x, w1, b1, w2, b2, conv_w):
    return x * ref_channel_gate(x, w1, b1, w2, b2) * ref_spatial_gate(x, conv_w)


def ref_order_gap(x, w1, b1, w2, b2, conv_w):
    d = ref_channel_first(x, w1, b1, w2, b2, conv_w) - ref_spatial_first(x, w1, b1, w2, b2, conv_w)
    return d.abs().flatten(1).amax(dim=1)


def _ref_module_class():
    """The learner-facing CBAM(channels, reduction=16, kernel_size=7), paper convention."""
    class PaperCBAM(CBAM):
        def __init__(self, channels, reduction=16, kernel_size=7):
            super().__init__(channels, reduction, spatial_kernel=kernel_size, order="paper",
                             batchnorm=False, store_maps=False)
    PaperCBAM.__name__ = "CBAM"
    return PaperCBAM


# ----- plain-torch building blocks for the mistakes -------------------------------------------
def _mlp(z, w1, b1, w2, b2, relu=True):
    h = z @ w1.T + b1
    return (torch.relu(h) if relu else h) @ w2.T + b2


def _channel(x, w1, b1, w2, b2, *, first="avg", second="max", sep_sigmoid=False, sigmoid=True,
             b2_once=False, sum_first=False, relu=True):
    pools = {"avg": x.mean(dim=(2, 3)), "max": x.amax(dim=(2, 3)), None: None}
    a, m = pools[first], pools[second]
    if sum_first:
        y = _mlp(a + m, w1, b1, w2, b2, relu)
    elif b2_once:
        y = (torch.relu(a @ w1.T + b1) + torch.relu(m @ w1.T + b1)) @ w2.T + b2
    elif m is None:
        y = _mlp(a, w1, b1, w2, b2, relu)
    elif sep_sigmoid:
        y = torch.sigmoid(_mlp(a, w1, b1, w2, b2, relu)) + torch.sigmoid(_mlp(m, w1, b1, w2, b2, relu))
    else:
        y = _mlp(a, w1, b1, w2, b2, relu) + _mlp(m, w1, b1, w2, b2, relu)
    if sigmoid and not sep_sigmoid:
        y = torch.sigmoid(y)
    return y[:, :, None, None]


def _spatial(x, w, *, order=("avg", "max"), sigmoid=True, pad="zeros", avg="mean",
             dims=1):
    k = w.shape[-1]
    w = w.reshape(1, 2, k, k)
    pools = {"avg": x.mean(dim=dims, keepdim=True) if avg == "mean" else
             x.sum(dim=dims, keepdim=True), "max": x.amax(dim=dims, keepdim=True)}
    s = torch.cat([pools[o] for o in order], dim=1)
    if s.shape[1] != 2:          # pooled over H and W: 2 C maps, which the convolution refuses
        raise Raises(f"the convolution expects 2 maps, got {s.shape[1]}")
    p = (k - 1) // 2
    if pad == "zeros":
        y = F.conv2d(s, w, padding=p)
    elif pad == "3":                      # written in: right for k = 7 only
        y = F.conv2d(s, w, padding=3)
    elif pad == "one side":               # same size, shifted by (k - 1) / 2 rows and columns
        y = F.conv2d(F.pad(s, (k - 1, 0, k - 1, 0)), w)
    elif pad == "reflect" and p >= min(s.shape[-2:]):
        return torch.full_like(s[:, :1], float("nan"))     # reflection is undefined there
    else:
        y = F.conv2d(F.pad(s, (p, p, p, p), mode=pad), w)
    return torch.sigmoid(y) if sigmoid else y


def _spatial_params(rng, k):
    return rng.normal(0.0, 1.5 / k, size=(1, 2, k, k))


def _channel_params(rng, c, h):
    return (rng.normal(0.0, 2.0 / np.sqrt(c), (h, c)), rng.normal(0.0, 0.5, (h,)),
            rng.normal(0.0, 2.0 / np.sqrt(h), (c, h)), rng.normal(0.0, 0.5, (c,)))


def _x(rng, shape):
    # shifted so that averages and maxima differ clearly and ReLU units are both on and off
    return rng.normal(0.2, 1.5, size=shape)


# ----- 1. channel gate --------------------------------------------------------------------------
class ChannelGate(Check):
    step = "channel_gate"
    title = "channel_gate(x, w1, b1, w2, b2)"
    points_hint = ("eq. (1): M_c = sigmoid(MLP(avg over H, W) + MLP(max over H, W)) with ONE MLP, "
                   "MLP(z) = W2 relu(W1 z + b1) + b2, returned as (B, C, 1, 1).")

    def cases(self):
        specs = [((2, 8, 5, 7), 2, "float64"), ((1, 16, 4, 4), 4, "float64"),
                 ((3, 12, 1, 9), 3, "float64"), ((2, 32, 6, 3), 2, "float32"),
                 ((1, 6, 1, 1), 6, "float64"), ((4, 9, 3, 2), 3, "float64")]
        out = []
        for i, (shape, h, dtype) in enumerate(specs):
            rng = case_rng(self.id, i)
            x = _x(rng, shape)
            out.append(Case(f"x of shape {shape}, C/r = {h}, {dtype}",
                            args=[x, *_channel_params(rng, shape[1], h)], dtype=dtype))
        return out


    def reference(self):
        return ref_channel_gate

    def mistakes(self):
        a = lambda c: [_t(v) for v in c.args]  # noqa: E731
        ch = lambda **kw: (lambda c: _np(_channel(*a(c), **kw)))  # noqa: E731
        return [
            Mistake("mean twice", "both descriptors are averages: the second one is the MAXIMUM "
                    "over H x W.", ch(first="avg", second="avg")),
            Mistake("avg only", "only the average-pooled descriptor is used; add MLP(max-pooled).",
                    ch(first="avg", second=None)),
            Mistake("max only", "only the max-pooled descriptor is used; add MLP(average-pooled).",
                    ch(first="max", second=None)),
            Mistake("sigmoid each", "the sigmoid is applied to each branch before the sum; sum "
                    "the two MLP outputs, then apply one sigmoid.", ch(sep_sigmoid=True)),
            Mistake("no sigmoid", "the map is not squashed into (0, 1): apply the sigmoid last.",
                    ch(sigmoid=False)),
            Mistake("b2 once", "the two branches were summed inside the MLP (b2 enters once); run "
                    "the whole MLP on each descriptor, then add the outputs.", ch(b2_once=True)),
            Mistake("sum first", "the descriptors were added before the MLP; apply the MLP to each "
                    "descriptor separately.", ch(sum_first=True)),
            Mistake("no relu", "the MLP's hidden layer needs the ReLU.", ch(relu=False)),
            Mistake("flat", "the values are right but M_c should have shape (B, C, 1, 1).",
                    lambda c: _np(_channel(*a(c))[:, :, 0, 0])),
        ]


# ----- 2. spatial gate --------------------------------------------------------------------------
class SpatialGate(Check):
    step = "spatial_gate"
    title = "spatial_gate(x, conv_w)"
    points_hint = ("eq. (3), paper order: pool over the CHANNELS, stack [mean; max] (input "
                   "channel 0 of conv_w meets the mean), k x k convolution with zero padding "
                   "(k - 1) / 2 and no bias, then the sigmoid; returns (B, 1, H, W).")

    def cases(self):
        specs = [((2, 8, 9, 11), 7, "float64"), ((1, 5, 12, 12), 7, "float64"),
                 ((3, 4, 6, 5), 3, "float64"), ((2, 16, 10, 8), 7, "float32"),
                 ((1, 3, 1, 1), 7, "float64"), ((2, 7, 8, 13), 5, "float64"),
                 ((1, 1, 4, 9), 3, "float64")]
        out = []
        for i, (shape, k, dtype) in enumerate(specs):
            rng = case_rng(self.id, i)
            x = _x(rng, shape)
            out.append(Case(f"x of shape {shape}, conv_w of shape (1, 2, {k}, {k}), {dtype}",
                            args=[x, _spatial_params(rng, k)], dtype=dtype))
        return out


    def reference(self):
        return ref_spatial_gate

    def mistakes(self):
        a = lambda c: [_t(v) for v in c.args]  # noqa: E731
        sp = lambda **kw: (lambda c: _np(_spatial(*a(c), **kw)))  # noqa: E731
        return [
            Mistake("max first", "the pooled maps are stacked [max; mean]: this exercise follows "
                    "the paper, [mean; max] (conv_w[:, 0] meets the mean).",
                    sp(order=("max", "avg"))),
            Mistake("mean twice", "both stacked maps are means over the channels: the second is "
                    "the MAXIMUM over the channels.", sp(order=("avg", "avg"))),
            Mistake("max twice", "both stacked maps are maxima: the first is the MEAN over the "
                    "channels.", sp(order=("max", "max"))),
            Mistake("sum", "the first map is a sum over the channels; divide by C (a mean).",
                    sp(avg="sum")),
            Mistake("no sigmoid", "the map is not squashed into (0, 1): apply the sigmoid last.",
                    sp(sigmoid=False)),
            Mistake("shifted", "the map is shifted: pad (k - 1) / 2 on EVERY side, so that the "
                    "output pixel (i, j) is centred on input pixel (i, j).", sp(pad="one side")),
            Mistake("replicate", "the border is padded by repeating edge values; the convolution "
                    "pads with zeros.", sp(pad="replicate")),
            Mistake("reflect", "the border is padded by reflection; the convolution pads with "
                    "zeros.", sp(pad="reflect")),
            # padding=3 copied from the paper's 7 x 7: the map grows by 7 - k rows and columns
            Mistake("padding 3", "the padding is written in as 3, which keeps H x W only for "
                    "k = 7; pad (k - 1) // 2 with k = conv_w.shape[-1] (1 for k = 3, 2 for k = 5).",
                    sp(pad="3")),
            # mean and max over H and W (dims (2, 3)): 2 C maps of 1 x 1, which the convolution
            # refuses (Raises) unless C = 1, where the map comes out 1 x 1
            Mistake("wrong axis", "the maps are pooled over H and W; the spatial gate pools over "
                    "the CHANNELS (dim 1, keepdim=True), giving two maps of H x W.",
                    sp(dims=(2, 3))),
        ]


# ----- 3. the block ----------------------------------------------------------------------------
class Module(Check):
    step = "cbam_module"
    kind = "module"
    title = "CBAM(channels, reduction, kernel_size)"
    points_hint = ("F' = M_c(F) * F, then F'' = M_s(F') * F': the spatial map is computed from "
                   "F' and multiplies F'. One shared MLP C -> channels // reduction -> C with "
                   "biases, one k x k convolution 2 -> 1 without bias, no BatchNorm.")
    substitutes = {"channel_gate": ref_channel_gate, "spatial_gate": ref_spatial_gate}

    def cases(self):
        # bottleneck widths >= 2 and < C, kernel > 1: every reference tensor has its own shape
        specs = [(dict(channels=32), (2, 32, 6, 9), "float64"),
                 (dict(channels=24, reduction=4, kernel_size=3), (1, 24, 5, 4), "float64"),
                 (dict(channels=18, reduction=3, kernel_size=7), (3, 18, 9, 9), "float64"),
                 (dict(channels=64, reduction=16), (1, 64, 1, 1), "float64"),
                 (dict(channels=20, reduction=5, kernel_size=5), (2, 20, 7, 11), "float32")]
        out = []
        for i, (kw, shape, dtype) in enumerate(specs):
            rng = case_rng(self.id, i)
            c, k = kw["channels"], kw.get("kernel_size", 7)
            h = max(1, c // kw.get("reduction", 16))
            w1, b1, w2, b2 = _channel_params(rng, c, h)
            params = {"w1": w1, "b1": b1, "w2": w2, "b2": b2, "conv": _spatial_params(rng, k)}
            args = ", ".join(f"{n}={v}" for n, v in kw.items())
            out.append(Case(f"CBAM({args}) on x of shape {shape}, {dtype}", args=[_x(rng, shape)],
                            kwargs=kw, params=params, dtype=dtype))
        return out

    def run(self, obj, case):
        return self.run_or_refuse(obj, case, self._two_mlps,
                                  note=". CBAM has one MLP shared by both descriptors (W1, b1, W2, "
                                  "b2) and one convolution without bias; no BatchNorm")

    def _second_mlp(self, case):
        """The weights of a second MLP (W1', b1', W2', b2'), drawn from the case's label: what
        the check loads into the other MLP of a module that has one per descriptor."""
        h, c = np.shape(case.params["w1"])
        return _channel_params(case_rng(f"{self.id} second MLP", zlib.crc32(case.label.encode())),
                               c, h)

    def _two_mlps(self, obj, case):
        """A module whose tensors are the reference's with the MLP's four twice (one MLP per
        descriptor) runs with the case's MLP in its first MLP and :meth:`_second_mlp` in the
        other, then the other way round (which MLP is the average's is the module's own
        affair); any other layout returns None. Its numbers name 'two MLPs'."""
        names = ("w1", "b1", "w2", "b2")
        first = [case.params[n] for n in names]
        second = list(self._second_mlp(case))
        outs = []
        for a, b in ((first, second), (second, first)):
            params = dict(zip(names, a))
            params["conv"] = case.params["conv"]
            params.update({f"{n} of the second MLP": v for n, v in zip(names, b)})
            module = obj(**case.kwargs)
            if not isinstance(module, torch.nn.Module):
                return None
            module = module.to(getattr(torch, case.dtype)).eval()
            try:
                next(load_by_shape(module, params))     # the first layout: first MLP <- a
            except ValueError:
                return None
            x = torch.from_numpy(np.array(case.args[0])).to(getattr(torch, case.dtype))
            with torch.no_grad():
                outs.append(_np(module(x)))
        return outs

    @staticmethod
    def _p(case):
        p = {k: _t(v) for k, v in case.params.items()}
        return _t(case.args[0]), (p["w1"], p["b1"], p["w2"], p["b2"]), p["conv"]

    def expected(self, case):
        x, mlp, conv = self._p(case)
        kw = case.kwargs
        m = _ref_module_class()(**kw).double().eval()
        with torch.no_grad():
            for lin, (w, b) in ((m.channel.fc1, mlp[:2]), (m.channel.fc2, mlp[2:])):
                lin.weight.copy_(w); lin.bias.copy_(b)
            m.spatial.conv.weight.copy_(conv)
            return _np(m(x))

    def reference(self):
        return _ref_module_class()

    def mistakes(self):
        def make(fn):
            return lambda c: _np(fn(*self._p(c)))
        mc = lambda x, mlp: _channel(x, *mlp)  # noqa: E731

        def two_mlps(c):
            x, mlp, w = self._p(c)
            mlp2 = [_t(v) for v in self._second_mlp(c)]
            m_c = torch.sigmoid(_mlp(x.mean(dim=(2, 3)), *mlp) + _mlp(x.amax(dim=(2, 3)), *mlp2))
            f = x * m_c[:, :, None, None]
            return _np(f * _spatial(f, w))

        return [
            Mistake("M_s times F", "the spatial map multiplies F; it must multiply F' = M_c * F.",
                    make(lambda x, mlp, w: x * _spatial(x * mc(x, mlp), w))),
            Mistake("M_s of F", "the spatial map is computed from F; compute it from F' = M_c * F.",
                    make(lambda x, mlp, w: x * mc(x, mlp) * _spatial(x, w))),
            Mistake("spatial first", "the gates are in the wrong order: channel first, then "
                    "spatial.", make(lambda x, mlp, w: (lambda f: f * mc(f, mlp))(x * _spatial(x, w)))),
            Mistake("no spatial", "the spatial map is missing: F'' = M_s(F') * F'.",
                    make(lambda x, mlp, w: x * mc(x, mlp))),
            Mistake("no channel", "the channel map is missing: F' = M_c(F) * F.",
                    make(lambda x, mlp, w: x * _spatial(x, w))),
            Mistake("max first", "the pooled maps are stacked [max; mean]; this course's CBAM "
                    "follows the paper, [mean; max].",
                    make(lambda x, mlp, w: (lambda f: f * _spatial(f, w, order=("max", "avg")))(
                        x * mc(x, mlp)))),
            # one MLP per descriptor: the module's tensors are refused (see run), and its numbers
            # are those of the average through the case's MLP and the maximum through a second
            Mistake("two MLPs", "the module has two MLPs, one per descriptor; eq. (2) runs ONE "
                    "shared MLP (W1, b1, W2, b2) on both the average- and the max-pooled "
                    "descriptor, so CBAM adds a single MLP's parameters.", two_mlps),
        ]


# ----- 4. the order of the gates ---------------------------------------------------------------
def _order_cases(check_id):
    specs = [((2, 8, 6, 7), 2, 7, "float64"), ((1, 12, 5, 5), 3, 3, "float64"),
             ((3, 6, 9, 4), 2, 7, "float64"), ((2, 16, 8, 8), 4, 5, "float32")]
    out = []
    for i, (shape, h, k, dtype) in enumerate(specs):
        rng = case_rng(check_id, i)
        x = _x(rng, shape)
        out.append(Case(f"x of shape {shape}, C/r = {h}, {k} x {k} kernel, {dtype}",
                        args=[x, *_channel_params(rng, shape[1], h), _spatial_params(rng, k)],
                        dtype=dtype))
    return out


class SpatialFirst(Check):
    step = "gate_order"
    title = "spatial_first(x, w1, b1, w2, b2, conv_w)"
    points_hint = ("spatial first: G' = M_s(F) * F, then G'' = M_c(G') * G' — each gate is "
                   "computed from the output of the one before it.")
    substitutes = {"channel_gate": ref_channel_gate, "spatial_gate": ref_spatial_gate}

    def cases(self):
        return _order_cases(self.id)


    def reference(self):
        return ref_spatial_first

    def mistakes(self):
        a = lambda c: [_t(v) for v in c.args]  # noqa: E731
        return [
            Mistake("channel first", "that is CBAM's own order (channel first); here the spatial "
                    "gate comes first.", lambda c: _np(ref_channel_first(*a(c)))),
            Mistake("parallel", "both maps were computed from F (the parallel arrangement); in "
                    "the spatial-first order M_c is computed from M_s(F) * F.",
                    lambda c: _np(ref_parallel(*a(c)))),
        ]


class OrderGap(Check):
    step = "gate_order"
    value = "gap"
    axis_names = ("batch",)
    title = "order_gap(x, w1, b1, w2, b2, conv_w)"
    points_hint = ("for each example b, the largest |channel-first F'' - spatial-first output| "
                   "over C, H and W: a tensor of shape (B,).")
    substitutes = {"channel_gate": ref_channel_gate, "spatial_gate": ref_spatial_gate,
                   "spatial_first": ref_spatial_first}

    def cases(self):
        return _order_cases(self.id)


    def reference(self):
        return ref_order_gap

    def mistakes(self):
        a = lambda c: [_t(v) for v in c.args]  # noqa: E731

        def against_parallel(c):
            d = ref_channel_first(*a(c)) - ref_parallel(*a(c))
            return _np(d.abs().flatten(1).amax(dim=1))

        def signed(c):
            d = ref_channel_first(*a(c)) - ref_spatial_first(*a(c))
            return _np(d.flatten(1).amax(dim=1))

        return [
            Mistake("parallel", "that compares channel-first with the parallel arrangement; "
                    "compare it with spatial-first.", against_parallel),
            Mistake("signed", "take the absolute value of the difference before the maximum.",
                    signed),
            Mistake("one number", "return one gap per example, shape (B,).",
                    lambda c: _np(ref_order_gap(*a(c)).amax())),
        ]


# ----- 5. cost ----------------------------------------------------------------------------------
def _paper_params(c, r=16, k=7):
    return sum(p.numel() for p in _ref_module_class()(c, r, k).parameters())


def _resnet50_cbam_params():
    stages = [(3, 256), (4, 512), (6, 1024), (3, 2048)]
    return sum(n * _paper_params(c) for n, c in stages)


class ParamCount(Check):
    step = "cost"
    title = "cbam_param_count(channels, reduction, kernel_size)"
    points_hint = ("one shared MLP C -> C // r -> C with biases (2 C (C // r) + C // r + C) "
                   "plus one k x k convolution from 2 maps to 1 without bias (2 k^2).")

    def cases(self):
        # the defaults reduction = 16 and kernel_size = 7 left out in the last two
        specs = [(64, 16, 7), (256, 16, 7), (2048, 16, 7), (12, 5, 3), (96, 4, 5), (40, 8, 7),
                 (7, 2, 1), (64,), (96, 8)]
        names = ("channels", "reduction", "kernel_size")
        return [Case(", ".join(f"{n}={v}" for n, v in zip(names, spec))
                     + ("" if len(spec) == 3 else ", " + " and ".join(names[len(spec):])
                        + " left out"), args=list(spec)) for spec in specs]

    def expected(self, case):
        return np.asarray(_paper_params(*case.args))

    def reference(self):
        return lambda c, r=16, k=7: _paper_params(c, r, k)

    def mistakes(self):
        def f(fn):
            def g(c):
                C, r, k = (*c.args, 16, 7)[:3] if len(c.args) == 1 else (*c.args, 7)[:3]
                return np.asarray(fn(C, max(1, C // r), k))
            return g
        return [
            Mistake("two MLPs", "the MLP is shared by the two descriptors: count it once.",
                    f(lambda C, h, k: 2 * (2 * C * h + h + C) + 2 * k * k)),
            Mistake("one map", "the convolution reads TWO maps (mean and max): 2 k^2 weights.",
                    f(lambda C, h, k: 2 * C * h + h + C + k * k)),
            Mistake("no bias", "the MLP's two layers have biases: C // r + C more.",
                    f(lambda C, h, k: 2 * C * h + 2 * k * k)),
            Mistake("BatchNorm", "that counts the official code's BatchNorm (2 parameters); the "
                    "paper's block has none.", f(lambda C, h, k: 2 * C * h + h + C + 2 * k * k + 2)),
            Mistake("conv bias", "the convolution has no bias.",
                    f(lambda C, h, k: 2 * C * h + h + C + 2 * k * k + 1)),
        ]


class Macs(Check):
    step = "cost"
    value = "macs"
    title = "cbam_macs(channels, height, width, reduction, kernel_size)"
    points_hint = ("per example: the shared MLP runs twice (2 x 2 C (C // r)), the convolution "
                   "2 k^2 H W, and the two gates 2 C H W multiplications.")

    def cases(self):
        # the defaults reduction = 16 and kernel_size = 7 left out in the last two
        specs = [(64, 56, 56, 16, 7), (256, 14, 14, 16, 7), (2048, 7, 7, 16, 7), (12, 5, 9, 5, 3),
                 (96, 1, 1, 4, 5), (40, 8, 3, 8, 7), (64, 28, 28), (96, 7, 9, 8)]
        names = ("channels", "height", "width", "reduction", "kernel_size")
        return [Case(", ".join(f"{n}={v}" for n, v in zip(names, spec))
                     + ("" if len(spec) == 5 else ", " + " and ".join(names[len(spec):])
                        + " left out"), args=list(spec)) for spec in specs]

    def expected(self, case):
        c, h, w, r, k = (*case.args, 16, 7)[:5] if len(case.args) == 3 else (*case.args, 7)[:5]
        return np.asarray(cbam_macs(c, h, w, r, k))

    def reference(self):
        return lambda c, h, w, r=16, k=7: cbam_macs(c, h, w, r, k)

    def mistakes(self):
        def f(fn):
            def g(c):
                C, H, W, r, k = (*c.args, 16, 7)[:5] if len(c.args) == 3 else (*c.args, 7)[:5]
                return np.asarray(fn(C, H, W, max(1, C // r), k))
            return g
        return [
            Mistake("MLP once", "the MLP runs on two descriptors (average and max): count it twice.",
                    f(lambda C, H, W, h, k: 2 * C * h + 2 * k * k * H * W + 2 * C * H * W)),
            Mistake("no gates", "add the two gate multiplications, C H W each.",
                    f(lambda C, H, W, h, k: 4 * C * h + 2 * k * k * H * W)),
            Mistake("one gate", "there are two full-size products (M_c then M_s): 2 C H W.",
                    f(lambda C, H, W, h, k: 4 * C * h + 2 * k * k * H * W + C * H * W)),
            Mistake("one map", "the convolution reads two maps: 2 k^2 multiply-adds per pixel.",
                    f(lambda C, H, W, h, k: 4 * C * h + k * k * H * W + 2 * C * H * W)),
        ]


class ParamsResNet50(Check):
    step = "cost"
    value = "resnet50"
    kind = "value"
    title = "cbam_params_resnet50 (parameters CBAM adds to ResNet-50)"
    points_hint = ("16 blocks: 3 with C = 256, 4 with 512, 6 with 1024, 3 with 2048; r = 16, "
                   "k = 7, the paper's block (no BatchNorm).")

    def cases(self):
        return [Case("one integer")]

    def expected(self, case):
        return np.asarray(_resnet50_cbam_params())

    def reference(self):
        return _resnet50_cbam_params()

    def mistakes(self):
        se = 2_530_992                 # the SE blocks of SE-ResNet-50 alone
        return [
            Mistake("SE only", "that is the shared MLPs alone; add 2 k^2 = 98 per block for the "
                    "spatial convolutions.", lambda c: np.asarray(se)),
            Mistake("BatchNorm", "that includes the official code's BatchNorm (2 per block).",
                    lambda c: np.asarray(se + 16 * 100)),
            Mistake("one block", "count all sixteen blocks, not one per stage.",
                    lambda c: np.asarray(sum(_paper_params(ch) for ch in (256, 512, 1024, 2048)))),
        ]


CHECKS = [ChannelGate(), SpatialGate(), Module(), SpatialFirst(), OrderGap(), ParamCount(), Macs(),
          ParamsResNet50()]
