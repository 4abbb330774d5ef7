"""Which code a module runs: its plain reference, or a faster path that computes the same.

Every module family has a **reference**: short eager code that follows the paper's equations in
order (``forward_reference`` on :class:`~attn_ref.CoordinateAttention` and :class:`~attn_ref.CBAM`;
the ``forward`` of SE, ECA, GAM and criss-cross attention is already that code). The reference
is the specification: grading's expected values and :func:`attn_ref.complexity.count_macs` use it.

Some modules also have **fast paths** (custom autograd functions, matrix-product kernels, the
compiled CPU kernels of :mod:`attn_ref.fused_cpu`). A module takes one only where it computes the
same function as the reference, with the same output dtype and memory format, up to float
rounding; :func:`fast_path_ok` says where that is, and everywhere else the module runs its
reference.
"""
from __future__ import annotations

import contextlib
import contextvars

import torch

_REFERENCE = contextvars.ContextVar("attn_ref_reference_mode", default=False)

# the dtypes the fast paths are written and tested for: their constants (1/W, 1/(H W)) and the
# order of their sums give float rounding only at these precisions
FAST_DTYPES = (torch.float32, torch.float64)


@contextlib.contextmanager
def reference_mode():
    """Within this context every attn_ref module runs its plain reference code.

    For operation counters (:func:`attn_ref.complexity.count_macs`, which see matrix products
    but not reductions or element-wise products, so a fast path that computes a mean as a
    matrix product would be counted as a layer) and for grading, whose expected values come from
    the reference. Context-local (a :class:`contextvars.ContextVar`), so threads do not leak it.
    """
    token = _REFERENCE.set(True)
    try:
        yield
    finally:
        _REFERENCE.reset(token)


def tracing() -> bool:
    """Whether a tracer, not eager PyTorch, is running the code: ``torch.compile`` or
    ``torch.export`` (Dynamo; so ``torch.onnx.export(..., dynamo=True)`` too), or TorchScript's
    ``torch.jit.trace`` / ``torch.jit.script`` (so ``torch.onnx.export(..., dynamo=False)``,
    which traces with it).

    Modules run their reference there. A fast path's custom autograd functions, ``out=``
    calls and in-place products are eager-only tricks: TorchScript's ONNX exporter wired the
    outputs of CBAM's channel-pooling function wrongly (its graph ran in onnxruntime and
    returned numbers off by about 1, with no warning), and Dynamo would have to trace through
    them to build one graph. Every check here is a constant to Dynamo (``is_compiling`` comes
    first, so the :class:`contextvars.ContextVar` of :func:`reference_mode`, which Dynamo cannot
    trace, is never read inside a compiled region).
    """
    return (torch.compiler.is_compiling() or torch.jit.is_tracing()
            or torch.jit.is_scripting())


def reference_requested() -> bool:
    """Whether the modules must run their reference: inside :func:`reference_mode`, or while a
    tracer records the code (:func:`tracing`; the answer is the same there whatever the
    context, so a compiled graph never depends on it)."""
    return tracing() or _REFERENCE.get()


def fast_path_ok(module: torch.nn.Module, x: torch.Tensor) -> bool:
    """Whether ``module``'s fast paths may run on ``x`` (B, C, H, W) instead of its reference.

    False inside :func:`reference_mode`; under ``torch.autocast`` for x's device (the reference's
    layers then follow autocast's per-operation dtypes, which the fast kernels do not
    reproduce); while a tracer records the code (:func:`tracing`: the graph of an export or a
    compilation holds the paper's operations, which the compiler fuses itself and every
    exporter lowers); and unless x and every parameter of ``module`` have the
    same dtype, float32 or float64 (in float16/bfloat16 the fast paths' constants and
    summation orders would round differently from the reference).
    """
    if reference_requested():
        return False
    device = x.device.type
    if torch.amp.is_autocast_available(device) and torch.is_autocast_enabled(device):
        return False
    if x.dtype not in FAST_DTYPES:
        return False
    return all(p.dtype == x.dtype for p in parameters(module))


def parameters(module: torch.nn.Module):
    """The parameters of ``module`` and its sub-modules (a shared one possibly twice): what
    ``module.parameters()`` yields, in half its time (a per-call check of small modules)."""
    return (p for m in module.modules() for p in m._parameters.values() if p is not None)
