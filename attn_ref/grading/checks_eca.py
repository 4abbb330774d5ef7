"""Hidden checks of the Efficient Channel Attention chapter (``solutions/02_eca/eca.ipynb``)."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..eca import ECA, eca_kernel_size, eca_resnet50_kernels
from .core import Case, Check, Mistake, Rejected, case_rng, to_numpy, float64_tensor

RESNET50_BLOCKS = (3, 4, 6, 3)
RESNET50_WIDTHS = (256, 512, 1024, 2048)
MOBILENETV2_WIDTHS = (16, 24, 32, 64, 96, 160, 320)   # output width of each inverted-residual stage
MOBILENETV2_RELEASED = (1, 1, 1, 1, 3, 3, 3)   # released eca_mobilenetv2_k13: 1 below C = 96, 3 from 96


_t, _np = float64_tensor, to_numpy       # case arguments as float64 tensors, results as arrays


# ----- the adaptive kernel size, eq. (6'), and the ways of rounding it wrong -----------------------
def _ratio(c, gamma=2, b=1):
    return abs((math.log2(c) + b) / gamma)


def _nearest_odd_ties_down(c, gamma=2, b=1):
    # the odd number nearest to t; an even integer t is a tie, settled downwards
    return 2 * math.ceil(_ratio(c, gamma, b) / 2) - 1


def _round_then_odd(c, gamma=2, b=1):
    t = round(_ratio(c, gamma, b))           # Python rounds halves to even
    return t if t % 2 else t + 1


def _down_to_odd(c, gamma=2, b=1):
    t = int(_ratio(c, gamma, b))
    return t if t % 2 else t - 1


def _no_plus_one(c, gamma=2, b=1):
    return int(_ratio(c, gamma, b))


def _ceil_then_odd(c, gamma=2, b=1):
    t = math.ceil(_ratio(c, gamma, b))
    return t if t % 2 else t + 1


def _b_outside(c, gamma=2, b=1):
    t = int(abs(math.log2(c) / gamma + b))
    return t if t % 2 else t + 1


def _natural_log(c, gamma=2, b=1):
    t = int(abs((math.log(c) + b) / gamma))
    return t if t % 2 else t + 1


ROUNDING_MISTAKES = [
    (_nearest_odd_ties_down, "nearest odd (ties down)",
     "at an exact tie, (log2 C + b) / gamma an even integer (C = 8, 128, 2048 with the "
     "defaults), the paper's code goes up: t = int(...), then t + 1 when t is even."),
    (_round_then_odd, "round first",
     "t is truncated with int() before an even t becomes t + 1; rounding it to the nearest "
     "integer (or up) first changes k whenever its fractional part is 0.5 or more."),
    (_down_to_odd, "down to odd", "an even t becomes t + 1, not t - 1."),
    (_no_plus_one, "no + 1", "k must be odd: when t = int(...) is even, return t + 1."),
    (_ceil_then_odd, "ceil", "t is truncated with int(), not rounded up with ceil()."),
    (_b_outside, "b outside", "b is divided by gamma too: t = int(|(log2 C + b) / gamma|)."),
    (_natural_log, "natural log", "the logarithm is to base 2 (math.log2)."),
]


def _as_int_array(value, name: str) -> np.ndarray:
    """A list, tuple, tensor or array of whole numbers as an int64 array (runs in the kernel)."""
    if isinstance(value, (list, tuple)):
        items = [to_numpy(v) for v in value]
        if any(np.ndim(v) != 0 for v in items):
            raise Rejected(f"{name} should hold one number per stage")
        arr = np.asarray([v.item() for v in items], dtype=np.float64)
    else:
        arr = to_numpy(value).astype(np.float64)
    return arr


class KernelSize(Check):
    step = "kernel_size"
    title = "eca_kernel_size(channels, gamma, b)"
    points_hint = ("eq. (6'), as the paper's code rounds: t = int(|(log2 C + b) / gamma|), then "
                   "k = t if t is odd, else t + 1.")

    SPECS = [(64, 2, 1), (8, 2, 1), (128, 2, 1), (2048, 2, 1), (256, 2, 1), (512, 2, 1),
             (1024, 2, 1), (16, 2, 1), (24, 2, 1), (32, 2, 1), (96, 2, 1), (160, 2, 1),
             (320, 2, 1), (1, 2, 1), (2, 2, 1), (3, 2, 1), (100, 2, 1), (1280, 2, 1),
             (4096, 2, 1), (8192, 2, 1), (32, 1, 0), (200, 1.5, 1), (64, 3, 2), (1000, 2, 2),
             (50, 1, 1), (512, 2, 3), (16, 4, 0),
             # gamma and b left out (the defaults 2 and 1 apply), or b alone
             (256,), (2048,), (96,), (40,), (512, 3), (24, 1)]

    def cases(self):
        names = ("channels", "gamma", "b")
        return [Case(", ".join(f"{n}={v}" for n, v in zip(names, spec))
                     + ("" if len(spec) == 3 else ", " + " and ".join(names[len(spec):])
                        + " left out"), args=list(spec)) for spec in self.SPECS]

    def expected(self, case):
        return np.asarray(eca_kernel_size(*case.args))

    def reference(self):
        return eca_kernel_size

    def mistakes(self):
        return [Mistake(name, hint, lambda c, f=f: np.asarray(f(*c.args)))
                for f, name, hint in ROUNDING_MISTAKES]


class _Table(Check):
    """A tuple of kernel sizes, one per stage, compared as an array of whole numbers."""
    kind = "value"
    axis_names = ("stage",)
    widths: tuple = ()
    name = ""

    def cases(self):
        return [Case(f"{len(self.widths)} numbers, one per stage")]

    def run(self, obj, case):
        return [_as_int_array(obj, self.name)]

    def expected(self, case):
        return np.asarray([eca_kernel_size(c) for c in self.widths], dtype=np.float64)

    def reference(self):
        return tuple(eca_kernel_size(c) for c in self.widths)

    def _rounded(self, f):
        return lambda c: np.asarray([f(w) for w in self.widths], dtype=np.float64)


class ResNet50Table(_Table):
    step = "kernel_size"
    value = "resnet50"
    title = "k_resnet50 (psi at ResNet-50's widths 256, 512, 1024, 2048)"
    points_hint = "apply eq. (6') with gamma = 2, b = 1 to each of the four widths."
    widths = RESNET50_WIDTHS
    name = "k_resnet50"

    def mistakes(self):
        out = [Mistake("released", "these are the released network's kernels (3, 5, 5, 7); the "
                                   "question asks what the rule psi gives.",
                       lambda c: np.asarray(eca_resnet50_kernels("official"), dtype=np.float64))]
        seen = {tuple(self.expected(None))}
        for f, name, hint in ROUNDING_MISTAKES:
            got = tuple(self._rounded(f)(None))
            if got not in seen:
                seen.add(got)
                out.append(Mistake(name, hint, self._rounded(f)))
        return out


class MobileNetV2Table(_Table):
    step = "kernel_size"
    value = "mobilenetv2"
    title = "k_mobilenetv2 (psi at MobileNetV2's stage widths)"
    points_hint = ("apply eq. (6') with gamma = 2, b = 1 to each of the seven widths "
                   "16, 24, 32, 64, 96, 160, 320.")
    widths = MOBILENETV2_WIDTHS
    name = "k_mobilenetv2"

    def mistakes(self):
        out = [Mistake("released", "these are the released ECA-MobileNetV2's kernels (1 below "
                                   "96 channels, 3 from 96 on); the question asks what psi gives.",
                       lambda c: np.asarray(MOBILENETV2_RELEASED, dtype=np.float64))]
        seen = {tuple(self.expected(None))}
        for f, name, hint in ROUNDING_MISTAKES:
            got = tuple(self._rounded(f)(None))
            if got not in seen:
                seen.add(got)
                out.append(Mistake(name, hint, self._rounded(f)))
        return out


# ----- the gate, eqs. (1) and (3) --------------------------------------------------------------------------
def _gate(x, w, pad_mode="zeros", axis="channels", outer=torch.sigmoid, flip=False, pool="mean"):
    """s = outer(C1D_k(z)) for x (B, C, H, W) and w (k,), with the mistakes as options."""
    k = w.shape[0]
    p = (k - 1) // 2
    if pool == "mean":
        z = x.mean(dim=(2, 3))                                 # (B, C)
    elif pool == "C,W":
        z = x.mean(dim=(1, 3))                                 # (B, H): the wrong axes
    else:
        z = x.amax(dim=(2, 3))
    if flip:
        w = w.flip(0)
    if axis == "batch":
        z = z.T                                                # convolve across the batch
    seq = z.unsqueeze(1)                                       # (N, 1, L)
    if pad_mode == "zeros":
        y = F.conv1d(seq, w.view(1, 1, k), padding=p)
    elif pad_mode == "none":
        if k > seq.shape[-1]:          # shorter than the kernel: nothing comes out
            return seq[:, 0, :0] if axis != "batch" else seq[:, 0, :0].T
        y = F.conv1d(seq, w.view(1, 1, k))
    elif (pad_mode == "reflect" and p >= seq.shape[-1]) or \
            (pad_mode == "circular" and p > seq.shape[-1]):
        # too short for torch's reflect (p < L) or circular (p <= L) padding: a learner's code
        # with that mistake would raise here
        y = F.conv1d(seq, w.view(1, 1, k), padding=p)
    else:
        y = F.conv1d(F.pad(seq, (p, p), mode=pad_mode), w.view(1, 1, k))
    y = y.squeeze(1)
    if axis == "batch":
        y = y.T
    return outer(y)


def eca_gate_reference(x, weight):
    """What a learner's ``eca_gate(x, weight)`` returns: the gate of ``attn_ref.ECA`` with
    ``weight`` (k,) as its convolution's weight."""
    k = int(weight.shape[-1])
    module = ECA(int(x.shape[1]), k_size=k, store_maps=False).to(x.dtype)
    with torch.no_grad():
        module.conv.weight.copy_(weight.reshape(1, 1, k))
        return module.gate(x)


def _gate_mistakes(run_case):
    ident = lambda t: t  # noqa: E731
    return [
        Mistake("no sigmoid", "the gate is not squashed into (0, 1): apply the sigmoid after the "
                              "1-D convolution.", lambda c: run_case(c, outer=ident)),
        Mistake("circular", "the channel axis is padded circularly: the first and last channels "
                            "must see zeros beyond the ends (padding (k - 1) // 2 of zeros).",
                lambda c: run_case(c, pad_mode="circular")),
        Mistake("reflect", "the channel axis is padded by reflection: pad with zeros.",
                lambda c: run_case(c, pad_mode="reflect")),
        Mistake("replicate", "the ends of the channel axis are padded by repeating the end "
                             "values: pad with zeros.",
                lambda c: run_case(c, pad_mode="replicate")),
        Mistake("flipped", "the kernel is reversed: like nn.Conv1d (a cross-correlation), weight j "
                           "multiplies z[c + j - (k - 1) // 2].",
                lambda c: run_case(c, flip=True)),
        Mistake("batch axis", "the 1-D convolution runs along the batch axis; it must slide "
                              "along the channel axis of each example's descriptor z.",
                lambda c: run_case(c, axis="batch")),
        Mistake("wrong pooling axes", "the descriptor averages over the wrong axes: z_c is the "
                                      "mean of channel c over H and W (dims 2 and 3).",
                lambda c: run_case(c, pool="C,W")),
        Mistake("max", "the squeeze uses the maximum; ECA averages over H x W.",
                lambda c: run_case(c, pool="max")),
        Mistake("no padding", "without padding the convolution returns C - k + 1 values: pad "
                              "(k - 1) // 2 zeros at each end.",
                lambda c: run_case(c, pad_mode="none")),
    ]


GATE_DTYPE = "s has x's dtype whatever the weight's"


class Gate(Check):
    step = "gate"
    title = "eca_gate(x, weight)"
    points_hint = ("eqs. (1) and (3): z = mean over H and W, (B, C); a 1-D convolution of z along "
                   "the channel axis with the k weights and (k - 1) // 2 zeros at each end; "
                   "then the sigmoid; s in x's dtype.")

    # (x shape, k, dtype of x[, dtype of the weight]): k from 1 to 9, H != W, 1 x 1 maps,
    # batch 1, odd C, C == H for the pooling-axis mistake, C < k (every output touches the
    # padding), a weight of another dtype than x (cast to x's)
    SPECS = [((2, 8, 5, 7), 3, "float64"), ((1, 16, 3, 3), 5, "float64"),
             ((3, 6, 6, 4), 3, "float64"), ((2, 7, 1, 1), 5, "float64"),
             ((4, 12, 2, 9), 7, "float32"), ((2, 9, 9, 2), 9, "float64"),
             ((1, 5, 4, 4), 1, "float64"), ((2, 3, 2, 5), 5, "float64"),
             ((3, 32, 4, 3), 3, "float32"), ((1, 1, 3, 2), 3, "float64"),
             ((2, 10, 3, 4), 3, "float32", "float64"), ((3, 12, 2, 5), 5, "float64", "float32")]

    def cases(self):
        out = []
        for i, (shape, k, dtype, *wdtype) in enumerate(self.SPECS):
            rng = case_rng(self.id, i)
            x = rng.normal(0.4, 1.5, size=shape)
            w = rng.normal(0.0, 1.5, size=(k,))
            kwargs, label = {}, f"x of shape {shape}, k = {k}, {dtype}"
            if wdtype:              # the weight in its own dtype: its values are what it holds
                w = w.astype(wdtype[0]).astype(np.float64)
                kwargs, label = {"weight_dtype": wdtype[0]}, f"{label}, weight {wdtype[0]}"
            out.append(Case(label, args=[x, w], kwargs=kwargs, dtype=dtype))
        return out

    def run(self, obj, case):
        """The learner's gate on x in the case's dtype and the weight in ``weight_dtype`` (x's
        when not given); s must come back in x's dtype."""
        x = torch.from_numpy(case.args[0]).to(getattr(torch, case.dtype))
        w = torch.from_numpy(case.args[1]).to(getattr(torch, case.kwargs.get("weight_dtype",
                                                                             case.dtype)))
        with torch.no_grad():
            try:
                s = obj(x, w)
            except Exception as exc:
                if w.dtype == x.dtype:
                    raise
                try:                  # does it run with the weight in x's dtype?
                    obj(x, w.to(x.dtype))
                except Exception:     # noqa: BLE001 - then its own error stands
                    raise exc from None
                raise Rejected(f"your eca_gate raised {type(exc).__name__} for x of dtype "
                               f"{x.dtype} and a weight of dtype {w.dtype}, and runs with a "
                               f"weight of x's dtype: {GATE_DTYPE}") from None
        if isinstance(s, torch.Tensor) and s.is_floating_point() and s.dtype != x.dtype:
            raise Rejected(f"your eca_gate returned s of dtype {s.dtype} for x of dtype "
                           f"{x.dtype}: {GATE_DTYPE}")
        return [to_numpy(s)]

    def _run(self, case, **kw):
        return _np(_gate(_t(case.args[0]), _t(case.args[1]), **kw))

    def expected(self, case):
        return _np(eca_gate_reference(_t(case.args[0]), _t(case.args[1])))

    def reference(self):
        return eca_gate_reference

    def mistakes(self):
        return _gate_mistakes(self._run) + [
            # seen by run: code that does not cast the weight raises on mixed dtypes, or
            # returns the weight's dtype; its numbers are right
            Mistake("weight dtype", f"{GATE_DTYPE}: cast the weight to x's dtype "
                    "(weight.to(x.dtype)) before the convolution.", self.expected,
                    shown_by=GATE_DTYPE)]


class Module(Check):
    step = "eca_module"
    kind = "module"
    title = "ECA(channels, k_size, gamma, b)"
    points_hint = ("k = k_size, or eq. (6') when k_size is None; one parameter tensor, the k "
                   "shared weights (nn.Conv1d(1, 1, k, bias=False) or a Parameter of shape "
                   "(k,)); forward returns x * s with s broadcast over H and W, eq. (4).")
    substitutes = {"eca_kernel_size": eca_kernel_size, "eca_gate": eca_gate_reference}

    SPECS = [(dict(channels=64), (2, 64, 5, 7), "float64"),
             (dict(channels=128), (1, 128, 3, 2), "float64"),
             (dict(channels=12, k_size=5), (3, 12, 4, 1), "float64"),
             (dict(channels=7, k_size=3), (2, 7, 6, 6), "float64"),
             (dict(channels=32, gamma=1, b=0), (2, 32, 2, 3), "float64"),
             (dict(channels=2048), (1, 2048, 1, 2), "float64"),
             (dict(channels=3, k_size=5), (2, 3, 1, 1), "float64"),
             (dict(channels=24, k_size=1), (2, 24, 3, 3), "float64"),
             (dict(channels=40, k_size=7), (3, 40, 5, 2), "float32")]

    def cases(self):
        out = []
        for i, (kw, shape, dtype) in enumerate(self.SPECS):
            rng = case_rng(self.id, i)
            k = kw.get("k_size") or eca_kernel_size(kw["channels"], kw.get("gamma", 2),
                                                    kw.get("b", 1))
            params = {"conv.weight": rng.normal(0.0, 1.5, size=(1, 1, k))}
            x = rng.normal(0.3, 1.5, size=shape)
            args = ", ".join(f"{a}={v}" for a, v in kw.items())
            out.append(Case(f"ECA({args}) on x of shape {shape}, {dtype}", args=[x], kwargs=kw,
                            params=params, dtype=dtype))
        return out

    def _run(self, case, scale=lambda x, s: x * s, **kw):
        x = _t(case.args[0])
        w = _t(case.params["conv.weight"]).reshape(-1)
        s = _gate(x, w, **kw)
        if s.shape != x.shape[:2]:
            return _np(s)                 # a gate of the wrong shape cannot scale x
        return _np(scale(x, s[:, :, None, None]))

    def run(self, obj, case):
        return self.run_or_refuse(obj, case, self._other_k)

    @staticmethod
    def _weights(case, k):
        """k weights for a kernel of another size than the case's: the case's k weights
        repeated or cut to k (np.resize), so that the module's numbers can still be compared."""
        return np.resize(np.asarray(case.params["conv.weight"]).reshape(-1), k)

    def _other_k(self, obj, case):
        """A module whose one learnable tensor holds k' != k weights (an even k from the rule
        without its + 1, say) is refused; it runs with :meth:`_weights` (k') so that its numbers
        can name its mistake. Any other layout returns None."""
        import dataclasses

        module = obj(**case.kwargs)
        if not isinstance(module, torch.nn.Module):
            return None
        tensors = list(module.parameters()) + [b for n, b in module.named_buffers()
                                               if b.is_floating_point()
                                               and not n.endswith("num_batches_tracked")]
        shapes = [tuple(s for s in t.shape if s != 1) for t in tensors]
        if len(shapes) != 1 or len(shapes[0]) > 1:
            return None
        k = shapes[0][0] if shapes[0] else 1
        other = dataclasses.replace(case, params={"conv.weight": self._weights(case, k)
                                                  .reshape(1, 1, k)})
        return Check.run(self, obj, other)

    def expected(self, case):
        kw = dict(case.kwargs)
        module = ECA(**kw, store_maps=False).double()
        with torch.no_grad():
            module.conv.weight.copy_(_t(case.params["conv.weight"]))
            return _np(module(_t(case.args[0])))

    def reference(self):
        return ECA

    def mistakes(self):
        out = [m for m in _gate_mistakes(self._run) if m.name not in ("no padding",)]
        out.append(Mistake("add", "the gate is added to x; eq. (4) multiplies.",
                           lambda c: self._run(c, scale=lambda x, s: x + s)))

        def even_k(c):
            # k computed in the module by eq. (6') without its + 1 for an even t, padded k // 2:
            # an even k gives C + 1 gates, of which the first C scale x (the module is refused,
            # see run, and runs with _weights(k))
            kw = c.kwargs
            k = kw.get("k_size") or int(_ratio(kw["channels"], kw.get("gamma", 2), kw.get("b", 1)))
            if k < 1:
                return np.full(np.shape(c.args[0]), np.nan)
            x, w = _t(c.args[0]), _t(self._weights(c, k))
            y = F.conv1d(x.mean(dim=(2, 3)).unsqueeze(1), w.view(1, 1, k), padding=k // 2)
            s = torch.sigmoid(y[:, 0, :x.shape[1]])
            return _np(x * s[:, :, None, None])

        out.append(Mistake("even k", "k is even: eq. (6') adds 1 to an even t, so that k is odd "
                           "and the kernel has a centre (call eca_kernel_size); an even k padded "
                           "k // 2 gives C + 1 gates, shifted half a channel.", even_k))
        return out


# ----- cost: ECA-ResNet-50's extra parameters ----------------------------------------------------
def _count(kernels) -> int:
    # counted from reference modules, one per bottleneck block
    return sum(n * sum(p.numel() for p in ECA(w, k_size=k).parameters())
               for n, w, k in zip(RESNET50_BLOCKS, RESNET50_WIDTHS, kernels))


class _Count(Check):
    kind = "value"
    rule = "official"

    def cases(self):
        return [Case("one integer")]

    def expected(self, case):
        return np.asarray(_count(eca_resnet50_kernels(self.rule)))

    def reference(self):
        return _count(eca_resnet50_kernels(self.rule))

    def _common(self):
        ks = eca_resnet50_kernels(self.rule)
        return [
            Mistake("one block per stage", "that counts one block per stage; ResNet-50 has "
                                           "3, 4, 6 and 3 bottleneck blocks, each with its own "
                                           "ECA.", lambda c: np.asarray(sum(ks))),
            Mistake("k times C", "that is k * C per block, the banded matrix without weight "
                                 "sharing (ECA-NS); ECA shares its k weights across channels.",
                    lambda c: np.asarray(sum(n * k * w for n, k, w in
                                             zip(RESNET50_BLOCKS, ks, RESNET50_WIDTHS)))),
            Mistake("blocks only", "each block has k weights, not one.",
                    lambda c: np.asarray(sum(RESNET50_BLOCKS))),
        ]


class ParamsOfficial(_Count):
    step = "params"
    title = "eca_params_official (ECA weights in the released ECA-ResNet-50)"
    points_hint = "kernels 3, 5, 5, 7 in stages with 3, 4, 6, 3 blocks: sum of blocks * k."
    rule = "official"

    def mistakes(self):
        return self._common() + [Mistake("rule", "that is the count for the rule psi's kernels; "
                                                 "this one asks for the released 3, 5, 5, 7.",
                                          lambda c: np.asarray(_count(eca_resnet50_kernels("adaptive"))))]


class ParamsAdaptive(_Count):
    step = "params"
    value = "adaptive"
    title = "eca_params_adaptive (ECA weights in ResNet-50 with psi's kernels)"
    points_hint = "psi's kernels at widths 256, 512, 1024, 2048, in stages of 3, 4, 6, 3 blocks."
    rule = "adaptive"

    def mistakes(self):
        return self._common() + [Mistake("released", "that is the count for the released kernels "
                                                     "3, 5, 5, 7; this one asks for psi's.",
                                          lambda c: np.asarray(_count(eca_resnet50_kernels("official"))))]


CHECKS = [KernelSize(), ResNet50Table(), MobileNetV2Table(), Gate(), Module(), ParamsOfficial(),
          ParamsAdaptive()]
