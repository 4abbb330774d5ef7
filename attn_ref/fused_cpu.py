"""Fused CPU kernels for inference (``fused="cpp"`` on :class:`~attn_ref.CoordinateAttention`
and :class:`~attn_ref.CBAM`).

Eager PyTorch computes each quantity of these modules with its own pass over the full-size
tensor. On a CPU those passes, not the arithmetic, decide the time (bench/README.md), and no
stock operator fuses them: CA's two directional means are two reductions; ``x * a_h * a_w`` is
either two broadcast products or an outer product written out and read back; CBAM's channel
descriptors are two reductions, and ``F' = M_c x`` is written in full before its channel-wise
maximum and mean are read back. The kernels in ``csrc/fused_cpu.cpp`` read the input once per
group of quantities:

* :func:`directional_means` -- CA eqs. (1)-(2), both means from one read of x;
* :func:`scale_hw` -- CA eq. (6), ``x * a_h * a_w`` in one read of x and one write;
* :func:`avg_max_hw` -- CBAM's AvgPool and MaxPool over H, W (eq. (1)) from one read;
* :func:`scaled_max_mean_c` -- CBAM's MaxPool_c and AvgPool_c of ``F' = M_c x`` (eq. (3)) from
  one read of x, without forming F';
* :func:`scale_channel_spatial` -- CBAM's eqs. (2) and (4) together, ``x M_c M_s`` in one read
  and one write;
* :func:`spatial_conv` -- CBAM's 7x7 convolution of the two pooled maps (small, but oneDNN's
  kernel for one output channel was slow).

The rest (MLP, 1x1 convolutions, BatchNorm, activations) stays in PyTorch. The kernels have no
backward: the modules use them only when autograd is not recording, for contiguous (NCHW)
float32/float64 CPU tensors, and run their eager code otherwise. The results equal the eager
ones to float rounding (sums are taken in another order; the maxima and CBAM's products are
exact), and do not depend on the number of threads.

The C++ source is compiled at first use with ``torch.utils.cpp_extension.load`` (a C++ compiler
with OpenMP, such as GCC, and ninja, a pinned requirement, are needed; about 30 s on a 2-CPU
machine) and cached by PyTorch in its extensions directory (``TORCH_EXTENSIONS_DIR``, by
default under ``~/.cache``), which rebuilds it when the source changes. Parallelism is PyTorch's own (``at::parallel_for``, so ``torch.set_num_threads``
applies).
"""
from __future__ import annotations

import functools
import hashlib
import os
import platform
import shutil
from pathlib import Path

import torch

from .reference import fast_path_ok, parameters

_SOURCE = Path(__file__).parent / "csrc" / "fused_cpu.cpp"


def _cpu_tag() -> str:
    """A short tag of this CPU's instruction-set flags. The kernels are compiled for the CPU
    that builds them (``-march=native``), and the tag is part of the extension's name, so a
    cache directory shared by machines of different CPUs never hands one of them code it cannot
    run."""
    try:
        text = Path("/proc/cpuinfo").read_text()
        flags = next(line for line in text.splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        flags = platform.machine() + platform.processor()
    return hashlib.sha256(flags.encode()).hexdigest()[:10]


@functools.lru_cache(maxsize=None)
def kernels():
    """The compiled extension (built, or loaded from PyTorch's cache, at the first call)."""
    from torch.utils.cpp_extension import load

    if shutil.which("ninja") is None:
        # PyTorch runs the build tool by name; the pinned ``ninja`` package installs it beside
        # the interpreter, which is not on PATH when the venv is not activated
        try:
            import ninja
            os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")
        except ImportError:
            pass                       # load() then reports that ninja is missing

    return load(name=f"attn_ref_fused_cpu_{_cpu_tag()}", sources=[str(_SOURCE)],
                extra_cflags=["-O3", "-march=native", "-fopenmp"], extra_ldflags=["-fopenmp"],
                verbose=False)


def usable(module: torch.nn.Module, x: torch.Tensor) -> bool:
    """Whether the kernels apply to ``module(x)``: where the module's fast paths may run at all
    (:func:`attn_ref.reference.fast_path_ok`: not in reference mode, whose operation counters
    do not see the kernels' work, no autocast, not traced, x and parameters of one dtype,
    float32 or float64), autograd is not recording (grad mode off, or neither x nor any
    parameter of the module requires grad), and x is a plain contiguous 4-d CPU tensor, not
    empty, with parameters on the CPU."""
    if not fast_path_ok(module, x):
        return False
    if torch.is_grad_enabled() and (x.requires_grad
                                    or any(p.requires_grad for p in parameters(module))):
        return False
    return (x.device.type == "cpu" and x.dim() == 4 and x.is_contiguous() and x.numel() > 0
            and all(p.device.type == "cpu" for p in parameters(module)))


def directional_means(x: torch.Tensor) -> torch.Tensor:
    """CA eqs. (1)-(2) from one read of x (B, C, H, W): ``z`` (B, C, H + W) holding
    ``[z^h ; z^w]`` side by side, the concatenated input of eq. (3)."""
    B, C, H, W = x.shape
    return kernels().directional_means(x.view(B * C, H, W)).view(B, C, H + W)


def spatial_conv(pooled: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """CBAM eq. (3)'s convolution: pooled (B, 2, H, W) -> (B, 1, H, W) with ``weight``
    (1, 2, k, k), k odd, zero padding k // 2, no bias; the same as ``F.conv2d(pooled, weight,
    padding=k // 2)``. oneDNN's kernel for this one-output-channel case took about as long as a
    pass over x at 32x64x56x56."""
    return kernels().conv_same_single_out(pooled.contiguous(), weight.contiguous())


def scale_hw(x: torch.Tensor, a_h: torch.Tensor, a_w: torch.Tensor) -> torch.Tensor:
    """CA eq. (6): ``x * a_h * a_w`` for x (B, C, H, W), a_h (B, C, H, 1), a_w (B, C, 1, W); one
    read of x and one write (computed per element as ``(x a_h) a_w``)."""
    B, C, H, W = x.shape
    y = kernels().rank1_scale(x.view(B * C, H, W), a_h.reshape(B * C, H), a_w.reshape(B * C, W))
    return y.view(B, C, H, W)


def scale_channel_spatial(x: torch.Tensor, m_c: torch.Tensor, m_s: torch.Tensor) -> torch.Tensor:
    """CBAM eqs. (2) and (4) at once: ``(x M_c) M_s`` for x (B, C, H, W), M_c (B, C, 1, 1),
    M_s (B, 1, H, W); one read of x and one write, F' is never stored."""
    B, C, H, W = x.shape
    y = kernels().rank1_scale(x.view(B, C, H * W), m_c.reshape(B, C), m_s.reshape(B, H * W))
    return y.view(B, C, H, W)


def avg_max_hw(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """CBAM eq. (1)'s descriptors: x (B, C, H, W) -> (AvgPool(x), MaxPool(x)), (B, C) each,
    one read of x."""
    B, C, H, W = x.shape
    avg, mx = kernels().row_mean_max(x.view(B * C, H * W))
    return avg.view(B, C), mx.view(B, C)


def scaled_max_mean_c(x: torch.Tensor, m_c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """CBAM eq. (3)'s maps of ``F' = M_c x`` without forming F': (MaxPool_c(F'), AvgPool_c(F')),
    (B, 1, H, W) each, from one read of x (B, C, H, W) and M_c (B, C, 1, 1)."""
    B, C, H, W = x.shape
    mx, avg = kernels().scaled_channel_max_mean(x.view(B, C, H * W), m_c.reshape(B, C))
    return mx.view(B, 1, H, W), avg.view(B, 1, H, W)
