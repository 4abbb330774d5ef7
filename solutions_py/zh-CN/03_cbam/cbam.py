# %% [markdown]
# # 第 3 章　CBAM：卷积块注意力模块
#
# *attention-course · 第 3 章 · 约 60 分钟*
#
# 挤压与激励（Squeeze-and-Excitation，SE；第 1 章）决定**看什么**：每个通道一个门控值。它回答不了**看哪里**：一个通道的所有位置都乘以同一个数。**卷积块注意力模块**（Convolutional Block Attention Module，CBAM；Woo、Park、Lee、Kweon，ECCV 2018）在通道门控之后再加一个空间门控：每个位置一个数，由所有通道共用。它还改进了通道门控本身：除了 SE 的平均值，再送入一个最大池化得到的描述子。在 ImageNet 上的 ResNet-50 中，CBAM 把 top-1 错误率从 24.56 % 降到 22.66 %，SE 则是 23.14 %（单裁剪，论文 Table 4；这张表我们未能对照论文原文核实），两者的参数量保留两位小数都是 28.09 M。
#
# 本章逐个公式推导这两个门控，实现它们和整个模块；用一个小计算弄清两个门控的先后顺序是否要紧；看公开代码在哪些地方偏离了论文（以及这对加载它的权重意味着什么）；计算开销；最后看看空间门控在一张真实图像上给出的图。
#
# **本笔记本怎样评分。** 每个练习是一个含 `raise NotImplementedError()` 的代码单元格，由你替换成自己的代码；它后面是一个锁定的测试单元格。测试单元格里的可见测试检查一个能手算验证的小例子，并告诉你哪里不对。提交后，同一个单元格还会运行隐藏测试：多种形状、随机种子和数据类型，结果与课程的参考实现包 `attn_ref` 比较，判定在你的笔记本内核之外完成。评后面的练习时，前面各步换成参考实现而不用你的代码，所以一处失误只扣它自己那一步的分。提交前请重启内核并运行全部单元格：笔记本必须能从头到尾运行。

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
# ## 1. 是什么，为什么
#
# CBAM 的输入是一张中间特征图（feature map）$F \in \mathbb{R}^{C\times H\times W}$（论文用字母 $F$，本课程别处记作 $X$），分两步对它做细化：
#
# 1. **通道注意力（channel attention）**：用两种方式（平均和最大）在所有位置上池化 $F$，把得到的两个 $C$ 维向量送进同一个共享的瓶颈 MLP，相加，再用 Sigmoid 压缩：得到注意力图 $M_c \in (0,1)^{C\times 1\times 1}$，以及 $F' = M_c \otimes F$；
# 2. **空间注意力（spatial attention）**：以同样的两种方式在通道上池化 $F'$，把两张 $H\times W$ 的图叠在一起，用一个 $7\times 7$ 卷积核做卷积，再压缩：得到注意力图 $M_s \in (0,1)^{1\times H\times W}$，以及 $F'' = M_s \otimes F'$。
#
# $\otimes$ 表示逐元素相乘并广播：$M_c$ 复制到每个位置，$M_s$ 复制到每个通道。输出与输入形状相同，所以这个模块可以插在任何地方；论文和 SE 一样，把它放在 ResNet 每个块的残差分支上。

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
# ## 2. 推导
#
# ### 2.1 通道注意力
#
# SE 用通道 $c$ 的平均值 $\frac{1}{HW}\sum_{i,j} F_c(i,j)$ 来概括这个通道。作者认为，最大值提供了互补的线索——特征在某处响应*有多强*，而不是平均有多大——于是两者都用。写出这两个描述子，各在 $\mathbb{R}^C$ 中：
#
# $$ F^c_{avg} = \Big(\tfrac{1}{HW}\textstyle\sum_{i,j} F_c(i, j)\Big)_{c}, \qquad
#    F^c_{max} = \Big(\max_{i,j} F_c(i, j)\Big)_{c}. \tag{1}$$
#
# 两者都通过**同一个**多层感知机（MLP），它的瓶颈有 $C/r$ 个隐藏单元（论文取 $r = 16$）；两个结果相加后，只过一个 Sigmoid：
#
# $$ M_c(F) = \sigma\big(\mathrm{MLP}(F^c_{avg}) + \mathrm{MLP}(F^c_{max})\big), \qquad
#    \mathrm{MLP}(z) = W_2\,\delta(W_1 z + b_1) + b_2, \tag{2}$$
#
# 其中 $W_1 \in \mathbb{R}^{\frac{C}{r}\times C}$，$W_2 \in \mathbb{R}^{C\times \frac{C}{r}}$，$\delta$ 是 ReLU，$\sigma$ 是 Sigmoid。论文写的式 (2) 没有偏置；官方代码有偏置（两个 `nn.Linear` 层），而且*整个* MLP 在每个描述子上各运行一次，所以 $b_2$ 在和中出现两次。MLP 是共享的，所以参数量与 SE 相同。论文 Table 1（ImageNet 上的 ResNet-50，top-1 错误率）比较了几种池化：只用平均 23.14 %，只用最大 23.20 %，两者都用 22.80 %（这些数字我们未能对照论文原文核实）。
#
# 注意力图的形状是 $C\times 1\times 1$，这样它才能在各个位置上广播；对一个批次，返回 `(B, C, 1, 1)`。权重采用 `nn.Linear` 的 `(out_features, in_features)` 排列。
#
# **练习 1（3 分）。** 对一个批次实现式 (1)–(2)。

# %% nbgrader={"grade": false, "grade_id": "channel_gate", "locked": false, "schema_version": 3, "solution": true, "task": false}
def channel_gate(x, w1, b1, w2, b2):
    """式 (1)-(2)：x 的通道注意力图 M_c。

    x: (B, C, H, W)；w1: (C/r, C)；b1: (C/r,)；w2: (C, C/r)；b2: (C,)。
    返回 M_c: (B, C, 1, 1)，每个元素都在 (0, 1) 内。
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
# ### 2.2 空间注意力
#
# 现在改为沿**通道**轴池化：在每个位置 $(i, j)$ 上，对 $F'$ 的 $C$ 个通道取均值和最大值，得到两张 $1\times H\times W$ 的图。把它们叠成一张双通道图像，用一个输出单通道的 $7\times 7$ 滤波器做卷积：
#
# $$ F^s_{avg}(i,j) = \tfrac{1}{C}\textstyle\sum_c F'_c(i,j), \qquad F^s_{max}(i,j) = \max_c F'_c(i,j), \tag{3}$$
#
# $$ M_s(F') = \sigma\big(f^{7\times 7}([F^s_{avg};\, F^s_{max}])\big) \in (0,1)^{1\times H\times W}. \tag{4}$$
#
# 论文 Table 2 发现，沿通道池化优于用一个可学习的 $1\times 1$ 卷积来压缩通道，$k = 7$ 优于 $k = 3$：卷积核大，注意力图才能看到足够的上下文，判断物体在哪里。
#
# 式 (4) 没有规定的几件事，本课程在这里定下来：
#
# * **拼接顺序：$[F^s_{avg};\, F^s_{max}]$，与论文的写法一致。** 权重 `conv_w` 的形状是 `(1, 2, k, k)`；`conv_w[0, 0]` 作用于**均值**图，`conv_w[0, 1]` 作用于**最大值**图。（官方代码的拼接顺序正好相反——见第 3 节。）
# * **四周各补 $(k-1)/2$ 个零**，使 $M_s$ 保持输入的 $H\times W$，且输出像素 $(i, j)$ 以输入像素 $(i, j)$ 为中心。和 PyTorch 中的其他地方一样，这里的“卷积”其实是互相关（`F.conv2d`）：卷积核不翻转。
# * 卷积和 Sigmoid 之间**没有偏置，也没有 BatchNorm**（官方代码在那里有一个 BatchNorm——同样见第 3 节）。
#
# **练习 2（3 分）。** 对一个批次实现式 (3)–(4)，适用于任意奇数的卷积核大小 $k$（从 `conv_w` 读出）。

# %% nbgrader={"grade": false, "grade_id": "spatial_gate", "locked": false, "schema_version": 3, "solution": true, "task": false}
def spatial_gate(x, conv_w):
    """式 (3)-(4)：x 的空间注意力图 M_s，按论文顺序 [mean; max] 拼接，补零，无偏置。

    x: (B, C, H, W)；conv_w: (1, 2, k, k)，k 为奇数；conv_w[0, 0] 作用于通道上的均值，
    conv_w[0, 1] 作用于通道上的最大值。返回 M_s: (B, 1, H, W)，每个元素都在 (0, 1) 内。
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
# ### 2.3 整个模块
#
# 两个门控依次作用，先通道，后空间：
#
# $$ F' = M_c(F) \otimes F, \qquad F'' = M_s(F') \otimes F'. \tag{5}$$
#
# 注意各自的输入：空间注意力图由*细化后的* $F'$ 计算，乘的也是 $F'$，而不是 $F$。
#
# **练习 3（3 分）。** 按下面的签名把这个模块写成一个 `nn.Module`。它的可学习张量必须恰好是式 (2) 和式 (4) 中的那些：共享 MLP $C \to$ `channels // reduction` $\to C$，两个偏置都要有（用 `nn.Linear`、$1\times 1$ 卷积还是直接用 `nn.Parameter`，随你），以及一个从 2 张图到 1 张图、**没有偏置**的 `kernel_size` × `kernel_size` 卷积（`nn.Conv2d(..., bias=False)`，或者一个形状为 `(1, 2, k, k)` 的裸参数）。不要 BatchNorm。可以调用你的 `channel_gate` 和 `spatial_gate`。

# %% nbgrader={"grade": false, "grade_id": "cbam_module", "locked": false, "schema_version": 3, "solution": true, "task": false}
class CBAM(nn.Module):
    """CBAM 模块，式 (1)-(5)，论文版本：forward(x) = M_s(F') * F'，其中 F' = M_c(x) * x。"""

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
# ### 2.4 两个门控的顺序要紧吗？
#
# 式 (5) 先用通道门控。论文的消融实验（Table 3，ImageNet 上的 ResNet-50，top-1 / top-5 错误率；这些数字我们未能对照论文原文核实）比较了同样两个门控的三种排列方式：
#
# | 排列方式 | top-1 (%) | top-5 (%) |
# |---|---|---|
# | 先通道，后空间（CBAM） | **22.66** | **6.31** |
# | 先空间，后通道 | 22.78 | 6.42 |
# | 通道与空间并行 | 22.95 | 6.59 |
# | 只有通道（SE） | 23.14 | 6.70 |
#
# 差别不大，但方向一致，而且是训练好的网络之间的差别。在任何训练之前，还有一个更简单的问题：在*相同*的权重下，两种顺序算的到底是不是同一个函数？每个门控看的都是前一个门控的输出，所以答案远非显而易见。写出先空间的顺序：
#
# $$ G' = M_s(F) \otimes F, \qquad G'' = M_c(G') \otimes G', \tag{6}$$
#
# 并度量它与式 (5) 相差多远。（对并行排列，两张注意力图都由 $F$ 计算，返回 $F \otimes M_c(F) \otimes M_s(F)$；论文没有说明它怎样合并并行的两张图，用乘积可以让比较只涉及两个门控各自的输入。）
#
# **练习 4（2 分）。** 写出 `spatial_first`（式 (6)）和 `order_gap`：对批次中的每个样本 $b$，求式 (5) 的先通道输出 $F''$ 与先空间输出 $G''$ 在全部 $C\times H\times W$ 个元素上的最大绝对差——一个形状为 `(B,)` 的张量。请使用你的 `channel_gate` 和 `spatial_gate`。

# %% nbgrader={"grade": false, "grade_id": "gate_order", "locked": false, "schema_version": 3, "solution": true, "task": false}
def spatial_first(x, w1, b1, w2, b2, conv_w):
    """式 (6)：G'' = M_c(G') * G'，其中 G' = M_s(x) * x。权重和形状与前面相同。"""
    ### BEGIN SOLUTION
    g1 = x * spatial_gate(x, conv_w)
    return g1 * channel_gate(g1, w1, b1, w2, b2)
    ### END SOLUTION


def order_gap(x, w1, b1, w2, b2, conv_w):
    """每个样本的 |F'' - G''| 在 (C, H, W) 上的最大值：形状为 (B,)。"""
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
# 即使在手动设置权重的情形下——此时 $M_c$ 无论看什么都一样——两种顺序仍然不同：空间注意力图在一种顺序中读取 $g \otimes F$ 在通道上的最大值，在另一种顺序中读取 $F$ 的。下面换成随机权重，尺度从零逐渐加大：用你的函数，对一批四个随机输入计算两种顺序的差距，并与输出本身的大小并列（注意力图也会改变输出的尺度，所以请看最后一列，即差距相对于输出大小的比值）：

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
# 权重为零时两种顺序完全一致（每张注意力图都是 ½）；门控一旦起作用，两者就不一致了，权重越大差得越多。所以顺序不是实现上的细节：两种排列是不同的函数，用一种顺序训练的网络不能按另一种顺序运行，Table 3 比较的是真正不同的模型。论文采用先通道的顺序，是因为它的实测结果最好；一个说得通的解释是：这样空间门控池化的是已经被通道门控重新加权过的特征，它的均值图和最大值图是在对这个输入重要的通道上算出来的。

# %% [markdown]
# ## 3. 论文与公开代码
#
# 官方 PyTorch 代码（Jongchan/attention-module 中的 `MODELS/cbam.py`）有两处与式 (4) 不同：
#
# 1. **拼接顺序。** 它的通道池化返回 `[max; mean]`：$7\times 7$ 权重的输入通道 0 对应的是**最大值**图，与论文的 $[F^s_{avg};\, F^s_{max}]$ 正好相反。从算术上看，两种顺序没有优劣之分——网络会学到合适的权重——但用一种顺序训练出的权重，要交换它的两个输入通道（`w.flip(1)`）才能用于另一种顺序。
# 2. **卷积之后有一个 BatchNorm。** 代码中的卷积块是卷积（无偏置）→ `BatchNorm2d(1, eps=1e-5, momentum=0.01)` → Sigmoid。在评估模式下，BatchNorm 是一个固定的仿射映射 $y \mapsto \gamma\,(y - \mu)/\sqrt{\sigma^2 + \epsilon} + \beta$：它的缩放可以并入 $7\times 7$ 权重，但它的平移 $\beta - \gamma\mu/\sqrt{\sigma^2+\epsilon}$ 需要一个偏置，而式 (4) 没有偏置。在训练模式下，它用每个批次自己的统计量做归一化，任何固定的权重都模仿不了。
#
# 课程的参考实现默认与代码一致，同时提供论文版本：`attn_ref.CBAM(C, r, order="official" | "paper", batchnorm=True | False)`；`attn_ref.load_official_state_dict` 读取代码的权重文件（键为 `ChannelGate.mlp.1.*`、`ChannelGate.mlp.3.*`、`SpatialGate.spatial.conv.weight`、`SpatialGate.spatial.bn.*`），目标模块采用论文顺序时，它会交换两个输入通道。下面用一个官方排列、数值为编造的权重文件，看看每种捷径的代价（这个权重文件的 BatchNorm 有非平凡的滑动统计量，和训练过的一样）：

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
# 看这张表：加载函数的结果完全正确（误差在 float64 的舍入范围内）。复制权重而不交换输入通道，误差最大：本该作用于最大值图的卷积核被用在了均值图上。交换有帮助，把 BatchNorm 的缩放并入权重又好一点，但在平移量补回来之前，误差一直很大——而补回平移量需要一个偏置，论文的 $f^{7\times 7}$ 没有偏置。加上偏置后，折叠后的形式是精确的。
#
# 所以，官方代码的权重文件只能近似地加载进论文版本的模块。反过来则是精确的（在评估模式下）：论文模块的权重放进代码的模块时，只需交换两个输入通道，并把它的 BatchNorm 设为恒等映射（$\gamma = \sqrt{1+\epsilon}$，$\beta = 0$，$\mu = 0$，$\sigma^2 = 1$）：

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
# ## 4. 开销
#
# 每个模块的开销如下，其中 $C' = \lfloor C/r\rfloor$（至少为 1），空间卷积核为 $k\times k$：
#
# | 部分 | 参数 | 每个样本的乘加次数 |
# |---|---|---|
# | 池化，式 (1) 和式 (3) | 0 | （只有加法和比较） |
# | 共享 MLP，式 (2)，在**两个**描述子上运行 | $2CC' + C' + C$ | $2\times 2CC'$ |
# | $7\times 7$ 卷积，式 (4)，2 张图 → 1 张，无偏置 | $2k^2$ | $2k^2\,HW$ |
# | 式 (5) 的两个门控 | 0 | $2\,CHW$ |
# | **合计** | $2CC' + C' + C + 2k^2$ | $4CC' + 2k^2 HW + 2CHW$ |
#
# 官方代码每个模块多 2 个参数（BatchNorm 的 $\gamma$ 和 $\beta$；它的滑动统计量是缓冲区，不算参数）。与 SE 相比，CBAM 只多出空间卷积的 $2k^2 = 98$ 个权重，但它的乘加次数随 $HW$ 增长：在前面高分辨率的阶段，$7\times7$ 卷积和第二个门控占大头。乘加次数统计的是线性映射和门控的运算，与 `attn_ref.complexity` 的做法相同；池化、激活函数和求和不计入。
#
# **练习 5（2 分）。** 为练习 3 中论文版本的模块写出 `cbam_param_count` 和 `cbam_macs`（返回 Python `int`）。然后把 `cbam_params_resnet50` 设为 CBAM 模块给 ResNet-50 增加的参数量：每个瓶颈块一个模块，$C = 256$ 的 3 个，512 的 4 个，1024 的 6 个，2048 的 3 个，$r = 16$，$k = 7$。

# %% nbgrader={"grade": false, "grade_id": "cost", "locked": false, "schema_version": 3, "solution": true, "task": false}
def cbam_param_count(channels: int, reduction: int = 16, kernel_size: int = 7) -> int:
    """论文版 CBAM 模块的参数量（MLP 有偏置，卷积无偏置，没有 BatchNorm）。"""
    ### BEGIN SOLUTION
    hidden = max(1, channels // reduction)
    return 2 * channels * hidden + hidden + channels + 2 * kernel_size ** 2
    ### END SOLUTION


def cbam_macs(channels: int, height: int, width: int, reduction: int = 16, kernel_size: int = 7) -> int:
    """一个模块对每个样本的乘加次数：MLP 运行两次，加上卷积和两个门控。"""
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
# 用计数器核对你的结果：参数量是 `attn_ref` 各模块的参数之和，MLP 和卷积的乘加次数由 PyTorch 的 `FlopCounterMode` 测得（通过 `attn_ref.complexity.count_macs`；它只看得到矩阵乘法和卷积，看不到逐元素的门控，所以我们再加上 $2CHW$）。各阶段的分辨率取 ResNet-50 处理 224 × 224 图像时的值。

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
# 最后几行把总数放到整个网络里衡量：参数几乎全部在后期宽阶段的共享 MLP 里，乘加次数只占 ResNet-50 本身的一小部分。这两项的走向相反：参数随 $C^2$ 增长，所以峰值在后期的某个阶段；门控和 $7\times7$ 卷积的乘加次数随 $HW$ 增长，所以峰值在前期某个高分辨率阶段；打印出的那一行把两个阶段都指了出来。
#
# ## 5. 看看效果
#
# 和第 1 章一样，特征图来自一组固定的 Gabor 滤波器（`gabor_features`）：对 scikit-image 示例图像的十二个整流后的响应（六个方向 θ × 两个波长 λ），每个通道除以它在这些图像上的平均响应。用**随机权重**（就像训练刚开始时），得到的注意力图有结构，但没有目的。想看训练好的模块*能*表达什么，就手动设置权重：
#
# * **通道门控**，$r = 1$：$W_1 = I$，$b_1 = 0$（特征非负，所以 ReLU 原样放行），$W_2 = \alpha\,(I - \tfrac1C\mathbf 1\mathbf 1^\top)$，$b_2 = 0$，于是 $M_{c} = \sigma\big(\alpha\,[(F^c_{avg} - \overline{F^c_{avg}}) + (F^c_{max} - \overline{F^c_{max}})]\big)$：平均响应*或*峰值响应高于这张图像各通道平均水平的通道被放大；
# * **空间门控**：在均值图上用一个和为零的中心–周边卷积核（$3\times 3$ 的中心为正，周边为负），最大值图上不加权重，于是 $M_s$ 在特征能量超过其 $7\times 7$ 邻域的地方取值高：那里是边缘和有纹理的细节，而不是平坦区域。

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
# 即使是随机权重也画出了图像的边缘：只要有一个滤波器响应强烈，最大值图就大，所以任何卷积核都会把它变成一张边缘图——只是符号随意，亮带和暗带并排出现。手动设置的注意力图在均值特征局部恒定的地方恰好是 ½（和为零的卷积核把它抵消了：天空，以及摄影师身后的草坪），在轮廓和有纹理的细节上升到 ½ 以上——宇航员的脸和宇航服、相机和三脚架、砖缝——并且每处旁边都有一道凹陷（来自负的周边）。接下来是同一个手动设置的模块的通道门控，逐张图像来看：

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-07", "locked": true, "schema_version": 3, "solution": false, "task": false}
plot_gates({n: hand_maps[n]["M_c"].ravel() for n in names}, labels,
           title="hand-set weights: channel map M_c per Gabor channel")
plt.show()

# %% [markdown]
# 门控因图像而异。每张图像偏好哪些通道，下面由同样的门控值算出（门控值最大的三个通道，以及每个波长 λ 下门控值高于 ½ 的方向 θ）；同时比较两个描述子：这些特征的最大值是其平均值的许多倍，而共享 MLP 以同样的单位看待两者。用这个 MLP 时，门控的输入是 $\alpha[(F^c_{avg} - \overline{F^c_{avg}}) + (F^c_{max} - \overline{F^c_{max}})]$，所以最后一列是最大值项在其中所占的比例 $|F^c_{max} - \overline{F^c_{max}}| / (|\cdot| + |\cdot|)$，在各通道上取平均：

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
# 每行末尾说明，对这张图像而言，门控主要由哪个描述子决定。在训练好的网络里，这个平衡由模块之前的归一化层和学到的 $W_1$ 决定。
#
# 最后是宇航员图像经过两个门控之后的细化特征，用与输入相同的色标：$M_c$ 小的通道处处变淡；在每个通道内，$M_s$ 小的平坦区域也变淡。

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
# ## 6. 易错点
#
# * **该取最大值的地方取最大值。** 通道门控在 $H\times W$ 上既取平均*又*取最大值；平均两次，或只保留一个描述子，就成了换了个 MLP 的 SE。在 PyTorch 中，`torch.max(x, dim)` 返回 `(values, indices)`：要取 `.values`，或者用 `amax`。
# * **一个 MLP，共享。** 两个 MLP（每个描述子一个）会让通道门控的参数翻倍，学到的也是另一个函数。两个 MLP 输出之和只过**一个** Sigmoid；$\sigma(a) + \sigma(b)$ 根本不是取值在 $(0, 1)$ 内的门控。
# * **输出偏置要加两次。** MLP 连同偏置在每个描述子上各运行一次；如果先把两个隐藏层相加、只乘一次 $W_2$，$b_2$ 就只加了一次（论文没有偏置，所以它的公式不会提醒你这一点）。
# * **池化的轴。** 通道门控在 $H, W$ 上池化（`dim=(2, 3)`）；空间门控在通道上池化（`dim=1, keepdim=True`）。把两者弄反会改变所有形状——这还算是运气好的情况。
# * **填充。** $k\times k$ 卷积核需要在四周各补 $(k-1)/2$ 个零；把 `padding=3` 写死，在 $k \ne 7$ 时就会出错；`padding=0` 会让注意力图变小；只在一侧填充，会让图的尺寸不变、却平移 $(k-1)/2$ 个像素——这是最难发现的失误。
# * **拼接顺序和 BatchNorm。** 论文拼接 $[\text{avg}; \text{max}]$，没有归一化；官方代码拼接 `[max; mean]`，并在卷积之后接 `BatchNorm2d(1)`（momentum 0.01）。两种都能用，只是参数化方式不同。代码的权重文件要交换空间权重的两个输入通道才符合论文的顺序，并且要保留它的 BatchNorm（或把它折叠成一个权重*和一个偏置*）——见第 3 节。`attn_ref.load_official_state_dict` 会做这个交换；只按键名复制则会悄无声息地漏掉它。
# * **空间注意力图看哪个张量、缩放哪个张量。** $M_s$ 由 $F'$ 计算，并乘以 $F'$。$M_s(F) \otimes F'$ 是并行排列，而 $M_s(F') \otimes F$ 把通道门控丢掉了。
# * **瓶颈宽度。** 官方代码用 `C // r`，当 $C < r$ 时它为 0（一个空的 `nn.Linear`，于是 MLP 只返回它的偏置）；本课程用 $\max(1, \lfloor C/r\rfloor)$。

# %% [markdown]
# ## 7. 小结
#
# | 步骤 | 公式 | 代码（批次，论文约定） |
# |---|---|---|
# | 通道描述子 | $F^c_{avg}, F^c_{max} \in \mathbb{R}^C$ | `x.mean((2, 3))`, `x.amax((2, 3))` |
# | 通道注意力图 | $M_c = \sigma(\mathrm{MLP}(F^c_{avg}) + \mathrm{MLP}(F^c_{max}))$，一个 MLP | `torch.sigmoid(mlp(avg) + mlp(mx))[:, :, None, None]` |
# | 空间描述子 | $[F^s_{avg}; F^s_{max}] \in \mathbb{R}^{2\times H\times W}$ | `torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)` |
# | 空间注意力图 | $M_s = \sigma(f^{7\times7}([F^s_{avg}; F^s_{max}]))$ | `torch.sigmoid(F.conv2d(pooled, w, padding=3))` |
# | 整个模块 | $F' = M_c(F) \otimes F$，$F'' = M_s(F') \otimes F'$ | `f1 = x * m_c; f1 * spatial_gate(f1, w)` |
# | 开销 | $2CC' + C' + C + 2k^2$ 个参数；$4CC' + 2k^2HW + 2CHW$ 次乘加 | `attn_ref.complexity.cbam_params`, `cbam_macs` |
#
# **参考文献**
#
# * S. Woo, J. Park, J.-Y. Lee, I. S. Kweon. *CBAM: Convolutional Block Attention Module.* ECCV 2018。
#   arXiv:1807.06521。Table 1–3：关于池化方式、空间卷积核和门控顺序的消融实验；Table 4：ImageNet 上的结果。这里引用的 Table 1、3、4 中的数字未能对照论文原文核实（见 `FACTS.md`）。
# * 官方代码（PyTorch）：github.com/Jongchan/attention-module，`MODELS/cbam.py`。
# * 本课程的参考实现：`attn_ref/cbam.py`；本章的隐藏测试：`attn_ref/grading/checks_cbam.py`。

# %% [markdown]
# ## 提交之前
#
# 下面的单元格列出本章的计分步骤和分值，以及每一步的可见测试在本次会话中最近一次运行时是否通过（*运行 → 运行全部单元格*，即 *Run → Run All Cells*，会运行全部单元格，遇到你还没写的步骤也会继续往下运行）。可见测试通过是个好兆头，但不是成绩：提交后，评分程序会运行每一步的隐藏测试。

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "summary", "locked": true, "schema_version": 3, "solution": false, "task": false}
from attn_ref.grading import summary

summary("cbam.ipynb")
