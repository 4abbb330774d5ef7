# %% [markdown]
# # 第 1 章　挤压与激励（Squeeze-and-Excitation）
#
# *attention-course · 第 1 章 · 约 45 分钟*
#
# 卷积只在一个小窗口里混合通道，所以每个输出通道都看不到图像其余部分的内容。**挤压与激励**（Squeeze-and-Excitation，SE；Hu、Shen、Sun，CVPR 2018）在旁边加了一条很便宜的支路：它看整张特征图（feature map），把每个通道概括成一个数，再用这 $C$ 个数决定每个通道放行多少。把它加进 ResNet-50，ImageNet 的 top-5 错误率从 7.48 % 降到 6.62 %（单裁剪，论文 Table 2；所有引用的数字见 `FACTS.md`），参数只多约 10 %，乘加次数多不到 1 %。这就是通道注意力（channel attention）的基本形式。
#
# 本章逐条推导 SE 模块的公式，逐步实现，计算它的开销，再看它怎样对一张真实图像的特征图重新加权。
#
# **本笔记本怎样评分。** 每个练习是一个含 `raise NotImplementedError()` 的代码单元格，由你替换成自己的代码；它后面是一个锁定的测试单元格。测试单元格里的可见测试检查一个能手算验证的小例子，并告诉你哪里不对。提交后，同一个单元格还会运行隐藏测试：多种形状、随机种子和数据类型，结果与课程的参考实现包 `attn_ref` 比较，判定在你的笔记本内核之外完成。提交前请重启内核并运行全部单元格：笔记本必须能从头到尾运行。

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
# SE 模块输入一张特征图 $X \in \mathbb{R}^{C\times H\times W}$，输出形状相同的特征图。中间分三步：
#
# 1. **挤压**（squeeze）：把每个通道在全部 $H\times W$ 个位置上概括成一个数 $z_c$；
# 2. **激励**（excitation）：让描述子 $z\in\mathbb{R}^C$ 通过一个小的瓶颈（bottleneck）网络，得到门控 $s \in (0, 1)^C$；
# 3. **缩放**（scale）：把 $X$ 的通道 $c$ 乘以 $s_c$。
#
# 门控随输入而变，所以网络学到的是*对这张图像来说哪些通道重要*。它用的是整张图像的信息，而下面任何一个 $3\times 3$ 卷积的感受野（receptive field）都覆盖不到这么大的范围。

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-01", "locked": true, "schema_version": 3, "solution": false, "task": false}
block_diagram([("X", "C×H×W"), ("global\navg pool", "C"), ("FC  W₁", "C/r"), ("ReLU δ", "C/r"),
               ("FC  W₂", "C"), ("sigmoid σ", "s ∈ (0,1)^C"), ("⊗", "C×H×W")],
              title="Squeeze-and-Excitation: the side path computes one gate per channel",
              skip_to=6)
plt.show()


# %% [markdown]
# ## 2. 推导
#
# ### 2.1 挤压：全局信息嵌入
#
# 每个通道用它在所有位置上的均值来概括（论文中的 $F_{sq}$），也就是全局平均池化（global average pooling）：
#
# $$ z_c \;=\; F_{sq}(x_c) \;=\; \frac{1}{H\,W}\sum_{i=1}^{H}\sum_{j=1}^{W} x_c(i, j), \qquad z\in\mathbb{R}^C. \tag{1}$$
#
# 论文把结果称为*通道统计量*（channel-wise statistics），并指出也可以用更复杂的聚合方式；它的消融实验（Table 11）发现平均池化略好于最大池化（SE-ResNet-50 上 top-1 错误率 22.28 % 对 22.57 %）。代码中，对一个批次 $(B, C, H, W)$ 在最后两个维度上求和。
#
# **练习 1（2 分）。** 对一个批次实现式 (1)：`squeeze(x)` 输入 `(B, C, H, W)`，返回 `(B, C)`。

# %% nbgrader={"grade": false, "grade_id": "squeeze", "locked": false, "schema_version": 3, "solution": true, "task": false}
def squeeze(x: torch.Tensor) -> torch.Tensor:
    """式 (1)：每个通道在全部 H x W 个位置上的均值。(B, C, H, W) -> (B, C)。"""
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
# ### 2.2 激励：自适应重标定
#
# 门控应当 (i) 能刻画通道之间的非线性关系，(ii) 允许同时强调多个通道。这是一种*非互斥*（non-mutually-exclusive）的关系，所以会让通道相互竞争的 Softmax 不合适。SE 用一个两层的瓶颈结构，最后接 Sigmoid：
#
# $$ s \;=\; F_{ex}(z, W) \;=\; \sigma\big(W_2\,\delta(W_1 z + b_1) + b_2\big),
# \qquad W_1\in\mathbb{R}^{\frac{C}{r}\times C},\; W_2\in\mathbb{R}^{C\times\frac{C}{r}}, \tag{2}$$
#
# 其中 $\delta$ 是 ReLU，$\sigma$ 是 logistic sigmoid $\sigma(t) = 1/(1+e^{-t})$。降维比（reduction ratio）$r$（论文取 16）决定瓶颈宽度 $C/r$：它限制了开销，也有助于泛化。论文写的式 (2) 没有偏置，但论文发布的 Caffe 模型有偏置；流行的 PyTorch 移植版则没有（见“易错点”）。这里的偏置是函数参数，可以是 `None`。
#
# 权重采用 `nn.Linear` 的排列 `(out_features, in_features)`，所以对一批行向量 $Z \in \mathbb{R}^{B\times C}$，第一层是 $Z W_1^\top + b_1$。
#
# **练习 2（3 分）。** 对一个批次实现式 (2)。

# %% nbgrader={"grade": false, "grade_id": "excitation", "locked": false, "schema_version": 3, "solution": true, "task": false}
def excitation(z, w1, b1, w2, b2):
    """式 (2)：对一个批次计算 s = sigmoid(W2 relu(W1 z + b1) + b2)。

    z: (B, C)；w1: (C/r, C)；b1: (C/r,) 或 None；w2: (C, C/r)；b2: (C,) 或 None。
    返回 s: (B, C)，每个元素都在 (0, 1) 内。
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
# ### 2.3 缩放
#
# 输出把每个通道乘以它的门控值，并在所有位置上广播（broadcast）：
#
# $$ \tilde{x}_c \;=\; F_{scale}(x_c, s_c) \;=\; s_c\, x_c . \tag{3}$$
#
# 由此马上得到两条性质，很适合用来检验任何实现：
#
# * **与位置无关。** $z$ 是各位置上的均值，所以把 $X$ 的 $H\times W$ 个位置打乱，输出也按同样的方式打乱：模块对空间置换是*等变*（equivariant）的。
# * **零权重得一半。** 如果所有权重和偏置都是零，每个通道的门控都是 $\sigma(0) = \tfrac12$，输出恰好是 $X/2$。
#
# **练习 3（3 分）。** 按下面的签名把 SE 模块写成一个 `nn.Module`。瓶颈有 `channels // reduction` 个单元（至少 1 个；论文写作 $C/r$，公开代码向下取整）。层随你选：`nn.Linear`、$1\times 1$ 卷积或直接用 `nn.Parameter` 都行，但只能有两个权重矩阵，以及 `bias=True` 时的两个偏置向量。你可以调用自己写的 `squeeze` 和 `excitation`。

# %% nbgrader={"grade": false, "grade_id": "se_module", "locked": false, "schema_version": 3, "solution": true, "task": false}
class SqueezeExcitation(nn.Module):
    """SE 模块，式 (1)-(3)：forward(x) = x * s，s 的形状为 (B, C)，在 H、W 上广播。"""

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
# ## 3. 开销
#
# 每个模块，记 $C' = \lfloor C/r \rfloor$：
#
# | 部分 | 参数量 | 每个样本的乘加次数 |
# |---|---|---|
# | 挤压，式 (1) | 0 | $CHW$ 次加法 |
# | $W_1$, $b_1$ | $C C' + C'$ | $C C'$ |
# | $W_2$, $b_2$ | $C' C + C$ | $C' C$ |
# | 缩放，式 (3) | 0 | $CHW$ 次乘法 |
# | **合计** | $2CC' + C' + C \approx 2C^2/r$ | $2CC' + 2CHW$ |
#
# 参数量随 $C^2$ 增长，所以网络最后几个阶段（$C$ 最大的地方）占了大头；运算量和一个卷积的 $C_{in} C_{out} k^2 HW$ 比起来微不足道。
#
# **练习 4（2 分）。** 写出 `se_param_count(channels, reduction, bias=True)`，即一个 SE 模块的参数量（Python `int`）。然后把 `se_params_conv4` 设为 SE 模块给 SE-ResNet-50 的 conv4_x 阶段增加的参数量：这个阶段有六个瓶颈块，输出宽度 $C = 1024$，$r = 16$，带偏置。

# %% nbgrader={"grade": false, "grade_id": "param_count", "locked": false, "schema_version": 3, "solution": true, "task": false}
def se_param_count(channels: int, reduction: int, bias: bool = True) -> int:
    """一个 SE 模块的参数量。"""
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
# 下面按阶段列出整个 SE-ResNet-50 的结果：你的计数，对照一个直接把 `attn_ref` 模块的参数加起来的计数器。ResNet-50 本身有 25,557,032 个参数（含分类器），加上 SE 模块后达到论文中的 28.1 M。

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
# 两个全连接层（fully connected layer）的乘加次数可以用 PyTorch 自带的计数器 `torch.utils.flop_counter.FlopCounterMode` 核对。它只统计矩阵乘法（按 FLOPs 计，每次乘加算两次），不统计池化、Sigmoid 和缩放：

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
# ## 4. 看它工作
#
# 为了在没有训练好的权重时也能看到门控怎样响应图像内容，我们自己构造特征图：用一组 Gabor 滤波器（有方向的带通滤波器，`attn_ref.data.gabor_features`）处理 scikit-image 自带的三张示例图像，取十二个整流后的响应。每个通道除以它在三张图像上的平均响应，就像网络中的归一化层让各通道保持在可比的尺度上。
#
# 先看一个**随机权重**的 SE 模块，相当于训练刚开始的时候：

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
# 各图像的门控几乎没有差别，都在 $\sigma(0)=\tfrac12$ 附近：权重小而随机时，激励几乎是常数。是训练让它随输入而变。想看训练好的模块*能*做到什么，就手动设置权重。取 $r = 1$，$W_1 = I$，$b_1 = 0$（特征非负，所以 ReLU 原样放行 $z$），$W_2 = \alpha\,(I - \tfrac1C \mathbf{1}\mathbf{1}^\top)$，$b_2 = 0$，式 (2) 变为
#
# $$ s_c = \sigma\big(\alpha\,(z_c - \bar z)\big), \qquad \bar z = \tfrac1C \textstyle\sum_k z_k, $$
#
# 这个门控放大*对这张图像*响应高于平均的通道，抑制其余通道。这是一条增强对比度的规则，模块的两层恰好能表达它。

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
# 现在是统计量在驱动门控，每张图像偏好的通道各不相同。偏好哪些通道，下面由同一组门控值算出、用文字列出（“门控最大的是”后是门控值最大的三个通道及其门控值，“高于 ½ 的”后是每个波长 λ 下门控值高于 ½ 的方向 θ，“无”表示没有；λ = 4 是细波长）：

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-05-gates", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
from attn_ref.plots import describe_gates

print("\n".join(describe_gates(gates, labels)))

# %% [markdown]
# 下面是宇航员图像的十二张特征图经过模块前后的样子，用同一个色标：门控值小的通道变淡了。

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
# ## 5. 易错点
#
# * **用均值，不用最大值。** 挤压是求平均。最大池化（max pooling）是另一种设计（在论文的消融实验里略差）；CBAM（第 3 章）两者都用。
# * **有没有偏置。** 论文的式 (2) 没有偏置，论文发布的 Caffe 模型有，而广泛使用的 PyTorch 移植版（senet.pytorch 中的 `SELayer`：`fc.0.weight`、`fc.2.weight`）没有。两者都叫“SE”；每个模块的参数量相差 $C' + C$。`attn_ref.SqueezeExcitation(...,
#   bias=False)` 和 `attn_ref.load_official_state_dict` 能读取这个移植版的权重文件。
# * **瓶颈宽度的取整。** 公开代码把 $C/r$ 向下取整（`channels // reduction`）；$C$ 不能被 $r$ 整除时，向上取整会得到不同的参数量。
# * **用 Sigmoid，不用 Softmax。** 在通道上做 Softmax 会迫使各通道相互竞争（门控之和为 1）；论文希望能同时强调多个通道。
# * **放在哪里。** 在 ResNet 中，SE 模块在与恒等分支相加*之前*缩放残差分支（第 5 章）；如果在相加之后缩放，恒等路径也会被一起缩小。
# * **形状。** `x.mean(dim=(2, 3), keepdim=True)` 得到 `(B, C, 1, 1)`，适合接 $1\times1$ 卷积；`nn.Linear` 要的是 `(B, C)`。两者混用会被静默地广播成一个形状为 `(B, C, B, C)` 的错误结果。
#
# 下面核对偏置的两种写法，以及按移植版的排列加载权重：

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-07", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
ported = {"fc.0.weight": torch.randn(4, 64), "fc.2.weight": torch.randn(64, 4)}   # senet.pytorch layout
se_nb = attn_ref.load_official_state_dict(attn_ref.SqueezeExcitation(64, 16, bias=False), ported)
x = torch.randn(2, 64, 3, 3)
by_hand = x * torch.sigmoid(torch.relu(x.mean((2, 3)) @ ported["fc.0.weight"].T) @ ported["fc.2.weight"].T)[:, :, None, None]
print("loaded port matches eq. (1)-(3):", torch.allclose(se_nb(x), by_hand, atol=1e-6))
print("parameters with / without biases:", se_param_count(64, 16), "/", se_param_count(64, 16, bias=False))

# %% [markdown]
# ## 6. 小结
#
# | 步骤 | 公式 | 代码 |
# |---|---|---|
# | 挤压 | $z_c = \frac{1}{HW}\sum_{i,j} x_c(i,j)$ | `x.mean(dim=(2, 3))` |
# | 激励 | $s = \sigma(W_2\,\delta(W_1 z + b_1) + b_2)$ | `torch.sigmoid(F.linear(F.relu(F.linear(z, w1, b1)), w2, b2))` |
# | 缩放 | $\tilde{x}_c = s_c x_c$ | `x * s[:, :, None, None]` |
# | 开销 | $2CC' + C' + C$ 个参数，$C' = \lfloor C/r\rfloor$ | `attn_ref.SqueezeExcitation(C, r)` |
#
# **参考文献**
#
# * J. Hu, L. Shen, G. Sun. *Squeeze-and-Excitation Networks.* CVPR 2018；扩展版见 TPAMI 2020。
#   arXiv:1709.01507。
# * 官方代码（Caffe）：github.com/hujie-frank/SENet。一个常用的 PyTorch 移植版：
#   github.com/moskomule/senet.pytorch。
# * 本课程的参考实现：`attn_ref/se.py`；本章的隐藏测试：`attn_ref/grading/checks_se.py`。

# %% [markdown]
# ## 提交之前
#
# 下面的单元格列出本章的计分步骤和分值，以及每一步的可见测试在本次会话中最近一次运行时是否通过（*运行 → 运行全部单元格*，即 *Run → Run All Cells*，会运行全部单元格，遇到你还没写的步骤也会继续往下运行）。可见测试通过是个好兆头，但不是成绩：提交后，评分程序会运行每一步的隐藏测试。

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "summary", "locked": true, "schema_version": 3, "solution": false, "task": false}
from attn_ref.grading import summary

summary("se.ipynb")
