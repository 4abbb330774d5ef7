"""The speed-oriented code paths of CA and CBAM (hand-written kernels, custom backward passes, the
optional torch.compile path) give the same values and gradients as the straightforward
transcriptions of the published code in attn_ref.baselines, loaded with the same weights."""
import pytest
import torch

import attn_ref
from attn_ref import coord, coord_fast
from attn_ref.baselines import CABaseline, CBAMBaseline


def rand(*shape, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype)


def randomize_bn(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                for t, lo, hi in ((m.weight, 0.5, 1.5), (m.bias, -0.5, 0.5),
                                  (m.running_mean, -0.3, 0.3), (m.running_var, 0.5, 2.0)):
                    t.copy_(torch.rand(t.shape, generator=g, dtype=t.dtype) * (hi - lo) + lo)


def pair(kind, C, dtype=torch.float64, **kw):
    torch.manual_seed(3)
    if kind == "ca":
        base, ours = CABaseline(C, reduction=4), attn_ref.CoordinateAttention(C, reduction=4, **kw)
    else:
        base, ours = CBAMBaseline(C, reduction=4), attn_ref.CBAM(C, reduction=4, **kw)
    randomize_bn(base)
    attn_ref.load_official_state_dict(ours, base.state_dict())
    return ours.to(dtype), base.to(dtype)


def outputs_and_grads(m, x, v):
    x = x.detach().clone().requires_grad_()
    y = m(x)
    params = [p for p in m.parameters()]
    grads = torch.autograd.grad(y, [x] + params, v)
    return y.detach(), grads


@pytest.fixture
def small_blocks(monkeypatch):
    """Make _gate_grads work through several blocks even on test-sized tensors."""
    monkeypatch.setattr(coord_fast, "_BLOCK_BYTES", 3 * 5 * 7 * 8 * 2)


@pytest.mark.parametrize("kind", ["ca", "cbam"])
@pytest.mark.parametrize("train", [False, True])
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_equal_to_baseline_values_and_gradients(kind, train, layout, small_blocks):
    ours, base = pair(kind, 16)
    ours.train(train), base.train(train)
    x = rand(3, 16, 5, 7, seed=1)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    v = rand(3, 16, 5, 7, seed=2)
    with torch.no_grad():
        y_inf, y_base_inf = ours(x), base(x)
    assert torch.allclose(y_inf, y_base_inf, rtol=1e-12, atol=1e-12)
    y, g = outputs_and_grads(ours, x, v)
    yb, gb = outputs_and_grads(base, x, v)
    assert torch.allclose(y, yb, rtol=1e-12, atol=1e-12)
    for a, b in zip(g, gb):
        assert a.shape == b.shape
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)
    if train:   # both moved their BatchNorm statistics the same way (three passes each)
        for (n, a), (_, b) in zip(ours.named_buffers(), base.named_buffers()):
            assert torch.allclose(a.double(), b.double(), rtol=1e-12, atol=1e-12), n


def test_ca_kernels_match_broadcast_formulas(small_blocks):
    x, g = rand(2, 3, 5, 7, seed=4), rand(2, 3, 5, 7, seed=5)
    a_h, a_w = torch.rand(2, 3, 5, 1, dtype=torch.float64), torch.rand(2, 3, 1, 7, dtype=torch.float64)
    z_h, z_w = coord_fast._means_nchw(x)
    assert torch.allclose(z_h, x.mean(3, keepdim=True), atol=1e-14)
    assert torch.allclose(z_w, x.mean(2, keepdim=True), atol=1e-14)
    assert torch.allclose(coord_fast._outer_times(x, a_h, a_w), x * a_h * a_w, atol=1e-14)
    d_h, d_w = coord_fast._gate_grads(g, x, a_h, a_w, True, True)
    assert torch.allclose(d_h, (g * x * a_w).sum(3, keepdim=True), atol=1e-13)
    assert torch.allclose(d_w, (g * x * a_h).sum(2, keepdim=True), atol=1e-13)
    only_w = coord_fast._gate_grads(g, x, a_h, a_w, False, True)
    assert only_w[0] is None and torch.allclose(only_w[1], d_w)


def test_ca_custom_backward_gradcheck_float64(small_blocks):
    """gradcheck of the two autograd Functions on NCHW input (the layout their fast paths
    take), several blocks per call."""
    x = rand(2, 3, 4, 5, seed=6).requires_grad_()
    a_h = torch.rand(2, 3, 4, 1, dtype=torch.float64).requires_grad_()
    a_w = torch.rand(2, 3, 1, 5, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(coord.scale_hw, (x, a_h, a_w))
    assert torch.autograd.gradcheck(coord.directional_means, (x,))


@pytest.mark.parametrize("kind", ["ca", "cbam"])
def test_low_precision_matches_float32(kind):
    ours32, _ = pair(kind, 16, dtype=torch.float32)
    ours16, _ = pair(kind, 16, dtype=torch.bfloat16)
    x = rand(2, 16, 6, 6, seed=7, dtype=torch.float32)
    with torch.no_grad():
        ours32.eval(), ours16.eval()
        y32, y16 = ours32(x), ours16(x.bfloat16())
    assert y16.dtype == torch.bfloat16
    assert torch.allclose(y16.float(), y32, rtol=3e-2, atol=3e-2)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["ca", "cbam"])
def test_compiled_option_matches_eager(kind):
    """``fused="compile"`` (torch.compile, inductor) gives the eager values, gradients and maps.
    Marked slow: compiling takes tens of seconds on the course machine."""
    eager, _ = pair(kind, 16, dtype=torch.float32)
    fused, _ = pair(kind, 16, dtype=torch.float32, fused="compile")
    x, v = rand(3, 16, 5, 7, seed=8, dtype=torch.float32), rand(3, 16, 5, 7, seed=9,
                                                               dtype=torch.float32)
    for train in (False, True):
        eager.train(train), fused.train(train)
        with torch.no_grad():
            assert torch.allclose(fused(x), eager(x), rtol=1e-5, atol=1e-6)
        for a, b in zip(fused.maps.values(), eager.maps.values()):
            assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)
        y, g = outputs_and_grads(fused, x, v)
        ye, ge = outputs_and_grads(eager, x, v)
        assert torch.allclose(y, ye, rtol=1e-5, atol=1e-6)
        for a, b in zip(g, ge):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_cbam_pooling_functions_gradcheck_float64(layout):
    from attn_ref.cbam_fast import _AvgMaxHW, _MaxMeanC
    x = rand(2, 3, 4, 5, seed=10)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    assert torch.autograd.gradcheck(_AvgMaxHW.apply, (x,))
    assert torch.autograd.gradcheck(lambda t: _MaxMeanC.apply(t)[:2], (x,))
    assert torch.autograd.gradgradcheck(_AvgMaxHW.apply, (x,))
    assert torch.autograd.gradgradcheck(lambda t: _MaxMeanC.apply(t)[:2], (x,))
    # one output used at a time
    for i in range(2):
        (g,) = torch.autograd.grad(_AvgMaxHW.apply(x)[i].sum(), x)
        (ge,) = torch.autograd.grad(
            (x.mean((2, 3)), x.flatten(2).max(2).values)[i].sum(), x)
        assert torch.allclose(g, ge, atol=1e-14)


@pytest.mark.parametrize("train", [False, True])
def test_cbam_gradient_at_exact_ties_matches_official(train):
    """Inputs with many equal values (a ReLU's zeros, constant blocks): like the official code's
    max_pool2d and torch.max, the whole gradient goes to the first maximum."""
    ours, base = pair("cbam", 8)
    ours.train(train), base.train(train)
    x = torch.relu(rand(2, 8, 4, 6, seed=11)).round()     # values 0, 1, 2: ties everywhere
    x[:, :, :2] = 1.0
    v = rand(2, 8, 4, 6, seed=12)
    y, g = outputs_and_grads(ours, x, v)
    yb, gb = outputs_and_grads(base, x, v)
    assert torch.allclose(y, yb, rtol=1e-12, atol=1e-12)
    for a, b in zip(g, gb):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)
