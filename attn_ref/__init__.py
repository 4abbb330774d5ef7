"""attn_ref: reference implementations of the attention modules taught in attention-course.

Every module keeps the maps it applied on its last forward pass in ``module.maps`` (a dict of
detached tensors named as in the course notation: ``s`` for SE/ECA, ``M_c``/``M_s`` for CBAM,
``a_h``/``a_w`` for CA, ...), so chapters and tests can look at them without a second pass.

Public names are loaded lazily, so importing the package stays cheap and one module's import
error never hides another module.
"""
from importlib import import_module
from importlib.util import find_spec

__version__ = "0.1.0"

# public name -> submodule that defines it
_EXPORTS = {
    "SqueezeExcitation": "se",
    "se_squeeze": "se",
    "se_excitation": "se",
    "eca_kernel_size": "eca",
    "ECA": "eca",
    "ChannelAttention": "cbam",
    "SpatialAttention": "cbam",
    "CBAM": "cbam",
    "CoordinateAttention": "coord",
    "HSwish": "coord",
    "CrissCrossAttention": "ccnet",
    "GAM": "gam",
    "load_official_state_dict": "official",
    "reference_mode": "reference",
    "eca_resnet50_kernels": "eca",
}

_SUBMODULES = ("se", "eca", "cbam", "cbam_fast", "coord", "coord_fast", "ccnet", "gam", "official",
               "models", "complexity", "data", "plots", "grading", "profiling", "kinds",
               "reference", "baselines", "fused_cpu")

# what only the course's chapters and grading use: in the course's installation (the
# repository's pyproject.toml), not in the practitioner distribution (packaging/attn-ref)
COURSE_ONLY = ("grading", "plots", "data", "profiling")

__all__ = sorted(_EXPORTS) + [
    name for name in ("complexity", "grading", "plots", "models", "data", "profiling", "kinds",
                      "reference")
    if name not in COURSE_ONLY or find_spec(f"{__name__}.{name}") is not None]


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        if name in COURSE_ONLY and find_spec(f"{__name__}.{name}") is None:
            raise ModuleNotFoundError(
                f"attn_ref.{name} belongs to the course (attention-course), not to the attn-ref "
                f"distribution installed here, which holds the modules alone; install the "
                f"course's repository (pip install -e . in a clone) to use it",
                name=f"{__name__}.{name}")
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module 'attn_ref' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
