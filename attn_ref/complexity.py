"""Closed-form cost of the attention modules, and a counter built on PyTorch's own.

What is counted
---------------
*Parameters* are learnable tensors (what ``module.parameters()`` yields): weights, biases and
BatchNorm's scale and shift. BatchNorm's running mean and variance are buffers and not counted.

*Multiply-adds* (MACs) are given per example (batch 1) for an input of C x H x W, in two parts:

``layer MACs``
    the multiply-accumulates of the learned linear maps: fully connected layers and
    convolutions (1-D or 2-D), i.e. out_features x in_features per row for a linear layer and
    output elements x (in_channels / groups) x kernel size for a convolution. Bias additions are
    not counted. This is exactly what ``torch.utils.flop_counter.FlopCounterMode`` sees, divided
    by two (it counts one multiply-add of a matmul or a convolution as 2 FLOPs).
``scaling MACs``
    the multiplications that apply a gate to the feature map: C*H*W for each full-size
    product (SE and ECA apply one, ``x * s``; CBAM two, ``x * M_c`` then ``* M_s``; CA two,
    ``x * a_h * a_w``). The flop counter does not count these: it ignores element-wise ops.

Not counted anywhere (and not by the flop counter either): pooling (sums, maxima and the
division of an average), activations (ReLU, sigmoid, h-swish), BatchNorm (it folds into the
preceding convolution at inference), concatenation, splits and reshapes. On CPU the element-wise
passes are what dominates run time (see the benchmark): MACs are a measure of arithmetic only.

The ``*_macs`` functions return layer + scaling MACs; ``layers_only=True`` returns the part the
flop counter can check. Everything is an exact integer.
"""
from __future__ import annotations

import copy
import inspect
from typing import Sequence

import torch
from torch import nn


# -------------------------------------------------------------------------------------- helpers

def _bottleneck(channels: int, reduction: int) -> int:
    """``max(1, C // r)``: the hidden width of SE's and CBAM's MLP (same rule as se.py)."""
    from .se import se_bottleneck
    return se_bottleneck(channels, reduction)


def _check_positive(**values) -> None:
    for name, v in values.items():
        if v is None:
            continue
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")


# ------------------------------------------------------------------------------------------- SE

def se_params(C: int, r: int = 16, bias: bool = True) -> int:
    """SE: ``fc1`` (C -> h) and ``fc2`` (h -> C), h = max(1, C // r): 2 C h weights, plus
    h + C biases when ``bias`` (the paper's Caffe models) and none without (senet.pytorch)."""
    _check_positive(C=C, r=r)
    h = _bottleneck(C, r)
    return 2 * C * h + ((h + C) if bias else 0)


def se_macs(C: int, H: int, W: int, r: int = 16, layers_only: bool = False) -> int:
    """SE: 2 C h for the two FC layers on the pooled vector, plus C H W for ``x * s``."""
    _check_positive(C=C, H=H, W=W, r=r)
    layers = 2 * C * _bottleneck(C, r)
    return layers if layers_only else layers + C * H * W


# ------------------------------------------------------------------------------------------ ECA

def eca_params(C: int, k: int | None = None, gamma: float = 2, b: float = 1) -> int:
    """ECA: one 1-D convolution across channels, k weights, no bias. ``k=None`` uses the rule
    ``k = psi(C)`` (``attn_ref.eca.eca_kernel_size``)."""
    return _eca_k(C, k, gamma, b)


def eca_macs(C: int, H: int, W: int, k: int | None = None, gamma: float = 2, b: float = 1,
             layers_only: bool = False) -> int:
    """ECA: C k for the convolution over the pooled vector (zero padding keeps C outputs, and
    the padded taps are counted, as every convolution counter does), plus C H W for ``x * s``."""
    _check_positive(C=C, H=H, W=W)
    layers = C * _eca_k(C, k, gamma, b)
    return layers if layers_only else layers + C * H * W


def _eca_k(C: int, k: int | None, gamma: float, b: float) -> int:
    _check_positive(C=C, k=k)
    if k is None:
        from .eca import eca_kernel_size
        k = eca_kernel_size(C, gamma, b)
    return int(k)


# ----------------------------------------------------------------------------------------- CBAM

def cbam_params(C: int, r: int = 16, spatial_kernel: int = 7, mlp_bias: bool = True,
                spatial_bn: bool = True, spatial_conv_bias: bool = False) -> int:
    """CBAM: the shared MLP (C -> h -> C, h = max(1, C // r), with biases in the official code)
    plus the spatial gate: a k x k convolution from 2 maps to 1 (no bias in the official code,
    whose ``BasicConv`` has a BatchNorm instead: 2 more parameters, its scale and shift).

    Official defaults (attention-module, ``MODELS/cbam.py``): 2 C h + h + C + 2 k^2 + 2.
    The paper does not mention the BatchNorm; ``spatial_bn=False`` drops it.
    """
    _check_positive(C=C, r=r, spatial_kernel=spatial_kernel)
    h = _bottleneck(C, r)
    channel = 2 * C * h + ((h + C) if mlp_bias else 0)
    spatial = 2 * spatial_kernel ** 2 + (1 if spatial_conv_bias else 0) + (2 if spatial_bn else 0)
    return channel + spatial


def cbam_macs(C: int, H: int, W: int, r: int = 16, spatial_kernel: int = 7,
              layers_only: bool = False) -> int:
    """CBAM: the shared MLP runs on two pooled vectors (average and max), 2 x 2 C h; the
    spatial convolution produces H W outputs from 2 maps through k^2 taps, 2 k^2 H W (zero
    padding keeps H x W; padded taps counted); the two gates cost 2 C H W multiplications."""
    _check_positive(C=C, H=H, W=W, r=r, spatial_kernel=spatial_kernel)
    layers = 4 * C * _bottleneck(C, r) + 2 * spatial_kernel ** 2 * H * W
    return layers if layers_only else layers + 2 * C * H * W


# ------------------------------------------------------------------------------------------- CA

def ca_mip(C_in: int, reduction: int = 32, min_channels: int = 8) -> int:
    """Width of CA's shared 1x1 convolution: ``max(8, C_in // reduction)`` (official code)."""
    _check_positive(C_in=C_in, reduction=reduction)
    return max(min_channels, C_in // reduction)


def ca_params(C_in: int, C_out: int | None = None, reduction: int = 32) -> int:
    """CA (official ``CoordAtt``): ``conv1`` 1x1 C_in -> m with bias, ``bn1`` (2 m),
    ``conv_h`` and ``conv_w`` 1x1 m -> C_out with bias; m = max(8, C_in // reduction).
    Total m C_in + m + 2 m + 2 (m C_out + C_out)."""
    C_out = C_in if C_out is None else C_out
    _check_positive(C_in=C_in, C_out=C_out, reduction=reduction)
    m = ca_mip(C_in, reduction)
    return m * C_in + m + 2 * m + 2 * (m * C_out + C_out)


def ca_macs(C_in: int, H: int, W: int, C_out: int | None = None, reduction: int = 32,
            layers_only: bool = False) -> int:
    """CA: ``conv1`` on the H + W pooled positions, m C_in (H + W); ``conv_h`` on H positions and
    ``conv_w`` on W positions, C_out m (H + W); and ``x * a_h * a_w``, 2 C_out H W
    multiplications (the block requires C_out == C_in to apply the gates to its input)."""
    C_out = C_in if C_out is None else C_out
    _check_positive(C_in=C_in, C_out=C_out, H=H, W=W, reduction=reduction)
    m = ca_mip(C_in, reduction)
    layers = m * C_in * (H + W) + C_out * m * (H + W)
    return layers if layers_only else layers + 2 * C_out * H * W


# ------------------------------------------------------------------------------------------ GAM

def gam_params(C: int, rate: int = 4, kernel: int = 7) -> int:
    """GAM (arXiv 2112.05561, plain form of its Fig. 3, as attn_ref.gam builds it), h =
    max(1, C // rate): channel submodule, a per-position MLP C -> h -> C with biases; spatial
    submodule, k x k convolutions C -> h and h -> C with biases, each followed by BatchNorm."""
    _check_positive(C=C, rate=rate, kernel=kernel)
    h = max(1, C // rate)
    mlp = C * h + h + h * C + C
    spatial = (C * h * kernel ** 2 + h + 2 * h) + (h * C * kernel ** 2 + C + 2 * C)
    return mlp + spatial


def gam_macs(C: int, H: int, W: int, rate: int = 4, kernel: int = 7,
             layers_only: bool = False) -> int:
    """GAM: the MLP at every position, 2 C h H W; two k x k convolutions, 2 C h k^2 H W (zero
    padding keeps H x W, padded taps counted); and two full-size gate products, 2 C H W."""
    _check_positive(C=C, H=H, W=W, rate=rate, kernel=kernel)
    h = max(1, C // rate)
    layers = 2 * C * h * H * W + 2 * C * h * kernel ** 2 * H * W
    return layers if layers_only else layers + 2 * C * H * W


# ------------------------------------------------------------------------------------ dispatch

# the modules' shared constructor names (attn_ref.kinds) -> what the closed forms above call them
_SHARED_NAMES = {"reduction": ("r", "rate", "reduction"),
                 "kernel_size": ("k", "spatial_kernel", "kernel")}


def _own_names(fn, hyper: dict) -> dict:
    """``hyper`` with a shared name (``reduction``, ``kernel_size``) renamed to the one ``fn``
    takes (kept as it is when ``fn`` takes none); a name given both ways must agree."""
    names = inspect.signature(fn).parameters
    out = {k: v for k, v in hyper.items() if k not in _SHARED_NAMES}
    for shared, own in _SHARED_NAMES.items():
        if shared not in hyper:
            continue
        target = next((n for n in own if n in names), shared)    # none: left to be refused
        if target in out and out[target] != hyper[shared]:
            raise TypeError(f"{shared}={hyper[shared]!r} and {target}={out[target]!r} disagree")
        out[target] = hyper[shared]
    return out


def module_cost(kind: str, C: int, H: int, W: int, **hyper) -> dict[str, int]:
    """``{"params", "macs", "layer_macs", "scaling_macs"}`` of one module in closed form.

    ``kind``: a kind of :mod:`attn_ref.kinds` with closed forms (SE, ECA, CBAM, CA, GAM; an
    alias such as ``"coord"`` works too). ``hyper`` are the keyword arguments of the kind's
    ``*_params`` / ``*_macs`` functions (those not taken by one of them are ignored by it, e.g.
    ``bias`` for SE's MACs), or the modules' shared constructor names ``reduction`` and
    ``kernel_size``, which mean what they mean for the module (``reduction=4`` is ``r=4`` for
    SE and ``rate=4`` for GAM). ``ValueError`` for an unknown kind or one without closed forms,
    ``TypeError`` for a hyper-parameter neither function takes.
    """
    from . import kinds

    entry = kinds.get(kind)
    if entry.params is None or entry.macs is None:
        with_forms = [k.name for k in kinds.all_kinds().values() if k.params and k.macs]
        raise ValueError(f"no closed-form cost is known for {entry.name!r}; known: {with_forms}")
    p_fn, m_fn = entry.params, entry.macs
    p_hyper, m_hyper = _own_names(p_fn, hyper), _own_names(m_fn, hyper)
    p_names, m_names = inspect.signature(p_fn).parameters, inspect.signature(m_fn).parameters
    unknown = ({k for k in p_hyper if k not in p_names} & {k for k in m_hyper if k not in m_names})
    if unknown:
        raise TypeError(f"{entry.name}: unknown hyper-parameters {sorted(unknown)}")
    p_kw = {k: v for k, v in p_hyper.items() if k in p_names}
    m_kw = {k: v for k, v in m_hyper.items() if k in m_names and k != "layers_only"}
    macs = m_fn(C, H, W, **m_kw)
    layer_macs = m_fn(C, H, W, layers_only=True, **m_kw)
    return {"params": p_fn(C, **p_kw), "macs": macs, "layer_macs": layer_macs,
            "scaling_macs": macs - layer_macs}


# ------------------------------------------------------------------------------------- counters

def count_params(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter entries of ``module`` (buffers such as BatchNorm statistics excluded)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def count_macs(module: nn.Module, input_shape: Sequence[int], device: str | torch.device = "meta",
               dtype: torch.dtype = torch.float32, per_example: bool = True) -> int:
    """Multiply-adds of one forward pass, counted by ``torch.utils.flop_counter.FlopCounterMode``.

    ``input_shape`` is (C, H, W) (one example) or (B, C, H, W). The counter sees matrix products
    and convolutions only (``mm``, ``addmm``, ``bmm``, ``convolution``, attention kernels...), and
    counts 2 FLOPs per multiply-add: this returns ``FLOPs // 2``, divided by B when
    ``per_example``. Element-wise ops, pooling, activations and normalisation are not seen, so
    the result matches the ``layers_only=True`` closed forms, not the full ``*_macs``.

    By default the module runs on a copy on the ``meta`` device: shapes are propagated and
    nothing is computed, so counting a whole ResNet-50 takes milliseconds. Pass
    ``device="cpu"`` to count a real forward pass of ``module`` itself (in eval mode, no grad).

    The module runs its plain reference (:func:`attn_ref.reference.reference_mode`): the fast
    paths compute some poolings and products as matrix products (:mod:`attn_ref.coord_fast`)
    or in compiled kernels the counter does not see (:mod:`attn_ref.fused_cpu`), so only the
    reference counts the layers the paper counts.
    """
    from torch.utils.flop_counter import FlopCounterMode

    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 3:
        shape = (1,) + shape
    if len(shape) != 4:
        raise ValueError(f"input_shape must be (C, H, W) or (B, C, H, W), got {input_shape}")
    device = torch.device(device)
    on_meta = all(t.is_meta for t in module.parameters()) and all(
        t.is_meta for t in module.buffers())
    if device.type == "meta" and not on_meta:
        model = copy.deepcopy(module).to(device=device)
    else:
        model = module
    was_training = model.training
    model.eval()
    x = torch.zeros(shape, device=device, dtype=dtype)
    counter = FlopCounterMode(display=False)
    try:
        from .reference import reference_mode

        with torch.no_grad(), reference_mode(), counter:
            model(x)
    finally:
        model.train(was_training)
    macs = counter.get_total_flops() // 2
    return macs // shape[0] if per_example else macs


def flops_to_macs(flops: int) -> int:
    """FLOPs as PyTorch's counter reports them (2 per multiply-add) to multiply-adds."""
    return flops // 2


def millions(n: int, base: str = "1e6") -> float:
    """``n`` in millions, either decimal (``"1e6"``) or binary (``"2^20"``, the ECA tables)."""
    if base not in ("1e6", "2^20"):
        raise ValueError(f"base must be '1e6' or '2^20', got {base!r}")
    return n / (1e6 if base == "1e6" else float(2 ** 20))
