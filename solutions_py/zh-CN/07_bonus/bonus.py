# %% [markdown]
# # Chapter 7 (bonus) — Criss-cross attention and GAM
#
# *attention-course · bonus chapter · about 60 minutes*
#
# Two modules that look further than the gates of chapters 1–4, and one skill that every reader of
# attention code needs.
#
# * **Criss-cross attention** (CCNet; Huang, Wang, Huang, Huang, Wei and Liu, ICCV 2019 / TPAMI 2020,
#   arXiv 1811.11721) is a cheap relative of the non-local block: each pixel attends only to the
#   $H + W - 1$ pixels on its row and column, and two passes with shared weights are enough to
#   connect every pixel with every other one. The paper reports 11× less GPU memory and about 85 %
#   fewer FLOPs than a non-local block (abstract).
# * **GAM**, the Global Attention Mechanism (Liu, Shao and Hoffmann, arXiv 2112.05561), keeps CBAM's
#   order — channel attention, then spatial attention — but drops the pooling that CBAM uses to build
#   its maps, so both maps have the full shape $C\times H\times W$.
# * **Critical reading.** Code that circulates under these names is often something else. You will
#   read three short snippets (written for this course, in the style of what circulates), find what
#   is wrong with numbers, and write the fixed versions.
#
# **How this notebook is graded.** Each exercise is a code cell with `raise NotImplementedError()`
# to replace, followed by a locked test cell. The visible tests check small cases you can verify by
# hand; when you submit, the same cell runs hidden tests on many shapes, seeds and dtypes, judged
# outside your notebook's kernel. Restart the kernel and run all cells before you submit.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

import attn_ref
from attn_ref.grading import expect_answer, expect_defined, expect_dtype, expect_close, expect_equal, expect_shape, grade
from attn_ref.data import gabor_features, sample_image
from attn_ref.plots import block_diagram

torch.manual_seed(0)
torch.set_printoptions(precision=4, sci_mode=False)
# %matplotlib inline

# %% [markdown]
# ## 1. What and why
#
# A **non-local block** lets every position $u$ of an $H\times W$ map attend to all $HW$ positions:
# $HW$ queries times $HW$ keys, $(HW)^2$ affinities. For the $97\times 97$ feature map that CCNet's
# segmentation network produces from a $769\times 769$ crop, that is 88.5 million affinities per
# image, and the attention matrix alone takes 354 MB in float32 — per block, per image.
#
# **Criss-cross attention** keeps the long range but not the density: position $u=(h,w)$ attends to
# its *criss-cross path* $\Omega_u$, the pixels of row $h$ and of column $w$. The pixel itself is on
# both, and is counted once, so $|\Omega_u| = H + W - 1$. A second pass of the same block (shared
# weights: the paper's *recurrent* criss-cross attention, RCCA, with $R = 2$) carries information
# from any pixel to any other through the pixel where their row and column cross.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-01", "locked": true, "schema_version": 3, "solution": false, "task": false}
block_diagram([("X", "C×H×W"), ("1×1 convs\nQ, K, V", "C'×H×W, C×H×W"),
               ("affinity\non the cross", "H×W×(H+W−1)"), ("softmax", "A"),
               ("aggregate\nΣ A V", "C×H×W"), ("γ · + X", "C×H×W")],
              title="one criss-cross pass (RCCA applies it twice with the same weights)", skip_to=5)
plt.show()


# %% [markdown]
# ## 2. Criss-cross attention, equation by equation
#
# For one example $X\in\mathbb{R}^{C\times H\times W}$, three $1\times 1$ convolutions give queries,
# keys and values:
#
# $$ Q = W_q X + b_q,\quad K = W_k X + b_k \in \mathbb{R}^{C'\times H\times W},\qquad
#    V = W_v X + b_v \in \mathbb{R}^{C\times H\times W}, \tag{1}$$
#
# with $C' = C/r$ ($r = 8$ in the official code). The **affinity** of $u$ with a position $v$ of its
# cross is a dot product,
#
# $$ d_{u,v} = Q_u^\top K_v, \qquad v \in \Omega_u, \tag{2}$$
#
# the **attention** is a softmax over the cross of $u$ (one distribution per pixel),
#
# $$ A_{u,v} = \frac{\exp d_{u,v}}{\sum_{v'\in\Omega_u}\exp d_{u,v'}}, \tag{3}$$
#
# and the output adds the attended values to the input with a learned scalar $\gamma$:
#
# $$ X'_u = \gamma \sum_{v\in\Omega_u} A_{u,v}\, V_v + X_u . \tag{4}$$
#
# **What the paper leaves to the code.** (i) *The centre.* Row $h$ and column $w$ share $u$. The
# official implementation computes all $H$ column affinities and all $W$ row affinities and sets the
# column affinity of $u$ with itself to $-\infty$, so $u$ enters the softmax once, through its row.
# (ii) *$\gamma$ starts at 0*, so a freshly inserted block is the identity and training decides how
# much attention to mix in. (iii) *Layout.* In this chapter the weights of pixel $(h, w)$ are stored
# compactly along a last axis of length $H + W - 1$:
#
# | entries | positions |
# |---|---|
# | $0,\dots,H-2$ | the column $(h', w)$ for $h' = 0,\dots,H-1$ **without** $h' = h$, in increasing $h'$ |
# | $H-1,\dots,H+W-2$ | the row $(h, w')$ for $w' = 0,\dots,W-1$ (the pixel itself at $w' = w$) |
#
# **Exercise 1 (3 points).** Implement eqs. (2)–(3) for a batch: `criss_cross_attention(q, k)` takes
# queries and keys of shape `(B, C', H, W)` and returns the attention `(B, H, W, H + W - 1)` in the
# layout above. One way: compute the column affinities `(B, H, W, H)` and the row affinities
# `(B, H, W, W)` with `torch.einsum`, mask the centre in the column part with `-inf`, take one
# softmax over the concatenation, and drop the (now zero) centre column entry.

# %% nbgrader={"grade": false, "grade_id": "criss_cross_attention", "locked": false, "schema_version": 3, "solution": true, "task": false}
def criss_cross_attention(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Eqs. (2)-(3): softmax over each pixel's criss-cross path, (B, H, W, H + W - 1).

    Last axis: the H - 1 column positions (h', w), h' != h, by increasing h', then the W row
    positions (h, w'), w' = 0 .. W - 1.
    """
    ### BEGIN SOLUTION
    B, _, H, W = q.shape
    d_col = torch.einsum("bchw,bcgw->bhwg", q, k)               # (B, H, W, H): Q_(h,w) . K_(g,w)
    d_row = torch.einsum("bchw,bchg->bhwg", q, k)               # (B, H, W, W): Q_(h,w) . K_(h,g)
    centre = torch.eye(H, dtype=torch.bool, device=q.device)[:, None, :]   # g == h
    d_col = d_col.masked_fill(centre, float("-inf"))
    a = torch.softmax(torch.cat([d_col, d_row], dim=-1), dim=-1)
    a_col = a[..., :H][~centre.expand(B, H, W, H)].reshape(B, H, W, H - 1)
    return torch.cat([a_col, a[..., H:]], dim=-1)
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_criss_cross_attention", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("bonus.criss_cross_attention", criss_cross_attention)
### END HIDDEN TESTS
# 1. Equal affinities everywhere: every pixel spreads its attention evenly over H + W - 1 = 6
#    positions of a 3 x 4 map. Counting the centre twice would give 7 entries of 1/7 (and drop one).
q = torch.ones(1, 1, 3, 4, dtype=torch.float64)
a = criss_cross_attention(q, q)
expect_shape(a, (1, 3, 4, 6), "criss_cross_attention on a 3 x 4 map",
             hint="the last axis holds H - 1 = 2 column entries and W = 4 row entries.")
expect_close(a, torch.full((1, 3, 4, 6), 1 / 6, dtype=torch.float64), "equal affinities",
             hint="count the pixel itself once: mask its column affinity with -inf before one softmax.")
# 2. A 2 x 2 map with C' = 1, q = k = [[1, 2], [0, 3]]. Pixel (0, 0) has value 1:
#    column entry (1, 0): 1 * 0 = 0; row entries (0, 0): 1 * 1 = 1 and (0, 1): 1 * 2 = 2.
#    Pixel (1, 1) has value 3: column entry (0, 1): 3 * 2 = 6; row entries (1, 0): 0, (1, 1): 9.
q = torch.tensor([[[[1.0, 2.0], [0.0, 3.0]]]], dtype=torch.float64)
a = criss_cross_attention(q, q)
expect_close(a[0, 0, 0], torch.softmax(torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64), 0),
             "weights of pixel (0, 0)", hint="one softmax over the 3 entries of this pixel (the last axis).")
expect_close(a[0, 1, 1], torch.softmax(torch.tensor([6.0, 0.0, 9.0], dtype=torch.float64), 0),
             "weights of pixel (1, 1)", hint="column entries first (without the pixel), then the whole row.")
print("Every visible test of this step passes; it earns its 3 points when the hidden tests agree.")


# %% [markdown]
# **Exercise 2 (2 points).** Implement the sum in eq. (4), without $\gamma$ and the residual:
# `criss_cross_aggregate(attn, v)` takes the attention `(B, H, W, H + W - 1)` in the layout above and
# values `(B, C, H, W)`, and returns $\sum_{v\in\Omega_u} A_{u,v}V_v$ of shape `(B, C, H, W)`. The
# subtle part is the column: entry $j$ of pixel $(h, w)$ belongs to row $h' = j$ when $j < h$ and to
# $h' = j + 1$ when $j \ge h$.

# %% nbgrader={"grade": false, "grade_id": "criss_cross_aggregate", "locked": false, "schema_version": 3, "solution": true, "task": false}
def criss_cross_aggregate(attn: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Eq. (4) without gamma and the residual: (B, C, H, W)."""
    ### BEGIN SOLUTION
    B, H, W, _ = attn.shape
    h = torch.arange(H, device=attn.device)
    j = torch.arange(H - 1, device=attn.device)
    rows_of = j[None, :] + (j[None, :] >= h[:, None]).long()        # (H, H - 1): h' of entry j
    a_col = torch.zeros(B, H, W, H, dtype=attn.dtype, device=attn.device)
    a_col.scatter_(-1, rows_of[None, :, None, :].expand(B, H, W, H - 1), attn[..., :H - 1])
    a_row = attn[..., H - 1:]
    return (torch.einsum("bhwg,bcgw->bchw", a_col, v)
            + torch.einsum("bhwg,bchg->bchw", a_row, v))
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_criss_cross_aggregate", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("bonus.criss_cross_aggregate", criss_cross_aggregate)
### END HIDDEN TESTS
# A loop you can read: out[h, w] = sum over the column without h, then over the whole row.
def aggregate_by_loops(attn, v):
    B, H, W, _ = attn.shape
    out = torch.zeros_like(v)
    for h in range(H):
        for w in range(W):
            others = [g for g in range(H) if g != h]
            for j, g in enumerate(others):
                out[:, :, h, w] += attn[:, h, w, j, None] * v[:, :, g, w]
            for w2 in range(W):
                out[:, :, h, w] += attn[:, h, w, H - 1 + w2, None] * v[:, :, h, w2]
    return out

v = torch.arange(6.0, dtype=torch.float64).reshape(1, 1, 2, 3)     # [[0, 1, 2], [3, 4, 5]]
uniform = torch.full((1, 2, 3, 4), 0.25, dtype=torch.float64)
# pixel (0, 0): its cross holds 3 (column) and 0, 1, 2 (row): mean 1.5
expect_close(criss_cross_aggregate(uniform, v)[0, 0, 0, 0], torch.tensor(1.5, dtype=torch.float64),
             "uniform attention at pixel (0, 0)", hint="average of the column entry 3 and the row 0, 1, 2.")
torch.manual_seed(2)
attn = torch.softmax(torch.randn(2, 4, 3, 6, dtype=torch.float64), -1)
vals = torch.randn(2, 5, 4, 3, dtype=torch.float64)
expect_close(criss_cross_aggregate(attn, vals), aggregate_by_loops(attn, vals), "against the loops",
             hint="column entry j of pixel (h, w) is row j if j < h, else row j + 1.")
print("Every visible test of this step passes; it earns its 2 points when the hidden tests agree.")


# %% [markdown]
# ### 2.1 The recurrent block
#
# RCCA applies eqs. (1)–(4) $R$ times **with the same weights**, each pass starting from the output
# of the previous one:
#
# $$ X^{(0)} = X, \qquad X^{(t)} = \gamma\, \mathrm{CC}\big(X^{(t-1)}\big) + X^{(t-1)},
# \quad t = 1,\dots,R. \tag{5}$$
#
# **Exercise 3 (3 points).** Write `forward` of the module below (its layers are created for you:
# keep their names). Use your two functions.

# %% nbgrader={"grade": false, "grade_id": "cc_module", "locked": false, "schema_version": 3, "solution": true, "task": false}
class CrissCross(nn.Module):
    """Recurrent criss-cross attention, eqs. (1)-(5), with R = `recurrence` passes."""

    def __init__(self, channels: int, reduction: int = 8, recurrence: int = 2):
        super().__init__()
        qk = max(1, channels // reduction)
        self.recurrence = recurrence
        self.query_conv = nn.Conv2d(channels, qk, kernel_size=1)
        self.key_conv = nn.Conv2d(channels, qk, kernel_size=1)
        self.value_conv = nn.Conv2d(channels, channels, kernel_size=1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        for _ in range(self.recurrence):
            attn = criss_cross_attention(self.query_conv(x), self.key_conv(x))
            x = x + self.gamma * criss_cross_aggregate(attn, self.value_conv(x))
        return x
        ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_cc_module", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("bonus.cc_module", CrissCross)
### END HIDDEN TESTS
torch.manual_seed(3)
cc = CrissCross(8, reduction=4).double()
x = torch.randn(2, 8, 5, 7, dtype=torch.float64)
expect_shape(cc(x), (2, 8, 5, 7), "CrissCross(8, 4)(x).shape", hint="the block keeps the shape of x.")
expect_close(cc(x), x, "gamma = 0 at initialisation", hint="x' = x + gamma * out, and gamma starts at 0.")
# With gamma = 1 the passes show. Eq. (5) written out with your two functions: each pass reads
# the previous pass's output through the SAME three convolutions.
with torch.no_grad():
    cc.gamma.fill_(1.0)

def passes_by_hand(x, R):
    for _ in range(R):
        attn = criss_cross_attention(cc.query_conv(x), cc.key_conv(x))
        x = x + cc.gamma * criss_cross_aggregate(attn, cc.value_conv(x))
    return x

with torch.no_grad():
    expect_close(cc(x), passes_by_hand(x, 2), "two passes with shared weights, gamma = 1",
                 hint="run the pass self.recurrence times (2 here), each on the previous output, "
                      "and add gamma * out to x each time.")
    cc.recurrence = 3
    expect_close(cc(x), passes_by_hand(x, 3), "recurrence = 3", hint="use self.recurrence, not a fixed 2.")
# Random weights loaded into your module, on the hidden check's own shapes (earlier steps are
# replaced by the reference ones here, as when you submit).
expect_answer(CrissCross, "bonus.cc_module", "CrissCross with random weights")
print("Every visible test of this step passes; it earns its 3 points when the hidden tests agree.")


# %% [markdown]
# ## 3. Why two passes reach every pixel
#
# After one pass, the output at $u=(h,w)$ depends only on the inputs on its cross. Take any other
# pixel $v=(h_2,w_2)$. The pixel $(h, w_2)$ lies on $v$'s column and on $u$'s row: after the first
# pass it holds information from $v$, and in the second pass $u$ reads it. (So does $(h_2, w)$.)
# Hence $R = 2$ connects every pair, and more passes add nothing new to the reach (the paper's
# ablation on the number of loops settles on $R = 2$ as the trade-off between accuracy and cost).
#
# Write this as matrices: number the pixels row-major, $u = hW + w$, and let $M\in\{0,1\}^{HW\times HW}$
# hold $M_{u,v} = 1$ when $v\in\Omega_u$. The output of $R$ passes at $u$ can depend on the input at
# $v$ exactly when $(M^R)_{u,v} > 0$ (for generic weights).
#
# **Exercise 4 (2 points).** Write `reachability(H, W, passes)`, the $HW\times HW$ matrix of zeros and
# ones (a `torch.float64` tensor) with entry $[u, v] = 1$ when, after `passes` passes, the output at
# $u$ depends on the input at $v$.

# %% nbgrader={"grade": false, "grade_id": "reachability", "locked": false, "schema_version": 3, "solution": true, "task": false}
def reachability(H: int, W: int, passes: int) -> torch.Tensor:
    """(H*W, H*W) float64 tensor of 0.0 and 1.0, pixels numbered row-major: 1 where u can depend
    on v after `passes`."""
    ### BEGIN SOLUTION
    h = torch.arange(H).repeat_interleave(W)
    w = torch.arange(W).repeat(H)
    m = ((h[:, None] == h[None, :]) | (w[:, None] == w[None, :])).double()
    reach = torch.eye(H * W, dtype=torch.float64)
    for _ in range(passes):
        reach = (reach @ m > 0).double()
    return reach
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_reachability", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("bonus.reachability", reachability)
### END HIDDEN TESTS
# A 2 x 2 map, pixels 0 = (0, 0), 1 = (0, 1), 2 = (1, 0), 3 = (1, 1): each pixel's cross holds
# itself, its row neighbour and its column neighbour, but not the diagonal pixel.
one = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 1], [1, 0, 1, 1], [0, 1, 1, 1]], dtype=torch.float64)
expect_dtype(reachability(2, 2, 1), torch.float64, "reachability(2, 2, 1).dtype",
             hint="return a torch.float64 tensor of 0.0 and 1.0 (for instance reach.double()), not a bool or integer one.")
expect_close(torch.as_tensor(reachability(2, 2, 1), dtype=torch.float64), one, "reachability(2, 2, 1)",
             hint="one pass: v is on the row or the column of u (u itself included).")
expect_close(torch.as_tensor(reachability(2, 2, 2), dtype=torch.float64), torch.ones(4, 4, dtype=torch.float64),
             "reachability(2, 2, 2)", hint="the diagonal pixel is reached through (0, 1) or (1, 0).")
print("Every visible test of this step passes; it earns its 2 points when the hidden tests agree.")

# %% [markdown]
# The count of reachable pixels per pixel, for a $5\times 7$ map, and the same thing measured with
# autograd on the reference block (random weights, $\gamma = 1$): a non-zero gradient of the output at
# the centre with respect to an input pixel means a dependence.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-02", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
H, W = 5, 7
for R in (1, 2, 3):
    counts = torch.as_tensor(reachability(H, W, R)).sum(1)
    torch.manual_seed(0)
    block = attn_ref.CrissCrossAttention(4, reduction=2, recurrence=R).double()
    with torch.no_grad():
        block.gamma.fill_(1.0)
    x = torch.randn(1, 4, H, W, dtype=torch.float64, requires_grad=True)
    block(x)[0, :, 2, 3].sum().backward()
    measured = int((x.grad.abs().sum(1) > 0).sum())
    print(f"R = {R}: reachability says {int(counts[2 * W + 3])} of {H * W} pixels for the centre, "
          f"autograd finds {measured}")


# %% [markdown]
# ## 4. Cost against a non-local block
#
# Per pass, each of the $HW$ pixels computes $H + W - 1$ affinities (eq. 2), each a dot product of
# length $C'$, and aggregates $H + W - 1$ values of length $C$ (eq. 4). A non-local block computes
# $(HW)^2$ of each. The projections (eq. 1) are the same $1\times 1$ convolutions in both.
#
# | | affinities | attention memory (float32) | multiply-adds of eqs. (2) and (4) |
# |---|---|---|---|
# | non-local | $(HW)^2$ | $4(HW)^2$ bytes | $(HW)^2 (C' + C)$ |
# | RCCA, $R$ passes | $R\,HW(H+W-1)$ | $4\,HW(H+W-1)$ bytes (one pass at a time) | $R\,HW(H+W-1)(C'+C)$ |
#
# **Exercise 5 (2 points).** Write `cc_affinities(H, W, recurrence=2)`, the number of affinities
# $d_{u,v}$ RCCA computes on an $H\times W$ map. Then set `nonlocal_over_rcca` to the ratio of a
# non-local block's affinities to RCCA's ($R = 2$) on CCNet's $97\times 97$ map, as a float.

# %% nbgrader={"grade": false, "grade_id": "cc_cost", "locked": false, "schema_version": 3, "solution": true, "task": false}
def cc_affinities(H: int, W: int, recurrence: int = 2) -> int:
    """Affinities computed by `recurrence` criss-cross passes on an H x W map."""
    ### BEGIN SOLUTION
    return recurrence * H * W * (H + W - 1)
    ### END SOLUTION


### BEGIN SOLUTION
nonlocal_over_rcca = (97 * 97) ** 2 / cc_affinities(97, 97)
### END SOLUTION

# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_cc_cost", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("bonus.cc_cost", cc_affinities)
grade("bonus.cc_cost.ratio", nonlocal_over_rcca)
### END HIDDEN TESTS
expect_equal(cc_affinities(2, 2, 1), 4 * 3, "cc_affinities(2, 2, 1)",
             hint="4 pixels, each with a cross of 2 + 2 - 1 = 3 positions.")
expect_equal(cc_affinities(2, 2), 2 * 4 * 3, "cc_affinities(2, 2)", hint="the default is two passes.")
expect_defined("nonlocal_over_rcca")
expect_answer(nonlocal_over_rcca, "bonus.cc_cost.ratio", "nonlocal_over_rcca")
print("Every visible test of this step passes; it earns its 2 points when the hidden tests agree.")

# %% [markdown]
# The counts for a few map sizes, and a check of the aggregation's multiply-adds with PyTorch's
# counter (which sees the `einsum`s of one pass of the reference block as matrix products; the
# reference evaluates the column part densely over all $H$ rows, so it counts $H + W$ per pixel).

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-03", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
print(f"{'map':>9} {'non-local':>14} {'RCCA (R=2)':>12} {'ratio':>7}")
for H, W in [(33, 33), (65, 65), (97, 97), (64, 128)]:
    nl = (H * W) ** 2
    print(f"{H:>4}x{W:<4} {nl:14,d} {cc_affinities(H, W):12,d} {nl / cc_affinities(H, W):7.1f}")

from torch.utils.flop_counter import FlopCounterMode
C, H, W = 64, 16, 24
one_pass = attn_ref.CrissCrossAttention(C, reduction=8, store_maps=False, recurrence=1)
with FlopCounterMode(display=False) as counter:
    one_pass(torch.randn(1, C, H, W))
convs = (2 * C * (C // 8) + C * C) * H * W
print("counter, one pass, minus the 1x1 convs:", counter.get_total_flops() // 2 - convs)
print("closed form H W (H + W) (C' + C)      :", H * W * (H + W) * (C // 8 + C))


# %% [markdown]
# ## 5. Seeing it: where one pixel looks after one and two passes
#
# Trained weights are not needed to see the geometry. We take twelve Gabor feature maps of
# scikit-image's astronaut (as in chapter 1), scale each pixel's 12-vector to unit length, and set
# $W_q = W_k = \alpha I$ ($C' = C$, $\alpha = 2$): the affinity of two pixels is then $\alpha^2$
# times the cosine of their texture descriptors, so a pixel attends most to similar texture. With $\gamma = 1$ and $W_v = I$, the second pass mixes the first pass's
# output. The *effective* weight of input pixel $v$ in the output at $u$ after two passes (ignoring
# the residual path) is $\sum_{w} A^{(2)}_{u,w} A^{(1)}_{w,v}$: the product of the two attention
# matrices.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-04", "locked": true, "schema_version": 3, "solution": false, "task": false}
def dense_attention(attn):
    # compact (H, W, H + W - 1) weights of one image -> dense (H*W, H*W) matrix
    H, W, _ = attn.shape
    col = torch.zeros(H, W, H, dtype=attn.dtype)
    others = torch.tensor([[g for g in range(H) if g != h] for h in range(H)])    # (H, H - 1)
    col.scatter_(-1, others[:, None, :].expand(H, W, H - 1), attn[..., :H - 1])
    dense = (torch.einsum("hwg,wv->hwgv", col, torch.eye(W, dtype=attn.dtype))
             + torch.einsum("hwv,hg->hwgv", attn[..., H - 1:], torch.eye(H, dtype=attn.dtype)))
    return dense.reshape(H * W, H * W)

image = sample_image("astronaut", size=64)
feats, labels = gabor_features(image)
feats = feats / feats.norm(dim=1, keepdim=True).clamp_min(1e-6)   # unit descriptor per pixel
C, H, W = feats.shape[1:]
rcca = attn_ref.CrissCrossAttention(C, reduction=1, recurrence=2)
with torch.no_grad():
    for conv in (rcca.query_conv, rcca.key_conv):
        conv.weight.copy_(2.0 * torch.eye(C)[:, :, None, None]); conv.bias.zero_()
    rcca.value_conv.weight.copy_(torch.eye(C)[:, :, None, None]); rcca.value_conv.bias.zero_()
    rcca.gamma.fill_(1.0)
    rcca(feats)
passes = rcca.maps["attention_passes"][:, 0]                   # (2, H, W, H + W - 1)
d1, d2 = dense_attention(passes[0]), dense_attention(passes[1])
u = (14, 28)                                                   # a pixel on the astronaut's face
k = u[0] * W + u[1]
fig, axes = plt.subplots(1, 3, figsize=(11, 3.8))
axes[0].imshow(image[0, 0], cmap="gray"); axes[0].plot(u[1], u[0], "r+", ms=12)
axes[0].set_title("image and pixel u")
for ax, m, t in ((axes[1], d1[k], "after one pass: A(1)[u]"), (axes[2], (d2 @ d1)[k], "after two passes: (A(2) A(1))[u]")):
    im = ax.imshow(np.log10(m.reshape(H, W).numpy() + 1e-6), cmap="magma", vmin=-6)
    ax.set_title(t); fig.colorbar(im, ax=ax, fraction=0.046, label="log10 weight")
for ax in axes:
    ax.axis("off")
fig.tight_layout(); plt.show()

# %% [markdown]
# After one pass the pixel sees only its cross (everything else is at the floor of the colour
# scale); after two passes every pixel has a non-zero weight, largest on the textures most similar
# to the one at $u$. That is the whole argument of §3 on a real image.
#
# ## 6. GAM, equation by equation
#
# GAM keeps CBAM's sequence $F_2 = M_c(F_1)\otimes F_1$, $F_3 = M_s(F_2)\otimes F_2$ (the paper's
# Section 3 and Fig. 1), with $F_1 = X$, but builds both maps **without pooling**, to keep what CBAM's
# averages and maxima throw away. Both maps have the full shape $C\times H\times W$, so $\otimes$ is
# a plain element-wise product.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-05", "locked": true, "schema_version": 3, "solution": false, "task": false}
block_diagram([("F1 = X", "C×H×W"), ("permute,\nMLP C→C/r→C", "H×W×C"), ("permute⁻¹, σ", "M_c: C×H×W"),
               ("⊗ F1", "F2: C×H×W"), ("7×7 conv, BN,\nReLU, 7×7, BN", "C×H×W"),
               ("σ", "M_s: C×H×W"), ("⊗ F2", "F3: C×H×W")],
              title="GAM: full-size channel and spatial maps, no pooling", skip_to=3)
plt.show()


# %% [markdown]
# **Channel submodule** (the paper's Fig. 2). A 3-D permutation $P$ moves the channel axis last,
# $(C, H, W)\to(H, W, C)$, so that a two-layer MLP (reduction $r$, ReLU in between) acts on the
# channel vector of *every* position; the inverse permutation and a sigmoid give the map:
#
# $$ M_c = \sigma\Big(P^{-1}\big(W_2\,\delta(W_1 P(F_1) + b_1) + b_2\big)\Big),\qquad
#    W_1\in\mathbb{R}^{\frac{C}{r}\times C},\ W_2\in\mathbb{R}^{C\times\frac{C}{r}}. \tag{6}$$
#
# **Spatial submodule** (Fig. 3). Two $7\times 7$ convolutions, $C\to C/r\to C$, each followed by
# BatchNorm, with a ReLU between them and a sigmoid at the end; no pooling, so every channel keeps its
# own spatial map:
#
# $$ M_s = \sigma\Big(\mathrm{BN}\big(\mathrm{conv}^{7\times7}_{C/r\to C}\,
#    \delta(\mathrm{BN}(\mathrm{conv}^{7\times7}_{C\to C/r}(F_2)))\big)\Big). \tag{7}$$
#
# **Left to the code.** We use $r = 4$, the default of the common PyTorch transcriptions (and of
# `attn_ref.GAM`); Fig. 3 does not show biases or padding (we use padding 3 and biases, as those
# transcriptions do); for ResNet-50 it replaces the
# convolutions by group convolutions with channel shuffle to limit parameters, which we leave out.
# In a network GAM runs with BatchNorm in eval mode at inference, so the exercises take BatchNorm's
# running statistics as arguments (eps $= 10^{-5}$).
#
# **Exercise 6 (2 points).** Implement eq. (6): `gam_channel_gate(x, w1, b1, w2, b2)` takes
# `(B, C, H, W)` and `nn.Linear`-layout weights and returns $M_c$ of shape `(B, C, H, W)`.

# %% nbgrader={"grade": false, "grade_id": "gam_channel_gate", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gam_channel_gate(x, w1, b1, w2, b2):
    """Eq. (6): M_c (B, C, H, W), the MLP C -> C/r -> C applied at every position."""
    ### BEGIN SOLUTION
    t = F.linear(F.relu(F.linear(x.permute(0, 2, 3, 1), w1, b1)), w2, b2)   # (B, H, W, C)
    return torch.sigmoid(t.permute(0, 3, 1, 2))
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_gam_channel_gate", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("bonus.gam_channel_gate", gam_channel_gate)
### END HIDDEN TESTS
# C = 2, H = 1, W = 2, one hidden unit that adds the two channels: position 0 holds (1, 2),
# position 1 holds (3, -1). Hidden: relu(3) = 3 and relu(2) = 2; output (t, -t).
x = torch.tensor([[[[1.0, 3.0]], [[2.0, -1.0]]]], dtype=torch.float64)       # (1, 2, 1, 2)
w1, b1 = torch.tensor([[1.0, 1.0]], dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
w2, b2 = torch.tensor([[1.0], [-1.0]], dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
s = lambda t: 1 / (1 + math.exp(-t))
expected = torch.tensor([[[[s(3), s(2)]], [[s(-3), s(-2)]]]], dtype=torch.float64)
expect_close(gam_channel_gate(x, w1, b1, w2, b2), expected, "channel map of a 1 x 2 input",
             hint="permute (not reshape) to (B, H, W, C), MLP on the last axis, permute back, sigmoid.")
# A negative hidden unit: position 0 holds (1, -3), so the hidden unit is ReLU(1 - 3) = 0.
x2 = torch.tensor([[[[1.0]], [[-3.0]]]], dtype=torch.float64)                  # (1, 2, 1, 1)
expect_close(gam_channel_gate(x2, w1, b1, w2, b2), torch.full((1, 2, 1, 1), 0.5, dtype=torch.float64),
             "channel map with a negative hidden unit",
             hint="the MLP has a ReLU between its layers: ReLU(-2) = 0, so both outputs are sigmoid(0).")
print("Every visible test of this step passes; it earns its 2 points when the hidden tests agree.")


# %% [markdown]
# **Exercise 7 (3 points).** Implement eq. (7): `gam_spatial_gate(f2, conv1, bn1, conv2, bn2)` with
# `conv = (weight, bias)` (weights `(C/r, C, 7, 7)` and `(C, C/r, 7, 7)`) and
# `bn = (weight, bias, running_mean, running_var)`; returns $M_s$ of shape `(B, C, H, W)`.

# %% nbgrader={"grade": false, "grade_id": "gam_spatial_gate", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gam_spatial_gate(f2, conv1, bn1, conv2, bn2, eps=1e-5):
    """Eq. (7): M_s (B, C, H, W) from F2: conv7 -> BN -> ReLU -> conv7 -> BN -> sigmoid."""
    ### BEGIN SOLUTION
    def bn(y, p):
        g, beta, mean, var = p
        return F.batch_norm(y, mean, var, g, beta, training=False, eps=eps)
    y = F.relu(bn(F.conv2d(f2, conv1[0], conv1[1], padding=3), bn1))
    return torch.sigmoid(bn(F.conv2d(y, conv2[0], conv2[1], padding=3), bn2))
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_gam_spatial_gate", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("bonus.gam_spatial_gate", gam_spatial_gate)
### END HIDDEN TESTS
# C = 4, C/r = 2 on a 3 x 5 map. conv1 has zero weights and bias 1, so every hidden unit is 1;
# bn1 (mean 0, var 1 - eps, scale 1, shift 0) keeps 1, ReLU keeps 1. conv2 averages the 2 hidden
# units at the same position (centre tap 1/2) and adds bias 0: 1. bn2 (mean 0.5, var 1 - eps,
# scale 2, shift 0): (1 - 0.5) * 2 = 1. M_s = sigmoid(1) everywhere, whatever f2 is.
d = dict(dtype=torch.float64)
f2 = torch.randn(1, 4, 3, 5, **d)
conv1 = (torch.zeros(2, 4, 7, 7, **d), torch.ones(2, **d))
w2 = torch.zeros(4, 2, 7, 7, **d); w2[:, :, 3, 3] = 0.5
conv2 = (w2, torch.zeros(4, **d))
bn1 = (torch.ones(2, **d), torch.zeros(2, **d), torch.zeros(2, **d), torch.full((2,), 1 - 1e-5, **d))
bn2 = (torch.full((4,), 2.0, **d), torch.zeros(4, **d), torch.full((4,), 0.5, **d), torch.full((4,), 1 - 1e-5, **d))
m = gam_spatial_gate(f2, conv1, bn1, conv2, bn2)
expect_shape(m, (1, 4, 3, 5), "gam_spatial_gate(...).shape",
             hint="7 x 7 convolutions with padding 3 keep H x W; the map has C channels.")
expect_close(m, torch.full((1, 4, 3, 5), 1 / (1 + math.exp(-1)), **d), "constant map",
             hint="BatchNorm in eval mode: (y - running_mean) / sqrt(running_var + eps) * weight + bias.")
# The same with eps = 0.25 and running variances 0.75: sqrt(var + eps) = 1 again.
bn1e, bn2e = bn1[:3] + (torch.full((2,), 0.75, **d),), bn2[:3] + (torch.full((4,), 0.75, **d),)
expect_close(gam_spatial_gate(f2, conv1, bn1e, conv2, bn2e, eps=0.25),
             torch.full((1, 4, 3, 5), 1 / (1 + math.exp(-1)), **d), "constant map with eps=0.25",
             hint="use the eps argument you are given in both BatchNorms: they divide by sqrt(running_var + eps).")
# Random weights, where pooling, a max pooling or a missing BatchNorm change the map: the
# hidden check's own cases.
expect_answer(gam_spatial_gate, "bonus.gam_spatial_gate", "gam_spatial_gate on random weights")
print("Every visible test of this step passes; it earns its 3 points when the hidden tests agree.")


# %% [markdown]
# ### 6.1 The block, and what circulates
#
# Here is a GAM `forward` of the kind that circulates (written for this course). Read it before you
# write your own:
#
# ```python
# def forward(self, x):
#     att = self.channel_attention(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
#     x_channel_att = att.sigmoid()
#     x = x_channel_att * x_channel_att            # <- the bug
#     x_spatial_att = self.spatial_attention(x).sigmoid()
#     return x * x_spatial_att
# ```
#
# The marked line squares the channel map instead of multiplying it with the input. From there on
# the output depends on the input only through the map: a layer of this "GAM" cannot pass a feature
# through, and for $x = 0$ it outputs a non-zero constant (you will compute it in §8).
#
# **Exercise 8 (3 points).** Write `forward` of the block below (layers created for you, named as in
# the common transcription so its checkpoints load by name): eqs. (6), $F_2 = M_c\otimes x$, eq. (7)
# **from $F_2$**, $F_3 = M_s\otimes F_2$. You may call your two gate functions.

# %% nbgrader={"grade": false, "grade_id": "gam_module", "locked": false, "schema_version": 3, "solution": true, "task": false}
class GAMBlock(nn.Module):
    """GAM: F2 = M_c(x) * x, F3 = M_s(F2) * F2, eqs. (6)-(7)."""

    def __init__(self, channels: int, rate: int = 4):
        super().__init__()
        hidden = max(1, channels // rate)
        self.channel_attention = nn.Sequential(
            nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels))
        self.spatial_attention = nn.Sequential(
            nn.Conv2d(channels, hidden, kernel_size=7, padding=3), nn.BatchNorm2d(hidden), nn.ReLU(),
            nn.Conv2d(hidden, channels, kernel_size=7, padding=3), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        fc1, fc2 = self.channel_attention[0], self.channel_attention[2]
        f2 = x * gam_channel_gate(x, fc1.weight, fc1.bias, fc2.weight, fc2.bias)
        s = self.spatial_attention
        m_s = gam_spatial_gate(
            f2, (s[0].weight, s[0].bias), (s[1].weight, s[1].bias, s[1].running_mean, s[1].running_var),
            (s[3].weight, s[3].bias), (s[4].weight, s[4].bias, s[4].running_mean, s[4].running_var))
        return f2 * m_s
        ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_gam_module", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("bonus.gam_module", GAMBlock)
### END HIDDEN TESTS
torch.manual_seed(4)
gam = GAMBlock(8).double().eval()
x = torch.randn(2, 8, 5, 6, dtype=torch.float64)
expect_shape(gam(x), (2, 8, 5, 6), "GAMBlock(8)(x).shape", hint="the block keeps the shape of x.")
expect_close(gam(torch.zeros_like(x)), torch.zeros_like(x), "x = 0 gives 0",
             hint="F2 = M_c * x (not M_c * M_c), and F3 = M_s * F2.")
with torch.no_grad():
    for p in gam.parameters():
        p.zero_()
    gam.spatial_attention[1].weight.fill_(1.0); gam.spatial_attention[4].weight.fill_(1.0)
expect_close(gam(x), x / 4, "all weights zero gives x / 4",
             hint="both maps are sigmoid(0) = 1/2 everywhere: F3 = x / 2 / 2.")
# Random weights loaded into your module, on the hidden check's own shapes (earlier steps are
# replaced by the reference ones here, as when you submit).
expect_answer(GAMBlock, "bonus.gam_module", "GAMBlock with random weights")
print("Every visible test of this step passes; it earns its 3 points when the hidden tests agree.")


# %% [markdown]
# ## 7. GAM's cost
#
# With $h = \max(1, \lfloor C/r \rfloor)$ and the plain form of Fig. 3:
#
# | part | parameters | multiply-adds per example |
# |---|---|---|
# | MLP, eq. (6) | $2Ch + h + C$ | $2ChHW$ (at every position) |
# | $7\times7$ convs, eq. (7) | $98\,Ch + h + C$ | $98\,ChHW$ |
# | two BatchNorms | $2h + 2C$ (running statistics are buffers) | (folded at inference) |
# | $F_2$, $F_3$ | 0 | $2CHW$ |
#
# The $7\times 7$ convolutions dominate: about $100\,C^2/r$ parameters. For $C = 256$, $r = 4$ that
# is 1.6 M parameters per block, against about 8 k for a CBAM block with $r = 16$ (table below) —
# which is why the paper resorts to group convolutions in ResNet-50.
#
# **Exercise 9 (1 point).** Write `gam_param_count(channels, rate=4)`, the number of parameters of
# one `GAMBlock`.

# %% nbgrader={"grade": false, "grade_id": "gam_params", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gam_param_count(channels: int, rate: int = 4) -> int:
    """Parameters of one GAM block (MLP, two 7x7 convolutions with biases, two BatchNorms)."""
    ### BEGIN SOLUTION
    C, h = channels, max(1, channels // rate)
    return (2 * C * h + h + C) + (2 * 49 * C * h + h + C) + 2 * (h + C)
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_gam_params", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("bonus.gam_params", gam_param_count)
### END HIDDEN TESTS
# C = 8, r = 4, h = 2: MLP 8*2 + 2 + 2*8 + 8 = 42; conv1 8*2*49 + 2 = 786; BN 2*2 = 4;
# conv2 2*8*49 + 8 = 792; BN 2*8 = 16. Total 1640.
expect_equal(gam_param_count(8, 4), 1640, "gam_param_count(8, 4)",
             hint="count weights and biases of each layer; BatchNorm has 2 parameters per channel.")
expect_equal(gam_param_count(64), 102720, "gam_param_count(64)",
             hint="GAM's default rate is r = 4: C/r = 16 (r = 16 would give 4).")
print("Every visible test of this step passes; it earns its 1 point when the hidden tests agree.")

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-06", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
from attn_ref.complexity import count_params, gam_macs, module_cost
print(f"{'C':>5} {'GAM params':>11} {'counter':>9} {'CBAM r=16':>10} {'GAM MACs (14x14)':>17}")
for C in (64, 128, 256, 512):
    print(f"{C:5d} {gam_param_count(C):11,d} {count_params(attn_ref.GAM(C)):9,d} "
          f"{module_cost('cbam', C, 14, 14)['params']:10,d} {gam_macs(C, 14, 14):17,d}")


# %% [markdown]
# ## 8. Critical reading
#
# Three snippets in the style of what circulates under these names. For each, a number exposes the
# problem; the fixes are your exercises 1, 3 and 8.
#
# **(a) A "criss-cross attention" that is a residual convolution block.** No query, no key, no
# softmax: whatever its name, it is local.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-07", "locked": true, "schema_version": 3, "solution": false, "task": false}
class CirculatingCrissCross(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x + self.gamma * self.conv2(F.relu(self.conv1(x)))


# %% [markdown]
# **(b) A criss-cross softmax that counts the centre twice** (and the axis questions that come with
# it): it concatenates the full column and the full row affinities without masking.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-08", "locked": true, "schema_version": 3, "solution": false, "task": false}
def circulating_cc_softmax(q, k):
    d_col = torch.einsum("bchw,bcgw->bhwg", q, k)     # all H column positions, the centre included
    d_row = torch.einsum("bchw,bchg->bhwg", q, k)     # all W row positions, the centre again
    return torch.softmax(torch.cat([d_col, d_row], dim=-1), dim=-1)


# %% [markdown]
# **(c) The GAM of §6.1**, whose channel map multiplies itself:

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-09", "locked": true, "schema_version": 3, "solution": false, "task": false}
class CirculatingGAM(GAMBlock):
    def forward(self, x):
        att = self.channel_attention(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        x_channel_att = att.sigmoid()
        x = x_channel_att * x_channel_att
        x_spatial_att = self.spatial_attention(x).sigmoid()
        return x * x_spatial_att


# %% [markdown]
# **Exercise 10 (2 points).** Set three numbers (you may compute them with the classes above, with
# autograd, or by hand):
#
# * `fake_cc_positions`: for `CirculatingCrissCross` on a $9\times 9$ map with $\gamma \ne 0$, the
#   number of input pixels on which the output at the centre pixel $(4, 4)$ depends (one real
#   criss-cross pass: 17; two: 81);
# * `twice_entries`: the number of entries `circulating_cc_softmax` normalises for one pixel of a
#   $6\times 10$ map (the correct count is 15);
# * `circulating_gam_zero`: the value of every output entry of `CirculatingGAM` in eval mode, for
#   $x = 0$, when every weight and bias is zero and the BatchNorms have their initial statistics
#   (mean 0, variance 1, scale 1, shift 0).

# %% nbgrader={"grade": false, "grade_id": "reading", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
torch.manual_seed(0)
fake = CirculatingCrissCross(16).double()      # many channels: a ReLU rarely cuts every path
with torch.no_grad():
    fake.gamma.fill_(1.0)
x = torch.randn(1, 16, 9, 9, dtype=torch.float64, requires_grad=True)
fake(x)[0, :, 4, 4].sum().backward()
fake_cc_positions = int((x.grad.abs().sum(1) > 0).sum())

q = torch.randn(1, 2, 6, 10)
twice_entries = circulating_cc_softmax(q, q).shape[-1]

bad = CirculatingGAM(8).eval()
with torch.no_grad():
    for p in bad.parameters():
        p.zero_()
    bad.spatial_attention[1].weight.fill_(1.0); bad.spatial_attention[4].weight.fill_(1.0)
    circulating_gam_zero = float(bad(torch.zeros(1, 8, 5, 5))[0, 0, 0, 0])
### END SOLUTION

# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_reading", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("bonus.reading", fake_cc_positions)
grade("bonus.reading.twice_entries", twice_entries)
grade("bonus.reading.gam_zero", circulating_gam_zero)
### END HIDDEN TESTS
expect_defined("fake_cc_positions", "twice_entries", "circulating_gam_zero")
expect_answer(fake_cc_positions, "bonus.reading", "fake_cc_positions")
expect_answer(twice_entries, "bonus.reading.twice_entries", "twice_entries")
expect_answer(circulating_gam_zero, "bonus.reading.gam_zero", "circulating_gam_zero")
print("Every visible test of this step passes; it earns its 2 points when the hidden tests agree.")

# %% [markdown]
# What each number says: (a) a local $5\times 5$ window is not long-range context, whatever the
# class is called; (b) an extra entry per pixel means the pixel's own value gets twice the weight it
# should, and the weights of the other $H + W - 2$ positions shrink; (c) a block that outputs a
# constant for a zero input (and, in general, ignores the scale of its input) is not gating features
# at all. A quick test for any attention block you download: feed zeros, feed a one-hot pixel and
# look at which outputs change (autograd does it for you), and count the softmax's entries.
#
# ## 9. Summary
#
# | step | equation | code |
# |---|---|---|
# | affinity | $d_{u,v} = Q_u^\top K_v,\ v\in\Omega_u,\ \lvert\Omega_u\rvert = H+W-1$ | two `einsum`s, centre of the column masked |
# | attention | $A_{u,\cdot} = \mathrm{softmax}(d_{u,\cdot})$ | `softmax(cat([d_col, d_row]), dim=-1)` |
# | aggregation | $X'_u = \gamma\sum_v A_{u,v}V_v + X_u$, $\gamma_0 = 0$ | `x + gamma * aggregate(attn, v)` |
# | recurrence | $R = 2$ passes, shared weights, reach every pixel | `for _ in range(R)` |
# | cost | $R\,HW(H+W-1)$ vs $(HW)^2$ affinities | `cc_affinities` |
# | GAM channel | $M_c = \sigma(P^{-1}\mathrm{MLP}(P(F_1)))$ | `permute(0, 2, 3, 1)`, `Linear`s, `permute(0, 3, 1, 2)` |
# | GAM spatial | $M_s = \sigma(\mathrm{BN}(\mathrm{conv}^{7}\delta(\mathrm{BN}(\mathrm{conv}^{7}F_2))))$ | two `Conv2d(…, 7, padding=3)` with BatchNorm |
# | GAM block | $F_2 = M_c\otimes F_1$, $F_3 = M_s\otimes F_2$ | `f2 = x * m_c; f2 * m_s(f2)` |
#
# **References**
#
# * Z. Huang, X. Wang, L. Huang, C. Huang, Y. Wei, W. Liu. *CCNet: Criss-Cross Attention for Semantic
#   Segmentation.* ICCV 2019; TPAMI 2020. arXiv:1811.11721. Official code: github.com/speedinghzl/CCNet.
# * Y. Liu, Z. Shao, N. Hoffmann. *Global Attention Mechanism: Retain Information to Enhance
#   Channel-Spatial Interactions.* arXiv:2112.05561, 2021.
# * Our references: `attn_ref/ccnet.py`, `attn_ref/gam.py`; the hidden tests of this chapter:
#   `attn_ref/grading/checks_bonus.py`.

# %% [markdown]
# ## Before you submit
#
# The cell below lists the graded steps of this chapter with their points, and whether each step's visible tests passed when they last ran in this session (*Run → Run All Cells* runs them all; it goes on past the steps you have not written yet). Visible tests that pass are a good sign, not the grade: the grader runs each step's hidden tests when you submit.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "summary", "locked": true, "schema_version": 3, "solution": false, "task": false}
from attn_ref.grading import summary

summary("bonus.ipynb")
