"""Hidden checks of the chapter "Attention inside a network" (``solutions/05_network/network.ipynb``).

The bottleneck exercise gives the learner a fixed ``__init__`` (the names of
``attn_ref.models.Bottleneck``: conv1, bn1, conv2, bn2, conv3, bn3, relu, downsample, attention),
so the check loads the reference weights by name; many tensors share a shape (BatchNorm scale,
shift and statistics), which rules out matching by shape. The counting exercises are checked
against modules counted parameter by parameter, not against the closed forms they ask for.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..models import Bottleneck as RefBottleneck
from ..models import ECA_RESNET50_K_SIZES, RESNET50_STAGES, make_attention
from .core import Case, Check, Mistake, Rejected, case_rng, to_numpy


def _t(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


class RowGate(nn.Module):
    """A parameter-free stand-in for an attention module: x * sigmoid(mean over channels and
    columns), one gate per (example, row). Deterministic and non-linear, so it does not commute
    with BatchNorm, the residual addition or the ReLU."""

    def forward(self, x):
        return x * torch.sigmoid(x.mean(dim=(1, 3), keepdim=True))


def _attention(kind: str, channels: int) -> nn.Module:
    if kind == "identity":
        return nn.Identity()
    if kind == "rowgate":
        return RowGate()
    if kind == "se":
        return make_attention("se", channels, reduction=4)
    if kind == "eca":
        return make_attention("eca", channels, k_size=3)
    raise ValueError(kind)


def _block_params(rng, cin, width, stride, attention: nn.Module):
    cout = 4 * width
    p = {}

    def bn(name, c):
        p[f"{name}.weight"] = rng.uniform(0.5, 1.5, (c,))
        p[f"{name}.bias"] = rng.uniform(-0.5, 0.5, (c,))
        p[f"{name}.running_mean"] = rng.uniform(-0.3, 0.3, (c,))
        p[f"{name}.running_var"] = rng.uniform(0.5, 2.0, (c,))

    p["conv1.weight"] = rng.normal(0, 1 / np.sqrt(cin), (width, cin, 1, 1))
    bn("bn1", width)
    p["conv2.weight"] = rng.normal(0, 1 / np.sqrt(9 * width), (width, width, 3, 3))
    bn("bn2", width)
    p["conv3.weight"] = rng.normal(0, 1 / np.sqrt(width), (cout, width, 1, 1))
    bn("bn3", cout)
    if stride != 1 or cin != cout:
        p["downsample.0.weight"] = rng.normal(0, 1 / np.sqrt(cin), (cout, cin, 1, 1))
        bn("downsample.1", cout)
    for name, t in attention.named_parameters():
        p[f"attention.{name}"] = rng.normal(0, 2 / np.sqrt(max(1, t.shape[-1])), tuple(t.shape))
    return p


def _load(module: nn.Module, params: dict) -> None:
    tensors = dict(module.named_parameters())
    tensors.update(dict(module.named_buffers()))
    with torch.no_grad():
        for name, value in params.items():
            t = tensors.get(name)
            if t is None:
                raise Rejected(f"your block has no tensor {name!r}: keep the layers that "
                                 "__init__ creates (and store the attention module as "
                                 "self.attention)")
            if t.numel() != np.asarray(value).size:
                raise Rejected(f"your block's {name} has shape {tuple(t.shape)}, expected "
                                 f"{tuple(np.shape(value))}")
            t.copy_(torch.from_numpy(np.ascontiguousarray(value)).reshape(t.shape).to(t.dtype))


class RefBlock(RefBottleneck):
    """The reference bottleneck with the notebook's constructor signature."""

    def __init__(self, in_channels, width, stride=1, attention=None):
        super().__init__(in_channels, width, stride, attention)


# ----- step 1: the bottleneck with a pluggable attention module --------------------------------
class Block(Check):
    step = "bottleneck"
    kind = "module"
    title = "Bottleneck(in_channels, width, stride, attention).forward"
    points_hint = ("conv1 -> bn1 -> ReLU -> conv2 -> bn2 -> ReLU -> conv3 -> bn3 -> attention on "
                   "the residual branch; then add the identity (x, or downsample(x) when there is "
                   "one) and apply the final ReLU.")

    SPECS = [(16, 4, 1, "identity", (2, 16, 5, 7), "float64"),
             (16, 4, 1, "se", (2, 16, 6, 5), "float64"),
             (8, 4, 2, "se", (1, 8, 7, 6), "float64"),
             (12, 6, 1, "rowgate", (2, 12, 4, 9), "float64"),
             (24, 6, 1, "rowgate", (3, 24, 5, 5), "float32"),
             (8, 2, 2, "eca", (2, 8, 1, 1), "float64"),
             (6, 5, 2, "rowgate", (1, 6, 9, 4), "float64"),
             (32, 8, 1, "se", (1, 32, 3, 8), "float32")]

    def cases(self):
        out = []
        for i, (cin, width, stride, att, shape, dtype) in enumerate(self.SPECS):
            rng = case_rng(self.id, i)
            params = _block_params(rng, cin, width, stride, _attention(att, 4 * width))
            x = rng.normal(0.0, 1.0, size=shape)
            out.append(Case(f"Bottleneck(in_channels={cin}, width={width}, stride={stride}) with "
                            f"attention {att!r} on x of shape {shape}, {dtype}", args=[x],
                            kwargs=dict(in_channels=cin, width=width, stride=stride, attention=att),
                            params=params, dtype=dtype))
        return out

    def _build(self, cls, case):
        kw = dict(case.kwargs)
        att = _attention(kw.pop("attention"), 4 * kw["width"])
        return cls(attention=att, **kw)

    def run(self, obj, case):
        dtype = getattr(torch, case.dtype)
        module = self._build(obj, case)
        if not isinstance(module, nn.Module):
            raise Rejected(f"calling your class gave a {type(module).__name__}, not a "
                            "torch.nn.Module")
        module = module.to(dtype).eval()
        _load(module, case.params)
        with torch.no_grad():
            return [to_numpy(module(torch.from_numpy(case.args[0]).to(dtype)))]

    def _parts(self, case):
        m = self._build(RefBlock, case).double().eval()
        _load(m, case.params)
        return m

    def _variant(self, case, where="branch", final_relu=True):
        m = self._parts(case)
        x = _t(case.args[0])
        with torch.no_grad():
            identity = x if m.downsample is None else m.downsample(x)
            out = torch.relu(m.bn1(m.conv1(x)))
            out = torch.relu(m.bn2(m.conv2(out)))
            out = m.conv3(out)
            if where == "branch":
                out = m.attention(m.bn3(out)) + identity
            elif where == "before bn3":
                out = m.bn3(m.attention(out)) + identity
            elif where == "after add":
                out = m.attention(m.bn3(out) + identity)
            elif where == "identity":
                out = m.bn3(out) + m.attention(identity)
            elif where == "after relu":
                out = m.attention(torch.relu(m.bn3(out) + identity))
            return (torch.relu(out) if final_relu else out).numpy()

    def expected(self, case):
        with torch.no_grad():
            return self._parts(case)(_t(case.args[0])).numpy()

    def reference(self):
        return RefBlock

    def mistakes(self):
        return [
            Mistake("after add", "the attention module acts after the residual addition, so it "
                    "also rescales the identity path; apply it to the branch (after bn3), then add.",
                    lambda c: self._variant(c, "after add")),
            Mistake("after relu", "the attention module acts on the block's output (after the "
                    "final ReLU); apply it to the branch after bn3, before the addition.",
                    lambda c: self._variant(c, "after relu")),
            Mistake("before bn3", "the attention module acts before bn3; the papers put it after "
                    "the branch's last BatchNorm.", lambda c: self._variant(c, "before bn3")),
            Mistake("identity", "the attention module acts on the identity (shortcut) path; it "
                    "belongs on the residual branch.", lambda c: self._variant(c, "identity")),
            Mistake("no relu", "the block's output is missing the final ReLU after the addition.",
                    lambda c: self._variant(c, final_relu=False)),
        ]


# ----- step 2: SE's parameters in conv3_x ------------------------------------------------------
def _stage_modules(kind, stage, **kw):
    blocks, width = RESNET50_STAGES[stage]
    if kind == "eca" and "k_size" not in kw:
        kw["k_size"] = ECA_RESNET50_K_SIZES[stage]
    return [make_attention(kind, 4 * width, **kw) for _ in range(blocks)]


def _count(modules):
    return sum(p.numel() for m in modules for p in m.parameters())


def _se_conv3():
    return _count(_stage_modules("se", 1, reduction=16, bias=True))


class SEConv3(Check):
    step = "se_conv3"
    kind = "value"
    title = "se_conv3_params (parameters SE adds to conv3_x of SE-ResNet-50, with biases)"
    points_hint = ("conv3_x has four bottleneck blocks whose output (where SE acts) has C = 512 "
                   "channels; per block 2 C (C // 16) + C // 16 + C.")

    def cases(self):
        return [Case("one integer")]

    def expected(self, case):
        return np.asarray(_se_conv3())

    def reference(self):
        return _se_conv3()

    def mistakes(self):
        def se(c, blocks=4, bias=True):
            h = c // 16
            return np.asarray(blocks * (2 * c * h + ((h + c) if bias else 0)))
        return [
            Mistake("width", "SE acts on the block's output, 4 x the bottleneck width: C = 512, "
                    "not 128.", lambda c: se(128)),
            Mistake("one block", "that is one block; conv3_x has four.", lambda c: se(512, 1)),
            Mistake("no bias", "with biases each block has C // 16 + C more parameters.",
                    lambda c: se(512, bias=False)),
            Mistake("blocks", "conv3_x has four blocks (3, 4, 6, 3 in ResNet-50's stages).",
                    lambda c: se(512, 6)),
        ]


# ----- step 3: ECA's parameters per stage ------------------------------------------------------
def _eca_stages():
    return np.array([_count(_stage_modules("eca", s)) for s in range(4)], dtype=np.int64)


class ECAStages(Check):
    step = "eca_stages"
    kind = "value"
    axis_names = ("stage",)
    title = "eca_stage_params (ECA's parameters in each stage of the released ECA-ResNet-50)"
    points_hint = ("one ECA module per bottleneck block, k weights each (no bias); the released "
                   "model uses k = 3, 5, 5, 7 in stages with 3, 4, 6, 3 blocks.")

    def cases(self):
        return [Case("four integers, conv2_x to conv5_x")]

    def run(self, obj, case):
        if isinstance(obj, (list, tuple)):
            obj = np.asarray(obj)
        arr = to_numpy(obj)
        if arr.shape != (4,):
            raise Rejected(f"expected four numbers (one per stage), got shape {arr.shape}")
        return [arr.astype(np.float64)]

    def expected(self, case):
        return _eca_stages().astype(np.float64)

    def reference(self):
        return [int(v) for v in _eca_stages()]

    def mistakes(self):
        blocks = np.array([3, 4, 6, 3], dtype=np.float64)
        return [
            Mistake("rule", "these use the adaptive rule k = psi(C) (5, 5, 5, 7); the released "
                    "ECA-ResNet-50 fixes k = 3, 5, 5, 7.",
                    lambda c: blocks * np.array([5, 5, 5, 7])),
            Mistake("per block", "these are per block; multiply by the number of blocks in each "
                    "stage.", lambda c: np.array([3.0, 5, 5, 7])),
            Mistake("times C", "ECA's convolution is shared across channels: k weights, not k C.",
                    lambda c: blocks * np.array([3, 5, 5, 7]) * np.array([256, 512, 1024, 2048])),
        ]


# ----- step 4: CA's parameters in one MobileNetV2 block ----------------------------------------
def _ca_block(in_channels, expansion, reduction=32):
    hidden = int(round(in_channels * expansion))
    return _count([make_attention("ca", hidden, reduction=reduction)])


class CABlock(Check):
    step = "ca_block"
    title = "ca_block_params(in_channels, expansion, reduction=32)"
    points_hint = ("CA acts on the expanded width C = t x in_channels; m = max(8, C // r); "
                   "conv1 C -> m with bias, bn1 (2 m), conv_h and conv_w m -> C with bias.")

    SPECS = [(16, 6), (24, 6), (32, 6), (64, 6), (96, 6), (160, 6), (24, 6, 16), (40, 4, 8),
             (8, 3), (320, 6)]

    def cases(self):
        return [Case(f"in_channels={s[0]}, expansion={s[1]}" +
                     (f", reduction={s[2]}" if len(s) > 2 else ", default reduction"),
                     args=list(s)) for s in self.SPECS]

    def expected(self, case):
        return np.asarray(_ca_block(*case.args))

    def reference(self):
        return _ca_block

    def mistakes(self):
        def closed(c, expand=True, lo=8, bn=2, r=None):
            cin, t = c.args[:2]
            r = r or (c.args[2] if len(c.args) > 2 else 32)
            C = cin * t if expand else cin
            m = max(lo, C // r)
            return np.asarray(C * m + m + bn * m + 2 * (m * C + C))
        return [
            Mistake("input width", "CA acts on the expanded width t x in_channels (after the "
                    "depthwise convolution), not on the block's input.",
                    lambda c: closed(c, expand=False)),
            Mistake("no max", "the bottleneck width is max(8, C // r), never below 8.",
                    lambda c: closed(c, lo=1)),
            Mistake("bn buffers", "BatchNorm's running statistics are buffers, not parameters: "
                    "count 2 m for bn1.", lambda c: closed(c, bn=4)),
            Mistake("r16", "CA's default reduction is r = 32.",
                    lambda c: closed(c, r=(c.args[2] if len(c.args) > 2 else 16))),
        ]


CHECKS = [Block(), SEConv3(), ECAStages(), CABlock()]
