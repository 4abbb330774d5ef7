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
* Max pooling. The code uses max_pool2d and torch.max, which also record where each maximum is,
  so at exact ties the first maximum gets the whole gradient. We compute the maxima with amax
  (several times faster on CPU) except the channel max under autograd, and our backward passes
  (:mod:`attn_ref.cbam_fast`) send the gradient to the same element as the official code.
  Outputs and gradients are the same either way.

The code. :meth:`CBAM.forward_reference` (with :meth:`ChannelAttention.forward_reference` and
:meth:`SpatialAttention.forward_reference`) is eqs. (1)-(4) in order, plain eager PyTorch: the
specification, used by grading and :func:`attn_ref.complexity.count_macs`. ``forward`` takes
the fast paths of :mod:`attn_ref.cbam_fast` (or, with ``fused=``, the compiled ones) only where
:func:`attn_ref.reference.fast_path_ok` finds them exactly equivalent, the reference elsewhere.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from . import cbam_fast, fused_cpu
from .baselines import CBAMBaseline
from .complexity import cbam_macs, cbam_params
from .kinds import ModuleKind, Traffic, alias
from .reference import fast_path_ok, reference_requested
from .se import se_bottleneck

_ORDERS = ("official", "paper")
_FUSED = (None, "compile", "cpp")


def _check_4d(x: torch.Tensor) -> None:
    if x.dim() != 4:
        raise ValueError(f"expected a (B, C, H, W) tensor, got shape {tuple(x.shape)}")


def _kept(module: nn.Module, name: str, m: torch.Tensor) -> torch.Tensor:
    """``m``, after keeping it detached as ``module.maps[name]`` when the module stores maps."""
    if module.store_maps:
        module.maps = {name: m.detach()}
    return m


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

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        """Eq. (1) as written, in plain eager PyTorch (the specification): the MLP applied to
        AvgPool(x) and to MaxPool(x) (the official ``max_pool2d``), summed, sigmoid."""
        _check_4d(x)
        avg = F.adaptive_avg_pool2d(x, 1).flatten(1)                  # (B, C)
        mx = F.adaptive_max_pool2d(x, 1).flatten(1)                   # (B, C)
        mlp = lambda z: self.fc2(F.relu(self.fc1(z)))                  # noqa: E731
        return torch.sigmoid(mlp(avg) + mlp(mx))[:, :, None, None]    # (B, C, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not fast_path_ok(self, x):
            return _kept(self, "M_c", self.forward_reference(x))
        return self.forward_fast(x)

    def forward_fast(self, x: torch.Tensor) -> torch.Tensor:
        """Eq. (1) by the fast path (for callers that checked
        :func:`~attn_ref.reference.fast_path_ok` already)."""
        _check_4d(x)
        # both descriptors in one (2, B, C) batch, so the shared MLP runs once. The average is a
        # sum divided afterwards (see ECA.gate: mean's backward would write a full-size tensor).
        return self.from_descriptors(*cbam_fast.avg_max_hw(x))                  # (B, C) each

    def from_descriptors(self, avg: torch.Tensor, mx: torch.Tensor) -> torch.Tensor:
        """Eq. (1) from the two pooled descriptors AvgPool(x), MaxPool(x), (B, C) each."""
        z = torch.stack((avg, mx))                                     # (2, B, C)
        y = self.fc2(F.relu(self.fc1(z))).sum(dim=0)                   # (B, C): MLP(avg) + MLP(max)
        return _kept(self, "M_c", torch.sigmoid(y)[:, :, None, None])  # (B, C, 1, 1)

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

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        """Eq. (3) as written, in plain eager PyTorch (the specification): the channel maximum
        (``torch.max``, as the official code) and mean, stacked in ``order``, convolution,
        BatchNorm when present, sigmoid."""
        _check_4d(x)
        mx, avg = x.max(dim=1, keepdim=True).values, x.mean(dim=1, keepdim=True)
        pooled = torch.cat((mx, avg) if self.order == "official" else (avg, mx), dim=1)
        y = self.conv(pooled)                              # (B, 1, H, W)
        if self.bn is not None:
            y = self.bn(y)
        return torch.sigmoid(y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not fast_path_ok(self, x):
            return _kept(self, "M_s", self.forward_reference(x))
        return self.forward_fast(x)

    def forward_fast(self, x: torch.Tensor) -> torch.Tensor:
        """Eq. (3) by the fast path (for callers that checked
        :func:`~attn_ref.reference.fast_path_ok` already)."""
        _check_4d(x)
        return self.from_pooled(*cbam_fast.max_mean_c(x))  # MaxPool_c, AvgPool_c: (B, 1, H, W)

    def from_pooled(self, mx: torch.Tensor, avg: torch.Tensor, conv=None) -> torch.Tensor:
        """Eq. (3) from the two pooled maps MaxPool_c(x), AvgPool_c(x), (B, 1, H, W) each.
        ``conv(pooled, weight)``, if given, computes the convolution in place of ``self.conv``
        (with its weight; the fused CPU path passes :func:`attn_ref.fused_cpu.spatial_conv`)."""
        # official code: (max, mean); paper: [avg; max]. Only the weight's channel order differs.
        maps = (mx, avg) if self.order == "official" else (avg, mx)
        pooled = torch.cat(maps, dim=1)                    # (B, 2, H, W)
        if cbam_fast.tracks_grad(pooled):
            # on CPU (oneDNN) this 2 -> 1 convolution's backward runs several times faster on
            # channels-last input; pooled is small (2/C of x), so the copy costs little
            pooled = pooled.contiguous(memory_format=torch.channels_last)
        y = self.conv(pooled) if conv is None else conv(pooled, self.conv.weight)  # (B, 1, H, W)
        if self.bn is not None:
            y = self.bn(y)
        return _kept(self, "M_s", torch.sigmoid(y))        # (B, 1, H, W)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, order={self.order!r}"


class CBAM(nn.Module):
    """The CBAM block: channel map first, then spatial map, eqs. (1)-(4).

    Args:
        channels: C.
        reduction: r of the channel MLP.
        kernel_size: side of the spatial convolution (7, the default, in the paper and the
            official code). ``spatial_kernel`` is an alias (the chapter's name).
        order, batchnorm: see :class:`SpatialAttention` (defaults follow the official code).
        store_maps: keep ``self.maps = {"M_c": (B, C, 1, 1), "M_s": (B, 1, H, W)}`` (detached).
        fused: ``None`` (default): the fast eager code of this file where
            :func:`attn_ref.reference.fast_path_ok` allows it (float32/float64, no autocast, not
            traced), :meth:`forward_reference` otherwise. ``"compile"``:
            :meth:`forward_reference` through ``torch.compile`` (inductor; on CPU it needs a C++
            compiler), which fuses the element-wise products into the reductions that follow
            them; compiled at the first call and again for every new input shape. ``"cpp"``:
            for inference on the CPU, the kernels of :mod:`attn_ref.fused_cpu` (the descriptors
            of eq. (1) from one read of x, the maps of eq. (3) from one more without forming
            F', and eqs. (2) and (4) together in one read and one write; compiled once at first
            use), used when autograd is not recording and x is a contiguous float32/float64 CPU
            tensor, the eager code otherwise. Nothing is compiled unless asked for.

    Input ``x`` (B, C, H, W), either memory format; the output has its shape and memory
    format, and the dtype eager PyTorch gives :meth:`forward_reference` (x's when x and the
    parameters agree; float32 for a float32 x under CPU bfloat16 autocast). ``ValueError`` for
    an input that is not 4-d or an even kernel size; ``TypeError`` when ``kernel_size`` and
    ``spatial_kernel`` are both given and differ.

    Sub-modules: ``channel`` (:class:`ChannelAttention`) and ``spatial``
    (:class:`SpatialAttention`).

    Cost: besides the small pooled tensors, one full-size intermediate F' is allocated; without
    autograd (``torch.no_grad``/``inference_mode`` or nothing requiring grad) the spatial map is
    applied to F' in place, so F' is also the output. With autograd, F' is kept for the backward
    pass and the output is a second tensor. Never is M_c (x) M_s formed at full size. The max
    poolings and the layout of the small pooled maps are chosen per path (see
    :mod:`attn_ref.cbam_fast` and :meth:`SpatialAttention.from_pooled`).
    """

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int | None = None,
                 order: str = "official", batchnorm: bool = True, store_maps: bool = True,
                 fused: str | None = None, *, spatial_kernel: int | None = None):
        super().__init__()
        if fused not in _FUSED:
            raise ValueError(f"fused must be one of {_FUSED}, got {fused!r}")
        kernel_size = alias(kernel_size, spatial_kernel, "kernel_size", "spatial_kernel", 7)
        self.channels, self.reduction, self.kernel_size = channels, reduction, kernel_size
        self.channel = ChannelAttention(channels, reduction, store_maps=False)
        self.spatial = SpatialAttention(kernel_size, order, batchnorm, store_maps=False)
        self.store_maps = store_maps
        self.maps: dict[str, torch.Tensor] = {}
        self.fused = fused
        self._compiled = None               # the torch.compile'd forward, built at first use

    def forward_reference(self, x: torch.Tensor):
        """Eqs. (1)-(4) in order, plain eager PyTorch (the specification). ``x`` (B, C, H, W);
        returns ``(F'', M_c, M_s)``: (B, C, H, W), (B, C, 1, 1), (B, 1, H, W)."""
        m_c = self.channel.forward_reference(x)            # (1)
        f = x * m_c                                        # (2)
        m_s = self.spatial.forward_reference(f)            # (3)
        return f * m_s, m_c, m_s                           # (4)

    def _forward_fast(self, x: torch.Tensor):
        """Eqs. (1)-(4) with the fast descriptors and maps of the sub-modules, and eq. (4) in
        place when autograd does not need F'; returns (F'', M_c, M_s). For callers that checked
        :func:`~attn_ref.reference.fast_path_ok` on the whole block (it covers the sub-modules)."""
        m_c = self.channel.forward_fast(x)                 # (B, C, 1, 1), eq. (1)
        f = x * m_c                                        # (B, C, H, W), eq. (2); keeps x's format
        m_s = self.spatial.forward_fast(f)                 # (B, 1, H, W), eq. (3)
        if cbam_fast.tracks_grad(f):
            return f * m_s, m_c, m_s                       # eq. (4); autograd still needs f
        return f.mul_(m_s), m_c, m_s                       # eq. (4), in place: f is ours alone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if reference_requested():          # reference_mode, or a tracer (compile, export)
            out, m_c, m_s = self.forward_reference(x)
        elif self.fused == "compile":
            if self._compiled is None:
                # one static graph per input shape (see CoordinateAttention._forward)
                self._compiled = torch.compile(self.forward_reference, dynamic=False)
            out, m_c, m_s = self._compiled(x)
        elif not fast_path_ok(self, x):
            out, m_c, m_s = self.forward_reference(x)
        elif self.fused == "cpp" and fused_cpu.usable(self, x):
            m_c = self.channel.from_descriptors(*fused_cpu.avg_max_hw(x))     # eq. (1)
            m_s = self.spatial.from_pooled(*fused_cpu.scaled_max_mean_c(x, m_c),  # eq. (3)
                                           conv=fused_cpu.spatial_conv)
            out = fused_cpu.scale_channel_spatial(x, m_c, m_s)  # eqs. (2) and (4), one pass
        else:
            out, m_c, m_s = self._forward_fast(x)
        if self.store_maps:
            self.maps = {"M_c": m_c.detach(), "M_s": m_s.detach()}
        return out


def _load_official(module: CBAM, state_dict: dict, strict: bool = True) -> None:
    """attention-module ``MODELS/cbam.py`` ``CBAM``:

    * ``ChannelGate.mlp = Sequential(Flatten, Linear(C, C//r), ReLU, Linear(C//r, C))``:
      keys ``ChannelGate.mlp.1.{weight,bias}`` -> ``channel.fc1.*`` and
      ``ChannelGate.mlp.3.{weight,bias}`` -> ``channel.fc2.*``;
    * ``SpatialGate.spatial`` = conv block: ``conv.weight`` (1, 2, 7, 7), input maps ordered
      (max, mean), -> ``spatial.conv.weight`` (its two input channels swapped when our module uses
      ``order="paper"``), and ``bn.{weight,bias,running_mean,running_var,num_batches_tracked}``
      (the last optional: checkpoints saved before PyTorch 0.4.1, as the released ones, lack
      it) -> ``spatial.bn.*`` (only when our module has ``batchnorm=True``; otherwise a strict load
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


KIND = ModuleKind(
    name="cbam", title="CBAM", cls=CBAM,
    params=cbam_params, macs=cbam_macs, loader=_load_official,
    baseline=lambda m: CBAMBaseline(m.channels, m.reduction, m.kernel_size),
    # M_s pools F' = M_c * x, and M_c needs the whole of x first: two pooling passes
    traffic=Traffic(pooling_passes=2, gates=lambda B, C, H, W: (B * C, B * H * W),
                    speed_goal=4.0))
