"""timm's attention layers, for ``make bench``'s comparison (``bench_modules.py --timm``).

timm (https://github.com/huggingface/pytorch-image-models, pinned in ``bench/requirements.txt``)
depends on torchvision, and no torchvision build imports beside this course's torch 2.13.0 CPU
build. ``make bench`` therefore installs timm with ``--no-deps``, and this file imports only
``timm.layers``, without running ``timm/__init__.py`` (which imports ``timm.models`` and
``timm.data``, both of which need torchvision). ``timm.layers`` itself names one torchvision
class at import, ``torchvision.ops.misc.FrozenBatchNorm2d``, for normalisation layers the four
modules timed here never build; when torchvision is missing, a placeholder class stands in for
that one name (it raises if anything ever constructs it).

Each timm module is built in the configuration closest to attn_ref's module of the same kind
(same bottleneck width, kernel size, activation, biases). The weights are timm's own random
initialisation and differ from ours, so only the time is compared, never the outputs; timm's
CBAM also has a BatchNorm after its 7x7 convolution, as ours does by default.
"""
from __future__ import annotations

import importlib.util
import sys
import types

import torch
from torch import nn

TIMM_VERSION = "1.0.31"         # the version bench/requirements.txt pins


class _FrozenBatchNorm2dPlaceholder(nn.Module):
    """Stands in for torchvision's FrozenBatchNorm2d, which timm.layers imports but which no module
    timed here uses."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError("torchvision is not installed; this placeholder cannot be used")


def _layers():
    """``timm.layers``, imported without ``timm/__init__.py``; ``None`` when timm is missing."""
    if "timm.layers" in sys.modules:
        return sys.modules["timm.layers"]
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        return None
    if importlib.util.find_spec("torchvision") is None:
        tv, ops, misc = (types.ModuleType(n) for n in
                         ("torchvision", "torchvision.ops", "torchvision.ops.misc"))
        tv.__path__, ops.__path__ = [], []
        tv.ops, ops.misc = ops, misc
        misc.FrozenBatchNorm2d = _FrozenBatchNorm2dPlaceholder
        sys.modules.update({m.__name__: m for m in (tv, ops, misc)})
    if "timm" not in sys.modules:
        pkg = types.ModuleType("timm")        # the package, without running its __init__
        pkg.__path__ = list(spec.submodule_search_locations)
        pkg.__spec__ = spec
        sys.modules["timm"] = pkg
    import timm.layers
    return timm.layers


def available() -> str | None:
    """timm's version when its layers import, else None."""
    try:
        layers = _layers()
    except Exception:
        return None
    if layers is None:
        return None
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("timm")
    except PackageNotFoundError:
        return "unknown"


def timm_module(kind: str, ours: nn.Module) -> nn.Module | None:
    """timm's module of the same kind as attn_ref's ``ours``, configured like it (eval mode), or
    None for a kind timm does not have."""
    L = _layers()
    if L is None:
        return None
    from importlib import import_module

    def layer(file: str, name: str):            # timm.layers.<file>.<name>
        return getattr(import_module(f"{L.__name__}.{file}"), name)

    if kind == "se":
        m = layer("squeeze_excite", "SEModule")(ours.channels, rd_channels=ours.hidden, bias=ours.fc1.bias is not None)
    elif kind == "eca":
        m = layer("eca", "EcaModule")(channels=None, kernel_size=ours.kernel_size)
    elif kind == "cbam":
        m = layer("cbam", "CbamModule")(ours.channels, rd_channels=ours.channel.hidden,
                         spatial_kernel_size=ours.kernel_size, mlp_bias=True)
    elif kind == "ca":
        act = nn.Hardswish if ours.activation == "hswish" else nn.ReLU
        m = layer("coord_attn", "CoordAttn")(ours.in_channels, rd_channels=ours.mip, bias=True, act_layer=act)
    else:
        return None
    with torch.no_grad():                     # non-trivial BatchNorm statistics, as in ours
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 1.5)
    return m.eval()
