"""Global Attention Mechanism (Liu, Shao, Hoffmann: "Global Attention Mechanism: Retain
Information to Enhance Channel-Spatial Interactions", arXiv 2112.05561, 2021).

GAM keeps CBAM's order (channel first, then spatial) but drops the pooling that CBAM uses to
build its maps: both maps are full (C, H, W) tensors.

Equations, in the course notation (F1 = X in R^{C x H x W}, one example; C/r = max(1, C // r)):

    (1) channel map   M_c = sigma(P^-1(W2 delta(W1 P(F1) + b1) + b2))         M_c in R^{C x H x W}
                      P: (C, H, W) -> (H, W, C) permutation; W1 in R^{C/r x C}, W2 in R^{C x C/r},
                      i.e. the same two-layer MLP applied to the channel vector of every position
    (2)               F2 = M_c (x) F1
    (3) spatial map   M_s = sigma(BN(Conv7x7_{C/r -> C}(delta(BN(Conv7x7_{C -> C/r}(F2))))))
                                                                               M_s in R^{C x H x W}
    (4)               F3 = M_s (x) F2

Both maps have the full shape of the input, so ``(x)`` needs no broadcasting. The spatial map is
computed *from F2* and multiplies *F2*: a circulating implementation multiplies the spatial map by
itself instead (its output never depends on the input except through the map), which the tests
catch.

Left to the reader by the paper and fixed here, as in the widely used PyTorch transcriptions:
r = 4 by default; both 7x7 convolutions have padding 3 and a bias and are followed by BatchNorm;
the linear layers have biases. The paper also uses group convolution with channel shuffle in the
spatial submodule of ResNet-50, to limit the parameter count; this module implements the plain
form of its Fig. 3.

Sub-module names follow the common PyTorch transcription, so its state dict loads by name:
``channel_attention`` = (Linear, ReLU, Linear), ``spatial_attention`` = (Conv, BN, ReLU, Conv, BN).
"""
from __future__ import annotations

import torch
from torch import nn

from .complexity import gam_macs, gam_params
from .kinds import ModuleKind, alias


def gam_hidden(channels: int, rate: int) -> int:
    """Bottleneck width C/r of both GAM submodules: ``channels // rate``, never below 1."""
    if channels < 1 or rate < 1:
        raise ValueError(f"channels and rate must be positive, got {channels} and {rate}")
    return max(1, channels // rate)


class GAM(nn.Module):
    """GAM block: ``forward(x) = M_s(F2) * F2`` with ``F2 = M_c(x) * x``, eqs. (1)-(4).

    Args:
        channels: C, input and output channels.
        reduction: r, the reduction ratio of both submodules (hidden width ``max(1, C // r)``),
            4 by default. ``rate`` (the paper's and the chapter's name) is an alias.
        store_maps: keep ``self.maps["M_c"]`` and ``self.maps["M_s"]`` (both (B, C, H, W),
            detached) from the last forward pass.

    Input ``x`` (B, C, H, W); output of its shape and dtype. ``ValueError`` for another shape,
    ``TypeError`` when ``reduction`` and ``rate`` are both given and differ.

    Note: ``spatial_attention`` contains BatchNorm, so in training mode a batch of one 1x1 map
    has a single value per channel and BatchNorm refuses it (as for any BatchNorm network).
    """

    def __init__(self, channels: int, reduction: int | None = None, store_maps: bool = True, *,
                 rate: int | None = None):
        super().__init__()
        rate = alias(reduction, rate, "reduction", "rate", 4)
        hidden = gam_hidden(channels, rate)
        self.channels, self.hidden = channels, hidden
        self.reduction = self.rate = rate
        self.channel_attention = nn.Sequential(
            nn.Linear(channels, hidden),
            nn.ReLU(),
            nn.Linear(hidden, channels),
        )
        self.spatial_attention = nn.Sequential(
            nn.Conv2d(channels, hidden, kernel_size=7, padding=3),
            nn.BatchNorm2d(hidden),
            nn.ReLU(),
            nn.Conv2d(hidden, channels, kernel_size=7, padding=3),
            nn.BatchNorm2d(channels),
        )
        self.store_maps = store_maps
        self.maps: dict[str, torch.Tensor] = {}

    def channel_map(self, x: torch.Tensor) -> torch.Tensor:
        """Eq. (1): M_c (B, C, H, W), the MLP applied to every position's channel vector."""
        t = self.channel_attention(x.permute(0, 2, 3, 1))      # (B, H, W, C)
        return torch.sigmoid(t.permute(0, 3, 1, 2))            # (B, C, H, W)

    def spatial_map(self, f2: torch.Tensor) -> torch.Tensor:
        """Eq. (3): M_s (B, C, H, W) computed from F2."""
        return torch.sigmoid(self.spatial_attention(f2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"expected a (B, {self.channels}, H, W) tensor, "
                             f"got shape {tuple(x.shape)}")
        m_c = self.channel_map(x)
        f2 = x * m_c                                           # eq. (2)
        m_s = self.spatial_map(f2)
        if self.store_maps:
            self.maps = {"M_c": m_c.detach(), "M_s": m_s.detach()}
        return f2 * m_s                                        # eq. (4)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, rate={self.rate}, hidden={self.hidden}"


KIND = ModuleKind(name="gam", title="GAM", cls=GAM, aliases=("global_attention",),
                  params=gam_params, macs=gam_macs)
