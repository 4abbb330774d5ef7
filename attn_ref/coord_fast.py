"""Fast paths of Coordinate Attention (:mod:`attn_ref.coord`): the same function as
``CoordinateAttention.forward_reference``, computed with fewer passes over memory.

Speed. The gates are tiny (C x H and C x W values per example); only the pooling (1)-(2), the
product (6) and their gradients touch full-size tensors, so those decide the cost. Compared with a
straightforward transcription, this file
* pools a channels-last x on its (B, H, W, C) view: ``x.mean(3)`` on a channels-last tensor took
  about 6 times longer than the same mean of the permuted view in our CPU measurements
  (PyTorch 2.13);
* stores a^h and a^w in x's memory format (channel axis innermost for a channels-last x), so the
  broadcasts in (6) read the gates in step with x instead of with a stride along x's innermost
  axis;
* for a contiguous (NCHW) x, computes (1)-(2) as matrix products on the (B*C, H, W) view and (6)
  as one batched rank-1 outer product a^h (a^w)^T written into the output, then multiplied in
  place by x: no broadcast along rows of only W elements, and one full-size allocation where
  ``x * a_w * a_h`` makes two (see the comment above :func:`_slices`);
* gives (1)-(2) and (6) hand-written backward passes (:class:`_DirectionalMeans`,
  :class:`_ScaleHW`): autograd's generic ones write a full-size gradient per mean and per factor
  and then add them up; these write each full-size gradient once and save nothing full-size
  beyond x itself;
* runs the 1x1 convolutions of (3)-(5) as batched matrix products (the gate's small operations
  took as long as a pass over x otherwise).
Eager PyTorch has no single operation for a product of three broadcast factors, so (6) still
takes two passes over the output; ``fused="compile"`` (torch.compile) and ``fused="cpp"`` (the
CPU kernels of :mod:`attn_ref.fused_cpu`, for inference) do it in one.

``CoordinateAttention`` runs :func:`forward` only where
:func:`attn_ref.reference.fast_path_ok` allows it (float32/float64, no autocast, not
traced by torch.compile/export, not in reference mode); tests/test_reference_matrix.py
checks it equal to the reference there.
"""
from __future__ import annotations

import torch

from .reference import reference_requested


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


# ----------------------------------------------------------------------------------------------
# Full-size kernels on the (B*C, H, W) view of a contiguous (NCHW) tensor.
#
# What costs time on CPU (bench/README.md has the measurements):
# * broadcasting a (B, C, H, 1) or (B, C, 1, W) factor over x: the element-wise loop restarts
#   every W (28 or 56) elements, so it runs below memory speed, and a product with two such
#   factors takes two of these passes;
# * the reductions x.mean(3) and x.mean(2) run along the same short rows;
# * every fresh full-size temporary: with two or more alive at once, glibc hands the memory back
#   to the kernel when they are freed (its trim threshold), and the next call page-faults the
#   whole tensor in again, one fault per 4 KiB page.
# So the means and the products are written as batched matrix products on the (B*C, H, W) view
# (a rank-1 outer product a_h a_w^T per (b, c) slice, then an element-wise product of two
# tensors of the same layout), and the backward never holds a full-size temporary.

def _slices(x: torch.Tensor) -> torch.Tensor:
    """The (B*C, H, W) view of a contiguous (B, C, H, W) tensor."""
    B, C, H, W = x.shape
    return x.view(B * C, H, W)


def _means_nchw(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eqs. (1)-(2) for a contiguous x, as two matrix products per (b, c) slice X (H x W):
    z^h = X 1/W and z^w = 1^T/H X. Returns (B, C, H, 1) and (B, C, 1, W)."""
    B, C, H, W = x.shape
    xs = _slices(x)
    z_h = torch.matmul(xs, x.new_full((W, 1), 1.0 / W))       # (B*C, H, W) @ (W, 1)
    z_w = torch.matmul(x.new_full((1, H), 1.0 / H), xs)       # (1, H) @ (B*C, H, W)
    return z_h.view(B, C, H, 1), z_w.view(B, C, 1, W)


def _outer_times(t: torch.Tensor, a_h: torch.Tensor, a_w: torch.Tensor) -> torch.Tensor:
    """``t * a_h * a_w`` for a contiguous t (B, C, H, W), a_h (B, C, H, 1), a_w (B, C, 1, W):
    per (b, c) slice the outer product a_h a_w^T, written by one batched matrix product into the
    output, which is then multiplied in place by t (two operands of the same layout, no
    broadcasting). One full-size allocation."""
    B, C, H, W = t.shape
    out = torch.bmm(a_h.reshape(B * C, H, 1), a_w.reshape(B * C, 1, W))   # (B*C, H, W)
    return out.mul_(_slices(t)).view(B, C, H, W)


_BLOCK_BYTES = 1 << 22      # rows of g * x formed at a time by _gate_grads


def _gate_grads(g: torch.Tensor, x: torch.Tensor, a_h: torch.Tensor, a_w: torch.Tensor,
                need_h: bool, need_w: bool):
    """Gradients of ``x * a_h * a_w`` w.r.t. the gates, for contiguous g and x:
    dL/da_h = (g x) a_w (sum over w), dL/da_w = a_h^T (g x) (sum over h), per (b, c) slice.
    g x is formed for a block of slices at a time in one reused buffer (a few MiB), so there is
    no full-size temporary to allocate (and page-fault in)."""
    B, C, H, W = x.shape
    gs, xs = _slices(g), _slices(x)
    ah, aw = a_h.reshape(B * C, H, 1), a_w.reshape(B * C, 1, W)
    grad_h = x.new_empty((B * C, H, 1)) if need_h else None
    grad_w = x.new_empty((B * C, 1, W)) if need_w else None
    step = max(1, _BLOCK_BYTES // (H * W * x.element_size()))
    buf = x.new_empty((min(step, B * C), H, W))
    for s in range(0, B * C, step):
        b = slice(s, min(s + step, B * C))
        gx = torch.mul(gs[b], xs[b], out=buf[: b.stop - b.start])
        if need_h:
            torch.bmm(gx, aw[b].transpose(1, 2), out=grad_h[b])        # (n, H, W) @ (n, W, 1)
        if need_w:
            torch.bmm(ah[b].transpose(1, 2), gx, out=grad_w[b])        # (n, 1, H) @ (n, H, W)
    return (grad_h.view(B, C, H, 1) if need_h else None,
            grad_w.view(B, C, 1, W) if need_w else None)


_wrapped = getattr(getattr(torch._C, "_functorch", None), "is_functorch_wrapped_tensor",
                   lambda t: False)


def _nchw(*ts: torch.Tensor) -> bool:
    """All tensors 4-d, plain contiguous (the layout the kernels above are written for) and not
    wrapped by a torch.func transform (vmap has no batching rule for the ``out=`` calls)."""
    return not reference_requested() and all(
        t is not None and t.dim() == 4 and t.is_contiguous() and not _wrapped(t) for t in ts)


def _means(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eqs. (1)-(2) without autograd, in whichever way suits x's layout."""
    if _nchw(x) and not _is_channels_last(x):
        return _means_nchw(x)
    return _mean_over_w(x), _mean_over_h(x)


class _DirectionalMeans(torch.autograd.Function):
    """Eqs. (1)-(2) together: x (B, C, H, W) -> z^h (B, C, H, 1), z^w (B, C, 1, W).

    Autograd's own backward of two means writes two full-size gradients (each a broadcast
    divided by W or H) and then adds them. Here the gradient is written once:
        dL/dx_c(h, w) = dL/dz^h_c(h) / W + dL/dz^w_c(w) / H
    for a contiguous x as one batched matrix product of rank 2 per (b, c) slice,
    [g_h/W, 1] [1, g_w/H]^T, which avoids broadcasting along short rows.
    """

    generate_vmap_rule = True       # usable under torch.func transforms (vmap, grad, jacrev)

    @staticmethod
    def forward(x):
        return _means(x)

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
        if fmt == torch.contiguous_format:
            one = torch.ones((), dtype=like.dtype, device=like.device)
            left = torch.stack([g_h.expand(B, C, H, 1).reshape(B * C, H),
                                one.expand(B * C, H)], dim=2)           # (B*C, H, 2)
            right = torch.stack([one.expand(B * C, W),
                                 g_w.expand(B, C, 1, W).reshape(B * C, W)], dim=1)  # (B*C, 2, W)
            return torch.bmm(left, right).view(B, C, H, W)
        out = torch.empty((B, C, H, W), dtype=like.dtype, device=like.device, memory_format=fmt)
        return torch.add(_layout_like(g_h, out), _layout_like(g_w, out), out=out)


def directional_means(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eqs. (1)-(2): ``(z^h, z^w)`` with shapes (B, C, H, 1) and (B, C, 1, W)."""
    if torch.is_grad_enabled() and x.requires_grad:
        return _DirectionalMeans.apply(x)
    return _means(x)


def _scale(x: torch.Tensor, a_h: torch.Tensor, a_w: torch.Tensor) -> torch.Tensor:
    """``x * a_h * a_w`` without autograd, in whichever way suits x's layout."""
    if _nchw(x) and not _is_channels_last(x):
        return _outer_times(x, a_h, a_w)
    return (x * a_w).mul_(a_h)


class _ScaleHW(torch.autograd.Function):
    """y = x * a_h * a_w with x (B, C, H, W), a_h (B, C, H, 1), a_w (B, C, 1, W).

    Forward: one full-size allocation (:func:`_outer_times` for a contiguous x; for a
    channels-last x, ``x * a_w`` then ``*= a_h`` in place).
    Backward, from g = dL/dy:
        dL/dx   = g * a_h * a_w
        dL/da_h = sum_w g * x * a_w           dL/da_w = sum_h g * x * a_h
    Only x and the two small gates are saved. For contiguous tensors the gate gradients are
    batched matrix products over g * x formed block by block (:func:`_gate_grads`), so the only
    full-size tensor written is dL/dx. When the backward itself is differentiated
    (``create_graph=True``) it runs as plain differentiable operations.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x, a_h, a_w):
        return _scale(x, a_h, a_w)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, g):
        x, a_h, a_w = ctx.saved_tensors
        need_x, need_h, need_w = ctx.needs_input_grad
        if torch.is_grad_enabled():        # create_graph=True: differentiable operations only
            gx = g * x
            return (g * a_w * a_h if need_x else None,
                    _sum_over_w(gx * a_w) if need_h else None,
                    _sum_over_h(gx * a_h) if need_w else None)
        grad_x = grad_h = grad_w = None
        if _nchw(g, x) and not _is_channels_last(x):
            if need_x:
                grad_x = _outer_times(g, a_h, a_w)
            if need_h or need_w:
                grad_h, grad_w = _gate_grads(g, x, a_h, a_w, need_h, need_w)
            return grad_x, grad_h, grad_w
        if need_x:
            grad_x = (g * a_w).mul_(a_h)
        if need_h or need_w:
            gx = g * x                                    # (B, C, H, W), the one temporary
            if need_w:
                grad_w = _sum_over_h(gx * a_h)            # (B, C, 1, W)
            if need_h:
                grad_h = _sum_over_w(gx.mul_(a_w))        # (B, C, H, 1)
        return grad_x, grad_h, grad_w


def scale_hw(x: torch.Tensor, a_h: torch.Tensor, a_w: torch.Tensor) -> torch.Tensor:
    """Eq. (6): ``x * a_h * a_w`` (broadcast), with as few full-size passes as eager allows.

    ``x`` (B, C, H, W) in either memory format; ``a_h`` (B, C, H, 1); ``a_w`` (B, C, 1, W).
    The result has x's memory format.
    """
    a_h, a_w = _layout_like(a_h, x), _layout_like(a_w, x)
    if torch.is_grad_enabled() and (x.requires_grad or a_h.requires_grad or a_w.requires_grad):
        return _ScaleHW.apply(x, a_h, a_w)
    return _scale(x, a_h, a_w)



# ----------------------------------------------------------------------------------------------
# Eqs. (3)-(5) on the pooled descriptors, and the whole forward pass.

def _conv1x1(conv: torch.nn.Conv2d, t: torch.Tensor) -> torch.Tensor:
    """``conv`` (1x1, bias) applied to t (B, in, L): ``bias + weight @ t`` per example."""
    w = conv.weight.flatten(1)                              # (out, in)
    return torch.baddbmm(conv.bias[:, None], w.expand(t.shape[0], *w.shape), t)


def gates_from_z(module, z: torch.Tensor, H: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Eqs. (3)-(5) of ``module`` (a :class:`~attn_ref.CoordinateAttention`) from
    ``z = [z^h ; z^w]`` (B, C, H + W): ``a_h`` (B, C, H, 1) and ``a_w`` (B, C, 1, W).

    The three 1x1 convolutions are computed as batched matrix products on (B, channels,
    positions) views, with the convolutions' own weights and biases: the same arithmetic,
    but oneDNN's convolution, the concatenation of a transposed z^w and the sigmoid of a
    convolution's output took together about as long on CPU as a pass over x (measured at
    32x256x28x28, bench/README.md).
    """
    f = _conv1x1(module.conv1, z)                                   # (B, C', H + W)
    f = module.act(module.bn1(f.unsqueeze(3))).squeeze(3)           # eq. (3), BN on (B, C', L, 1)
    a_h = torch.sigmoid(_conv1x1(module.conv_h, f[:, :, :H]))       # eqs. (4)-(5): (B, C, H)
    a_w = torch.sigmoid(_conv1x1(module.conv_w, f[:, :, H:]))       # (B, C, W)
    return a_h.unsqueeze(3), a_w.unsqueeze(2)


def forward(module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eqs. (1)-(6) of ``module`` for ``x`` (B, C, H, W) in either memory format, with the
    kernels above: returns ``(y, a_h, a_w)``, y in x's memory format, the gates in it too."""
    B, C, H, W = x.shape
    z_h, z_w = directional_means(x)                                 # eqs. (1)-(2)
    z = torch.cat([z_h.reshape(B, C, H), z_w.reshape(B, C, W)], dim=2)   # (B, C, H + W)
    a_h, a_w = gates_from_z(module, z, H)                           # eqs. (3)-(5)
    a_h, a_w = _layout_like(a_h, x), _layout_like(a_w, x)
    return scale_hw(x, a_h, a_w), a_h, a_w                          # eq. (6)
