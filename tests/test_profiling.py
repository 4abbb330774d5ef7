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


# ----- ranges are never operators; kernels refuse what the interpreter computes wrongly ----------
def test_dominant_operator_never_returns_a_recorded_range_or_a_runtime_call():
    # a late-stage map (1 x 256 x 7 x 7): the Python overhead inside the range profile_rows adds
    # outweighs every operator, so the range has the largest self time
    rows = [{"name": "forward", "self_cpu_us": 900.0, "cpu_total_us": 1400.0, "calls": 3},
            {"name": "cudaLaunchKernel", "self_cpu_us": 300.0, "cpu_total_us": 300.0, "calls": 30},
            {"name": "aten::mean", "self_cpu_us": 120.0, "cpu_total_us": 130.0, "calls": 6},
            {"name": "aten::mul", "self_cpu_us": 150.0, "cpu_total_us": 150.0, "calls": 6}]
    assert P.dominant_operator(rows) == "aten::mul"
    assert [P.is_operator(r["name"]) for r in rows] == [False, False, True, True]
    assert not P.is_operator("CABaseline.forward") and P.is_operator("prim::Constant")
    with pytest.raises(ValueError, match="no operator"):
        P.dominant_operator(rows[:2])


def test_dominant_operator_of_a_real_profile_of_a_small_map_is_an_operator():
    _, base = P.module_pair("ca", 256)
    x = torch.randn(1, 256, 7, 7)
    with torch.no_grad():
        rows = P.profile_rows(lambda: base(x), label="forward")
    assert "forward" in [r["name"] for r in rows]          # the range is in the table ...
    top = P.dominant_operator(rows)
    assert top.startswith("aten::") and top != "forward"    # ... but is never the answer


@pytest.mark.skipif(torch.cuda.is_available(), reason="the interpreter runs only without a GPU here")
@pytest.mark.parametrize("dtype", [torch.bfloat16])
def test_fused_ca_scale_refuses_dtypes_the_interpreter_computes_wrongly(dtype):
    x = torch.randn(1, 2, 3, 4, dtype=dtype)
    a_h, a_w = torch.rand(1, 2, 3, 1, dtype=dtype), torch.rand(1, 2, 1, 4, dtype=dtype)
    assert P.interpreted() and dtype not in P.INTERPRETER_DTYPES
    with pytest.raises(TypeError, match="interpreter"):
        P.fused_ca_scale(x, a_h, a_w)
    # the conversion the message proposes gives the right values
    y = P.fused_ca_scale(x.float(), a_h.float(), a_w.float()).to(dtype)
    torch.testing.assert_close(y, x * a_h * a_w)


def test_fused_ca_scale_computes_float16_exactly_and_refuses_mixed_dtypes():
    x = torch.randn(2, 3, 5, 7, dtype=torch.float16)
    a_h, a_w = torch.rand(2, 3, 5, 1, dtype=torch.float16), torch.rand(2, 3, 1, 7, dtype=torch.float16)
    torch.testing.assert_close(P.fused_ca_scale(x, a_h, a_w), x * a_h * a_w, rtol=0, atol=0)
    with pytest.raises(TypeError, match="one dtype"):
        P.fused_ca_scale(x.float(), a_h, a_w)
    with pytest.raises(TypeError, match="one dtype"):
        P.fused_ca_scale(x, a_h, a_w, out=torch.empty(2, 3, 5, 7))


# ----- verdicts from synthetic timings (nothing here is timed) -----------------------------------
def _result(times):
    q1, med, q3 = np.percentile(times, [25, 50, 75])
    return {"times": list(times), "median": float(med), "iqr": float(q3 - q1)}


def test_compare_decides_only_when_every_quartile_agrees():
    quiet = {"copy": _result([1.0, 1.0, 1.0, 1.0, 1.0]),
             "fast": _result([0.50, 0.52, 0.49, 0.51, 0.50]),
             "slow": _result([2.0, 2.1, 1.9, 2.0, 2.05])}
    assert P.compare(quiet, "fast", "slow")["verdict"] == "faster"
    assert P.compare(quiet, "slow", "fast")["verdict"] == "slower"
    assert P.compare(quiet, "fast", "slow")["median"] == pytest.approx(0.25, rel=0.05)
    # the same medians, but one round in two hit by a neighbour: the spread covers the effect
    busy = {"a": _result([1.0, 3.0, 1.0, 3.0, 1.0]), "b": _result([1.2, 1.2, 3.6, 1.2, 3.6])}
    c = P.compare(busy, "a", "b")
    assert c["q1"] < 1 < c["q3"] and c["verdict"] == "undecided"


def test_rounds_are_paired_so_a_load_that_hits_both_cancels():
    # the machine's load triples in rounds 2 and 4, for both callables alike
    load = np.array([1, 3, 1, 3, 1.0])
    res = {"copy": _result(1.0 * load), "ca": _result(1.6 * load)}
    assert P.relative_spread(res["copy"]) > P.NOISY_SPREAD      # each alone is noisy ...
    c = P.compare(res, "ca", "copy")                            # ... their ratio per round is not
    assert c["verdict"] == "slower" and c["q1"] == pytest.approx(1.6) and c["q3"] == pytest.approx(1.6)


def test_noisy_and_below_floor_flag_what_a_busy_machine_produces():
    results = {"copy": _result([1.0, 2.0, 0.4, 1.0, 3.0]), "mean": _result([0.5, 0.52, 0.5, 0.51, 0.5])}
    assert set(P.noisy(results)) == {"copy"}
    assert P.noisy(results)["copy"] == pytest.approx(P.relative_spread(results["copy"]))
    ratios = {"x.mean(2)": {"median": 0.03, "q1": 0.02, "q3": 0.05},     # reading x costs >= 0.5
              "x.clone()": {"median": 1.1, "q1": 1.0, "q3": 1.3},
              "x.mean(3)": {"median": 0.4, "q1": 0.3, "q3": 0.45}}
    floors = {"x.mean(2)": 0.5, "x.clone()": 1.0, "x.mean(3)": 0.5}
    assert P.below_floor(ratios, floors) == {"x.mean(2)": (0.03, 0.5)}
    lines = P.trust_report(results, ratios, floors)
    assert len(lines) == 2 and "too busy" in lines[0] and "copy" in lines[0]
    assert lines[1].startswith("x.mean(2): 0.03 copies is impossible")
    quiet = {"copy": _result([1.0, 1.01, 0.99, 1.0, 1.0])}
    assert P.trust_report(quiet, {"x.clone()": ratios["x.clone()"]}, {"x.clone()": 1.0}) == []


def test_measure_until_steady_measures_again_only_while_noisy_and_pools_the_rounds():
    calls = []

    def fake(times_per_try):
        def measure_fn(fns, rounds, min_run_time, threads):
            times = times_per_try[len(calls)]
            calls.append(rounds)
            return {name: _result(times) for name in fns}
        return measure_fn

    fns = {"copy": None, "ca": None}
    steady = P.measure_until_steady(fns, measure_fn=fake([[1.0, 1.0, 1.01, 0.99, 1.0]]))
    assert len(calls) == 1 and steady["copy"]["tries"] == 1
    calls.clear()
    busy, calm = [1.0, 4.0, 1.0, 4.0, 1.0], [1.0, 1.0, 1.0, 1.0, 1.0]
    pooled = P.measure_until_steady(fns, retries=1, measure_fn=fake([busy, calm]))
    assert len(calls) == 2 and pooled["ca"]["tries"] == 2
    assert pooled["ca"]["times"] == busy + calm and pooled["ca"]["median"] == 1.0
    calls.clear()
    still = P.measure_until_steady(fns, retries=1, measure_fn=fake([busy, busy]))
    assert len(calls) == 2 and P.noisy(still)              # gives up after the retries, and says so
    assert "after 2 tries" in P.trust_report(still)[0]


@pytest.fixture
def chinese():
    from attn_ref.i18n import set_language
    set_language("zh-CN")
    yield
    set_language(None)


def _busy_and_impossible():
    # copy: sorted 0.4, 1, 1, 2, 3 -> quartiles 1 and 2, median 1: a spread of 100 %
    results = {"copy": _result([1.0, 2.0, 0.4, 1.0, 3.0]), "mean": _result([0.5, 0.52, 0.5, 0.51, 0.5])}
    ratios = {"x.mean(2)": {"median": 0.03, "q1": 0.02, "q3": 0.05}}
    return results, ratios, {"x.mean(2)": 0.5}


def test_trust_report_in_english_word_for_word():
    assert P.trust_report(*_busy_and_impossible()) == [
        "the machine was too busy for these timings: between rounds the times varied by more than "
        "25 % of their median (copy 100 %) after 1 try; differences smaller than that spread mean "
        "nothing. Rerun the cell when the machine is quieter.",
        "x.mean(2): 0.03 copies is impossible -- it must move at least 0.50 copies' worth of bytes; "
        "the copy it is divided by was slowed by other work. Do not read this row."]


def test_trust_report_speaks_the_learners_language(chinese):
    busy, impossible = P.trust_report(*_busy_and_impossible())
    assert busy == ("机器太忙，这些计时不可信：测了 1 次之后，各轮之间的时间波动仍超过中位数的 25 %"
                    "（copy 100 %）；比这个离散程度小的差别没有意义。请在机器空闲一些时重新运行该单元格。")
    assert impossible == ("x.mean(2)：0.03 次复制是不可能的——它至少要搬运 0.50 次复制的字节量；"
                          "作为分母的那次复制被别的工作拖慢了。不要采信这一行。")
    twice = {n: dict(r, tries=2) for n, r in _busy_and_impossible()[0].items()}   # "after 2 tries"
    assert P.trust_report(twice)[0].startswith("机器太忙，这些计时不可信：测了 2 次之后，")
