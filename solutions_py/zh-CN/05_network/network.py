# %% [markdown]
# # Chapter 5 — Attention inside a network
#
# *attention-course · chapter 5 · about 60 minutes (the short experiment in section 3 shows a progress bar with the time left, and prints how long it took)*
#
# Chapters 1–4 built four attention modules — SE, ECA, CBAM and Coordinate Attention (CA) — as
# stand-alone blocks that map a feature map $X\in\mathbb{R}^{C\times H\times W}$ to one of the same
# shape. A module only earns its keep inside a network, and *where* it goes matters: every paper
# puts it at the same place in a ResNet bottleneck, and CA's paper puts it at a specific place in
# MobileNetV2's inverted residual. This chapter
#
# 1. places the modules in the two blocks and has you write the bottleneck with a pluggable module;
# 2. reproduces the parameter counts of the papers' tables from `attn_ref`'s networks, with each
#    paper's counting convention, and has you count a stage in closed form;
# 3. trains small CNNs with and without each module on digits placed at random positions on a
#    larger canvas, over several seeds, and looks at where CBAM's and CA's maps point.
#
# **How this notebook is graded.** Each exercise is a code cell with `raise NotImplementedError()`
# to replace, followed by a locked test cell. The visible tests in that cell check a small case you
# can verify by hand and tell you what differs. When you submit, the same cell also runs hidden
# tests — many shapes, seeds and dtypes, compared with the course's reference package `attn_ref` —
# and the verdict is reached outside your notebook's kernel. No graded cell depends on the training
# run (while grading, the experiment runs in a tiny version). Restart the kernel and run all cells
# before you submit: the notebook must run top to bottom.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import math
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
import torch.nn.functional as F
from tqdm.auto import tqdm

import attn_ref
from attn_ref import complexity
from attn_ref.grading import expect_answer, expect_defined, expect_close, expect_equal, expect_shape, grade
from attn_ref.models import make_attention, mobilenet_v2, resnet50
from attn_ref.plots import block_diagram

torch.manual_seed(0)
torch.set_printoptions(precision=4, sci_mode=False)
# %matplotlib inline

# %% [markdown]
# ## 1. Where each module goes
#
# ### 1.1 The ResNet bottleneck
#
# A ResNet-50 bottleneck computes a *residual branch* $\mathcal{F}(X)$ — a $1\times1$ convolution
# that reduces the width to $w$, a $3\times3$ convolution, and a $1\times1$ convolution that expands
# to $4w$, each followed by BatchNorm (and the first two by a ReLU $\delta$) — and adds it to the
# input (or to a $1\times1$ projection of it when the shape changes):
#
# $$ Y = \delta\big(A(\mathcal{F}(X)) + \mathrm{shortcut}(X)\big), \qquad
# \mathcal{F}(X) = \mathrm{BN}_3\,\mathrm{conv}_3\,\delta\,\mathrm{BN}_2\,\mathrm{conv}_2\,\delta\,\mathrm{BN}_1\,\mathrm{conv}_1\,X. \tag{1}$$
#
# The attention module $A$ goes **on the residual branch, after its last BatchNorm and before the
# addition**: the SE paper's Fig. 3 (SE-ResNet module), CBAM's Fig. 3 (CBAM integrated with a
# ResBlock), ECA's and CA's released ResNet code all agree. So the module re-weights only what the
# block *adds*; the identity path passes through untouched, which keeps the gradient highway of a
# deep ResNet intact. The SE paper's ablation (Table 14, top-1 error of SE-ResNet-50) finds this
# "standard" placement (22.28 %) about as good as putting SE before the block, SE-PRE (22.23 %), or
# on the identity, SE-Identity (22.20 %), which are even slightly better; putting it *after* the
# addition, "POST", is worst. (Table numbers of SENet's extended arXiv:1709.01507 version; the
# figures of all papers quoted in the course, with their tables, are listed in `FACTS.md`.)

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-01", "locked": true, "schema_version": 3, "solution": false, "task": false}
fig, axes = plt.subplots(2, 1, figsize=(15, 4.6))
block_diagram([("x", "C_in×H×W"), ("conv1 1×1\nBN1, δ", "w×H×W"), ("conv2 3×3\nBN2, δ", "w×H/s×W/s"),
               ("conv3 1×1\nBN3", "4w×H/s×W/s"), ("attention A\n(SE/ECA/CBAM/CA)", "4w×H/s×W/s"),
               ("+ shortcut(x)", "4w×H/s×W/s"), ("δ", "4w×H/s×W/s")],
              title="ResNet bottleneck: attention on the residual branch, after BN3, before the addition",
              skip_to=5, ax=axes[0])
block_diagram([("x", "C_in×H×W"), ("1×1 expand\nBN, ReLU6", "tC_in×H×W"), ("3×3 depthwise\nBN, ReLU6", "tC_in×H/s×W/s"),
               ("attention A\n(CA)", "tC_in×H/s×W/s"), ("1×1 project\nBN (linear)", "C_out×H/s×W/s"),
               ("+ x (if s=1,\nC_in=C_out)", "C_out×H/s×W/s")],
              title="MobileNetV2 inverted residual: CA on the expanded width, after the depthwise convolution",
              skip_to=5, ax=axes[1])
fig.tight_layout(); plt.show()


# %% [markdown]
# ### 1.2 The MobileNetV2 inverted residual
#
# MobileNetV2's block is *inverted*: it expands a thin input by a factor $t$ (6 in most blocks),
# filters each channel with a $3\times3$ depthwise convolution, and projects back with a *linear*
# $1\times1$ convolution (no ReLU6 after it). The CA paper's MobileNetV2 + CA (its Fig. 4 and the
# released `mbv2_ca.py`) inserts the module **on the expanded width, right after the depthwise
# convolution** and its BatchNorm + ReLU6, in every block with $t\ne1$. There the module sees
# $tC_{in}$ channels at full spatial resolution, the richest representation in the block, and the
# projection that follows can mix the re-weighted channels. That placement is what reproduces the
# paper's 3.95 M parameters (section 2); putting the module on the output instead gives another
# count. `attn_ref.models.mobilenet_v2(..., attention_position="output")` builds that variant.
#
# ### 1.3 Exercise 1: a bottleneck with a pluggable module (4 points)
#
# The layers are created for you, with the names of `attn_ref.models.Bottleneck` (the hidden test
# loads weights by these names, so keep them). Write `forward` following eq. (1): the attention
# module is whatever `nn.Module` was passed in (`nn.Identity()` by default), applied after `bn3` and
# before the addition; the stride sits on the $3\times3$ convolution, as in the released PyTorch
# code of all four papers.

# %% nbgrader={"grade": false, "grade_id": "bottleneck", "locked": false, "schema_version": 3, "solution": true, "task": false}
class Bottleneck(nn.Module):
    """ResNet bottleneck with an attention module on the residual branch, eq. (1)."""

    def __init__(self, in_channels: int, width: int, stride: int = 1, attention: nn.Module | None = None):
        super().__init__()
        out_channels = 4 * width
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.attention = attention if attention is not None else nn.Identity()
        self.downsample = None                     # the shortcut's 1x1 projection, when needed
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.attention(self.bn3(self.conv3(out)))
        return self.relu(out + identity)
        ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_bottleneck", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("network.bottleneck", Bottleneck)
### END HIDDEN TESTS
torch.manual_seed(0)
x = torch.randn(2, 16, 6, 5, dtype=torch.float64)
block = Bottleneck(16, 4, stride=2).double().eval()
expect_shape(block(x), (2, 16, 3, 3), "Bottleneck(16, 4, stride=2)(x).shape",
             hint="the stride of conv2 halves H and W (rounded up); the shortcut must match it.")


class Recorder(nn.Module):
    """An 'attention module' that keeps its input and returns it unchanged."""
    def forward(self, t):
        self.seen = t.clone()
        return t


class Zero(nn.Module):
    """An 'attention module' that switches the residual branch off."""
    def forward(self, t):
        return torch.zeros_like(t)


rec = Recorder()
block = Bottleneck(16, 4, attention=rec).double().eval()     # stride 1, 16 = 4 * 4: no projection
with torch.no_grad():
    y = block(x)
    branch = block.bn3(block.conv3(F.relu(block.bn2(block.conv2(F.relu(block.bn1(block.conv1(x))))))))
expect_close(rec.seen, branch, "what the attention module sees",
             hint="apply self.attention to bn3(conv3(...)): after the last BatchNorm, on the branch only.")
expect_close(y, F.relu(branch + x), "output with an identity-like module",
             hint="add the identity after the attention module, then apply the final ReLU.")
# With the branch switched off a residual block reduces to relu(shortcut(x)) = relu(x) here:
# the attention module must not touch the identity path.
block = Bottleneck(16, 4, attention=Zero()).double().eval()
with torch.no_grad():
    expect_close(block(x), F.relu(x), "branch switched off by the module",
                 hint="the module multiplies the branch only; x is added after it, untouched.")
# Random weights loaded into your module, on the hidden check's own shapes (earlier steps are
# replaced by the reference ones here, as when you submit).
expect_answer(Bottleneck, "network.bottleneck", "Bottleneck with random weights")
print("Every visible test of this step passes; it earns its 4 points when the hidden tests agree.")

# %% [markdown]
# `attn_ref.models.resnet50(attention)` and `mobilenet_v2(attention)` build the two networks with
# one module per block from `make_attention(kind, channels)`. Check that your block and the
# reference agree inside a full stage, with SE as the module:

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-02", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
ref = attn_ref.models.Bottleneck(64, 16, stride=2, attention=make_attention("se", 64, reduction=4)).double().eval()
mine = Bottleneck(64, 16, stride=2, attention=make_attention("se", 64, reduction=4)).double().eval()
mine.load_state_dict(ref.state_dict())
x = torch.randn(1, 64, 9, 12, dtype=torch.float64)
with torch.no_grad():
    print("your block == attn_ref's block (SE inside, stride 2):", torch.allclose(mine(x), ref(x), atol=1e-10))

# %% [markdown]
# ## 2. What the modules cost in a network
#
# ### 2.1 The papers' tables, reproduced
#
# Every paper reports the parameters of its attention-equipped ResNet-50 (and CA's of MobileNetV2),
# but they do not count alike:
#
# * **SE** (Tables 10, 13, 15 and 16), **CBAM** (Table 4) and **CA** (its official README) give millions as
#   $10^6$. SE's released Caffe models have biases in both fully connected layers; CBAM's official
#   code has biases in its MLP and a BatchNorm after the $7\times7$ convolution.
# * **ECA** (Table 3 of CVPR 2020 / arXiv v4) gives "M" in units of $2^{20} = 1{,}048{,}576$ — its ResNet-50 has 24.37 M,
#   which is $25{,}557{,}032 / 2^{20}$ — and its SE-ResNet-50 (26.77 M) is the *bias-free* SE of
#   the common PyTorch port. ECA-ResNet-50's released kernel sizes are $k = 3, 5, 5, 7$ per stage
#   (80 parameters in all, too few to move the count).
# * All count the classifier (1000 classes) and none counts BatchNorm's running statistics
#   (buffers, not parameters).
#
# Multiply-adds are counted for one $224\times224$ image by PyTorch's `FlopCounterMode`
# (`attn_ref.complexity.count_macs`, on the `meta` device: shapes only, no arithmetic; the
# networks below are built there too, so no weights are drawn), which sees
# convolutions and matrix products but not the element-wise gate products. The papers' "GFLOPs"
# are multiply-adds too, but ResNet-50 is quoted at 3.86 G (SE, CBAM: stride on the first $1\times1$
# convolution, as in the original Caffe ResNet; `resnet50(stride_in_1x1=True)` gives 3.858 G) or
# 4.1 G (stride on the $3\times3$ convolution, as in the PyTorch code and in `attn_ref`'s default).

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-03", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
rows = [  # (network, builder, paper's figure, its unit)
    ("ResNet-50",              lambda: resnet50(),                      "24.37 M (ECA, 2^20); 25.6 M (SE, 10^6)", "2^20"),
    ("SE-ResNet-50, no bias",  lambda: resnet50("se", bias=False),      "26.77 M (ECA, 2^20)", "2^20"),
    ("SE-ResNet-50, biases",   lambda: resnet50("se"),                  "28.1 M (SE); 28.09 M (CBAM)", "1e6"),
    ("ECA-ResNet-50 (3,5,5,7)", lambda: resnet50("eca"),                "24.37 M (ECA, 2^20)", "2^20"),
    ("CBAM-ResNet-50",         lambda: resnet50("cbam"),                "28.09 M (CBAM)", "1e6"),
    ("MobileNetV2",            lambda: mobilenet_v2(),                  "3.5 M (CA)", "1e6"),
    ("MobileNetV2 + CA",       lambda: mobilenet_v2("ca"),              "3.95 M (CA)", "1e6"),
]
print(f"{'network':25} {'parameters':>11} {'/10^6':>7} {'/2^20':>7} {'GMACs':>6}  published")
macs_of = {}
for name, build, published, unit in rows:
    with torch.device("meta"):   # built as shapes only: no weights are drawn or stored
        net = build()
    n = complexity.count_params(net)
    macs = complexity.count_macs(net, (3, 224, 224))
    macs_of[name] = macs
    print(f"{name:25} {n:11,d} {n / 1e6:7.2f} {n / 2**20:7.2f} {macs / 1e9:6.3f}  {published}")
plain = macs_of["ResNet-50"]
print(f"added to ResNet-50's {plain / 1e9:.3f} G multiply-adds: " + ", ".join(
    f"{m.split('-')[0]} {macs_of[k] - plain:,d} ({100 * (macs_of[k] - plain) / plain:.3f} %)"
    for m, k in (("SE-", "SE-ResNet-50, biases"), ("ECA-", "ECA-ResNet-50 (3,5,5,7)"), ("CBAM-", "CBAM-ResNet-50"))))

# %% [markdown]
# Every published figure is matched once its convention is known: ECA's 24.37 M and 26.77 M are the
# $2^{20}$ column, the others the $10^6$ column. The multiply-adds confirm the papers' claim that the
# modules are almost free in arithmetic: the last line gives what each adds to ResNet-50's, in
# multiply-adds and as a percentage (CBAM's include its $7\times7$ spatial convolutions). The element-wise gate products,
# which the counter does not see, add $CHW$ multiplications per gate: small in MACs, but each is a
# memory-bound pass over the whole feature map, which costs real time on a CPU (section 3).
#
# ### 2.2 Counting a stage in closed form
#
# The closed forms of chapters 1–4, with $C$ the width the module acts on:
#
# | module | parameters of one block | where |
# |---|---|---|
# | SE, biases | $2CC' + C' + C$, $C' = \lfloor C/16\rfloor$ | ResNet: $C = 4w$, the block's output |
# | ECA | $k$ (one shared 1-D kernel, no bias) | ResNet: $k = 3, 5, 5, 7$ by stage (released) |
# | CA | $mC + m + 2m + 2(mC + C)$, $m = \max(8, \lfloor C/32\rfloor)$ | MobileNetV2: $C = t\,C_{in}$, expanded width |
#
# ResNet-50's stages conv2_x … conv5_x have 3, 4, 6, 3 blocks of bottleneck widths
# $w = 64, 128, 256, 512$, so the modules act on $C = 256, 512, 1024, 2048$ channels.
#
# **Exercise 2 (1 point).** Set `se_conv3_params` to the number of parameters the SE blocks (with
# biases, $r = 16$) add to stage conv3_x of SE-ResNet-50. Compute it in the cell (write the
# arithmetic, not just the number).

# %% nbgrader={"grade": false, "grade_id": "se_conv3", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
C = 4 * 128                                    # SE acts on the block's output width
hidden = C // 16
se_conv3_params = 4 * (2 * C * hidden + hidden + C)
### END SOLUTION

# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_se_conv3", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("network.se_conv3", se_conv3_params)
### END HIDDEN TESTS
expect_defined("se_conv3_params")
expect_answer(se_conv3_params, "network.se_conv3", "se_conv3_params")
print("Every visible test of this step passes; it earns its 1 point when the hidden tests agree.")

# %% [markdown]
# **Exercise 3 (1 point).** Set `eca_stage_params` to a list of four integers: the parameters ECA
# adds to each of conv2_x, conv3_x, conv4_x, conv5_x in the released ECA-ResNet-50. Their sum is
# the paper's "80 parameters".

# %% nbgrader={"grade": false, "grade_id": "eca_stages", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
eca_stage_params = [blocks * k for blocks, k in zip([3, 4, 6, 3], [3, 5, 5, 7])]
### END SOLUTION

# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_eca_stages", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("network.eca_stages", eca_stage_params)
### END HIDDEN TESTS
expect_defined("eca_stage_params")
expect_equal(len(eca_stage_params), 4, "len(eca_stage_params)", hint="one number per stage, conv2_x to conv5_x.")
expect_answer(eca_stage_params, "network.eca_stages", "eca_stage_params",
              labels=("conv2_x", "conv3_x", "conv4_x", "conv5_x"))
print("Every visible test of this step passes; it earns its 1 point when the hidden tests agree.")


# %% [markdown]
# **Exercise 4 (2 points).** Write `ca_block_params(in_channels, expansion, reduction=32)`: the
# parameters of the CA module inside one MobileNetV2 block with that input width and expansion
# factor $t$ (for $t\ne1$), placed as in section 1.2.

# %% nbgrader={"grade": false, "grade_id": "ca_block", "locked": false, "schema_version": 3, "solution": true, "task": false}
def ca_block_params(in_channels: int, expansion: int, reduction: int = 32) -> int:
    """Parameters of the CA module of one MobileNetV2 inverted residual block."""
    ### BEGIN SOLUTION
    C = in_channels * expansion                 # CA acts on the expanded width
    m = max(8, C // reduction)
    return C * m + m + 2 * m + 2 * (m * C + C)  # conv1 + bias, bn1, conv_h and conv_w + biases
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_ca_block", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("network.ca_block", ca_block_params)
### END HIDDEN TESTS
# The first block with t = 6 expands 16 channels to 96: m = max(8, 96 // 32) = 8, so
# conv1 96*8 + 8, bn1 2*8, conv_h and conv_w 2 * (8*96 + 96).
expect_equal(ca_block_params(16, 6), 96 * 8 + 8 + 16 + 2 * (8 * 96 + 96), "ca_block_params(16, 6)",
             hint="C = 16 * 6 = 96 channels, m = max(8, 96 // 32) = 8; bn1 has 2 m parameters.")
# 64 channels expanded 6 times: C = 384, m = 384 // 32 = 12 with CA's default r = 32.
expect_equal(ca_block_params(64, 6), 384 * 12 + 12 + 2 * 12 + 2 * (12 * 384 + 384), "ca_block_params(64, 6)",
             hint="CA's default reduction is r = 32: m = max(8, 384 // 32) = 12.")
print("Every visible test of this step passes; it earns its 2 points when the hidden tests agree.")

# %% [markdown]
# Your function, summed over every block of MobileNetV2 with $t \ne 1$, against the difference of
# the two networks' counts:

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-04", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
in_ch, total = 32, 0
for t, c, n, s in attn_ref.models.MOBILENET_V2_SETTINGS:
    for i in range(n):
        if t != 1:
            total += ca_block_params(in_ch, t)
        in_ch = c
diff = complexity.count_params(mobilenet_v2("ca")) - complexity.count_params(mobilenet_v2())
print(f"sum of ca_block_params over the blocks: {total:,d}")
print(f"MobileNetV2 + CA minus MobileNetV2:     {diff:,d}")

# %% [markdown]
# ## 3. An experiment: does attention help when *where* matters?
#
# ImageNet is out of reach on a CPU, so we ask a smaller question. scikit-learn ships 1,797
# handwritten digits of $8\times8$ pixels (`sklearn.datasets.load_digits`). We upscale each to
# $16\times16$ and paste it at a random position on a $32\times32$ canvas of Gaussian noise: a
# network must now *find* the digit before it can read it, and a module that can say where to
# look (CBAM's spatial map, CA's row and column gates) has something to do.
#
# The network is a tiny ResNet: a $3\times3$ stem with 16 channels, then two basic residual blocks
# (two $3\times3$ convolutions each, stride 2, widths 32 and 32) with the attention module on the
# branch after the last BatchNorm, exactly as in eq. (1), then global average pooling and a linear
# classifier. SE and CBAM use $r = 8$ (with $C = 32$, $r = 16$ would leave 2 hidden units), ECA its
# adaptive $k$, CA its defaults ($m = \max(8, 32/32) = 8$). Each configuration is trained with
# AdamW and a one-cycle learning rate, on the training and test images counted below, over several
# seeds (two in the short experiment, three in the full one; the cell that trains prints which ran).

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-05", "locked": true, "schema_version": 3, "solution": false, "task": false}
from sklearn.datasets import load_digits

torch.set_num_threads(1)   # these small layers gain nothing from a second thread, and on a busy
                           # machine a second thread waits at every parallel region (many times slower)
GRADING = os.environ.get("NBGRADER_EXECUTION") is not None   # while grading: a tiny run only
# The full experiment (3 seeds x 10 epochs, 15 trainings) takes minutes, much longer on a busy
# machine: set FULL_EXPERIMENT = True here (or ATTN_FULL_EXPERIMENT=1 in the environment) to run it.
FULL_EXPERIMENT = os.environ.get("ATTN_FULL_EXPERIMENT") == "1" and not GRADING


def digits_on_canvas(canvas=32, digit=16, noise=0.15, seed=0):
    '''Digits upscaled to digit x digit at random positions on a noisy canvas.
    Returns images (N, 1, canvas, canvas), labels (N,), top-left corners (N, 2).'''
    d = load_digits()
    small = torch.tensor(d.images, dtype=torch.float32)[:, None] / 16.0              # (N, 1, 8, 8)
    big = F.interpolate(small, size=(digit, digit), mode="bilinear", align_corners=False)
    rng = np.random.default_rng(seed)
    images = torch.from_numpy(rng.normal(0, noise, (len(big), 1, canvas, canvas)).astype(np.float32))
    corners = rng.integers(0, canvas - digit + 1, size=(len(big), 2))
    for i, (r, c) in enumerate(corners):
        images[i, :, r:r + digit, c:c + digit] += big[i]
    return images, torch.tensor(d.target), torch.from_numpy(corners)


images, labels, corners = digits_on_canvas()
order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
train_idx, test_idx = order[:1200], order[1200:]
if GRADING:
    train_idx, test_idx = train_idx[:128], test_idx[:64]
print(f"{len(train_idx)} training and {len(test_idx)} test images of shape {tuple(images.shape[1:])}")

fig, axes = plt.subplots(1, 8, figsize=(12, 1.8))
for ax, i in zip(axes, test_idx[:8].tolist()):
    ax.imshow(images[i, 0], cmap="gray"); ax.set_title(f"label {labels[i].item()}", fontsize=8); ax.axis("off")
plt.show()


# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-06", "locked": true, "schema_version": 3, "solution": false, "task": false}
class BasicBlock(nn.Module):
    '''Two 3x3 convolutions; the attention module on the branch after the last BatchNorm (eq. 1).'''

    def __init__(self, cin, cout, stride, kind):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        kwargs = {"se": dict(reduction=8), "cbam": dict(reduction=8)}.get(kind, {})
        self.attention = make_attention(kind, cout, **kwargs)
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.attention(self.bn2(self.conv2(out)))
        return F.relu(out + self.shortcut(x))


class TinyNet(nn.Module):
    def __init__(self, kind=None, width=16):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.block1 = BasicBlock(width, 2 * width, 2, kind)        # 32 x 32 -> 16 x 16
        self.block2 = BasicBlock(2 * width, 2 * width, 2, kind)    # 16 x 16 -> 8 x 8
        self.fc = nn.Linear(2 * width, 10)

    def forward(self, x):
        return self.fc(self.block2(self.block1(self.stem(x))).mean(dim=(2, 3)))


def train(kind, seed, epochs, batch=64, lr=1e-2):
    torch.manual_seed(seed)
    net = TinyNet(kind)
    opt = torch.optim.AdamW(net.parameters(), lr, weight_decay=1e-4)
    steps = epochs * math.ceil(len(train_idx) / batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
    start = time.perf_counter()
    net.train()
    for _ in range(epochs):
        perm = train_idx[torch.randperm(len(train_idx))]
        for i in range(0, len(perm), batch):
            idx = perm[i:i + batch]
            loss = F.cross_entropy(net(images[idx]), labels[idx])
            opt.zero_grad(); loss.backward(); opt.step(); sched.step()
    seconds = time.perf_counter() - start
    net.eval()
    with torch.no_grad():
        acc = (net(images[test_idx]).argmax(1) == labels[test_idx]).float().mean().item()
    return net, acc, seconds


# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-07", "locked": true, "schema_version": 3, "solution": false, "task": false}
KINDS = [None, "se", "eca", "cbam", "ca"]
SEEDS = [0] if GRADING else [0, 1, 2] if FULL_EXPERIMENT else [0, 1]
EPOCHS = 1 if GRADING else 10 if FULL_EXPERIMENT else 6
results, models = {}, {}
print(f"{len(KINDS) * len(SEEDS)} trainings of {EPOCHS} epochs over {len(SEEDS)} seed(s) "
      f"({'full' if FULL_EXPERIMENT else 'short'} experiment); after the first training the progress bar "
      "shows the time left")
started = time.perf_counter()
with tqdm(total=len(KINDS) * len(SEEDS), desc="training") as bar:
    for kind in KINDS:
        for seed in SEEDS:
            net, acc, seconds = train(kind, seed, EPOCHS)
            results.setdefault(kind, []).append((acc, seconds))
            models[kind] = net                      # keep the last seed's model for the maps
            bar.set_postfix(module=str(kind), acc=f"{acc:.3f}")
            bar.update()
print(f"{len(KINDS) * len(SEEDS)} trainings took {time.perf_counter() - started:.0f} s in all")

print(f"{'module':6} {'test accuracy':>17} {'parameters':>11} {'extra':>6} {'train time':>11}")
base = complexity.count_params(TinyNet(None))
for kind in KINDS:
    acc = np.array([a for a, _ in results[kind]]); sec = np.array([s for _, s in results[kind]])
    n = complexity.count_params(TinyNet(kind))
    print(f"{str(kind):6} {100 * acc.mean():8.1f} ± {100 * acc.std(ddof=1) if len(acc) > 1 else 0:4.1f} % "
          f"{n:11,d} {n - base:6d} {sec.mean():9.1f} s")
means = {kind: 100 * np.mean([a for a, _ in results[kind]]) for kind in KINDS}
best, worst = max(means, key=means.get), min(means, key=means.get)
gap = means[best] - means[worst]
print(f"highest mean: {best} ({means[best]:.1f} %), lowest: {worst} ({means[worst]:.1f} %), gap {gap:.1f} points")
if len(SEEDS) > 1:
    spread = max(100 * np.std([a for a, _ in results[kind]], ddof=1) for kind in KINDS)
    print(f"largest standard deviation over seeds: {spread:.1f} points; the gap is "
          f"{'within' if gap <= 2 * spread else 'more than'} two of them")

# %% [markdown]
# **Reading the table.** Each row is the mean test accuracy over the seeds, ± the standard
# deviation between seeds, the parameter count, the parameters the module adds, and the mean
# training time of one run (which depends on the machine and its load). The first printed line
# says how many trainings of how many epochs ran, the line under the progress bar how long they
# took on this machine (several times longer on a busy one). The full experiment (more seeds and
# epochs) is opt-in, in the cell that builds the data.
#
# Read the table with its error bars: the last lines say which module scored highest and which
# lowest in this run, and whether the gap between them is larger than two standard deviations of
# the spread between seeds. When it is not, this experiment does not show that any module helps
# (or hurts) here, whatever the order of the rows. The extra parameters are tiny (the `extra`
# column). On ImageNet the papers report gains of 0.5–2 points of top-1 accuracy for deep networks
# trained for 90+ epochs; a two-block network trained for a few epochs on 1,200 images is a
# different regime, and with a few seeds and a few hundred test images, unless the last line says
# the gap is more than two standard deviations, the honest summary is that this experiment does
# not separate the modules.

# %% [markdown]
# ### 3.1 Where do the maps point?
#
# CBAM's spatial map $M_s$ and CA's $a^h$, $a^w$ are the two gates that can say *where*. Below, for
# a few test images, the maps of the first block (at $16\times16$, half the canvas resolution) of
# the models just trained, with the digit's true box drawn in. For CA each channel has its own
# $a^h$ and $a^w$: we plot their mean over channels, and the outer product $a^h (a^w)^\top$ as a map.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-08", "locked": true, "schema_version": 3, "solution": false, "task": false}
show = test_idx[:4].tolist()
cbam, ca = models["cbam"], models["ca"]
with torch.no_grad():
    cbam(images[show]); ca(images[show])
m_s = cbam.block1.attention.maps["M_s"][:, 0]                      # (4, 16, 16)
a_h = ca.block1.attention.maps["a_h"].mean(1)[:, :, 0]             # (4, 16), mean over channels
a_w = ca.block1.attention.maps["a_w"].mean(1)[:, 0, :]             # (4, 16)

fig, axes = plt.subplots(3, len(show), figsize=(2.6 * len(show), 7.2))
for j, i in enumerate(show):
    r, c = (corners[i] / 2).tolist()                               # the digit's box at 16 x 16
    box = lambda ax: ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), 8, 8, fill=False, ec="cyan", lw=1.5))
    axes[0, j].imshow(images[i, 0], cmap="gray"); axes[0, j].set_title(f"label {labels[i].item()}", fontsize=9)
    axes[1, j].imshow(m_s[j], cmap="magma"); box(axes[1, j]); axes[1, j].set_title("CBAM M_s", fontsize=9)
    axes[2, j].imshow(torch.outer(a_h[j], a_w[j]), cmap="magma"); box(axes[2, j])
    axes[2, j].set_title("CA: mean a^h ⊗ mean a^w", fontsize=9)
    for ax in axes[:, j]:
        ax.axis("off")
fig.tight_layout(); plt.show()

# %% [markdown]
# A number to go with the pictures: the share of each map's total inside the digit's box, against
# the box's share of the area ($8\times8$ of $16\times16$, 25 %). A map that ignores position scores
# about 25 %; a map that points at the digit scores more.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-09", "locked": true, "schema_version": 3, "solution": false, "task": false}
idx = test_idx.tolist()
with torch.no_grad():
    cbam(images[idx]); ca(images[idx])
m_s = cbam.block1.attention.maps["M_s"][:, 0]
a_map = ca.block1.attention.maps["a_h"].mean(1) * ca.block1.attention.maps["a_w"].mean(1)   # (N, 16, 16)
inside = torch.zeros_like(m_s, dtype=torch.bool)
for n, i in enumerate(idx):
    r, c = (corners[i] // 2).tolist()
    inside[n, r:r + 8, c:c + 8] = True
shares = {}
for name, m in (("CBAM M_s", m_s), ("CA a^h a^w", a_map)):
    share = (m * inside).sum((1, 2)) / m.sum((1, 2))
    shares[name] = share
    print(f"{name:11}: {100 * share.mean():.1f} % of the map inside the digit's box "
          f"(box = 25.0 % of the area), {share.mean() / 0.25:.2f} times a position-blind map's share; "
          f"range over images {100 * share.min():.1f}–{100 * share.max():.1f} %; "
          f"above 25 % on {int((share > 0.25).sum())} of {len(share)} images")
(hi, s_hi), (lo, s_lo) = sorted(shares.items(), key=lambda kv: -float(kv[1].mean()))
better = int((s_hi > s_lo).sum())
print(f"{hi} puts more of itself inside the box than {lo} on {better} of {len(s_hi)} images")

# %% [markdown]
# **What the maps show, honestly.** The pictures and the numbers printed above tell different
# parts of the story. CA's mean $a^h\,(a^w)^\top$ can only be a blurred cross: a gate per row and
# per column brightens the rows and columns the digit occupies, never a sharp blob. CBAM's $M_s$
# responds to the strokes of the digit, but also to the border of the canvas, where its $7\times7$
# convolution meets the zero padding — a response to padding, not to content. Since both maps are
# sigmoids, every value stays above zero, so even a map that clearly reacts to the digit keeps part
# of its total outside the box. How far above the 25 % of a position-blind map each one got in this
# run, and which of the two points more at the digit, is in the printed lines; in our runs the
# answer changed with the number of epochs and the seed, which is itself the lesson: a small
# experiment on a few hundred images does not rank the modules' maps. Whether either module helped
# accuracy here is in the table's last line (compare the plain network's row); nothing in the loss
# asks for a sharp spatial gate.
# Averaging CA's gates over channels also hides channels that may localise better than the mean;
# plot single channels (`maps["a_h"][:, c]`) to look further.

# %% [markdown]
# ## 4. Pitfalls
#
# * **After the addition.** Applying the module to $\mathcal{F}(X) + X$ re-weights the identity
#   path too; a gate below 1 then shrinks the signal at every block and deep networks train worse
#   (the SE paper's "POST" variant, Table 14). The hidden test of exercise 1 recognises it, and
#   the variants below.
# * **Before the last BatchNorm.** $\mathrm{BN}_3(A(\cdot))$ lets BatchNorm undo much of a
#   channel gate (a per-channel scale is exactly what BatchNorm's normalisation removes).
# * **On the identity path.** $\mathcal{F}(X) + A(X)$ gates the shortcut instead of the branch.
# * **The final ReLU.** A bottleneck ends with $\delta$ after the addition; MobileNetV2's block does
#   not (its projection is linear), so code moved between the two gets this wrong both ways.
# * **Which width.** In a bottleneck the module acts on $4w$ channels (the block's output), not the
#   bottleneck width $w$; in MobileNetV2 + CA on the expanded width $tC_{in}$.
# * **Counting conventions.** $10^6$ against $2^{20}$ (a 4.9 % difference), biases or none,
#   BatchNorm scale and shift (parameters) against running statistics (buffers), the classifier in
#   or out, released kernel sizes against the rule: state all of them when you quote a count.
# * **Multiply-adds.** Counters see convolutions and matrix products only. The gate products,
#   pooling and activations are invisible to them but dominate the run time of these modules.
#
# ## 5. Summary
#
# | where | block | module on | count (one block) |
# |---|---|---|---|
# | ResNet-50 bottleneck | $\delta(A(\mathrm{BN}_3\,\mathrm{conv}_3\cdots) + \mathrm{shortcut}(X))$ | $4w$ channels | SE $2CC'+C'+C$; ECA $k$; CBAM $2CC'+C'+C+2\cdot7^2+2$ |
# | MobileNetV2 block, $t\ne1$ | after depthwise conv + BN + ReLU6 | $tC_{in}$ channels | CA $3mC + 3m + 2C$ |
#
# **References**
#
# * J. Hu, L. Shen, G. Sun. *Squeeze-and-Excitation Networks.* CVPR 2018; TPAMI 2020 (Fig. 3, Tables 10, 13–16).
# * Q. Wang et al. *ECA-Net: Efficient Channel Attention for Deep Convolutional Neural Networks.*
#   CVPR 2020 / arXiv v4 (Table 3; counts in units of $2^{20}$).
# * S. Woo, J. Park, J.-Y. Lee, I. S. Kweon. *CBAM: Convolutional Block Attention Module.* ECCV 2018
#   (Fig. 3, Table 4).
# * Q. Hou, D. Zhou, J. Feng. *Coordinate Attention for Efficient Mobile Network Design.* CVPR 2021
#   (Fig. 4).
# * K. He et al. *Deep Residual Learning for Image Recognition.* CVPR 2016; M. Sandler et al.
#   *MobileNetV2: Inverted Residuals and Linear Bottlenecks.* CVPR 2018.
# * Our reference: `attn_ref/models.py`, `attn_ref/complexity.py`; the hidden tests of this chapter:
#   `attn_ref/grading/checks_network.py`.

# %% [markdown]
# ## Before you submit
#
# The cell below lists the graded steps of this chapter with their points, and whether each step's visible tests passed when they last ran in this session (*Run → Run All Cells* runs them all; it goes on past the steps you have not written yet). Visible tests that pass are a good sign, not the grade: the grader runs each step's hidden tests when you submit.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "summary", "locked": true, "schema_version": 3, "solution": false, "task": false}
from attn_ref.grading import summary

summary("network.ipynb")
