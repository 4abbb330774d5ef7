# %% [markdown]
# # Chapter 4 — Coordinate Attention
#
# *attention-course · chapter 4 · about 60 minutes*
#
# SE (chapter 1) summarises each channel by one number, the mean over all $H\times W$ positions, and
# so its gate cannot say *where* anything is. CBAM (chapter 3) adds a separate spatial map, computed
# by a $7\times 7$ convolution that only sees a small neighbourhood. **Coordinate Attention** (CA;
# Hou, Zhou and Feng, CVPR 2021) keeps position inside the channel gate itself: it pools along the
# width and, separately, along the height, so each channel gets one gate per **row** and one per
# **column**. Long-range context is gathered along one axis while exact position is kept along the
# other. In MobileNetV2 it raised ImageNet top-1 accuracy from 72.3 % to 74.3 %, against 73.5 % for
# SE and 73.6 % for CBAM, for 3.95 M parameters instead of 3.5 M (the paper's ImageNet comparison of
# attention blocks on MobileNetV2, as listed in the official repository's README).
#
# You will derive the block equation by equation, implement each step, count its cost, test what
# flips do to its gates, and compare its map with CBAM's on a real image.
#
# **How this notebook is graded.** Each exercise is a code cell with `raise NotImplementedError()`
# to replace, followed by a locked test cell. The visible tests in that cell check a small case you
# can verify by hand and tell you what differs. When you submit, the same cell also runs hidden
# tests — many shapes, seeds and dtypes, compared with the course's reference package `attn_ref` —
# and the verdict is reached outside your notebook's kernel. Later steps are graded with the
# reference versions of earlier steps, so a mistake costs only the points of the step it is in.
# Restart the kernel and run all cells before you submit: the notebook must run top to bottom.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

import attn_ref
from attn_ref.grading import expect_answer, expect_defined, expect_close, expect_equal, expect_shape, grade
from attn_ref.data import gabor_features, sample_image
from attn_ref.plots import block_diagram, show_maps

torch.manual_seed(0)
torch.set_printoptions(precision=4, sci_mode=False)
# %matplotlib inline

# %% [markdown]
# ## 1. What and why
#
# Global average pooling, the squeeze of SE, is a sum over positions, and a sum does not care about
# the order of its terms. Any rearrangement of the $H\times W$ positions — a flip, a shift, a
# shuffle — leaves the descriptor $z$, and so SE's gate, exactly unchanged. A gate that cannot tell
# the top of the image from the bottom cannot point at an object.
#
# Here is that fact on real features: twelve rectified Gabor responses (oriented band-pass filters,
# `attn_ref.data.gabor_features`) of scikit-image's astronaut, upside down and rolled sideways.
# Pooling each row over the width (what CA does for $z^h$) keeps the difference:

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-01", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
feats, labels = gabor_features(sample_image("astronaut", size=64))
feats = feats.double()                                   # (1, 12, 64, 64)
moved = torch.roll(torch.flip(feats, dims=[2]), shifts=17, dims=3)
print("2-D global mean, unchanged:   ", torch.allclose(feats.mean((2, 3)), moved.mean((2, 3))))
print("mean of each row, unchanged:  ", torch.allclose(feats.mean(3), moved.mean(3)))
print("mean of each row, flipped back:", torch.allclose(feats.mean(3), torch.flip(moved.mean(3), dims=[2])))

# %% [markdown]
# CA replaces the one 2-D pooling by two 1-D poolings, encodes both results with one shared
# $1\times1$ convolution, and decodes them into two gates, $a^h$ (one value per channel and row) and
# $a^w$ (one value per channel and column). The output is $x$ times both gates:

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-02", "locked": true, "schema_version": 3, "solution": false, "task": false}
block_diagram([("X", "C×H×W"), ("pool along W\n& along H", "C×H, C×W"), ("concat", "C×(H+W)"),
               ("1×1 conv F₁\nBN, h-swish", "C'×(H+W)"), ("split", "C'×H, C'×W"),
               ("F_h, F_w\nsigmoid σ", "a^h: C×H\na^w: C×W"), ("⊗", "C×H×W")],
              title="Coordinate Attention: a gate per row and a gate per column of every channel",
              skip_to=6)
plt.show()


# %% [markdown]
# ## 2. Derivation
#
# ### 2.1 Coordinate information embedding
#
# For one example $X\in\mathbb{R}^{C\times H\times W}$, pool channel $c$ along one axis at a time
# (the paper's Sec. 3.2, *coordinate information embedding*; rows are indexed by $0\le h<H$,
# columns by $0\le w<W$):
#
# $$ z^h_c(h) \;=\; \frac{1}{W}\sum_{0\le i<W} x_c(h, i), \qquad z^h\in\mathbb{R}^{C\times H}, \tag{1}$$
#
# $$ z^w_c(w) \;=\; \frac{1}{H}\sum_{0\le j<H} x_c(j, w), \qquad z^w\in\mathbb{R}^{C\times W}. \tag{2}$$
#
# $z^h_c(h)$ is the mean of row $h$: it sees the whole width (long-range context along $W$) and
# keeps the exact row. In code the paper's "pooling kernel of size $(1, W)$" is a mean over the
# last axis. We keep the layouts of the official code, which are what the $1\times1$ convolutions
# below want: $z^h$ as a column `(B, C, H, 1)` and $z^w$ as a row `(B, C, 1, W)`.
#
# **Exercise 1 (2 points).** Implement eqs. (1)–(2) for a batch.

# %% nbgrader={"grade": false, "grade_id": "coordinate_pool", "locked": false, "schema_version": 3, "solution": true, "task": false}
def coordinate_pool(x: torch.Tensor):
    """Eqs. (1)-(2). x: (B, C, H, W) -> (z_h, z_w) with
    z_h: (B, C, H, 1), the mean of each row over the width W;
    z_w: (B, C, 1, W), the mean of each column over the height H."""
    ### BEGIN SOLUTION
    return x.mean(dim=3, keepdim=True), x.mean(dim=2, keepdim=True)
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_coordinate_pool", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("ca.coordinate_pool", coordinate_pool)
### END HIDDEN TESTS
# Visible test: one channel with rows [0, 1, 2] and [3, 4, 5] (H = 2, W = 3).
x = torch.arange(6.0).reshape(1, 1, 2, 3)
z_h, z_w = coordinate_pool(x)
expect_shape(z_h, (1, 1, 2, 1), "z_h.shape", hint="z_h keeps H and averages W away: use keepdim=True.")
expect_shape(z_w, (1, 1, 1, 3), "z_w.shape", hint="z_w keeps W and averages H away.")
expect_close(z_h, torch.tensor([[[[1.0], [4.0]]]]), "z_h = row means",
             hint="row 0 is 0, 1, 2 with mean 1; row 1 is 3, 4, 5 with mean 4 (a mean over dim 3).")
expect_close(z_w, torch.tensor([[[[1.5, 2.5, 3.5]]]]), "z_w = column means",
             hint="column 0 is 0 and 3 with mean 1.5 (a mean over dim 2).")
print("Every visible test of this step passes; it earns its 2 points when the hidden tests agree.")


# %% [markdown]
# ### 2.2 Coordinate attention generation: the shared transform
#
# The two descriptors are concatenated along the spatial axis and passed through one shared
# $1\times 1$ convolution $F_1$ that reduces the channels to $C'$, a BatchNorm, and a non-linearity
# (the paper's equation shows only $F_1$ and a generic non-linear activation $\delta$; the official
# code applies a BatchNorm and **h-swish**):
#
# $$ f \;=\; \mathrm{hswish}\big(\mathrm{BN}(F_1([z^h ; z^w]))\big),\qquad
#    f\in\mathbb{R}^{C'\times(H+W)}, \tag{3}$$
#
# $$ \mathrm{hswish}(t) = t\cdot\frac{\mathrm{ReLU6}(t+3)}{6},\qquad
#    \mathrm{BN}(t) = \gamma\,\frac{t-m}{\sqrt{v+\epsilon}} + \beta,\quad \epsilon = 10^{-5}, $$
#
# with $m$, $v$ the running mean and variance and $\gamma$, $\beta$ the learned scale and shift.
#
# What the paper leaves to the code:
#
# * **The concatenation.** $z^w$ is transposed into a column, so $[z^h ; z^w]$ is an image of shape
#   `(B, C, H + W, 1)`: first the $H$ row descriptors, then the $W$ column descriptors. One
#   $1\times1$ convolution then treats all $H+W$ descriptors alike, and one BatchNorm normalises them
#   together.
# * **The width.** The paper writes $C/r$; the official code uses
#   $C' = \max(8, \lfloor C/r\rfloor)$ with $r = 32$ by default (called `mip` there), so small
#   layers keep at least 8 units.
# * **The BatchNorm** is an ordinary `BatchNorm2d(C')`. At inference (and in our tests) it uses its
#   running mean $m$ and variance $v$, not the statistics of the batch.
#
# **Exercise 2 (1 point).** The bottleneck width. Write `ca_bottleneck(channels, reduction=32)`.

# %% nbgrader={"grade": false, "grade_id": "ca_bottleneck", "locked": false, "schema_version": 3, "solution": true, "task": false}
def ca_bottleneck(channels: int, reduction: int = 32) -> int:
    """C' = max(8, channels // reduction): the width of CA's shared 1x1 convolution."""
    ### BEGIN SOLUTION
    return max(8, channels // reduction)
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_ca_bottleneck", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("ca.ca_bottleneck", ca_bottleneck)
### END HIDDEN TESTS
expect_equal(ca_bottleneck(960), 30, "ca_bottleneck(960)", hint="960 // 32 = 30.")
expect_equal(ca_bottleneck(96, 8), 12, "ca_bottleneck(96, 8)", hint="96 // 8 = 12.")
expect_equal(ca_bottleneck(64), 8, "ca_bottleneck(64)",
             hint="64 // 32 = 2, but the width never goes below 8.")
expect_equal(ca_bottleneck(1000), 31, "ca_bottleneck(1000)",
             hint="1000 / 32 = 31.25 is rounded down (integer division), as in the official code.")
print("Every visible test of this step passes; it earns its 1 point when the hidden tests agree.")


# %% [markdown]
# **Exercise 3 (3 points).** Implement eq. (3) as a function of explicit weights, so that every
# layout is fixed: `weight` is the $1\times1$ convolution's weight `(C', C, 1, 1)` (as in
# `nn.Conv2d`), `bias` its bias `(C',)`, and the four BatchNorm tensors are `(C',)` each. Use the
# *given* running statistics (eval mode). `F.conv2d`, `F.batch_norm(..., training=False)` and
# `F.hardswish` are all allowed, and so is writing them out.

# %% nbgrader={"grade": false, "grade_id": "shared_transform", "locked": false, "schema_version": 3, "solution": true, "task": false}
def shared_transform(z_h, z_w, weight, bias, bn_weight, bn_bias, bn_mean, bn_var, eps=1e-5):
    """Eq. (3): f = hswish(BN(conv1x1([z_h ; z_w^T]))), BatchNorm in eval mode.

    z_h: (B, C, H, 1); z_w: (B, C, 1, W); weight: (C', C, 1, 1); bias and the BN tensors: (C',).
    Returns f: (B, C', H + W, 1), the H row positions first, then the W column positions.
    """
    ### BEGIN SOLUTION
    z = torch.cat([z_h, z_w.transpose(2, 3)], dim=2)                 # (B, C, H + W, 1)
    t = F.conv2d(z, weight, bias)                                    # (B, C', H + W, 1)
    t = F.batch_norm(t, bn_mean, bn_var, bn_weight, bn_bias, training=False, eps=eps)
    return t * F.relu6(t + 3) / 6
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_shared_transform", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("ca.shared_transform", shared_transform)
### END HIDDEN TESTS
# Visible test: C = 1, C' = 2, H = 2, W = 1. The column [z_h ; z_w^T] is (1, -2, 4).
z_h, z_w = torch.tensor([1.0, -2.0]).reshape(1, 1, 2, 1), torch.tensor([4.0]).reshape(1, 1, 1, 1)
weight, bias = torch.tensor([1.0, -1.0]).reshape(2, 1, 1, 1), torch.zeros(2)   # unit 1 = -unit 0
# var = 1 - eps makes sqrt(var + eps) = 1, so this BatchNorm is the identity:
one = torch.ones(2)
f = shared_transform(z_h, z_w, weight, bias, one, 0 * one, 0 * one, one - 1e-5)
expect_shape(f, (1, 2, 3, 1), "f.shape", hint="(B, C', H + W, 1): transpose z_w into a column, then concatenate on dim 2.")
# h-swish: hswish(1) = 1 * 4/6, hswish(-2) = -2 * 1/6, hswish(4) = 4, hswish(-1) = -1 * 2/6,
#          hswish(2) = 2 * 5/6, hswish(-4) = 0
expected = torch.tensor([[2 / 3, -1 / 3, 4.0], [-1 / 3, 5 / 3, 0.0]]).reshape(1, 2, 3, 1)
expect_close(f, expected, "f with an identity BatchNorm",
             hint="h-swish(t) = t * ReLU6(t + 3) / 6: it is negative for -3 < t < 0, unlike ReLU.")
# Now a real BatchNorm: mean (1, 0), scale (2, 1), shift (0, 1).
# unit 0: 2 * ((1, -2, 4) - 1) = (0, -6, 6) -> h-swish (0, 0, 6)
# unit 1: (-1, 2, -4) + 1     = (0, 3, -3) -> h-swish (0, 3, 0)
f = shared_transform(z_h, z_w, weight, bias, torch.tensor([2.0, 1.0]), torch.tensor([0.0, 1.0]),
                     torch.tensor([1.0, 0.0]), one - 1e-5)
expect_close(f, torch.tensor([[0.0, 0.0, 6.0], [0.0, 3.0, 0.0]]).reshape(1, 2, 3, 1),
             "f with running mean (1, 0), scale (2, 1), shift (0, 1)",
             hint="BN(t) = bn_weight * (t - bn_mean) / sqrt(bn_var + eps) + bn_bias, with the GIVEN statistics.")
# eps = 0.25 with var = 0.75: sqrt(var + eps) = 1 again, so this is the identity BatchNorm.
f = shared_transform(z_h, z_w, weight, bias, one, 0 * one, 0 * one, 0.75 * one, eps=0.25)
expect_close(f, expected, "f with eps=0.25 and bn_var = 0.75 (an identity BatchNorm)",
             hint="use the eps argument you are given: BN divides by sqrt(bn_var + eps).")
print("Every visible test of this step passes; it earns its 3 points when the hidden tests agree.")


# %% [markdown]
# ### 2.3 Split and gates
#
# $f$ is split back into its two parts, $f^h\in\mathbb{R}^{C'\times H}$ (the first $H$ positions)
# and $f^w\in\mathbb{R}^{C'\times W}$ (the last $W$), and each is decoded by its own $1\times1$
# convolution back to $C$ channels and a sigmoid (the paper calls the gates $g^h$, $g^w$; we use
# $a^h$, $a^w$ as the official code does):
#
# $$ f = [f^h ; f^w], \tag{4}$$
#
# $$ a^h = \sigma\big(F_h(f^h)\big)\in(0,1)^{C\times H}, \qquad
#    a^w = \sigma\big(F_w(f^w)\big)\in(0,1)^{C\times W}. \tag{5}$$
#
# $F_h$ and $F_w$ have separate weights: the same encoding is read differently for rows and columns.
# $f^w$ is transposed back to a row, so that $a^w$ has the layout `(B, C, 1, W)` of $z^w$.
#
# **Exercise 4 (3 points).** Implement eqs. (4)–(5). `w_h`, `w_w` are `(C, C', 1, 1)`, `b_h`,
# `b_w` are `(C,)`.

# %% nbgrader={"grade": false, "grade_id": "split_gates", "locked": false, "schema_version": 3, "solution": true, "task": false}
def split_gates(f, H, W, w_h, b_h, w_w, b_w):
    """Eqs. (4)-(5). f: (B, C', H + W, 1) -> (a_h, a_w) with
    a_h = sigmoid(conv1x1(f_h; w_h, b_h)): (B, C, H, 1), from the first H positions of f;
    a_w = sigmoid(conv1x1(f_w; w_w, b_w)): (B, C, 1, W), from the last W positions."""
    ### BEGIN SOLUTION
    f_h, f_w = torch.split(f, [H, W], dim=2)
    a_h = torch.sigmoid(F.conv2d(f_h, w_h, b_h))
    a_w = torch.sigmoid(F.conv2d(f_w.transpose(2, 3), w_w, b_w))
    return a_h, a_w
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_split_gates", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("ca.split_gates", split_gates)
### END HIDDEN TESTS
# Visible test: C' = 1, C = 1, H = 2, W = 1, f = (0, 1 | -1).
f = torch.tensor([0.0, 1.0, -1.0]).reshape(1, 1, 3, 1)
w_h, b_h = torch.full((1, 1, 1, 1), 2.0), torch.zeros(1)      # F_h(t) = 2 t
w_w, b_w = torch.full((1, 1, 1, 1), 3.0), torch.zeros(1)      # F_w(t) = 3 t
a_h, a_w = split_gates(f, 2, 1, w_h, b_h, w_w, b_w)
expect_shape(a_h, (1, 1, 2, 1), "a_h.shape", hint="a_h comes from the first H = 2 positions of f.")
expect_shape(a_w, (1, 1, 1, 1), "a_w.shape", hint="a_w comes from the last W positions, as a row (B, C, 1, W).")
expect_close(a_h, torch.sigmoid(torch.tensor([0.0, 2.0])).reshape(1, 1, 2, 1), "a_h = sigmoid(2 * (0, 1))",
             hint="F_h (w_h, b_h) acts on f_h, the first H positions; then the sigmoid.")
expect_close(a_w, torch.sigmoid(torch.tensor([-3.0])).reshape(1, 1, 1, 1), "a_w = sigmoid(3 * -1)",
             hint="F_w (w_w, b_w) acts on f_w, the last W positions; then the sigmoid.")
# W = 3: a_w must be a row (B, C, 1, W). f_w is a column of W positions, so transpose it first.
f = torch.tensor([0.0, 1.0, -1.0, 2.0, 0.5]).reshape(1, 1, 5, 1)          # H = 2, W = 3
a_h, a_w = split_gates(f, 2, 3, w_h, b_h, w_w, b_w)
expect_shape(a_w, (1, 1, 1, 3), "a_w.shape with W = 3",
             hint="f_w is (B, C', W, 1): transpose its last two axes so that a_w is (B, C, 1, W).")
expect_close(a_w, torch.sigmoid(3 * torch.tensor([-1.0, 2.0, 0.5])).reshape(1, 1, 1, 3), "a_w with W = 3",
             hint="a_w comes from the last W = 3 positions of f, in their order.")
print("Every visible test of this step passes; it earns its 3 points when the hidden tests agree.")


# %% [markdown]
# ### 2.4 The output
#
# Each value of $x$ is multiplied by the gate of its row and the gate of its column:
#
# $$ y_c(h, w) \;=\; x_c(h, w)\cdot a^h_c(h)\cdot a^w_c(w). \tag{6}$$
#
# With the layouts above this is plain broadcasting: `x * a_h * a_w` multiplies a `(B, C, H, W)`
# tensor by a `(B, C, H, 1)` and a `(B, C, 1, W)` one. The map that actually multiplies channel $c$,
# $a^h_c\,(a^w_c)^\top$, is an outer product: a rank-one $H\times W$ map, large where a strong row
# meets a strong column.
#
# Two properties make good tests:
#
# * **Rank one.** $y/x = a^h a^{w\top}$ per channel, so for any rows $i$ and columns $j$,
#   $(y/x)_{ij}\,(y/x)_{00} = (y/x)_{i0}\,(y/x)_{0j}$.
# * **A quarter at zero.** If every convolution weight and bias is zero, $F_1$ gives 0, the
#   BatchNorm with its initial statistics and h-swish keep 0, and both gates are $\sigma(0)=\tfrac12$:
#   the block returns $x/4$.
#
# **Exercise 5 (3 points).** Write `forward` for the block. `__init__` is given: it creates the
# layers with the names of the official code (`conv1`, `bn1`, `conv_h`, `conv_w`). Keep them — the
# grader loads weights into your module by these names and runs it in eval mode. You may call your
# earlier functions with the layers' tensors (`self.conv1.weight`, `self.bn1.running_mean`, ...) or
# call the layers directly.

# %% nbgrader={"grade": false, "grade_id": "ca_module", "locked": false, "schema_version": 3, "solution": true, "task": false}
class CoordinateAttention(nn.Module):
    """The CA block, eqs. (1)-(6): forward(x) = x * a_h * a_w."""

    def __init__(self, channels: int, reduction: int = 32):
        super().__init__()
        mip = ca_bottleneck(channels, reduction)
        self.conv1 = nn.Conv2d(channels, mip, kernel_size=1)          # F_1, with bias
        self.bn1 = nn.BatchNorm2d(mip)
        self.conv_h = nn.Conv2d(mip, channels, kernel_size=1)         # F_h
        self.conv_w = nn.Conv2d(mip, channels, kernel_size=1)         # F_w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        H, W = x.shape[2], x.shape[3]
        z_h, z_w = coordinate_pool(x)
        z = torch.cat([z_h, z_w.transpose(2, 3)], dim=2)              # (B, C, H + W, 1)
        f = F.hardswish(self.bn1(self.conv1(z)))                      # (B, C', H + W, 1)
        f_h, f_w = torch.split(f, [H, W], dim=2)
        a_h = torch.sigmoid(self.conv_h(f_h))                         # (B, C, H, 1)
        a_w = torch.sigmoid(self.conv_w(f_w.transpose(2, 3)))         # (B, C, 1, W)
        return x * a_h * a_w
        ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_ca_module", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("ca.ca_module", CoordinateAttention)
### END HIDDEN TESTS
torch.manual_seed(1)
ca = CoordinateAttention(32).double().eval()
x = torch.randn(2, 32, 5, 7, dtype=torch.float64)
y = ca(x)
expect_shape(y, (2, 32, 5, 7), "CoordinateAttention(32)(x).shape", hint="the block keeps the shape of x.")
ratio = y / x
expect_close(ratio[:, :, 1:, 1:] * ratio[:, :, :1, :1], ratio[:, :, 1:, :1] * ratio[:, :, :1, 1:],
             "y / x is a rank-one map a_h a_w^T per channel",
             hint="multiply x by a_h (B, C, H, 1) and a_w (B, C, 1, W): eq. (6).")
if not ((ratio > 0) & (ratio < 1)).all():
    raise AssertionError("each gate lies in (0, 1), so y / x must too: apply the sigmoids of eq. (5).")
with torch.no_grad():
    for p in ca.parameters():
        p.zero_()
    ca.bn1.weight.fill_(1.0)
expect_close(ca(x), x / 4, "zero convolutions give x / 4", hint="sigmoid(0) = 1/2 for each of the two gates.")
# Eval-mode BatchNorm with a running mean of -0.5 (var 1 - eps): F_1 gives 0, BN gives 0.5,
# h-swish(0.5) = 0.5 * 3.5 / 6; conv_h and conv_w average the C' units, so both gates are
# sigmoid(0.5 * 3.5 / 6).
with torch.no_grad():
    ca.bn1.running_mean.fill_(-0.5); ca.bn1.running_var.fill_(1 - 1e-5)
    ca.conv_h.weight.fill_(1 / ca.bn1.num_features); ca.conv_w.weight.fill_(1 / ca.bn1.num_features)
g = 1 / (1 + math.exp(-0.5 * 3.5 / 6))
expect_close(ca(x), x * g * g, "BatchNorm statistics and h-swish",
             hint="use self.bn1 after self.conv1 (eval mode uses its running statistics), then h-swish, not ReLU.")
# Random weights loaded into your module, on the hidden check's own shapes (earlier steps are
# replaced by the reference ones here, as when you submit).
expect_answer(CoordinateAttention, "ca.ca_module", "CoordinateAttention with random weights")
print("Every visible test of this step passes; it earns its 3 points when the hidden tests agree.")


# %% [markdown]
# ## 3. Cost
#
# Per block, with $C' = \max(8, \lfloor C/r\rfloor)$ and an input of $C\times H\times W$:
#
# | part | parameters | multiply-adds per example |
# |---|---|---|
# | pooling, eqs. (1)–(2) | 0 | $2CHW$ additions |
# | $F_1$ (with bias) on $H+W$ positions | $C'C + C'$ | $C'C\,(H+W)$ |
# | BatchNorm | $2C'$ (plus $2C'$ running statistics, buffers, not parameters) | folded into $F_1$ at inference |
# | $F_h$ on $H$, $F_w$ on $W$ positions (with biases) | $2(CC' + C)$ | $CC'\,(H+W)$ |
# | output, eq. (6) | 0 | $2CHW$ multiplications |
# | **total** | $3CC' + 3C' + 2C$ | $2CC'(H+W) + 2CHW$ |
#
# Compared with SE ($\approx 2C^2/r$ parameters with $r=16$), CA with $r = 32$ has about $3C^2/32$:
# fewer parameters for wide layers, and its convolutions run on $H+W$ positions, not $H\cdot W$.
#
# **Exercise 6 (2 points).** Write `ca_param_count(channels, reduction=32)` and
# `ca_macs(channels, H, W, reduction=32)` (the multiply-adds of the three convolutions plus the
# $2CHW$ multiplications of eq. (6); nothing else), both returning a Python `int`.

# %% nbgrader={"grade": false, "grade_id": "ca_cost", "locked": false, "schema_version": 3, "solution": true, "task": false}
def ca_param_count(channels: int, reduction: int = 32) -> int:
    """Learnable parameters of one CA block (BatchNorm running statistics are not parameters)."""
    ### BEGIN SOLUTION
    m = ca_bottleneck(channels, reduction)
    return (m * channels + m) + 2 * m + 2 * (channels * m + channels)
    ### END SOLUTION


def ca_macs(channels: int, H: int, W: int, reduction: int = 32) -> int:
    """Multiply-adds of one CA block for one C x H x W example: 1x1 convolutions + eq. (6)."""
    ### BEGIN SOLUTION
    m = ca_bottleneck(channels, reduction)
    return m * channels * (H + W) + channels * m * (H + W) + 2 * channels * H * W
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_ca_cost", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("ca.ca_cost", ca_param_count)
grade("ca.ca_cost.macs", ca_macs)
### END HIDDEN TESTS
# C = 32, r = 32: C' = max(8, 1) = 8. conv1 8 * 32 + 8, bn1 2 * 8, conv_h and conv_w 2 * (32 * 8 + 32).
expect_equal(ca_param_count(32), 264 + 16 + 576, "ca_param_count(32)",
             hint="conv1 264, bn1 16 (scale and shift only), conv_h + conv_w 576.")
expect_equal(ca_param_count(64, 16), 8 * 64 + 8 + 16 + 2 * (64 * 8 + 64), "ca_param_count(64, 16)",
             hint="64 // 16 = 4, raised to 8.")
# C = 32, H = W = 4: conv1 8 * 32 * 8 positions, conv_h + conv_w 32 * 8 * 8, eq. (6) 2 * 32 * 16.
expect_equal(ca_macs(32, 4, 4), 2048 + 2048 + 1024, "ca_macs(32, 4, 4)",
             hint="1x1 convolutions run on H + W = 8 positions; eq. (6) is 2 C H W multiplications.")
# C = 512 with the default r: C' = 512 // 32 = 16 (r = 16 would give 32).
expect_equal(ca_param_count(512), (16 * 512 + 16) + 2 * 16 + 2 * (512 * 16 + 512), "ca_param_count(512)",
             hint="CA's default reduction is r = 32 (SE and CBAM use 16): C' = 512 // 32 = 16.")
expect_equal(ca_macs(512, 2, 2), 2 * 16 * 512 * 4 + 2 * 512 * 4, "ca_macs(512, 2, 2)",
             hint="CA's default reduction is r = 32: C' = 16; the 1x1 convolutions run on H + W = 4 positions.")
print("Every visible test of this step passes; it earns its 2 points when the hidden tests agree.")

# %% [markdown]
# The paper puts CA into every inverted residual block of MobileNetV2 that expands its input (16 of
# the 17), after the depthwise convolution, where the width is the expanded one. Your count, block
# by block, against a counter that adds up the parameters of `attn_ref`'s MobileNetV2 with and
# without CA:

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-03", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
from attn_ref.models import count_parameters, mobilenet_v2

widths = [m.in_channels for m in mobilenet_v2("ca").modules() if isinstance(m, attn_ref.CoordinateAttention)]
yours = sum(ca_param_count(c) for c in widths)
counter = count_parameters(mobilenet_v2("ca")) - count_parameters(mobilenet_v2())
print("CA widths:", widths)
print("C' per block:", [max(8, c // 32) for c in widths])
print(f"yours: {yours:,d}   counter: {counter:,d}")
print(f"MobileNetV2 {count_parameters(mobilenet_v2()) / 1e6:.2f} M -> with CA "
      f"{count_parameters(mobilenet_v2('ca')) / 1e6:.2f} M (the paper: 3.5 M -> 3.95 M)")
floored = [c for c in widths if c // 32 < 8]
print(f"{len(floored)} of the {len(widths)} blocks sit on the floor C' = 8; without it, widths "
      + ", ".join(f"{c} -> {c // 32}" for c in sorted(set(floored))))

# %% [markdown]
# The last line counts the blocks that sit on the floor $C' = 8$, and the bottleneck each of their
# widths would get without the $\max(8,\cdot)$.
#
# The convolutions' multiply-adds can be checked with PyTorch's own counter,
# `torch.utils.flop_counter.FlopCounterMode`. It counts convolutions and matrix products only (as
# FLOPs, two per multiply-add), not the pooling, the activations or eq. (6). `attn_ref` computes
# the two poolings and eq. (6) with matrix products where that is faster on a CPU, which the
# counter would count too, so it is asked to use plain reductions and products while counting
# (`attn_ref.coord.plain_kernels()`; `attn_ref.complexity.count_macs` does the same):

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-04", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
from torch.utils.flop_counter import FlopCounterMode

C, H, W = 384, 14, 14
block = attn_ref.CoordinateAttention(C).eval()
with attn_ref.coord.plain_kernels(), FlopCounterMode(display=False) as counter:
    block(torch.randn(1, C, H, W))
print("counter, 1x1 convolutions:", counter.get_total_flops() // 2, "multiply-adds")
print("yours minus eq. (6)      :", ca_macs(C, H, W) - 2 * C * H * W)
print("eq. (6), 2 C H W         :", 2 * C * H * W, "multiplications (not seen by the counter)")

# %% [markdown]
# ## 4. Position: what a flip does to the gates
#
# Section 1 showed that SE's descriptor ignores any rearrangement of positions. Now the gates
# themselves. Flip the input upside down (along $H$, `torch.flip(x, dims=[2])`) or left to right
# (along $W$, `dims=[3]`) and compare each gate of the flipped input with the gate of the original:
#
# * it may be **unchanged** (the gate is *invariant* to that flip), or
# * it may be the original gate **flipped the same way** (it is *equivariant*: it moves with the
#   content).
#
# Below, `se_gate(x)` returns the gate $s$ `(B, C)` of an SE block and `ca_gates(x)` returns
# `(a_h, a_w)` of a CA block, both with random weights (and random BatchNorm statistics).

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-05", "locked": true, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(0)
_se_block = attn_ref.SqueezeExcitation(12, reduction=3).double()
_ca_block = attn_ref.CoordinateAttention(12, reduction=2).double().eval()
with torch.no_grad():
    _ca_block.bn1.running_mean.uniform_(-0.5, 0.5); _ca_block.bn1.running_var.uniform_(0.5, 2.0)


def se_gate(x):
    '''SE's gate s of x (B, C, H, W): shape (B, C).'''
    with torch.no_grad():
        _se_block(x)
    return _se_block.maps["s"]


def ca_gates(x):
    '''CA's gates of x (B, C, H, W): a_h (B, C, H, 1) and a_w (B, C, 1, W).'''
    with torch.no_grad():
        _ca_block(x)
    return _ca_block.maps["a_h"], _ca_block.maps["a_w"]


# %% [markdown]
# **Exercise 7 (1 point).** Compute, on a random input of your choice with $H\ne W$, the table
# `flip_table` of shape `(3, 2)`: rows are SE's $s$, CA's $a^h$, CA's $a^w$; column 0 is the flip
# along $H$, column 1 the flip along $W$. Write **1** where the gate of the flipped input differs from
# the original gate (it moved with the flip) and **0** where it is unchanged. Use `torch.allclose`;
# a NumPy array, a tensor or a nested list of numbers will do.

# %% nbgrader={"grade": false, "grade_id": "flip_table", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
x = torch.randn(2, 12, 5, 7, dtype=torch.float64)
gate_fns = [se_gate, lambda t: ca_gates(t)[0], lambda t: ca_gates(t)[1]]
flip_table = np.zeros((3, 2), dtype=int)
for row, gate in enumerate(gate_fns):
    for col, dim in enumerate((2, 3)):
        before, after = gate(x), gate(torch.flip(x, dims=[dim]))
        flip_table[row, col] = 0 if torch.allclose(after, before) else 1
### END SOLUTION

# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_flip_table", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("ca.flip_table", flip_table)
### END HIDDEN TESTS
expect_defined("flip_table")
table = np.asarray(flip_table, dtype=float)
if table.shape != (3, 2):
    raise AssertionError(f"flip_table should have shape (3, 2) (rows s, a_h, a_w; columns flip H, flip W), got {table.shape}")
if not np.isin(table, [0, 1]).all():
    raise AssertionError("flip_table should hold only 0 (unchanged) and 1 (moved with the flip).")
expect_answer(flip_table, "ca.flip_table", "flip_table")
print("Every visible test of this step passes; it earns its 1 point when the hidden tests agree.")

# %% [markdown]
# Now the blocks as wholes. Both commute with both flips — flipping the input flips the output —
# so on this test SE and CA look alike:

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-06", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
x = torch.randn(2, 12, 5, 7, dtype=torch.float64)
with torch.no_grad():
    for name, dim in (("H", 2), ("W", 3)):
        x_f = torch.flip(x, dims=[dim])
        ca_ok = torch.allclose(_ca_block(x_f), torch.flip(_ca_block(x), dims=[dim]))
        se_ok = torch.allclose(_se_block(x_f), torch.flip(_se_block(x), dims=[dim]))
        print(f"flip along {name}:  CA(flip x) == flip CA(x): {ca_ok}   SE(flip x) == flip SE(x): {se_ok}")

# %% [markdown]
# The difference is inside, in your table. SE's output follows the flip only because its gate does
# not move at all: the gate is *invariant*, so it cannot depend on where anything is. CA's gates are
# *equivariant*, each along its own axis: a flip along $H$ reverses $a^h$ (each row keeps its gate,
# the rows trade places) and leaves $a^w$ alone, because every column mean is a sum over *all* rows;
# a flip along $W$ does the opposite. So each CA gate keeps its own coordinate and is blind along
# the other — position survives, one axis at a time, and the 2-D map is the product of the two.
#
# ## 5. Seeing it work
#
# We compare the two ways of attaching a spatial map to a real image: CA's outer product
# $a^h_c\,(a^w_c)^\top$ and CBAM's $M_s$ (a $7\times7$ convolution over the channel-pooled maps,
# chapter 3). The features are the twelve Gabor responses of the astronaut at $96\times96$, each
# channel divided by its mean.
#
# **Honest setup.** Neither block is trained here. With random weights both maps are close to
# uniform noise around $\tfrac12$ and say nothing about the image, so we **set the weights by hand**
# to the same simple rule for both: *gate up where the average feature energy is above its mean*.
#
# * CA: $F_1$'s first unit averages the channels (its other units are zero); the BatchNorm's
#   running statistics are set to the mean and variance of that unit over this image's $H+W$ pooled
#   descriptors, so it standardises them; $F_h$ and $F_w$ give every channel $\alpha$ times the unit
#   minus $\beta$. So $a^h(h) = \sigma(\alpha\,\mathrm{hswish}(e^h(h)) - \beta)$, with $e^h(h)$ the
#   standardised mean energy of row $h$; likewise $a^w$; the same for all channels.
# * CBAM: its channel gate has zero weights ($M_c = \tfrac12$ everywhere, a constant factor), the
#   $7\times7$ convolution is a box average of the channel mean, and its BatchNorm (present in the
#   official code) standardises the result with this image's statistics, scaled by $\alpha$ and
#   shifted by $-\beta$: $M_s = \sigma(\alpha\,e - \beta)$ with $e$ the standardised local energy.
#   The only difference from CA's rule is CA's h-swish.
#
# The BatchNorm statistics are *calibrated on this one image*, so the values are illustrative; what
# matters is which shapes each design can express.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-07", "locked": true, "schema_version": 3, "solution": false, "task": false}
img = sample_image("astronaut", size=96)
feats, labels = gabor_features(img)
feats = feats / feats.mean(dim=(0, 2, 3), keepdim=True)          # each channel has mean 1
C = feats.shape[1]
alpha, beta = 2.0, 0.5                                            # slope and offset of both maps


def calibrate(bn, block, x):
    '''Set the running statistics of BatchNorm bn to the mean and variance of its input on x.'''
    seen = []
    handle = bn.register_forward_hook(lambda mod, inp, out: seen.append(inp[0]))
    with torch.no_grad():
        block(x)
    handle.remove()
    t = seen[0].transpose(0, 1).flatten(1)                           # (channels, values)
    with torch.no_grad():
        bn.running_mean.copy_(t.mean(1)); bn.running_var.copy_(t.var(1, unbiased=False) + 1e-6)


ca_hand = attn_ref.CoordinateAttention(C, reduction=2).eval()     # C' = max(8, 6) = 8
with torch.no_grad():
    for p in ca_hand.parameters():
        p.zero_()
    ca_hand.conv1.weight[0].fill_(1.0 / C)                          # unit 0: mean over channels
    ca_hand.bn1.weight.fill_(1.0)
    for conv in (ca_hand.conv_h, ca_hand.conv_w):
        conv.weight[:, 0].fill_(alpha); conv.bias.fill_(-beta)
calibrate(ca_hand.bn1, ca_hand, feats)
with torch.no_grad():
    ca_hand(feats)
a_h, a_w = ca_hand.maps["a_h"][0, 0, :, 0], ca_hand.maps["a_w"][0, 0, 0, :]    # same for every channel

cbam_hand = attn_ref.CBAM(C, reduction=3).eval()
with torch.no_grad():
    for p in cbam_hand.parameters():
        p.zero_()                                                  # M_c = sigmoid(0) = 1/2
    cbam_hand.spatial.conv.weight[0, 1].fill_(1 / 49)              # box average of the channel mean
    cbam_hand.spatial.bn.weight.fill_(alpha); cbam_hand.spatial.bn.bias.fill_(-beta)
calibrate(cbam_hand.spatial.bn, cbam_hand, feats)
with torch.no_grad():
    cbam_hand(feats)
m_s = cbam_hand.maps["M_s"][0, 0]

fig, axes = plt.subplots(1, 5, figsize=(15, 3.2))
axes[0].imshow(img[0, 0], cmap="gray"); axes[0].set_title("astronaut (96 × 96)", fontsize=9)
axes[1].plot(a_h.numpy(), np.arange(len(a_h))); axes[1].invert_yaxis(); axes[1].set_xlim(0, 1)
axes[1].set_title("a^h (one value per row)", fontsize=9); axes[1].set_xlabel("gate"); axes[1].set_ylabel("row h")
axes[2].plot(a_w.numpy()); axes[2].set_ylim(0, 1)
axes[2].set_title("a^w (one value per column)", fontsize=9); axes[2].set_xlabel("column w")
axes[3].imshow(torch.outer(a_h, a_w), cmap="magma", vmin=0, vmax=1); axes[3].set_title("CA: a^h (a^w)ᵀ", fontsize=9)
axes[4].imshow(m_s, cmap="magma", vmin=0, vmax=1); axes[4].set_title("CBAM: M_s", fontsize=9)
for ax in (axes[0], axes[3], axes[4]):
    ax.axis("off")
fig.suptitle("hand-set weights, the same rule for both: gate up where the feature energy is above average",
             fontsize=10)
fig.tight_layout(); plt.show()

# %% [markdown]
# CBAM's map follows the outline of the textured regions (the hair, the flag, the suit's edges,
# the helmet on the right) at the resolution of its $7\times7$ window. CA's map is a product of a
# row profile and a column profile: a plaid, bright where a high-energy row crosses a high-energy
# column. It locates the textured bands well along each axis, but it cannot draw a 2-D shape: every
# crossing of two bright bands lights up, including crossings where the image itself is flat (look
# at the background between the figure and the shuttle on the right). That is the trade-off the
# paper makes: only $C(H+W)$ gate values instead of $CHW$, but each one summarises a whole row or
# column, far beyond a $7\times7$ window. In a trained network different channels learn different
# profiles, so their products together can cover more complex layouts.
#
# Below, the astronaut's twelve feature maps before and after the hand-set CA block, on one colour
# scale:

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-08", "locked": true, "schema_version": 3, "solution": false, "task": false}
with torch.no_grad():
    after = ca_hand(feats)[0].numpy()
before = feats[0].numpy()
vmax = float(np.quantile(before, 0.995))
show_maps(before, labels, cols=6, suptitle="astronaut: Gabor feature maps X", vmax=vmax)
show_maps(after, labels, cols=6, suptitle="after CA: x · a^h · a^w", vmax=vmax)
plt.show()

# %% [markdown]
# ## 6. Pitfalls
#
# * **h-swish, not ReLU or sigmoid.** The paper's equation writes a generic non-linearity $\delta$;
#   the official code uses h-swish (`h_swish` in `coordatt.py`), and its README advises a swish-type
#   activation over ReLU6. Circulating ports differ: in the official `mbv2_ca.py` the h-swish module
#   is stored under the name `self.relu`, which invites a ReLU in code that copies names; others use
#   `nn.SiLU` (the smooth swish, close to but not the same as h-swish) or put an h-sigmoid where
#   the gates need the sigmoid. All of these run and train; none reproduces the released weights
#   exactly. `attn_ref.CoordinateAttention(..., activation="relu")` gives the ReLU reading, so you
#   can measure the difference (below).
# * **BatchNorm in train or eval mode.** In training mode `bn1` normalises with the statistics of the
#   current batch over its $B\,(H+W)$ pooled descriptors — few values for small feature maps and
#   small batches — and updates its running statistics. Evaluating (or grading, or comparing with
#   released weights) without `.eval()` gives different gates, and a forward pass in train mode
#   changes the block.
# * **The width is `max(8, C // r)`.** Not $C/r$ rounded up, and not without the floor of 8 (section 3
#   counts the blocks of MobileNetV2 that sit on it); and $r = 32$ by default, not SE's 16.
# * **Which half is which.** The concatenation puts the $H$ row descriptors first; the split must
#   use the same order (`torch.split(f, [H, W], dim=2)`), and $F_h$ must read $f^h$. With $H = W$ a
#   swap raises no error — only wrong gates.
# * **Names in checkpoints.** `coordatt.py` names the decoders `conv_h`, `conv_w` and the ratio
#   `reduction`; `mbv2_ca.py` names them `conv2`, `conv3` and the same ratio `groups`. Loading one
#   file's state dict into the other's module needs a renaming.
# * **`out_channels`.** The official `CoordAtt(inp, oup)` has a separate output width, but eq. (6)
#   multiplies the input by the gates, so `oup` must equal `inp`.
#
# The activation and BatchNorm pitfalls, measured on a randomly initialised block (with random
# running statistics) applied to a $48\times64$ crop of the astronaut's features: the same weights
# with ReLU in place of h-swish, and the same block in training mode:

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-09", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
x = feats[:, :, :48, :64].double()                 # H != W
ref = attn_ref.CoordinateAttention(C, reduction=2).double().eval()
with torch.no_grad():
    ref.bn1.running_mean.uniform_(-0.5, 0.5); ref.bn1.running_var.uniform_(0.5, 2.0)
relu_variant = attn_ref.CoordinateAttention(C, reduction=2, activation="relu").double().eval()
relu_variant.load_state_dict(ref.state_dict())
with torch.no_grad():
    y = ref(x)
    rel = lambda other: ((other - y).norm() / y.norm()).item()
    print(f"ReLU instead of h-swish: relative change of the output {rel(relu_variant(x)):.3f}")
    ref.train()
    print(f"train-mode BatchNorm   : relative change of the output {rel(ref(torch.cat([x, x.flip(2)]))[:1]):.3f}")
    ref.eval()
print("running mean updated by that train-mode pass:", not torch.allclose(ref.bn1.running_mean, relu_variant.bn1.running_mean))

# %% [markdown]
# ## 7. Summary
#
# | step | equation | code |
# |---|---|---|
# | pool along $W$ | $z^h_c(h) = \frac1W\sum_i x_c(h,i)$ | `x.mean(dim=3, keepdim=True)` → `(B, C, H, 1)` |
# | pool along $H$ | $z^w_c(w) = \frac1H\sum_j x_c(j,w)$ | `x.mean(dim=2, keepdim=True)` → `(B, C, 1, W)` |
# | shared transform | $f = \mathrm{hswish}(\mathrm{BN}(F_1([z^h;z^w])))$, $C'=\max(8,\lfloor C/r\rfloor)$ | `act(bn1(conv1(cat([z_h, z_w.transpose(2, 3)], 2))))` |
# | split | $f = [f^h; f^w]$ | `torch.split(f, [H, W], dim=2)` |
# | gates | $a^h = \sigma(F_h(f^h))$, $a^w = \sigma(F_w(f^w))$ | `sigmoid(conv_h(f_h))`, `sigmoid(conv_w(f_w.transpose(2, 3)))` |
# | output | $y_c(h,w) = x_c(h,w)\,a^h_c(h)\,a^w_c(w)$ | `x * a_h * a_w` |
# | cost | $3CC' + 3C' + 2C$ parameters; $2CC'(H+W) + 2CHW$ multiply-adds | `attn_ref.CoordinateAttention(C)` |
#
# Flips: SE's gate is invariant to flips along either axis; CA's $a^h$ moves with a flip along
# $H$ and ignores one along $W$, and $a^w$ the other way round.
#
# **References**
#
# * Q. Hou, D. Zhou, J. Feng. *Coordinate Attention for Efficient Mobile Network Design.* CVPR 2021.
#   arXiv:2103.02907.
# * Official code (PyTorch): github.com/houqb/CoordAttention (`coordatt.py`, `mbv2_ca.py`).
# * A. Howard et al. *Searching for MobileNetV3.* ICCV 2019 (h-swish). arXiv:1905.02244.
# * Our reference: `attn_ref/coord.py`; the hidden tests of this chapter: `attn_ref/grading/checks_ca.py`.

# %% [markdown]
# ## Before you submit
#
# The cell below lists the graded steps of this chapter with their points, and whether each step's visible tests passed when they last ran in this session (*Run → Run All Cells* runs them all; it goes on past the steps you have not written yet). Visible tests that pass are a good sign, not the grade: the grader runs each step's hidden tests when you submit.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "summary", "locked": true, "schema_version": 3, "solution": false, "task": false}
from attn_ref.grading import summary

summary("ca.ipynb")
