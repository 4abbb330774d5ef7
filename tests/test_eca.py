"""Tests for attn_ref.eca: the kernel-size rule, the ECA block and the official-layout loader.

Every expected value here is derived independently of attn_ref/eca.py: by hand (arithmetic shown in
comments), by an exact integer-arithmetic restatement of the rule, or by a plain numpy loop.
"""
from fractions import Fraction

import numpy as np
import pytest
import torch
from torch import nn

from attn_ref import ECA, eca_kernel_size, load_official_state_dict
from attn_ref.eca import eca_resnet50_kernels

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")




def _seed(n=0):
    torch.manual_seed(n)
    return np.random.default_rng(n)


# ----------------------------------------------------------------------------------------------
# eq. (4): k = psi(C), rounded as the official code does (truncate, even -> next odd)
# ----------------------------------------------------------------------------------------------

# (C, gamma, b, k).  v = (log2 C + b) / gamma; t = floor(v); k = t if t odd else t + 1.
KERNEL_TABLE = [
    (1, 2, 1, 1),      # (0 + 1)/2 = 0.5    -> t = 0 (even) -> 1
    (2, 2, 1, 1),      # (1 + 1)/2 = 1      -> t = 1        -> 1
    (4, 2, 1, 1),      # (2 + 1)/2 = 1.5    -> t = 1        -> 1
    (8, 2, 1, 3),      # (3 + 1)/2 = 2      -> t = 2 (even) -> 3   (tie for "nearest odd")
    (16, 2, 1, 3),     # (4 + 1)/2 = 2.5    -> t = 2        -> 3
    (32, 2, 1, 3),     # (5 + 1)/2 = 3      -> t = 3        -> 3
    (64, 2, 1, 3),     # (6 + 1)/2 = 3.5    -> t = 3        -> 3
    (100, 2, 1, 3),    # log2 100 = 6.64; 7.64/2 = 3.82 -> 3 -> 3
    (128, 2, 1, 5),    # (7 + 1)/2 = 4      -> t = 4        -> 5   (tie)
    (256, 2, 1, 5),    # (8 + 1)/2 = 4.5    -> t = 4        -> 5
    (512, 2, 1, 5),    # (9 + 1)/2 = 5      -> t = 5        -> 5
    (1000, 2, 1, 5),   # log2 1000 = 9.97; 10.97/2 = 5.48 -> 5 -> 5
    (1024, 2, 1, 5),   # (10 + 1)/2 = 5.5   -> t = 5        -> 5
    (2048, 2, 1, 7),   # (11 + 1)/2 = 6     -> t = 6        -> 7   (tie)
    (4096, 2, 1, 7),   # (12 + 1)/2 = 6.5   -> t = 6        -> 7
    (8192, 2, 1, 7),   # (13 + 1)/2 = 7     -> t = 7        -> 7
    (64, 1, 0, 7),     # 6/1 = 6            -> t = 6        -> 7
    (96, 1, 0, 7),     # log2 96 = 6.58     -> t = 6        -> 7
    (32, 1, 0, 5),     # 5/1 = 5            -> 5
    (256, 3, 1, 3),    # (8 + 1)/3 = 3      -> 3
    (2048, 3, 1, 5),   # (11 + 1)/3 = 4     -> t = 4        -> 5
    (512, 3, 1, 3),    # (9 + 1)/3 = 3.33   -> 3
]


@pytest.mark.parametrize("channels, gamma, b, k", KERNEL_TABLE)
def test_kernel_size_table(channels, gamma, b, k):
    assert eca_kernel_size(channels, gamma=gamma, b=b) == k


def _kernel_by_counting(channels: int, gamma: int, b: int) -> int:
    """The same rule restated without logarithms, in exact arithmetic (integer gamma, b >= 0).

    floor((log2 C + b) / gamma) is the number of integers n >= 1 with n * gamma <= log2 C + b,
    i.e. with 2 ** (n * gamma - b) <= C. The answer is then the odd one of t and t + 1.
    """
    t = 0
    while Fraction(2) ** ((t + 1) * gamma - b) <= channels:
        t += 1
    return 2 * (t // 2) + 1


@pytest.mark.parametrize("gamma, b", [(2, 1), (1, 0), (3, 1), (2, 2)])
def test_kernel_size_matches_counting_definition(gamma, b):
    for channels in range(1, 4200):
        expected = _kernel_by_counting(channels, gamma, b)
        assert eca_kernel_size(channels, gamma, b) == expected, channels


def test_kernel_size_always_odd_and_monotone():
    ks = [eca_kernel_size(c) for c in range(1, 5000)]
    assert all(k % 2 == 1 for k in ks)
    assert all(a <= b for a, b in zip(ks, ks[1:]))


def test_resnet50_kernels_and_parameter_count():
    blocks = (3, 4, 6, 3)                      # bottlenecks per stage of ResNet-50
    assert eca_resnet50_kernels() == (3, 5, 5, 7)
    assert eca_resnet50_kernels("official") == (3, 5, 5, 7)
    # widths 256, 512, 1024, 2048: (8+1)/2=4.5->5, (9+1)/2=5->5, (10+1)/2=5.5->5, (11+1)/2=6->7
    assert eca_resnet50_kernels("adaptive") == (5, 5, 5, 7)
    # 3*3 + 4*5 + 6*5 + 3*7 = 9 + 20 + 30 + 21 = 80, the paper's "80 parameters"
    # 3*5 + 4*5 + 6*5 + 3*7 = 15 + 20 + 30 + 21 = 86 with the adaptive rule
    for rule, total in (("official", 80), ("adaptive", 86)):
        ks = eca_resnet50_kernels(rule)
        n = sum(nb * sum(p.numel() for p in ECA(w, k_size=k).parameters())
                for nb, w, k in zip(blocks, (256, 512, 1024, 2048), ks))
        assert n == total
    with pytest.raises(ValueError):
        eca_resnet50_kernels("nearest")


def test_constructor_uses_rule_and_override():
    assert ECA(256).conv.weight.shape == (1, 1, 5)
    assert ECA(2048).conv.weight.shape == (1, 1, 7)
    assert ECA(256, k_size=3).conv.weight.shape == (1, 1, 3)
    assert ECA(64, gamma=1, b=0).conv.weight.shape == (1, 1, 7)
    assert ECA(64).conv.bias is None
    for bad in (0, 2, 4):
        with pytest.raises(ValueError):
            ECA(64, k_size=bad)


# ----------------------------------------------------------------------------------------------
# the block
# ----------------------------------------------------------------------------------------------

def _eca_numpy(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Plain-loop ECA in float64: returns (output, gate). x (B, C, H, W), w (k,)."""
    B, C, H, W = x.shape
    k = len(w)
    half = (k - 1) // 2
    out = np.empty_like(x, dtype=np.float64)
    gate = np.empty((B, C))
    for n in range(B):
        z = [sum(float(x[n, c, i, j]) for i in range(H) for j in range(W)) / (H * W)
             for c in range(C)]
        for c in range(C):
            acc = 0.0
            for j in range(k):
                src = c + j - half                  # cross-correlation, zeros outside 0..C-1
                if 0 <= src < C:
                    acc += w[j] * z[src]
            gate[n, c] = 1.0 / (1.0 + np.exp(-acc))
            out[n, c] = x[n, c] * gate[n, c]
    return out, gate


def test_hand_example():
    # z = [1, 2, 3] (spatial means of the three channels below), w = [0.5, -1, 0.25]
    x = torch.tensor([[[[0., 2.], [1., 1.]],        # mean 1
                       [[2., 2.], [2., 2.]],        # mean 2
                       [[6., 0.], [3., 3.]]]],      # mean 3
                     device=DEVICE)
    m = ECA(3, k_size=3).to(DEVICE)
    with torch.no_grad():
        m.conv.weight.copy_(torch.tensor([[[0.5, -1.0, 0.25]]]))
    # y_0 = 0.5*0 - 1*1 + 0.25*2 = -0.5;  y_1 = 0.5*1 - 1*2 + 0.25*3 = -0.75;
    # y_2 = 0.5*2 - 1*3 + 0.25*0 = -2.0
    y = torch.tensor([-0.5, -0.75, -2.0], device=DEVICE)
    s = 1 / (1 + torch.exp(-y))
    out = m(x)
    torch.testing.assert_close(m.maps["s"], s[None], rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(out, x * s[None, :, None, None], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("shape, k", [
    ((2, 6, 3, 5), 3),     # H != W
    ((1, 7, 1, 1), 3),     # 1x1, batch 1
    ((3, 5, 4, 2), 5),     # k = C
    ((2, 2, 3, 3), 5),     # k > C: every output still sees zero padding
    ((2, 1, 2, 3), 1),     # C = 1, k = 1
    ((1, 9, 2, 2), None),  # adaptive: psi(9) = int((3.17 + 1)/2) = 2 -> 3
])
def test_matches_loop_reference_float64(shape, k):
    rng = _seed(1)
    x = rng.standard_normal(shape)
    m = ECA(shape[1], k_size=k).double().to(DEVICE)
    w = rng.standard_normal(m.conv.weight.shape[-1])
    with torch.no_grad():
        m.conv.weight.copy_(torch.from_numpy(w).view(1, 1, -1))
    out = m(torch.from_numpy(x).to(DEVICE))
    ref, gate = _eca_numpy(x, w)
    np.testing.assert_allclose(out.detach().cpu().numpy(), ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(m.maps["s"].cpu().numpy(), gate, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-12),
                                        (torch.bfloat16, 3e-2)])
def test_dtypes(dtype, tol):
    rng = _seed(2)
    x = rng.standard_normal((2, 16, 5, 4))
    m = ECA(16)                                                  # psi(16) = 3
    w = m.conv.weight.detach().double().view(-1).numpy()
    ref, _ = _eca_numpy(x, w)
    m = m.to(device=DEVICE, dtype=dtype)
    out = m(torch.from_numpy(x).to(device=DEVICE, dtype=dtype))
    assert out.dtype == dtype and m.maps["s"].dtype == dtype
    np.testing.assert_allclose(out.detach().double().cpu().numpy(), ref, rtol=tol, atol=tol)


def test_channels_last_same_result_and_format():
    _seed(3)
    m = ECA(32).to(DEVICE)
    x = torch.randn(2, 32, 6, 5, device=DEVICE)
    xc = x.contiguous(memory_format=torch.channels_last)
    out, out_c = m(x), m(xc)
    torch.testing.assert_close(out_c, out, rtol=1e-6, atol=1e-6)
    assert out_c.is_contiguous(memory_format=torch.channels_last)


def test_gradcheck_float64():
    _seed(4)
    m = ECA(6, k_size=3).double().to(DEVICE)
    x = torch.randn(2, 6, 3, 2, dtype=torch.float64, device=DEVICE, requires_grad=True)
    w = m.conv.weight.detach().clone().requires_grad_(True)

    def f(x, w):
        return torch.func.functional_call(m, {"conv.weight": w}, (x,))

    assert torch.autograd.gradcheck(f, (x, w))


def test_equivariant_to_spatial_permutations():
    _seed(5)
    m = ECA(12).to(DEVICE)
    x = torch.randn(2, 12, 4, 5, device=DEVICE)
    perm = torch.randperm(20, device=DEVICE)
    permute = lambda t: t.flatten(2)[:, :, perm].view_as(t)  # noqa: E731
    torch.testing.assert_close(m(permute(x)), permute(m(x)), rtol=1e-5, atol=1e-6)


def test_gate_in_open_unit_interval_and_maps():
    _seed(6)
    m = ECA(64).to(DEVICE)
    x = 3 * torch.randn(4, 64, 3, 3, device=DEVICE)
    out = m(x)
    s = m.maps["s"]
    assert s.shape == (4, 64) and not s.requires_grad
    assert bool(((s > 0) & (s < 1)).all())
    # the gate is constant over positions: out / x reproduces it everywhere
    torch.testing.assert_close(out, x * s[:, :, None, None])
    quiet = ECA(64, store_maps=False).to(DEVICE)
    quiet(x)
    assert quiet.maps == {}


# ----------------------------------------------------------------------------------------------
# official layout
# ----------------------------------------------------------------------------------------------

class _PublishedECALayout(nn.Module):
    """Stand-in for the published ``eca_layer``, written from its description: global average
    pooling to (B, C, 1, 1), the channels laid out as a length-C sequence of one feature map, a
    ``conv`` = Conv1d(1, 1, k, padding=(k-1)//2, bias=False) along it, sigmoid, rescale."""

    def __init__(self, k):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(1, 1, kernel_size=k, padding=(k - 1) // 2, bias=False)

    def forward(self, x):
        y = self.pool(x)                                   # (B, C, 1, 1)
        y = y.view(x.shape[0], 1, x.shape[1])              # (B, 1, C)
        y = torch.sigmoid(self.conv(y))                    # (B, 1, C)
        return x * y.view(x.shape[0], x.shape[1], 1, 1)


@pytest.mark.parametrize("k", [3, 5, 7])
def test_load_official_layout(k):
    _seed(7)
    published = _PublishedECALayout(k).to(DEVICE)
    sd = published.state_dict()
    assert set(sd) == {"conv.weight"} and sd["conv.weight"].shape == (1, 1, k)
    ours = ECA(40, k_size=k).to(DEVICE)
    assert load_official_state_dict(ours, sd) is ours
    x = torch.randn(3, 40, 5, 6, device=DEVICE)
    for train in (True, False):
        published.train(train)
        ours.train(train)
        torch.testing.assert_close(ours(x), published(x), rtol=1e-6, atol=1e-7)


def test_load_official_errors():
    sd = _PublishedECALayout(5).state_dict()
    with pytest.raises(ValueError):                       # k = 3 here, 5 in the checkpoint
        load_official_state_dict(ECA(40, k_size=3), sd)
    with pytest.raises(KeyError):
        load_official_state_dict(ECA(40, k_size=5), {"weight": sd["conv.weight"]})
    with pytest.raises(KeyError):
        load_official_state_dict(ECA(40, k_size=5), {**sd, "extra": torch.zeros(1)})
