"""Tests for attn_ref.cbam: ChannelAttention, SpatialAttention, CBAM and the official-layout loader.

Expected values come from hand arithmetic (shown in comments), from a plain numpy loop written
independently of attn_ref/cbam.py, or from a stand-in of the published layout built here from its
description.
"""
import numpy as np
import pytest
import torch
from torch import nn
import torch.nn.functional as F

from attn_ref import CBAM, ChannelAttention, SpatialAttention, load_official_state_dict

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
BN_EPS, BN_MOMENTUM = 1e-5, 0.01     # the official conv block's BatchNorm2d(1, eps, momentum)




def _seed(n=0):
    torch.manual_seed(n)
    return np.random.default_rng(n)


def _sig(v):
    return 1.0 / (1.0 + np.exp(-v))


# ----------------------------------------------------------------------------------------------
# independent float64 reference (plain loops over numpy arrays)
# ----------------------------------------------------------------------------------------------

def _params(m: CBAM) -> dict:
    p = {k: v.detach().double().cpu().numpy() for k, v in m.state_dict().items()}
    p["order"], p["bn"] = m.spatial.order, m.spatial.bn is not None
    return p


def _cbam_numpy(x, p, train):
    """Returns (F'', M_c, M_s) for x (B, C, H, W) and CBAM parameters p, all float64."""
    B, C, H, W = x.shape
    W1, b1 = p["channel.fc1.weight"], p["channel.fc1.bias"]
    W2, b2 = p["channel.fc2.weight"], p["channel.fc2.bias"]

    def mlp(z):                      # z (C,)
        h = [max(0.0, sum(W1[u, c] * z[c] for c in range(C)) + b1[u]) for u in range(len(b1))]
        return np.array([sum(W2[c, u] * h[u] for u in range(len(h))) + b2[c] for c in range(C)])

    m_c = np.empty((B, C))
    for n in range(B):
        avg = np.array([x[n, c].sum() / (H * W) for c in range(C)])
        mx = np.array([x[n, c].max() for c in range(C)])
        m_c[n] = _sig(mlp(avg) + mlp(mx))
    f1 = x * m_c[:, :, None, None]

    # channel-wise pooled maps; the official order puts max first
    mean_c, max_c = f1.sum(axis=1) / C, f1.max(axis=1)        # (B, H, W) each
    maps = (max_c, mean_c) if p["order"] == "official" else (mean_c, max_c)
    w = p["spatial.conv.weight"][0]                            # (2, k, k)
    k = w.shape[-1]
    half = (k - 1) // 2
    y = np.zeros((B, H, W))
    for n in range(B):
        for i in range(H):
            for j in range(W):
                acc = 0.0
                for ch in range(2):
                    for a in range(k):
                        for b in range(k):
                            ii, jj = i + a - half, j + b - half
                            if 0 <= ii < H and 0 <= jj < W:
                                acc += w[ch, a, b] * maps[ch][n, ii, jj]
                y[n, i, j] = acc
    if p["bn"]:
        if train:
            mu, var = y.mean(), y.var()                        # biased variance, over B, H, W
        else:
            mu, var = p["spatial.bn.running_mean"][0], p["spatial.bn.running_var"][0]
        y = (y - mu) / np.sqrt(var + BN_EPS) * p["spatial.bn.weight"][0] + p["spatial.bn.bias"][0]
    m_s = _sig(y)
    return f1 * m_s[:, None], m_c, m_s


def _randomise_bn(m: CBAM):
    with torch.no_grad():
        bn = m.spatial.bn
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
        bn.running_mean.uniform_(-0.3, 0.3)
        bn.running_var.uniform_(0.5, 2.0)


# ----------------------------------------------------------------------------------------------
# ChannelAttention
# ----------------------------------------------------------------------------------------------

def test_channel_attention_hand_example():
    m = ChannelAttention(2, reduction=2).to(DEVICE)          # hidden = 2 // 2 = 1
    with torch.no_grad():
        m.fc1.weight.copy_(torch.tensor([[1.0, -1.0]]))
        m.fc1.bias.copy_(torch.tensor([0.5]))
        m.fc2.weight.copy_(torch.tensor([[2.0], [-1.0]]))
        m.fc2.bias.copy_(torch.tensor([0.1, 0.2]))
    x = torch.tensor([
        [[[1., 3.], [-1., 9.]],       # n=0, c=0: avg 3, max 9
         [[0., 2.], [4., -2.]]],      # n=0, c=1: avg 1, max 4
        [[[0., 0.], [0., 0.]],        # n=1, c=0: avg 0, max 0
         [[1., 1.], [1., 5.]]],       # n=1, c=1: avg 2, max 5
    ], device=DEVICE)
    # n=0: avg: h = relu(3 - 1 + 0.5) = 2.5 -> (2*2.5 + 0.1, -2.5 + 0.2) = (5.1, -2.3)
    #      max: h = relu(9 - 4 + 0.5) = 5.5 -> (11.1, -5.3);          sum (16.2, -7.6)
    # n=1: avg: h = relu(0 - 2 + 0.5) = 0   -> (0.1, 0.2)
    #      max: h = relu(0 - 5 + 0.5) = 0   -> (0.1, 0.2);            sum (0.2, 0.4): b2 twice
    logits = torch.tensor([[16.2, -7.6], [0.2, 0.4]], device=DEVICE)
    m_c = m(x)
    assert m_c.shape == (2, 2, 1, 1)
    torch.testing.assert_close(m_c, torch.sigmoid(logits)[:, :, None, None])
    torch.testing.assert_close(m.maps["M_c"], m_c)


def test_channel_attention_width_and_parameters():
    assert ChannelAttention(64, 16).fc1.weight.shape == (4, 64)
    assert ChannelAttention(20, 8).fc1.weight.shape == (2, 20)       # 20 // 8 = 2
    assert ChannelAttention(3, 16).fc1.weight.shape == (1, 3)        # never below 1
    m = ChannelAttention(64, 16)
    # 2 C (C/r) + C/r + C = 2*64*4 + 4 + 64 = 580
    assert sum(p.numel() for p in m.parameters()) == 580
    assert m.fc1.bias is not None and m.fc2.bias is not None


def test_channel_attention_invariant_to_spatial_permutations():
    _seed(10)
    m = ChannelAttention(12, 4).to(DEVICE)
    x = torch.randn(2, 12, 4, 5, device=DEVICE)
    perm = torch.randperm(20, device=DEVICE)
    xp = x.flatten(2)[:, :, perm].view_as(x)
    torch.testing.assert_close(m(xp), m(x), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------------------------
# SpatialAttention
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("order", ["official", "paper"])
def test_spatial_attention_hand_example_1x1(order):
    m = SpatialAttention(kernel_size=1, order=order, batchnorm=False).to(DEVICE)
    with torch.no_grad():
        m.conv.weight.copy_(torch.tensor([2.0, -1.0]).view(1, 2, 1, 1))
    # one position per column: channel values (1, 5, 0) -> max 5, mean 2; (-3, -1, -2) -> max -1,
    # mean -2
    x = torch.tensor([[1., -3.], [5., -1.], [0., -2.]], device=DEVICE).view(1, 3, 1, 2)
    if order == "official":     # weight meets (max, mean): 2*5 - 2 = 8;  2*(-1) - (-2) = 0
        logits = [8.0, 0.0]
    else:                       # weight meets (mean, max): 2*2 - 5 = -1; 2*(-2) - (-1) = -3
        logits = [-1.0, -3.0]
    expected = torch.sigmoid(torch.tensor(logits, device=DEVICE)).view(1, 1, 1, 2)
    torch.testing.assert_close(m(x), expected)
    torch.testing.assert_close(m.maps["M_s"], expected)


def test_spatial_attention_batchnorm_by_hand():
    m = SpatialAttention(kernel_size=1, batchnorm=True).to(DEVICE)
    with torch.no_grad():
        m.conv.weight.copy_(torch.tensor([1.0, 0.0]).view(1, 2, 1, 1))   # y = channel max
        m.bn.weight.fill_(2.0)
        m.bn.bias.fill_(0.5)
    # channel maxima over the batch: 1, 3 (n=0) and 5, 7 (n=1): mean 4, biased variance 5,
    # unbiased variance 20/3
    x = torch.tensor([[[[1., 3.]], [[0., 0.]]], [[[5., 7.]], [[-1., 2.]]]], device=DEVICE)
    y = torch.tensor([[1., 3.], [5., 7.]], device=DEVICE)
    m.train()
    out = m(x)
    torch.testing.assert_close(out[:, 0, 0], torch.sigmoid((y - 4) / (5 + BN_EPS) ** 0.5 * 2 + 0.5))
    # running statistics move by momentum 0.01 (official value): 0.99 * 0 + 0.01 * 4 = 0.04 and
    # 0.99 * 1 + 0.01 * 20/3 = 1.0566...
    torch.testing.assert_close(m.bn.running_mean, torch.tensor([0.04], device=DEVICE))
    torch.testing.assert_close(m.bn.running_var,
                               torch.tensor([0.99 + 0.01 * 20 / 3], device=DEVICE))
    m.eval()
    rm, rv = 0.04, 0.99 + 0.01 * 20 / 3
    torch.testing.assert_close(m(x)[:, 0, 0],
                               torch.sigmoid((y - rm) / (rv + BN_EPS) ** 0.5 * 2 + 0.5))


def test_spatial_attention_invariant_to_channel_permutations():
    _seed(11)
    m = SpatialAttention().to(DEVICE).eval()
    x = torch.randn(2, 9, 6, 5, device=DEVICE)
    torch.testing.assert_close(m(x[:, torch.randperm(9, device=DEVICE)]), m(x),
                               rtol=1e-5, atol=1e-6)


def test_spatial_attention_constructor_checks():
    assert SpatialAttention().conv.weight.shape == (1, 2, 7, 7)
    assert SpatialAttention().conv.bias is None
    assert SpatialAttention(3).conv.padding == (1, 1)
    assert SpatialAttention(batchnorm=False).bn is None
    with pytest.raises(ValueError):
        SpatialAttention(4)
    with pytest.raises(ValueError):
        SpatialAttention(order="avgmax")


# ----------------------------------------------------------------------------------------------
# CBAM against the loop reference
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, r, k, order, bn, train", [
    ((2, 6, 5, 7), 2, 7, "official", True, False),     # H != W
    ((2, 6, 5, 7), 2, 7, "official", True, True),      # BatchNorm on batch statistics
    ((2, 20, 4, 3), 8, 3, "paper", True, False),       # C % r != 0 (hidden 2), paper order
    ((3, 5, 3, 4), 16, 5, "paper", False, True),       # C < r (hidden 1), no BatchNorm
    ((1, 4, 1, 1), 2, 7, "official", True, False),     # batch 1, 1x1 (eval: running statistics)
    ((1, 4, 1, 1), 2, 3, "official", False, True),     # batch 1, 1x1, no BatchNorm
    ((1, 3, 2, 5), 1, 7, "paper", True, True),         # batch 1, kernel wider than the map
])
def test_cbam_matches_loop_reference(shape, r, k, order, bn, train):
    rng = _seed(12)
    m = CBAM(shape[1], reduction=r, spatial_kernel=k, order=order, batchnorm=bn)
    if bn:
        _randomise_bn(m)
    m = m.double().to(DEVICE).train(train)
    p = _params(m)
    x = rng.standard_normal(shape)
    ref, m_c, m_s = _cbam_numpy(x, p, train)
    out = m(torch.from_numpy(x).to(DEVICE))
    np.testing.assert_allclose(out.detach().cpu().numpy(), ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(m.maps["M_c"].cpu().numpy(), m_c[:, :, None, None], rtol=1e-10)
    np.testing.assert_allclose(m.maps["M_s"].cpu().numpy(), m_s[:, None], rtol=1e-10)


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-12),
                                        (torch.bfloat16, 5e-2)])
@pytest.mark.parametrize("train", [False, True])
def test_cbam_dtypes(dtype, tol, train):
    rng = _seed(13)
    m = CBAM(16, reduction=4)
    _randomise_bn(m)
    m.train(train)
    ref, _, _ = _cbam_numpy(x := rng.standard_normal((2, 16, 5, 4)), _params(m), train)
    m = m.to(device=DEVICE, dtype=dtype)
    out = m(torch.from_numpy(x).to(device=DEVICE, dtype=dtype))
    assert out.dtype == dtype and m.maps["M_c"].dtype == dtype and m.maps["M_s"].dtype == dtype
    np.testing.assert_allclose(out.detach().double().cpu().numpy(), ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("grad", [False, True])
def test_cbam_channels_last_and_inplace_path(grad):
    _seed(14)
    m = CBAM(32, reduction=8).to(DEVICE).eval()
    x = torch.randn(2, 32, 6, 5, device=DEVICE)
    xc = x.contiguous(memory_format=torch.channels_last)
    x_before = x.clone()
    with torch.set_grad_enabled(grad):
        out, out_c = m(x), m(xc)
    torch.testing.assert_close(out_c, out, rtol=1e-5, atol=1e-6)
    assert out_c.is_contiguous(memory_format=torch.channels_last)
    assert out.requires_grad == grad
    torch.testing.assert_close(x, x_before, rtol=0, atol=0)           # input never modified
    # the no-grad (in place) and autograd paths agree
    with torch.no_grad():
        ref = m(x)
    torch.testing.assert_close(out.detach(), ref, rtol=0, atol=0)
    with torch.inference_mode():
        torch.testing.assert_close(m(x), ref, rtol=0, atol=0)
    # an input that requires grad takes the autograd path for every max as well
    torch.testing.assert_close(m(x.clone().requires_grad_()).detach(), ref, rtol=0, atol=0)
    torch.testing.assert_close(m(xc.clone().requires_grad_()).detach(), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("train", [False, True])
def test_cbam_gradcheck_float64(train):
    _seed(15)
    m = CBAM(6, reduction=2, spatial_kernel=3).double().to(DEVICE).train(train)
    if train:
        m.spatial.bn.momentum = 0.0      # keep running statistics fixed across gradcheck's calls
    x = torch.randn(2, 6, 4, 3, dtype=torch.float64, device=DEVICE, requires_grad=True)
    assert torch.autograd.gradcheck(m, (x,))
    # parameters (one of each kind), with the input fixed: checked separately, which is much
    # cheaper than one check over all of them at once
    names = ["channel.fc1.weight", "channel.fc2.bias", "spatial.conv.weight", "spatial.bn.weight"]
    params = [m.get_parameter(n).detach().clone().requires_grad_(True) for n in names]

    def f(*ps):
        return torch.func.functional_call(m, dict(zip(names, ps)), (x.detach(),))

    assert torch.autograd.gradcheck(f, tuple(params))


def test_cbam_gates_in_open_unit_interval_and_maps():
    _seed(16)
    m = CBAM(48, reduction=16).to(DEVICE)
    x = torch.randn(3, 48, 7, 9, device=DEVICE)
    out = m(x)
    m_c, m_s = m.maps["M_c"], m.maps["M_s"]
    assert m_c.shape == (3, 48, 1, 1) and m_s.shape == (3, 1, 7, 9)
    assert not m_c.requires_grad and not m_s.requires_grad
    for g in (m_c, m_s):
        assert bool(((g > 0) & (g < 1)).all())
    torch.testing.assert_close(out, x * m_c * m_s)
    quiet = CBAM(48, store_maps=False).to(DEVICE)
    quiet(x)
    assert quiet.maps == {} and quiet.channel.maps == {} and quiet.spatial.maps == {}


def test_cbam_submodule_names():
    keys = set(CBAM(32, reduction=4).state_dict())
    assert keys == {"channel.fc1.weight", "channel.fc1.bias", "channel.fc2.weight",
                    "channel.fc2.bias", "spatial.conv.weight", "spatial.bn.weight",
                    "spatial.bn.bias", "spatial.bn.running_mean", "spatial.bn.running_var",
                    "spatial.bn.num_batches_tracked"}


# ----------------------------------------------------------------------------------------------
# official layout (attention-module, MODELS/cbam.py), rebuilt here from its description
# ----------------------------------------------------------------------------------------------

class _Flatten(nn.Module):
    def forward(self, x):
        return x.reshape(x.shape[0], -1)


class _PublishedChannelGate(nn.Module):
    def __init__(self, c, r):
        super().__init__()
        self.mlp = nn.Sequential(_Flatten(), nn.Linear(c, c // r), nn.ReLU(), nn.Linear(c // r, c))

    def forward(self, x):
        h, w = x.shape[2:]
        a = self.mlp(F.avg_pool2d(x, (h, w)))             # (B, C) from the (B, C, 1, 1) pool
        b = self.mlp(F.max_pool2d(x, (h, w)))
        return x * torch.sigmoid(a + b)[:, :, None, None]


class _PublishedConvBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 7, padding=3, bias=False)
        self.bn = nn.BatchNorm2d(1, eps=BN_EPS, momentum=BN_MOMENTUM)

    def forward(self, x):
        return self.bn(self.conv(x))


class _PublishedSpatialGate(nn.Module):
    def __init__(self):
        super().__init__()
        self.spatial = _PublishedConvBlock()

    def forward(self, x):
        # maps in the published order: channel max first, then channel mean
        pooled = torch.cat([x.max(dim=1, keepdim=True).values, x.mean(dim=1, keepdim=True)], 1)
        return x * torch.sigmoid(self.spatial(pooled))


class _PublishedCBAM(nn.Module):
    def __init__(self, c, r=16):
        super().__init__()
        self.ChannelGate = _PublishedChannelGate(c, r)
        self.SpatialGate = _PublishedSpatialGate()

    def forward(self, x):
        return self.SpatialGate(self.ChannelGate(x))


def _published(c, r):
    p = _PublishedCBAM(c, r)
    with torch.no_grad():
        for t in p.parameters():
            t.uniform_(-0.5, 0.5)
        p.SpatialGate.spatial.bn.running_mean.fill_(0.1)
        p.SpatialGate.spatial.bn.running_var.fill_(1.7)
        p.SpatialGate.spatial.bn.num_batches_tracked.fill_(12)
    return p.to(DEVICE)


@pytest.mark.parametrize("order", ["official", "paper"])
def test_load_official_layout(order):
    _seed(17)
    published = _published(32, 4)
    sd = published.state_dict()
    assert sd["SpatialGate.spatial.conv.weight"].shape == (1, 2, 7, 7)
    assert sd["ChannelGate.mlp.1.weight"].shape == (8, 32)
    ours = CBAM(32, reduction=4, order=order).to(DEVICE)
    assert load_official_state_dict(ours, sd) is ours
    if order == "paper":    # the two input channels of the 7x7 weight trade places
        torch.testing.assert_close(ours.spatial.conv.weight[:, 0],
                                   sd["SpatialGate.spatial.conv.weight"][:, 1])
    x = torch.randn(4, 32, 6, 5, device=DEVICE)
    for train in (False, True):
        published.train(train)
        ours.train(train)
        torch.testing.assert_close(ours(x), published(x), rtol=1e-5, atol=1e-6)
    # one training step moved both BatchNorms' running statistics the same way
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        torch.testing.assert_close(getattr(ours.spatial.bn, name),
                                   getattr(published.SpatialGate.spatial.bn, name))
    # gradients (input and parameters) agree too, in training mode
    g = torch.randn(4, 32, 6, 5, device=DEVICE)
    grads = []
    for module in (ours, published):
        xg = x.clone().requires_grad_()
        module.zero_grad()
        module(xg).backward(g)
        grads.append([xg.grad] + [module.get_parameter(n).grad for n in (
            ("channel.fc1.weight", "channel.fc2.bias", "spatial.conv.weight", "spatial.bn.weight")
            if module is ours else
            ("ChannelGate.mlp.1.weight", "ChannelGate.mlp.3.bias",
             "SpatialGate.spatial.conv.weight", "SpatialGate.spatial.bn.weight"))])
    if order == "paper":
        grads[0][3] = grads[0][3].flip(1)
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_load_official_errors():
    sd = _published(32, 4).state_dict()
    with pytest.raises(KeyError):                          # no BatchNorm to put the bn.* keys in
        load_official_state_dict(CBAM(32, reduction=4, batchnorm=False), sd)
    with pytest.raises(ValueError):                        # checkpoint was r = 4
        load_official_state_dict(CBAM(32, reduction=8), sd)
    with pytest.raises(ValueError):                        # checkpoint has a 7x7 kernel
        load_official_state_dict(CBAM(32, reduction=4, spatial_kernel=3), sd)
    missing = {k: v for k, v in sd.items() if k != "ChannelGate.mlp.3.bias"}
    with pytest.raises(KeyError):
        load_official_state_dict(CBAM(32, reduction=4), missing)


def test_load_official_without_num_batches_tracked():
    """The released CBAM checkpoints predate BatchNorm's num_batches_tracked (PyTorch 0.4.1)."""
    _seed(18)
    published = _published(32, 4)
    old = {k: v for k, v in published.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert len(old) == len(published.state_dict()) - 1
    ours = CBAM(32, reduction=4).to(DEVICE)
    with torch.no_grad():
        ours.spatial.bn.num_batches_tracked.fill_(5)
    load_official_state_dict(ours, old)
    assert int(ours.spatial.bn.num_batches_tracked) == 0      # as BatchNorm2d loads old checkpoints
    x = torch.randn(2, 32, 6, 5, device=DEVICE)
    published.eval(), ours.eval()
    torch.testing.assert_close(ours(x), published(x), rtol=1e-5, atol=1e-6)
