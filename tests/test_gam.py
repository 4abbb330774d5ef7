"""Tests for attn_ref.gam: Global Attention Mechanism (arXiv 2112.05561)."""
import numpy as np
import pytest
import torch

from attn_ref import GAM

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def make_gam(C, rate=4, seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    m = GAM(C, rate=rate)
    with torch.no_grad():
        for bn in (m.spatial_attention[1], m.spatial_attention[4]):
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
            bn.running_mean.uniform_(-0.2, 0.2)
            bn.running_var.uniform_(0.5, 2.0)
    return m.to(device=DEVICE, dtype=dtype)


def rand(*shape, seed=1, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).to(device=DEVICE, dtype=dtype)


# ---------------------------------------------------------------------------------------------
# Independent numpy reference

def np_sigmoid(t):
    return 1.0 / (1.0 + np.exp(-t))


def np_conv7(x, weight, bias):
    """'Same' 7x7 cross-correlation by summing 49 shifted copies of the zero-padded input."""
    B, C, H, W = x.shape
    padded = np.zeros((B, C, H + 6, W + 6))
    padded[:, :, 3:3 + H, 3:3 + W] = x
    out = np.zeros((B, weight.shape[0], H, W)) + bias[None, :, None, None]
    for i in range(7):
        for j in range(7):
            window = padded[:, :, i:i + H, j:j + W]                        # (B, C, H, W)
            out += np.einsum("oc,bchw->bohw", weight[:, :, i, j], window)
    return out


def np_bn(t, p, prefix, train):
    if train:
        mean = t.mean(axis=(0, 2, 3))
        var = t.var(axis=(0, 2, 3))                    # biased, as BatchNorm normalises
    else:
        mean, var = p[prefix + "running_mean"], p[prefix + "running_var"]
    t = (t - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
    return t * p[prefix + "weight"][None, :, None, None] + p[prefix + "bias"][None, :, None, None]


def gam_reference(module, x, train):
    """Returns (F3, M_c, M_s) as float64 arrays."""
    p = {k: v.detach().double().cpu().numpy() for k, v in module.state_dict().items()}
    x = x.detach().double().cpu().numpy()
    B, C, H, W = x.shape
    m_c = np.empty_like(x)
    for b in range(B):                                 # the MLP, one position at a time
        for h in range(H):
            for w in range(W):
                hidden = np.maximum(p["channel_attention.0.weight"] @ x[b, :, h, w]
                                    + p["channel_attention.0.bias"], 0.0)
                m_c[b, :, h, w] = np_sigmoid(p["channel_attention.2.weight"] @ hidden
                                             + p["channel_attention.2.bias"])
    f2 = x * m_c
    t = np_conv7(f2, p["spatial_attention.0.weight"], p["spatial_attention.0.bias"])
    t = np.maximum(np_bn(t, p, "spatial_attention.1.", train), 0.0)
    t = np_conv7(t, p["spatial_attention.3.weight"], p["spatial_attention.3.bias"])
    m_s = np_sigmoid(np_bn(t, p, "spatial_attention.4.", train))
    return f2 * m_s, m_c, m_s


# ---------------------------------------------------------------------------------------------

def test_structure_and_widths():
    m = GAM(16)
    assert m.hidden == 4
    assert m.channel_attention[0].weight.shape == (4, 16)
    assert m.channel_attention[2].weight.shape == (16, 4)
    assert m.spatial_attention[0].weight.shape == (4, 16, 7, 7)
    assert m.spatial_attention[3].weight.shape == (16, 4, 7, 7)
    assert m.spatial_attention[1].num_features == 4 and m.spatial_attention[4].num_features == 16
    assert GAM(5, rate=4).hidden == 1 and GAM(3, rate=8).hidden == 1


def test_hand_checkable_zero_weights():
    """All weights and biases zero: M_c = sigmoid(0) = 1/2 everywhere. In eval mode with unit
    running variance, zero mean, unit BN weight and zero BN bias, the spatial branch gives
    BN(0) = 0 so M_s = 1/2 too: F3 = x / 4."""
    m = GAM(4, rate=2).double().to(DEVICE).eval()
    with torch.no_grad():
        for layer in (m.channel_attention[0], m.channel_attention[2], m.spatial_attention[0],
                      m.spatial_attention[3]):
            layer.weight.zero_()
            layer.bias.zero_()
    x = torch.arange(2 * 4 * 2 * 3, dtype=torch.float64, device=DEVICE).reshape(2, 4, 2, 3) - 20
    y = m(x)
    assert torch.allclose(y, x / 4, atol=1e-12), f"expected {x / 4}, got {y}"
    assert torch.allclose(m.maps["M_c"], torch.full_like(x, 0.5))
    assert torch.allclose(m.maps["M_s"], torch.full_like(x, 0.5))


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("shape, rate", [
    ((2, 4, 5, 5), 2), ((1, 5, 3, 7), 4), ((3, 6, 2, 1), 3), ((2, 3, 1, 1), 4), ((1, 8, 9, 4), 8),
])
def test_matches_numpy_reference(shape, rate, train):
    if train and shape[0] * shape[2] * shape[3] == 1:
        pytest.skip("BatchNorm cannot train on one value per channel")
    m = make_gam(shape[1], rate=rate, seed=sum(shape)).train(train)
    x = rand(*shape, seed=shape[1] * 7 + shape[2])
    y = m(x)
    ref, m_c, m_s = gam_reference(m, x, train)
    assert y.shape == x.shape
    np.testing.assert_allclose(y.detach().cpu().numpy(), ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(m.maps["M_c"].cpu().numpy(), m_c, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(m.maps["M_s"].cpu().numpy(), m_s, rtol=1e-9, atol=1e-12)


def test_batch_one_one_by_one_in_eval_mode():
    m = make_gam(3, rate=4, seed=2).eval()
    x = rand(1, 3, 1, 1, seed=3)
    y = m(x)
    ref, _, _ = gam_reference(m, x, train=False)
    np.testing.assert_allclose(y.detach().cpu().numpy(), ref, rtol=1e-9, atol=1e-12)


class MapSquaredGAM(GAM):
    """The circulating bug: the spatial map multiplies itself instead of F2."""

    def forward(self, x):
        m_c = self.channel_map(x)
        m_s = self.spatial_map(x * m_c)
        self.maps = {"M_c": m_c.detach(), "M_s": m_s.detach()}
        return m_s * m_s


class SpatialFromInputGAM(GAM):
    """Another wrong wiring: the spatial map is computed from F1 instead of F2."""

    def forward(self, x):
        m_c = self.channel_map(x)
        m_s = self.spatial_map(x)
        self.maps = {"M_c": m_c.detach(), "M_s": m_s.detach()}
        return x * m_c * m_s


def wiring_is_right(m, seed):
    """Checks that any correct GAM passes: F3 = x * M_c * M_s, M_s is computed from F2 = x * M_c,
    and a zero input gives a zero output."""
    x = rand(2, 6, 4, 5, seed=seed)
    y = m(x)
    m_c, m_s = m.maps["M_c"], m.maps["M_s"]
    with torch.no_grad():
        ok = torch.allclose(y, x * m_c * m_s, atol=1e-12)
        ok &= torch.allclose(m_s, torch.sigmoid(m.spatial_attention(x * m_c)), atol=1e-12)
        ok &= bool(torch.equal(m(torch.zeros_like(x)), torch.zeros_like(x)))
    return bool(ok)


def test_spatial_map_is_computed_from_and_multiplies_f2():
    for cls in (GAM, MapSquaredGAM, SpatialFromInputGAM):
        m = make_gam(6, rate=2, seed=4)
        m.__class__ = cls
        assert wiring_is_right(m.eval(), seed=5) == (cls is GAM), cls.__name__


@pytest.mark.parametrize("dtype, rtol, atol", [(torch.float32, 1e-5, 1e-6),
                                               (torch.bfloat16, 5e-2, 5e-2)])
@pytest.mark.parametrize("train", [True, False])
def test_low_precision_close_to_float64(dtype, rtol, atol, train):
    m64 = make_gam(8, rate=4, seed=8).train(train)
    m = make_gam(8, rate=4, seed=8, dtype=dtype).train(train)
    x = rand(2, 8, 5, 6, seed=9)
    y = m(x.to(dtype))
    assert y.dtype == dtype
    assert torch.allclose(y.double(), m64(x), rtol=rtol, atol=atol)


@pytest.mark.parametrize("train", [True, False])
def test_channels_last_same_output(train):
    m = make_gam(8, rate=2, seed=10, dtype=torch.float32).train(train)
    x = rand(2, 8, 5, 7, seed=11, dtype=torch.float32)
    y = m(x)
    maps = dict(m.maps)
    yc = m(x.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(y, yc, rtol=1e-5, atol=1e-6)
    for k in ("M_c", "M_s"):
        assert torch.allclose(maps[k], m.maps[k], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("train", [True, False])
def test_gradcheck_float64_input_and_parameters(train):
    m = make_gam(2, rate=2, seed=12).train(train)
    names = [n for n, _ in m.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for _, p in m.named_parameters())
    x = rand(2, 2, 3, 2, seed=13).requires_grad_()

    def f(x, *ps):
        return torch.func.functional_call(m, dict(zip(names, ps)), (x,))

    assert torch.autograd.gradcheck(f, (x,) + params, fast_mode=True)
    assert torch.autograd.gradcheck(m, (x,))


def test_every_gate_in_open_unit_interval_and_maps_detached():
    m = make_gam(8, rate=2, seed=14)
    x = rand(2, 8, 4, 4, seed=15).requires_grad_()
    m(x)
    for name in ("M_c", "M_s"):
        a = m.maps[name]
        assert a.shape == x.shape and not a.requires_grad
        assert (a > 0).all() and (a < 1).all(), name


def test_wrong_input_channels_raise():
    with pytest.raises(ValueError):
        GAM(8)(torch.randn(1, 4, 3, 3))
