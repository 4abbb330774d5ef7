# %% [markdown]
# # Chapter 3 — CBAM: Convolutional Block Attention Module
#
# *attention-course · chapter 3 · about 60 minutes*
#
# Squeeze-and-Excitation (chapter 1) decides **what** to look at: one gate per channel. It cannot
# say **where**: every position of a channel is scaled by the same number. The **Convolutional
# Block Attention Module** (CBAM; Woo, Park, Lee and Kweon, ECCV 2018) adds a second, spatial gate
# after the channel gate: one number per position, shared by all channels. It also sharpens the
# channel gate itself by feeding it a max-pooled descriptor next to SE's average. In ResNet-50 on
# ImageNet, CBAM brings top-1 error from 24.56 % to 22.66 % where SE reaches 23.14 % (single crop,
# the paper's Table 4; we could not check this table against the paper's text), for the same
# 28.09 M parameters to two decimals.
#
# You will derive both gates equation by equation, implement them and the block, find out with a
# small computation whether the order of the two gates matters, see where the published code
# departs from the paper (and what that means for loading its weights), count the cost, and look
# at the spatial map of a real image.
#
# **How this notebook is graded.** Each exercise is a code cell with `raise NotImplementedError()`
# to replace, followed by a locked test cell. The visible tests in that cell check a small case you
# can verify by hand and tell you what differs. When you submit, the same cell also runs hidden
# tests — many shapes, seeds and dtypes, compared with the course's reference package `attn_ref` —
# and the verdict is reached outside your notebook's kernel. A later exercise is graded with the
# reference versions of the earlier ones in place of yours, so a slip costs only its own points.
# Restart the kernel and run all cells before you submit: the notebook must run top to bottom.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

import attn_ref
from attn_ref.grading import expect_answer, expect_close, expect_defined, expect_equal, expect_shape, grade
from attn_ref.data import gabor_features, sample_image
from attn_ref.plots import block_diagram, plot_gates, show_maps

torch.manual_seed(0)
torch.set_printoptions(precision=4, sci_mode=False)
# %matplotlib inline

# %% [markdown]
# ## 1. What and why
#
# CBAM takes an intermediate feature map $F \in \mathbb{R}^{C\times H\times W}$ (the paper's letter
# for what the course calls $X$) and refines it in two steps:
#
# 1. **channel attention** — pool $F$ over all positions in two ways (average and maximum), pass
#    both $C$-vectors through one shared bottleneck MLP, add, squash: a map
#    $M_c \in (0,1)^{C\times 1\times 1}$, and $F' = M_c \otimes F$;
# 2. **spatial attention** — pool $F'$ over the channels in the same two ways, stack the two
#    $H\times W$ maps, convolve them with one $7\times 7$ kernel, squash: a map
#    $M_s \in (0,1)^{1\times H\times W}$, and $F'' = M_s \otimes F'$.
#
# $\otimes$ multiplies element-wise and broadcasts: $M_c$ is copied to every position, $M_s$ to
# every channel. The output has the input's shape, so the block can be inserted anywhere; the paper
# puts it on the residual branch of every block of a ResNet, as SE does.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-01", "locked": true, "schema_version": 3, "solution": false, "task": false}
fig, axes = plt.subplots(2, 1, figsize=(12, 4.6))
block_diagram([("F", "C×H×W"), ("avg & max\nover H, W", "2 × C"), ("shared MLP\nC→C/r→C", "2 × C"),
               ("sum, σ", "M_c: C×1×1"), ("⊗", "F': C×H×W")],
              title="channel attention: what to emphasise", skip_to=4, ax=axes[0])
block_diagram([("F'", "C×H×W"), ("mean & max\nover C", "2×H×W"), ("conv 7×7\n2→1", "1×H×W"),
               ("σ", "M_s: 1×H×W"), ("⊗", "F'': C×H×W")],
              title="spatial attention: where to emphasise", skip_to=4, ax=axes[1])
plt.show()


# %% [markdown]
# ## 2. Derivation
#
# ### 2.1 Channel attention
#
# SE summarises channel $c$ by its average $\frac{1}{HW}\sum_{i,j} F_c(i,j)$. The authors argue
# that the maximum carries a complementary clue — *how strongly* the feature fires somewhere, not
# how much on average — and use both. Write the two descriptors, each in $\mathbb{R}^C$:
#
# $$ F^c_{avg} = \Big(\tfrac{1}{HW}\textstyle\sum_{i,j} F_c(i, j)\Big)_{c}, \qquad
#    F^c_{max} = \Big(\max_{i,j} F_c(i, j)\Big)_{c}. \tag{1}$$
#
# Both go through **one** multi-layer perceptron with a bottleneck of $C/r$ hidden units
# ($r = 16$ in the paper), and the two results are added before a single sigmoid:
#
# $$ M_c(F) = \sigma\big(\mathrm{MLP}(F^c_{avg}) + \mathrm{MLP}(F^c_{max})\big), \qquad
#    \mathrm{MLP}(z) = W_2\,\delta(W_1 z + b_1) + b_2, \tag{2}$$
#
# with $W_1 \in \mathbb{R}^{\frac{C}{r}\times C}$, $W_2 \in \mathbb{R}^{C\times \frac{C}{r}}$, $\delta$ the
# ReLU and $\sigma$ the sigmoid. The paper writes eq. (2) without biases; the official code has
# them (two `nn.Linear` layers), and since the *whole* MLP runs on each descriptor, $b_2$ enters the
# sum twice. Sharing the MLP keeps the parameter count at SE's. The paper's Table 1 (ResNet-50 on
# ImageNet, top-1 error) compares the pooling: average alone 23.14 %, maximum alone 23.20 %, both
# 22.80 % (figures we could not check against the paper's text).
#
# The map has shape $C\times 1\times 1$ so that it broadcasts over positions; for a batch, return
# `(B, C, 1, 1)`. Weights follow `nn.Linear`'s `(out_features, in_features)` layout.
#
# **Exercise 1 (3 points).** Implement eqs. (1)–(2) for a batch.

# %% nbgrader={"grade": false, "grade_id": "channel_gate", "locked": false, "schema_version": 3, "solution": true, "task": false}
def channel_gate(x, w1, b1, w2, b2):
    """Eqs. (1)-(2): the channel map M_c of x.

    x: (B, C, H, W); w1: (C/r, C); b1: (C/r,); w2: (C, C/r); b2: (C,).
    Returns M_c: (B, C, 1, 1), every entry in (0, 1).
    """
    ### BEGIN SOLUTION
    def mlp(z):                                            # (B, C) -> (B, C)
        return F.linear(F.relu(F.linear(z, w1, b1)), w2, b2)

    avg = x.mean(dim=(2, 3))                               # (B, C), F^c_avg
    mx = x.amax(dim=(2, 3))                                # (B, C), F^c_max
    return torch.sigmoid(mlp(avg) + mlp(mx))[:, :, None, None]
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_channel_gate", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("cbam.channel_gate", channel_gate)
### END HIDDEN TESTS
# Visible test: C = 2 channels of 2 x 2, a bottleneck of one unit.
x = torch.tensor([[[[0.0, 1.0], [2.0, 5.0]],       # channel 0: average 2, maximum 5
                   [[1.0, 1.0], [1.0, 1.0]]]])     # channel 1: average 1, maximum 1
w1, b1 = torch.tensor([[1.0, 0.0]]), torch.tensor([0.0])     # hidden unit = ReLU(z_0)
w2, b2 = torch.tensor([[1.0], [-1.0]]), torch.tensor([0.0, 0.0])
# MLP(avg) = (2, -2) and MLP(max) = (5, -5): the sum is (7, -7) before the sigmoid.
m_c = channel_gate(x, w1, b1, w2, b2)
expect_shape(m_c, (1, 2, 1, 1), "channel_gate(x, ...).shape",
             hint="return (B, C, 1, 1) so that M_c broadcasts over H and W.")
expect_close(m_c, torch.sigmoid(torch.tensor([7.0, -7.0])).reshape(1, 2, 1, 1), "M_c, no biases",
             hint="sigmoid(MLP(average) + MLP(maximum)): (2, -2) + (5, -5) = (7, -7). "
                  "With (2, -2) + (2, -2) you used the average twice.")
# With b2 = (0.5, 0), the full MLP runs on each descriptor, so b2 is added twice: (8, -7).
b2 = torch.tensor([0.5, 0.0])
expect_close(channel_gate(x, w1, b1, w2, b2), torch.sigmoid(torch.tensor([8.0, -7.0])).reshape(1, 2, 1, 1),
             "M_c with an output bias", hint="b2 belongs to the MLP, which runs once per descriptor.")
# With b1 = -3 the hidden unit is ReLU(2 - 3) = 0 for the average and ReLU(5 - 3) = 2 for the
# maximum, so MLP(avg) + MLP(max) = (0, 0) + (2, -2) (with the output bias b2 = (0.5, 0) twice).
expect_close(channel_gate(x, w1, torch.tensor([-3.0]), w2, b2),
             torch.sigmoid(torch.tensor([3.0, -2.0])).reshape(1, 2, 1, 1), "M_c with a negative hidden unit",
             hint="the MLP's hidden layer has a ReLU: ReLU(2 - 3) = 0 for the average descriptor.")
print("Every visible test of this step passes; it earns its 3 points when the hidden tests agree.")


# %% [markdown]
# ### 2.2 Spatial attention
#
# Now pool along the **channel** axis instead: at every position $(i, j)$ take the mean and the
# maximum over the $C$ channels of $F'$, two maps of $1\times H\times W$. Stack them into a
# two-channel image and convolve it with a $7\times 7$ filter that outputs one channel:
#
# $$ F^s_{avg}(i,j) = \tfrac{1}{C}\textstyle\sum_c F'_c(i,j), \qquad F^s_{max}(i,j) = \max_c F'_c(i,j), \tag{3}$$
#
# $$ M_s(F') = \sigma\big(f^{7\times 7}([F^s_{avg};\, F^s_{max}])\big) \in (0,1)^{1\times H\times W}. \tag{4}$$
#
# The paper's Table 2 finds the channel pooling better than a learned $1\times 1$ convolution that
# reduces the channels, and $k = 7$ better than $k = 3$: a large kernel lets the map see enough
# context to decide where the object is.
#
# Things eq. (4) leaves to you, fixed here for this course:
#
# * **Stacking order: $[F^s_{avg};\, F^s_{max}]$, as the paper writes.** The weight `conv_w` has
#   shape `(1, 2, k, k)`; `conv_w[0, 0]` is applied to the **mean** map and `conv_w[0, 1]` to the
#   **max** map. (The official code stacks them the other way round — see section 3.)
# * **Zero padding of $(k-1)/2$ on every side**, so that $M_s$ has the input's $H\times W$ and
#   output pixel $(i, j)$ is centred on input pixel $(i, j)$. As everywhere in PyTorch, the
#   "convolution" is a cross-correlation (`F.conv2d`): no kernel flip.
# * **No bias, no BatchNorm** between the convolution and the sigmoid (the official code has a
#   BatchNorm there — section 3 again).
#
# **Exercise 2 (3 points).** Implement eqs. (3)–(4) for a batch, for any odd kernel size $k$ (read it
# from `conv_w`).

# %% nbgrader={"grade": false, "grade_id": "spatial_gate", "locked": false, "schema_version": 3, "solution": true, "task": false}
def spatial_gate(x, conv_w):
    """Eqs. (3)-(4): the spatial map M_s of x, paper order [mean; max], zero padding, no bias.

    x: (B, C, H, W); conv_w: (1, 2, k, k) with k odd; conv_w[0, 0] meets the mean over the
    channels and conv_w[0, 1] the maximum. Returns M_s: (B, 1, H, W), every entry in (0, 1).
    """
    ### BEGIN SOLUTION
    k = conv_w.shape[-1]
    pooled = torch.cat([x.mean(dim=1, keepdim=True),      # (B, 1, H, W), F^s_avg
                        x.amax(dim=1, keepdim=True)],     # (B, 1, H, W), F^s_max
                       dim=1)                             # (B, 2, H, W)
    return torch.sigmoid(F.conv2d(pooled, conv_w, padding=(k - 1) // 2))
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_spatial_gate", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("cbam.spatial_gate", spatial_gate)
### END HIDDEN TESTS
# Visible test: two channels of 4 x 5; channel 1 is larger everywhere, so the max map is channel 1.
x = torch.arange(40.0).reshape(1, 2, 4, 5) / 10
mean_c, max_c = x.mean(dim=1, keepdim=True), x[:, 1:]
k = 7
w = torch.zeros(1, 2, k, k)
w[0, 0, 3, 3] = 1.0                                 # the centre tap of the MEAN map only
try:
    spatial_gate(x, w)
except NotImplementedError:
    raise
except RuntimeError as exc:
    raise AssertionError("spatial_gate(x, w): pool over the CHANNELS (dim 1), keeping H x W: the convolution "
                         f"expects 2 maps (mean, max) of H x W.\n  {exc}") from None
expect_shape(spatial_gate(x, w), (1, 1, 4, 5), "spatial_gate(x, w).shape",
             hint="pool over the channels (dim 1) and pad (k - 1) // 2 = 3 so H x W is kept.")
expect_close(spatial_gate(x, w), torch.sigmoid(mean_c), "centre tap on conv_w[0, 0]",
             hint="conv_w[0, 0] must meet the MEAN over the channels (the paper's [avg; max] order).")
w = torch.zeros(1, 2, k, k)
w[0, 1, 3, 3] = 1.0                                 # the centre tap of the MAX map only
expect_close(spatial_gate(x, w), torch.sigmoid(max_c), "centre tap on conv_w[0, 1]",
             hint="conv_w[0, 1] must meet the MAXIMUM over the channels.")
# One tap right of the centre: output (i, j) reads the mean map at (i, j + 1); the last column
# reads the zero padding.
w = torch.zeros(1, 2, k, k)
w[0, 0, 3, 4] = 1.0
shifted = torch.zeros_like(mean_c)
shifted[..., :, :-1] = mean_c[..., :, 1:]
expect_close(spatial_gate(x, w), torch.sigmoid(shifted), "one tap right of the centre",
             hint="pad (k - 1) // 2 zeros on every side (not only one side, not replicated edges).")
# A 3 x 3 kernel: the padding follows k, (3 - 1) // 2 = 1, so H x W is kept again.
w3 = torch.zeros(1, 2, 3, 3)
w3[0, 0, 1, 1] = 1.0
expect_shape(spatial_gate(x, w3), (1, 1, 4, 5), "spatial_gate(x, w) with a 3 x 3 kernel",
             hint="the padding is (k - 1) // 2 with k = conv_w.shape[-1] (1 for k = 3); "
                  "padding=3 written in fits only k = 7.")
expect_close(spatial_gate(x, w3), torch.sigmoid(mean_c), "centre tap of a 3 x 3 kernel",
             hint="pad (k - 1) // 2 = 1 zero on every side for k = 3.")
print("Every visible test of this step passes; it earns its 3 points when the hidden tests agree.")


# %% [markdown]
# ### 2.3 The block
#
# The two gates are applied one after the other, channel first:
#
# $$ F' = M_c(F) \otimes F, \qquad F'' = M_s(F') \otimes F'. \tag{5}$$
#
# Mind the arguments: the spatial map is computed from the *refined* $F'$, and it multiplies $F'$,
# not $F$.
#
# **Exercise 3 (3 points).** Write the block as an `nn.Module` with the signature below. Its learnable
# tensors must be exactly those of eqs. (2) and (4): the shared MLP $C \to$ `channels // reduction`
# $\to C$ with both biases (`nn.Linear`, $1\times 1$ convolutions or bare `nn.Parameter`s, as you
# like), and one `kernel_size` × `kernel_size` convolution from 2 maps to 1 **without bias**
# (`nn.Conv2d(..., bias=False)`, or a bare parameter of shape `(1, 2, k, k)`). No BatchNorm. You may
# call your `channel_gate` and `spatial_gate`.

# %% nbgrader={"grade": false, "grade_id": "cbam_module", "locked": false, "schema_version": 3, "solution": true, "task": false}
class CBAM(nn.Module):
    """The CBAM block, eqs. (1)-(5), paper version: forward(x) = M_s(F') * F' with F' = M_c(x) * x."""

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7):
        super().__init__()
        ### BEGIN SOLUTION
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        f1 = x * channel_gate(x, self.fc1.weight, self.fc1.bias, self.fc2.weight, self.fc2.bias)
        return f1 * spatial_gate(f1, self.conv.weight)
        ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_cbam_module", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("cbam.cbam_module", CBAM)
### END HIDDEN TESTS
torch.manual_seed(2)
block = CBAM(8, reduction=4)
x = torch.randn(2, 8, 5, 6)
expect_shape(block(x), (2, 8, 5, 6), "CBAM(8, 4)(x).shape", hint="the block keeps the shape of x.")
expect_equal(sum(p.numel() for p in block.parameters()), 2 * 8 * 2 + 2 + 8 + 2 * 7 * 7,
             "number of parameters", hint="MLP 8 -> 2 -> 8 with biases (42), one 7 x 7 convolution "
             "from 2 maps to 1 without bias (98). One MLP, shared; no BatchNorm.")
# Set the weights by hand: everything zero except b2 (the only tensor with 8 entries) and the
# centre tap of the max map (entry [1, 3, 3] of the only tensor with 98 entries).
# Then MLP(z) = b2 for any z, M_c = sigmoid(2 b2), and M_s(F') = sigmoid(max over channels of F').
bias2 = torch.linspace(-1.0, 1.0, 8)
with torch.no_grad():
    for p in block.parameters():
        p.zero_()
        if p.numel() == 8:
            p.copy_(bias2.reshape(p.shape))
        if p.numel() == 98:
            p.view(2, 7, 7)[1, 3, 3] = 1.0
g = torch.sigmoid(2 * bias2).reshape(1, 8, 1, 1)              # M_c
f1 = g * x                                                    # F'
expected = f1 * torch.sigmoid(f1.amax(dim=1, keepdim=True))   # F'' = M_s(F') * F'
expect_close(block(x), expected, "hand-set weights",
             hint="F' = M_c * x, then F'' = M_s(F') * F': the spatial map is computed from F' and "
                  "multiplies F' (not x).")
# Random weights loaded into your module, on the hidden check's own shapes (earlier steps are
# replaced by the reference ones here, as when you submit).
expect_answer(CBAM, "cbam.cbam_module", "CBAM with random weights")
print("Every visible test of this step passes; it earns its 3 points when the hidden tests agree.")


# %% [markdown]
# ### 2.4 Does the order of the gates matter?
#
# Eq. (5) applies the channel gate first. The paper's ablation (Table 3, ResNet-50 on ImageNet,
# top-1 / top-5 error; figures we could not check against the paper's text) compares three arrangements of the same two gates:
#
# | arrangement | top-1 (%) | top-5 (%) |
# |---|---|---|
# | channel, then spatial (CBAM) | **22.66** | **6.31** |
# | spatial, then channel | 22.78 | 6.42 |
# | channel and spatial in parallel | 22.95 | 6.59 |
# | channel only (SE) | 23.14 | 6.70 |
#
# The differences are small but consistent, and they are differences of trained networks. Before
# any training there is a simpler question: with the *same* weights, do the two orders even compute
# the same function? Each gate looks at the output of the one before it, so it is far from obvious.
# Write the spatial-first order
#
# $$ G' = M_s(F) \otimes F, \qquad G'' = M_c(G') \otimes G', \tag{6}$$
#
# and measure how far it is from eq. (5). (For the parallel arrangement, both maps are computed from
# $F$ and $F \otimes M_c(F) \otimes M_s(F)$ is returned; the paper does not spell out how it merged
# the parallel maps, and a product keeps the comparison about the gates' inputs only.)
#
# **Exercise 4 (2 points).** Write `spatial_first`, eq. (6), and `order_gap`: for each example $b$
# of the batch, the largest absolute difference between the channel-first output $F''$ of eq. (5)
# and the spatial-first output $G''$, over all $C\times H\times W$ entries — a tensor of shape `(B,)`.
# Use your `channel_gate` and `spatial_gate`.

# %% nbgrader={"grade": false, "grade_id": "gate_order", "locked": false, "schema_version": 3, "solution": true, "task": false}
def spatial_first(x, w1, b1, w2, b2, conv_w):
    """Eq. (6): G'' = M_c(G') * G' with G' = M_s(x) * x. Same weights and shapes as before."""
    ### BEGIN SOLUTION
    g1 = x * spatial_gate(x, conv_w)
    return g1 * channel_gate(g1, w1, b1, w2, b2)
    ### END SOLUTION


def order_gap(x, w1, b1, w2, b2, conv_w):
    """max over (C, H, W) of |F'' - G''| for each example: shape (B,)."""
    ### BEGIN SOLUTION
    f1 = x * channel_gate(x, w1, b1, w2, b2)
    f2 = f1 * spatial_gate(f1, conv_w)
    return (f2 - spatial_first(x, w1, b1, w2, b2, conv_w)).abs().flatten(1).amax(dim=1)
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_gate_order", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("cbam.gate_order", spatial_first)
grade("cbam.gate_order.gap", order_gap)
### END HIDDEN TESTS
torch.manual_seed(3)
x = torch.randn(2, 8, 5, 6)
w1, b1, w2 = torch.zeros(2, 8), torch.zeros(2), torch.zeros(8, 2)
conv_w = torch.zeros(1, 2, 7, 7)
# All weights zero: both maps are sigmoid(0) = 1/2 whatever they look at, so both orders give x / 4.
b2 = torch.zeros(8)
expect_close(spatial_first(x, w1, b1, w2, b2, conv_w), x / 4, "spatial_first, all weights zero",
             hint="both maps are 1/2 here: G'' = x / 4.")
expect_close(order_gap(x, w1, b1, w2, b2, conv_w), torch.zeros(2), "order_gap, all weights zero",
             hint="one gap per example, shape (B,); zero when the two orders agree.")
# The weights of the module test: M_c = sigmoid(2 b2) = g whatever its input, M_s(Y) = sigmoid(max_c Y).
b2 = torch.linspace(-1.0, 1.0, 8)
conv_w[0, 1, 3, 3] = 1.0
g = torch.sigmoid(2 * b2).reshape(1, 8, 1, 1)
channel_first_out = g * x * torch.sigmoid((g * x).amax(dim=1, keepdim=True))   # M_s sees g x
spatial_first_out = g * x * torch.sigmoid(x.amax(dim=1, keepdim=True))         # M_s sees x
expect_close(spatial_first(x, w1, b1, w2, b2, conv_w), spatial_first_out, "spatial_first, hand-set",
             hint="G' = M_s(x) * x first, then M_c of G' multiplies G'.")
expect_close(order_gap(x, w1, b1, w2, b2, conv_w),
             (channel_first_out - spatial_first_out).abs().flatten(1).amax(dim=1),
             "order_gap, hand-set", hint="compare eq. (5) with eq. (6), per example.")
# Random weights, where the channel map depends on what it sees: the hidden check's own cases.
expect_answer(spatial_first, "cbam.gate_order", "spatial_first on random weights")
expect_answer(order_gap, "cbam.gate_order.gap", "order_gap on random weights")
print("Every visible test of this step passes; it earns its 2 points when the hidden tests agree.")

# %% [markdown]
# Even in the hand-set case, where $M_c$ is the same whatever it looks at, the orders differ: the
# spatial map reads the channel maximum of $g \otimes F$ in one order and of $F$ in the other. Now
# random weights, from zero up to large: with your functions, the gap for a batch of four random
# inputs, next to the size of the output itself (the maps change the output's scale too, so read
# the last column, the gap relative to it):

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-02", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
torch.manual_seed(4)
C, h, k = 32, 2, 7
randn = lambda *shape: torch.randn(*shape, dtype=torch.float64)   # float64: stable printed digits
x = randn(4, C, 12, 12)
print(f"{'weight scale':>12} {'max |output|':>12} {'gap':>8} {'gap / max':>9}")
for scale in (0.0, 0.1, 0.3, 1.0, 3.0):
    w1, b1 = scale * randn(h, C) / C ** 0.5, scale * randn(h)
    w2, b2 = scale * randn(C, h) / h ** 0.5, scale * randn(C)
    conv_w = scale * randn(1, 2, k, k) / k
    f1 = x * channel_gate(x, w1, b1, w2, b2)                  # your functions, eq. (5)
    big = (f1 * spatial_gate(f1, conv_w)).abs().max().item()
    gap = order_gap(x, w1, b1, w2, b2, conv_w).max().item()
    print(f"{scale:12.1f} {big:12.3f} {gap:8.3f} {gap / big:9.3f}")

# %% [markdown]
# At zero weights the orders agree exactly (every map is ½); as soon as the gates have something
# to say they disagree, more as the weights grow. So the order is not a detail of the
# implementation: the two arrangements are different functions, a network trained with one cannot
# be run with the other, and Table 3 compares genuinely different models. The paper adopts the
# channel-first order because it measured best; a plausible reading is that the spatial gate then
# pools features the channel gate has already re-weighted, so its mean and max maps are computed
# over the channels that matter for this input.

# %% [markdown]
# ## 3. The paper and the published code
#
# The official PyTorch code (`MODELS/cbam.py` in Jongchan/attention-module) differs from eq. (4) in
# two ways:
#
# 1. **Stacking order.** Its channel pooling returns `[max; mean]`: input channel 0 of the
#    $7\times 7$ weight meets the **max** map, the reverse of the paper's $[F^s_{avg}; F^s_{max}]$.
#    Nothing in the arithmetic prefers one order — the network learns the weight that fits — but a
#    weight trained in one order must have its two input channels swapped (`w.flip(1)`) to be used
#    in the other.
# 2. **A BatchNorm after the convolution.** The code's convolution block is conv (no bias) →
#    `BatchNorm2d(1, eps=1e-5, momentum=0.01)` → sigmoid. In evaluation mode the BatchNorm is a
#    fixed affine map $y \mapsto \gamma\,(y - \mu)/\sqrt{\sigma^2 + \epsilon} + \beta$: its scale
#    can be folded into the $7\times 7$ weight, but its shift $\beta - \gamma\mu/\sqrt{\sigma^2+\epsilon}$
#    needs a bias, which eq. (4) does not have. In training mode it normalises with each batch's
#    own statistics, which no fixed weight can imitate.
#
# The course's reference follows the code by default and offers the paper's version:
# `attn_ref.CBAM(C, r, order="official" | "paper", batchnorm=True | False)`, and
# `attn_ref.load_official_state_dict` reads the code's checkpoints (keys `ChannelGate.mlp.1.*`,
# `ChannelGate.mlp.3.*`, `SpatialGate.spatial.conv.weight`, `SpatialGate.spatial.bn.*`), swapping the
# two input channels when the target module uses the paper's order. Here is what each shortcut
# costs, on a checkpoint in the official layout with made-up values (the checkpoint's BatchNorm has
# non-trivial running statistics, as a trained one would):

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-03", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
torch.manual_seed(5)
C, r = 32, 16
official = {
    "ChannelGate.mlp.1.weight": torch.randn(C // r, C) / C ** 0.5, "ChannelGate.mlp.1.bias": torch.randn(C // r) / 4,
    "ChannelGate.mlp.3.weight": torch.randn(C, C // r), "ChannelGate.mlp.3.bias": torch.randn(C) / 4,
    "SpatialGate.spatial.conv.weight": torch.randn(1, 2, 7, 7) / 7,
    "SpatialGate.spatial.bn.weight": torch.tensor([1.3]), "SpatialGate.spatial.bn.bias": torch.tensor([-0.4]),
    "SpatialGate.spatial.bn.running_mean": torch.tensor([0.6]), "SpatialGate.spatial.bn.running_var": torch.tensor([2.5]),
    "SpatialGate.spatial.bn.num_batches_tracked": torch.tensor(5000),
}
official = {k: v.double() if v.is_floating_point() else v for k, v in official.items()}   # float64 throughout
x = torch.randn(2, C, 10, 10, dtype=torch.float64).abs()      # post-ReLU features are non-negative
load = attn_ref.load_official_state_dict
code = load(attn_ref.CBAM(C, r, order="official", batchnorm=True).double(), official).eval()
with torch.no_grad():
    target = code(x)

def paper_block(conv_weight):
    # the paper's block, which is what your CBAM computes: [avg; max], no BatchNorm
    m = attn_ref.CBAM(C, r, order="paper", batchnorm=False).double().eval()
    with torch.no_grad():
        for ours, theirs in (("fc1", "1"), ("fc2", "3")):
            getattr(m.channel, ours).weight.copy_(official[f"ChannelGate.mlp.{theirs}.weight"])
            getattr(m.channel, ours).bias.copy_(official[f"ChannelGate.mlp.{theirs}.bias"])
        m.spatial.conv.weight.copy_(conv_weight)
        return m(x)

w = official["SpatialGate.spatial.conv.weight"]
bn = {k.split(".")[-1]: v for k, v in official.items() if ".bn." in k}
scale = bn["weight"] / torch.sqrt(bn["running_var"] + 1e-5)
shift = bn["bias"] - scale * bn["running_mean"]
with torch.no_grad():
    paper_order_bn = load(attn_ref.CBAM(C, r, order="paper", batchnorm=True).double(), official).eval()(x)
    # the folded form, written out: F' as in the code, then sigmoid(conv([avg; max]) * scale + shift)
    f1 = x * code.channel(x)
    pooled = torch.cat([f1.mean(1, keepdim=True), f1.amax(1, keepdim=True)], dim=1)
    folded = f1 * torch.sigmoid(F.conv2d(pooled, w.flip(1) * scale, shift, padding=3))
rows = [
    ("loader, paper order + BatchNorm (weight swapped)", paper_order_bn),
    ("paper block, weight copied as is", paper_block(w)),
    ("paper block, input channels swapped", paper_block(w.flip(1))),
    ("paper block, swapped, BN scale folded in", paper_block(w.flip(1) * scale)),
    ("swapped, BN folded into scale AND a bias", folded),
]
def size(d):
    return "below 1e-12" if d < 1e-12 else f"{d:.3f}"

print(f"official code's output: max |F''| = {target.abs().max():.3f}")
for name, out in rows:
    print(f"{name:50s} max |difference| = {size((out - target).abs().max().item())}")
print(f"the shift a bias would have to carry: {shift.item():+.4f}")

# %% [markdown]
# Reading the table: the loader gets it exactly right (to float64 rounding). Copying the weight
# without swapping its input channels gives the largest error: the kernel meant for the max map is
# applied to the mean map. Swapping helps, folding the BatchNorm's scale into the weight helps a
# little more, but the error stays large until the shift is restored — and that takes a bias, which
# the paper's $f^{7\times 7}$ does not have. With it, the folded form is exact.
#
# So a checkpoint of the official code can be loaded into the paper's block only approximately. The
# converse is exact, in evaluation mode: a paper block's weights go into the code's module by
# swapping the two input channels and setting its BatchNorm to the identity
# ($\gamma = \sqrt{1+\epsilon}$, $\beta = 0$, $\mu = 0$, $\sigma^2 = 1$):

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-04", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
torch.manual_seed(6)
paper = attn_ref.CBAM(C, r, order="paper", batchnorm=False).double().eval()     # stands for your block
as_official = {
    "ChannelGate.mlp.1.weight": paper.channel.fc1.weight, "ChannelGate.mlp.1.bias": paper.channel.fc1.bias,
    "ChannelGate.mlp.3.weight": paper.channel.fc2.weight, "ChannelGate.mlp.3.bias": paper.channel.fc2.bias,
    "SpatialGate.spatial.conv.weight": paper.spatial.conv.weight.flip(1),      # [avg; max] -> [max; mean]
    "SpatialGate.spatial.bn.weight": torch.tensor([math.sqrt(1 + 1e-5)], dtype=torch.float64),
    "SpatialGate.spatial.bn.bias": torch.zeros(1),
    "SpatialGate.spatial.bn.running_mean": torch.zeros(1), "SpatialGate.spatial.bn.running_var": torch.ones(1),
    "SpatialGate.spatial.bn.num_batches_tracked": torch.tensor(0),
}
code_from_paper = load(attn_ref.CBAM(C, r).double(), {k: v.double() if v.is_floating_point() else v
                                                       for k, v in as_official.items()}).eval()
with torch.no_grad():
    print(f"paper block -> official layout: max |difference| = {size((code_from_paper(x) - paper(x)).abs().max().item())}")


# %% [markdown]
# ## 4. Cost
#
# Per block, with $C' = \lfloor C/r\rfloor$ (at least 1) and a $k\times k$ spatial kernel:
#
# | part | parameters | multiply-adds per example |
# |---|---|---|
# | pooling, eqs. (1) and (3) | 0 | (additions and comparisons only) |
# | shared MLP, eq. (2), run on **two** descriptors | $2CC' + C' + C$ | $2\times 2CC'$ |
# | $7\times 7$ convolution, eq. (4), 2 maps → 1, no bias | $2k^2$ | $2k^2\,HW$ |
# | the two gates of eq. (5) | 0 | $2\,CHW$ |
# | **total** | $2CC' + C' + C + 2k^2$ | $4CC' + 2k^2 HW + 2CHW$ |
#
# The official code adds 2 parameters per block (the BatchNorm's $\gamma$ and $\beta$; its running
# statistics are buffers). Next to SE, CBAM adds only the $2k^2 = 98$ weights of the spatial
# convolution, but its multiply-adds grow with $HW$: in the early, high-resolution stages the
# $7\times7$ convolution and the second gate dominate. Multiply-adds count the arithmetic of the
# linear maps and of the gates, as `attn_ref.complexity` does; pooling, activations and sums are
# left out.
#
# **Exercise 5 (2 points).** Write `cbam_param_count` and `cbam_macs` (Python `int`s) for the paper's
# block of Exercise 3. Then set `cbam_params_resnet50` to the number of parameters CBAM blocks add to
# ResNet-50: one block per bottleneck, 3 blocks with $C = 256$, 4 with 512, 6 with 1024 and 3 with
# 2048, $r = 16$, $k = 7$.

# %% nbgrader={"grade": false, "grade_id": "cost", "locked": false, "schema_version": 3, "solution": true, "task": false}
def cbam_param_count(channels: int, reduction: int = 16, kernel_size: int = 7) -> int:
    """Parameters of the paper's CBAM block (MLP with biases, convolution without, no BatchNorm)."""
    ### BEGIN SOLUTION
    hidden = max(1, channels // reduction)
    return 2 * channels * hidden + hidden + channels + 2 * kernel_size ** 2
    ### END SOLUTION


def cbam_macs(channels: int, height: int, width: int, reduction: int = 16, kernel_size: int = 7) -> int:
    """Multiply-adds of one block per example: MLP twice, the convolution, the two gates."""
    ### BEGIN SOLUTION
    hidden = max(1, channels // reduction)
    hw = height * width
    return 4 * channels * hidden + 2 * kernel_size ** 2 * hw + 2 * channels * hw
    ### END SOLUTION


### BEGIN SOLUTION
cbam_params_resnet50 = sum(n * cbam_param_count(c) for n, c in [(3, 256), (4, 512), (6, 1024), (3, 2048)])
### END SOLUTION

# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_cost", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("cbam.cost", cbam_param_count)
grade("cbam.cost.macs", cbam_macs)
grade("cbam.cost.resnet50", cbam_params_resnet50)
### END HIDDEN TESTS
expect_equal(cbam_param_count(64, 16, 7), 2 * 64 * 4 + 4 + 64 + 2 * 49, "cbam_param_count(64, 16, 7)",
             hint="MLP: W1 (4, 64), b1 (4), W2 (64, 4), b2 (64); convolution: (1, 2, 7, 7).")
expect_equal(cbam_macs(64, 56, 56), 4 * 64 * 4 + 2 * 49 * 56 * 56 + 2 * 64 * 56 * 56, "cbam_macs(64, 56, 56)",
             hint="MLP on two descriptors 2 x (2 C C'), convolution 2 k^2 H W, two gates 2 C H W.")
expect_defined("cbam_params_resnet50")
expect_answer(cbam_params_resnet50, "cbam.cost.resnet50", "cbam_params_resnet50")
print("Every visible test of this step passes; it earns its 2 points when the hidden tests agree.")

# %% [markdown]
# Your counts against counters: parameters summed over `attn_ref`'s modules, and the multiply-adds
# of the MLP and the convolution measured by PyTorch's `FlopCounterMode` (through
# `attn_ref.complexity.count_macs`; it sees matrix products and convolutions, not the element-wise
# gates, so we add $2CHW$ to it). The stage resolutions are those of ResNet-50 on a 224 × 224 image.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-05", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
from attn_ref.complexity import count_macs

stages = [("conv2_x", 3, 256, 56), ("conv3_x", 4, 512, 28), ("conv4_x", 6, 1024, 14), ("conv5_x", 3, 2048, 7)]
print(f"{'stage':8} {'C':>5} {'HxW':>6} {'params':>8} {'counter':>8} {'MACs':>9} {'counter':>9}")
total = total_code = total_macs = 0
stage_params, stage_macs = {}, {}
for name, blocks, c, hw in stages:
    paper = attn_ref.CBAM(c, 16, order="paper", batchnorm=False)
    counted = sum(p.numel() for p in paper.parameters())
    macs = count_macs(paper, (c, hw, hw)) + 2 * c * hw * hw
    total += blocks * counted
    total_code += blocks * sum(p.numel() for p in attn_ref.CBAM(c, 16).parameters())
    total_macs += blocks * macs
    stage_params[name], stage_macs[name] = blocks * counted, blocks * macs
    print(f"{name:8} {c:5d} {hw:3d}x{hw:<2d} {cbam_param_count(c):8,d} {counted:8,d} "
          f"{cbam_macs(c, hw, hw):9,d} {macs:9,d}")
print(f"CBAM adds {total:,d} parameters (official code: {total_code:,d}) and {total_macs / 1e6:.1f} M multiply-adds")
print(f"ResNet-50 + CBAM: {(25_557_032 + total) / 1e6:.2f} M parameters (the paper's Table 4: 28.09 M)")
with torch.device("meta"):                                           # shapes only, no weights
    resnet_macs = count_macs(attn_ref.models.resnet50(), (3, 224, 224))
top2 = sorted(stage_params, key=stage_params.get)[-2:]
print(f"the two stages with most parameters ({' and '.join(top2)}) hold "
      f"{100 * sum(stage_params[k] for k in top2) / total:.0f} % of them; most parameters in "
      f"{max(stage_params, key=stage_params.get)}, most multiply-adds in {max(stage_macs, key=stage_macs.get)}")
print(f"the multiply-adds are {100 * total_macs / resnet_macs:.2f} % of ResNet-50's {resnet_macs / 1e9:.2f} G")

# %% [markdown]
# The last lines put the totals in proportion: the parameters sit almost entirely in the shared
# MLPs of the wide late stages, and the multiply-adds are a small fraction of ResNet-50's own. The
# two terms pull in opposite directions: parameters grow with $C^2$, so they peak in a late stage,
# while the multiply-adds of the gates and the $7\times7$ convolution grow with $HW$, so they peak
# in an early, high-resolution one; the printed line names both.
#
# ## 5. Seeing it work
#
# As in chapter 1, the feature maps come from a fixed bank of Gabor filters (`gabor_features`):
# twelve rectified responses, six orientations θ at two wavelengths λ, to scikit-image's sample
# images, each channel divided by its mean response over the images. With **random weights**, as at
# the start of training, the maps have structure but no purpose. To see what a trained block *can*
# express, set the weights by hand:
#
# * **channel gate**, $r = 1$: $W_1 = I$, $b_1 = 0$ (the features are non-negative, so the ReLU
#   passes them), $W_2 = \alpha\,(I - \tfrac1C\mathbf 1\mathbf 1^\top)$, $b_2 = 0$, which gives
#   $M_{c} = \sigma\big(\alpha\,[(F^c_{avg} - \overline{F^c_{avg}}) + (F^c_{max} - \overline{F^c_{max}})]\big)$:
#   channels above the image's average response, on average *or* at their peak, are amplified;
# * **spatial gate**: a zero-sum centre–surround kernel on the mean map (positive $3\times 3$
#   centre, negative surround) and none on the max map, so $M_s$ is high where the feature
#   energy exceeds that of its $7\times 7$ neighbourhood: edges and textured detail, not flat areas.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-06", "locked": true, "schema_version": 3, "solution": false, "task": false}
names = ["astronaut", "camera", "brick"]
images = {n: sample_image(n, size=96) for n in names}
feats = {}
for n in names:
    feats[n], labels = gabor_features(images[n])
scale = torch.stack([feats[n].mean(dim=(0, 2, 3)) for n in names]).mean(0)   # (C,)
feats = {n: f / scale[:, None, None] for n, f in feats.items()}
C = len(labels)

def maps_of(block):
    out = {}
    with torch.no_grad():
        for n in names:
            block(feats[n])
            out[n] = {k: v[0].numpy() for k, v in block.maps.items()}
    return out

torch.manual_seed(0)
cbam_random = attn_ref.CBAM(C, reduction=3, order="paper", batchnorm=False).eval()

cbam_hand = attn_ref.CBAM(C, reduction=1, order="paper", batchnorm=False).eval()
alpha, beta = 0.3, 3.0
surround = torch.full((7, 7), -9.0 / 40.0)          # 40 surround taps sum to -9 ...
surround[2:5, 2:5] = 1.0                            # ... and 9 centre taps to +9: zero sum
with torch.no_grad():
    cbam_hand.channel.fc1.weight.copy_(torch.eye(C)); cbam_hand.channel.fc1.bias.zero_()
    cbam_hand.channel.fc2.weight.copy_(alpha * (torch.eye(C) - torch.full((C, C), 1 / C)))
    cbam_hand.channel.fc2.bias.zero_()
    cbam_hand.spatial.conv.weight.zero_()
    cbam_hand.spatial.conv.weight[0, 0] = beta * surround / 9.0     # channel 0: the mean map
random_maps, hand_maps = maps_of(cbam_random), maps_of(cbam_hand)

fig, axes = plt.subplots(len(names), 3, figsize=(8, 2.7 * len(names)))
for row, n in zip(axes, names):
    row[0].imshow(images[n][0, 0], cmap="gray"); row[0].set_title(n, fontsize=9)
    for ax, maps, what in ((row[1], random_maps, "random weights"), (row[2], hand_maps, "hand-set")):
        im = ax.imshow(maps[n]["M_s"][0], cmap="magma", vmin=0, vmax=1)
        ax.set_title(f"M_s, {what}", fontsize=9)
    for ax in row:
        ax.axis("off")
fig.colorbar(im, ax=axes, shrink=0.6, label="M_s")
plt.show()

# %% [markdown]
# Even random weights draw the images' edges: the max map is large wherever any filter responds
# strongly, so any kernel turns it into an edge map — but with arbitrary signs, bright and dark
# bands side by side. The hand-set map is ½ exactly where the mean feature is locally constant (the zero-sum kernel cancels it: the sky and the lawn behind the
# cameraman) and rises above ½ on the outlines and textured detail — the astronaut's face and suit,
# the camera and tripod, the mortar lines — with a dip beside each (the negative surround).
# Now the channel gates of the same hand-set block, image by image:

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-07", "locked": true, "schema_version": 3, "solution": false, "task": false}
plot_gates({n: hand_maps[n]["M_c"].ravel() for n in names}, labels,
           title="hand-set weights: channel map M_c per Gabor channel")
plt.show()

# %% [markdown]
# The gates differ from image to image. Which channels each image favours, computed from the same
# gates (the three largest, and the orientations θ whose gate is above ½ at each wavelength λ), and
# how the two descriptors compare: the maxima of these features are many times their averages, and
# the shared MLP sees both in the same units. With this MLP the gate's input is
# $\alpha[(F^c_{avg} - \overline{F^c_{avg}}) + (F^c_{max} - \overline{F^c_{max}})]$, so the last
# column is the max term's share of it, $|F^c_{max} - \overline{F^c_{max}}| / (|\cdot| + |\cdot|)$,
# averaged over channels:

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-07-gates", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
from attn_ref.plots import describe_gates

print("\n".join(describe_gates({n: hand_maps[n]["M_c"] for n in names}, labels)))
for n in names:
    f = feats[n][0]                                                  # (C, H, W)
    avg, mx = f.mean((1, 2)), f.amax((1, 2))
    a, m = (avg - avg.mean()).abs(), (mx - mx.mean()).abs()
    share = float((m / (a + m)).mean())
    print(f"{n:10} max / mean per channel {float((mx / avg).min()):5.1f} to {float((mx / avg).max()):5.1f}; "
          f"max term's share of the gate's input {100 * share:.0f} %: "
          f"{'the max' if share > 0.5 else 'the average'} descriptor decides most of the gate")

# %% [markdown]
# The end of each line says which descriptor decides most of the gate for that image. In a trained
# network the normalisation layers before the block, and the learned $W_1$, set that balance.
#
# Finally the refined features of the astronaut after both gates, on the colour scale of
# the input: channels with a small $M_c$ fade everywhere, and within each channel the flat regions
# fade where $M_s$ is small.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-08", "locked": true, "schema_version": 3, "solution": false, "task": false}
with torch.no_grad():
    refined = cbam_hand(feats["astronaut"])[0].numpy()
before = feats["astronaut"][0].numpy()
vmax = float(np.quantile(before, 0.995))
show_maps(before, labels, cols=6, suptitle="astronaut: Gabor feature maps F", vmax=vmax)
show_maps(refined, [f"M_c={g:.2f}" for g in hand_maps["astronaut"]["M_c"].ravel()], cols=6,
          suptitle="after CBAM: F'' = M_s(F') ⊗ M_c(F) ⊗ F", vmax=vmax)
plt.show()

# %% [markdown]
# ## 6. Pitfalls
#
# * **Max where max belongs.** The channel gate uses the average *and* the maximum over $H\times W$;
#   averaging twice, or keeping only one descriptor, is SE with a different MLP. In PyTorch
#   `torch.max(x, dim)` returns `(values, indices)`: take `.values`, or use `amax`.
# * **One MLP, shared.** Two MLPs (one per descriptor) double the channel gate's parameters and
#   learn a different function. The sum of the two MLP outputs goes through **one** sigmoid;
#   $\sigma(a) + \sigma(b)$ is not a gate in $(0, 1)$ at all.
# * **The output bias enters twice.** The MLP, biases included, runs on each descriptor; summing the
#   hidden layers first and applying $W_2$ once adds $b_2$ once (the paper has no biases, so its
#   equation cannot tell you).
# * **Pooling axes.** The channel gate pools over $H, W$ (`dim=(2, 3)`); the spatial gate over the
#   channels (`dim=1, keepdim=True`). Swapping them changes every shape, which is the lucky case.
# * **Padding.** A $k\times k$ kernel needs $(k-1)/2$ zeros on every side; `padding=3` hard-coded
#   breaks when $k \ne 7$, `padding=0` shrinks the map, padding on one side only shifts it by
#   $(k-1)/2$ pixels without changing its size — the hardest slip to see.
# * **Stacking order and BatchNorm.** The paper stacks $[\text{avg}; \text{max}]$ and has no
#   normalisation; the official code stacks `[max; mean]` and puts `BatchNorm2d(1)` (momentum 0.01)
#   after the convolution. Both work; they are different parameterisations. A checkpoint from the
#   code needs its spatial weight's two input channels swapped for the paper's order, and its
#   BatchNorm kept (or folded into a weight *and a bias*) — see section 3.
#   `attn_ref.load_official_state_dict` does the swap; copying by key name alone silently does not.
# * **Which tensor the spatial map sees and scales.** $M_s$ is computed from $F'$ and multiplies
#   $F'$. $M_s(F) \otimes F'$ is the parallel arrangement and $M_s(F') \otimes F$ throws the channel
#   gate away.
# * **The bottleneck width.** The official code uses `C // r`, which is 0 for $C < r$ (an empty
#   `nn.Linear`, so the MLP returns only its bias); the course uses $\max(1, \lfloor C/r\rfloor)$.

# %% [markdown]
# ## 7. Summary
#
# | step | equation | code (batch, paper convention) |
# |---|---|---|
# | channel descriptors | $F^c_{avg}, F^c_{max} \in \mathbb{R}^C$ | `x.mean((2, 3))`, `x.amax((2, 3))` |
# | channel map | $M_c = \sigma(\mathrm{MLP}(F^c_{avg}) + \mathrm{MLP}(F^c_{max}))$, one MLP | `torch.sigmoid(mlp(avg) + mlp(mx))[:, :, None, None]` |
# | spatial descriptors | $[F^s_{avg}; F^s_{max}] \in \mathbb{R}^{2\times H\times W}$ | `torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)` |
# | spatial map | $M_s = \sigma(f^{7\times7}([F^s_{avg}; F^s_{max}]))$ | `torch.sigmoid(F.conv2d(pooled, w, padding=3))` |
# | block | $F' = M_c(F) \otimes F$, $F'' = M_s(F') \otimes F'$ | `f1 = x * m_c; f1 * spatial_gate(f1, w)` |
# | cost | $2CC' + C' + C + 2k^2$ parameters; $4CC' + 2k^2HW + 2CHW$ MACs | `attn_ref.complexity.cbam_params`, `cbam_macs` |
#
# **References**
#
# * S. Woo, J. Park, J.-Y. Lee, I. S. Kweon. *CBAM: Convolutional Block Attention Module.* ECCV 2018.
#   arXiv:1807.06521. Tables 1–3: the ablations on pooling, spatial kernel and order; Table 4: the
#   ImageNet results. The figures quoted from Tables 1, 3 and 4 could not be checked against the
#   paper's text here (see `FACTS.md`).
# * Official code (PyTorch): github.com/Jongchan/attention-module, `MODELS/cbam.py`.
# * Our reference: `attn_ref/cbam.py`; the hidden tests of this chapter:
#   `attn_ref/grading/checks_cbam.py`.

# %% [markdown]
# ## Before you submit
#
# The cell below lists the graded steps of this chapter with their points, and whether each step's visible tests passed when they last ran in this session (*Run → Run All Cells* runs them all; it goes on past the steps you have not written yet). Visible tests that pass are a good sign, not the grade: the grader runs each step's hidden tests when you submit.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "summary", "locked": true, "schema_version": 3, "solution": false, "task": false}
from attn_ref.grading import summary

summary("cbam.ipynb")
