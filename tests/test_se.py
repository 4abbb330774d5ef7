"""attn_ref.SqueezeExcitation: hand-checkable values, odd shapes, dtypes, gradients, properties."""
import math

import numpy as np
import pytest
import torch

import attn_ref
from attn_ref.se import se_bottleneck, se_excitation, se_squeeze


def _se_numpy(x, w1, b1, w2, b2):
    """Eqs. (1)-(3) with plain loops, written independently of the module."""
    B, C, H, W = x.shape
    out = np.empty_like(x)
    for b in range(B):
        z = np.array([sum(x[b, c, i, j] for i in range(H) for j in range(W)) / (H * W)
                      for c in range(C)])
        hid = np.maximum(w1 @ z + (0 if b1 is None else b1), 0)
        s = 1 / (1 + np.exp(-(w2 @ hid + (0 if b2 is None else b2))))
        for c in range(C):
            out[b, c] = s[c] * x[b, c]
    return out


def _load(m, w1, b1, w2, b2):
    with torch.no_grad():
        m.fc1.weight.copy_(torch.as_tensor(w1)); m.fc2.weight.copy_(torch.as_tensor(w2))
        if b1 is not None:
            m.fc1.bias.copy_(torch.as_tensor(b1)); m.fc2.bias.copy_(torch.as_tensor(b2))
    return m


def test_hand_checkable_case():
    # C = 2, r = 2 -> one hidden unit. Channel means: 1.5 and -1.0 (see x below).
    x = torch.tensor([[[[1.0, 2.0], [1.0, 2.0]], [[-1.0, -1.0], [-1.0, -1.0]]]])
    m = _load(attn_ref.SqueezeExcitation(2, reduction=2), [[2.0, 1.0]], [0.0], [[1.0], [-1.0]],
              [0.0, 1.0])
    # hidden = relu(2*1.5 + 1*(-1)) = 2; pre-gate = (2, -2 + 1) = (2, -1)
    s = torch.tensor([1 / (1 + math.exp(-2)), 1 / (1 + math.exp(1))])
    out = m(x)
    torch.testing.assert_close(out, x * s[None, :, None, None])
    torch.testing.assert_close(m.maps["s"], s[None])


@pytest.mark.parametrize("shape,reduction,bias", [
    ((2, 16, 5, 7), 4, True), ((1, 12, 1, 1), 5, True), ((3, 7, 9, 2), 16, False),
    ((1, 1, 4, 4), 1, True), ((2, 30, 3, 1), 4, False)])
def test_matches_loop_reference_on_odd_shapes(shape, reduction, bias):
    rng = np.random.default_rng(sum(shape) + reduction)
    C = shape[1]
    h = max(1, C // reduction)
    x = rng.normal(size=shape)
    w1, w2 = rng.normal(size=(h, C)), rng.normal(size=(C, h))
    b1, b2 = (rng.normal(size=h), rng.normal(size=C)) if bias else (None, None)
    m = _load(attn_ref.SqueezeExcitation(C, reduction, bias=bias).double(), w1, b1, w2, b2)
    out = m(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(out, _se_numpy(x, w1, b1, w2, b2), rtol=1e-12, atol=1e-12)


def test_bottleneck_width_rounds_down_and_is_at_least_one():
    assert [se_bottleneck(c, r) for c, r in [(64, 16), (12, 5), (7, 16), (2048, 16)]] == [4, 2, 1, 128]
    with pytest.raises(ValueError):
        se_bottleneck(0, 16)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-6), (torch.float64, 1e-12),
                                       (torch.bfloat16, 2e-2)])
def test_dtypes_agree_with_float64(dtype, tol):
    torch.manual_seed(0)
    m = attn_ref.SqueezeExcitation(32, 8).double()
    x = torch.randn(2, 32, 6, 5, dtype=torch.float64)
    ref = m(x)
    out = m.to(dtype)(x.to(dtype))
    assert out.dtype == dtype
    torch.testing.assert_close(out.double(), ref, rtol=tol, atol=tol)


def test_channels_last_gives_the_same_values():
    torch.manual_seed(1)
    m = attn_ref.SqueezeExcitation(24, 4)
    x = torch.randn(2, 24, 7, 5)
    torch.testing.assert_close(m(x.contiguous(memory_format=torch.channels_last)), m(x))


def test_gradcheck_float64():
    torch.manual_seed(2)
    m = attn_ref.SqueezeExcitation(6, 3).double()
    x = torch.randn(2, 6, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: m(t), (x,))
    params = [p for p in m.parameters()]
    assert torch.autograd.gradcheck(
        lambda *ps: torch.func.functional_call(m, dict(zip([n for n, _ in m.named_parameters()], ps)), (x.detach(),)),
        tuple(p.detach().requires_grad_() for p in params))


def test_equivariant_to_spatial_permutations():
    torch.manual_seed(3)
    m = attn_ref.SqueezeExcitation(16, 4)
    x = torch.randn(3, 16, 5, 6)
    perm = torch.randperm(30)
    permute = lambda t: t.flatten(2)[:, :, perm].reshape_as(t)  # noqa: E731
    torch.testing.assert_close(m(permute(x)), permute(m(x)))


def test_zero_last_layer_gives_exactly_half():
    torch.manual_seed(4)
    m = attn_ref.SqueezeExcitation(16, 4)
    with torch.no_grad():
        m.fc2.weight.zero_(); m.fc2.bias.zero_()
    x = torch.randn(2, 16, 3, 3)
    assert torch.equal(m(x), x / 2)        # sigmoid(0) = 0.5 exactly in floating point


def test_gate_in_open_unit_interval_and_stored_without_graph():
    torch.manual_seed(5)
    m = attn_ref.SqueezeExcitation(8, 2)
    x = torch.randn(4, 8, 2, 3, requires_grad=True)
    m(x)
    s = m.maps["s"]
    assert s.shape == (4, 8) and not s.requires_grad
    assert ((s > 0) & (s < 1)).all()
    m.store_maps = False
    m(x)
    assert m.maps["s"] is s


def test_functional_pieces():
    x = torch.arange(24.0).reshape(1, 2, 3, 4)
    torch.testing.assert_close(se_squeeze(x), torch.tensor([[5.5, 17.5]]))
    with pytest.raises(ValueError):
        se_squeeze(torch.zeros(2, 3))
    z = torch.tensor([[1.0, -1.0]])
    s = se_excitation(z, torch.tensor([[1.0, 0.0]]), None, torch.tensor([[0.0], [3.0]]), None)
    torch.testing.assert_close(s, torch.tensor([[0.5, 1 / (1 + math.exp(-3))]]))


def test_loads_the_senet_pytorch_layout():
    torch.manual_seed(6)
    sd = {"fc.0.weight": torch.randn(4, 64), "fc.2.weight": torch.randn(64, 4)}
    m = attn_ref.load_official_state_dict(attn_ref.SqueezeExcitation(64, 16, bias=False), sd)
    x = torch.randn(2, 64, 3, 3)
    # the port: Linear(no bias) -> ReLU -> Linear(no bias) -> Sigmoid, on the pooled vector
    port = torch.nn.Sequential(torch.nn.Linear(64, 4, bias=False), torch.nn.ReLU(),
                               torch.nn.Linear(4, 64, bias=False), torch.nn.Sigmoid())
    port.load_state_dict({k.removeprefix("fc."): v for k, v in sd.items()})
    expected = x * port(x.mean((2, 3)))[:, :, None, None]
    torch.testing.assert_close(m(x), expected)
    with pytest.raises(KeyError):
        attn_ref.load_official_state_dict(attn_ref.SqueezeExcitation(64, 16, bias=False),
                                          {"fc.0.weight": sd["fc.0.weight"]})
    with pytest.raises(ValueError):
        attn_ref.load_official_state_dict(attn_ref.SqueezeExcitation(64, 8, bias=False), sd)
