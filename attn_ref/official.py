"""Load state dicts saved by the published implementations into attn_ref modules.

Each module family defines ``_load_official(module, state_dict, strict)`` next to its code, which
maps the published layout onto ours, and registers it as its kind's ``loader``
(:mod:`attn_ref.kinds`); :func:`load_official_state_dict` dispatches on the module's type.
Layouts are documented in each family's loader.
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn


class StateDictMismatch(KeyError, ValueError):
    """A published state dict does not fit the module: the message names every missing,
    unexpected and mis-shaped key. A ``KeyError`` (a key is missing or unexpected) and a
    ``ValueError`` (a shape is wrong) at once, so either ``except`` clause catches it."""

    def __str__(self) -> str:              # KeyError would print the message quoted
        return str(self.args[0]) if self.args else ""


# buffers that PyTorch versions before 0.4.1 did not save (BatchNorm's counter of batches)
_OPTIONAL_SUFFIXES = ("num_batches_tracked",)


def load_official_state_dict(module: nn.Module, state_dict: Mapping[str, torch.Tensor],
                             strict: bool = True) -> nn.Module:
    """Copy a published implementation's ``state_dict`` into ``module`` (in place; returns it).

    Accepts state dicts saved by any PyTorch version: BatchNorm's ``num_batches_tracked``,
    which versions before 0.4.1 did not save, is optional (set to 0 when absent, as
    ``nn.BatchNorm2d`` does for such checkpoints). Raises :class:`StateDictMismatch` (a
    ``KeyError`` and a ``ValueError``) naming every missing, unexpected and mis-shaped key, so a
    checkpoint of the wrong module or width fails loudly; with ``strict=False`` missing and
    unexpected keys are skipped, wrong shapes still raise. ``TypeError`` for a module type with
    no known published layout.
    """
    from . import kinds

    known = sorted(k.cls.__name__ for k in kinds.all_kinds().values() if k.loader is not None)
    try:
        loader = kinds.of(module).loader
    except TypeError:
        loader = None
    if loader is None:
        raise TypeError(f"no published layout is known for {type(module).__name__}; "
                        f"known: {known}")
    loader(module, dict(state_dict), strict=strict)
    return module


def copy_mapped(module: nn.Module, state_dict: dict, mapping: dict[str, str], strict: bool,
                transforms: dict | None = None) -> None:
    """Copy ``state_dict[official] -> module[ours]`` for each ``official: ours`` in ``mapping``.

    ``transforms`` maps an official key to a function applied to its tensor before the copy
    (for example a reshape). Keys ending in ``num_batches_tracked`` may be absent (the target is
    then set to 0). Any other mapped key absent from the state dict, and any key of the state
    dict that is not mapped, is an error when ``strict``; a tensor whose shape does not fit its
    target is always one. All are reported together, before anything is copied.
    """
    transforms = transforms or {}
    ours = module.state_dict()
    optional = {k for k in mapping if k.endswith(_OPTIONAL_SUFFIXES)}
    missing = [k for k in mapping if k not in state_dict and k not in optional]
    unexpected = [k for k in state_dict if k not in mapping]
    values, misshaped = {}, []
    for key, target in mapping.items():
        if key not in state_dict:
            continue
        value = torch.as_tensor(state_dict[key])
        if key in transforms:
            value = transforms[key](value)
        if ours[target].shape != value.shape:
            misshaped.append(f"{key}: published shape {tuple(value.shape)}, {target} has "
                             f"{tuple(ours[target].shape)}")
        values[target] = value
    problems = [f"{what} {items}" for what, items in (("missing", missing if strict else []),
                                                      ("unexpected", unexpected if strict else []),
                                                      ("mis-shaped", misshaped)) if items]
    if problems:
        raise StateDictMismatch(f"published state dict does not fit {type(module).__name__}: "
                                + "; ".join(problems))
    with torch.no_grad():
        for key, target in mapping.items():
            if target in values:
                ours[target].copy_(values[target])
            elif key in optional:
                ours[target].zero_()
