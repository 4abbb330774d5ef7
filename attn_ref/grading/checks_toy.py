"""Hidden checks of the toy chapter (``solutions/08_toy/toy.ipynb``)."""
from __future__ import annotations

import numpy as np
import torch

from .core import Case, Check, Mistake, case_rng


def _t(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


class GlobalAvgPool(Check):
    id = "toy.gap"
    title = "global_avg_pool(x)"
    points_hint = "eq. (1): the mean of each channel over all H x W positions, shape (B, C)."

    def cases(self):
        shapes = [((2, 3, 4, 5), "float64"), ((1, 1, 1, 1), "float64"), ((3, 8, 7, 1), "float32"),
                  ((1, 16, 1, 9), "float64"), ((4, 5, 6, 6), "float32")]
        return [Case(f"x of shape {shape}, {dtype}",
                     args=[case_rng(self.id, i).normal(0.5, 2.0, size=shape)], dtype=dtype)
                for i, (shape, dtype) in enumerate(shapes)]

    def expected(self, case):
        return _t(case.args[0]).mean(dim=(2, 3)).numpy()

    def reference(self):
        return lambda x: x.mean(dim=(2, 3))

    def mistakes(self):
        x = lambda c: _t(c.args[0])  # noqa: E731
        return [
            Mistake("max", "these are the maxima over H x W; average pooling takes the mean.",
                    lambda c: x(c).amax(dim=(2, 3)).numpy()),
            Mistake("sum", "these are sums over H x W; divide by H * W.",
                    lambda c: x(c).sum(dim=(2, 3)).numpy()),
        ]


CHECKS = [GlobalAvgPool()]
