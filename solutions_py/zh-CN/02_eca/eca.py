# %% [markdown]
# # Chapter 2 — Efficient Channel Attention
#
# *attention-course · chapter 2 · about 45 minutes*
#
# The SE block of chapter 1 computes its channel gate with two fully connected layers that squeeze
# $C$ channels through a bottleneck of $C/r$ units. **Efficient Channel Attention** (ECA; Wang, Wu,
# Zhu, Li, Zuo and Hu, CVPR 2020) asks two questions about that design: does the bottleneck help,
# and does every channel need to talk to every other? Its answers — *no reduction* and *only
# neighbouring channels* — turn the excitation into a 1-D convolution with a handful of weights
# (at most 9) sliding along the channel descriptor. In ResNet-50 the released ECA blocks add fewer
# than a hundred parameters in total (exercise 4 counts them), where SE adds millions, and reach 77.48 % top-1 on ImageNet against
# SE's 76.71 % (ECA-Net, CVPR 2020 / arXiv v4, Table 3, the comparison of modules; its SE figure is
# the one SENet reports in its own Table 2, copied by ECA rather than trained again).
#
# You will follow the paper's argument from SE to ECA, implement the rule that picks the kernel size
# from the number of channels (rounding exactly as the official code does), the gate and the block,
# count what they cost, and look at two consequences of a convolution over channels: the first and
# last channels are treated differently, and the order of channels starts to matter.
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
from attn_ref.grading import expect_answer, expect_close, expect_defined, expect_dtype, expect_equal, expect_shape, grade
from attn_ref.data import gabor_features, sample_image
from attn_ref.eca import eca_resnet50_kernels
from attn_ref.plots import block_diagram, plot_gates, show_maps

torch.manual_seed(0)
torch.set_printoptions(precision=4, sci_mode=False)
# %matplotlib inline

# %% [markdown]
# ## 1. What and why
#
# ECA keeps SE's squeeze and scale and replaces only the excitation:
#
# 1. **squeeze** — average each channel of $X \in \mathbb{R}^{C\times H\times W}$ over all positions
#    into $z \in \mathbb{R}^C$, exactly as SE does;
# 2. **excitation** — slide one 1-D convolution of $k$ weights along the channel axis of $z$, with
#    zero padding so that $C$ values come out, and squash them with a sigmoid into $s\in(0,1)^C$;
# 3. **scale** — multiply channel $c$ of $X$ by $s_c$.
#
# There is no bottleneck, no ReLU and no bias: the block has exactly $k$ parameters, whatever $C$ is.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-01", "locked": true, "schema_version": 3, "solution": false, "task": false}
block_diagram([("X", "C×H×W"), ("global\navg pool", "z ∈ ℝ^C"), ("1-D conv over\nchannels, k taps", "C"),
               ("sigmoid σ", "s ∈ (0,1)^C"), ("⊗", "C×H×W")],
              title="ECA: one small convolution along the channel axis replaces SE's two FC layers",
              skip_to=4)
plt.show()


# %% [markdown]
# ## 2. Derivation
#
# ### 2.1 From SE to ECA: what the bottleneck costs
#
# Write the squeeze as in chapter 1,
#
# $$ z_c \;=\; \frac{1}{H\,W}\sum_{i=1}^{H}\sum_{j=1}^{W} x_c(i, j), \qquad z\in\mathbb{R}^C, \tag{1}$$
#
# and every channel-attention gate as $s = \sigma(f(z))$ for some map $f:\mathbb{R}^C\to\mathbb{R}^C$.
# SE uses $f(z) = W_2\,\delta(W_1 z)$ with $W_1 \in \mathbb{R}^{\frac{C}{r}\times C}$: channel $c$'s
# gate depends on $z_c$ only *through* a projection to $C/r$ dimensions, so the correspondence
# between a channel and its own weight is indirect. The paper (Sec. 3.2) tests this by trying
# simpler maps $f$ in ResNet-50 on ImageNet. Its Table 2 (CVPR 2020 / arXiv v4), top-1 accuracy; the
# SE row is SENet's own Table 2 figure, which ECA copies:
#
# | variant | $f(z)$ | parameters per block | top-1 (%) |
# |---|---|---|---|
# | ResNet-50, no attention | — | 0 | 75.20 |
# | SE | $W_2\,\delta(W_1 z)$ | $2C^2/r$ | 76.71 |
# | SE-Var1 | $z$ | 0 | 76.00 |
# | SE-Var2 | $w \odot z$ (a diagonal matrix) | $C$ | 77.07 |
# | SE-Var3 | $W z$ (one full matrix) | $C^2$ | 77.42 |
# | ECA-NS | banded $W_k z$, eq. (2) | $k\,C$ | 77.35 |
# | ECA | $\mathrm{C1D}_k(z)$, eq. (3), $k = 3$ | $k$ | 77.43 |
#
# Three readings. Even SE-Var1, a gate with no parameters at all ($s = \sigma(z)$), helps. SE-Var2,
# which gives each channel one weight of its own and no interaction, beats SE with far fewer
# parameters: *avoiding dimensionality reduction* matters. SE-Var3, a full matrix without reduction,
# is better still: *cross-channel interaction* matters too. ECA looks for the cheapest $f$ that keeps
# both properties.
#
# ### 2.2 Local cross-channel interaction: the banded matrix
#
# A full matrix lets every channel interact with every other, at $C^2$ parameters (over four
# million at $C = 2048$). ECA keeps only the interactions between each channel and its $k$ nearest
# neighbours: row $c$ of the matrix has non-zero entries only in columns $c - p, \dots, c + p$, with
# $p = (k-1)/2$ and $k$ odd,
#
# $$ s_c \;=\; \sigma\Big(\sum_{j=0}^{k-1} w_{c,j}\; z_{c+j-p}\Big), \qquad z_{c'} := 0 \text{ for } c' < 0 \text{ or } c' \ge C . \tag{2}$$
#
# This is a banded matrix with $k\,C$ parameters (the paper's ECA-NS, "not shared"; we index
# channels from 0). The paper then **shares** the $k$ weights across all channels, $w_{c,j} = w_j$:
#
# $$ s_c \;=\; \sigma\Big(\sum_{j=0}^{k-1} w_{j}\; z_{c+j-p}\Big)
# \quad\Longleftrightarrow\quad s = \sigma\big(\mathrm{C1D}_k(z)\big). \tag{3}$$
#
# The same $k$ weights at every position along the channel axis: that *is* a 1-D convolution of size
# $k$ over the descriptor $z$, with $p$ zeros padded at each end so that $C$ values come out — the
# ends are the "$z_{c'} := 0$" of eq. (2). Like `nn.Conv1d` (a cross-correlation), weight $w_j$
# multiplies the neighbour at offset $j - p$: $w_0$ looks at the channel before, $w_{k-1}$ at the
# channel after. The output is then applied as in SE,
#
# $$ \tilde x_c \;=\; s_c\, x_c . \tag{4}$$
#
# Sharing costs nothing in accuracy here (77.43 % for ECA against 77.35 % for ECA-NS in Table 2)
# and leaves $k$ parameters per block. Below, the three matrices for $C = 16$, $k = 5$, built
# entry by entry from eqs. (2) and (3): each coloured cell is one weight; in the shared matrix
# every diagonal holds one value.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-02", "locked": true, "schema_version": 3, "solution": false, "task": false}
def band_matrix(weights_per_row: torch.Tensor) -> torch.Tensor:
    # (C, k) weights -> (C, C) matrix of eq. (2): entry (c, c + j - p) holds weights_per_row[c, j]
    C, k = weights_per_row.shape
    p = (k - 1) // 2
    M = torch.zeros(C, C, dtype=weights_per_row.dtype)
    for c in range(C):
        for j in range(k):
            if 0 <= c + j - p < C:          # columns outside 0..C-1 meet the zero padding
                M[c, c + j - p] = weights_per_row[c, j]
    return M

C_demo, k_demo = 16, 5
gen = torch.Generator().manual_seed(0)
full = torch.randn(C_demo, C_demo, generator=gen)                     # SE-Var3: C^2 weights
banded = band_matrix(torch.randn(C_demo, k_demo, generator=gen))      # ECA-NS: k C weights
w_demo = torch.randn(k_demo, generator=gen)
shared = band_matrix(w_demo.expand(C_demo, k_demo))                   # ECA: k weights

fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
for ax, (name, M) in zip(axes, [(f"SE-Var3: full, {C_demo**2} weights", full),
                                (f"ECA-NS: banded, {C_demo * k_demo} weights", banded),
                                (f"ECA: banded, shared, {k_demo} weights", shared)]):
    m = M.abs().max().item()
    ax.imshow(np.ma.masked_where(M.numpy() == 0, M.numpy()), cmap="coolwarm", vmin=-m, vmax=m)
    ax.set_title(name, fontsize=9); ax.set_xlabel("input channel c'"); ax.set_ylabel("output channel c")
fig.tight_layout(); plt.show()

# %% [markdown]
# Look at the first and last two rows of the ECA matrix: they hold only 3 and 4 of the 5 weights.
# The missing ones fall on the zero padding — channel 0 has no left neighbours. We come back to this
# in § 2.6.
#
# ### 2.3 The adaptive kernel size
#
# How many neighbours should interact? The paper (Sec. 3.2) argues that the coverage $k$ should
# grow with the number of channels, and, since channel counts are usually powers of two, assumes an
# exponential relation between them:
#
# $$ C \;=\; \phi(k) \;=\; 2^{\,\gamma k - b}. \tag{5}$$
#
# Solving for $k$ gives the rule
#
# $$ k \;=\; \psi(C) \;=\; \left|\,\frac{\log_2 C}{\gamma} + \frac{b}{\gamma}\,\right|_{odd}, \qquad \gamma = 2,\; b = 1, \tag{6}$$
#
# where the paper says $|t|_{odd}$ is "the nearest odd number of $t$". *Nearest* leaves one case
# open: when $t$ is exactly an even integer, the odd numbers $t-1$ and $t+1$ are equally near.
# With $\gamma = 2$, $b = 1$, $t = (\log_2 C + 1)/2$ is an even integer when $\log_2 C = 3, 7, 11$:
# at $C = 8$ ($t = 2$), $C = 128$ ($t = 4$) and $C = 2048$ ($t = 6$). The PyTorch code printed in the
# paper settles it by truncating and moving an even result up:
#
# $$ t = \operatorname{int}\!\Big(\Big|\frac{\log_2 C + b}{\gamma}\Big|\Big), \qquad
#    k = \begin{cases} t & t \text{ odd} \\ t + 1 & t \text{ even.}\end{cases} \tag{6'}$$
#
# So $C = 128$ gives $t = 4$ and $k = 5$, not 3. For $t$ that is not an integer, truncation followed by
# "even → +1" always lands on the nearest odd number, so (6') agrees with (6) everywhere except the
# ties, where it goes up. We follow the paper's code, as the widely copied re-implementations do.
# (The official repository never computes $k$: its models take the kernel sizes as an argument,
# see below.)
#
# **Exercise 1 (3 points).** Implement eq. (6') as `eca_kernel_size(channels, gamma=2, b=1)`,
# returning a Python `int`. Then tabulate it: set `k_resnet50` to a tuple of the four kernel sizes
# the rule gives at the widths the attention blocks of ResNet-50's four stages see (256, 512, 1024,
# 2048), and `k_mobilenetv2` to the seven kernel sizes at MobileNetV2's stage widths
# (16, 24, 32, 64, 96, 160, 320).

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-03", "locked": true, "schema_version": 3, "solution": false, "task": false}
RESNET50_WIDTHS = (256, 512, 1024, 2048)              # channels the attention block sees, by stage
MOBILENETV2_WIDTHS = (16, 24, 32, 64, 96, 160, 320)   # output width of each inverted-residual stage


# %% nbgrader={"grade": false, "grade_id": "kernel_size", "locked": false, "schema_version": 3, "solution": true, "task": false}
def eca_kernel_size(channels: int, gamma: float = 2, b: float = 1) -> int:
    """Eq. (6'): t = int(|(log2(C) + b) / gamma|); k = t if t is odd, else t + 1."""
    ### BEGIN SOLUTION
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 == 1 else t + 1
    ### END SOLUTION


### BEGIN SOLUTION
k_resnet50 = tuple(eca_kernel_size(c) for c in RESNET50_WIDTHS)
k_mobilenetv2 = tuple(eca_kernel_size(c) for c in MOBILENETV2_WIDTHS)
### END SOLUTION

# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_kernel_size", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("eca.kernel_size", eca_kernel_size)
grade("eca.kernel_size.resnet50", k_resnet50)
grade("eca.kernel_size.mobilenetv2", k_mobilenetv2)
### END HIDDEN TESTS
# C = 64: (log2 64 + 1) / 2 = 3.5, truncated to 3, which is odd.
expect_equal(eca_kernel_size(64), 3, "eca_kernel_size(64)",
             hint="t = int(3.5) = 3: truncate with int(), do not round or take the ceiling.")
# C = 256: (8 + 1) / 2 = 4.5, truncated to 4, which is even, so k = 4 + 1.
expect_equal(eca_kernel_size(256), 5, "eca_kernel_size(256)",
             hint="t = int(4.5) = 4 is even: the kernel is t + 1, not t - 1 and not t.")
# gamma = 1, b = 0: k = |log2 C|_odd, so C = 32 gives t = 5.
expect_equal(eca_kernel_size(32, gamma=1, b=0), 5, "eca_kernel_size(32, gamma=1, b=0)",
             hint="use the arguments gamma and b in (log2 C + b) / gamma.")
# The exact ties: C = 8 gives t = 2.0 and C = 2048 gives t = 6.0, both even, so k = 3 and 7.
# "Nearest odd" with round() or ties going down gives 1 and 5 there, right everywhere else.
expect_equal(eca_kernel_size(8), 3, "eca_kernel_size(8)",
             hint="t = (3 + 1) / 2 = 2.0 is even, so k = t + 1 = 3: the rule truncates and moves an "
                  "even t up; it is not the nearest odd number (a tie here) and not round().")
expect_equal(eca_kernel_size(2048), 7, "eca_kernel_size(2048)",
             hint="t = (11 + 1) / 2 = 6.0 is even, so k = 7: round(2.5) = 2 in Python (ties go to "
                  "even), so a rule built on round() gives 5 here.")
even = [c for c in range(1, 5000) if eca_kernel_size(c) % 2 == 0]
if even:
    raise AssertionError(f"k must be odd, but eca_kernel_size({even[0]}) = {eca_kernel_size(even[0])}")
expect_defined("k_resnet50", "k_mobilenetv2")
if not all(isinstance(k, int) for k in list(k_resnet50) + list(k_mobilenetv2)):
    raise AssertionError("k_resnet50 and k_mobilenetv2 should hold Python ints")
expect_answer(k_resnet50, "eca.kernel_size.resnet50", "k_resnet50", labels=[f"C = {c}" for c in RESNET50_WIDTHS])
expect_answer(k_mobilenetv2, "eca.kernel_size.mobilenetv2", "k_mobilenetv2",
              labels=[f"C = {c}" for c in MOBILENETV2_WIDTHS])
print("Every visible test of this step passes; it earns its 3 points when the hidden tests agree.")

# %% [markdown]
# Your rule next to the kernels the authors actually trained. The released ECA-ResNet-50 is
# "`eca_resnet50_k3557`" in the official repository: its training command passes the kernel of each
# stage by hand. The released ECA-MobileNetV2 ("`k13`") uses $k = 1$ below 96 channels and
# $k = 3$ from 96 on.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-04", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
released = {"ResNet-50": eca_resnet50_kernels("official"),
            "MobileNetV2": (1, 1, 1, 1, 3, 3, 3)}
for net, widths in [("ResNet-50", RESNET50_WIDTHS), ("MobileNetV2", MOBILENETV2_WIDTHS)]:
    print(f"{net}\n  {'C':>5} {'(log2 C + 1)/2':>15} {'yours':>6} {'psi':>4} {'released':>9}")
    for c, k_rel in zip(widths, released[net]):
        t = (math.log2(c) + 1) / 2
        print(f"  {c:5d} {t:15.3f} {eca_kernel_size(c):6d} {attn_ref.eca_kernel_size(c):4d} {k_rel:9d}")
    print(f"  psi - released: {tuple(attn_ref.eca_kernel_size(c) - k for c, k in zip(widths, released[net]))}")


# %% [markdown]
# The rule and the release agree on the last three stages of ResNet-50 but not on the first (256
# channels: $\psi$ says 5, the release uses 3), and the released MobileNetV2 uses kernels two
# smaller than $\psi$ at every width but 96, where both are 3 (the last line above). The paper's text derives $k$ from $\psi$; its released models fix
# $k$ by hand. When you reproduce a number from the paper, check which of the two it used (§ 3 counts
# both).
#
# ### 2.4 The gate
#
# **Exercise 2 (3 points).** Implement eqs. (1) and (3) as a function: `eca_gate(x, weight)` takes
# a batch $x$ of shape `(B, C, H, W)` and the $k$ shared weights `weight` of shape `(k,)` ($k$ odd),
# and returns the gate $s$ of shape `(B, C)` in the dtype of $x$ (the weight may come in another
# dtype: cast it to $x$'s). Pad the channel axis with $(k-1)/2$ zeros at each
# end; weight $j$ multiplies $z_{c + j - (k-1)/2}$, as in `nn.Conv1d`. You may use
# `F.conv1d` (it wants `(N, channels_in, length)` inputs and `(channels_out, channels_in, k)`
# weights), the banded matrix, or a loop.

# %% nbgrader={"grade": false, "grade_id": "gate", "locked": false, "schema_version": 3, "solution": true, "task": false}
def eca_gate(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Eqs. (1) and (3): s = sigmoid(C1D_k(z)) with z the channel means. (B, C, H, W), (k,) -> (B, C).

    s has x's dtype: a weight of another dtype is cast to x's.
    """
    ### BEGIN SOLUTION
    k = weight.shape[0]
    z = x.mean(dim=(2, 3))                                              # (B, C), eq. (1)
    w = weight.to(x.dtype).view(1, 1, k)
    y = F.conv1d(z.unsqueeze(1), w, padding=(k - 1) // 2)               # (B, 1, C)
    return torch.sigmoid(y.squeeze(1))                                  # (B, C), eq. (3)
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_gate", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("eca.gate", eca_gate)
### END HIDDEN TESTS
# Four channels with constant maps: channel c holds the value z_c everywhere, z = (1, 2, 3, 4).
x = torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 4, 1, 1).expand(1, 4, 3, 5)
expect_shape(eca_gate(x, torch.ones(3)), (1, 4), "eca_gate(x, w).shape",
             hint="one gate per channel: average over H and W, convolve along C, keep C values.")
# x is float32; a float64 weight is cast to x's dtype, and s is float32 like x.
expect_dtype(lambda: eca_gate(x, torch.ones(3, dtype=torch.float64)), torch.float32,
             "eca_gate(x, w) for a float32 x and a float64 w",
             hint="s has x's dtype whatever the weight's: cast the weight to x's dtype (weight.to(x.dtype)).")
# w = (1, 1, 1): each channel sums itself and its two neighbours; beyond the ends there are zeros:
# (0 + 1 + 2, 1 + 2 + 3, 2 + 3 + 4, 3 + 4 + 0) = (3, 6, 9, 7).
expect_close(eca_gate(x, torch.ones(3)), torch.sigmoid(torch.tensor([[3.0, 6.0, 9.0, 7.0]])),
             "eca_gate with w = (1, 1, 1)",
             hint="pad the channel axis with (k - 1) // 2 zeros at each end (not circularly), "
                  "then apply the sigmoid.")
# w = (1, 0, 0): weight 0 looks one channel back, so s_c = sigmoid(z_{c-1}) and z_{-1} = 0.
expect_close(eca_gate(x, torch.tensor([1.0, 0.0, 0.0])), torch.sigmoid(torch.tensor([[0.0, 1.0, 2.0, 3.0]])),
             "eca_gate with w = (1, 0, 0)",
             hint="like nn.Conv1d, weight j multiplies z[c + j - (k - 1) // 2]: do not flip the kernel.")
# The gate is eq. (3) in matrix form: sigmoid(B z) with the shared banded matrix of section 2.2.
torch.manual_seed(0)
x = torch.randn(3, 16, 4, 6, dtype=torch.float64)
w = torch.randn(5, dtype=torch.float64)
expect_close(eca_gate(x, w), torch.sigmoid(x.mean((2, 3)) @ band_matrix(w.expand(16, 5)).T),
             "eca_gate equals sigmoid(banded matrix @ z)",
             hint="slide along the channel axis of each example; the batch examples never mix.")
print("Every visible test of this step passes; it earns its 3 points when the hidden tests agree.")


# %% [markdown]
# ### 2.5 The block
#
# **Exercise 3 (3 points).** Write the block as an `nn.Module`. With `k_size=None` the kernel size
# comes from eq. (6') with the given `gamma` and `b`; otherwise it is `k_size` (odd). The module must
# hold exactly one learnable tensor, the $k$ shared weights — an `nn.Conv1d(1, 1, k, bias=False)`
# or an `nn.Parameter` of shape `(k,)` both work. `forward(x)` returns $x \otimes s$, eq. (4). You may
# call your `eca_kernel_size` and `eca_gate`.

# %% nbgrader={"grade": false, "grade_id": "eca_module", "locked": false, "schema_version": 3, "solution": true, "task": false}
class ECA(nn.Module):
    """Efficient Channel Attention: forward(x) = x * s, s = sigmoid(C1D_k(mean over H, W of x))."""

    def __init__(self, channels: int, k_size: int | None = None, gamma: float = 2, b: float = 1):
        super().__init__()
        ### BEGIN SOLUTION
        k = eca_kernel_size(channels, gamma, b) if k_size is None else k_size
        self.conv = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        s = eca_gate(x, self.conv.weight.view(-1))       # (B, C)
        return x * s[:, :, None, None]
        ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_eca_module", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("eca.eca_module", ECA)
### END HIDDEN TESTS
def n_params(m):
    return sum(p.numel() for p in m.parameters())

expect_equal(n_params(ECA(256)), 5, "parameters of ECA(256)",
             hint="k = psi(256) = 5 shared weights and nothing else (no bias).")
expect_equal(n_params(ECA(64, k_size=7)), 7, "parameters of ECA(64, k_size=7)",
             hint="an explicit k_size overrides the rule.")
expect_equal(n_params(ECA(32, gamma=1, b=0)), 5, "parameters of ECA(32, gamma=1, b=0)",
             hint="pass gamma and b on to the rule.")
torch.manual_seed(2)
eca = ECA(16, k_size=3)
x = torch.randn(2, 16, 5, 7)
y = eca(x)
expect_shape(y, (2, 16, 5, 7), "ECA(16, k_size=3)(x).shape", hint="the block keeps the shape of x.")
ratio = y / x
expect_close(ratio, ratio[:, :, :1, :1].expand_as(ratio), "one gate per channel at every position",
             hint="multiply channel c by one number s_c, broadcast over H and W (eq. 4).")
(weight,) = list(eca.parameters())
with torch.no_grad():
    weight.copy_(torch.tensor([0.0, 1.0, 0.0]).view_as(weight))     # only the centre tap: s = sigmoid(z)
expect_close(eca(x), x * torch.sigmoid(x.mean((2, 3)))[:, :, None, None],
             "centre tap only: SE-Var1, s = sigmoid(z)",
             hint="the middle weight must multiply each channel's own mean z_c.")
with torch.no_grad():
    weight.zero_()
expect_close(eca(x), x / 2, "all weights zero gives x / 2", hint="sigmoid(0) = 1/2 for every channel.")
# Random weights loaded into your module, on the hidden check's own shapes (earlier steps are
# replaced by the reference ones here, as when you submit).
expect_answer(ECA, "eca.eca_module", "ECA with random weights")
print("Every visible test of this step passes; it earns its 3 points when the hidden tests agree.")

# %% [markdown]
# ### 2.6 The ends of the channel axis, and the order of channels
#
# **Zero padding at the ends.** In eq. (3) the first and the last $p$ channels have fewer real
# neighbours: the taps that fall outside $0, \dots, C-1$ multiply zeros. For a descriptor that is
# the same in every channel, an interior channel and an end channel therefore get different gates.
# With a moving average ($w_j = 1/3$) and $z = \mathbf 1$:

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-05", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
w_avg = torch.full((3,), 1 / 3, dtype=torch.float64)
x_flat = torch.ones(1, 8, 2, 2, dtype=torch.float64)          # z_c = 1 for every channel
print("logits C1D(z):", (torch.logit(eca_gate(x_flat, w_avg))[0]).numpy().round(4))
print("gates  s     :", eca_gate(x_flat, w_avg)[0].numpy().round(4))

# %% [markdown]
# Channels 0 and 7 see $(0 + 1 + 1)/3$ instead of 1. A trained network can absorb this (the layers
# around the block adapt to it), but it means ECA is *not* the same operation on every channel, and
# circular or reflective padding — which look harmless — compute a different block.
#
# **Channel order.** SE's excitation is a pair of full matrices. If the channels of $X$ are permuted
# by a permutation matrix $P$, then SE with the weights $W_1 P^\top$ and $P W_2$ (and $P b_2$) gives
# exactly the permuted output of the original block: SE does not care how the channels are ordered,
# up to a relabelling of its weights. ECA's matrix is a *shared band* $B_w$. Permuting the channels
# turns it into $P B_w P^\top$, which for a general permutation is no longer banded — so no choice of
# $k$ weights reproduces the original block on permuted input. The order of channels is part of the
# model: neighbours in the channel axis are the only channels that interact, and it is the layers
# before the block that learn which channels end up next to each other.
#
# A small computation makes both halves of the claim concrete. We take a random permutation, build
# SE's relabelled weights, and for ECA search for the best $k$ weights $w'$ by least squares on the
# logits over 64 random inputs:

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-06", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
gen = torch.Generator().manual_seed(3)
C, k, r = 16, 3, 4
perm = torch.randperm(C, generator=gen)
P = torch.eye(C, dtype=torch.float64)[perm]                          # (P z)_c = z_perm[c]
X = torch.randn(64, C, 3, 3, generator=gen, dtype=torch.float64)
Xp = X[:, perm]                                                       # the channels reordered

# SE: relabel the weights, get exactly the permuted output.
se = attn_ref.SqueezeExcitation(C, reduction=r).double()
se_p = attn_ref.SqueezeExcitation(C, reduction=r).double()
with torch.no_grad():
    se_p.fc1.weight.copy_(se.fc1.weight @ P.T); se_p.fc1.bias.copy_(se.fc1.bias)
    se_p.fc2.weight.copy_(P @ se.fc2.weight);   se_p.fc2.bias.copy_(P @ se.fc2.bias)
print("SE : SE with relabelled weights on P x equals P SE(x):", torch.allclose(se_p(Xp), se(X)[:, perm]))

# ECA: which k shared weights w' come closest to B_w on permuted input? The logits B_w' (P z)
# are linear in w', so the best w' is a least-squares fit.
w = torch.randn(k, generator=gen, dtype=torch.float64)
Z = X.mean((2, 3))                                                    # (64, C)

def best_fit(order):
    target = (Z @ band_matrix(w.expand(C, k)).T)[:, order]            # P B_w z
    Zp = Z[:, order]                                                  # P z
    A = torch.stack([(Zp @ band_matrix(torch.eye(k, dtype=torch.float64)[j].expand(C, k)).T).reshape(-1)
                     for j in range(k)], dim=1)
    w_best = torch.linalg.lstsq(A, target.reshape(-1, 1)).solution.squeeze(1)
    return ((A @ w_best - target.reshape(-1)).norm() / target.norm()).item()

print(f"ECA: relative error of the best w', channels in their order : {best_fit(torch.arange(C)):.2f}")
print(f"ECA: relative error of the best w', channels permuted       : {best_fit(perm):.2f}")

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-07", "locked": true, "schema_version": 3, "solution": false, "task": false}
fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.5))
B_w = band_matrix(w.expand(C, k))
for ax, (name, M) in zip(axes, [("B_w: ECA's banded matrix", B_w), ("P B_w Pᵀ: the same block, channels permuted", P @ B_w @ P.T)]):
    m = M.abs().max().item()
    ax.imshow(np.ma.masked_where(M.numpy() == 0, M.numpy()), cmap="coolwarm", vmin=-m, vmax=m)
    ax.set_title(name, fontsize=9)
fig.tight_layout(); plt.show()

# %% [markdown]
# ## 3. Cost
#
# Per block, for one example, with $p = (k-1)/2$:
#
# | part | parameters | multiply-adds |
# |---|---|---|
# | squeeze, eq. (1) | 0 | $CHW$ additions |
# | 1-D convolution, eq. (3) | $k$ | $Ck$ as counted by a convolution counter ($Ck - p(p+1)$ of them touch real channels) |
# | scale, eq. (4) | 0 | $CHW$ multiplications |
# | **ECA total** | $k$ | $Ck + CHW$ (plus the pooling's additions) |
# | SE, for comparison | $2CC' + C' + C$, $C' = \lfloor C/r\rfloor$ | $2CC' + CHW$ |
#
# ECA's parameter count does not depend on $C$ at all, so it is the number of blocks and their
# kernel sizes that add up.
#
# **Exercise 4 (2 points).** ResNet-50 has 3, 4, 6 and 3 bottleneck blocks in its four stages, each
# with its own attention block. Set `eca_params_official` to the number of parameters all ECA blocks
# add to the released ECA-ResNet-50 (kernels 3, 5, 5, 7 by stage) and `eca_params_adaptive` to the
# number they would add with the rule's kernels (the `psi` column of the table in § 2.3).

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-08", "locked": true, "schema_version": 3, "solution": false, "task": false}
RESNET50_BLOCKS = (3, 4, 6, 3)                        # bottleneck blocks per stage

# %% nbgrader={"grade": false, "grade_id": "params", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
eca_params_official = sum(n * k for n, k in zip(RESNET50_BLOCKS, (3, 5, 5, 7)))
eca_params_adaptive = sum(n * eca_kernel_size(c) for n, c in zip(RESNET50_BLOCKS, RESNET50_WIDTHS))
### END SOLUTION

# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_params", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("eca.params", eca_params_official)
grade("eca.params.adaptive", eca_params_adaptive)
### END HIDDEN TESTS
expect_defined("eca_params_official", "eca_params_adaptive")
expect_answer(eca_params_official, "eca.params", "eca_params_official")
expect_answer(eca_params_adaptive, "eca.params.adaptive", "eca_params_adaptive")
print("Every visible test of this step passes; it earns its 2 points when the hidden tests agree.")


# %% [markdown]
# The count the paper's abstract gives for ECA-ResNet-50 is the released network's (the first line
# below). Against a counter that adds up the parameters of `attn_ref`'s blocks, and against SE
# ($r = 16$, with biases) in the same positions:

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-09", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
def count(module):
    return sum(p.numel() for p in module.parameters())

for rule in ("official", "adaptive"):
    ks = eca_resnet50_kernels(rule)
    total = sum(n * count(attn_ref.ECA(c, k_size=k)) for n, c, k in zip(RESNET50_BLOCKS, RESNET50_WIDTHS, ks))
    yours = eca_params_official if rule == "official" else eca_params_adaptive
    print(f"ECA, {rule:8} kernels {ks}: counter {total:3d}, yours {yours:3d}")
se_total = sum(n * count(attn_ref.SqueezeExcitation(c, 16)) for n, c in zip(RESNET50_BLOCKS, RESNET50_WIDTHS))
print(f"SE,  r = 16 with biases             : {se_total:,d}")

# %% [markdown]
# And the multiply-adds of one block at the widest stage, with PyTorch's own counter. It sees the
# convolution (as FLOPs, two per multiply-add, including the taps that fall on the zero padding), not
# the pooling, the sigmoid or the scaling:

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-10", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
from torch.utils.flop_counter import FlopCounterMode

C, H, W = 2048, 7, 7
for name, block in [("ECA", attn_ref.ECA(C)), ("SE ", attn_ref.SqueezeExcitation(C, 16))]:
    with FlopCounterMode(display=False) as counter:
        block(torch.randn(1, C, H, W))
    print(f"{name}: counter {counter.get_total_flops() // 2:7,d} multiply-adds")
print(f"closed forms: ECA C k = {C * attn_ref.eca_kernel_size(C):,d}, SE 2 C C' = {2 * C * (C // 16):,d}; "
      f"both also scale C H W = {C * H * W:,d}")

# %% [markdown]
# ## 4. Seeing it work
#
# As in chapter 1, feature maps without a trained network: twelve rectified Gabor responses
# (`attn_ref.data.gabor_features`) to three of scikit-image's sample images, each channel divided by
# its mean over the three images. Their **order** matters now. Channels 0–5 are the six orientations
# θ = 0°, 30°, …, 150° at wavelength λ = 4, channels 6–11 the same orientations at λ = 8, so channel
# neighbours are orientation neighbours — except across the λ boundary between channels 5 and 6, and
# at the two ends, where the zero padding sits (while orientation itself wraps around: 150° is next
# to 0°).
#
# To see what the three weights can express, set them by hand to $w = \alpha\,(-\tfrac12, 1, -\tfrac12)$:
#
# $$ s_c = \sigma\big(\alpha\,(z_c - \tfrac12(z_{c-1} + z_{c+1}))\big), $$
#
# a gate that opens for a channel responding more strongly than its orientation neighbours — a
# local contrast along the channel axis, which SE would need a $C\times C$ matrix to write down.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-11", "locked": true, "schema_version": 3, "solution": false, "task": false}
names = ["astronaut", "brick", "grass"]
feats = {}
for n in names:
    feats[n], labels = gabor_features(sample_image(n, size=96))
scale = torch.stack([feats[n].mean(dim=(0, 2, 3)) for n in names]).mean(0)   # (C,)
feats = {n: f / scale[:, None, None] for n, f in feats.items()}
C = len(labels)

eca_hand = attn_ref.ECA(C, k_size=3)
alpha = 4.0
with torch.no_grad():
    eca_hand.conv.weight.copy_(alpha * torch.tensor([-0.5, 1.0, -0.5]).view(1, 1, 3))
gates = {}
with torch.no_grad():
    for n in names:
        eca_hand(feats[n])
        gates[n] = eca_hand.maps["s"][0].numpy()

fig, axes = plt.subplots(1, 5, figsize=(15, 2.8), gridspec_kw={"width_ratios": [1, 1, 1, 5, 1.6]})
for ax, n in zip(axes, names):
    ax.imshow(sample_image(n, 96)[0, 0], cmap="gray"); ax.set_title(n, fontsize=9); ax.axis("off")
plot_gates(gates, labels, ax=axes[3], title="ECA, w = α(−½, 1, −½): gate s per Gabor channel")
for x_ in (-0.5, 5.5, 11.5):
    axes[3].axvline(x_, color="k", lw=0.8, ls=":")
M = band_matrix(eca_hand.conv.weight.detach().view(1, 3).expand(C, 3))
axes[4].imshow(M.numpy(), cmap="coolwarm", vmin=-alpha, vmax=alpha)
axes[4].set_title("its banded matrix", fontsize=9); axes[4].set_xticks([]); axes[4].set_yticks([])
fig.tight_layout(); plt.show()

# %% [markdown]
# The same gates in words: for each image the three largest, and the orientations θ whose gate is
# above ½ at each wavelength λ; then the two end channels, next to the zero padding:

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-11-gates", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
from attn_ref.plots import describe_gates

print("\n".join(describe_gates(gates, labels)))
for c in (0, C - 1):
    opened = [n for n in names if gates[n][c] > 0.5]
    print(f"channel {c:2d} ({labels[c]}): gate above ½ for {len(opened)} of {len(names)} images "
          f"({', '.join(opened) or 'none'}); the median gate of the other channels is above ½ for "
          f"{sum(float(np.median(np.delete(gates[n], c))) > 0.5 for n in names)} of them")

# %% [markdown]
# For brick, the wall's courses and joints (θ = 0° and 90°) against the oblique orientations between
# them: the line above says which of them the gate opens at each wavelength. Now look at the dotted
# lines, where a channel's neighbour is not an orientation neighbour. The two end channels each have
# one real neighbour and one zero from the padding, so only half as much is subtracted, and they
# open more easily than the others: the last two lines count for how many images. Next to the λ boundary in the middle, a
# channel is compared with a channel of the other wavelength. With orientation wrapped around
# (θ = 150° next to 0°, each wavelength on its own) the end channels would be judged like all the
# others. The logits of the brick image at the four places where the two differ:

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-12", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
z = feats["brick"].double().mean((2, 3))[0]
w_hand = eca_hand.conv.weight.detach().double().view(3)
inside = torch.logit(eca_gate(feats["brick"].double(), w_hand))[0]
# the same block if orientation wrapped around: pad each wavelength's six channels circularly
wrapped = torch.cat([F.conv1d(F.pad(z[g].view(1, 1, 6), (1, 1), mode="circular"), w_hand.view(1, 1, 3)).view(6)
                     for g in (slice(0, 6), slice(6, 12))])
for c in (0, 5, 6, 11):
    print(f"channel {c:2d} ({labels[c]:>12}): logit with zero padding {inside[c].item():6.2f}, "
          f"with orientation wrapped {wrapped[c].item():6.2f}")

# %% [markdown]
# ## 5. Pitfalls
#
# * **Rounding $k$.** $|t|_{odd}$ in the paper is "nearest odd"; the code truncates and moves an
#   even $t$ up. They differ only at exact ties ($C = 8, 128, 2048$ with the defaults), which is
#   exactly where ResNet-50's last stage sits. Rounding $t$ to the nearest integer first, taking the
#   ceiling, or moving an even $t$ *down* each change some kernels.
# * **Rule vs release.** The released ECA-ResNet-50 uses kernels 3, 5, 5, 7, not the ones $\psi$
#   gives (exercises 1 and 4 compute both, and what the difference costs); ECA-MobileNetV2 uses 1
#   and 3. The official `eca_layer(channel,
#   k_size=3)` takes the channel count but never uses it: without an explicit `k_size` every block
#   gets $k = 3$.
# * **Even $k$ and padding.** With odd $k$, `padding=(k - 1) // 2`, `padding=k // 2` and PyTorch's
#   `padding="same"` all agree. An even $k$ has no symmetric
#   "same" padding: `k // 2` on both sides returns $C + 1$ values and `(k - 1) // 2` returns $C - 1$.
#   The rule never produces an even $k$ — if your code does, the rounding is wrong.
# * **Padding mode.** The ends are padded with zeros. Circular padding (`padding_mode="circular"`)
#   would make channel 0 and channel $C-1$ neighbours — a different block, and state dicts of the
#   two load into each other without an error.
# * **Which axis.** The convolution runs along the channel axis of each example's descriptor
#   $z \in \mathbb{R}^C$. The official code gets there with `squeeze(-1).transpose(-1, -2)` on a
#   `(B, C, 1, 1)` tensor, giving `(B, 1, C)`; a transpose too many convolves across the batch (the
#   shapes still work when $B = C$, or silently broadcast when $B = 1$).
# * **Nothing else.** No bias, no ReLU, no normalisation: the sigmoid follows the convolution
#   directly. The official state dict holds one tensor, `conv.weight` of shape `(1, 1, k)`, which
#   `attn_ref.load_official_state_dict` loads into `attn_ref.ECA`.
# * **Channel order.** ECA is not invariant to a relabelling of channels (§ 2.6). Which channels
#   are neighbours is decided by the layer before the block; when ECA is added to a pretrained
#   network, that order was learned without ECA, and only training can adapt it.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-13", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
official = {"conv.weight": torch.tensor([[[0.2, -0.5, 0.9]]])}         # eca_layer's only tensor
eca_loaded = attn_ref.load_official_state_dict(attn_ref.ECA(64, k_size=3), official)
x = torch.randn(2, 64, 3, 3)
print("loaded weights give eqs. (3)-(4):", torch.allclose(eca_loaded(x), x * eca_gate(x, official["conv.weight"].view(3))[:, :, None, None], atol=1e-6))
k_even = 4
for pad in ((k_even - 1) // 2, k_even // 2):
    out = F.conv1d(torch.randn(1, 1, 64), torch.randn(1, 1, k_even), padding=pad)
    print(f"even k = {k_even}, padding {pad}: {out.shape[-1]} outputs for 64 channels")

# %% [markdown]
# ## 6. Summary
#
# | step | equation | code |
# |---|---|---|
# | squeeze | $z_c = \frac{1}{HW}\sum_{i,j} x_c(i,j)$ | `x.mean(dim=(2, 3))` |
# | local interaction | $s_c = \sigma\big(\sum_j w_{c,j}\, z_{c+j-p}\big)$, $kC$ weights (ECA-NS) | a banded matrix |
# | shared weights | $s = \sigma(\mathrm{C1D}_k(z))$, $k$ weights | `torch.sigmoid(F.conv1d(z[:, None], w.view(1, 1, k), padding=(k - 1) // 2))[:, 0]` |
# | scale | $\tilde x_c = s_c x_c$ | `x * s[:, :, None, None]` |
# | kernel size | $k = \psi(C) = \lvert \log_2(C)/\gamma + b/\gamma\rvert_{odd}$, $\gamma = 2$, $b = 1$ | `t = int(abs((math.log2(C) + b) / gamma)); k = t if t % 2 else t + 1` |
# | cost | $k$ parameters per block; ECA-ResNet-50: $\sum_{\text{stages}} (\text{blocks}\cdot k)$, released or $\psi$ (§ 3) | `attn_ref.ECA(C, k_size)` |
#
# **References**
#
# * Q. Wang, B. Wu, P. Zhu, P. Li, W. Zuo, Q. Hu. *ECA-Net: Efficient Channel Attention for Deep
#   Convolutional Neural Networks.* CVPR 2020. arXiv:1910.03151. Sec. 3.2 (the SE variants,
#   Table 2; local interaction; the kernel rule and the PyTorch code that rounds it), Table 3
#   (comparison with other attention modules). Table numbers of the CVPR 2020 / arXiv v4 version.
# * Official code (PyTorch): github.com/BangguWu/ECANet — `models/eca_module.py` (`eca_layer`),
#   `models/eca_resnet.py`, `models/eca_mobilenetv2.py`; released models `eca_resnet50_k3557`,
#   `eca_mobilenetv2_k13`.
# * J. Hu, L. Shen, G. Sun. *Squeeze-and-Excitation Networks.* CVPR 2018 (chapter 1).
# * Our reference: `attn_ref/eca.py`; the hidden tests of this chapter: `attn_ref/grading/checks_eca.py`.

# %% [markdown]
# ## Before you submit
#
# The cell below lists the graded steps of this chapter with their points, and whether each step's visible tests passed when they last ran in this session (*Run → Run All Cells* runs them all; it goes on past the steps you have not written yet). Visible tests that pass are a good sign, not the grade: the grader runs each step's hidden tests when you submit.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "summary", "locked": true, "schema_version": 3, "solution": false, "task": false}
from attn_ref.grading import summary

summary("eca.ipynb")
