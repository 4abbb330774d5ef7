"""Where checks are found: one module of checks per chapter, imported on first use."""
from __future__ import annotations

from importlib import import_module
from pathlib import Path

from .core import Check

# chapter prefix of a check id -> module defining that chapter's checks: every
# ``checks_<prefix>.py`` beside this file
CHAPTERS = {p.stem.removeprefix("checks_"): f"attn_ref.grading.{p.stem}"
            for p in sorted(Path(__file__).parent.glob("checks_*.py"))}

_cache: dict[str, Check] = {}


def all_checks(prefix: str | None = None) -> dict[str, Check]:
    for chapter, modname in CHAPTERS.items():
        if prefix is not None and chapter != prefix:
            continue
        for check in import_module(modname).CHECKS:
            if check.id.split(".")[0] != chapter:
                # get_check finds a check by its id's prefix: one under another prefix would be
                # listed here and missing in a learner's kernel ("no check named ...")
                raise ValueError(f"{modname}: check id {check.id!r} must start with "
                                 f"{chapter + '.'!r}, the name of its file checks_{chapter}.py")
            _cache.setdefault(check.id, check)
    return {k: v for k, v in _cache.items() if prefix is None or k.split(".")[0] == prefix}


def get_check(check_id: str) -> Check:
    if check_id not in _cache:
        all_checks(check_id.split(".")[0])
    if check_id not in _cache:
        raise KeyError(f"no check named {check_id!r}")
    return _cache[check_id]
