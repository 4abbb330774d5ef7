# %% [markdown]
# # Chapter 1 — Squeeze-and-Excitation
#
# *attention-course · chapter 1 · about 45 minutes*
#
# A convolution mixes channels only inside its small window, so each output channel is blind to what
# the rest of the image contains. **Squeeze-and-Excitation** (SE; Hu, Shen and Sun, CVPR 2018) adds a
# cheap side path that looks at the whole feature map, summarises each channel by one number, and
# uses those $C$ numbers to decide how much of each channel to let through. Stacked into ResNet-50 it
# cut ImageNet top-5 error from 7.48 % to 6.62 % (single crop, the paper's Table 2; all quoted figures: `FACTS.md`) for about 10 % more
# parameters and under 1 % more multiply-adds.
#
# In this chapter you will derive the block equation by equation, implement each step, count what it
# costs, and watch it re-weight the feature maps of a real image.
#
# **How this notebook is graded.** Each exercise is a code cell with `raise NotImplementedError()`
# to replace, followed by a locked test cell. The visible tests in that cell check a small case you
# can verify by hand and tell you what differs. When you submit, the same cell also runs hidden
# tests — many shapes, seeds and dtypes, compared with the course's reference package `attn_ref` —
# and the verdict is reached outside your notebook's kernel. Restart the kernel and run all cells
# before you submit: the notebook must run top to bottom.

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
# The block takes a feature map $X \in \mathbb{R}^{C\times H\times W}$ and returns one of the same
# shape. In between, three steps:
#
# 1. **squeeze** — summarise each channel over all $H\times W$ positions into one number $z_c$;
# 2. **excitation** — map the descriptor $z\in\mathbb{R}^C$ through a small bottleneck network to a
#    gate $s \in (0, 1)^C$;
# 3. **scale** — multiply channel $c$ of $X$ by $s_c$.
#
# The gate depends on the input, so the network learns *which channels matter for this image*, using
# information from the whole image that no $3\times 3$ convolution below it could see.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-01", "locked": true, "schema_version": 3, "solution": false, "task": false}
block_diagram([("X", "C×H×W"), ("global\navg pool", "C"), ("FC  W₁", "C/r"), ("ReLU δ", "C/r"),
               ("FC  W₂", "C"), ("sigmoid σ", "s ∈ (0,1)^C"), ("⊗", "C×H×W")],
              title="Squeeze-and-Excitation: the side path computes one gate per channel",
              skip_to=6)
plt.show()


# %% [markdown]
# ## 2. Derivation
#
# ### 2.1 Squeeze: global information embedding
#
# Each channel is summarised by its mean over all positions (the paper's $F_{sq}$):
#
# $$ z_c \;=\; F_{sq}(x_c) \;=\; \frac{1}{H\,W}\sum_{i=1}^{H}\sum_{j=1}^{W} x_c(i, j), \qquad z\in\mathbb{R}^C. \tag{1}$$
#
# The paper calls the result *channel-wise statistics* and notes that richer aggregations are
# possible; its ablation (Table 11) finds average pooling slightly better than max pooling
# (top-1 error 22.28 % against 22.57 % on SE-ResNet-50). In code the sum runs over the last two axes
# of a batch $(B, C, H, W)$.
#
# **Exercise 1 (2 points).** Implement eq. (1) for a batch: `squeeze(x)` takes `(B, C, H, W)` and
# returns `(B, C)`.

# %% nbgrader={"grade": false, "grade_id": "squeeze", "locked": false, "schema_version": 3, "solution": true, "task": false}
def squeeze(x: torch.Tensor) -> torch.Tensor:
    """Eq. (1): the mean of each channel over all H x W positions. (B, C, H, W) -> (B, C)."""
    ### BEGIN SOLUTION
    return x.mean(dim=(2, 3))
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_squeeze", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("se.squeeze", squeeze)
### END HIDDEN TESTS
# Visible test: a ramp whose channel means you can compute by hand.
x = torch.arange(16.0).reshape(1, 2, 2, 4)      # channel 0 holds 0..7, channel 1 holds 8..15
expect_shape(squeeze(x), (1, 2), "squeeze(x).shape",
             hint="average over H and W (dims 2 and 3) and drop them; keep B and C.")
expect_close(squeeze(x), torch.tensor([[3.5, 11.5]]), "squeeze of the ramp",
             hint="channel 0 holds 0, 1, ..., 7: their mean is 3.5, not their maximum or sum.")
print("Every visible test of this step passes; it earns its 2 points when the hidden tests agree.")


# %% [markdown]
# ### 2.2 Excitation: adaptive recalibration
#
# The gate should (i) capture non-linear interactions between channels and (ii) allow several
# channels to be emphasised at once — a *non-mutually-exclusive* relationship, so a softmax, which
# makes channels compete, is the wrong choice. SE uses a two-layer bottleneck with a sigmoid at the
# end:
#
# $$ s \;=\; F_{ex}(z, W) \;=\; \sigma\big(W_2\,\delta(W_1 z + b_1) + b_2\big),
# \qquad W_1\in\mathbb{R}^{\frac{C}{r}\times C},\; W_2\in\mathbb{R}^{C\times\frac{C}{r}}, \tag{2}$$
#
# with $\delta$ the ReLU and $\sigma$ the logistic sigmoid $\sigma(t) = 1/(1+e^{-t})$.
# The reduction ratio $r$ (16 in the paper) sets the bottleneck width $C/r$, which limits the cost
# and helps generalisation. The paper writes eq. (2) without biases, but its released Caffe models
# have them; the popular PyTorch port has none (see Pitfalls). Here the biases are arguments that
# may be `None`.
#
# Weights follow `nn.Linear`'s layout `(out_features, in_features)`, so for a batch of row vectors
# $Z \in \mathbb{R}^{B\times C}$ the first layer is $Z W_1^\top + b_1$.
#
# **Exercise 2 (3 points).** Implement eq. (2) for a batch.

# %% nbgrader={"grade": false, "grade_id": "excitation", "locked": false, "schema_version": 3, "solution": true, "task": false}
def excitation(z, w1, b1, w2, b2):
    """Eq. (2): s = sigmoid(W2 relu(W1 z + b1) + b2) for a batch.

    z: (B, C); w1: (C/r, C); b1: (C/r,) or None; w2: (C, C/r); b2: (C,) or None.
    Returns s: (B, C), every entry in (0, 1).
    """
    ### BEGIN SOLUTION
    hidden = F.relu(F.linear(z, w1, b1))
    return torch.sigmoid(F.linear(hidden, w2, b2))
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_excitation", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("se.excitation", excitation)
### END HIDDEN TESTS
# Visible test: C = 2, C/r = 1, small weights you can push through eq. (2) by hand.
z = torch.tensor([[3.0, 1.0]])
w1, b1 = torch.tensor([[1.0, -1.0]]), torch.tensor([0.0])          # W1 z = 3 - 1 = 2, ReLU keeps 2
w2, b2 = torch.tensor([[2.0], [-2.0]]), torch.tensor([0.0, 0.0])   # W2 (2) = (4, -4)
expected = torch.tensor([[1 / (1 + math.exp(-4)), 1 / (1 + math.exp(4))]])
expect_close(excitation(z, w1, b1, w2, b2), expected, "excitation, positive hidden unit",
             hint="s = sigmoid(W2 relu(W1 z + b1) + b2); weights are (out, in): use z @ w1.T or F.linear.")
# The ReLU matters: swap the inputs and the hidden unit is 1 - 3 = -2, which the ReLU clips to 0,
# leaving only the bias b2 = (0.5, -0.5) before the sigmoid.
b2 = torch.tensor([0.5, -0.5])
expected = torch.tensor([[1 / (1 + math.exp(-0.5)), 1 / (1 + math.exp(0.5))]])
expect_close(excitation(torch.tensor([[1.0, 3.0]]), w1, b1, w2, b2), expected,
             "excitation, clipped hidden unit", hint="apply the ReLU between the two layers.")
expect_close(excitation(z, w1, None, w2, None), torch.sigmoid(torch.tensor([[4.0, -4.0]])),
             "excitation without biases", hint="b1 and b2 may be None: then there is no bias.")
print("Every visible test of this step passes; it earns its 3 points when the hidden tests agree.")


# %% [markdown]
# ### 2.3 Scale
#
# The output multiplies each channel by its gate, broadcast over all positions:
#
# $$ \tilde{x}_c \;=\; F_{scale}(x_c, s_c) \;=\; s_c\, x_c . \tag{3}$$
#
# Two properties follow at once and make good tests of any implementation:
#
# * **Position-blind.** $z$ is a mean over positions, so permuting the $H\times W$ positions of $X$
#   permutes the output the same way: the block is *equivariant* to spatial permutations.
# * **Half at zero.** If every weight and bias is zero, the gate is $\sigma(0) = \tfrac12$ for every
#   channel, and the output is exactly $X/2$.
#
# **Exercise 3 (3 points).** Write the block as an `nn.Module` with the signature below. The
# bottleneck has `channels // reduction` units (at least 1; the paper writes $C/r$ and published
# code rounds down). Use any layers you like — `nn.Linear`, $1\times 1$ convolutions or bare
# `nn.Parameter`s — but only the two weight matrices and, when `bias=True`, the two bias vectors.
# You may call your `squeeze` and `excitation`.

# %% nbgrader={"grade": false, "grade_id": "se_module", "locked": false, "schema_version": 3, "solution": true, "task": false}
class SqueezeExcitation(nn.Module):
    """The SE block, eqs. (1)-(3): forward(x) = x * s, with s of shape (B, C) broadcast over H, W."""

    def __init__(self, channels: int, reduction: int = 16, bias: bool = True):
        super().__init__()
        ### BEGIN SOLUTION
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden, bias=bias)
        self.fc2 = nn.Linear(hidden, channels, bias=bias)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        s = excitation(squeeze(x), self.fc1.weight, self.fc1.bias, self.fc2.weight, self.fc2.bias)
        return x * s[:, :, None, None]
        ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_se_module", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("se.se_module", SqueezeExcitation)
### END HIDDEN TESTS
torch.manual_seed(1)
se = SqueezeExcitation(32, reduction=8)
x = torch.randn(2, 32, 5, 7)
y = se(x)
expect_shape(y, (2, 32, 5, 7), "SqueezeExcitation(32, 8)(x).shape", hint="the block keeps the shape of x.")
expect_equal(sum(p.numel() for p in se.parameters()), 2 * 32 * 4 + 4 + 32, "number of parameters",
             hint="bottleneck of 32 // 8 = 4 units: W1 (4, 32), b1 (4), W2 (32, 4), b2 (32).")
expect_equal(sum(p.numel() for p in SqueezeExcitation(12, reduction=5).parameters()),
             2 * 12 * 2 + 2 + 12, "number of parameters of SqueezeExcitation(12, reduction=5)",
             hint="the bottleneck has channels // reduction = 12 // 5 = 2 units: round down, not up.")
ratio = y / x                                    # the gate, repeated at every position
expect_close(ratio, ratio[:, :, :1, :1].expand_as(ratio), "one gate per channel at every position",
             hint="multiply each channel by one number s_c, broadcast over H and W (eq. 3).")
if not ((ratio > 0) & (ratio < 1)).all():
    raise AssertionError("the gate must lie in (0, 1): apply the sigmoid at the end of eq. (2).")
perm = torch.randperm(5 * 7)
x_perm = x.flatten(2)[:, :, perm].reshape_as(x)
expect_close(se(x_perm), y.flatten(2)[:, :, perm].reshape_as(y), "equivariance to a permutation of positions",
             hint="the gate must depend on the mean over positions only.")
with torch.no_grad():
    for p in se.parameters():
        p.zero_()
expect_close(se(x), x / 2, "all weights zero gives x / 2", hint="sigmoid(0) = 1/2 for every channel.")
# Random weights loaded into your module, on the hidden check's own shapes (earlier steps are
# replaced by the reference ones here, as when you submit).
expect_answer(SqueezeExcitation, "se.se_module", "SqueezeExcitation with random weights")
print("Every visible test of this step passes; it earns its 3 points when the hidden tests agree.")


# %% [markdown]
# ## 3. Cost
#
# Per block, with $C' = \lfloor C/r \rfloor$:
#
# | part | parameters | multiply-adds per example |
# |---|---|---|
# | squeeze, eq. (1) | 0 | $CHW$ additions |
# | $W_1$, $b_1$ | $C C' + C'$ | $C C'$ |
# | $W_2$, $b_2$ | $C' C + C$ | $C' C$ |
# | scale, eq. (3) | 0 | $CHW$ multiplications |
# | **total** | $2CC' + C' + C \approx 2C^2/r$ | $2CC' + 2CHW$ |
#
# The parameters grow with $C^2$, so the last stages of a network, where $C$ is largest, dominate
# the count; the arithmetic is tiny next to a convolution's $C_{in} C_{out} k^2 HW$.
#
# **Exercise 4 (2 points).** Write `se_param_count(channels, reduction, bias=True)`, the number of
# parameters of one SE block (a Python `int`). Then set `se_params_conv4` to the number of parameters
# the SE blocks add to stage conv4_x of SE-ResNet-50: six bottleneck blocks whose output width is
# $C = 1024$, with $r = 16$ and biases.

# %% nbgrader={"grade": false, "grade_id": "param_count", "locked": false, "schema_version": 3, "solution": true, "task": false}
def se_param_count(channels: int, reduction: int, bias: bool = True) -> int:
    """Parameters of one SE block."""
    ### BEGIN SOLUTION
    hidden = max(1, channels // reduction)
    return 2 * channels * hidden + ((hidden + channels) if bias else 0)
    ### END SOLUTION


### BEGIN SOLUTION
se_params_conv4 = 6 * se_param_count(1024, 16)
### END SOLUTION

# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_param_count", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("se.param_count", se_param_count)
grade("se.param_count.conv4", se_params_conv4)
### END HIDDEN TESTS
expect_equal(se_param_count(64, 16), 2 * 64 * 4 + 4 + 64, "se_param_count(64, 16)",
             hint="W1 is (4, 64), W2 is (64, 4), plus biases of 4 and 64.")
expect_equal(se_param_count(64, 16, bias=False), 2 * 64 * 4, "se_param_count(64, 16, bias=False)",
             hint="without biases only the two weight matrices remain.")
# C = 12, r = 5: the bottleneck is 12 // 5 = 2 (rounded down), so W1 (2, 12), W2 (12, 2), biases 2 + 12.
expect_equal(se_param_count(12, 5), 2 * 12 * 2 + 2 + 12, "se_param_count(12, 5)",
             hint="the bottleneck is C // r, rounded down (at least 1): 12 // 5 = 2, not 3.")
expect_defined("se_params_conv4")
expect_answer(se_params_conv4, "se.param_count.conv4", "se_params_conv4")
print("Every visible test of this step passes; it earns its 2 points when the hidden tests agree.")

# %% [markdown]
# Your count, stage by stage for the whole of SE-ResNet-50, against a counter that simply adds up the
# parameters of `attn_ref`'s block. ResNet-50 itself has 25,557,032 parameters (with its classifier),
# so the SE blocks bring it to the paper's 28.1 M.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-02", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
stages = [("conv2_x", 3, 256), ("conv3_x", 4, 512), ("conv4_x", 6, 1024), ("conv5_x", 3, 2048)]
total = 0
print(f"{'stage':8} {'blocks':>6} {'C':>5} {'yours':>10} {'counter':>10}")
for name, blocks, c in stages:
    counter = blocks * sum(p.numel() for p in attn_ref.SqueezeExcitation(c, 16).parameters())
    yours = blocks * se_param_count(c, 16)
    total += counter
    print(f"{name:8} {blocks:6d} {c:5d} {yours:10,d} {counter:10,d}")
print(f"SE adds {total:,d} parameters; ResNet-50 + SE = {(25_557_032 + total) / 1e6:.1f} M")

# %% [markdown]
# The multiply-adds of the two fully connected layers can be checked with PyTorch's own counter,
# `torch.utils.flop_counter.FlopCounterMode`. It counts matrix products only (as FLOPs, two per
# multiply-add), not the pooling, the sigmoid or the scaling:

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-03", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
from torch.utils.flop_counter import FlopCounterMode

C, r, H, W = 1024, 16, 14, 14
block = attn_ref.SqueezeExcitation(C, r)
with FlopCounterMode(display=False) as counter:
    block(torch.randn(1, C, H, W))
print("counter, FC layers:", counter.get_total_flops() // 2, "multiply-adds")
print("closed form 2 C C':", 2 * C * (C // r))
print("scaling, C H W    :", C * H * W, "multiplications (not seen by the counter)")

# %% [markdown]
# ## 4. Seeing it work
#
# To watch the gate react to image content without trained weights, we make feature maps ourselves:
# twelve rectified responses of a bank of Gabor filters (oriented band-pass filters,
# `attn_ref.data.gabor_features`) to three of scikit-image's sample images. Each channel is divided
# by its mean response over the three images, as a normalisation layer in a network would keep
# channels on a comparable scale.
#
# First, an SE block with **random weights**, as at the start of training:

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-04", "locked": true, "schema_version": 3, "solution": false, "task": false}
names = ["astronaut", "brick", "grass"]
feats = {}
for n in names:
    feats[n], labels = gabor_features(sample_image(n, size=96))
scale = torch.stack([feats[n].mean(dim=(0, 2, 3)) for n in names]).mean(0)   # (C,)
feats = {n: f / scale[:, None, None] for n, f in feats.items()}
C = len(labels)

def gates_of(block):
    out = {}
    with torch.no_grad():
        for n in names:
            block(feats[n])
            out[n] = block.maps["s"][0].numpy()
    return out

torch.manual_seed(0)
se_random = attn_ref.SqueezeExcitation(C, reduction=3)
fig, axes = plt.subplots(1, 4, figsize=(12, 2.6), gridspec_kw={"width_ratios": [1, 1, 1, 4]})
for ax, n in zip(axes, names):
    ax.imshow(sample_image(n, 96)[0, 0], cmap="gray"); ax.set_title(n, fontsize=9); ax.axis("off")
plot_gates(gates_of(se_random), labels, ax=axes[3], title="random weights: gate s per Gabor channel")
fig.tight_layout(); plt.show()

# %% [markdown]
# The gates barely differ between images, and sit near $\sigma(0)=\tfrac12$: with small random
# weights the excitation is almost constant. Training is what makes it input-dependent. To see what a
# trained block *can* do, set the weights by hand. With $r = 1$, $W_1 = I$, $b_1 = 0$ (the features
# are non-negative, so the ReLU passes $z$ unchanged), $W_2 = \alpha\,(I - \tfrac1C \mathbf{1}\mathbf{1}^\top)$ and $b_2 = 0$, eq. (2) becomes
#
# $$ s_c = \sigma\big(\alpha\,(z_c - \bar z)\big), \qquad \bar z = \tfrac1C \textstyle\sum_k z_k, $$
#
# a gate that amplifies the channels responding more than average *to this image* and damps the
# rest — a contrast-enhancing rule that the block's two layers can express exactly.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-05", "locked": true, "schema_version": 3, "solution": false, "task": false}
se_hand = attn_ref.SqueezeExcitation(C, reduction=1)
alpha = 4.0
with torch.no_grad():
    se_hand.fc1.weight.copy_(torch.eye(C)); se_hand.fc1.bias.zero_()
    se_hand.fc2.weight.copy_(alpha * (torch.eye(C) - torch.full((C, C), 1 / C))); se_hand.fc2.bias.zero_()
gates = gates_of(se_hand)
plot_gates(gates, labels, title="hand-set weights: s_c = σ(α (z_c − mean z))")
plt.show()

# %% [markdown]
# Now the statistics drive the gates, and each image favours other channels. Which ones, in words
# computed from the same gates (the three largest, and the orientations θ whose gate is above ½ at
# each wavelength λ; λ = 4 is the fine one):

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-05-gates", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
from attn_ref.plots import describe_gates

print("\n".join(describe_gates(gates, labels)))

# %% [markdown]
# Below, the astronaut's twelve maps before and after the block, on one colour scale: channels
# with a small gate fade.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-06", "locked": true, "schema_version": 3, "solution": false, "task": false}
with torch.no_grad():
    after = se_hand(feats["astronaut"])[0].numpy()
before = feats["astronaut"][0].numpy()
vmax = float(np.quantile(before, 0.995))
show_maps(before, labels, cols=6, suptitle="astronaut: Gabor feature maps X", vmax=vmax)
show_maps(after, [f"s={g:.2f}" for g in gates["astronaut"]], cols=6,
          suptitle="after SE: s_c · x_c", vmax=vmax)
plt.show()

# %% [markdown]
# ## 5. Pitfalls
#
# * **Mean, not max.** The squeeze is an average. Max pooling is a different (and in the paper's
#   ablation slightly worse) design; CBAM (chapter 3) uses both.
# * **Bias or no bias.** The paper's eq. (2) has no biases, its released Caffe models do, and the
#   widely used PyTorch port (`SELayer` in senet.pytorch: `fc.0.weight`, `fc.2.weight`) has none.
#   Both are "SE"; parameter counts differ by $C' + C$ per block. `attn_ref.SqueezeExcitation(...,
#   bias=False)` and `attn_ref.load_official_state_dict` read the port's checkpoints.
# * **Rounding the bottleneck.** $C/r$ is rounded down in published code (`channels // reduction`);
#   for $C$ not divisible by $r$ a width rounded up gives a different parameter count.
# * **Sigmoid, not softmax.** A softmax over channels forces them to compete (gates sum to one); the
#   paper wants several channels emphasised at once.
# * **Where it goes.** In a ResNet the block rescales the residual branch *before* the addition with
#   the identity (chapter 5); rescaling after the addition would also shrink the identity path.
# * **Shapes.** `x.mean(dim=(2, 3), keepdim=True)` gives `(B, C, 1, 1)`, handy for $1\times1$
#   convolutions; `nn.Linear` wants `(B, C)`. Mixing the two silently broadcasts into a
#   `(B, C, B, C)`-shaped mistake.
#
# A check of the bias variants and of loading the port's layout:

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-07", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
ported = {"fc.0.weight": torch.randn(4, 64), "fc.2.weight": torch.randn(64, 4)}   # senet.pytorch layout
se_nb = attn_ref.load_official_state_dict(attn_ref.SqueezeExcitation(64, 16, bias=False), ported)
x = torch.randn(2, 64, 3, 3)
by_hand = x * torch.sigmoid(torch.relu(x.mean((2, 3)) @ ported["fc.0.weight"].T) @ ported["fc.2.weight"].T)[:, :, None, None]
print("loaded port matches eq. (1)-(3):", torch.allclose(se_nb(x), by_hand, atol=1e-6))
print("parameters with / without biases:", se_param_count(64, 16), "/", se_param_count(64, 16, bias=False))

# %% [markdown]
# ## 6. Summary
#
# | step | equation | code |
# |---|---|---|
# | squeeze | $z_c = \frac{1}{HW}\sum_{i,j} x_c(i,j)$ | `x.mean(dim=(2, 3))` |
# | excitation | $s = \sigma(W_2\,\delta(W_1 z + b_1) + b_2)$ | `torch.sigmoid(F.linear(F.relu(F.linear(z, w1, b1)), w2, b2))` |
# | scale | $\tilde{x}_c = s_c x_c$ | `x * s[:, :, None, None]` |
# | cost | $2CC' + C' + C$ parameters, $C' = \lfloor C/r\rfloor$ | `attn_ref.SqueezeExcitation(C, r)` |
#
# **References**
#
# * J. Hu, L. Shen, G. Sun. *Squeeze-and-Excitation Networks.* CVPR 2018; extended in TPAMI 2020.
#   arXiv:1709.01507.
# * Official code (Caffe): github.com/hujie-frank/SENet. A common PyTorch port:
#   github.com/moskomule/senet.pytorch.
# * Our reference: `attn_ref/se.py`; the hidden tests of this chapter: `attn_ref/grading/checks_se.py`.

# %% [markdown]
# ## Before you submit
#
# The cell below lists the graded steps of this chapter with their points, and whether each step's visible tests passed when they last ran in this session (*Run → Run All Cells* runs them all; it goes on past the steps you have not written yet). Visible tests that pass are a good sign, not the grade: the grader runs each step's hidden tests when you submit.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "summary", "locked": true, "schema_version": 3, "solution": false, "task": false}
from attn_ref.grading import summary

summary("se.ipynb")
