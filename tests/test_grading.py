"""The grading machinery: references pass, plausible mistakes fail with their hint, and nothing a
kernel can send (malformed, forged, oversized, pickled) passes or crashes the grader."""
import base64
import io

import numpy as np
import pytest
import torch
from torch import nn

from attn_ref.grading import all_checks, collect, get_check, verify
from attn_ref.grading.core import MAX_OUTPUTS_PER_CASE, Raises, encode_array, load_by_shape
from attn_grade.nbgrader_plugin import check_ids

CHECKS = all_checks()


def _payload(check, arrays_per_case):
    return {"check": check.id, "version": 1,
            "cases": [{"outputs": [encode_array(a) for a in arrs], "error": None}
                      for arrs in arrays_per_case]}


@pytest.mark.parametrize("cid", sorted(CHECKS))
def test_reference_passes(cid):
    check = CHECKS[cid]
    v = verify(check, collect(cid, check.reference()))
    assert v.passed, v.text()


@pytest.mark.parametrize("cid,mistake", [(cid, m.name) for cid in sorted(CHECKS)
                                         for m in CHECKS[cid].mistakes()])
def test_each_mistake_fails_and_is_named(cid, mistake):
    check = CHECKS[cid]
    m = next(m for m in check.mistakes() if m.name == mistake)
    results = []
    for case in check.cases():
        if m.shown_by:                   # the check's run sees it itself, and raises
            results.append({"outputs": None, "error": f"RuntimeError: it wrote {m.shown_by}"})
            continue
        try:
            results.append({"outputs": [encode_array(np.asarray(m.compute(case)))], "error": None})
        except Raises as exc:            # code with the mistake raises on this case
            results.append({"outputs": None, "error": f"RuntimeError: {exc}"})
    v = verify(check, {"check": check.id, "version": 1, "cases": results})
    assert not v.passed, f"the hidden cases of {cid} cannot tell the mistake {mistake!r} apart"
    assert m.hint in v.text() or "shape" in v.text()
    # what the class report counts: code that makes exactly this mistake is recorded as making it
    assert mistake in v.mistakes, (mistake, v.mistakes)


@pytest.mark.parametrize("cid", sorted(CHECKS))
def test_cases_are_deterministic(cid):
    a, b = CHECKS[cid].cases(), CHECKS[cid].cases()
    for ca, cb in zip(a, b):
        for x, y in zip(ca.args, cb.args):
            if isinstance(x, np.ndarray):
                assert np.array_equal(x, y)


def _garbage(check):
    n = len(check.cases())
    good = collect(check.id, check.reference())
    obj_arr = io.BytesIO()
    np.save(obj_arr, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    pickled = base64.b64encode(obj_arr.getvalue()).decode()
    yield "not a dict", ["a list"]
    yield "other check", dict(good, check="se.other")
    yield "bad version", dict(good, version=99)
    yield "too few cases", dict(good, cases=good["cases"][:-1])
    yield "cases not a list", dict(good, cases="many")
    yield "case not a dict", dict(good, cases=[1] * n)
    yield "outputs not a list", dict(good, cases=[{"outputs": "x", "error": None}] * n)
    yield "not base64", dict(good, cases=[{"outputs": ["***"], "error": None}] * n)
    yield "pickled objects", dict(good, cases=[{"outputs": [pickled], "error": None}] * n)
    yield "strings", dict(good, cases=[{"outputs": [encode_array(np.array(["1"]))], "error": None}] * n)
    yield "too many outputs", dict(good, cases=[{"outputs": good["cases"][0]["outputs"] * (MAX_OUTPUTS_PER_CASE + 1),
                                                 "error": None}] * n)
    yield "NaN", _payload(check, [[np.full(np.shape(check.expected(c)), np.nan)] for c in check.cases()])
    yield "error", dict(good, cases=[{"outputs": None, "error": "ValueError: x"}] * n)
    # an error's numbers (a refused result's) can name a mistake, never pass a case
    yield "error with the right numbers", dict(good, cases=[dict(c, error="ValueError: x")
                                                            for c in good["cases"]])
    yield "error with unreadable numbers", dict(good, cases=[{"outputs": ["***"], "error": "x"}] * n)


@pytest.mark.parametrize("cid", sorted(CHECKS))
def test_malformed_payloads_fail_cleanly(cid):
    check = CHECKS[cid]
    for what, payload in _garbage(check):
        v = verify(check, payload)
        assert not v.passed, what
        assert v.lines, what


def test_a_refused_pair_still_names_its_mistake():
    # pooling along the swapped axes gives pairs of the wrong shapes on non-square maps: they are
    # refused in the kernel, but their numbers travel with the error and name the mistake; right
    # numbers in the wrong shapes (no keepdim) name none, not even where a mistake agrees with them
    def swapped(x):
        return x.mean(dim=2, keepdim=True), x.mean(dim=3, keepdim=True)

    def no_keepdim(x):
        return x.mean(dim=3), x.mean(dim=2)

    check = get_check("ca.coordinate_pool")
    v = verify(check, collect("ca.coordinate_pool", swapped))
    assert not v.passed and v.mistakes == ["swapped"], v.text()
    # the check refused the pair: its message, not "your code raised" (the learner's code did not)
    assert "your z_h has shape" in v.text() and "raised" not in v.text(), v.text()
    assert "Refused" not in v.text()
    v = verify(check, collect("ca.coordinate_pool", no_keepdim))
    assert not v.passed and v.mistakes == [] and "hint:" not in v.text(), v.text()


def test_a_refused_module_layout_still_names_its_mistake():
    # a CBAM with one MLP per descriptor is refused for its tensors, in either order of its MLPs,
    # and named by its numbers (each MLP loaded with its own weights); with a convolution bias as
    # well it is another layout, refused and named nothing

    class TwoMLPs(nn.Module):
        def __init__(self, channels, reduction=16, kernel_size=7, max_first=False, bias=False):
            super().__init__()
            h = max(1, channels // reduction)
            mlps = [nn.Sequential(nn.Conv2d(channels, h, 1), nn.ReLU(), nn.Conv2d(h, channels, 1))
                    for _ in range(2)]
            self.first, self.second = mlps
            self.avg, self.max = mlps[::-1] if max_first else mlps
            self.conv = nn.Conv2d(2, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=bias)

        def forward(self, x):
            f = x * torch.sigmoid(self.avg(x.mean((2, 3), keepdim=True))
                                  + self.max(x.amax((2, 3), keepdim=True)))
            return f * torch.sigmoid(self.conv(torch.cat([f.mean(1, keepdim=True),
                                                          f.amax(1, keepdim=True)], 1)))

    check = get_check("cbam.cbam_module")
    for kw, named in ((dict(), ["two MLPs"]), (dict(max_first=True), ["two MLPs"]),
                      (dict(bias=True), [])):
        v = verify(check, collect("cbam.cbam_module", lambda *a, **k: TwoMLPs(*a, **k, **kw)))
        assert not v.passed and v.mistakes == named, (kw, v.text())
        assert "your module's learnable tensors" in v.text(), v.text()
        assert "your code raised" not in v.text(), v.text()

    # an ECA whose k misses the rule's + 1 (even k, padded k // 2, first C of C + 1 gates) is
    # refused for its weights and named by its numbers; padded (k - 1) // 2 it raises, unnamed
    class EvenK(nn.Module):
        def __init__(self, channels, k_size=None, gamma=2, b=1, pad=lambda k: k // 2):
            super().__init__()
            k = k_size or int(abs((np.log2(channels) + b) / gamma))
            self.conv = nn.Conv1d(1, 1, k, padding=pad(k), bias=False)

        def forward(self, x):
            s = torch.sigmoid(self.conv(x.mean((2, 3)).unsqueeze(1)))[:, 0, :x.shape[1]]
            return x * s[:, :, None, None]

    check = get_check("eca.eca_module")
    v = verify(check, collect("eca.eca_module", EvenK))
    assert not v.passed and v.mistakes == ["even k"], v.text()
    v = verify(check, collect("eca.eca_module", lambda *a, **k: EvenK(*a, **k, pad=lambda k: (k - 1) // 2)))
    assert not v.passed and v.mistakes == [], v.text()


def test_numbers_where_a_mistake_raises_disagree_with_it():
    # the spatial gate pooled over H and W raises unless C = 1 (Raises in the catalogue): pooled
    # over C, H and W it returns numbers everywhere, and agrees with it on C = 1 only: not named
    import torch.nn.functional as F

    def over_hw(x, conv_w, dims=(2, 3)):
        k = conv_w.shape[-1]
        pooled = torch.cat([x.mean(dims, keepdim=True), x.amax(dims, keepdim=True)], 1)
        return torch.sigmoid(F.conv2d(pooled, conv_w, padding=(k - 1) // 2))

    check = get_check("cbam.spatial_gate")
    assert verify(check, collect(check.id, over_hw)).mistakes == ["wrong axis"]
    v = verify(check, collect(check.id, lambda x, w: over_hw(x, w, dims=(1, 2, 3))))
    assert not v.passed and v.mistakes == [], v.text()


def test_forged_outputs_cannot_pass_a_module_check():
    # a kernel that sends the *inputs* back, or zeros, or many guesses, still fails
    check = get_check("se.se_module")
    for forged in ([[c.args[0]] for c in check.cases()],
                   [[np.zeros_like(c.args[0])] for c in check.cases()],
                   [[c.args[0] * k for k in np.linspace(0, 1, MAX_OUTPUTS_PER_CASE)] for c in check.cases()]):
        assert not verify(check, _payload(check, forged)).passed


def test_always_equal_objects_are_refused():
    class AlwaysEqual:
        def __eq__(self, other):
            return True
        __hash__ = None

    class Liar(torch.Tensor):
        def __eq__(self, other):
            return torch.ones((), dtype=torch.bool)

    v = verify(get_check("se.squeeze"), collect("se.squeeze", lambda x: AlwaysEqual()))
    assert not v.passed and "returned a AlwaysEqual" in v.text()
    liar = lambda x: torch.zeros(x.shape[:2]).as_subclass(Liar)  # noqa: E731
    assert not verify(get_check("se.squeeze"), collect("se.squeeze", liar)).passed


def test_load_by_shape_accepts_layouts_and_names_a_wrong_one():
    ref = {"w1": np.arange(8.0).reshape(2, 4), "b1": np.ones(2),
           "w2": np.arange(8.0).reshape(4, 2), "b2": np.zeros(4)}

    class Conv(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(4, 2, 1), nn.Conv2d(2, 4, 1)

    class Raw(nn.Module):       # (in, out) layout, declared in another order
        def __init__(self):
            super().__init__()
            self.u = nn.Parameter(torch.zeros(2, 4)); self.bu = nn.Parameter(torch.zeros(4))
            self.d = nn.Parameter(torch.zeros(4, 2)); self.bd = nn.Parameter(torch.zeros(2))

    m = Conv()
    layouts = list(load_by_shape(m, ref))
    assert len(layouts) >= 1
    m = Conv()
    next(load_by_shape(m, ref))
    assert torch.equal(m.a.weight[:, :, 0, 0], torch.arange(8.0).reshape(2, 4))
    raw = Raw()
    found = False
    for _ in load_by_shape(raw, ref):
        if torch.equal(raw.d, torch.arange(8.0).reshape(2, 4).T) and torch.equal(raw.bd, torch.ones(2)):
            found = True
    assert found, "the (in, out) layout was never tried"

    class TooWide(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 3), nn.Linear(3, 4)

    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        list(load_by_shape(TooWide(), ref))


def test_earlier_steps_are_replaced_while_a_step_runs():
    ns = {"squeeze": lambda x: x.amax(dim=(2, 3))}      # a wrong earlier step

    class UsesSqueeze(nn.Module):
        def __init__(self, channels, reduction=16, bias=True):
            super().__init__()
            h = max(1, channels // reduction)
            self.fc1, self.fc2 = nn.Linear(channels, h, bias=bias), nn.Linear(h, channels, bias=bias)

        def forward(self, x):
            return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(ns["squeeze"](x)))))[:, :, None, None]

    assert verify(get_check("se.se_module"), collect("se.se_module", UsesSqueeze, ns)).passed
    assert ns["squeeze"](torch.ones(1, 1, 2, 2) * torch.tensor([1.0, 3.0]).view(1, 1, 1, 2)).item() == 3.0
    assert not verify(get_check("se.se_module"), collect("se.se_module", UsesSqueeze, {})).passed


def test_check_ids_are_read_from_source():
    src = '### BEGIN HIDDEN TESTS\ngrade("se.param_count", f)\ngrade( \'se.param_count.conv4\', n)\n'
    assert check_ids(src) == ["se.param_count", "se.param_count.conv4"]
    assert check_ids("expect_close(a, b)") == []


def test_grade_judges_on_the_spot_except_while_autograding(monkeypatch, capsys):
    """In an instructor's or nbval's kernel a wrong answer fails its test cell at once; while
    nbgrader autogrades, the kernel only sends its results (the verdict that counts is reached
    outside it), so it computes no expected values and raises nothing."""
    from attn_ref.grading import grade, kernel

    wrong = lambda x: x.sum(axis=(2, 3))  # noqa: E731
    with pytest.raises(AssertionError, match="hidden"):
        grade("se.squeeze", wrong, namespace={})
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setattr(kernel, "verify", lambda *a: pytest.fail("judged inside the kernel"))
    grade("se.squeeze", wrong, namespace={})
    assert "results sent to the grader" in capsys.readouterr().out


def test_a_check_id_must_start_with_its_files_name(monkeypatch):
    """get_check finds a check by its id's prefix (checks_<prefix>.py): a check under another
    prefix would pass every test that lists all checks and be missing in a learner's kernel."""
    from attn_ref.grading import registry

    monkeypatch.setattr(registry, "CHAPTERS", {"other": "attn_ref.grading.checks_se"})
    monkeypatch.setattr(registry, "_cache", {})
    with pytest.raises(ValueError, match="check id 'se.squeeze' must start with 'other.'"):
        registry.all_checks()


def test_feedback_says_whose_code_raised():
    # a module the grader's weight loader cannot fill is described in the learner's terms, not
    # as an error of the learner's code; an error of the learner's own code says so
    from attn_ref.se import se_excitation, se_squeeze

    class SE(nn.Module):
        def __init__(self, channels, reduction=16, bias=True, width=lambda c, r: -(-c // r)):
            super().__init__()
            h = width(channels, reduction)
            self.fc1, self.fc2 = nn.Linear(channels, h, bias=bias), nn.Linear(h, channels, bias=bias)

        def forward(self, x):
            s = se_excitation(se_squeeze(x), self.fc1.weight, self.fc1.bias, self.fc2.weight,
                              self.fc2.bias)
            return x * s[:, :, None, None]

    class OneLayer(nn.Module):
        def __init__(self, channels, reduction=16, bias=True):
            super().__init__()
            self.fc1 = nn.Linear(channels, channels, bias=bias)

        def forward(self, x):
            return x * 0.5

    check = get_check("se.se_module")
    v = verify(check, collect(check.id, SE))
    assert not v.passed and v.mistakes == ["rounded up"], v.text()
    assert "your module's bottleneck has 3 units, C / r rounded up, where channels // " \
           "reduction = 12 // 5 = 2" in v.text(), v.text()
    assert "raised" not in v.text(), v.text()
    v = verify(check, collect(check.id, lambda *a, **k: SE(*a, **k, width=lambda c, r: c // 2)))
    assert not v.passed and v.mistakes == [] and "bottleneck has 6 units where" in v.text()
    v = verify(check, collect(check.id, OneLayer))
    assert not v.passed and v.mistakes == [], v.text()
    assert "your module's learnable tensors (fc1.weight" in v.text() and "raised" not in v.text()

    def broken(x):
        raise KeyError("oops")

    v = verify(get_check("se.squeeze"), collect("se.squeeze", broken))
    assert "your code raised KeyError: 'oops' (in broken, line" in v.text(), v.text()


def test_arguments_and_dtypes_the_text_asks_for():
    # eps passed on (CA's shared transform, GAM's spatial gate); eca_gate's s in x's dtype,
    # whatever the weight's, computed in any precision; reachability a float64 matrix
    import torch.nn.functional as F

    from attn_ref.grading.checks_bonus import ref_gam_spatial_gate, ref_reachability
    from attn_ref.grading.checks_ca import ref_shared_transform

    def transform_default_eps(z_h, z_w, w, b, g, beta, mean, var, eps=1e-5):
        return ref_shared_transform(z_h, z_w, w, b, g, beta, mean, var)

    def spatial_default_eps(f2, conv1, bn1, conv2, bn2, eps=1e-5):
        return ref_gam_spatial_gate(f2, conv1, bn1, conv2, bn2)

    for cid, wrong in (("ca.shared_transform", transform_default_eps),
                       ("bonus.gam_spatial_gate", spatial_default_eps)):
        v = verify(get_check(cid), collect(cid, wrong))
        assert not v.passed and v.mistakes == ["eps"], (cid, v.text())

    def gate(x, weight, cast=True, compute=None):
        k = weight.shape[0]
        z = x.mean((2, 3)).to(compute or x.dtype)
        w = weight.to(z.dtype) if cast else weight
        s = torch.sigmoid(F.conv1d(z.unsqueeze(1), w.view(1, 1, k), padding=(k - 1) // 2))[:, 0]
        return s.to(x.dtype) if compute else s

    check = get_check("eca.gate")
    assert verify(check, collect(check.id, gate)).passed
    assert verify(check, collect(check.id, lambda x, w: gate(x, w, compute=torch.float64))).passed
    for wrong in (lambda x, w: gate(x, w, cast=False),                    # raises on mixed dtypes
                  lambda x, w: gate(x.to(w.dtype), w)):                   # returns w's dtype
        v = verify(check, collect(check.id, wrong))
        assert not v.passed and v.mistakes == ["weight dtype"], v.text()
        assert "s has x's dtype whatever the weight's" in v.text(), v.text()

    check = get_check("bonus.reachability")
    for dtype in (torch.bool, torch.int64, torch.float32):
        v = verify(check, collect(check.id, lambda H, W, p: ref_reachability(H, W, p).to(dtype)))
        assert not v.passed and v.mistakes == ["dtype"], v.text()
        assert f"returned a tensor of dtype {dtype}" in v.text()


def test_a_tables_differences_are_named_by_its_rows_and_columns():
    v = verify(get_check("ca.flip_table"), collect("ca.flip_table", [[0, 0], [0, 0], [0, 1]]))
    assert not v.passed and "is at row 1, column 0 (got 0, expected 1)" in v.text(), v.text()
    assert "batch" not in v.text()
    v = verify(get_check("eca.kernel_size.resnet50"),
               collect("eca.kernel_size.resnet50", (5, 5, 5, 9)))
    assert not v.passed and "is at stage 3 " in v.text(), v.text()
