"""Squeeze-and-Excitation (Hu, Shen, Sun: "Squeeze-and-Excitation Networks", CVPR 2018).

Equations, in the course notation (X in R^{C x H x W}, one example):

    (1) squeeze     z_c = 1/(H W) sum_i sum_j x_c(i, j)              z in R^C
    (2) excitation  s   = sigma(W2 delta(W1 z + b1) + b2)           W1 in R^{C/r x C}, W2 in R^{C x C/r}
    (3) scale       x~_c = s_c * x_c

The bottleneck width is ``C // r`` (at least 1): the paper writes C/r, and every published
implementation rounds down. The paper's Caffe models have biases in both layers; the widely used
PyTorch port (senet.pytorch) has none: ``bias=False`` gives that variant.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .baselines import SEBaseline
from .complexity import se_macs, se_params
from .kinds import ModuleKind, Traffic


def se_bottleneck(channels: int, reduction: int) -> int:
    """Width of the SE bottleneck: ``channels // reduction``, never below 1."""
    if channels < 1 or reduction < 1:
        raise ValueError(f"channels and reduction must be positive, got {channels} and {reduction}")
    return max(1, channels // reduction)


def se_squeeze(x: torch.Tensor) -> torch.Tensor:
    """Eq. (1): global average pooling. ``x`` (B, C, H, W) -> ``z`` (B, C), x's dtype (float16
    and bfloat16 accumulated in float32)."""
    if x.dim() != 4:
        raise ValueError(f"expected a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
    # a sum, then a division of the small (B, C) result: the same value as x.mean(dim=(2, 3)),
    # but mean's backward divides the expanded gradient, writing a full-size tensor the sum's
    # backward never makes (training 15-20 % faster at 32x256x28x28, bench/README.md).
    # A float16/bfloat16 x is summed in float32: a float16 sum overflows to inf (then the gate
    # to NaN) once H W times the mean passes 65504, e.g. 40x40 activations averaging 41, which
    # late detector stages reach; the mean itself is returned in x's dtype.
    acc = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else None
    z = x.sum(dim=(2, 3), dtype=acc) / (x.shape[2] * x.shape[3])
    return z if acc is None else z.to(x.dtype)


def se_excitation(z: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor | None,
                  w2: torch.Tensor, b2: torch.Tensor | None) -> torch.Tensor:
    """Eq. (2): ``s = sigmoid(W2 relu(W1 z + b1) + b2)``.

    ``z`` (B, C); ``w1`` (C/r, C) and ``w2`` (C, C/r) in the (out, in) layout of ``nn.Linear``;
    biases may be ``None``. Returns ``s`` (B, C), every entry in (0, 1).
    """
    return torch.sigmoid(F.linear(F.relu(F.linear(z, w1, b1)), w2, b2))


class SqueezeExcitation(nn.Module):
    """The SE block: ``forward(x) = x * s`` with ``s`` from eqs. (1)-(2), broadcast over H and W.

    Args:
        channels: C, the number of input (and output) channels.
        reduction: r, the reduction ratio; the bottleneck has ``max(1, C // r)`` units.
        bias: whether both fully connected layers have a bias (the paper's models do; the
            common PyTorch port does not).
        store_maps: keep the last gate in ``self.maps["s"]`` (detached, shape (B, C)).

    Parameters: ``fc1`` (C -> C/r) and ``fc2`` (C/r -> C), both ``nn.Linear``:
    ``2 C (C/r)`` weights plus ``C/r + C`` biases.
    """

    def __init__(self, channels: int, reduction: int = 16, bias: bool = True,
                 store_maps: bool = True):
        super().__init__()
        hidden = se_bottleneck(channels, reduction)
        self.channels, self.reduction, self.hidden = channels, reduction, hidden
        self.fc1 = nn.Linear(channels, hidden, bias=bias)
        self.fc2 = nn.Linear(hidden, channels, bias=bias)
        self.store_maps = store_maps
        self.maps: dict[str, torch.Tensor] = {}

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The channel gate ``s`` (B, C) for input ``x`` (B, C, H, W)."""
        return se_excitation(se_squeeze(x), self.fc1.weight, self.fc1.bias,
                             self.fc2.weight, self.fc2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.gate(x)                                   # (B, C)
        if self.store_maps:
            self.maps = {"s": s.detach()}
        return x * s[:, :, None, None]                     # (B, C, H, W), eq. (3)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, reduction={self.reduction}, hidden={self.hidden}"


def _load_official(module: SqueezeExcitation, state_dict: dict, strict: bool = True) -> None:
    """senet.pytorch ``SELayer``: ``fc = Sequential(Linear(C, C//r, bias=False), ReLU,
    Linear(C//r, C, bias=False), Sigmoid)``, so keys ``fc.0.weight`` and ``fc.2.weight``.
    Biases (``fc.0.bias``, ``fc.2.bias``) are taken when present (the Caffe models' layout)."""
    from .official import copy_mapped

    mapping = {"fc.0.weight": "fc1.weight", "fc.2.weight": "fc2.weight"}
    if module.fc1.bias is not None:
        mapping.update({"fc.0.bias": "fc1.bias", "fc.2.bias": "fc2.bias"})
    copy_mapped(module, state_dict, mapping, strict)


KIND = ModuleKind(
    name="se", title="SE", cls=SqueezeExcitation, aliases=("squeeze_excitation",),
    params=se_params, macs=se_macs, loader=_load_official,
    baseline=lambda m: SEBaseline(m.channels, m.reduction),
    published_kwargs={"bias": False},          # senet.pytorch's SELayer
    traffic=Traffic(pooling_passes=1, gates=lambda B, C, H, W: (B * C,), speed_goal=1.8))
