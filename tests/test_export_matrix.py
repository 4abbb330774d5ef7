"""Every module kind the way practitioners ship it, beside the eager matrix of
test_reference_matrix.py: ONNX through both of ``torch.onnx``'s exporters run in onnxruntime,
TorchScript (``torch.jit.trace``), ``torch.compile(fullgraph=True)`` of the module and of a
network holding it, and float16 weights and inputs at the magnitudes of late detector stages.

Each module has the trained-looking state of the reference matrix's ``build`` (BatchNorm
weights and running statistics away from their initial values, CCNet's residual weight gamma
non-zero), and every graph is checked on inputs of other shapes than the one it was exported
or traced with (another batch, height and width; batch 1 among them), against the eager module
within float32 tolerance. While an exporter or a tracer records a module, the fast paths of CA and
CBAM must not run (``attn_ref.reference.tracing``): a spy makes every fast kernel raise.
"""
import contextlib
import copy
import io

import pytest
import torch
import torch.nn.functional as F

import attn_ref
from attn_ref import cbam_fast, coord_fast, fused_cpu
from attn_ref.models import Bottleneck, make_attention

from test_reference_matrix import C, HAS_FAST_PATH, KINDS, build

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

EXPORT_SHAPE = (2, C, 5, 6)
# other batch sizes, heights and widths than the exported one (H != W, and H > W once)
OTHER_SHAPES = ((1, C, 7, 9), (3, C, 9, 4))
TOL = dict(rtol=1e-4, atol=1e-5)              # float32 against float32, another order of sums


def rand(shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@contextlib.contextmanager
def no_fast_kernels():
    """Within this context every fast kernel of CA and CBAM (and the fused CPU ones) raises:
    what a tracer records must be the reference."""
    def refuse(*args, **kwargs):
        raise AssertionError("a fast path ran while a tracer recorded the module")
    with pytest.MonkeyPatch.context() as mp:
        for target, name in ((coord_fast, "forward"), (coord_fast, "directional_means"),
                             (coord_fast, "scale_hw"), (cbam_fast, "avg_max_hw"),
                             (cbam_fast, "max_mean_c"), (fused_cpu, "usable")):
            mp.setattr(target, name, refuse)
        yield


def eager(module, x):
    with torch.no_grad():
        return module(x)


def onnx_bytes(module, x, exporter):
    """``module`` exported to ONNX with dynamic batch, height and width; the model's bytes."""
    if exporter == "torchscript":
        f = io.BytesIO()
        torch.onnx.export(module, (x,), f, dynamo=False, input_names=["x"],
                          output_names=["y"],
                          dynamic_axes={"x": {0: "batch", 2: "height", 3: "width"},
                                        "y": {0: "batch", 2: "height", 3: "width"}})
        return f.getvalue()
    dims = {0: torch.export.Dim("batch"), 2: torch.export.Dim("height"),
            3: torch.export.Dim("width")}
    program = torch.onnx.export(module, (x,), dynamo=True, input_names=["x"],
                                output_names=["y"], dynamic_shapes={"x": dims})
    return program.model_proto.SerializeToString()


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_onnx_runs_in_onnxruntime_as_eager(kind, exporter):
    """``torch.onnx.export`` (``dynamo=False``: the TorchScript-based exporter the YOLO
    repositories' export scripts call; ``dynamo=True``), dynamic batch, height and width, run
    in onnxruntime's CPU provider on inputs of other shapes: the eager module's output within
    float32 tolerance. (Before ``reference.tracing``, the TorchScript exporter recorded CBAM's
    fast path and its graph returned numbers off by about 1 without a warning; CCNet's boolean
    ``torch.eye`` became an ``EyeLike`` onnxruntime does not implement.)"""
    module = build(kind).eval()
    with torch.no_grad(), no_fast_kernels():
        data = onnx_bytes(module, rand(EXPORT_SHAPE, 1), exporter)
    onnx.checker.check_model(onnx.load_from_string(data))
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert [d if isinstance(d, int) else "dynamic" for d in inp.shape] == \
        ["dynamic", C, "dynamic", "dynamic"], inp.shape
    for i, shape in enumerate((EXPORT_SHAPE,) + OTHER_SHAPES):
        x = rand(shape, 10 + i)
        (y,) = session.run(None, {inp.name: x.numpy()})
        # the eager module, outside any tracer: its fast path where it has one
        torch.testing.assert_close(torch.from_numpy(y), eager(module, x), **TOL,
                                   msg=lambda m: f"{kind} {exporter} {shape}: {m}")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_torchscript_trace(kind):
    """``torch.jit.trace`` on one shape, run on others: the eager output. CA and CBAM also with
    ``fused="cpp"`` and ``fused="compile"``, which a trace records as the reference too."""
    variants = [{}] + ([{"fused": "cpp"}, {"fused": "compile"}] if kind in HAS_FAST_PATH else [])
    for kw in variants:
        module = build(kind, **kw).eval()
        reference = build(kind).eval()              # the same weights, no fused option
        with torch.no_grad(), no_fast_kernels():
            traced = torch.jit.trace(module, rand(EXPORT_SHAPE, 1), check_trace=False)
        for i, shape in enumerate(OTHER_SHAPES):
            x = rand(shape, 20 + i)
            with torch.no_grad():
                y = traced(x)
            torch.testing.assert_close(y, eager(reference, x), **TOL,
                                       msg=lambda m: f"{kind} {kw} {shape}: {m}")


def _network(kind):
    """A ResNet bottleneck holding the attention module on its 4 * 8 = 32 output channels,
    with the module's trained-looking state copied in (``build`` on 32 channels)."""
    torch.manual_seed(5)
    width = 8
    net = Bottleneck(16, width, attention=make_attention(kind, 4 * width, **_small(kind)))
    with torch.no_grad():
        for sub in net.modules():
            if isinstance(sub, torch.nn.BatchNorm2d):
                sub.running_mean.uniform_(-0.2, 0.2)
                sub.running_var.uniform_(0.5, 1.5)
        if kind == "ccnet":
            net.attention.gamma.fill_(0.7)
    return net


def _small(kind):
    return {"se": {"reduction": 4}, "eca": {"k_size": 3}, "cbam": {"reduction": 4},
            "ca": {"reduction": 4}, "ccnet": {"reduction": 4}, "gam": {"rate": 4}}[kind]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_compile_fullgraph_module_and_network(kind):
    """``torch.compile(..., fullgraph=True)`` of the module and of a bottleneck holding it
    compiles as one graph (no graph break: Dynamo never meets the ContextVar of
    ``reference_mode``) and gives the eager output, in eval and train mode (the module's graph
    also on a second shape, which Dynamo recompiles with dynamic sizes).
    (The ``eager`` backend: what is checked is Dynamo's graph capture; inductor's code
    generation is chapter 06's and test_fast_paths.py's.)"""
    cases = [("module", build, False, ((2, 16, 5, 6), (1, 16, 7, 9))),   # a second shape:
             ("module", build, True, ((2, 16, 5, 6),)),                  # the dynamic graph
             ("network", _network, False, ((2, 16, 5, 6),)),
             ("network", _network, True, ((2, 16, 5, 6),))]
    for name, make, train, shapes in cases:
        module = make(kind).train(train)
        # a fresh Dynamo cache: Dynamo recompiles a forward for each new module object, and
        # past its recompile limit (8) fullgraph=True fails however clean the graph
        torch._dynamo.reset()
        compiled = torch.compile(copy.deepcopy(module), fullgraph=True, backend="eager")
        for i, shape in enumerate(shapes):
            x = rand(shape, 30 + i)
            y = compiled(x)                 # train mode: both BatchNorms move the same way
            with torch.no_grad():
                expected = module(x)
            torch.testing.assert_close(y.detach(), expected, **TOL,
                                       msg=lambda m: f"{kind} {name} train={train} "
                                                     f"{shape}: {m}")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_float16_large_activations_stay_finite(kind):
    """float16 weights and inputs at the magnitudes late detector stages reach (SiLU
    activations up to several hundred on a 40 x 40 map, 64 channels): no inf or NaN where the
    float32 module's output is finite, output in float16. Before SE's squeeze summed in float32,
    its float16 sum over 1600 positions overflowed (SE and ECA returned inf and NaN); so did
    CCNet's float16 affinities. For every kind but CCNet the float16 output is also within a
    few per cent of the largest float32 output (CCNet's attention logits run into the
    thousands here, where float16's rounding of the projections alone moves the weights)."""
    torch.manual_seed(0)
    module = attn_ref.kinds.build(kind, 64).eval()
    with torch.no_grad():
        if kind == "ccnet":
            module.gamma.fill_(0.7)
        x = F.silu(torch.randn(1, 64, 40, 40, generator=torch.Generator().manual_seed(3)) * 200)
        assert x.max() > 400                                       # the regime meant
        y32 = module(x)
        y16 = copy.deepcopy(module).half()(x.half())
    assert torch.isfinite(y32).all()
    assert y16.dtype == torch.float16
    assert torch.isfinite(y16).all(), f"{kind}: {int((~torch.isfinite(y16)).sum())} non-finite"
    if kind != "ccnet":
        err = float((y16.float() - y32).abs().max() / y32.abs().max())
        assert err < 0.05, err
