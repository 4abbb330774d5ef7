"""attn_ref.load_official_state_dict across module families: old checkpoints load, and a state
dict that does not fit names every missing, unexpected and mis-shaped key."""
import pytest
import torch

import attn_ref
from attn_ref.baselines import make_baseline
from attn_ref.official import StateDictMismatch

# kind -> (our module, a transcription with the published layout, its state dict keys to break)
KINDS = {
    "se": (lambda: attn_ref.SqueezeExcitation(32, reduction=4, bias=False),
           lambda: make_baseline("se", 32, reduction=4), "fc.0.weight", "fc.2.weight"),
    "eca": (lambda: attn_ref.ECA(32, k_size=3), lambda: make_baseline("eca", 32, k_size=3),
            "conv.weight", "conv.weight"),
    "cbam": (lambda: attn_ref.CBAM(32, reduction=4), lambda: make_baseline("cbam", 32, reduction=4),
             "ChannelGate.mlp.3.bias", "SpatialGate.spatial.conv.weight"),
    "ca": (lambda: attn_ref.CoordinateAttention(32, reduction=4),
           lambda: make_baseline("ca", 32, reduction=4), "conv_h.bias", "conv1.weight"),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_old_checkpoints_load_and_outputs_match(kind):
    make, published, _, _ = KINDS[kind]
    torch.manual_seed(5)
    pub = published().eval()
    sd = {k: v for k, v in pub.state_dict().items() if not k.endswith("num_batches_tracked")}
    ours = attn_ref.load_official_state_dict(make(), sd).eval()
    x = torch.randn(2, 32, 5, 6)
    torch.testing.assert_close(ours(x), pub(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_mismatch_names_every_bad_key(kind):
    make, published, drop, reshape = KINDS[kind]
    sd = dict(published().state_dict())
    sd.pop(drop)
    if reshape in sd:
        sd[reshape] = torch.zeros(tuple(sd[reshape].shape) + (2,))
    sd["extra.weight"] = torch.zeros(3)
    with pytest.raises(StateDictMismatch) as info:
        attn_ref.load_official_state_dict(make(), sd)
    msg = str(info.value)
    assert f"missing ['{drop}']" in msg and "unexpected ['extra.weight']" in msg
    if reshape != drop:
        assert f"mis-shaped ['{reshape}: published shape" in msg
    # either except clause catches it; a failed load copied nothing
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    fresh = make()
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    with pytest.raises(KeyError):
        attn_ref.load_official_state_dict(fresh, sd)
    assert all(torch.equal(before[k], v) for k, v in fresh.state_dict().items())
    # strict=False skips missing and unexpected keys, never a wrong shape
    if reshape != drop:
        with pytest.raises(ValueError, match="mis-shaped"):
            attn_ref.load_official_state_dict(make(), sd, strict=False)
