"""Hidden checks of the Squeeze-and-Excitation chapter (``solutions/01_se/se.ipynb``)."""
from __future__ import annotations

import numpy as np
import torch

from ..se import SqueezeExcitation, se_excitation, se_squeeze
from .core import Case, Check, Mistake, Raises, Rejected, case_rng


def _t(a):
    return None if a is None else torch.from_numpy(np.asarray(a, dtype=np.float64))


def _np(t):
    return t.detach().numpy()


def _excite(z, w1, b1, w2, b2, inner=torch.relu, outer=torch.sigmoid):
    h = inner(z @ w1.T + (0 if b1 is None else b1))
    return outer(h @ w2.T + (0 if b2 is None else b2))


BOTTLENECK_RULE = "the width is channels // reduction, rounded down, and at least 1"
ROUNDED_UP = "C / r rounded up"


class Squeeze(Check):
    step = "squeeze"
    title = "squeeze(x)"
    points_hint = "eq. (1): the mean of each channel over all H x W positions, shape (B, C)."

    def cases(self):
        shapes = [((2, 3, 4, 5), "float64"), ((1, 1, 1, 1), "float64"), ((3, 8, 7, 1), "float32"),
                  ((1, 16, 1, 9), "float64"), ((4, 5, 6, 6), "float32"), ((2, 7, 3, 11), "float64")]
        out = []
        for i, (shape, dtype) in enumerate(shapes):
            x = case_rng(self.id, i).normal(0.5, 2.0, size=shape)
            out.append(Case(f"x of shape {shape}, {dtype}", args=[x], dtype=dtype))
        return out

    def expected(self, case):
        return _np(se_squeeze(_t(case.args[0])))

    def reference(self):
        return se_squeeze

    def mistakes(self):
        x = lambda c: _t(c.args[0])  # noqa: E731
        return [
            Mistake("max", "these are the maxima over H x W; SE squeezes with the mean.",
                    lambda c: _np(x(c).amax(dim=(2, 3)))),
            Mistake("sum", "these are sums over H x W; divide by H * W.",
                    lambda c: _np(x(c).sum(dim=(2, 3)))),
            Mistake("keepdim", "the values are right but keep the spatial axes: return (B, C).",
                    lambda c: _np(x(c).mean(dim=(2, 3), keepdim=True))),
            Mistake("one axis", "only one spatial axis was averaged; average over H and W.",
                    lambda c: _np(x(c).mean(dim=3))),
        ]


class Excitation(Check):
    step = "excitation"
    title = "excitation(z, w1, b1, w2, b2)"
    points_hint = ("eq. (2): s = sigmoid(W2 relu(W1 z + b1) + b2), weights in nn.Linear's "
                   "(out, in) layout; biases may be None.")

    def cases(self):
        specs = [(2, 8, 2, True, "float64"), (1, 16, 4, True, "float64"),
                 (3, 12, 3, False, "float64"), (4, 32, 2, True, "float32"),
                 (2, 6, 6, True, "float64"), (1, 5, 1, False, "float32")]
        out = []
        for i, (b, c, h, bias, dtype) in enumerate(specs):
            rng = case_rng(self.id, i)
            z = rng.normal(0.0, 1.0, size=(b, c))
            w1 = rng.normal(0.0, 2.0 / np.sqrt(c), size=(h, c))
            w2 = rng.normal(0.0, 2.0 / np.sqrt(h), size=(c, h))
            b1 = rng.normal(0.0, 0.5, size=(h,)) if bias else None
            b2 = rng.normal(0.0, 0.5, size=(c,)) if bias else None
            label = f"B={b}, C={c}, C/r={h}, {'with' if bias else 'without'} biases, {dtype}"
            out.append(Case(label, args=[z, w1, b1, w2, b2], dtype=dtype))
        return out

    def expected(self, case):
        return _np(se_excitation(*[_t(a) for a in case.args]))

    def reference(self):
        return se_excitation

    def mistakes(self):
        a = lambda c: [_t(v) for v in c.args]  # noqa: E731
        ident = lambda t: t  # noqa: E731
        return [
            Mistake("no sigmoid", "the gate is not squashed into (0, 1): apply the sigmoid last.",
                    lambda c: _np(_excite(*a(c), outer=ident))),
            Mistake("no relu", "the hidden layer is linear: apply the ReLU between the layers.",
                    lambda c: _np(_excite(*a(c), inner=ident))),
            Mistake("swapped", "ReLU and sigmoid are swapped: ReLU after W1, sigmoid after W2.",
                    lambda c: _np(_excite(*a(c), inner=torch.sigmoid, outer=torch.relu))),
            Mistake("no bias", "the biases are missing: add b1 and b2 when they are given.",
                    lambda c: _np(_excite(a(c)[0], a(c)[1], None, a(c)[3], None))),
            Mistake("softmax", "a softmax couples the channels; SE gates each with a sigmoid.",
                    lambda c: _np(_excite(*a(c), outer=lambda t: torch.softmax(t, dim=1)))),
        ]


class Module(Check):
    step = "se_module"
    kind = "module"
    title = "SqueezeExcitation(channels, reduction, bias)"
    points_hint = ("the bottleneck width is channels // reduction; forward returns x scaled by "
                   "the gate, eq. (3), broadcast over H and W.")
    substitutes = {"squeeze": se_squeeze, "excitation": se_excitation}

    def cases(self):
        specs = [(dict(channels=16, reduction=4, bias=True), (2, 16, 5, 7), "float64"),
                 (dict(channels=32), (1, 32, 3, 3), "float64"),
                 (dict(channels=12, reduction=5, bias=True), (2, 12, 4, 1), "float64"),
                 (dict(channels=24, reduction=4, bias=False), (1, 24, 1, 1), "float64"),
                 (dict(channels=8, reduction=2, bias=True), (3, 8, 9, 4), "float32")]
        out = []
        for i, (kw, shape, dtype) in enumerate(specs):
            rng = case_rng(self.id, i)
            c = kw["channels"]
            h = max(1, c // kw.get("reduction", 16))
            params = {"w1": rng.normal(0, 2 / np.sqrt(c), (h, c)),
                      "w2": rng.normal(0, 2 / np.sqrt(h), (c, h))}
            if kw.get("bias", True):
                params.update(b1=rng.normal(0, 0.5, (h,)), b2=rng.normal(0, 0.5, (c,)))
            x = rng.normal(0.3, 1.5, size=shape)
            args = ", ".join(f"{k}={v}" for k, v in kw.items())
            out.append(Case(f"SqueezeExcitation({args}) on x of shape {shape}, {dtype}",
                            args=[x], kwargs=kw, params=params, dtype=dtype))
        return out

    def run(self, obj, case):
        try:
            return Check.run(self, obj, case)
        except Rejected as exc:
            if "do not match the reference layout" not in str(exc):
                raise
            width = self._bottleneck(obj, case)
            if width is None:
                raise
        c, r = case.kwargs["channels"], case.kwargs.get("reduction", 16)
        how = f" units, {ROUNDED_UP}," if width == -(-c // r) else " units"
        raise Rejected(f"your module's bottleneck has {width}{how} where channels // reduction "
                       f"= {c} // {r} = {max(1, c // r)} ({BOTTLENECK_RULE})")

    @staticmethod
    def _bottleneck(obj, case):
        """The width C' of a learner's bottleneck whose two weight matrices are C' x C and
        C x C' (either orientation), with C' other than the case's C // r; None for any other
        layout."""
        c = case.kwargs["channels"]
        h = max(1, c // case.kwargs.get("reduction", 16))
        shapes = [tuple(n for n in t.shape if n != 1) for t in obj(**case.kwargs).parameters()]
        widths = [sh[1] if sh[0] == c else sh[0] for sh in shapes if len(sh) == 2 and c in sh]
        if len(widths) != 2 or len([sh for sh in shapes if len(sh) == 2]) != 2 or \
                widths[0] != widths[1] or widths[0] == h:
            return None
        return widths[0]

    def _ref(self, case, squeeze=se_squeeze, excite=se_excitation, scale=lambda x, s: x * s):
        p = {k: _t(v) for k, v in case.params.items()}
        x = _t(case.args[0])
        s = excite(squeeze(x), p["w1"], p.get("b1"), p["w2"], p.get("b2"))
        return scale(x, s[:, :, None, None])

    def expected(self, case):
        return _np(self._ref(case))

    def reference(self):
        return SqueezeExcitation

    def mistakes(self):
        ident = lambda t: t  # noqa: E731
        return [
            Mistake("max", "the squeeze uses the maximum; SE averages over H x W.",
                    lambda c: _np(self._ref(c, squeeze=lambda x: x.amax(dim=(2, 3))))),
            Mistake("no sigmoid", "the gate is not squashed into (0, 1).",
                    lambda c: _np(self._ref(c, excite=lambda *a: _excite(*a, outer=ident)))),
            Mistake("no relu", "the bottleneck has no ReLU.",
                    lambda c: _np(self._ref(c, excite=lambda *a: _excite(*a, inner=ident)))),
            Mistake("add", "the gate is added to x; eq. (3) multiplies.",
                    lambda c: _np(self._ref(c, scale=lambda x, s: x + s))),
            # seen by run from the module's weight shapes (a module of another width cannot
            # take the case's weights); where C // r is exact, the module is right
            Mistake("rounded up", f"the bottleneck width is rounded up; {BOTTLENECK_RULE}.",
                    self._rounded_up, shown_by=ROUNDED_UP),
        ]

    def _rounded_up(self, case):
        c, r = case.kwargs["channels"], case.kwargs.get("reduction", 16)
        if c % r:
            raise Raises("a module of another width cannot take the case's weights")
        return self.expected(case)


def _conv4_se_params() -> int:
    # counted from the reference module itself, independently of any closed form
    block = SqueezeExcitation(1024, reduction=16, bias=True)
    return 6 * sum(p.numel() for p in block.parameters())


class ParamsConv4(Check):
    step = "param_count"
    value = "conv4"
    kind = "value"
    title = "se_params_conv4 (parameters SE adds to conv4_x of SE-ResNet-50)"
    points_hint = ("six blocks, each with C = 1024, r = 16 and biases: 2 C (C/r) + C/r + C per "
                   "block.")

    def cases(self):
        return [Case("one integer")]

    def expected(self, case):
        return np.asarray(_conv4_se_params())

    def reference(self):
        return _conv4_se_params()

    def mistakes(self):
        per = 2 * 1024 * 64
        return [
            Mistake("one block", "that is one block; conv4_x has six.",
                    lambda c: np.asarray(per + 64 + 1024)),
            Mistake("no bias", "you left out the biases (C/r + C per block).",
                    lambda c: np.asarray(6 * per)),
            Mistake("one layer", "count both layers: C -> C/r and C/r -> C.",
                    lambda c: np.asarray(6 * (per // 2 + 64))),
        ]


CHECKS = [Squeeze(), Excitation(), Module(), ParamsConv4()]


class ParamCount(Check):
    step = "param_count"
    title = "se_param_count(channels, reduction, bias)"
    points_hint = "two layers, C -> C // r -> C; with biases add C // r + C."

    def cases(self):
        # bias None: left out (the default, True, applies)
        specs = [(64, 16, True), (256, 16, True), (2048, 16, False), (12, 5, True), (7, 8, True),
                 (96, 4, False), (3, 1, True), (64, 16, None), (12, 5, None)]
        return [Case(f"channels={c}, reduction={r}, " + ("bias left out" if b is None else
                                                         f"bias={b}"),
                     args=[c, r] + ([] if b is None else [b])) for c, r, b in specs]

    def expected(self, case):
        return np.asarray(self.reference()(*case.args))

    def reference(self):
        return lambda c, r, b=True: sum(p.numel() for p in SqueezeExcitation(c, r, bias=b).parameters())

    def mistakes(self):
        def rounded_up(c):
            ch, r, b = (*c.args, True)[:3]
            h = -(-ch // r)
            return np.asarray(2 * ch * h + (h + ch if b else 0))
        def no_bias(c):
            ch, r = c.args[:2]
            return np.asarray(2 * ch * max(1, ch // r))
        return [Mistake("rounding", "the bottleneck is C // r (rounded down, at least 1).", rounded_up),
                Mistake("bias", "with bias=True each layer has a bias: C // r + C more.", no_bias)]


CHECKS.insert(3, ParamCount())
