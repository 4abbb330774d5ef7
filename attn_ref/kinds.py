"""The registry of module kinds: one entry per attention module, defined next to its code.

Each module file (``se.py``, ``eca.py``, ...) ends with ``KIND = ModuleKind(...)``: its class,
the names it is known by, its closed-form parameter and multiply-add counts
(:mod:`attn_ref.complexity`), its published-layout loader (:func:`attn_ref.official.
load_official_state_dict`), its straightforward baseline (:mod:`attn_ref.baselines`) and its
memory-traffic model and speed goal (:class:`Traffic`; :mod:`attn_ref.profiling`, the bench). Networks
(:func:`attn_ref.models.make_attention`), the cost functions, the official loader, the profiling
chapter and the bench look kinds up here instead of keeping their own tables.

Adding a module: write its file, end it with a ``KIND``, and add the file's name to
:data:`MODULE_FILES` below (site/use/adding-a-module.md, "Adding a module").

Constructor vocabulary, shared by every module: ``channels`` (C, first and positional),
``reduction`` (r, the bottleneck ratio), ``kernel_size`` (the side of the module's one
convolution). The names of the published code and of the chapters are accepted as documented
aliases (:func:`alias`): ``k_size`` (ECA), ``spatial_kernel`` (CBAM), ``rate`` (GAM),
``in_channels`` (CA).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any, Callable

from torch import nn

# the files that define a KIND, in the order kinds are listed
MODULE_FILES = ("se", "eca", "cbam", "coord", "ccnet", "gam")


@dataclass(frozen=True)
class Traffic:
    """How much memory one inference forward of a gating module must move (the model that chapter
    06 derives; :mod:`attn_ref.profiling` computes with it, the bench prints its floor).

    pooling_passes: full-size reads of x needed before the final scaling pass can start (SE,
        ECA, CA: 1, all descriptors in one pass; CBAM: 2, since M_s pools F' = M_c * x).
    gates: ``gates(B, C, H, W)``: the number of elements of each gate that the scaling pass
        multiplies x by, one entry per gate (SE: ``(B*C,)``; CA: ``(B*C*H, B*C*W)``).
    speed_goal: the project's goal for eager inference on CPU, as a multiple of copying x
        (``make bench``; site/use/speed.md), or None.
    """
    pooling_passes: int
    gates: Callable[[int, int, int, int], tuple[int, ...]]
    speed_goal: float | None = None

    def floor(self) -> float:
        """The least traffic as a multiple of a copy (one read and one write of x): the pooling
        reads plus one read and one write in the scaling pass, gates left out."""
        return (self.pooling_passes + 2) / 2


@dataclass(frozen=True)
class ModuleKind:
    """One kind of attention module.

    name: the short name used everywhere (``"se"``, ``"ca"``, ...); lower case.
    title: how tables print it (``"SE"``, ``"CA"``).
    cls: the module class; ``cls(channels, **kwargs)`` builds one.
    aliases: other accepted spellings of ``name`` (matched case-insensitively, as are ``name``,
        ``title`` and the class name).
    params: the closed-form parameter count, ``params(C, **hyper)``, or None.
    macs: the closed-form multiply-adds, ``macs(C, H, W, layers_only=False, **hyper)``, or None.
    loader: ``loader(module, state_dict, strict)`` copying a published state dict, or None.
    baseline: ``baseline(module)``: the straightforward transcription of the published code in
        ``module``'s configuration (:mod:`attn_ref.baselines`, same state-dict layout as
        ``loader`` reads), or None.
    published_kwargs: constructor arguments that give the published code's layout where the
        defaults do not (senet.pytorch's SE has no biases).
    traffic: the memory-traffic model (:class:`Traffic`) of a module that gates x, or None.
    """
    name: str
    title: str
    cls: type
    aliases: tuple[str, ...] = ()
    params: Callable[..., int] | None = None
    macs: Callable[..., int] | None = None
    loader: Callable[..., None] | None = None
    baseline: Callable[[nn.Module], nn.Module] | None = None
    published_kwargs: dict[str, Any] = field(default_factory=dict)
    traffic: Traffic | None = None

    def build(self, channels: int, **kwargs) -> nn.Module:
        """``cls(channels, **kwargs)``."""
        return self.cls(channels, **kwargs)

    def spellings(self) -> set[str]:
        return {s.lower() for s in (self.name, self.title, self.cls.__name__, *self.aliases)}


@functools.lru_cache(maxsize=None)
def _registry() -> dict[str, ModuleKind]:
    out = {}
    for file in MODULE_FILES:
        kind = import_module(f".{file}", __package__).KIND
        if kind.name in out:
            raise RuntimeError(f"module kind {kind.name!r} is registered twice")
        out[kind.name] = kind
    return out


def names() -> tuple[str, ...]:
    """The registered kinds' names, in :data:`MODULE_FILES` order."""
    return tuple(_registry())


def all_kinds() -> dict[str, ModuleKind]:
    """``{name: ModuleKind}`` for every registered kind."""
    return dict(_registry())


def get(kind: str) -> ModuleKind:
    """The kind called ``kind`` (its name, title, class name or an alias, any case).
    Raises ``ValueError`` naming the known kinds otherwise."""
    key = str(kind).strip().lower()
    for k in _registry().values():
        if key in k.spellings():
            return k
    raise ValueError(f"unknown attention kind {kind!r}; known: {names()} "
                     f"(aliases: {sorted(a for k in _registry().values() for a in k.aliases)})")


def of(module: nn.Module) -> ModuleKind:
    """The kind whose class ``module`` is an instance of (a subclass counts: the grader's
    reference classes derive from ours). ``TypeError`` for any other module."""
    for k in _registry().values():
        if isinstance(module, k.cls):
            return k
    raise TypeError(f"{type(module).__name__} is not a registered attention module; "
                    f"known: {[k.cls.__name__ for k in _registry().values()]}")


def build(kind: str, channels: int, **kwargs) -> nn.Module:
    """A module of kind ``kind`` (see :func:`get`) on ``channels`` channels; ``kwargs`` go to
    its constructor (the shared vocabulary or the documented aliases)."""
    return get(kind).build(channels, **kwargs)


def alias(value, alias_value, name: str, alias_name: str, default=None):
    """A constructor argument given under its shared name or its documented alias: the one
    given (``default`` when neither is). ``TypeError`` when both are given and differ."""
    if alias_value is None:
        return default if value is None else value
    if value is not None and value != alias_value:
        raise TypeError(f"{name}={value!r} and its alias {alias_name}={alias_value!r} disagree; "
                        f"give one of them")
    return alias_value
