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

Speed. The gates are tiny (C x H and C x W values per example); only the pooling (1)-(2), the
product (6) and their gradients touch full-size tensors, so those decide the cost. Compared with a
straightforward transcription, this file
* pools a channels-last x on its (B, H, W, C) view: ``x.mean(3)`` on a channels-last tensor took
  about 6 times longer than the same mean of the permuted view in our CPU measurements
  (PyTorch 2.13);
* stores a^h and a^w in x's memory format (channel axis innermost for a channels-last x), so the
  broadcasts in (6) read the gates in step with x instead of with a stride along x's innermost
  axis;
* writes (6) as one full-size allocation scaled in place (:func:`scale_hw`) instead of
  ``x * a_w * a_h``, which allocates and fills a second full-size temporary;
* gives (1)-(2) and (6) hand-written backward passes (:class:`_DirectionalMeans`,
  :class:`_ScaleHW`): autograd's generic ones write a full-size gradient per mean and per factor
  and then add them up; these write each full-size gradient once and save nothing full-size
  beyond x itself.
Eager PyTorch has no single operation for a product of three broadcast factors, so (6) still
takes two passes over the output; a compiled (fused) kernel can do it in one.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


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


# ----------------------------------------------------------------------------------------------
# Layout helpers: x is (B, C, H, W) in either memory format.

def _is_channels_last(x: torch.Tensor) -> bool:
    """True when x is stored with the channel axis innermost (and is not also plain contiguous,
    as happens when C == 1 or H == W == 1, where both layouts coincide)."""
    return (x.dim() == 4 and not x.is_contiguous()
            and x.is_contiguous(memory_format=torch.channels_last))


def _mean_over_w(x: torch.Tensor) -> torch.Tensor:
    """Eq. (1): z^h, shape (B, C, H, 1)."""
    if _is_channels_last(x):
        # (B, H, W, C) view is contiguous: reduce its W axis, then view back as (B, C, H, 1)
        return x.permute(0, 2, 3, 1).mean(dim=2).permute(0, 2, 1).unsqueeze(3)
    return x.mean(dim=3, keepdim=True)


def _mean_over_h(x: torch.Tensor) -> torch.Tensor:
    """Eq. (2): z^w, shape (B, C, 1, W)."""
    if _is_channels_last(x):
        return x.permute(0, 2, 3, 1).mean(dim=1).permute(0, 2, 1).unsqueeze(2)
    return x.mean(dim=2, keepdim=True)


def _sum_over_w(t: torch.Tensor) -> torch.Tensor:
    if _is_channels_last(t):
        return t.permute(0, 2, 3, 1).sum(dim=2).permute(0, 2, 1).unsqueeze(3)
    return t.sum(dim=3, keepdim=True)


def _sum_over_h(t: torch.Tensor) -> torch.Tensor:
    if _is_channels_last(t):
        return t.permute(0, 2, 3, 1).sum(dim=1).permute(0, 2, 1).unsqueeze(2)
    return t.sum(dim=2, keepdim=True)


def _layout_like(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A small gate ``a`` in x's memory format, so broadcasting it over x reads it in step."""
    if _is_channels_last(x):
        return a.contiguous(memory_format=torch.channels_last)
    return a.contiguous()


class _DirectionalMeans(torch.autograd.Function):
    """Eqs. (1)-(2) together: x (B, C, H, W) -> z^h (B, C, H, 1), z^w (B, C, 1, W).

    Autograd's own backward of two means writes two full-size gradients (each a broadcast
    divided by W or H) and then adds them. Here the gradient is one broadcast sum, written once:
        dL/dx_c(h, w) = dL/dz^h_c(h) / W + dL/dz^w_c(w) / H
    """

    generate_vmap_rule = True       # usable under torch.func transforms (vmap, grad, jacrev)

    @staticmethod
    def forward(x):
        return _mean_over_w(x), _mean_over_h(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x,) = inputs
        ctx.shape = x.shape
        ctx.memory_format = (torch.channels_last if _is_channels_last(x)
                             else torch.contiguous_format)

    @staticmethod
    def backward(ctx, g_h, g_w):
        B, C, H, W = ctx.shape
        fmt = ctx.memory_format
        like = g_h if g_h is not None else g_w
        zero = torch.zeros((1, 1, 1, 1), dtype=like.dtype, device=like.device)
        g_h = zero if g_h is None else g_h / W                 # (B, C, H, 1)
        g_w = zero if g_w is None else g_w / H                 # (B, C, 1, W)
        if torch.is_grad_enabled():                            # double backward: out of place
            return (g_h + g_w).expand(B, C, H, W).contiguous(memory_format=fmt)
        out = torch.empty((B, C, H, W), dtype=like.dtype, device=like.device, memory_format=fmt)
        return torch.add(_layout_like(g_h, out), _layout_like(g_w, out), out=out)


def directional_means(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eqs. (1)-(2): ``(z^h, z^w)`` with shapes (B, C, H, 1) and (B, C, 1, W)."""
    if torch.is_grad_enabled() and x.requires_grad:
        return _DirectionalMeans.apply(x)
    return _mean_over_w(x), _mean_over_h(x)


class _ScaleHW(torch.autograd.Function):
    """y = x * a_h * a_w with x (B, C, H, W), a_h (B, C, H, 1), a_w (B, C, 1, W).

    Forward: one full-size allocation, two passes (``x * a_w``, then ``*= a_h`` in place).
    Backward, from g = dL/dy:
        dL/dx   = g * a_h * a_w
        dL/da_h = sum_w g * x * a_w           dL/da_w = sum_h g * x * a_h
    Only x and the two small gates are saved. The backward is written with differentiable
    operations, so double backward works too.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x, a_h, a_w):
        return (x * a_w).mul_(a_h)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, g):
        x, a_h, a_w = ctx.saved_tensors
        # in-place updates save a full-size allocation each, but are not allowed when this
        # backward is itself being differentiated (create_graph=True turns grad mode on)
        inplace = not torch.is_grad_enabled()
        grad_x = grad_h = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = (g * a_w).mul_(a_h) if inplace else g * a_w * a_h
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            gx = g * x                                    # (B, C, H, W), the one temporary
            if ctx.needs_input_grad[2]:
                grad_w = _sum_over_h(gx * a_h)            # (B, C, 1, W)
            if ctx.needs_input_grad[1]:
                grad_h = _sum_over_w(gx.mul_(a_w) if inplace else gx * a_w)   # (B, C, H, 1)
        return grad_x, grad_h, grad_w


def scale_hw(x: torch.Tensor, a_h: torch.Tensor, a_w: torch.Tensor) -> torch.Tensor:
    """Eq. (6): ``x * a_h * a_w`` (broadcast), with as few full-size passes as eager allows.

    ``x`` (B, C, H, W) in either memory format; ``a_h`` (B, C, H, 1); ``a_w`` (B, C, 1, W).
    The result has x's memory format.
    """
    a_h, a_w = _layout_like(a_h, x), _layout_like(a_w, x)
    if torch.is_grad_enabled() and (x.requires_grad or a_h.requires_grad or a_w.requires_grad):
        return _ScaleHW.apply(x, a_h, a_w)
    return (x * a_w).mul_(a_h)


class CoordinateAttention(nn.Module):
    """The CA block: ``forward(x) = x * a_h * a_w`` with the gates of eqs. (1)-(5).

    Args:
        in_channels: C.
        out_channels: channels of the two gates; defaults to C. The gates multiply x, so any other
            value raises a ``ValueError`` at forward (the argument exists because the official
            ``CoordAtt(inp, oup)`` has it).
        reduction: r; the shared 1x1 convolution has ``max(8, C // r)`` output channels.
        activation: the non-linearity of eq. (3): ``"hswish"`` (the official code, default) or
            ``"relu"`` (the paper's generic delta read as ReLU).
        store_maps: keep the last gates in ``self.maps["a_h"]`` (B, C, H, 1) and
            ``self.maps["a_w"]`` (B, C, 1, W), detached.

    Sub-modules carry the official names, so a ``CoordAtt`` state dict loads by name:
    ``conv1`` (C -> C', 1x1, bias), ``bn1`` (BatchNorm2d(C')), ``act`` (:class:`HSwish` or ReLU,
    no parameters), ``conv_h`` and ``conv_w`` (C' -> C, 1x1, bias).
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, reduction: int = 32,
                 store_maps: bool = True, activation: str = "hswish"):
        super().__init__()
        if activation not in ("hswish", "relu"):
            raise ValueError(f"activation must be 'hswish' or 'relu', got {activation!r}")
        out_channels = in_channels if out_channels is None else out_channels
        mip = ca_bottleneck(in_channels, reduction)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.reduction, self.mip, self.activation = reduction, mip, activation
        self.conv1 = nn.Conv2d(in_channels, mip, kernel_size=1, bias=True)
        self.bn1 = nn.BatchNorm2d(mip)
        self.act = HSwish() if activation == "hswish" else nn.ReLU()
        self.conv_h = nn.Conv2d(mip, out_channels, kernel_size=1, bias=True)
        self.conv_w = nn.Conv2d(mip, out_channels, kernel_size=1, bias=True)
        self.store_maps = store_maps
        self.maps: dict[str, torch.Tensor] = {}

    def gates(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eqs. (1)-(5) for ``x`` (B, C, H, W): ``a_h`` (B, C, H, 1) and ``a_w`` (B, C, 1, W)."""
        if x.dim() != 4:
            raise ValueError(f"expected a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
        if x.shape[1] != self.in_channels or self.out_channels != self.in_channels:
            raise ValueError(
                f"CoordinateAttention multiplies its input by gates of {self.out_channels} "
                f"channels, so in_channels, out_channels and the input's channels must agree; "
                f"got in_channels={self.in_channels}, out_channels={self.out_channels}, "
                f"input shape {tuple(x.shape)}")
        H, W = x.shape[2], x.shape[3]
        z_h, z_w = directional_means(x)       # eqs. (1)-(2): (B, C, H, 1) and (B, C, 1, W)
        z = torch.cat([z_h, z_w.transpose(2, 3)], dim=2)    # (B, C, H + W, 1)
        f = self.act(self.bn1(self.conv1(z)))               # (B, C', H + W, 1)  eq. (3)
        f_h, f_w = torch.split(f, [H, W], dim=2)            # eq. (4)
        a_h = torch.sigmoid(self.conv_h(f_h))               # (B, C, H, 1)  eq. (5)
        a_w = torch.sigmoid(self.conv_w(f_w.transpose(2, 3)))   # (B, C, 1, W)
        return a_h, a_w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a_h, a_w = self.gates(x)
        a_h, a_w = _layout_like(a_h, x), _layout_like(a_w, x)
        if self.store_maps:
            self.maps = {"a_h": a_h.detach(), "a_w": a_w.detach()}
        return scale_hw(x, a_h, a_w)                        # (B, C, H, W)  eq. (6)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
                f"reduction={self.reduction}, mip={self.mip}, activation={self.activation!r}")


def _load_official(module: CoordinateAttention, state_dict: dict, strict: bool = True) -> None:
    """Official ``CoordAtt`` (coordatt.py): ``conv1`` (1x1, bias), ``bn1``, ``act`` (h-swish, no
    parameters), ``conv_h`` and ``conv_w`` (1x1, bias). Our sub-modules carry the same names, so
    the mapping is the identity. ``bn1.num_batches_tracked`` is copied when present (checkpoints
    saved before PyTorch 0.4.1 do not have it)."""
    from .official import copy_mapped

    keys = [f"{layer}.{p}" for layer in ("conv1", "conv_h", "conv_w") for p in ("weight", "bias")]
    keys += [f"bn1.{p}" for p in ("weight", "bias", "running_mean", "running_var")]
    if "bn1.num_batches_tracked" in state_dict:
        keys.append("bn1.num_batches_tracked")
    copy_mapped(module, state_dict, {k: k for k in keys}, strict)
