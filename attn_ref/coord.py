"""Coordinate Attention (Hou, Zhou, Feng: "Coordinate Attention for Efficient Mobile Network
Design", CVPR 2021).

Equations, in the course notation (X in R^{C x H x W}, one example; 0 <= h < H, 0 <= w < W):

    (1) pool along W   z^h_c(h) = 1/W sum_i x_c(h, i)                      z^h in R^{C x H}
    (2) pool along H   z^w_c(w) = 1/H sum_j x_c(j, w)                      z^w in R^{C x W}
    (3) shared 1x1     f = h-swish(BN(F1([z^h ; z^w])))                    f in R^{C' x (H + W)}
                       with C' = max(8, C // r) ("mip" in the official code)
    (4) split          f = [f^h ; f^w],  f^h in R^{C' x H},  f^w in R^{C' x W}
    (5) two gates      a^h = sigma(F_h(f^h)),  a^w = sigma(F_w(f^w))
                                                          a^h in R^{C x H},  a^w in R^{C x W}
    (6) scale          y_c(h, w) = x_c(h, w) * a^h_c(h) * a^w_c(w)

F1, F_h and F_w are 1x1 convolutions with biases; ``[ ; ]`` concatenates along the spatial axis
(the official code turns z^w into a column, so the shared input is a (C, H + W, 1) image and one
BatchNorm normalises the H and the W descriptors together).

What the paper leaves implicit and the official code (``coordatt.py``, ``CoordAtt``) fixes:

* the non-linearity in (3) is **h-swish**, ``h-swish(t) = t * ReLU6(t + 3) / 6``
  (:class:`HSwish` below). The paper writes a generic non-linear activation delta there, which in
  the course notation reads as ReLU; ``activation="relu"`` selects that reading;
* the bottleneck width is ``max(8, C // r)`` (never below 8), with r = 32 by default;
* F_h and F_w map C' back to ``out_channels``; since (6) multiplies x, that has to equal C.

The code. :meth:`CoordinateAttention.forward_reference` is eqs. (1)-(6) in order, in plain eager
PyTorch: the specification, which grading's expected values and
:func:`attn_ref.complexity.count_macs` use. ``forward`` runs the same function faster where
that is exactly equivalent (:func:`attn_ref.reference.fast_path_ok`: float32/float64 module
and input, no autocast, not traced): the kernels of :mod:`attn_ref.coord_fast` (hand-written
backward passes, matrix-product poolings; why they are faster is explained there), or with
``fused=`` the compiled paths. Everywhere else (float16, bfloat16, ``torch.autocast``,
``torch.export``) it runs the reference, so the output dtype is the one eager PyTorch's rules
give.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from . import coord_fast, fused_cpu
from .baselines import CABaseline
from .complexity import ca_macs, ca_params
from .coord_fast import directional_means, scale_hw  # noqa: F401  (public fast kernels)
from .kinds import ModuleKind, Traffic, alias
from .reference import fast_path_ok, reference_mode, reference_requested

_FUSED = (None, "compile", "cpp")

# the earlier names of reference_mode / reference_requested (chapter 04 uses plain_kernels)
plain_kernels = reference_mode
plain_requested = reference_requested


def ca_bottleneck(channels: int, reduction: int, min_width: int = 8) -> int:
    """Width C' of CA's shared 1x1 convolution: ``max(min_width, channels // reduction)``."""
    if channels < 1 or reduction < 1:
        raise ValueError(f"channels and reduction must be positive, got {channels} and {reduction}")
    return max(min_width, channels // reduction)


class HSwish(nn.Module):
    """h-swish (Howard et al., MobileNetV3): ``h-swish(t) = t * ReLU6(t + 3) / 6``.

    A piecewise version of swish: 0 for t <= -3, t for t >= 3, ``t (t + 3) / 6`` in between.
    Computed with :func:`torch.nn.functional.hardswish`, which is the same function in one kernel.
    """

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return F.hardswish(t)



class CoordinateAttention(nn.Module):
    """The CA block: ``forward(x) = x * a_h * a_w`` with the gates of eqs. (1)-(5).

    Input ``x`` (B, C, H, W), either memory format; output the same shape and memory format.
    The output dtype is the one eager PyTorch gives for :meth:`forward_reference`: the dtype of
    x and of the parameters when they agree; under ``torch.autocast`` the type promotion of
    x with the autocast-dtype gates (float32 for a float32 x under CPU bfloat16 autocast, as the
    published ``CoordAtt``). A parameter dtype other than x's raises as ``nn.Conv2d`` does.

    Args:
        channels: C (``in_channels``, the published ``CoordAtt``'s name, is an alias, and
            ``self.in_channels`` holds it too).
        out_channels: channels of the two gates; defaults to C. The gates multiply x, so any other
            value raises a ``ValueError`` at forward (the argument exists because the official
            ``CoordAtt(inp, oup)`` has it).
        reduction: r; the shared 1x1 convolution has ``max(8, C // r)`` output channels.
        activation: the non-linearity of eq. (3): ``"hswish"`` (the official code, default) or
            ``"relu"`` (the paper's generic delta read as ReLU).
        store_maps: keep the last gates in ``self.maps["a_h"]`` (B, C, H, 1) and
            ``self.maps["a_w"]`` (B, C, 1, W), detached.
        fused: ``None`` (default): eager code (:mod:`attn_ref.coord_fast` where
            :func:`~attn_ref.reference.fast_path_ok`, else :meth:`forward_reference`).
            ``"compile"``: :meth:`forward_reference` through ``torch.compile`` (inductor; on CPU
            it needs a C++ compiler), which fuses the product of eq. (6) into one pass over x;
            compiled at the first call and again for every new input shape. ``"cpp"``: for
            inference on the CPU, the kernels of :mod:`attn_ref.fused_cpu` (eqs. (1)-(2) from
            one read of x, eq. (6) in one read and one write; compiled once at first use), used
            when autograd is not recording and x is a contiguous float32/float64 CPU tensor, the
            eager code otherwise. Nothing is compiled (or imported from the compiler) unless
            asked for.

    Raises ``ValueError`` at forward for an input that is not 4-d or whose channels differ from
    ``in_channels`` (or when ``out_channels != in_channels``).

    Sub-modules carry the official names, so a ``CoordAtt`` state dict loads by name:
    ``conv1`` (C -> C', 1x1, bias), ``bn1`` (BatchNorm2d(C')), ``act`` (:class:`HSwish` or ReLU,
    no parameters), ``conv_h`` and ``conv_w`` (C' -> C, 1x1, bias).
    """

    def __init__(self, channels: int | None = None, out_channels: int | None = None,
                 reduction: int = 32, store_maps: bool = True, activation: str = "hswish",
                 fused: str | None = None, *, in_channels: int | None = None):
        super().__init__()
        in_channels = alias(channels, in_channels, "channels", "in_channels")
        if in_channels is None:
            raise TypeError("CoordinateAttention needs channels (or its alias in_channels)")
        if activation not in ("hswish", "relu"):
            raise ValueError(f"activation must be 'hswish' or 'relu', got {activation!r}")
        if fused not in _FUSED:
            raise ValueError(f"fused must be one of {_FUSED}, got {fused!r}")
        out_channels = in_channels if out_channels is None else out_channels
        mip = ca_bottleneck(in_channels, reduction)
        self.channels = self.in_channels = in_channels
        self.out_channels = out_channels
        self.reduction, self.mip, self.activation = reduction, mip, activation
        self.conv1 = nn.Conv2d(in_channels, mip, kernel_size=1, bias=True)
        self.bn1 = nn.BatchNorm2d(mip)
        self.act = HSwish() if activation == "hswish" else nn.ReLU()
        self.conv_h = nn.Conv2d(mip, out_channels, kernel_size=1, bias=True)
        self.conv_w = nn.Conv2d(mip, out_channels, kernel_size=1, bias=True)
        self.store_maps = store_maps
        self.maps: dict[str, torch.Tensor] = {}
        self.fused = fused
        self._compiled = None               # the torch.compile'd reference, built at first use

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4:
            raise ValueError(f"expected a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
        if x.shape[1] != self.in_channels or self.out_channels != self.in_channels:
            raise ValueError(
                f"CoordinateAttention multiplies its input by gates of {self.out_channels} "
                f"channels, so in_channels, out_channels and the input's channels must agree; "
                f"got in_channels={self.in_channels}, out_channels={self.out_channels}, "
                f"input shape {tuple(x.shape)}")

    def forward_reference(self, x: torch.Tensor):
        """Eqs. (1)-(6) in order, as plain eager operations on the module's layers (the
        specification). ``x`` (B, C, H, W); returns ``(y, a_h, a_w)``: y (B, C, H, W),
        a_h (B, C, H, 1), a_w (B, C, 1, W)."""
        self._check_input(x)
        H, W = x.shape[2], x.shape[3]
        z_h = x.mean(dim=3, keepdim=True)                               # (1) (B, C, H, 1)
        z_w = x.mean(dim=2, keepdim=True)                               # (2) (B, C, 1, W)
        z = torch.cat([z_h, z_w.transpose(2, 3)], dim=2)                # (B, C, H + W, 1)
        f = self.act(self.bn1(self.conv1(z)))                           # (3) (B, C', H + W, 1)
        f_h, f_w = torch.split(f, [H, W], dim=2)                        # (4)
        a_h = torch.sigmoid(self.conv_h(f_h))                           # (5) (B, C, H, 1)
        a_w = torch.sigmoid(self.conv_w(f_w.transpose(2, 3)))           #     (B, C, 1, W)
        return x * a_h * a_w, a_h, a_w                                  # (6)

    def _forward(self, x: torch.Tensor):
        """(y, a_h, a_w) by the path that applies (see ``fused`` and the module docstring)."""
        if reference_requested():          # reference_mode, or a tracer (compile, export)
            return self.forward_reference(x)
        if self.fused == "compile":
            self._check_input(x)
            if self._compiled is None:
                # one static graph per input shape: dynamic shapes gain nothing here, and
                # inductor (PyTorch 2.13) failed on CA's symbolic second-shape graph
                self._compiled = torch.compile(self.forward_reference, dynamic=False)
            return self._compiled(x)
        if not fast_path_ok(self, x):
            return self.forward_reference(x)
        self._check_input(x)
        if self.fused == "cpp" and fused_cpu.usable(self, x):
            a_h, a_w = coord_fast.gates_from_z(self, fused_cpu.directional_means(x), x.shape[2])
            return fused_cpu.scale_hw(x, a_h, a_w), a_h, a_w            # eq. (6), one pass
        return coord_fast.forward(self, x)

    def gates(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eqs. (1)-(5) for ``x`` (B, C, H, W): ``a_h`` (B, C, H, 1) and ``a_w`` (B, C, 1, W),
        by the path ``forward`` takes (which computes eq. (6) as well; the maps are not kept)."""
        return self._forward(x)[1:]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, a_h, a_w = self._forward(x)
        if self.store_maps:
            self.maps = {"a_h": a_h.detach(), "a_w": a_w.detach()}
        return y

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
                f"reduction={self.reduction}, mip={self.mip}, activation={self.activation!r}")


def _load_official(module: CoordinateAttention, state_dict: dict, strict: bool = True) -> None:
    """Official ``CoordAtt`` (coordatt.py): ``conv1`` (1x1, bias), ``bn1``, ``act`` (h-swish, no
    parameters), ``conv_h`` and ``conv_w`` (1x1, bias). Our sub-modules carry the same names, so
    the mapping is the identity (``bn1.num_batches_tracked`` is optional, see
    :func:`attn_ref.official.copy_mapped`)."""
    from .official import copy_mapped

    keys = [f"{layer}.{p}" for layer in ("conv1", "conv_h", "conv_w") for p in ("weight", "bias")]
    keys += [f"bn1.{p}" for p in ("weight", "bias", "running_mean", "running_var",
                                  "num_batches_tracked")]
    copy_mapped(module, state_dict, {k: k for k in keys}, strict)


KIND = ModuleKind(
    name="ca", title="CA", cls=CoordinateAttention,
    aliases=("coord", "coordatt", "coordinate_attention"),
    params=ca_params, macs=ca_macs, loader=_load_official,
    baseline=lambda m: CABaseline(m.in_channels, m.out_channels, m.reduction),
    traffic=Traffic(pooling_passes=1, gates=lambda B, C, H, W: (B * C * H, B * C * W),
                    speed_goal=2.5))
