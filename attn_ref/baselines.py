"""Straightforward eager transcriptions of the published attention modules: the benchmark's
second baseline and the profiling chapter's subject.

These follow the designs of the authors' released PyTorch code operation by operation -- the
pooling layers they use, the reshapes, the ``torch.cat`` of pooled maps, ``expand_as`` before the
product -- written here in our own words. They are the "second baseline" of
``bench/bench_modules.py`` and of the profiling chapter: what you get by transcribing the
published code as it stands, with no attention to memory traffic. Parameter and buffer names reproduce the published state-dict
layouts, so ``attn_ref.load_official_state_dict(our_module, baseline.state_dict())`` copies the
same weights into the attn_ref module and the two can be checked for equal outputs.

* ``SEBaseline``    senet.pytorch ``SELayer``: AdaptiveAvgPool2d(1), view, Linear-ReLU-Linear-Sigmoid
                    without biases, view, ``x * y.expand_as(x)``.
* ``ECABaseline``   ECA-Net ``eca_layer``: AdaptiveAvgPool2d(1), squeeze/transpose to (B, 1, C),
                    Conv1d(1, 1, k), transpose back, sigmoid, ``x * y.expand_as(x)``.
* ``CBAMBaseline``  attention-module ``CBAM``: ChannelGate pools with ``avg_pool2d`` / ``max_pool2d``
                    over the whole map, runs the MLP once per pooled vector, sums, sigmoid,
                    ``unsqueeze``/``expand_as``, product; SpatialGate stacks (max, mean) over
                    channels with ``torch.cat``, 7x7 conv + BatchNorm, sigmoid, product.
* ``CABaseline``    ``CoordAtt``: AdaptiveAvgPool2d((None, 1)) and ((1, None)), permute, ``torch.cat``
                    along H, 1x1 conv + BN + h-swish (written as x * ReLU6(x + 3) / 6), ``split``,
                    permute back, two 1x1 convs + sigmoid, ``identity * a_w * a_h``.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


class SEBaseline(nn.Module):
    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        hidden = channels // reduction
        self.fc = nn.Sequential(nn.Linear(channels, hidden, bias=False), nn.ReLU(inplace=True),
                                nn.Linear(hidden, channels, bias=False), nn.Sigmoid())

    def forward(self, x):
        b, c = x.shape[:2]
        weights = self.fc(self.avg_pool(x).view(b, c)).view(b, c, 1, 1)
        return x * weights.expand_as(x)


class ECABaseline(nn.Module):
    def __init__(self, channels: int, k_size: int = 3):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(1, 1, kernel_size=k_size, padding=(k_size - 1) // 2, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        pooled = self.avg_pool(x)                                   # (B, C, 1, 1)
        y = self.conv(pooled.squeeze(-1).transpose(-1, -2))         # (B, 1, C)
        y = self.sigmoid(y.transpose(-1, -2).unsqueeze(-1))         # (B, C, 1, 1)
        return x * y.expand_as(x)


class _ConvBN(nn.Module):
    """The official ``BasicConv`` as the spatial gate uses it: conv (no bias) + BatchNorm."""

    def __init__(self, in_planes, out_planes, kernel_size):
        super().__init__()
        self.conv = nn.Conv2d(in_planes, out_planes, kernel_size, padding=(kernel_size - 1) // 2,
                              bias=False)
        self.bn = nn.BatchNorm2d(out_planes, eps=1e-5, momentum=0.01, affine=True)

    def forward(self, x):
        return self.bn(self.conv(x))


class _ChannelGate(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(channels, channels // reduction),
                                 nn.ReLU(), nn.Linear(channels // reduction, channels))

    def forward(self, x):
        size = (x.size(2), x.size(3))
        total = None
        for pooled in (F.avg_pool2d(x, size, stride=size), F.max_pool2d(x, size, stride=size)):
            raw = self.mlp(pooled)
            total = raw if total is None else total + raw
        scale = torch.sigmoid(total).unsqueeze(2).unsqueeze(3).expand_as(x)
        return x * scale


class _SpatialGate(nn.Module):
    def __init__(self, kernel_size=7):
        super().__init__()
        self.spatial = _ConvBN(2, 1, kernel_size)

    def forward(self, x):
        stacked = torch.cat((torch.max(x, 1)[0].unsqueeze(1), torch.mean(x, 1).unsqueeze(1)),
                            dim=1)
        return x * torch.sigmoid(self.spatial(stacked))


class CBAMBaseline(nn.Module):
    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7):
        super().__init__()
        self.ChannelGate = _ChannelGate(channels, reduction)
        self.SpatialGate = _SpatialGate(kernel_size)

    def forward(self, x):
        return self.SpatialGate(self.ChannelGate(x))


class _HSigmoid(nn.Module):
    def forward(self, x):
        return F.relu6(x + 3, inplace=True) / 6


class _HSwish(nn.Module):
    def __init__(self):
        super().__init__()
        self.sigmoid = _HSigmoid()

    def forward(self, x):
        return x * self.sigmoid(x)


class CABaseline(nn.Module):
    def __init__(self, inp: int, oup: int | None = None, reduction: int = 32):
        super().__init__()
        oup = inp if oup is None else oup
        self.pool_h = nn.AdaptiveAvgPool2d((None, 1))
        self.pool_w = nn.AdaptiveAvgPool2d((1, None))
        mip = max(8, inp // reduction)
        self.conv1 = nn.Conv2d(inp, mip, kernel_size=1, stride=1, padding=0)
        self.bn1 = nn.BatchNorm2d(mip)
        self.act = _HSwish()
        self.conv_h = nn.Conv2d(mip, oup, kernel_size=1, stride=1, padding=0)
        self.conv_w = nn.Conv2d(mip, oup, kernel_size=1, stride=1, padding=0)

    def forward(self, x):
        identity = x
        h, w = x.shape[2], x.shape[3]
        x_h = self.pool_h(x)                                   # (B, C, H, 1)
        x_w = self.pool_w(x).permute(0, 1, 3, 2)               # (B, C, W, 1)
        y = self.act(self.bn1(self.conv1(torch.cat([x_h, x_w], dim=2))))
        x_h, x_w = torch.split(y, [h, w], dim=2)
        x_w = x_w.permute(0, 1, 3, 2)
        a_h = self.conv_h(x_h).sigmoid()
        a_w = self.conv_w(x_w).sigmoid()
        return identity * a_w * a_h


def make_baseline(kind: str, channels: int, **kwargs) -> nn.Module:
    """The transcription of the published module ``kind`` ("se", "eca", "cbam", "ca" or an
    alias), in the configuration ``attn_ref``'s module of that kind gets from ``kwargs`` (its
    constructor's arguments: ``reduction``, ``kernel_size``, or aliases such as ``k_size``).
    The kinds register their baselines in :mod:`attn_ref.kinds`; ``ValueError`` for a kind
    without one."""
    from . import kinds

    entry = kinds.get(kind)
    if entry.baseline is None:
        raise ValueError(f"no baseline is known for {entry.name!r}")
    return entry.baseline(entry.build(channels, **kwargs))
