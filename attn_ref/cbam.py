"""Convolutional Block Attention Module (Woo, Park, Lee, Kweon: "CBAM: Convolutional Block
Attention Module", ECCV 2018).

Equations, in the course notation (one example; the input is X elsewhere in the course, F here as in
the paper, F in R^{C x H x W}):

    (1) channel map  M_c = sigma(MLP(AvgPool(F)) + MLP(MaxPool(F)))             M_c in R^{C x 1 x 1}
                     MLP(z) = W2 delta(W1 z + b1) + b2,  W1 in R^{C/r x C}, W2 in R^{C x C/r}
    (2)              F'  = M_c (x) F
    (3) spatial map  M_s = sigma(BN(f^{7x7}([MaxPool_c(F'); AvgPool_c(F')])))  M_s in R^{1 x H x W}
    (4)              F'' = M_s (x) F'

AvgPool / MaxPool in (1) pool over H and W; AvgPool_c / MaxPool_c in (3) pool over the channels.
(x) is the element-wise product with broadcasting.

Paper vs official code (attention-module, MODELS/cbam.py), where we follow the code by default:

* Order of the two maps in (3). The paper writes [AvgPool(F'); MaxPool(F')]; the code stacks
  (max, mean). It matters only for which slice of the 7x7 weight meets which map, so a checkpoint
  loaded into the other order must have the two input channels of the weight swapped (our loader
  does it). ``order="paper"`` selects [avg; max].
* BatchNorm in (3). The paper has sigma(f^{7x7}(...)); the code's conv block is conv (no bias) ->
  BatchNorm2d(1, eps=1e-5, momentum=0.01) -> sigmoid. ``batchnorm=False`` gives the paper's
  version. Note the momentum of 0.01 (PyTorch's default is 0.1): the running statistics move
  slowly; we keep the code's value.
* Biases in (1). The code's MLP has biases in both layers and is applied to the two descriptors
  separately, so the output bias b2 enters twice; we do the same.
* Bottleneck width. The code uses C // r, which is 0 when C < r; we use max(1, C // r) as for SE.
* Max pooling. The code uses max_pool2d and torch.max, which also record where each maximum is. We
  do the same when autograd needs it, and otherwise use amax, several times faster on CPU (see
  :func:`_max_hw`). The outputs are identical either way.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .se import se_bottleneck

_ORDERS = ("official", "paper")


def _tracks_grad(x: torch.Tensor) -> bool:
    """Whether autograd records operations on ``x`` (so a backward pass may follow)."""
    return torch.is_grad_enabled() and x.requires_grad


def _max_hw(x: torch.Tensor) -> torch.Tensor:
    """Max over H and W: (B, C, H, W) -> (B, C).

    Without autograd, ``amax``: a plain reduction, several times faster on CPU than a max that also
    records indices. With autograd, a max with indices: its backward sends each gradient to the
    recorded position in one pass, where amax's backward compares the whole input with the result
    and counts ties (several full-size passes, 2-3x slower overall). The index version also matches
    the official code's gradient at exact ties (one element gets it all).
    """
    if _tracks_grad(x):
        return F.adaptive_max_pool2d(x, 1).flatten(1)     # handles channels_last natively
    return x.amax(dim=(2, 3))


def _max_c(x: torch.Tensor) -> torch.Tensor:
    """Max over channels: (B, C, H, W) -> (B, 1, H, W); same choice as :func:`_max_hw`."""
    if _tracks_grad(x):
        return x.max(dim=1, keepdim=True).values
    return x.amax(dim=1, keepdim=True)


class ChannelAttention(nn.Module):
    """Eq. (1): the channel map ``M_c`` (B, C, 1, 1) of input ``x`` (B, C, H, W).

    ``forward`` returns the map, not the gated tensor (CBAM applies it).

    Args:
        channels: C.
        reduction: r; the hidden layer has ``max(1, C // r)`` units.
        store_maps: keep the last map in ``self.maps["M_c"]`` (detached).

    Parameters: ``fc1`` (C -> C/r) and ``fc2`` (C/r -> C), ``nn.Linear`` with biases, shared by
    the average- and max-pooled descriptors: ``2 C (C/r) + C/r + C`` parameters.
    """

    def __init__(self, channels: int, reduction: int = 16, store_maps: bool = True):
        super().__init__()
        hidden = se_bottleneck(channels, reduction)
        self.channels, self.reduction, self.hidden = channels, reduction, hidden
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        self.store_maps = store_maps
        self.maps: dict[str, torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"expected a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
        # both descriptors in one (2, B, C) batch, so the shared MLP runs once. The average is a
        # sum divided afterwards (see ECA.gate: mean's backward would write a full-size tensor).
        avg = x.sum(dim=(2, 3)) / (x.shape[2] * x.shape[3])            # (B, C)
        z = torch.stack((avg, _max_hw(x)))                             # (2, B, C)
        y = self.fc2(F.relu(self.fc1(z))).sum(dim=0)                   # (B, C): MLP(avg) + MLP(max)
        m_c = torch.sigmoid(y)[:, :, None, None]                       # (B, C, 1, 1)
        if self.store_maps:
            self.maps = {"M_c": m_c.detach()}
        return m_c

    def extra_repr(self) -> str:
        return f"channels={self.channels}, reduction={self.reduction}, hidden={self.hidden}"


class SpatialAttention(nn.Module):
    """Eq. (3): the spatial map ``M_s`` (B, 1, H, W) of input ``x`` (B, C, H, W).

    ``forward`` returns the map, not the gated tensor (CBAM applies it).

    Args:
        kernel_size: side of the square convolution (odd; the paper uses 7), zero padding
            ``(kernel_size - 1) // 2`` keeps H x W.
        order: ``"official"`` stacks the pooled maps as (max, mean), as the official code does;
            ``"paper"`` as [avg; max], as the paper writes.
        batchnorm: a ``BatchNorm2d(1)`` after the convolution, as in the official code
            (momentum 0.01 as there). With ``False`` the module is the paper's eq. (3).
        store_maps: keep the last map in ``self.maps["M_s"]`` (detached).

    Parameters: ``conv`` (2 -> 1, no bias, 2 k^2 weights) and, with ``batchnorm``, ``bn``
    (weight and bias, plus running statistics). In training mode the BatchNorm normalises with the
    statistics of the batch, so it needs more than one value (B H W > 1).
    """

    def __init__(self, kernel_size: int = 7, order: str = "official", batchnorm: bool = True,
                 store_maps: bool = True):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size}")
        if order not in _ORDERS:
            raise ValueError(f"order must be one of {_ORDERS}, got {order!r}")
        self.kernel_size, self.order = kernel_size, order
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)
        # the official conv block: BatchNorm2d(1, eps=1e-5, momentum=0.01, affine=True)
        self.bn = nn.BatchNorm2d(1, eps=1e-5, momentum=0.01) if batchnorm else None
        self.store_maps = store_maps
        self.maps: dict[str, torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"expected a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
        mx = _max_c(x)                                     # (B, 1, H, W), MaxPool_c
        avg = x.sum(dim=1, keepdim=True) / x.shape[1]      # (B, 1, H, W), AvgPool_c (cf. ECA.gate)
        # official code: (max, mean); paper: [avg; max]. Only the weight's channel order differs.
        maps = (mx, avg) if self.order == "official" else (avg, mx)
        pooled = torch.cat(maps, dim=1)                    # (B, 2, H, W)
        if _tracks_grad(pooled):
            # on CPU (oneDNN) this 2 -> 1 convolution's backward runs several times faster on
            # channels-last input; pooled is small (2/C of x), so the copy costs little
            pooled = pooled.contiguous(memory_format=torch.channels_last)
        y = self.conv(pooled)                              # (B, 1, H, W)
        if self.bn is not None:
            y = self.bn(y)
        m_s = torch.sigmoid(y)                             # (B, 1, H, W)
        if self.store_maps:
            self.maps = {"M_s": m_s.detach()}
        return m_s

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, order={self.order!r}"


class CBAM(nn.Module):
    """The CBAM block: channel map first, then spatial map, eqs. (1)-(4).

    Args:
        channels: C.
        reduction: r of the channel MLP.
        spatial_kernel: side of the spatial convolution (7 in the paper and the official code).
        order, batchnorm: see :class:`SpatialAttention` (defaults follow the official code).
        store_maps: keep ``self.maps = {"M_c": (B, C, 1, 1), "M_s": (B, 1, H, W)}`` (detached).

    Sub-modules: ``channel`` (:class:`ChannelAttention`) and ``spatial``
    (:class:`SpatialAttention`).

    Cost: besides the small pooled tensors, one full-size intermediate F' is allocated; without
    autograd (``torch.no_grad``/``inference_mode`` or nothing requiring grad) the spatial map is
    applied to F' in place, so F' is also the output. With autograd, F' is kept for the backward
    pass and the output is a second tensor. Never is M_c (x) M_s formed at full size. The max
    poolings and the layout of the small pooled maps are chosen per path (see :func:`_max_hw` and
    :meth:`SpatialAttention.forward`).
    """

    def __init__(self, channels: int, reduction: int = 16, spatial_kernel: int = 7,
                 order: str = "official", batchnorm: bool = True, store_maps: bool = True):
        super().__init__()
        self.channel = ChannelAttention(channels, reduction, store_maps=False)
        self.spatial = SpatialAttention(spatial_kernel, order, batchnorm, store_maps=False)
        self.store_maps = store_maps
        self.maps: dict[str, torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m_c = self.channel(x)                              # (B, C, 1, 1), eq. (1)
        f = x * m_c                                        # (B, C, H, W), eq. (2); keeps x's format
        m_s = self.spatial(f)                              # (B, 1, H, W), eq. (3)
        if self.store_maps:
            self.maps = {"M_c": m_c.detach(), "M_s": m_s.detach()}
        if _tracks_grad(f):
            return f * m_s                                 # eq. (4); autograd still needs f
        return f.mul_(m_s)                                 # eq. (4), in place: f is ours alone


def _load_official(module: CBAM, state_dict: dict, strict: bool = True) -> None:
    """attention-module ``MODELS/cbam.py`` ``CBAM``:

    * ``ChannelGate.mlp = Sequential(Flatten, Linear(C, C//r), ReLU, Linear(C//r, C))``:
      keys ``ChannelGate.mlp.1.{weight,bias}`` -> ``channel.fc1.*`` and
      ``ChannelGate.mlp.3.{weight,bias}`` -> ``channel.fc2.*``;
    * ``SpatialGate.spatial`` = conv block: ``conv.weight`` (1, 2, 7, 7), input maps ordered
      (max, mean), -> ``spatial.conv.weight`` (its two input channels swapped when our module uses
      ``order="paper"``), and ``bn.{weight,bias,running_mean,running_var,num_batches_tracked}``
      -> ``spatial.bn.*`` (only when our module has ``batchnorm=True``; otherwise a strict load
      reports them as unexpected).
    """
    from .official import copy_mapped

    mapping = {}
    for i, ours in ((1, "fc1"), (3, "fc2")):
        for p in ("weight", "bias"):
            mapping[f"ChannelGate.mlp.{i}.{p}"] = f"channel.{ours}.{p}"
    mapping["SpatialGate.spatial.conv.weight"] = "spatial.conv.weight"
    if module.spatial.bn is not None:
        for p in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
            mapping[f"SpatialGate.spatial.bn.{p}"] = f"spatial.bn.{p}"
    transforms = {}
    if module.spatial.order == "paper":
        # published input channels are (max, mean); ours are (mean, max)
        transforms["SpatialGate.spatial.conv.weight"] = lambda w: w.flip(1)
    copy_mapped(module, state_dict, mapping, strict, transforms)
