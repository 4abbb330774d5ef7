"""attn_ref.profiling: the closed forms against counts taken from real tensors and operators, the
helpers' contracts, the saved profile, and the fused Triton kernel (in Triton's interpreter when
there is no GPU). Nothing here asserts a time."""
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from attn_ref import profiling as P
from attn_ref.grading import collect, get_check, verify

ROOT = Path(__file__).resolve().parent.parent
SHAPES = [(2, 16, 5, 7), (1, 32, 4, 4), (3, 48, 1, 9)]


def _maps(kind, shape):
    """The gates an attn_ref module actually computes, from its ``maps``."""
    ours, _ = P.module_pair(kind, shape[1])
    with torch.no_grad():
        ours(torch.randn(shape))
    return list(ours.maps.values())


class _Muls(TorchDispatchMode):
    """Counts the elements written by element-wise multiplications."""

    def __init__(self):
        super().__init__()
        self.elements = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func.overloadpacket in (torch.ops.aten.mul, torch.ops.aten.mul_):
            self.elements += out.numel()
        return out


@pytest.mark.parametrize("kind", P.KINDS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_scale_bytes_is_one_read_of_every_input_and_one_write(kind, shape, dtype):
    gates = _maps(kind, shape)
    itemsize = torch.empty((), dtype=dtype).element_size()
    n = int(np.prod(shape))
    # x read, each gate read in its own (small) shape, y written
    counted = itemsize * (n + sum(g.numel() for g in gates) + n)
    assert P.scale_bytes(kind, *shape, itemsize=itemsize) == counted


@pytest.mark.parametrize("kind", P.KINDS)
def test_min_bytes_adds_the_pooling_reads_and_floors_are_1_5_and_2_copies(kind):
    b, c, h, w = 32, 256, 28, 28
    n = b * c * h * w
    extra = P.min_bytes(kind, b, c, h, w) - P.scale_bytes(kind, b, c, h, w)
    assert extra == 4 * n * (2 if kind == "cbam" else 1)
    floor = P.min_bytes(kind, b, c, h, w) / (2 * 4 * n)
    assert floor == pytest.approx(2.0 if kind == "cbam" else 1.5, abs=0.04)


@pytest.mark.parametrize("kind", P.KINDS)
def test_scale_flops_counts_the_multiplications_of_the_eager_product(kind):
    shape = (2, 32, 5, 6)
    x = torch.randn(shape)
    gates = _maps(kind, shape)
    gates = [g.reshape(g.shape + (1, 1)) if g.dim() == 2 else g for g in gates]   # SE/ECA keep s as (B, C)
    with _Muls() as counter:
        y = x
        for g in gates:
            y = y * g
    assert P.scale_flops(kind, *shape) == counter.elements


def test_unknown_kind_is_an_error():
    for f in (P.scale_bytes, P.min_bytes, P.scale_flops):
        with pytest.raises(ValueError):
            f("gam", 1, 2, 3, 4)


def test_measure_and_ratios_report_medians_and_quartiles():
    x = torch.randn(1000)
    res = P.measure({"copy": P.copy_of(x), "twice": lambda: x * 2}, rounds=3, min_run_time=0.001)
    assert set(res) == {"copy", "twice"}
    for r in res.values():
        assert len(r["times"]) == 3 and r["median"] > 0 and r["iqr"] >= 0
    ratios = P.ratios_to(res)
    assert ratios["copy"] == {"median": 1.0, "q1": 1.0, "q3": 1.0}
    assert ratios["twice"]["q1"] <= ratios["twice"]["median"] <= ratios["twice"]["q3"]


def test_copy_of_copies_into_one_preallocated_tensor():
    x = torch.randn(3, 4)
    f = P.copy_of(x)
    a, b = f(), f()
    assert a.data_ptr() == b.data_ptr() and torch.equal(a, x)
    assert P.copy_bytes(x) == 2 * 12 * 4


def test_peak_rss_sees_a_large_touched_allocation():
    # in a fresh process: in this one, memory freed by earlier tests may still be resident and be
    # handed out again, so a new tensor need not raise the resident set at all
    size = 64 * 2**20
    code = ("import json, torch; from attn_ref import profiling as P; "
            f"print(json.dumps(P.peak_rss_bytes(lambda: torch.ones({size // 4}))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    if not r["exact"]:
        pytest.skip("the resident set's high-water mark cannot be reset here")
    assert r["increase"] >= size // 2


@pytest.mark.parametrize("kind", P.KINDS)
def test_module_pair_computes_the_same_function(kind):
    ours, base = P.module_pair(kind, 32)
    x = torch.randn(2, 32, 6, 5)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), base(x), rtol=1e-5, atol=1e-5)


def test_profile_rows_and_trace(tmp_path):
    x = torch.randn(64, 64)
    trace = tmp_path / "trace.json"
    rows = P.profile_rows(lambda: torch.mm(x, x).sigmoid(), label="step", trace_path=trace)
    names = [r["name"] for r in rows]
    assert "aten::mm" in names and "step" in names
    assert set(rows[0]) == set(P.ROW_KEYS)
    assert [r["self_cpu_us"] for r in rows] == sorted((r["self_cpu_us"] for r in rows), reverse=True)
    assert "traceEvents" in json.loads(trace.read_text())


def test_dominant_operator_ranks_by_self_time_and_sums_repeated_names():
    rows = [{"name": "wrapper", "self_cpu_us": 5.0, "cpu_total_us": 100.0, "calls": 1},
            {"name": "aten::empty", "self_cpu_us": 20.0, "cpu_total_us": 20.0, "calls": 90},
            {"name": "aten::mul", "self_cpu_us": 30.0, "cpu_total_us": 30.0, "calls": 2},
            {"name": "aten::mean", "self_cpu_us": 25.0, "cpu_total_us": 25.0, "calls": 2},
            {"name": "aten::mean", "self_cpu_us": 25.0, "cpu_total_us": 25.0, "calls": 2}]
    assert P.dominant_operator(rows) == "aten::mean"
    assert P.dominant_operator(rows[:3]) == "aten::mul"


def test_saved_profile_is_shipped_and_readable():
    assert P.SAVED_PROFILE.is_file()
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["attn_ref"]
    assert "assets/*.json" in package_data              # installed with the package
    doc = P.load_saved_profile()
    assert doc["meta"]["shape"] and doc["meta"]["torch"]
    rows = doc["rows"]
    assert rows and all(set(P.ROW_KEYS) <= set(r) for r in rows)
    top = P.dominant_operator(rows)
    assert top.startswith("aten::")
    assert max(rows, key=lambda r: r["cpu_total_us"])["name"] != top   # the exercise's trap exists


def _layouts(shape, dtype):
    b, c, h, w = shape
    yield "contiguous", torch.randn(shape, dtype=dtype)
    yield "channels_last", torch.randn(shape, dtype=dtype).to(memory_format=torch.channels_last)
    yield "transposed", torch.randn(b, c, w, h, dtype=dtype).transpose(2, 3)


@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (1, 1, 1, 1), (2, 4, 9, 9)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_ca_scale_matches_eager(shape, dtype):
    b, c, h, w = shape
    a_h = torch.rand(b, c, h, 1, dtype=dtype)
    a_w = torch.rand(b, c, 1, w, dtype=dtype)
    for layout, x in _layouts(shape, dtype):
        for block in (16, 128):
            y = P.fused_ca_scale(x, a_h, a_w, block=block)
            assert y.is_contiguous()
            torch.testing.assert_close(y, x * a_h * a_w, rtol=0, atol=0, msg=layout)


def test_fused_ca_scale_rejects_wrong_gate_shapes():
    x = torch.randn(1, 2, 3, 4)
    with pytest.raises(ValueError):
        P.fused_ca_scale(x, torch.rand(1, 2, 4, 1), torch.rand(1, 2, 1, 3))


def test_fused_scale_check_catches_an_unmasked_kernel_and_a_swapped_axis():
    triton, tl = P.import_triton()

    @triton.jit
    def unmasked(x_ptr, ah_ptr, aw_ptr, out_ptr, n, H, W, BLOCK: tl.constexpr):
        i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        x = tl.load(x_ptr + i)
        ah = tl.load(ah_ptr + i // W)
        aw = tl.load(aw_ptr + (i // (H * W)) * W + i % W)
        tl.store(out_ptr + i, x * ah * aw)

    @triton.jit
    def swapped(x_ptr, ah_ptr, aw_ptr, out_ptr, n, H, W, BLOCK: tl.constexpr):
        i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = i < n
        w = i % W
        h = (i // W) % H
        bc = i // (H * W)
        x = tl.load(x_ptr + i, mask=m)
        ah = tl.load(ah_ptr + bc * H + w % H, mask=m)
        aw = tl.load(aw_ptr + bc * W + h % W, mask=m)
        tl.store(out_ptr + i, x * ah * aw, mask=m)

    def launcher(kernel):
        def run(x, a_h, a_w, out):
            x = x.contiguous()
            kernel[(triton.cdiv(x.numel(), 64),)](x, a_h, a_w, out, x.numel(), x.shape[2],
                                                  x.shape[3], BLOCK=64)
            return out
        return run

    check = get_check("profiling.ca_scale")
    v = verify(check, collect(check.id, launcher(unmasked)))
    assert not v.passed and "mask" in v.text() and "outside out" in v.text()
    v = verify(check, collect(check.id, launcher(swapped)))
    assert not v.passed and "broadcast along the rows" in v.text()
    assert verify(check, collect(check.id, P.fused_ca_scale)).passed


def test_triton_import_keeps_an_explicit_interpreter_setting():
    P.import_triton()
    if not torch.cuda.is_available():
        assert os.environ.get("TRITON_INTERPRET") == "1"
