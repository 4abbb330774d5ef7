"""Load state dicts saved by the published implementations into attn_ref modules.

Each module family defines ``_load_official(module, state_dict)`` next to its code, which maps
the published layout onto ours; :func:`load_official_state_dict` dispatches on the module's type.
Layouts are documented in each family's loader.
"""
from __future__ import annotations

from importlib import import_module
from typing import Mapping

import torch
from torch import nn

# attn_ref class name -> submodule that defines it and its _load_official
_LOADERS = {
    "SqueezeExcitation": "se",
    "ECA": "eca",
    "CBAM": "cbam",
    "CoordinateAttention": "coord",
}


def load_official_state_dict(module: nn.Module, state_dict: Mapping[str, torch.Tensor],
                             strict: bool = True) -> nn.Module:
    """Copy a published implementation's ``state_dict`` into ``module`` (in place; returns it).

    Raises ``KeyError`` naming the missing or unexpected keys, and ``ValueError`` on a shape
    mismatch, so a checkpoint of the wrong module or width fails loudly.
    """
    name = type(module).__name__
    if name not in _LOADERS:
        raise TypeError(f"no published layout is known for {name}; known: {sorted(_LOADERS)}")
    loader = getattr(import_module(f".{_LOADERS[name]}", "attn_ref"), "_load_official")
    loader(module, dict(state_dict), strict=strict)
    return module


def copy_mapped(module: nn.Module, state_dict: dict, mapping: dict[str, str], strict: bool,
                transforms: dict | None = None) -> None:
    """Copy ``state_dict[official] -> module[ours]`` for each ``official: ours`` in ``mapping``.

    ``transforms`` maps an official key to a function applied to its tensor before the copy
    (for example a reshape). Keys absent from the state dict are an error when ``strict``.
    """
    transforms = transforms or {}
    ours = module.state_dict()
    missing = [k for k in mapping if k not in state_dict]
    unexpected = [k for k in state_dict if k not in mapping]
    if strict and (missing or unexpected):
        raise KeyError(f"published state dict does not match {type(module).__name__}: "
                       f"missing {missing}, unexpected {unexpected}")
    with torch.no_grad():
        for key, target in mapping.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            if key in transforms:
                value = transforms[key](value)
            if ours[target].shape != value.shape:
                raise ValueError(f"{key}: published shape {tuple(value.shape)} does not fit "
                                 f"{target} of shape {tuple(ours[target].shape)}")
            ours[target].copy_(value)
