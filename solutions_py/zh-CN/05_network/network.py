# %% [markdown]
# # 第 5 章　网络中的注意力
#
# *attention-course · 第 5 章 · 约 60 分钟（第 3 节的小实验会用进度条显示剩余时间，并打印所用的时间）*
#
# 第 1–4 章实现了四个注意力模块：挤压与激励（Squeeze-and-Excitation，SE）、ECA（Efficient Channel Attention，一种高效的通道注意力（channel attention））、CBAM 和坐标注意力（Coordinate Attention，CA）。它们都是独立的模块，把一张特征图（feature map）$X\in\mathbb{R}^{C\times H\times W}$ 映射成形状相同的特征图。模块只有放进网络里才能发挥作用，而且放在*哪里*很重要：各篇论文都把它放在 ResNet 瓶颈块（bottleneck）的同一个位置，CA 的论文则把它放在 MobileNetV2 倒残差块（inverted residual）里的一个特定位置。本章：
#
# 1. 把模块放进这两种块，并让你写一个可以插入任意模块的瓶颈块；
# 2. 用 `attn_ref` 中的网络，按每篇论文自己的计数约定，复现论文表格里的参数量，并让你用闭式公式算出一个阶段的参数量；
# 3. 把手写数字放在更大画布上的随机位置，训练带和不带各个模块的小型 CNN，重复多个随机种子，再看看 CBAM 和 CA 的注意力图指向哪里。
#
# **本笔记本怎样评分。** 每个练习是一个含 `raise NotImplementedError()` 的代码单元格，由你替换成自己的代码；它后面是一个锁定的测试单元格。测试单元格里的可见测试检查一个能手算验证的小例子，并告诉你哪里不对。提交后，同一个单元格还会运行隐藏测试：多种形状、随机种子和数据类型，结果与课程的参考实现包 `attn_ref` 比较，判定在你的笔记本内核之外完成。计分单元格都不依赖训练的结果（评分时，实验只运行一个极小的版本）。提交前请重启内核并运行全部单元格：笔记本必须能从头到尾运行。

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
# ## 1. 每个模块放在哪里
#
# ### 1.1 ResNet 瓶颈块
#
# ResNet-50 的瓶颈块先计算*残差分支*（residual branch）$\mathcal{F}(X)$：一个把宽度降到 $w$ 的 $1\times1$ 卷积，一个 $3\times3$ 卷积，一个把宽度扩展到 $4w$ 的 $1\times1$ 卷积，每个卷积后面接 BatchNorm（前两个还接 ReLU $\delta$）；再把它加到输入上（形状改变时，加到输入的 $1\times1$ 投影上）：
#
# $$ Y = \delta\big(A(\mathcal{F}(X)) + \mathrm{shortcut}(X)\big), \qquad
# \mathcal{F}(X) = \mathrm{BN}_3\,\mathrm{conv}_3\,\delta\,\mathrm{BN}_2\,\mathrm{conv}_2\,\delta\,\mathrm{BN}_1\,\mathrm{conv}_1\,X. \tag{1}$$
#
# 注意力模块 $A$ 放在**残差分支上、最后一个 BatchNorm 之后、相加之前**：SE 论文的 Fig. 3（SE-ResNet 模块）、CBAM 的 Fig. 3（CBAM 集成到 ResBlock 中），以及 ECA 和 CA 公开的 ResNet 代码，做法都一样。这样模块只重新加权块*加上去*的那部分；恒等路径原样通过，深层 ResNet 的梯度通路保持完好。SE 论文的消融实验（Table 14，SE-ResNet-50 的 top-1 错误率）发现，这种“标准”放法（22.28 %）和把 SE 放在块之前的 SE-PRE（22.23 %）、放在恒等路径上的 SE-Identity（22.20 %）效果相当，后两者甚至略好；放在相加*之后*的“POST”最差。（表中数字取自 SENet 的扩展版 arXiv:1709.01507；课程引用的所有论文数字及其出处表格都列在 `FACTS.md` 中。）

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
# ### 1.2 MobileNetV2 倒残差块
#
# MobileNetV2 的块是*倒置*的：先把较窄的输入扩展 $t$ 倍（大多数块中为 6），再用 $3\times3$ 深度卷积（depthwise convolution）逐通道滤波，最后用一个*线性*的 $1\times1$ 卷积投影回去（其后没有 ReLU6）。CA 论文的 MobileNetV2 + CA（论文 Fig. 4 和公开的 `mbv2_ca.py`）把模块放在**扩展后的宽度上，紧跟在深度卷积**及其 BatchNorm + ReLU6 之后，每个 $t\ne1$ 的块都有。在这个位置，模块看到的是全空间分辨率下的 $tC_{in}$ 个通道，是块中最丰富的表示，而后面的投影能把重新加权后的通道混合起来。正是这种放法复现了论文的 3.95 M 参数（第 2 节）；把模块放在输出上，得到的是另一个数。`attn_ref.models.mobilenet_v2(..., attention_position="output")` 构建的就是这种变体。
#
# ### 1.3 练习 1：可插入注意力模块的瓶颈块（4 分）
#
# 各层已经替你建好，名字与 `attn_ref.models.Bottleneck` 相同（隐藏测试按这些名字加载权重，所以请保留它们）。按式 (1) 写出 `forward`：注意力模块是传进来的任意 `nn.Module`（默认为 `nn.Identity()`），作用在 `bn3` 之后、相加之前；步长放在 $3\times3$ 卷积上，和四篇论文公开的 PyTorch 代码一致。

# %% nbgrader={"grade": false, "grade_id": "bottleneck", "locked": false, "schema_version": 3, "solution": true, "task": false}
class Bottleneck(nn.Module):
    """残差分支上带注意力模块的 ResNet 瓶颈块，式 (1)。"""

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
        self.downsample = None                     # 捷径上的 1x1 投影（需要时才有）
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
# `attn_ref.models.resnet50(attention)` 和 `mobilenet_v2(attention)` 构建这两个网络，每个块里放一个由 `make_attention(kind, channels)` 生成的模块。下面以 SE 为模块，检查你的块和参考实现放在一个完整阶段里是否一致：

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
# ## 2. 模块在网络中的开销
#
# ### 2.1 复现论文的表格
#
# 每篇论文都报告了加入注意力后 ResNet-50 的参数量（CA 的论文报告的则是 MobileNetV2 的），但各自的计数方式并不相同：
#
# * **SE**（Tables 10、13、15 和 16）、**CBAM**（Table 4）和 **CA**（其官方 README）的“百万”是 $10^6$。SE 公开的 Caffe 模型在两个全连接层里都有偏置；CBAM 的官方代码在 MLP 中有偏置，并在 $7\times7$ 卷积之后接了一个 BatchNorm。
# * **ECA**（CVPR 2020 / arXiv v4 的 Table 3）的“M”以 $2^{20} = 1{,}048{,}576$ 为单位——它的 ResNet-50 为 24.37 M，即 $25{,}557{,}032 / 2^{20}$——而它的 SE-ResNet-50（26.77 M）用的是常见 PyTorch 移植版中*无偏置*的 SE。ECA-ResNet-50 公开的卷积核大小按阶段依次为 $k = 3, 5, 5, 7$（总共 80 个参数，少到影响不了计数）。
# * 它们都计入分类器（1000 类），也都不计 BatchNorm 的滑动统计量（running statistics；它们是缓冲区，不是参数）。
#
# 乘加次数按一张 $224\times224$ 的图像，用 PyTorch 的 `FlopCounterMode` 统计（`attn_ref.complexity.count_macs`，在 `meta` 设备上进行：只有形状，不做算术；下面的网络也在这个设备上构建，所以不会生成任何权重）。它看得到卷积和矩阵乘法，但看不到逐元素的门控乘积。论文中的“GFLOPs”其实也是乘加次数，但 ResNet-50 有两种数：3.86 G（SE、CBAM：步长放在第一个 $1\times1$ 卷积上，和最初的 Caffe ResNet 一样；`resnet50(stride_in_1x1=True)` 给出 3.858 G），或 4.1 G（步长放在 $3\times3$ 卷积上，和 PyTorch 代码以及 `attn_ref` 的默认设置一样）。

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
# 只要知道了各自的约定，每个公开数字都对得上：ECA 的 24.37 M 和 26.77 M 对应 $2^{20}$ 那一列，其余的对应 $10^6$ 那一列。乘加次数印证了论文的说法：这些模块在算术上几乎不花什么。最后一行给出每个模块给 ResNet-50 增加的乘加次数，以及所占的百分比（CBAM 的包括它的 $7\times7$ 空间卷积）。计数器看不到的逐元素门控乘积，每个门控增加 $CHW$ 次乘法：按 MAC 算很少，但每次都要把整张特征图过一遍，受内存带宽限制，在 CPU 上要花实实在在的时间（第 3 节）。
#
# ### 2.2 用闭式公式计算一个阶段
#
# 第 1–4 章的闭式公式，$C$ 为模块作用的宽度：
#
# | 模块 | 一个块的参数量 | 位置 |
# |---|---|---|
# | SE，带偏置 | $2CC' + C' + C$，$C' = \lfloor C/16\rfloor$ | ResNet：$C = 4w$，即块的输出 |
# | ECA | $k$（一个共享的 1 维卷积核，无偏置） | ResNet：按阶段 $k = 3, 5, 5, 7$（公开模型） |
# | CA | $mC + m + 2m + 2(mC + C)$，$m = \max(8, \lfloor C/32\rfloor)$ | MobileNetV2：$C = t\,C_{in}$，扩展后的宽度 |
#
# ResNet-50 的 conv2_x … conv5_x 各阶段分别有 3、4、6、3 个块，瓶颈宽度 $w = 64, 128, 256, 512$，所以模块作用在 $C = 256, 512, 1024, 2048$ 个通道上。
#
# **练习 2（1 分）。** 把 `se_conv3_params` 设为 SE 模块（带偏置，$r = 16$）给 SE-ResNet-50 的 conv3_x 阶段增加的参数量。在单元格里把它算出来（写出算式，不要只写一个数）。

# %% nbgrader={"grade": false, "grade_id": "se_conv3", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
C = 4 * 128                                    # SE 作用在块的输出宽度上
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
# **练习 3（1 分）。** 把 `eca_stage_params` 设为一个由四个整数组成的列表：公开的 ECA-ResNet-50 中，ECA 给 conv2_x、conv3_x、conv4_x、conv5_x 各阶段增加的参数量。它们的和就是论文说的“80 个参数”。

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
# **练习 4（2 分）。** 写出 `ca_block_params(in_channels, expansion, reduction=32)`：给定输入宽度和扩展因子 $t$（$t\ne1$），按第 1.2 节的位置放置时，一个 MobileNetV2 块中 CA 模块的参数量。

# %% nbgrader={"grade": false, "grade_id": "ca_block", "locked": false, "schema_version": 3, "solution": true, "task": false}
def ca_block_params(in_channels: int, expansion: int, reduction: int = 32) -> int:
    """一个 MobileNetV2 倒残差块中 CA 模块的参数量。"""
    ### BEGIN SOLUTION
    C = in_channels * expansion                 # CA 作用在扩展后的宽度上
    m = max(8, C // reduction)
    return C * m + m + 2 * m + 2 * (m * C + C)  # conv1 + 偏置，bn1，conv_h 和 conv_w + 偏置
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
# 把你的函数在 MobileNetV2 所有 $t \ne 1$ 的块上求和，对照两个网络参数量之差：

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
# ## 3. 一个实验：当*位置*重要时，注意力有用吗？
#
# CPU 上跑不了 ImageNet，所以我们问一个小一些的问题。scikit-learn 自带 1,797 张 $8\times8$ 像素的手写数字（`sklearn.datasets.load_digits`）。我们把每张放大到 $16\times16$，贴到一张 $32\times32$ 的高斯噪声画布上的随机位置：网络现在必须先*找到*数字才能认出它，而能指出该看哪里的模块（CBAM 的空间注意力图、CA 的行门控和列门控）就有事可做了。
#
# 网络是一个很小的 ResNet：先是一个 16 通道的 $3\times3$ 主干（stem），然后是两个基本残差块（每个含两个 $3\times3$ 卷积，步长 2，宽度 32 和 32），注意力模块放在分支上最后一个 BatchNorm 之后，和式 (1) 完全一样，最后是全局平均池化（global average pooling）和一个线性分类器。SE 和 CBAM 用 $r = 8$（$C = 32$ 时，$r = 16$ 只剩 2 个隐藏单元），ECA 用它的自适应 $k$，CA 用默认设置（$m = \max(8, 32/32) = 8$）。每种配置都用 AdamW 和单周期（one-cycle）学习率，在下面统计出的训练图像和测试图像上训练，重复多个随机种子（短实验两个，完整实验三个；训练的单元格会打印实际跑了哪一种）。

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
# **怎样读这张表。** 每一行依次是：各随机种子上测试准确率的均值 ± 种子之间的标准差、参数量、模块增加的参数量，以及一次训练的平均用时（取决于机器及其负载）。打印的第一行说明跑了多少次训练、每次多少个轮次（epoch），进度条下面那一行说明这些训练在这台机器上总共花了多久（机器繁忙时要长好几倍）。完整实验（更多种子和轮次）需要主动开启，开关在构建数据的单元格里。
#
# 读这张表要连同误差一起读：最后几行说明本次运行中哪个模块得分最高、哪个最低，以及两者之差是否大于种子间标准差的两倍。如果不大于，那么不管各行的先后顺序如何，这个实验都没有表明哪个模块在这里有帮助（或有害）。额外的参数极少（见 `extra` 列）。在 ImageNet 上，论文报告的是训练 90 个以上轮次的深层网络 top-1 准确率提高 0.5–2 个百分点；一个只有两个块、在 1,200 张图像上训练几个轮次的网络，是完全不同的情形。只用几个种子、几百张测试图像，除非最后一行说差距超过两个标准差，否则诚实的结论是：这个实验区分不出这些模块。

# %% [markdown]
# ### 3.1 注意力图指向哪里？
#
# CBAM 的空间图 $M_s$ 和 CA 的 $a^h$、$a^w$ 是两个能表达*在哪里*的门控。下面对几张测试图像，画出刚训练好的模型第一个块的注意力图（分辨率为 $16\times16$，是画布的一半），并画上数字的真实边框。CA 的每个通道都有自己的 $a^h$ 和 $a^w$：我们画它们在通道上的均值，并把外积 $a^h (a^w)^\top$ 画成一张图。

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
# 再给图片配一个数：每张图的总量中落在数字边框内的比例，对照边框所占的面积比例（$16\times16$ 中的 $8\times8$，即 25 %）。不管位置的图大约得 25 %；指向数字的图得分更高。

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
# **这些图说明了什么（实话实说）。** 上面的图片和打印出的数字各讲了故事的一部分。CA 的平均 $a^h\,(a^w)^\top$ 只能是一个模糊的十字：每行一个、每列一个门控值，能提亮数字所占的行和列，却画不出一个清晰的斑块。CBAM 的 $M_s$ 对数字的笔画有响应，但对画布的边缘也有响应——在那里它的 $7\times7$ 卷积碰到了零填充，这是对填充的响应，而不是对内容的响应。两种图都是 Sigmoid 的输出，每个值都大于零，所以即使一张图明显对数字有反应，它的总量里也总有一部分落在边框之外。本次运行中两者各比不管位置的图的 25 % 高出多少、哪一个更多地指向数字，见打印出的几行；在我们的运行中，答案随轮次数和种子而变，这本身就是教训：在几百张图像上做的小实验，排不出这些模块注意力图的高下。两个模块是否提高了这里的准确率，见表格的最后一行（与不加模块的网络那一行比较）；损失函数里没有任何东西要求一个清晰的空间门控。
# 在通道上平均 CA 的门控，也会掩盖那些可能比均值定位得更准的通道；想进一步看，可以画单个通道（`maps["a_h"][:, c]`）。

# %% [markdown]
# ## 4. 易错点
#
# * **放在相加之后。** 把模块作用在 $\mathcal{F}(X) + X$ 上，恒等路径也会被重新加权；门控值小于 1 时，每个块都会把信号缩小一些，深层网络就更难训练（SE 论文的“POST”变体，Table 14）。练习 1 的隐藏测试能识别这种写法，以及下面几种变体。
# * **放在最后一个 BatchNorm 之前。** $\mathrm{BN}_3(A(\cdot))$ 会让 BatchNorm 抵消掉通道门控的大部分作用（逐通道的缩放恰恰是 BatchNorm 的归一化要去掉的东西）。
# * **放在恒等路径上。** $\mathcal{F}(X) + A(X)$ 门控的是捷径（shortcut），而不是残差分支。
# * **最后的 ReLU。** 瓶颈块在相加之后以 $\delta$ 结尾；MobileNetV2 的块没有（它的投影是线性的），所以在两者之间搬代码，两个方向都容易出错。
# * **作用在哪个宽度上。** 在瓶颈块中，模块作用在 $4w$ 个通道上（块的输出），而不是瓶颈宽度 $w$；在 MobileNetV2 + CA 中，作用在扩展后的宽度 $tC_{in}$ 上。
# * **计数约定。** $10^6$ 还是 $2^{20}$（相差 4.9 %），有没有偏置，BatchNorm 的缩放和平移（参数）还是滑动统计量（缓冲区），算不算分类器，公开的卷积核大小还是按规则算出的：引用参数量时，这些都要交代清楚。
# * **乘加次数。** 计数器只看得到卷积和矩阵乘法。门控乘积、池化和激活函数它们都看不到，却占了这些模块运行时间的大头。
#
# ## 5. 小结
#
# | 位置 | 块 | 模块作用于 | 参数量（一个块） |
# |---|---|---|---|
# | ResNet-50 瓶颈块 | $\delta(A(\mathrm{BN}_3\,\mathrm{conv}_3\cdots) + \mathrm{shortcut}(X))$ | $4w$ 个通道 | SE $2CC'+C'+C$；ECA $k$；CBAM $2CC'+C'+C+2\cdot7^2+2$ |
# | MobileNetV2 块，$t\ne1$ | 深度卷积 + BN + ReLU6 之后 | $tC_{in}$ 个通道 | CA $3mC + 3m + 2C$ |
#
# **参考文献**
#
# * J. Hu, L. Shen, G. Sun. *Squeeze-and-Excitation Networks.* CVPR 2018；TPAMI 2020（Fig. 3，Tables 10、13–16）。
# * Q. Wang et al. *ECA-Net: Efficient Channel Attention for Deep Convolutional Neural Networks.*
#   CVPR 2020 / arXiv v4（Table 3；计数以 $2^{20}$ 为单位）。
# * S. Woo, J. Park, J.-Y. Lee, I. S. Kweon. *CBAM: Convolutional Block Attention Module.* ECCV 2018
#   （Fig. 3，Table 4）。
# * Q. Hou, D. Zhou, J. Feng. *Coordinate Attention for Efficient Mobile Network Design.* CVPR 2021
#   （Fig. 4）。
# * K. He et al. *Deep Residual Learning for Image Recognition.* CVPR 2016；M. Sandler et al.
#   *MobileNetV2: Inverted Residuals and Linear Bottlenecks.* CVPR 2018。
# * 本课程的参考实现：`attn_ref/models.py`、`attn_ref/complexity.py`；本章的隐藏测试：
#   `attn_ref/grading/checks_network.py`。

# %% [markdown]
# ## 提交之前
#
# 下面的单元格列出本章的计分步骤和分值，以及每一步的可见测试在本次会话中最近一次运行时是否通过（*运行 → 运行全部单元格*，即 *Run → Run All Cells*，会运行全部单元格，遇到你还没写的步骤也会继续往下运行）。可见测试通过是个好兆头，但不是成绩：提交后，评分程序会运行每一步的隐藏测试。

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "summary", "locked": true, "schema_version": 3, "solution": false, "task": false}
from attn_ref.grading import summary

summary("network.ipynb")
