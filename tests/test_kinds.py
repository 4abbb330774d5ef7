"""attn_ref.kinds: one registry of module kinds, read by networks, cost functions, the official
loader, profiling and the bench; one constructor vocabulary with documented aliases."""
import pytest
import torch

import attn_ref
from attn_ref import baselines, complexity, kinds, models, profiling


def test_every_module_file_registers_one_kind():
    entries = kinds.all_kinds()
    assert list(entries) == ["se", "eca", "cbam", "ca", "ccnet", "gam"]
    classes = [k.cls for k in entries.values()]
    assert classes == [attn_ref.SqueezeExcitation, attn_ref.ECA, attn_ref.CBAM,
                       attn_ref.CoordinateAttention, attn_ref.CrissCrossAttention, attn_ref.GAM]
    spellings = [s for k in entries.values() for s in k.spellings()]
    assert len(spellings) == len(set(spellings))           # no spelling names two kinds


@pytest.mark.parametrize("spelling", ["ca", "CA", "coord", "CoordAtt", "coordinate_attention",
                                      "CoordinateAttention", " Coord "])
def test_ca_spellings(spelling):
    assert kinds.get(spelling).name == "ca"
    assert isinstance(models.make_attention(spelling, 32), attn_ref.CoordinateAttention)


def test_unknown_kind_names_the_known_ones():
    with pytest.raises(ValueError, match="'bam'.*'se', 'eca', 'cbam', 'ca', 'ccnet', 'gam'"):
        kinds.get("bam")
    with pytest.raises(TypeError, match="not a registered attention module"):
        kinds.of(torch.nn.Conv2d(1, 1, 1))
    with pytest.raises(ValueError, match="no closed-form cost"):
        complexity.module_cost("ccnet", 16, 4, 4)
    with pytest.raises(TypeError, match="no published layout"):
        attn_ref.load_official_state_dict(attn_ref.GAM(16), {})


# shared vocabulary: (kind, keyword arguments, the same through the alias, attribute -> value)
VOCABULARY = [
    ("eca", {"kernel_size": 5}, {"k_size": 5}, {"kernel_size": 5, "k_size": 5}),
    ("cbam", {"kernel_size": 3}, {"spatial_kernel": 3}, {"kernel_size": 3}),
    ("gam", {"reduction": 2}, {"rate": 2}, {"reduction": 2, "rate": 2, "hidden": 8}),
    ("ca", {"channels": 16}, {"in_channels": 16}, {"channels": 16, "in_channels": 16}),
]


@pytest.mark.parametrize("kind, shared, published, attrs", VOCABULARY)
def test_shared_names_and_aliases_build_the_same_module(kind, shared, published, attrs):
    cls = kinds.get(kind).cls
    args = () if "channels" in shared else (16,)
    a, b = cls(*args, **shared), cls(*args, **published)
    for name, value in attrs.items():
        assert getattr(a, name) == getattr(b, name) == value, name
    assert [p.shape for p in a.parameters()] == [p.shape for p in b.parameters()]
    if kind == "cbam":
        assert a.spatial.conv.weight.shape == (1, 2, 3, 3)
    # the same value twice is fine; two different values are refused
    cls(*args, **shared, **published)
    (name, value), = published.items()
    with pytest.raises(TypeError, match="alias"):
        cls(*args, **shared, **{name: value + 2})


@pytest.mark.parametrize("kind", ["se", "eca", "cbam", "ca", "ccnet", "gam"])
def test_channels_and_reduction_everywhere(kind):
    """Every kind takes ``channels`` first and positionally; those with a bottleneck take
    ``reduction``."""
    m = kinds.build(kind, 32)
    assert m.channels == 32
    if kind != "eca":
        assert kinds.build(kind, 32, reduction=4).reduction == 4


@pytest.mark.parametrize("kind", ["se", "eca", "cbam", "ca", "gam"])
@pytest.mark.parametrize("C", [16, 96])
def test_registered_closed_forms_count_the_registered_class(kind, C):
    entry = kinds.get(kind)
    m = entry.build(C)
    assert entry.params(C) == complexity.count_params(m)
    layers = entry.macs(C, 5, 6, layers_only=True)
    assert layers == complexity.count_macs(m, (C, 5, 6))


@pytest.mark.parametrize("kind", ["se", "eca", "cbam", "ca"])
def test_registered_baseline_and_loader_agree(kind):
    """The registered baseline, in the module's configuration, loads into it by the registered
    loader and computes the same function (what profiling and the bench rely on)."""
    ours, base = profiling.module_pair(kind, 32)
    assert type(ours) is kinds.get(kind).cls
    x = torch.randn(2, 32, 5, 6)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), base(x), rtol=1e-5, atol=1e-6)
    again = baselines.make_baseline(kind, 32, **kinds.get(kind).published_kwargs)
    assert type(again) is type(base)
    assert {k: v.shape for k, v in again.state_dict().items()} == \
        {k: v.shape for k, v in base.state_dict().items()}


@pytest.mark.parametrize("kind, shared, own", [
    ("se", {"reduction": 4}, {"r": 4}), ("cbam", {"reduction": 4, "kernel_size": 3},
                                         {"r": 4, "spatial_kernel": 3}),
    ("eca", {"kernel_size": 5}, {"k": 5}), ("gam", {"reduction": 2}, {"rate": 2}),
    ("ca", {"reduction": 4}, {"reduction": 4})])
def test_module_cost_speaks_the_constructor_vocabulary(kind, shared, own):
    C, H, W = 64, 6, 5
    cost = complexity.module_cost(kind, C, H, W, **shared)
    assert cost == complexity.module_cost(kind, C, H, W, **own)
    module = kinds.build(kind, C, **shared)
    assert cost["params"] == complexity.count_params(module)
    assert cost["layer_macs"] == complexity.count_macs(module, (C, H, W))
    if kind == "se":
        with pytest.raises(TypeError, match="kernel_size"):
            complexity.module_cost(kind, C, H, W, kernel_size=3)
        with pytest.raises(TypeError, match="disagree"):
            complexity.module_cost(kind, C, H, W, reduction=4, r=8)


def test_traffic_model_is_registered_with_each_timed_kind():
    # the floors and goals the bench prints, written out from bench/README.md's pass counts
    # (SE, ECA, CA: pool once, then read and write once = 3 passes of x, 1.5 copies; CBAM one
    # more pooling pass, 2 copies) and the goals
    want = {"se": (1.5, 1.8), "eca": (1.5, 1.8), "cbam": (2.0, 4.0), "ca": (1.5, 2.5)}
    got = {name: (kinds.get(name).traffic.floor(), kinds.get(name).traffic.speed_goal)
           for name in profiling.KINDS}
    assert got == want
    # profiling reads the registry, so any spelling of a kind works; a kind without a model fails
    B, C, H, W = 2, 8, 5, 3
    assert profiling.min_bytes("CoordAtt", B, C, H, W) == profiling.min_bytes("ca", B, C, H, W)
    # CA by hand: read x (240 elements), then read x, a^h (80), a^w (48) and write y
    assert profiling.min_bytes("ca", B, C, H, W) == 4 * (240 + 240 + 80 + 48 + 240)
    with pytest.raises(ValueError, match="no memory-traffic model"):
        profiling.min_bytes("gam", B, C, H, W)
