"""Efficient Channel Attention (Wang, Wu, Zhu, Li, Zuo, Hu: "ECA-Net: Efficient Channel Attention
for Deep Convolutional Neural Networks", CVPR 2020).

Equations, in the course notation (X in R^{C x H x W}, one example):

    (1) squeeze      z_c = 1/(H W) sum_i sum_j x_c(i, j)                   z in R^C
    (2) excitation   s   = sigma(C1D_k(z))                                  s in R^C
                     i.e. s_c = sigma(sum_{j=0}^{k-1} w_j z_{c+j-(k-1)/2}), z := 0 outside 1..C
    (3) scale        x~_c = s_c * x_c
    (4) kernel size  k = psi(C) = |log2(C)/gamma + b/gamma|_odd,  gamma = 2, b = 1

ECA replaces SE's two fully connected layers by one 1-D convolution across the channel axis: the
k weights are shared by every channel, zero padding keeps C outputs, and there is no bias. The
whole block has k parameters.

Rounding in (4). The paper writes |t|_odd for "the nearest odd number of t"; its code truncates
t = int(|(log2(C) + b) / gamma|) and moves an even t up to t + 1. The two agree except when
(log2(C) + b) / gamma is exactly an even integer, where "nearest odd" is a tie: with the defaults
that happens at C = 8, 128, 2048 (values 2, 4, 6), and the code goes up (3, 5, 7). We follow the
code.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .baselines import ECABaseline
from .complexity import eca_macs, eca_params
from .kinds import ModuleKind, Traffic, alias
from .se import se_squeeze

# ResNet-50 (3, 4, 6, 3 bottlenecks per stage): the width the attention block sees in each stage
# (the bottleneck's output)
_RESNET50_WIDTHS = (256, 512, 1024, 2048)
# the kernel size per stage of the released ECA-ResNet-50 (fixed by hand, not by eq. (4))
_RESNET50_OFFICIAL_K = (3, 5, 5, 7)


def eca_kernel_size(channels: int, gamma: float = 2, b: float = 1) -> int:
    """Eq. (4): the adaptive kernel size ``k = psi(C)``, rounded as the official code does.

    ``t = int(|(log2(C) + b) / gamma|)``, then ``k = t`` if ``t`` is odd, else ``t + 1``.
    With the defaults: C = 64 -> 3, 128 -> 5 (t = 4), 256 -> 5, 512 -> 5, 1024 -> 5, 2048 -> 7.
    """
    if channels < 1:
        raise ValueError(f"channels must be positive, got {channels}")
    if gamma == 0:
        raise ValueError("gamma must be non-zero")
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


def eca_resnet50_kernels(rule: str = "official") -> tuple[int, int, int, int]:
    """Kernel size of ECA in each of ResNet-50's four stages.

    ``rule="official"``: the released ECA-ResNet-50, (3, 5, 5, 7). With 3, 4, 6, 3 bottlenecks per
    stage that is 3*3 + 4*5 + 6*5 + 3*7 = 80 ECA weights, the paper's "80 parameters".
    ``rule="adaptive"``: eq. (4) at each stage's width 256, 512, 1024, 2048, which gives
    (5, 5, 5, 7), i.e. 3*5 + 4*5 + 6*5 + 3*7 = 86 weights.
    """
    if rule == "official":
        return _RESNET50_OFFICIAL_K
    if rule == "adaptive":
        return tuple(eca_kernel_size(c) for c in _RESNET50_WIDTHS)  # type: ignore[return-value]
    raise ValueError(f"rule must be 'official' or 'adaptive', got {rule!r}")


class ECA(nn.Module):
    """The ECA block: ``forward(x) = x * s`` with ``s`` from eqs. (1)-(2), broadcast over H and W.

    Args:
        channels: C, the number of input (and output) channels; used only to pick ``k``.
        kernel_size: the kernel size k (odd). ``None`` (default) uses the adaptive rule
            ``psi(C)``. ``k_size`` (the published code's name) is an alias.
        gamma, b: the constants of eq. (4).
        store_maps: keep the last gate in ``self.maps["s"]`` (detached, shape (B, C)).

    Raises ``ValueError`` for an even or non-positive kernel size, ``TypeError`` when
    ``kernel_size`` and ``k_size`` are both given and differ. Input (B, C, H, W), any float dtype
    and memory format; the output has x's shape, memory format and (with parameters of x's
    dtype) dtype.

    Parameter: ``conv``, an ``nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)`` over the
    channel axis, so the published ``eca_layer`` state dict (``conv.weight``, shape (1, 1, k))
    loads under the same name. k parameters.

    Paper vs official code: the paper chooses k by the rule psi(C), but the released
    ECA-ResNet-50 fixes k per stage to (3, 5, 5, 7) -- that is where the paper's "80 parameters"
    comes from (3*3 + 4*5 + 6*5 + 3*7) -- whereas psi gives (5, 5, 5, 7), 86 parameters. Pass
    ``k_size`` explicitly (see :func:`eca_resnet50_kernels`) to rebuild the released network.
    """

    def __init__(self, channels: int, kernel_size: int | None = None, gamma: float = 2,
                 b: float = 1, store_maps: bool = True, *, k_size: int | None = None):
        super().__init__()
        given = alias(kernel_size, k_size, "kernel_size", "k_size")
        k = eca_kernel_size(channels, gamma, b) if given is None else int(given)
        if k < 1 or k % 2 == 0:
            # "same" zero padding of (k - 1) // 2 on both sides needs an odd k to keep C outputs
            raise ValueError(f"kernel_size (k_size) must be a positive odd integer, got {given}")
        self.channels, self.kernel_size = channels, k
        self.k_size = k                                    # the published code's name
        self.conv = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)
        self.store_maps = store_maps
        self.maps: dict[str, torch.Tensor] = {}

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The channel gate ``s`` (B, C) for input ``x`` (B, C, H, W)."""
        # eq. (1), SE's squeeze (a sum divided afterwards, float16 summed in float32)
        z = se_squeeze(x)                                  # (B, C)
        y = self.conv(z.unsqueeze(1)).squeeze(1)           # (B, 1, C) -> (B, C), C1D_k
        return torch.sigmoid(y)                            # (B, C), eq. (2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.gate(x)                                   # (B, C)
        if self.store_maps:
            self.maps = {"s": s.detach()}
        # a (B, C, 1, 1) view: the product keeps x's memory format (channels_last stays so)
        return x * s[:, :, None, None]                     # (B, C, H, W), eq. (3)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, kernel_size={self.kernel_size}"


def _load_official(module: ECA, state_dict: dict, strict: bool = True) -> None:
    """Official ``eca_layer``: ``conv = Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)``, so
    one key, ``conv.weight`` of shape (1, 1, k); our parameter has the same name and shape."""
    from .official import copy_mapped

    copy_mapped(module, state_dict, {"conv.weight": "conv.weight"}, strict)


KIND = ModuleKind(
    name="eca", title="ECA", cls=ECA, aliases=("eca_net",),
    params=eca_params, macs=eca_macs, loader=_load_official,
    baseline=lambda m: ECABaseline(m.channels, m.kernel_size),
    traffic=Traffic(pooling_passes=1, gates=lambda B, C, H, W: (B * C,), speed_goal=1.8))
