"""The fused CPU kernels (attn_ref.fused_cpu, ``fused="cpp"`` on CA and CBAM) against plain
PyTorch operations: each kernel on its own, including NaN and infinities and sizes that do not fill
the kernels' blocks, then the two modules against their eager code, including the cases where
they must fall back to it.

The first test to run compiles the extension (about 30 s; PyTorch caches the build)."""
import tomllib
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import attn_ref
from attn_ref import fused_cpu

SHAPES = [(1, 1, 1, 1), (2, 3, 5, 7), (3, 17, 1, 9), (2, 5, 13, 1), (2, 4, 23, 29), (1, 2, 50, 60)]
DTYPES = [torch.float32, torch.float64]


def rand(*shape, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype)


def close(a, b, dtype):
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(a, b, equal_nan=True, **tol)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_directional_means(shape, dtype):
    x = rand(*shape, seed=1, dtype=dtype)
    B, C, H, W = shape
    z = fused_cpu.directional_means(x)
    assert z.shape == (B, C, H + W) and z.dtype == dtype
    close(z[..., :H], x.mean(3), dtype)
    close(z[..., H:], x.mean(2), dtype)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_scalings(shape, dtype):
    x = rand(*shape, seed=2, dtype=dtype)
    B, C, H, W = shape
    a_h, a_w = torch.rand(B, C, H, 1, dtype=dtype), torch.rand(B, C, 1, W, dtype=dtype)
    m_c, m_s = torch.rand(B, C, 1, 1, dtype=dtype), torch.rand(B, 1, H, W, dtype=dtype)
    close(fused_cpu.scale_hw(x, a_h, a_w), x * a_h * a_w, dtype)
    # the same order of products as eager CBAM, (x M_c) M_s: equal to the last bit
    assert torch.equal(fused_cpu.scale_channel_spatial(x, m_c, m_s), x * m_c * m_s)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_cbam_poolings(shape, dtype):
    x = rand(*shape, seed=3, dtype=dtype)
    B, C, H, W = shape
    avg, mx = fused_cpu.avg_max_hw(x)
    close(avg, x.mean(dim=(2, 3)), dtype)
    assert torch.equal(mx, x.amax(dim=(2, 3)))
    m_c = torch.rand(B, C, 1, 1, dtype=dtype)
    f = x * m_c
    mx_c, avg_c = fused_cpu.scaled_max_mean_c(x, m_c)
    assert torch.equal(mx_c, f.amax(dim=1, keepdim=True))
    close(avg_c, f.mean(dim=1, keepdim=True), dtype)


def test_poolings_propagate_nan_and_keep_infinities():
    """A NaN anywhere in a pooled set makes its maximum and mean NaN, as torch.amax and mean
    do; +inf and -inf together (a NaN sum, the kernels' cue to look for a NaN) leave the maximum
    +inf. Both at the first position (where the running maximum starts) and elsewhere."""
    x = rand(2, 600, 3, 4, seed=4, dtype=torch.float32)      # L = 12 per row; C > one block
    x[0, 5, 0, 0] = float("nan")                               # first element of its row
    x[1, 7, 2, 3] = float("nan")                               # last element of its row
    x[0, 9, 1, 1], x[0, 9, 1, 2] = float("inf"), float("-inf")
    x[1, 0, 1, 1] = float("nan")                               # first channel of a position
    x[0, 599, 2, 2] = float("nan")                             # last channel of a position
    x[1, 3, 0, 1], x[1, 4, 0, 1] = float("inf"), float("-inf")
    avg, mx = fused_cpu.avg_max_hw(x)
    close(avg, x.mean(dim=(2, 3)), torch.float32)
    close(mx, x.amax(dim=(2, 3)), torch.float32)
    assert mx[0, 9] == float("inf") and mx[0, 5].isnan() and mx[1, 7].isnan()
    m_c = torch.rand(2, 600, 1, 1) + 0.5
    f = x * m_c
    mx_c, avg_c = fused_cpu.scaled_max_mean_c(x, m_c)
    close(mx_c, f.amax(dim=1, keepdim=True), torch.float32)
    close(avg_c, f.mean(dim=1, keepdim=True), torch.float32)
    assert mx_c[1, 0, 0, 1] == float("inf") and mx_c[1, 0, 1, 1].isnan()


@pytest.mark.parametrize("cin,k,H,W", [(2, 7, 28, 28), (2, 7, 5, 70), (1, 3, 1, 1), (3, 1, 4, 6),
                                       (2, 5, 9, 130)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_spatial_conv(cin, k, H, W, dtype):
    p, w = rand(3, cin, H, W, seed=5, dtype=dtype), rand(1, cin, k, k, seed=6, dtype=dtype)
    y, ref = fused_cpu.spatial_conv(p, w), F.conv2d(p, w, padding=k // 2)
    if dtype == torch.float32:
        # up to 2 k^2 = 98 products of N(0, 1) values summed in another order: float32 rounding
        # differences of a few 1e-6 are expected
        torch.testing.assert_close(y, ref, rtol=1e-5, atol=2e-5)
    else:
        close(y, ref, dtype)


def test_threads_do_not_change_results():
    """Each output element is computed by one thread in a fixed order, so the thread count does
    not change a bit of the result."""
    x = rand(4, 32, 28, 28, seed=7, dtype=torch.float32)
    m_c = torch.rand(4, 32, 1, 1)
    before = torch.get_num_threads()
    runs = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            runs.append((fused_cpu.directional_means(x), *fused_cpu.avg_max_hw(x),
                         *fused_cpu.scaled_max_mean_c(x, m_c)))
    finally:
        torch.set_num_threads(before)
    for a, b in zip(*runs):
        assert torch.equal(a, b)


def modules(kind, C, **kw):
    torch.manual_seed(11)
    if kind == "ca":
        eager = attn_ref.CoordinateAttention(C, reduction=4, **kw)
    else:
        eager = attn_ref.CBAM(C, reduction=4, **kw)
    g = torch.Generator().manual_seed(12)
    with torch.no_grad():
        for m in eager.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.3, 0.3, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.5, 0.5, generator=g)
    fused = type(eager)(C, reduction=4, fused="cpp", **kw)
    fused.load_state_dict(eager.state_dict())
    return eager, fused


class Spy:
    """Counts calls into the compiled extension."""

    def __init__(self, monkeypatch):
        self.calls = 0
        real = fused_cpu.kernels()

        class Proxy:
            def __getattr__(_, name):
                self.calls += 1
                return getattr(real, name)
        monkeypatch.setattr(fused_cpu, "kernels", lambda: Proxy())


VARIANTS = [("ca", {}), ("ca", {"activation": "relu"}), ("cbam", {}),
            ("cbam", {"order": "paper", "batchnorm": False}), ("cbam", {"spatial_kernel": 3})]


@pytest.mark.parametrize("kind,kw", VARIANTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("train", [False, True])
def test_modules_match_eager(kind, kw, dtype, train, monkeypatch):
    """Inference (no_grad) with fused="cpp" gives the eager output and maps, in eval mode and in
    train mode (where BatchNorm uses and updates batch statistics, the same in both), and really
    runs the kernels."""
    eager, fused = modules(kind, 16, **kw)
    eager.to(dtype).train(train), fused.to(dtype).train(train)
    spy = Spy(monkeypatch)
    for shape, seed in (((3, 16, 5, 7), 13), ((2, 16, 1, 1), 14), ((1, 16, 9, 4), 15)):
        x = rand(*shape, seed=seed, dtype=dtype)
        with torch.no_grad():
            y_e, y_f = eager(x), fused(x)
        close(y_f, y_e, dtype)
        for name in eager.maps:
            close(fused.maps[name], eager.maps[name], dtype)
    assert spy.calls >= 3 * (2 if kind == "ca" else 4)
    for a, b in zip(eager.state_dict().values(), fused.state_dict().values()):
        close(b, a, dtype)            # the same running statistics after train-mode passes


@pytest.mark.parametrize("kind", ["ca", "cbam"])
def test_modules_fall_back_to_eager(kind, monkeypatch):
    """Where the kernels do not apply, fused="cpp" runs the eager code: autograd recording
    (gradients then flow as in eager), channels-last input, bfloat16."""
    eager, fused = modules(kind, 16)
    eager.eval(), fused.eval()
    spy = Spy(monkeypatch)
    x = rand(2, 16, 6, 5, seed=16, dtype=torch.float32)
    v = rand(2, 16, 6, 5, seed=17, dtype=torch.float32)
    xs = [x.clone().requires_grad_(), x.clone().requires_grad_()]
    ys = [eager(xs[0]), fused(xs[1])]                         # parameters require grad
    grads = [torch.autograd.grad(y, [xi] + list(m.parameters()), v)
             for y, xi, m in zip(ys, xs, (eager, fused))]
    close(ys[1], ys[0], torch.float32)
    for a, b in zip(*grads):
        close(b, a, torch.float32)
    with torch.no_grad():
        cl = x.contiguous(memory_format=torch.channels_last)
        close(fused(cl), eager(cl), torch.float32)
        eager.bfloat16(), fused.bfloat16()
        xb = x.bfloat16()
        assert torch.equal(fused(xb), eager(xb))
    assert spy.calls == 0


def test_grad_mode_without_grads_uses_kernels(monkeypatch):
    """Grad mode on but nothing requiring grad (frozen weights, plain input): no graph is
    recorded, so the kernels apply."""
    eager, fused = modules("cbam", 16)
    for p in fused.parameters():
        p.requires_grad_(False)
    spy = Spy(monkeypatch)
    x = rand(2, 16, 4, 4, seed=18, dtype=torch.float32)
    close(fused(x), eager(x).detach(), torch.float32)
    assert spy.calls > 0


def test_invalid_option():
    with pytest.raises(ValueError, match="fused"):
        attn_ref.CBAM(16, fused="triton")
    with pytest.raises(ValueError, match="fused"):
        attn_ref.CoordinateAttention(16, fused=True)


def test_source_is_installed_with_the_package():
    """The C++ source is compiled where the package is installed, so it must ship with it."""
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    package_data = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]
    assert "csrc/*.cpp" in package_data["attn_ref"]
    assert fused_cpu._SOURCE.is_file() and fused_cpu._SOURCE.match("attn_ref/csrc/*.cpp")


def test_kernels_reject_bad_arguments():
    k = fused_cpu.kernels()
    with pytest.raises(RuntimeError, match="contiguous"):
        k.rank1_scale(torch.rand(2, 3, 4).transpose(1, 2), torch.rand(2, 4), torch.rand(2, 3))
    with pytest.raises(RuntimeError, match="shape"):
        k.rank1_scale(torch.rand(2, 3, 4), torch.rand(2, 4), torch.rand(2, 3))
    with pytest.raises(RuntimeError, match="one dtype"):
        k.scaled_channel_max_mean(torch.rand(2, 3, 4), torch.rand(2, 3, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="odd"):
        k.conv_same_single_out(torch.rand(1, 2, 4, 4), torch.rand(1, 2, 4, 4))


@pytest.mark.parametrize("kind", ["ca", "cbam"])
def test_counting_sees_the_eager_layers(kind, monkeypatch):
    """attn_ref.complexity.count_macs on a real CPU pass: the kernels are invisible to
    PyTorch's operation counter (CBAM's 7x7 convolution would go uncounted), so under
    attn_ref.reference.reference_mode() (coord.plain_kernels), which count_macs uses, the
    modules run their plain reference code."""
    from attn_ref.complexity import count_macs
    eager, fused = modules(kind, 16)
    spy = Spy(monkeypatch)
    shape = (2, 16, 6, 5)
    assert count_macs(fused, shape, device="cpu") == count_macs(eager, shape, device="cpu") > 0
    assert spy.calls == 0
