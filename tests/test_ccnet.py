"""Tests for attn_ref.ccnet: criss-cross attention (CCNet, arXiv 1811.11721)."""
import pytest
import torch

from attn_ref import CrissCrossAttention

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def make_cca(C, reduction=8, recurrence=1, gamma=0.7, seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    m = CrissCrossAttention(C, reduction=reduction, recurrence=recurrence)
    with torch.no_grad():
        m.gamma.fill_(gamma)
    return m.to(device=DEVICE, dtype=dtype)


def rand(*shape, seed=1, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).to(device=DEVICE, dtype=dtype)


def conv1x1(conv, x):
    """A 1x1 convolution as a matrix product over the channel axis (B, N, C_in) -> (B, N, C_out)."""
    return x @ conv.weight[:, :, 0, 0].T + conv.bias


def dense_reference(m, x):
    """One criss-cross pass written as masked dense attention over all H W positions.

    Returns (output (B, C, H, W), attention (B, N, N)) with positions flattened as n = h W + w.
    """
    B, C, H, W = x.shape
    N = H * W
    tokens = x.permute(0, 2, 3, 1).reshape(B, N, C)
    q, k, v = conv1x1(m.query_conv, tokens), conv1x1(m.key_conv, tokens), conv1x1(m.value_conv,
                                                                                    tokens)
    rows = torch.arange(N, device=x.device) // W
    cols = torch.arange(N, device=x.device) % W
    cross = (rows[:, None] == rows[None, :]) | (cols[:, None] == cols[None, :])   # (N, N)
    energy = q @ k.transpose(1, 2)                                                # (B, N, N)
    energy = energy.masked_fill(~cross, float("-inf"))
    att = torch.softmax(energy, dim=-1)
    out = tokens + m.gamma * (att @ v)
    return out.reshape(B, H, W, C).permute(0, 3, 1, 2), att


def dense_to_compact(att, H, W):
    """Reorder a dense (B, N, N) criss-cross attention into the module's (B, H, W, H + W - 1)."""
    B = att.shape[0]
    out = torch.empty(B, H, W, H + W - 1, dtype=att.dtype)
    for h in range(H):
        for w in range(W):
            u = h * W + w
            column = [att[:, u, h2 * W + w] for h2 in range(H) if h2 != h]
            row = [att[:, u, h * W + w2] for w2 in range(W)]
            out[:, h, w] = torch.stack(column + row, dim=-1)
    return out


# ---------------------------------------------------------------------------------------------

def test_shapes_and_defaults():
    m = CrissCrossAttention(64)
    assert m.recurrence == 2
    assert m.query_conv.weight.shape == m.key_conv.weight.shape == (8, 64, 1, 1)
    assert m.value_conv.weight.shape == (64, 64, 1, 1)
    assert m.gamma.shape == (1,) and m.gamma.item() == 0.0
    assert CrissCrossAttention(5).qk_channels == 1          # C not divisible by r: at least one


def test_hand_checkable_uniform_attention():
    """Zero queries: every affinity is 0, so each position averages the values on its cross
    (H + W - 1 of them). With an identity value projection and gamma = 1:
    y_u = x_u + mean of x over the cross of u."""
    m = make_cca(2, reduction=1, gamma=1.0)
    with torch.no_grad():
        m.query_conv.weight.zero_()
        m.query_conv.bias.zero_()
        m.value_conv.weight.copy_(torch.eye(2)[:, :, None, None])
        m.value_conv.bias.zero_()
    H, W = 2, 3
    x = torch.arange(2 * H * W, dtype=torch.float64).reshape(1, 2, H, W).to(DEVICE)
    y = m(x)
    expected = torch.empty_like(x)
    for c in range(2):
        for h in range(H):
            for w in range(W):
                cross = [x[0, c, h, j].item() for j in range(W)]
                cross += [x[0, c, i, w].item() for i in range(H) if i != h]
                expected[0, c, h, w] = x[0, c, h, w] + sum(cross) / len(cross)
    assert torch.allclose(y, expected, atol=1e-12), f"expected {expected}, got {y}"
    assert torch.allclose(m.maps["attention"], torch.full((1, H, W, H + W - 1), 0.25,
                                                          dtype=torch.float64, device=DEVICE))


@pytest.mark.parametrize("shape, reduction", [
    ((2, 8, 3, 4), 2), ((1, 5, 4, 4), 8), ((2, 6, 1, 5), 2), ((1, 4, 5, 1), 1), ((3, 3, 2, 2), 2),
])
def test_single_pass_matches_dense_masked_softmax(shape, reduction):
    B, C, H, W = shape
    m = make_cca(C, reduction=reduction, recurrence=1, seed=C + H)
    x = rand(*shape, seed=H * W)
    y = m(x)
    ref, att = dense_reference(m, x)
    assert torch.allclose(y, ref, rtol=1e-10, atol=1e-12)
    compact = m.maps["attention"]
    assert compact.shape == (B, H, W, H + W - 1)
    assert torch.allclose(compact.cpu(), dense_to_compact(att.detach().cpu(), H, W), atol=1e-12)
    assert "attention_passes" not in m.maps


def test_two_passes_match_dense_reference_twice():
    m = make_cca(6, reduction=2, recurrence=2, seed=3)
    x = rand(2, 6, 3, 5, seed=4)
    y = m(x)
    ref, _ = dense_reference(m, x)
    ref, att2 = dense_reference(m, ref)
    assert torch.allclose(y, ref, rtol=1e-10, atol=1e-12)
    assert m.maps["attention_passes"].shape == (2, 2, 3, 5, 3 + 5 - 1)
    assert torch.equal(m.maps["attention_passes"][-1], m.maps["attention"])
    assert torch.allclose(m.maps["attention"].cpu(), dense_to_compact(att2.detach().cpu(), 3, 5),
                          atol=1e-12)


@pytest.mark.parametrize("recurrence", [1, 2, 3])
def test_attention_rows_sum_to_one(recurrence):
    m = make_cca(8, reduction=2, recurrence=recurrence, seed=5)
    m(rand(2, 8, 4, 6, seed=6) * 4)
    for a in m.maps.get("attention_passes", m.maps["attention"][None]):
        assert a.shape == (2, 4, 6, 4 + 6 - 1)
        assert (a >= 0).all()
        assert torch.allclose(a.sum(-1), torch.ones(2, 4, 6, dtype=a.dtype, device=DEVICE),
                              atol=1e-12)


def test_one_by_one_map_attends_only_to_itself():
    m = make_cca(4, reduction=2, recurrence=2, gamma=0.5, seed=7)
    x = rand(1, 4, 1, 1, seed=8)
    y = m(x)
    assert torch.allclose(m.maps["attention"], torch.ones(1, 1, 1, 1, dtype=torch.float64,
                                                          device=DEVICE))
    # each pass adds gamma times the value of the (single) position
    v = lambda t: m.value_conv(t)
    step1 = x + 0.5 * v(x)
    assert torch.allclose(y, step1 + 0.5 * v(step1), atol=1e-12)


def test_gamma_zero_is_identity():
    torch.manual_seed(9)
    m = CrissCrossAttention(8, reduction=2).double().to(DEVICE)     # gamma initialised to 0
    x = rand(2, 8, 3, 5, seed=10)
    assert torch.equal(m(x), x)


@pytest.mark.parametrize("recurrence, reaches", [(1, False), (2, True)])
def test_two_passes_reach_every_pixel(recurrence, reaches):
    H, W = 4, 5
    m = make_cca(4, reduction=2, recurrence=recurrence, gamma=1.0, seed=11)
    x = rand(1, 4, H, W, seed=12).requires_grad_()
    y = m(x)
    (g,) = torch.autograd.grad(y[0, :, 0, 0].sum(), x)
    far = g[0, :, H - 1, W - 1].abs().max().item()        # neither on row 0 nor on column 0
    assert (far > 1e-8) == reaches, f"|d y(0,0) / d x(H-1,W-1)| = {far}"
    # pixels on the cross of (0, 0) are always reached
    assert g[0, :, 0, W - 1].abs().max() > 1e-8 and g[0, :, H - 1, 0].abs().max() > 1e-8
    if not reaches:
        off_cross = g[0, :, 1:, 1:]
        assert torch.equal(off_cross, torch.zeros_like(off_cross))


@pytest.mark.parametrize("dtype, rtol, atol", [(torch.float32, 1e-5, 1e-5),
                                               (torch.bfloat16, 5e-2, 1e-1)])
def test_low_precision_close_to_float64(dtype, rtol, atol):
    m64 = make_cca(16, reduction=4, recurrence=2, seed=13)
    m = make_cca(16, reduction=4, recurrence=2, seed=13, dtype=dtype)
    x = rand(2, 16, 5, 3, seed=14)
    y = m(x.to(dtype))
    assert y.dtype == dtype and m.maps["attention"].dtype == dtype
    assert torch.allclose(y.double(), m64(x), rtol=rtol, atol=atol)


def test_channels_last_same_output():
    m = make_cca(12, reduction=4, recurrence=2, seed=15, dtype=torch.float32)
    x = rand(2, 12, 4, 6, seed=16, dtype=torch.float32)
    y = m(x)
    a = m.maps["attention"]
    yc = m(x.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(y, yc, rtol=1e-5, atol=1e-6)
    assert torch.allclose(a, m.maps["attention"], rtol=1e-5, atol=1e-7)


def test_gradcheck_float64_input_and_parameters():
    m = make_cca(4, reduction=2, recurrence=2, gamma=0.6, seed=17)
    names = [n for n, _ in m.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for _, p in m.named_parameters())
    x = rand(1, 4, 2, 3, seed=18).requires_grad_()

    def f(x, *ps):
        return torch.func.functional_call(m, dict(zip(names, ps)), (x,))

    assert torch.autograd.gradcheck(f, (x,) + params)


def test_wrong_input_channels_raise():
    with pytest.raises(ValueError):
        CrissCrossAttention(8)(torch.randn(1, 4, 3, 3))
    with pytest.raises(ValueError):
        CrissCrossAttention(8, recurrence=0)
