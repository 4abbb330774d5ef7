"""Every module's ``forward`` against its plain reference over the matrix of the ways people run
them: float32 / float64 / bfloat16 / float16 modules and inputs, ``torch.autocast`` (bfloat16 on
CPU, float16 on CUDA), contiguous and channels-last inputs, batch 1, train and eval, forward and
backward, ``torch.export`` and ``torch.compile``.

The reference is the module run inside :func:`attn_ref.reference.reference_mode` (for CA and
CBAM their ``forward_reference``; SE, ECA, GAM and CCNet have no other path). Where a fast path
applies (float32/float64 without autocast), ``forward`` must give the reference's values,
gradients, output dtype and memory format; everywhere else it must *be* the reference. Both are
also compared with the reference computed in float64 on a float64 copy, which is independent of
the fast paths.
"""
import copy

import pytest
import torch

import attn_ref
from attn_ref.reference import fast_path_ok, reference_mode

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

C = 16
KINDS = {
    "se": lambda **kw: attn_ref.SqueezeExcitation(C, reduction=4, **kw),
    "eca": lambda **kw: attn_ref.ECA(C, k_size=3, **kw),
    "cbam": lambda **kw: attn_ref.CBAM(C, reduction=4, **kw),
    "ca": lambda **kw: attn_ref.CoordinateAttention(C, reduction=4, **kw),
    "ccnet": lambda **kw: attn_ref.CrissCrossAttention(C, reduction=4, **kw),
    "gam": lambda **kw: attn_ref.GAM(C, rate=4, **kw),
}
HAS_FAST_PATH = {"cbam", "ca"}

# (rtol, atol) of a module in this dtype against the float64 reference, and of the fast path
# against the reference in the same dtype (only float32/float64 have fast paths)
TOL_F64 = {torch.float64: (1e-10, 1e-12), torch.float32: (1e-4, 1e-5),
           torch.bfloat16: (6e-2, 6e-2), torch.float16: (1e-2, 1e-2)}
TOL_SAME = {torch.float64: (1e-12, 1e-12), torch.float32: (1e-5, 1e-6)}


def build(kind, seed=0, **kw):
    """The module with random weights and BatchNorm statistics; CCNet's gamma non-zero so its
    attention path shows in the output. ``kw`` go to the constructor."""
    torch.manual_seed(seed)
    m = KINDS[kind](**kw)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for sub in m.modules():
            if isinstance(sub, torch.nn.BatchNorm2d):
                sub.weight.copy_(torch.rand(sub.weight.shape, generator=g) + 0.5)
                sub.bias.copy_(torch.rand(sub.bias.shape, generator=g) - 0.5)
                sub.running_mean.copy_(torch.rand(sub.running_mean.shape, generator=g) * 0.4 - 0.2)
                sub.running_var.copy_(torch.rand(sub.running_var.shape, generator=g) + 0.5)
        if kind == "ccnet":
            m.gamma.fill_(0.7)
    return m


def inputs(batch, dtype, layout, device, seed=2):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, C, 5, 6, generator=g, dtype=torch.float64)
    v = torch.randn(batch, C, 5, 6, generator=g, dtype=torch.float64)
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    return (x.to(device=device, dtype=dtype).contiguous(memory_format=fmt),
            v.to(device=device, dtype=dtype).contiguous(memory_format=fmt))


def run(module, x, v, train, autocast_dtype=None, reference=False):
    """Output, and gradients of <output, v> w.r.t. x and every parameter, of a fresh copy of
    ``module`` (so training-mode BatchNorm updates stay separate)."""
    m = copy.deepcopy(module).train(train)
    x = x.detach().clone().requires_grad_()
    with reference_mode() if reference else _null(), \
            torch.autocast(x.device.type, dtype=autocast_dtype) if autocast_dtype else _null():
        y = m(x)
    grads = torch.autograd.grad((y.float() * v.float()).sum(), [x] + list(m.parameters()))
    return y.detach(), grads, m


class _null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def close(a, b, tol, what, scale=1.0):
    """assert_close with the absolute tolerance scaled by ``scale`` (for gradients: the
    largest gradient entry, since BatchNorm makes some, such as a bias before it, sums that
    cancel to rounding noise)."""
    rtol, atol = tol
    torch.testing.assert_close(a.double(), b.double(), rtol=rtol, atol=atol * max(1.0, scale),
                               msg=lambda m: f"{what}: {m}")


def largest(tensors):
    return max(float(t.double().abs().max()) for t in tensors if t.numel())


def check_case(kind, device, dtype, layout, batch, train, autocast_dtype=None):
    module = build(kind).to(device=device, dtype=dtype)
    x, v = inputs(batch, dtype, layout, device)
    y, grads, m = run(module, x, v, train, autocast_dtype)
    y_ref, grads_ref, m_ref = run(module, x, v, train, autocast_dtype, reference=True)
    # what eager PyTorch's rules give: the reference's dtype and memory format
    assert y.dtype == y_ref.dtype
    assert y.shape == x.shape
    assert (y.is_contiguous(memory_format=torch.channels_last)
            == y_ref.is_contiguous(memory_format=torch.channels_last))
    assert [g.dtype for g in grads] == [g.dtype for g in grads_ref]
    fast = autocast_dtype is None and dtype in TOL_SAME
    if kind in HAS_FAST_PATH:
        # the matrix exercises the fast path exactly where the module may take it
        with torch.autocast(device, dtype=autocast_dtype) if autocast_dtype else _null():
            assert fast_path_ok(module, x) == fast
    if fast:
        close(y, y_ref, TOL_SAME[dtype], "output vs reference")
        for i, (a, b) in enumerate(zip(grads, grads_ref)):
            close(a, b, TOL_SAME[dtype], f"gradient {i} vs reference", largest(grads_ref))
        for (n, a), (_, b) in zip(m.named_buffers(), m_ref.named_buffers()):
            close(a, b, TOL_SAME[dtype], f"buffer {n} vs reference")
    else:           # not equivalent here: the module runs the reference itself
        assert torch.equal(y, y_ref)
        for a, b in zip(grads, grads_ref):
            assert torch.equal(a, b)
    # and the result is the module's function: the float64 reference of a float64 copy
    y64, grads64, _ = run(module.double(), x.double(), v.double(), train, reference=True)
    tol = TOL_F64[autocast_dtype or dtype]
    close(y, y64, tol, "output vs float64 reference")
    close(grads[0], grads64[0], tol, "input gradient vs float64 reference", largest(grads64))


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16],
                         ids=str)
@pytest.mark.parametrize("device", DEVICES)
def test_dtypes_layouts_batch_one_train_eval(kind, dtype, device):
    for layout in ("nchw", "channels_last"):
        for batch in (1, 2):
            for train in (False, True):
                check_case(kind, device, dtype, layout, batch, train)


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("device", DEVICES)
def test_autocast(kind, device):
    low = torch.bfloat16 if device == "cpu" else torch.float16
    for layout in ("nchw", "channels_last"):
        for batch in (1, 2):
            for train in (False, True):
                check_case(kind, device, torch.float32, layout, batch, train, autocast_dtype=low)


@needs_cuda
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_cuda_autocast_bfloat16(kind):
    for train in (False, True):
        check_case(kind, "cuda", torch.float32, "nchw", 2, train, autocast_dtype=torch.bfloat16)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_torch_export_gives_the_reference(kind):
    module = build(kind).eval()
    x, _ = inputs(2, torch.float32, "nchw", "cpu")
    exported = torch.export.export(module, (x,))
    with torch.no_grad(), reference_mode():
        expected = module(x)
    close(exported.module()(x), expected, TOL_SAME[torch.float32], "exported vs reference")
    # the exported graph holds the paper's operations, not the fast kernels' matrix products
    targets = {str(n.target) for n in exported.graph.nodes if n.op == "call_function"}
    assert not any("bmm" in t or "baddbmm" in t for t in targets) or kind in ("ccnet",), targets


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_torch_compile_values_and_gradients(kind, layout):
    """torch.compile traces the reference (dynamo + AOT autograd; the ``aot_eager`` backend
    keeps this fast, the inductor path is tested in test_fast_paths.py, marked slow)."""
    module = build(kind)
    x, v = inputs(2, torch.float32, layout, "cpu")
    for train in (False, True):
        compiled = torch.compile(copy.deepcopy(module).train(train), backend="aot_eager")
        xc = x.clone().requires_grad_()
        y = compiled(xc)
        grads = torch.autograd.grad((y * v).sum(), [xc] + list(compiled.parameters()))
        y_ref, grads_ref, _ = run(module, x, v, train, reference=True)
        assert y.dtype == y_ref.dtype
        close(y, y_ref, TOL_SAME[torch.float32], "compiled output vs reference")
        for i, (a, b) in enumerate(zip(grads, grads_ref)):
            close(a, b, (1e-4, 1e-5), f"compiled gradient {i} vs reference", largest(grads_ref))


@pytest.mark.parametrize("kind", sorted(HAS_FAST_PATH))
def test_fused_cpp_inference(kind):
    """``fused="cpp"`` (CPU kernels, inference only) over the same matrix without gradients:
    the reference's values, dtype and memory format (the first call compiles the extension,
    about 30 s, cached by PyTorch)."""
    module = build(kind, fused="cpp")
    cases = [(dtype, None) for dtype in TOL_F64] + [(torch.float32, torch.bfloat16)]
    for dtype, autocast_dtype in cases:
        m = copy.deepcopy(module).to(dtype)
        for layout in ("nchw", "channels_last"):
            for batch in (1, 2):
                x, _ = inputs(batch, dtype, layout, "cpu")
                for train in (False, True):
                    outs = []
                    for reference in (False, True):
                        mi = copy.deepcopy(m).train(train)
                        with torch.no_grad(), reference_mode() if reference else _null(), \
                                torch.autocast("cpu", dtype=autocast_dtype) if autocast_dtype \
                                else _null():
                            outs.append(mi(x))
                    y, y_ref = outs
                    assert y.dtype == y_ref.dtype
                    assert (y.is_contiguous(memory_format=torch.channels_last)
                            == y_ref.is_contiguous(memory_format=torch.channels_last))
                    tol = TOL_SAME.get(dtype) if autocast_dtype is None else None
                    if tol:
                        close(y, y_ref, tol, f"{dtype} {layout} batch {batch} train={train}")
                    else:
                        assert torch.equal(y, y_ref)


def test_reference_mode_and_grading_never_run_the_fast_paths(monkeypatch):
    """count_macs and grading's expected values come from the reference: inside
    reference_mode (which attn_ref.grading.core.expected_value enters) no fast kernel runs."""
    from attn_ref import cbam_fast, coord_fast
    from attn_ref.grading.core import expected_value
    from attn_ref.grading.registry import all_checks

    def refuse(*args, **kwargs):
        raise AssertionError("a fast path ran")
    for target, name in ((coord_fast, "forward"), (coord_fast, "directional_means"),
                         (coord_fast, "scale_hw"), (cbam_fast, "avg_max_hw"),
                         (cbam_fast, "max_mean_c")):
        monkeypatch.setattr(target, name, refuse)
    x = torch.randn(2, C, 5, 6)
    with reference_mode(), torch.no_grad():
        for kind in sorted(HAS_FAST_PATH):
            build(kind)(x)
    with pytest.raises(AssertionError, match="a fast path ran"):     # the spy works
        build("ca")(x)
    for check_id, check in all_checks().items():
        if check_id.split(".")[0] in ("ca", "cbam"):
            for case in check.cases():
                expected_value(check, case)
