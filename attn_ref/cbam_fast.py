"""Fast paths of CBAM (:mod:`attn_ref.cbam`): the pooled descriptors of eqs. (1) and (3) with
cheaper forward and backward passes than the reference's ``adaptive_max_pool2d`` /
``torch.max`` and means, the same values and gradients.

* The maxima are plain ``amax`` reductions when no gradient is needed (a max that records indices
  took 3-5 times longer on CPU); under autograd, :class:`_AvgMaxHW` and :class:`_MaxMeanC` send
  the gradient of a maximum to the element the official code's ``max_pool2d`` / ``torch.max``
  sends it to (the first maximum at exact ties).
* Averages are sums divided afterwards, and each backward writes its full-size gradient once
  (autograd's own writes one per descriptor and adds them).

``CBAM`` and its sub-modules run these only where :func:`attn_ref.reference.fast_path_ok`
allows (float32/float64, no autocast, not traced, not in reference mode);
tests/test_reference_matrix.py checks them equal to the reference there.
"""
from __future__ import annotations

import torch


def tracks_grad(x: torch.Tensor) -> bool:
    """Whether autograd records operations on ``x`` (so a backward pass may follow)."""
    return torch.is_grad_enabled() and x.requires_grad


class _AvgMaxHW(torch.autograd.Function):
    """Eq. (1)'s two descriptors together: x (B, C, H, W) -> (AvgPool(x), MaxPool(x)), (B, C) each.

    Forward: a sum and an ``amax`` (plain reductions; a max that records indices, such as
    ``adaptive_max_pool2d``, took 3-5 times longer on CPU).
    Backward, written once into one full-size tensor:
        dL/dx_c(h, w) = dL/davg_c / (H W)  +  [ (h, w) is the first maximum of x_c ] dL/dmax_c
    The position of the maximum is found again from x (one comparison pass over x and an argmax
    over the (small, one byte per element) result), and "first in row-major order" is the
    element the official code's ``max_pool2d`` sends the gradient to at exact ties. Autograd's
    own version writes one full-size gradient per descriptor (zeros plus a scatter for the max)
    and adds them.
    """

    @staticmethod
    def forward(x):
        B, C, H, W = x.shape
        return x.sum(dim=(2, 3)) / (H * W), x.amax(dim=(2, 3))

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x,) = inputs
        ctx.save_for_backward(x, output[1])

    @staticmethod
    def backward(ctx, g_avg, g_max):
        x, mx = ctx.saved_tensors
        B, C, H, W = x.shape
        grad = _broadcast_grad(g_avg if g_avg is None else (g_avg / (H * W))[:, :, None, None],
                               g_max, x.shape, _is_cl(x))
        if g_max is not None:
            # index of the first maximum of each (b, c) slice, in row-major (h, w) order
            first = (x == mx[:, :, None, None]).flatten(2).to(torch.uint8).argmax(dim=2)  # (B, C)
            b = torch.arange(B, device=x.device)[:, None].expand(B, C)
            c = torch.arange(C, device=x.device)[None, :].expand(B, C)
            grad.index_put_((b, c, first // W, first % W), g_max, accumulate=True)
        return grad


class _MaxMeanC(torch.autograd.Function):
    """Eq. (3)'s two maps together: x (B, C, H, W) -> (MaxPool_c(x), AvgPool_c(x)), (B, 1, H, W).

    Forward: a max over channels with indices (the official code's ``torch.max``, which sends
    the gradient to the first maximum at exact ties) and a sum divided by C.
    Backward, written once into one full-size tensor: dL/dmean / C broadcast over the channels,
    then dL/dmax added at the recorded channel. Autograd's own version writes zeros, scatters the
    max gradient into them, and adds that to the mean's gradient.
    """

    @staticmethod
    def forward(x):
        mx, idx = x.max(dim=1, keepdim=True)
        return mx, x.sum(dim=1, keepdim=True) / x.shape[1], idx

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x,) = inputs
        ctx.mark_non_differentiable(output[2])
        ctx.save_for_backward(output[2])
        ctx.shape = x.shape
        ctx.channels_last = _is_cl(x)

    @staticmethod
    def backward(ctx, g_max, g_avg, _g_idx):
        (idx,) = ctx.saved_tensors
        grad = _broadcast_grad(g_avg if g_avg is None else g_avg / ctx.shape[1], g_max,
                               ctx.shape, ctx.channels_last)
        if g_max is not None:
            grad.scatter_add_(1, idx, g_max)
        return grad


def _broadcast_grad(g, other, shape, channels_last: bool) -> torch.Tensor:
    """A new full-size tensor of ``shape`` holding ``g`` broadcast (zeros when g is None; ``other``
    supplies dtype and device then), channels-last when asked. In-place updates of the result are
    safe: it is ours alone, and nothing saved for a backward pass refers to it."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if g is None:
        return torch.zeros(shape, dtype=other.dtype, device=other.device).contiguous(
            memory_format=fmt)
    return g.expand(shape).contiguous(memory_format=fmt)


def _is_cl(x: torch.Tensor) -> bool:
    """x stored channels-last (and not also plain contiguous)."""
    return not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def avg_max_hw(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(AvgPool(x), MaxPool(x)) over H and W, (B, C) each, through :class:`_AvgMaxHW` when
    autograd records (its backward is cheaper than autograd's own); values are the same."""
    if tracks_grad(x):
        return _AvgMaxHW.apply(x)
    return _AvgMaxHW.forward(x)


def max_mean_c(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(MaxPool_c(x), AvgPool_c(x)), (B, 1, H, W) each. Without autograd, ``amax`` (a plain
    reduction, 2-4 times faster on CPU than a max over channels that records indices); with
    autograd, :class:`_MaxMeanC`."""
    if tracks_grad(x):
        mx, avg, _ = _MaxMeanC.apply(x)
        return mx, avg
    return x.amax(dim=1, keepdim=True), x.sum(dim=1, keepdim=True) / x.shape[1]
