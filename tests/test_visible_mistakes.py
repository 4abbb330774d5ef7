"""Visible tests that teach: every catalogued mistake fails a visible test, hint first.

Built from the chapters' own cells (see ``mistakes_harness``), so it follows the chapters when
they change. Runs in-process, without Jupyter: seconds per chapter (the profiling chapter's
Triton interpreter makes it the slowest).
"""
from __future__ import annotations

import numpy as np
import pytest

from mistakes_harness import ROOT, message, mistaken, run_visible, samples_of, walk

CHAPTERS = sorted(p.parent.name for p in (ROOT / "solutions").glob("*/*.ipynb"))

# Mistakes written as code, where the catalogue's description cannot be turned into an object on
# the visible inputs, and the three the issue found passing every visible test:
# (chapter, test cell, name replaced, code defining it, a phrase the failure's first line holds)
WRITTEN = [
    ("01_se", "test_se_module", "SqueezeExcitation", '''
class SqueezeExcitation(nn.Module):             # the bottleneck rounded up
    def __init__(self, channels, reduction=16, bias=True):
        super().__init__()
        hidden = -(-channels // reduction)
        self.fc1 = nn.Linear(channels, hidden, bias=bias)
        self.fc2 = nn.Linear(hidden, channels, bias=bias)

    def forward(self, x):
        s = excitation(squeeze(x), self.fc1.weight, self.fc1.bias, self.fc2.weight, self.fc2.bias)
        return x * s[:, :, None, None]
''', "round down, not up"),
    ("02_eca", "test_kernel_size", "eca_kernel_size", '''
def eca_kernel_size(channels, gamma=2, b=1):
    t = (math.log2(channels) + b) / gamma
    return 2 * round((t - 1) / 2) + 1          # "nearest odd" with round()
''', "not round()"),
    ("02_eca", "test_gate", "eca_gate", '''
def eca_gate(x, weight):                        # the weight is not cast: mixed dtypes raise
    k = weight.shape[0]
    y = F.conv1d(x.mean(dim=(2, 3)).unsqueeze(1), weight.view(1, 1, k), padding=(k - 1) // 2)
    return torch.sigmoid(y.squeeze(1))
''', "cast the weight to x's dtype"),
    ("02_eca", "test_gate", "eca_gate", '''
def eca_gate(x, weight):                        # x cast to the weight's dtype instead
    k = weight.shape[0]
    z = x.mean(dim=(2, 3)).to(weight.dtype)
    return torch.sigmoid(F.conv1d(z.unsqueeze(1), weight.view(1, 1, k), padding=(k - 1) // 2).squeeze(1))
''', "cast the weight to x's dtype"),
    ("03_cbam", "test_spatial_gate", "spatial_gate", '''
def spatial_gate(x, conv_w):
    pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
    return torch.sigmoid(F.conv2d(pooled, conv_w, padding=3))     # padding written in
''', "padding=3 written in"),
    ("04_ca", "test_split_gates", "split_gates", '''
def split_gates(f, H, W, w_h, b_h, w_w, b_w):
    f_h, f_w = torch.split(f, [H, W], dim=2)
    return torch.sigmoid(F.conv2d(f_h, w_h, b_h)), torch.sigmoid(F.conv2d(f_w, w_w, b_w))  # no transpose
''', "transpose"),
    ("06_profiling", "test_ca_scale", "ca_scale", '''
def ca_scale(x, a_h, a_w, out):                 # a_h along the columns, a_w along the rows
    B, C, H, W = x.shape
    idx = torch.arange(H * W, device=x.device)
    row, col = idx // W, idx % W
    ah = a_h.reshape(B, C, H)[:, :, col % H] if H else a_h
    aw = a_w.reshape(B, C, W)[:, :, row % W]
    out.copy_((x.reshape(B, C, -1) * ah * aw).reshape(B, C, H, W))
    return out
''', "a_h scales whole rows"),
    ("06_profiling", "test_ca_scale", "ca_scale", '''
def ca_scale(x, a_h, a_w, out):                 # the last block runs past the end of out
    flat = out.reshape(-1)
    past = torch.as_strided(flat, (flat.numel() + 3,), (1,))
    past[flat.numel():] = 0.0
    out.copy_(x * a_h * a_w)
    return out
''', "mask=offs < n"),
    ("07_bonus", "test_reachability", "reachability", '''
def reachability(H, W, passes):                 # a bool matrix
    h = torch.arange(H).repeat_interleave(W)
    w = torch.arange(W).repeat(H)
    m = ((h[:, None] == h[None, :]) | (w[:, None] == w[None, :])).double()
    reach = torch.eye(H * W, dtype=torch.float64)
    for _ in range(passes):
        reach = (reach @ m > 0).double()
    return reach > 0
''', "torch.float64 tensor"),
]


def _first_line(exc) -> str:
    return str(exc).splitlines()[0] if str(exc) else ""


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_catalogued_mistakes_fail_a_visible_test_with_their_hint(chapter):
    from attn_ref.grading.registry import get_check

    problems, tried = [], 0
    for cell, ns in walk(chapter):
        exc = run_visible(cell, ns)
        assert exc is None, f"{chapter} {cell.grade_id}: the solution fails: {message(exc)}"
        for check_id, name in cell.calls:
            check = get_check(check_id)
            for m in check.mistakes():
                if m.shown_by:           # right values, seen by the check's run: in WRITTEN
                    continue
                obj = mistaken(check, m, ns[name])
                if obj is None:          # a module: covered by the sample learners below
                    continue
                if check.kind == "function":
                    try:                 # a mistake the catalogue defines on some shapes only
                        probe = np.asarray(m.compute(check.cases()[0]))
                    except Exception:    # noqa: BLE001
                        probe = None
                    if probe is not None and probe.size == 0:
                        continue         # (written out in WRITTEN instead)
                tried += 1
                exc = run_visible(cell, ns, {name: obj})
                what = f"{cell.grade_id}: {check_id} mistake {m.name!r}"
                if not isinstance(exc, AssertionError):
                    problems.append(f"{what}: {'passes' if exc is None else message(exc)[:200]}")
                elif len(_first_line(exc).split(":", 1)[-1].strip()) < 10:
                    problems.append(f"{what}: no hint on the first line: {_first_line(exc)!r}")
                elif check.kind == "value" and m.hint not in str(exc):
                    problems.append(f"{what}: the hint does not name it: {_first_line(exc)!r}")
    assert tried, f"{chapter}: no mistake tried"
    assert not problems, f"{chapter}: mistakes the visible tests miss:\n" + "\n".join(problems)


@pytest.mark.parametrize("chapter,test_id,name,code,phrase", WRITTEN,
                         ids=[f"{w[0]}-{w[2]}-{i}" for i, w in enumerate(WRITTEN)])
def test_written_mistakes_fail_a_visible_test_with_their_hint(chapter, test_id, name, code, phrase):
    for cell, ns in walk(chapter):
        if cell.grade_id != test_id:
            continue
        scope = dict(ns)
        exec(code, scope)
        exc = run_visible(cell, ns, {name: scope[name]})
        assert isinstance(exc, AssertionError), f"{test_id}: {message(exc) if exc else 'passes'}"
        assert phrase in _first_line(exc), _first_line(exc)
        return
    pytest.fail(f"no test cell {test_id} in {chapter}")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_sample_learners_fail_visibly_where_they_lose_points(chapter):
    """Each sample learner (the catalogue's mistakes written out, modules included) fails the
    visible test of every cell where it loses points, with an AssertionError and a hint."""
    points = {}
    problems, tried = [], 0
    for sample, cells, scores in samples_of(chapter):
        for cell, ns in walk(chapter, solutions=cells, tolerate=True):
            points[cell.grade_id] = cell.points
            if scores.get(cell.grade_id, cell.points) >= cell.points:
                continue
            tried += 1
            exc = run_visible(cell, ns)
            if not isinstance(exc, AssertionError):
                problems.append(f"{sample} {cell.grade_id}: "
                                f"{'passes' if exc is None else message(exc)[:200]}")
            elif len(_first_line(exc).split(":", 1)[-1].strip()) < 10:
                problems.append(f"{sample} {cell.grade_id}: no hint: {_first_line(exc)!r}")
    assert not problems, f"{chapter}: sample mistakes the visible tests miss:\n" + "\n".join(problems)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_untouched_release_fails_only_with_not_implemented_error(chapter):
    """The released notebook as a learner first meets it: every exercise cell still holds its
    stub, and every test cell then stops with NotImplementedError (not a NameError)."""
    wrong = []
    for cell, ns in walk(chapter, tolerate=True, root="course"):
        exc = run_visible(cell, ns)
        if not isinstance(exc, NotImplementedError):
            wrong.append(f"{cell.grade_id}: {'passes' if exc is None else message(exc)[:200]}")
    assert not wrong, f"{chapter}: " + "; ".join(wrong)
