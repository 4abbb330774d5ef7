"""Tests for attn_ref.coord: Coordinate Attention (Hou, Zhou, Feng, CVPR 2021)."""
import numpy as np
import pytest
import torch
from torch import nn
import torch.nn.functional as F

import attn_ref
from attn_ref import CoordinateAttention, HSwish
from attn_ref.coord import ca_bottleneck, directional_means, scale_hw

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def make_ca(C, reduction=32, seed=0, dtype=torch.float64, randomize_bn=True):
    """A CA block with random weights and (optionally) random BatchNorm statistics and affine."""
    torch.manual_seed(seed)
    m = CoordinateAttention(C, reduction=reduction)
    if randomize_bn:
        with torch.no_grad():
            m.bn1.weight.uniform_(0.5, 1.5)
            m.bn1.bias.uniform_(-0.5, 0.5)
            m.bn1.running_mean.uniform_(-0.2, 0.2)
            m.bn1.running_var.uniform_(0.5, 2.0)
    return m.to(device=DEVICE, dtype=dtype)


def rand(*shape, seed=1, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).to(device=DEVICE, dtype=dtype)


# ---------------------------------------------------------------------------------------------
# An independent reference, written with numpy and explicit loops over the spatial positions.

def np_hswish(t):
    return t * np.minimum(np.maximum(t + 3.0, 0.0), 6.0) / 6.0


def np_sigmoid(t):
    return 1.0 / (1.0 + np.exp(-t))


def np_relu(t):
    return np.maximum(t, 0.0)


def ca_reference(module, x, train, act=np_hswish):
    """CA forward in numpy for module's weights; returns (y, a_h, a_w) as float64 arrays."""
    p = {k: v.detach().double().cpu().numpy() for k, v in module.state_dict().items()}
    x = x.detach().double().cpu().numpy()
    B, C, H, W = x.shape
    zh = np.zeros((B, C, H))
    zw = np.zeros((B, C, W))
    for h in range(H):
        for w in range(W):
            zh[:, :, h] += x[:, :, h, w] / W
            zw[:, :, w] += x[:, :, h, w] / H
    # the H + W descriptors of each example, as columns of a (C, H + W) matrix
    cols = np.concatenate([zh, zw], axis=2)                           # (B, C, H + W)
    w1 = p["conv1.weight"][:, :, 0, 0]                                # (C', C)
    f = np.stack([w1 @ cols[b] for b in range(B)]) + p["conv1.bias"][None, :, None]
    if train:
        mean = f.mean(axis=(0, 2))
        var = ((f - mean[None, :, None]) ** 2).mean(axis=(0, 2))     # biased, as BN normalises
    else:
        mean, var = p["bn1.running_mean"], p["bn1.running_var"]
    f = (f - mean[None, :, None]) / np.sqrt(var[None, :, None] + 1e-5)
    f = f * p["bn1.weight"][None, :, None] + p["bn1.bias"][None, :, None]
    f = act(f)
    wh, ww = p["conv_h.weight"][:, :, 0, 0], p["conv_w.weight"][:, :, 0, 0]
    a_h = np.stack([wh @ f[b, :, :H] for b in range(B)]) + p["conv_h.bias"][None, :, None]
    a_w = np.stack([ww @ f[b, :, H:] for b in range(B)]) + p["conv_w.bias"][None, :, None]
    a_h, a_w = np_sigmoid(a_h), np_sigmoid(a_w)
    y = np.empty_like(x)
    for h in range(H):
        for w in range(W):
            y[:, :, h, w] = x[:, :, h, w] * a_h[:, :, h] * a_w[:, :, w]
    return y, a_h, a_w


# ---------------------------------------------------------------------------------------------
# Pieces

def test_hswish_is_x_relu6_x_plus_3_over_6():
    t = torch.tensor([-5.0, -3.0, -1.5, 0.0, 1.0, 3.0, 4.5], dtype=torch.float64)
    expected = torch.tensor([0.0, 0.0, -1.5 * 1.5 / 6, 0.0, 1.0 * 4.0 / 6, 3.0, 4.5],
                            dtype=torch.float64)
    got = HSwish()(t)
    assert torch.allclose(got, expected, atol=1e-12), f"expected {expected}, got {got}"


@pytest.mark.parametrize("C, r, expected", [(64, 32, 8), (512, 32, 16), (7, 32, 8), (96, 4, 24),
                                            (1000, 32, 31)])
def test_bottleneck_width_is_max_8_c_over_r(C, r, expected):
    assert ca_bottleneck(C, r) == expected
    m = CoordinateAttention(C, reduction=r)
    assert m.conv1.weight.shape == (expected, C, 1, 1)
    assert m.conv_h.weight.shape == m.conv_w.weight.shape == (C, expected, 1, 1)
    assert m.bn1.num_features == expected
    assert isinstance(m.act, HSwish)


def test_hand_checkable_constant_gates():
    """Zero 1x1 weights: a_h = sigmoid(b_h), a_w = sigmoid(b_w) whatever x is."""
    m = CoordinateAttention(2, reduction=1).double().to(DEVICE)
    with torch.no_grad():
        for conv in (m.conv_h, m.conv_w):
            conv.weight.zero_()
        m.conv_h.bias.copy_(torch.tensor([0.0, np.log(3.0)]))       # sigmoid: 1/2 and 3/4
        m.conv_w.bias.copy_(torch.tensor([0.0, -np.log(3.0)]))      # sigmoid: 1/2 and 1/4
    x = torch.arange(2 * 2 * 3, dtype=torch.float64, device=DEVICE).reshape(1, 2, 2, 3)
    y = m(x)
    # channel 0: x / 4; channel 1: x * 3/4 * 1/4 = 3 x / 16
    expected = torch.stack([x[0, 0] / 4, x[0, 1] * 3 / 16])[None]
    assert torch.allclose(y, expected, atol=1e-12), f"expected {expected}, got {y}"
    assert torch.allclose(m.maps["a_h"][0, 1, :, 0], torch.full((2,), 0.75, dtype=torch.float64,
                                                                  device=DEVICE))


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("shape, reduction", [
    ((2, 3, 4, 5), 1),        # C' = max(8, 3) = 8 > C
    ((1, 8, 1, 1), 32),       # batch 1, 1x1 map
    ((3, 33, 2, 7), 4),       # C not divisible by r, H != W
    ((2, 16, 6, 1), 2),       # W = 1
    ((1, 5, 1, 4), 32),       # H = 1
])
def test_matches_numpy_reference(shape, reduction, train):
    m = make_ca(shape[1], reduction=reduction, seed=sum(shape))
    m.train(train)
    x = rand(*shape, seed=len(shape) + shape[1])
    y = m(x)
    ref, a_h, a_w = ca_reference(m, x, train)
    assert y.shape == x.shape
    assert m.maps["a_h"].shape == (shape[0], shape[1], shape[2], 1)
    assert m.maps["a_w"].shape == (shape[0], shape[1], 1, shape[3])
    np.testing.assert_allclose(y.detach().cpu().numpy(), ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(m.maps["a_h"][..., 0].cpu().numpy(), a_h, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(m.maps["a_w"][:, :, 0].cpu().numpy(), a_w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("train", [True, False])
def test_relu_reading_of_the_paper(train):
    torch.manual_seed(26)
    m = CoordinateAttention(6, reduction=2, activation="relu").double().to(DEVICE).train(train)
    assert isinstance(m.act, nn.ReLU)
    x = rand(2, 6, 3, 4, seed=27)
    ref, _, _ = ca_reference(m, x, train, act=np_relu)
    np.testing.assert_allclose(m(x).detach().cpu().numpy(), ref, rtol=1e-10, atol=1e-12)
    hs, _, _ = ca_reference(m, x, train)                 # and h-swish would differ here
    assert not np.allclose(hs, ref, rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError):
        CoordinateAttention(6, activation="swish")


def test_maps_are_detached_and_optional():
    m = make_ca(8, seed=3)
    x = rand(2, 8, 3, 4, seed=4).requires_grad_()
    m(x)
    assert not m.maps["a_h"].requires_grad and not m.maps["a_w"].requires_grad
    m2 = make_ca(8, seed=3)
    m2.store_maps = False
    m2(x)
    assert m2.maps == {}


# ---------------------------------------------------------------------------------------------
# dtypes and layouts

@pytest.mark.parametrize("dtype, rtol, atol", [(torch.float32, 1e-5, 1e-6),
                                               (torch.bfloat16, 5e-2, 5e-2)])
@pytest.mark.parametrize("train", [True, False])
def test_low_precision_close_to_float64(dtype, rtol, atol, train):
    m64 = make_ca(24, reduction=4, seed=5).train(train)
    m = make_ca(24, reduction=4, seed=5, dtype=dtype).train(train)
    x = rand(2, 24, 5, 3, seed=6)
    y = m(x.to(dtype))
    assert y.dtype == dtype
    assert torch.allclose(y.double(), m64(x), rtol=rtol, atol=atol)


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("shape", [(2, 16, 5, 7), (1, 9, 1, 6), (3, 12, 4, 1)])
def test_channels_last_same_values_and_gradients(shape, train):
    m = make_ca(shape[1], reduction=2, seed=7, dtype=torch.float32).train(train)
    x = rand(*shape, seed=8, dtype=torch.float32)
    xc = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    xc.requires_grad_()
    y, yc = m(x), m(xc)
    assert torch.allclose(y, yc, rtol=1e-5, atol=1e-6)
    if shape[1] > 1 and shape[2] * shape[3] > 1:
        assert yc.is_contiguous(memory_format=torch.channels_last)
        # the gates are laid out like x: channel axis innermost
        assert m.maps["a_h"].stride(1) == 1 and m.maps["a_w"].stride(1) == 1
    g = rand(*shape, seed=9, dtype=torch.float32)
    gx, = torch.autograd.grad(y, x, g)
    gxc, = torch.autograd.grad(yc, xc, g.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(gx, gxc, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_scale_hw_equals_broadcast_product_and_gradcheck(layout):
    x = rand(2, 3, 4, 5, seed=10)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    a_h = torch.rand(2, 3, 4, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(11))
    a_w = torch.rand(2, 3, 1, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(12))
    a_h, a_w = a_h.to(DEVICE), a_w.to(DEVICE)
    expected = torch.einsum("bchw,bch,bcw->bchw", x, a_h[..., 0], a_w[:, :, 0])
    with torch.no_grad():
        assert torch.allclose(scale_hw(x, a_h, a_w), expected, atol=1e-14)
    inputs = (x.detach().requires_grad_(), a_h.requires_grad_(), a_w.requires_grad_())
    assert torch.allclose(scale_hw(*inputs), expected, atol=1e-14)
    assert torch.autograd.gradcheck(scale_hw, inputs)
    assert torch.autograd.gradgradcheck(scale_hw, inputs)
    # first derivatives are the same whether or not the backward itself is being recorded
    v = rand(2, 3, 4, 5, seed=13)
    plain = torch.autograd.grad(scale_hw(*inputs), inputs, v)
    recorded = torch.autograd.grad(scale_hw(*inputs), inputs, v, create_graph=True)
    for a, b in zip(plain, recorded):
        assert torch.allclose(a, b, atol=1e-14)


@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_directional_means_values_and_gradients(layout):
    x = rand(2, 3, 4, 5, seed=21)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    z_h, z_w = directional_means(x)
    assert z_h.shape == (2, 3, 4, 1) and z_w.shape == (2, 3, 1, 5)
    xs = x.detach().cpu().numpy()
    assert np.allclose(z_h[..., 0].detach().cpu().numpy(), xs.sum(axis=3) / 5, atol=1e-14)
    assert np.allclose(z_w[:, :, 0].detach().cpu().numpy(), xs.sum(axis=2) / 4, atol=1e-14)
    # only one of the two outputs used: dL/dx = 1/H for the H-mean of every column
    (g,) = torch.autograd.grad(directional_means(x)[1].sum(), x)
    assert torch.allclose(g, torch.full_like(g, 1 / 4))
    if layout == "channels_last":
        assert g.is_contiguous(memory_format=torch.channels_last)
    assert torch.autograd.gradcheck(directional_means, (x,))
    assert torch.autograd.gradgradcheck(directional_means, (x,))
    v_h, v_w = rand(2, 3, 4, 1, seed=24), rand(2, 3, 1, 5, seed=25)
    plain = torch.autograd.grad(directional_means(x), x, (v_h, v_w))[0]
    recorded = torch.autograd.grad(directional_means(x), x, (v_h, v_w), create_graph=True)[0]
    assert torch.allclose(plain, recorded, atol=1e-14)
    assert torch.allclose(plain, v_h / 5 + v_w / 4, atol=1e-14)


@pytest.mark.parametrize("train", [True, False])
def test_gradcheck_float64_input_and_parameters(train):
    m = make_ca(4, reduction=2, seed=13).train(train)
    names = [n for n, _ in m.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for _, p in m.named_parameters())
    x = rand(2, 4, 2, 3, seed=14).requires_grad_()

    def f(x, *ps):
        return torch.func.functional_call(m, dict(zip(names, ps)), (x,))

    assert torch.autograd.gradcheck(f, (x,) + params)


def test_works_under_torch_func_transforms():
    """Per-example gradients with vmap(grad(...)) equal the gradients of one example at a time
    (in eval mode, so that BatchNorm does not mix the examples)."""
    m = make_ca(4, reduction=2, seed=22).eval()
    x = rand(3, 4, 2, 3, seed=23)
    params = {n: p.detach() for n, p in m.named_parameters()}
    buffers = {n: b for n, b in m.named_buffers()}

    def loss(ps, xi):
        y = torch.func.functional_call(m, (ps, buffers), (xi[None],))
        return (y ** 2).sum()

    per_example = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0))(params, x)
    for i in range(3):
        xi = x[i:i + 1].clone().requires_grad_()
        grads = torch.autograd.grad((m(xi) ** 2).sum(), list(m.parameters()))
        for (name, _), g in zip(m.named_parameters(), grads):
            assert torch.allclose(per_example[name][i], g, atol=1e-12), name


# ---------------------------------------------------------------------------------------------
# Properties and errors

@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("dim", [2, 3])
def test_equivariant_to_flips(dim, train):
    """Flipping x along H (or W) flips the output the same way (the pooling is direction-aware
    but does not depend on the order of the positions, and BatchNorm pools over all of them)."""
    m = make_ca(10, reduction=2, seed=15).train(train)
    x = rand(3, 10, 5, 6, seed=16)
    y = m(x)
    a_h, a_w = m.maps["a_h"], m.maps["a_w"]
    y_flip = m(torch.flip(x, dims=(dim,)))
    assert torch.allclose(y_flip, torch.flip(y, dims=(dim,)), atol=1e-12)
    assert torch.allclose(m.maps["a_h"], torch.flip(a_h, dims=(dim,)) if dim == 2 else a_h)
    assert torch.allclose(m.maps["a_w"], torch.flip(a_w, dims=(dim,)) if dim == 3 else a_w)
    # and the map is not trivially symmetric, so the check above has teeth
    assert not torch.allclose(y, torch.flip(y, dims=(dim,)), atol=1e-6)


def test_every_gate_in_open_unit_interval():
    m = make_ca(12, reduction=2, seed=17)
    for seed in range(3):
        m(rand(2, 12, 4, 5, seed=18 + seed) * 3)
        for name in ("a_h", "a_w"):
            a = m.maps[name]
            assert (a > 0).all() and (a < 1).all(), name


def test_output_channels_must_match_input():
    m = CoordinateAttention(8, out_channels=4)
    with pytest.raises(ValueError, match="out_channels"):
        m(torch.randn(1, 8, 3, 3))
    m1 = CoordinateAttention(8, out_channels=1)        # would silently broadcast without the check
    with pytest.raises(ValueError):
        m1(torch.randn(1, 8, 3, 3))
    with pytest.raises(ValueError):
        CoordinateAttention(8)(torch.randn(1, 6, 3, 3))
    assert CoordinateAttention(8).out_channels == 8


# ---------------------------------------------------------------------------------------------
# Loading the official CoordAtt layout

class FormulaHSwish(nn.Module):
    def forward(self, t):
        return t * F.relu6(t + 3) / 6


class PublishedLayoutCA(nn.Module):
    """A stand-in with the published CoordAtt layout, written from its description: conv1
    (1x1, bias) to max(8, C // r), bn1, act (h-swish, no parameters), conv_h and conv_w
    (1x1, bias); the W-pooled column and the H-pooled row, turned into a column, are stacked
    into a (C, H + W, 1) image."""

    def __init__(self, inp, oup, reduction=32):
        super().__init__()
        mip = max(8, inp // reduction)
        self.conv1 = nn.Conv2d(inp, mip, 1)
        self.bn1 = nn.BatchNorm2d(mip)
        self.act = FormulaHSwish()
        self.conv_h = nn.Conv2d(mip, oup, 1)
        self.conv_w = nn.Conv2d(mip, oup, 1)

    def forward(self, x):
        H, W = x.shape[2], x.shape[3]
        col = F.adaptive_avg_pool2d(x, (H, 1))                        # (B, C, H, 1)
        row = F.adaptive_avg_pool2d(x, (1, W)).transpose(2, 3)        # (B, C, W, 1)
        t = self.act(self.bn1(self.conv1(torch.cat((col, row), 2))))
        t_col, t_row = t[:, :, :H], t[:, :, H:].transpose(2, 3)
        return x * torch.sigmoid(self.conv_w(t_row)) * torch.sigmoid(self.conv_h(t_col))


@pytest.mark.parametrize("C, reduction", [(16, 32), (64, 4)])
def test_official_state_dict_loads_and_outputs_match(C, reduction):
    torch.manual_seed(19)
    pub = PublishedLayoutCA(C, C, reduction).double().to(DEVICE)
    with torch.no_grad():
        pub.bn1.weight.uniform_(0.5, 1.5)
        pub.bn1.bias.uniform_(-0.5, 0.5)
        pub.bn1.running_mean.uniform_(-0.2, 0.2)
        pub.bn1.running_var.uniform_(0.5, 2.0)
        pub.bn1.num_batches_tracked.fill_(7)
    ours = CoordinateAttention(C, reduction=reduction).double().to(DEVICE)
    assert set(pub.state_dict()) == set(ours.state_dict())
    attn_ref.load_official_state_dict(ours, pub.state_dict())
    assert int(ours.bn1.num_batches_tracked) == 7
    x = rand(4, C, 5, 3, seed=20)
    for mode in (False, True, False):      # eval, train (updates running stats), eval again
        pub.train(mode)
        ours.train(mode)
        assert torch.allclose(ours(x), pub(x), rtol=1e-10, atol=1e-12), f"train={mode}"
    assert torch.allclose(ours.bn1.running_mean, pub.bn1.running_mean, atol=1e-12)
    assert torch.allclose(ours.bn1.running_var, pub.bn1.running_var, atol=1e-12)
    # the names agree, so plain load_state_dict works as well
    by_name = CoordinateAttention(C, reduction=reduction).double().to(DEVICE)
    by_name.load_state_dict(pub.state_dict())
    by_name.eval()
    pub.eval()
    assert torch.allclose(by_name(x), pub(x), rtol=1e-10, atol=1e-12)


def test_official_loader_errors_and_old_checkpoints():
    pub = PublishedLayoutCA(16, 16, 4)
    ours = CoordinateAttention(16, reduction=4)
    sd = pub.state_dict()
    old = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    attn_ref.load_official_state_dict(ours, old)                  # pre-0.4.1 checkpoints
    assert torch.equal(ours.conv_w.weight, pub.conv_w.weight)
    with pytest.raises(KeyError):
        attn_ref.load_official_state_dict(ours, {k: v for k, v in sd.items() if k != "conv_h.bias"})
    with pytest.raises(ValueError):
        attn_ref.load_official_state_dict(CoordinateAttention(16, reduction=1), sd)


# ---------------------------------------------------------------------------------------------
# Mixed precision: under torch.autocast CA behaves as plain eager code built from nn layers
# (PublishedLayoutCA above) does: same output dtype, and a training step works.

@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
@pytest.mark.parametrize("train", [False, True])
def test_autocast_dtype_and_training_step_follow_plain_eager_code(layout, train):
    torch.manual_seed(23)
    pub = PublishedLayoutCA(64, 64, 32).to(DEVICE)
    ours = CoordinateAttention(64).to(DEVICE)
    attn_ref.load_official_state_dict(ours, pub.state_dict())
    pub.train(train), ours.train(train)
    x = torch.randn(2, 64, 6, 5, device=DEVICE)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    low = torch.bfloat16 if DEVICE == "cpu" else torch.float16
    results = []
    for m in (pub, ours):
        xi = x.clone().requires_grad_()
        m.zero_grad()
        with torch.autocast(DEVICE, dtype=low):
            y = m(xi)
        y.float().square().sum().backward()         # a training step's backward pass
        results.append((y, xi.grad, m.conv1.weight.grad))
    (y_pub, gx_pub, gw_pub), (y, gx, gw) = results
    assert y.dtype == y_pub.dtype                   # what eager PyTorch's rules give
    assert gx.dtype == gx_pub.dtype and gw.dtype == gw_pub.dtype
    assert y.is_contiguous(memory_format=torch.channels_last) == (layout == "channels_last")
    torch.testing.assert_close(y, y_pub, rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(gx, gx_pub, rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(gw, gw_pub, rtol=5e-2, atol=5e-2)
