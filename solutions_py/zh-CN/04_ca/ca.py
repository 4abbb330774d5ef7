# %% [markdown]
# # 第 4 章　坐标注意力（Coordinate Attention）
#
# *attention-course · 第 4 章 · 约 60 分钟*
#
# SE（第 1 章）用一个数概括每个通道，即它在全部 $H\times W$ 个位置上的均值，所以它的门控说不出任何东西*在哪里*。CBAM（第 3 章）另外加了一张空间图，由一个只看小邻域的 $7\times 7$ 卷积算出。**坐标注意力**（Coordinate Attention，CA；Hou、Zhou、Feng，CVPR 2021）把位置留在通道门控内部：它沿宽度池化，再单独沿高度池化，于是每个通道对每一**行**有一个门控值，对每一**列**也有一个。沿一个方向收集长程上下文，同时在另一个方向上保留精确的位置。在 MobileNetV2 中，它把 ImageNet top-1 准确率从 72.3 % 提高到 74.3 %，而 SE 为 73.5 %，CBAM 为 73.6 %；参数量为 3.95 M，而不是 3.5 M（论文在 MobileNetV2 上对各种注意力模块所做的 ImageNet 比较，见官方仓库的 README）。
#
# 本章逐个公式推导这个模块，逐步实现，计算它的开销，检验翻转对它的门控有什么影响，并在一张真实图像上把它的注意力图与 CBAM 的比较。
#
# **本笔记本怎样评分。** 每个练习是一个含 `raise NotImplementedError()` 的代码单元格，由你替换成自己的代码；它后面是一个锁定的测试单元格。测试单元格里的可见测试检查一个能手算验证的小例子，并告诉你哪里不对。提交后，同一个单元格还会运行隐藏测试：多种形状、随机种子和数据类型，结果与课程的参考实现包 `attn_ref` 比较，判定在你的笔记本内核之外完成。后面的步骤用前面各步的参考版本来评分，所以一处错误只扣它所在那一步的分。提交前请重启内核并运行全部单元格：笔记本必须能从头到尾运行。

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
# ## 1. 是什么，为什么
#
# SE 的挤压（squeeze）就是全局平均池化（global average pooling），它是对各位置求和，而求和与各项的顺序无关。把 $H\times W$ 个位置任意重排——翻转、平移、打乱——描述子 $z$ 都完全不变，SE 的门控也就完全不变。分不清图像上下的门控，不可能指向某个物体。
#
# 下面在真实特征上验证这一点：scikit-image 的宇航员图像（astronaut）的十二个经过整流的 Gabor 响应（有方向的带通滤波器，`attn_ref.data.gabor_features`），上下颠倒，再横向循环平移。而把每一行在宽度上池化（CA 计算 $z^h$ 的做法）会保留这种差异：

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-01", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
feats, labels = gabor_features(sample_image("astronaut", size=64))
feats = feats.double()                                   # (1, 12, 64, 64)
moved = torch.roll(torch.flip(feats, dims=[2]), shifts=17, dims=3)
print("2-D global mean, unchanged:   ", torch.allclose(feats.mean((2, 3)), moved.mean((2, 3))))
print("mean of each row, unchanged:  ", torch.allclose(feats.mean(3), moved.mean(3)))
print("mean of each row, flipped back:", torch.allclose(feats.mean(3), torch.flip(moved.mean(3), dims=[2])))

# %% [markdown]
# CA 把一次 2D 池化换成两次 1D 池化，用一个共享的 $1\times1$ 卷积对两个结果编码，再把它们解码成两个门控：$a^h$（每个通道的每一行一个值）和 $a^w$（每个通道的每一列一个值）。输出是 $x$ 乘以这两个门控：

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-02", "locked": true, "schema_version": 3, "solution": false, "task": false}
block_diagram([("X", "C×H×W"), ("pool along W\n& along H", "C×H, C×W"), ("concat", "C×(H+W)"),
               ("1×1 conv F₁\nBN, h-swish", "C'×(H+W)"), ("split", "C'×H, C'×W"),
               ("F_h, F_w\nsigmoid σ", "a^h: C×H\na^w: C×W"), ("⊗", "C×H×W")],
              title="Coordinate Attention: a gate per row and a gate per column of every channel",
              skip_to=6)
plt.show()


# %% [markdown]
# ## 2. 推导
#
# ### 2.1 坐标信息嵌入
#
# 对一个样本 $X\in\mathbb{R}^{C\times H\times W}$，每次只沿一个轴对通道 $c$ 做池化（论文第 3.2 节的*坐标信息嵌入*（coordinate information embedding）；行的下标为 $0\le h<H$，列的下标为 $0\le w<W$）：
#
# $$ z^h_c(h) \;=\; \frac{1}{W}\sum_{0\le i<W} x_c(h, i), \qquad z^h\in\mathbb{R}^{C\times H}, \tag{1}$$
#
# $$ z^w_c(w) \;=\; \frac{1}{H}\sum_{0\le j<H} x_c(j, w), \qquad z^w\in\mathbb{R}^{C\times W}. \tag{2}$$
#
# $z^h_c(h)$ 是第 $h$ 行的均值：它看到整个宽度（沿 $W$ 的长程上下文），并保留确切的行。论文所说的“大小为 $(1, W)$ 的池化核”，在代码里就是对最后一个轴求均值。我们沿用官方代码的布局，这也正是后面的 $1\times1$ 卷积所要的：$z^h$ 是一列 `(B, C, H, 1)`，$z^w$ 是一行 `(B, C, 1, W)`。
#
# **练习 1（2 分）。** 对一个批次实现式 (1)–(2)。

# %% nbgrader={"grade": false, "grade_id": "coordinate_pool", "locked": false, "schema_version": 3, "solution": true, "task": false}
def coordinate_pool(x: torch.Tensor):
    """式 (1)-(2)。x: (B, C, H, W) -> (z_h, z_w)，其中
    z_h: (B, C, H, 1)，每一行在宽度 W 上的均值；
    z_w: (B, C, 1, W)，每一列在高度 H 上的均值。"""
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
# ### 2.2 坐标注意力生成：共享变换
#
# 两个描述子沿空间轴拼接，然后依次经过一个共享的 $1\times 1$ 卷积 $F_1$（把通道数降到 $C'$）、一个 BatchNorm 和一个非线性激活（论文的公式里只有 $F_1$ 和一个泛指的非线性激活 $\delta$；官方代码用的是 BatchNorm 加 **h-swish**）：
#
# $$ f \;=\; \mathrm{hswish}\big(\mathrm{BN}(F_1([z^h ; z^w]))\big),\qquad
#    f\in\mathbb{R}^{C'\times(H+W)}, \tag{3}$$
#
# $$ \mathrm{hswish}(t) = t\cdot\frac{\mathrm{ReLU6}(t+3)}{6},\qquad
#    \mathrm{BN}(t) = \gamma\,\frac{t-m}{\sqrt{v+\epsilon}} + \beta,\quad \epsilon = 10^{-5}, $$
#
# 其中 $m$、$v$ 是滑动均值和滑动方差，$\gamma$、$\beta$ 是学到的缩放和平移。
#
# 论文留给代码的细节：
#
# * **拼接。** $z^w$ 先转置成一列，所以 $[z^h ; z^w]$ 是一张形状为 `(B, C, H + W, 1)` 的图像：先是 $H$ 个行描述子，再是 $W$ 个列描述子。这样，一个 $1\times1$ 卷积对全部 $H+W$ 个描述子一视同仁，一个 BatchNorm 也把它们放在一起归一化。
# * **宽度。** 论文写的是 $C/r$；官方代码用 $C' = \max(8, \lfloor C/r\rfloor)$，默认 $r = 32$（代码里叫 `mip`），这样小的层至少保留 8 个单元。
# * **BatchNorm** 就是普通的 `BatchNorm2d(C')`。推理时（以及在我们的测试中）它用的是滑动均值 $m$ 和滑动方差 $v$，而不是当前批次的统计量。
#
# **练习 2（1 分）。** 瓶颈（bottleneck）宽度。写出 `ca_bottleneck(channels, reduction=32)`。

# %% nbgrader={"grade": false, "grade_id": "ca_bottleneck", "locked": false, "schema_version": 3, "solution": true, "task": false}
def ca_bottleneck(channels: int, reduction: int = 32) -> int:
    """C' = max(8, channels // reduction)：CA 共享 1x1 卷积的宽度（输出通道数）。"""
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
# **练习 3（3 分）。** 用显式给出的权重把式 (3) 实现成一个函数，这样每个张量的布局都是确定的：`weight` 是 $1\times1$ 卷积的权重 `(C', C, 1, 1)`（与 `nn.Conv2d` 相同），`bias` 是它的偏置 `(C',)`，四个 BatchNorm 张量各为 `(C',)`。使用*给定的*滑动统计量（running statistics，eval 模式）。`F.conv2d`、`F.batch_norm(..., training=False)` 和 `F.hardswish` 都可以用，自己写出它们也可以。

# %% nbgrader={"grade": false, "grade_id": "shared_transform", "locked": false, "schema_version": 3, "solution": true, "task": false}
def shared_transform(z_h, z_w, weight, bias, bn_weight, bn_bias, bn_mean, bn_var, eps=1e-5):
    """式 (3)：f = hswish(BN(conv1x1([z_h ; z_w^T])))，BatchNorm 用 eval 模式。

    z_h: (B, C, H, 1)；z_w: (B, C, 1, W)；weight: (C', C, 1, 1)；bias 和各个 BN 张量: (C',)。
    返回 f: (B, C', H + W, 1)，先是 H 个行位置，再是 W 个列位置。
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
# ### 2.3 拆分与门控
#
# 把 $f$ 拆回两部分：$f^h\in\mathbb{R}^{C'\times H}$（前 $H$ 个位置）和 $f^w\in\mathbb{R}^{C'\times W}$（后 $W$ 个位置），各自经过自己的 $1\times1$ 卷积恢复到 $C$ 个通道，再接 Sigmoid（论文把门控记作 $g^h$、$g^w$；我们和官方代码一样记作 $a^h$、$a^w$）：
#
# $$ f = [f^h ; f^w], \tag{4}$$
#
# $$ a^h = \sigma\big(F_h(f^h)\big)\in(0,1)^{C\times H}, \qquad
#    a^w = \sigma\big(F_w(f^w)\big)\in(0,1)^{C\times W}. \tag{5}$$
#
# $F_h$ 和 $F_w$ 的权重相互独立：同一份编码，对行和对列有不同的读法。$f^w$ 要转置回一行，使 $a^w$ 与 $z^w$ 有相同的布局 `(B, C, 1, W)`。
#
# **练习 4（3 分）。** 实现式 (4)–(5)。`w_h`、`w_w` 的形状为 `(C, C', 1, 1)`，`b_h`、`b_w` 为 `(C,)`。

# %% nbgrader={"grade": false, "grade_id": "split_gates", "locked": false, "schema_version": 3, "solution": true, "task": false}
def split_gates(f, H, W, w_h, b_h, w_w, b_w):
    """式 (4)-(5)。f: (B, C', H + W, 1) -> (a_h, a_w)，其中
    a_h = sigmoid(conv1x1(f_h; w_h, b_h)): (B, C, H, 1)，来自 f 的前 H 个位置；
    a_w = sigmoid(conv1x1(f_w; w_w, b_w)): (B, C, 1, W)，来自 f 的后 W 个位置。"""
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
# ### 2.4 输出
#
# $x$ 的每个值都乘以它所在行的门控和所在列的门控：
#
# $$ y_c(h, w) \;=\; x_c(h, w)\cdot a^h_c(h)\cdot a^w_c(w). \tag{6}$$
#
# 按上面的布局，这就是普通的广播：`x * a_h * a_w` 把一个 `(B, C, H, W)` 张量乘以一个 `(B, C, H, 1)` 张量和一个 `(B, C, 1, W)` 张量。真正乘到通道 $c$ 上的图 $a^h_c\,(a^w_c)^\top$ 是一个外积：一张秩一的 $H\times W$ 图，在强的行与强的列相交处取值大。
#
# 有两条性质很适合用来测试：
#
# * **秩一。** 每个通道上 $y/x = a^h a^{w\top}$，所以对任意行 $i$ 和列 $j$，$(y/x)_{ij}\,(y/x)_{00} = (y/x)_{i0}\,(y/x)_{0j}$。
# * **全零得四分之一。** 如果所有卷积的权重和偏置都是零，$F_1$ 输出 0，带初始统计量的 BatchNorm 和 h-swish 仍保持 0，两个门控都是 $\sigma(0)=\tfrac12$：模块返回 $x/4$。
#
# **练习 5（3 分）。** 写出这个模块的 `forward`。`__init__` 已经给出：它按官方代码的名字创建各层（`conv1`、`bn1`、`conv_h`、`conv_w`）。请保留这些名字——评分程序按这些名字把权重载入你的模块，并在 eval 模式下运行它。你可以用各层的张量（`self.conv1.weight`、`self.bn1.running_mean`、……）调用前面写的函数，也可以直接调用这些层。

# %% nbgrader={"grade": false, "grade_id": "ca_module", "locked": false, "schema_version": 3, "solution": true, "task": false}
class CoordinateAttention(nn.Module):
    """CA 模块，式 (1)-(6)：forward(x) = x * a_h * a_w。"""

    def __init__(self, channels: int, reduction: int = 32):
        super().__init__()
        mip = ca_bottleneck(channels, reduction)
        self.conv1 = nn.Conv2d(channels, mip, kernel_size=1)          # F_1，有偏置
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
# ## 3. 开销
#
# 每个模块的开销，其中 $C' = \max(8, \lfloor C/r\rfloor)$，输入为 $C\times H\times W$：
#
# | 部分 | 参数 | 每个样本的乘加次数 |
# |---|---|---|
# | 池化，式 (1)–(2) | 0 | $2CHW$ 次加法 |
# | $F_1$（有偏置），作用于 $H+W$ 个位置 | $C'C + C'$ | $C'C\,(H+W)$ |
# | BatchNorm | $2C'$（另有 $2C'$ 个滑动统计量，是 buffer，不是参数） | 推理时折叠进 $F_1$ |
# | $F_h$ 作用于 $H$ 个位置，$F_w$ 作用于 $W$ 个位置（有偏置） | $2(CC' + C)$ | $CC'\,(H+W)$ |
# | 输出，式 (6) | 0 | $2CHW$ 次乘法 |
# | **合计** | $3CC' + 3C' + 2C$ | $2CC'(H+W) + 2CHW$ |
#
# 与 SE（$r=16$ 时约 $2C^2/r$ 个参数）相比，$r = 32$ 的 CA 约有 $3C^2/32$ 个参数：对宽的层参数更少，而且它的卷积只在 $H+W$ 个位置上运行，而不是 $H\cdot W$ 个。
#
# **练习 6（2 分）。** 写出 `ca_param_count(channels, reduction=32)` 和 `ca_macs(channels, H, W, reduction=32)`（三个卷积的乘加次数，加上式 (6) 的 $2CHW$ 次乘法，别的都不算），两者都返回 Python `int`。

# %% nbgrader={"grade": false, "grade_id": "ca_cost", "locked": false, "schema_version": 3, "solution": true, "task": false}
def ca_param_count(channels: int, reduction: int = 32) -> int:
    """一个 CA 模块的可学习参数个数（BatchNorm 的滑动统计量不是参数）。"""
    ### BEGIN SOLUTION
    m = ca_bottleneck(channels, reduction)
    return (m * channels + m) + 2 * m + 2 * (channels * m + channels)
    ### END SOLUTION


def ca_macs(channels: int, H: int, W: int, reduction: int = 32) -> int:
    """一个 CA 模块处理一个 C x H x W 样本的乘加次数：各个 1x1 卷积 + 式 (6)。"""
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
# 论文把 CA 加进 MobileNetV2 中每个会扩展输入通道的倒残差块（inverted residual block）——17 个中的 16 个——放在深度卷积（depthwise convolution）之后，那里的宽度是扩展后的宽度。下面逐块比较你的计数和一个计数器的结果；计数器把 `attn_ref` 中带 CA 和不带 CA 的 MobileNetV2 的参数分别加起来：

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
# 最后一行数出停在下限 $C' = 8$ 上的模块，并列出去掉 $\max(8,\cdot)$ 后它们各自的宽度会得到的瓶颈宽度。
#
# 卷积的乘加次数可以用 PyTorch 自带的计数器 `torch.utils.flop_counter.FlopCounterMode` 核对。它只统计卷积和矩阵乘法（以 FLOPs 计，每次乘加算两个），不统计池化、激活和式 (6)。`attn_ref` 在 CPU 上更快的地方会用矩阵乘法计算两次池化和式 (6)，计数器也会把这些算进去，所以计数时让它改用普通的归约和乘法（`attn_ref.coord.plain_kernels()`；`attn_ref.complexity.count_macs` 也是这样做的）：

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
# ## 4. 位置：翻转对门控做了什么
#
# 第 1 节说明了 SE 的描述子不在乎位置怎样重排。现在看门控本身。把输入上下翻转（沿 $H$，`torch.flip(x, dims=[2])`）或左右翻转（沿 $W$，`dims=[3]`），再把翻转后输入的每个门控与原输入的门控比较：
#
# * 它可能**不变**（门控对这种翻转是*不变*（invariant）的），或者
# * 它可能是原门控**按同样方式翻转**的结果（它是*等变*（equivariant）的：随内容一起移动）。
#
# 下面，`se_gate(x)` 返回一个 SE 模块的门控 $s$ `(B, C)`，`ca_gates(x)` 返回一个 CA 模块的 `(a_h, a_w)`，两者都用随机权重（以及随机的 BatchNorm 统计量）。

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
# **练习 7（1 分）。** 在你自选的一个 $H\ne W$ 的随机输入上计算形状为 `(3, 2)` 的表 `flip_table`：各行依次是 SE 的 $s$、CA 的 $a^h$、CA 的 $a^w$；第 0 列是沿 $H$ 的翻转，第 1 列是沿 $W$ 的翻转。翻转后输入的门控与原门控不同（随翻转移动了）的地方写 **1**，不变的地方写 **0**。用 `torch.allclose` 判断；NumPy 数组、张量或嵌套的数字列表都可以。

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
# 现在看整个模块。两个模块都与两种翻转可交换——翻转输入，输出也跟着翻转——所以在这个测试上 SE 和 CA 看起来一样：

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
# 区别在内部，就在你的表里。SE 的输出跟着翻转走，只是因为它的门控根本不动：门控是*不变*的，所以不可能依赖任何东西的位置。CA 的门控是*等变*的，各自沿自己的轴：沿 $H$ 翻转会把 $a^h$ 倒过来（每一行保留自己的门控值，只是行与行交换了位置），而 $a^w$ 不受影响，因为每个列均值都是对*所有*行求和；沿 $W$ 翻转则正好相反。所以 CA 的每个门控保留了自己那个坐标，而对另一个方向是盲的——位置得以保留，一次一个轴，2D 图是两者的乘积。
#
# ## 5. 实际效果
#
# 我们在一张真实图像上比较给特征加空间图的两种方式：CA 的外积 $a^h_c\,(a^w_c)^\top$ 和 CBAM 的 $M_s$（对通道池化后的图做 $7\times7$ 卷积，第 3 章）。特征是 $96\times96$ 的宇航员图像的十二个 Gabor 响应，每个通道除以它自己的均值。
#
# **如实交代实验设置。** 这里两个模块都没有训练。用随机权重时，两张图都接近围绕 $\tfrac12$ 的均匀噪声，与图像内容无关，所以我们**手动设置权重**，让两者遵循同一条简单规则：*在平均特征能量高于其均值的地方把门控调高*。
#
# * CA：$F_1$ 的第一个单元对各通道求平均（其余单元为零）；BatchNorm 的滑动统计量设为该单元在这张图像的 $H+W$ 个池化描述子上的均值和方差，于是它把这些描述子标准化；$F_h$ 和 $F_w$ 给每个通道的都是该单元的 $\alpha$ 倍减去 $\beta$。于是 $a^h(h) = \sigma(\alpha\,\mathrm{hswish}(e^h(h)) - \beta)$，其中 $e^h(h)$ 是第 $h$ 行标准化后的平均能量；$a^w$ 同理；所有通道都一样。
# * CBAM：它的通道门控权重全为零（处处 $M_c = \tfrac12$，是一个常数因子），$7\times7$ 卷积是对通道均值的方框平均，它的 BatchNorm（官方代码里有）用这张图像的统计量把结果标准化，再乘以 $\alpha$、平移 $-\beta$：$M_s = \sigma(\alpha\,e - \beta)$，其中 $e$ 是标准化后的局部能量。与 CA 的规则唯一的区别是 CA 的 h-swish。
#
# BatchNorm 的统计量是*只在这一张图像上校准的*，所以这些数值只是示意；重要的是每种设计能表达什么样的形状。

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
# CBAM 的图沿着有纹理区域的轮廓走（头发、旗帜、宇航服的边缘、右边的头盔），分辨率取决于它的 $7\times7$ 窗口。CA 的图是一条行剖面与一条列剖面的乘积：一张格子图，在高能量的行与高能量的列交叉处发亮。它沿每个轴都能很好地定位有纹理的条带，但画不出 2D 的形状：两条亮带的每个交叉处都会亮起来，包括图像本身平坦的交叉处（看人物与右边的航天飞机之间的背景）。这就是论文所做的权衡：门控值只有 $C(H+W)$ 个，而不是 $CHW$ 个，但每个值都概括了一整行或一整列，远远超出 $7\times7$ 的窗口。在训练好的网络里，不同的通道学到不同的剖面，它们的乘积合起来可以覆盖更复杂的布局。
#
# 下面是宇航员图像的十二张特征图（feature map），分别在手动设置的 CA 模块之前和之后，用同一个色标显示：

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-08", "locked": true, "schema_version": 3, "solution": false, "task": false}
with torch.no_grad():
    after = ca_hand(feats)[0].numpy()
before = feats[0].numpy()
vmax = float(np.quantile(before, 0.995))
show_maps(before, labels, cols=6, suptitle="astronaut: Gabor feature maps X", vmax=vmax)
show_maps(after, labels, cols=6, suptitle="after CA: x · a^h · a^w", vmax=vmax)
plt.show()

# %% [markdown]
# ## 6. 易错点
#
# * **是 h-swish，不是 ReLU 或 Sigmoid。** 论文的公式写的是一个泛指的非线性激活 $\delta$；官方代码用的是 h-swish（`coordatt.py` 中的 `h_swish`），它的 README 也建议用 swish 类的激活而不是 ReLU6。流传的移植版各不相同：官方的 `mbv2_ca.py` 把 h-swish 模块存放在名为 `self.relu` 的属性下，照搬名字的代码很容易写成 ReLU；另一些版本用 `nn.SiLU`（平滑的 swish，接近 h-swish，但并不相同），或者在门控需要 Sigmoid 的地方用了 h-sigmoid。这些写法都能运行、都能训练，但都不能精确复现发布的权重。`attn_ref.CoordinateAttention(..., activation="relu")` 给出 ReLU 的写法，你可以测量两者的差别（见下文）。
# * **BatchNorm 处于训练模式还是 eval 模式。** 在训练模式下，`bn1` 用当前批次的 $B\,(H+W)$ 个池化描述子的统计量做归一化——特征图小、批次小时，这些值很少——并且会更新它的滑动统计量。评估（或评分，或与发布的权重比较）时不调用 `.eval()`，得到的门控就不同，而且在训练模式下做一次前向传播就会改变这个模块。
# * **宽度是 `max(8, C // r)`。** 不是 $C/r$ 向上取整，也不能没有下限 8（第 3 节数出了 MobileNetV2 中停在这个下限上的模块）；而且默认 $r = 32$，不是 SE 的 16。
# * **哪一半是哪一半。** 拼接时 $H$ 个行描述子在前；拆分必须用同样的顺序（`torch.split(f, [H, W], dim=2)`），而且 $F_h$ 必须读 $f^h$。当 $H = W$ 时，两者对调不会报错——只会得到错误的门控。
# * **检查点里的名字。** `coordatt.py` 把两个解码器叫作 `conv_h`、`conv_w`，把比例叫作 `reduction`；`mbv2_ca.py` 把它们叫作 `conv2`、`conv3`，同一个比例叫作 `groups`。把一个文件的 state dict 载入另一个文件的模块需要改名。
# * **`out_channels`。** 官方的 `CoordAtt(inp, oup)` 有单独的输出宽度，但式 (6) 是把输入乘以门控，所以 `oup` 必须等于 `inp`。
#
# 下面在一个随机初始化的模块（滑动统计量也是随机的）上测量激活函数和 BatchNorm 这两个易错点，输入是宇航员特征的一块 $48\times64$ 裁剪：同样的权重把 h-swish 换成 ReLU，以及同一个模块处于训练模式：

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
# ## 7. 小结
#
# | 步骤 | 公式 | 代码 |
# |---|---|---|
# | 沿 $W$ 池化 | $z^h_c(h) = \frac1W\sum_i x_c(h,i)$ | `x.mean(dim=3, keepdim=True)` → `(B, C, H, 1)` |
# | 沿 $H$ 池化 | $z^w_c(w) = \frac1H\sum_j x_c(j,w)$ | `x.mean(dim=2, keepdim=True)` → `(B, C, 1, W)` |
# | 共享变换 | $f = \mathrm{hswish}(\mathrm{BN}(F_1([z^h;z^w])))$，$C'=\max(8,\lfloor C/r\rfloor)$ | `act(bn1(conv1(cat([z_h, z_w.transpose(2, 3)], 2))))` |
# | 拆分 | $f = [f^h; f^w]$ | `torch.split(f, [H, W], dim=2)` |
# | 门控 | $a^h = \sigma(F_h(f^h))$，$a^w = \sigma(F_w(f^w))$ | `sigmoid(conv_h(f_h))`, `sigmoid(conv_w(f_w.transpose(2, 3)))` |
# | 输出 | $y_c(h,w) = x_c(h,w)\,a^h_c(h)\,a^w_c(w)$ | `x * a_h * a_w` |
# | 开销 | $3CC' + 3C' + 2C$ 个参数；$2CC'(H+W) + 2CHW$ 次乘加 | `attn_ref.CoordinateAttention(C)` |
#
# 翻转：SE 的门控对沿任一轴的翻转都不变；CA 的 $a^h$ 随沿 $H$ 的翻转移动，对沿 $W$ 的翻转视而不见，$a^w$ 则正好相反。
#
# **参考文献**
#
# * Q. Hou, D. Zhou, J. Feng. *Coordinate Attention for Efficient Mobile Network Design.* CVPR 2021. arXiv:2103.02907.
# * 官方代码（PyTorch）：github.com/houqb/CoordAttention（`coordatt.py`、`mbv2_ca.py`）。
# * A. Howard et al. *Searching for MobileNetV3.* ICCV 2019（h-swish）。arXiv:1905.02244.
# * 我们的参考实现：`attn_ref/coord.py`；本章的隐藏测试：`attn_ref/grading/checks_ca.py`。

# %% [markdown]
# ## 提交之前
#
# 下面的单元格列出本章的计分步骤和分值，以及每一步的可见测试在本次会话中最近一次运行时是否通过（*运行 → 运行全部单元格*，即 *Run → Run All Cells*，会运行全部单元格，遇到你还没写的步骤也会继续往下运行）。可见测试通过是个好兆头，但不是成绩：提交后，评分程序会运行每一步的隐藏测试。

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "summary", "locked": true, "schema_version": 3, "solution": false, "task": false}
from attn_ref.grading import summary

summary("ca.ipynb")
