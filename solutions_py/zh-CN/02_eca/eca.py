# %% [markdown]
# # 第 2 章　ECA：高效的通道注意力（Channel Attention）
#
# *attention-course · 第 2 章 · 约 45 分钟*
#
# 第 1 章的挤压与激励（Squeeze-and-Excitation，SE）模块用两个全连接层计算通道门控：$C$ 个通道先被压进只有 $C/r$ 个单元的瓶颈。**高效通道注意力**（Efficient Channel Attention，ECA；Wang、Wu、Zhu、Li、Zuo 和 Hu，CVPR 2020）对这个设计提出两个问题：瓶颈有用吗？每个通道都需要和其他所有通道交互吗？它的回答是*不降维*、*只和相邻通道交互*，于是激励变成沿通道描述子滑动的一维卷积，只有寥寥几个权重（最多 9 个）。在 ResNet-50 中，官方发布的 ECA 模块一共只增加不到一百个参数（练习 4 会算出来），而 SE 要增加几百万个；ECA 在 ImageNet 上的 top-1 准确率为 77.48 %，SE 为 76.71 %（ECA-Net，CVPR 2020 / arXiv v4，Table 3，各注意力模块的比较；其中 SE 的数字是 SENet 在它自己的 Table 2 中报告的，ECA 直接照抄，没有重新训练）。
#
# 本章沿着论文的论证从 SE 走到 ECA：实现根据通道数选择卷积核大小的规则（取整方式与官方代码完全一致）、门控和整个模块，计算它们的开销，再看通道上的卷积带来的两个后果：首末两端的通道与其余通道受到的对待不同；通道的顺序开始变得重要。
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
from attn_ref.grading import expect_answer, expect_close, expect_defined, expect_dtype, expect_equal, expect_shape, grade
from attn_ref.data import gabor_features, sample_image
from attn_ref.eca import eca_resnet50_kernels
from attn_ref.plots import block_diagram, plot_gates, show_maps

torch.manual_seed(0)
torch.set_printoptions(precision=4, sci_mode=False)
# %matplotlib inline

# %% [markdown]
# ## 1. 是什么，为什么
#
# ECA 保留 SE 的挤压和缩放，只替换激励：
#
# 1. **挤压**（squeeze）：和 SE 完全一样，把 $X \in \mathbb{R}^{C\times H\times W}$ 的每个通道在所有位置上取平均，得到 $z \in \mathbb{R}^C$；
# 2. **激励**（excitation）：沿 $z$ 的通道轴滑动一个含 $k$ 个权重的一维卷积，两端补零，使输出仍有 $C$ 个值，再用 Sigmoid 压缩到 $s\in(0,1)^C$；
# 3. **缩放**（scale）：把 $X$ 的通道 $c$ 乘以 $s_c$。
#
# 没有瓶颈，没有 ReLU，也没有偏置：无论 $C$ 是多少，模块都恰好只有 $k$ 个参数。

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-01", "locked": true, "schema_version": 3, "solution": false, "task": false}
block_diagram([("X", "C×H×W"), ("global\navg pool", "z ∈ ℝ^C"), ("1-D conv over\nchannels, k taps", "C"),
               ("sigmoid σ", "s ∈ (0,1)^C"), ("⊗", "C×H×W")],
              title="ECA: one small convolution along the channel axis replaces SE's two FC layers",
              skip_to=4)
plt.show()


# %% [markdown]
# ## 2. 推导
#
# ### 2.1 从 SE 到 ECA：瓶颈的代价
#
# 和第 1 章一样，把挤压写成
#
# $$ z_c \;=\; \frac{1}{H\,W}\sum_{i=1}^{H}\sum_{j=1}^{W} x_c(i, j), \qquad z\in\mathbb{R}^C, \tag{1}$$
#
# 并把所有通道注意力的门控都写成 $s = \sigma(f(z))$，其中 $f:\mathbb{R}^C\to\mathbb{R}^C$ 是某个映射。SE 取 $f(z) = W_2\,\delta(W_1 z)$，$W_1 \in \mathbb{R}^{\frac{C}{r}\times C}$：通道 $c$ 的门控只能*经过*一个到 $C/r$ 维的投影才依赖于 $z_c$，所以通道和它自己的权重之间的对应是间接的。论文（Sec. 3.2）在 ImageNet 上的 ResNet-50 里换用更简单的 $f$ 来检验这一点。下面是它的 Table 2（CVPR 2020 / arXiv v4），top-1 准确率；SE 一行是 SENet 自己 Table 2 中的数字，ECA 照抄过来：
#
# | 变体 | $f(z)$ | 每个模块的参数量 | top-1 (%) |
# |---|---|---|---|
# | ResNet-50，无注意力 | — | 0 | 75.20 |
# | SE | $W_2\,\delta(W_1 z)$ | $2C^2/r$ | 76.71 |
# | SE-Var1 | $z$ | 0 | 76.00 |
# | SE-Var2 | $w \odot z$（对角矩阵） | $C$ | 77.07 |
# | SE-Var3 | $W z$（一个完整矩阵） | $C^2$ | 77.42 |
# | ECA-NS | 带状矩阵 $W_k z$，式 (2) | $k\,C$ | 77.35 |
# | ECA | $\mathrm{C1D}_k(z)$，式 (3)，$k = 3$ | $k$ | 77.43 |
#
# 从表中可以读出三点。即使是完全没有参数的门控 SE-Var1（$s = \sigma(z)$）也有帮助。SE-Var2 给每个通道一个自己的权重、通道之间不交互，却以少得多的参数胜过 SE：*避免降维*很重要。SE-Var3 是不降维的完整矩阵，效果更好：*跨通道交互*也很重要。ECA 要找的，是同时保留这两点的最便宜的 $f$。
#
# ### 2.2 局部跨通道交互：带状矩阵
#
# 完整矩阵让每个通道与所有其他通道交互，代价是 $C^2$ 个参数（$C = 2048$ 时超过四百万）。ECA 只保留每个通道与它最近的 $k$ 个邻居之间的交互：矩阵第 $c$ 行只在第 $c - p, \dots, c + p$ 列上有非零元素，其中 $p = (k-1)/2$，$k$ 为奇数，
#
# $$ s_c \;=\; \sigma\Big(\sum_{j=0}^{k-1} w_{c,j}\; z_{c+j-p}\Big), \qquad z_{c'} := 0 \text{ for } c' < 0 \text{ or } c' \ge C . \tag{2}$$
#
# 这是一个有 $k\,C$ 个参数的带状矩阵（即论文中的 ECA-NS，NS 指 "not shared"，权重不共享；这里通道从 0 开始编号）。论文接着让所有通道**共享**这 $k$ 个权重，$w_{c,j} = w_j$：
#
# $$ s_c \;=\; \sigma\Big(\sum_{j=0}^{k-1} w_{j}\; z_{c+j-p}\Big)
# \quad\Longleftrightarrow\quad s = \sigma\big(\mathrm{C1D}_k(z)\big). \tag{3}$$
#
# 沿通道轴的每个位置都用同样的 $k$ 个权重：这*就是*在描述子 $z$ 上做大小为 $k$ 的一维卷积，两端各补 $p$ 个零，使输出仍有 $C$ 个值；这些补上的零就是式 (2) 中的“$z_{c'} := 0$”。和 `nn.Conv1d` 一样（它实际算的是互相关），权重 $w_j$ 乘的是偏移为 $j - p$ 的邻居：$w_0$ 看前一个通道，$w_{k-1}$ 看后一个通道。输出再像 SE 一样作用到特征上：
#
# $$ \tilde x_c \;=\; s_c\, x_c . \tag{4}$$
#
# 在这里，共享权重并不损失精度（Table 2 中 ECA 为 77.43 %，ECA-NS 为 77.35 %），而每个模块只剩 $k$ 个参数。下面是 $C = 16$、$k = 5$ 时的三个矩阵，按式 (2) 和 (3) 逐个元素构造：每个着色的格子是一个权重；在共享权重的矩阵中，每条对角线上只有一个值。

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
# 看 ECA 矩阵最前面两行和最后面两行：它们只含 5 个权重中的 3 个和 4 个。缺的那几个落在补的零上：通道 0 左边没有邻居。§ 2.6 会再回到这一点。
#
# ### 2.3 自适应的卷积核大小
#
# 应该让多少个邻居交互？论文（Sec. 3.2）认为覆盖范围 $k$ 应当随通道数增长；又因为通道数通常是 2 的幂，它假设二者之间是指数关系：
#
# $$ C \;=\; \phi(k) \;=\; 2^{\,\gamma k - b}. \tag{5}$$
#
# 解出 $k$，就得到规则
#
# $$ k \;=\; \psi(C) \;=\; \left|\,\frac{\log_2 C}{\gamma} + \frac{b}{\gamma}\,\right|_{odd}, \qquad \gamma = 2,\; b = 1, \tag{6}$$
#
# 论文说 $|t|_{odd}$ 是“离 $t$ 最近的奇数”（the nearest odd number of $t$）。*最近*留下了一种没说清的情况：$t$ 恰好是偶数时，奇数 $t-1$ 和 $t+1$ 离它一样近。取 $\gamma = 2$、$b = 1$ 时，$t = (\log_2 C + 1)/2$ 在 $\log_2 C = 3, 7, 11$ 时是偶数：即 $C = 8$（$t = 2$）、$C = 128$（$t = 4$）和 $C = 2048$（$t = 6$）。论文里印出的 PyTorch 代码是这样处理的：先截断取整，结果为偶数就向上加一：
#
# $$ t = \operatorname{int}\!\Big(\Big|\frac{\log_2 C + b}{\gamma}\Big|\Big), \qquad
#    k = \begin{cases} t & t \text{ odd} \\ t + 1 & t \text{ even.}\end{cases} \tag{6'}$$
#
# 所以 $C = 128$ 给出 $t = 4$ 和 $k = 5$，而不是 3。$t$ 不是整数时，先截断再“偶数 → +1”总会落在最近的奇数上，因此 (6') 与 (6) 只在恰好等距的情况下不同，这时 (6') 向上取。我们沿用论文的代码，被广泛照搬的各种复现也是这么做的。（官方仓库从不计算 $k$：它的模型把各个卷积核大小作为参数传入，见下文。）
#
# **练习 1（3 分）。** 把式 (6') 实现为 `eca_kernel_size(channels, gamma=2, b=1)`，返回 Python `int`。然后列成表：把 `k_resnet50` 设为一个元组，含这条规则在 ResNet-50 四个阶段的注意力模块所见宽度（256、512、1024、2048）上给出的四个卷积核大小；把 `k_mobilenetv2` 设为 MobileNetV2 各阶段宽度（16、24、32、64、96、160、320）上的七个卷积核大小。

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-03", "locked": true, "schema_version": 3, "solution": false, "task": false}
RESNET50_WIDTHS = (256, 512, 1024, 2048)              # channels the attention block sees, by stage
MOBILENETV2_WIDTHS = (16, 24, 32, 64, 96, 160, 320)   # output width of each inverted-residual stage


# %% nbgrader={"grade": false, "grade_id": "kernel_size", "locked": false, "schema_version": 3, "solution": true, "task": false}
def eca_kernel_size(channels: int, gamma: float = 2, b: float = 1) -> int:
    """式 (6')：t = int(|(log2(C) + b) / gamma|)；t 为奇数时 k = t，否则 k = t + 1。"""
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
# 把你的规则和作者实际训练用的卷积核放在一起。官方仓库中发布的 ECA-ResNet-50 名为“`eca_resnet50_k3557`”：它的训练命令手动传入每个阶段的卷积核。发布的 ECA-MobileNetV2（“`k13`”）在 96 个通道以下用 $k = 1$，从 96 个通道起用 $k = 3$。

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
# 规则和发布版本在 ResNet-50 的后三个阶段一致，在第一个阶段不一致（256 个通道：$\psi$ 给出 5，发布版本用 3）；发布的 MobileNetV2 除了 96 这个宽度（两者都是 3）之外，每个宽度上的卷积核都比 $\psi$ 小 2（见上面输出的最后一行）。论文正文用 $\psi$ 推出 $k$，发布的模型却是手动固定 $k$。复现论文中的某个数字时，要先查清它用的是哪一种（§ 3 两种都会算）。
#
# ### 2.4 门控
#
# **练习 2（3 分）。** 把式 (1) 和 (3) 实现为一个函数：`eca_gate(x, weight)` 输入形状为 `(B, C, H, W)` 的一批 $x$ 和形状为 `(k,)` 的 $k$ 个共享权重 `weight`（$k$ 为奇数），返回形状为 `(B, C)`、数据类型与 $x$ 相同的门控 $s$（权重可能是另一种数据类型：把它转换成 $x$ 的类型）。在通道轴两端各补 $(k-1)/2$ 个零；和 `nn.Conv1d` 一样，权重 $j$ 乘的是 $z_{c + j - (k-1)/2}$。你可以用 `F.conv1d`（它要求输入形状为 `(N, channels_in, length)`，权重形状为 `(channels_out, channels_in, k)`），也可以用带状矩阵或循环。

# %% nbgrader={"grade": false, "grade_id": "gate", "locked": false, "schema_version": 3, "solution": true, "task": false}
def eca_gate(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """式 (1) 和 (3)：s = sigmoid(C1D_k(z))，z 为各通道的均值。(B, C, H, W), (k,) -> (B, C)。

    s 的数据类型与 x 相同：数据类型不同的权重先转换成 x 的类型。
    """
    ### BEGIN SOLUTION
    k = weight.shape[0]
    z = x.mean(dim=(2, 3))                                              # (B, C)，式 (1)
    w = weight.to(x.dtype).view(1, 1, k)
    y = F.conv1d(z.unsqueeze(1), w, padding=(k - 1) // 2)               # (B, 1, C)
    return torch.sigmoid(y.squeeze(1))                                  # (B, C)，式 (3)
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
# ### 2.5 模块
#
# **练习 3（3 分）。** 把整个模块写成一个 `nn.Module`。`k_size=None` 时，卷积核大小由式 (6') 按给定的 `gamma` 和 `b` 算出；否则就是 `k_size`（奇数）。模块必须恰好只有一个可学习的张量，即 $k$ 个共享权重：`nn.Conv1d(1, 1, k, bias=False)` 或形状为 `(k,)` 的 `nn.Parameter` 都可以。`forward(x)` 返回 $x \otimes s$，即式 (4)。你可以调用自己写的 `eca_kernel_size` 和 `eca_gate`。

# %% nbgrader={"grade": false, "grade_id": "eca_module", "locked": false, "schema_version": 3, "solution": true, "task": false}
class ECA(nn.Module):
    """高效通道注意力（ECA）：forward(x) = x * s，s = sigmoid(C1D_k(x 在 H、W 上的均值))。"""

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
# ### 2.6 通道轴的两端，以及通道的顺序
#
# **两端补零。** 在式 (3) 中，最前面和最后面的 $p$ 个通道真实的邻居更少：落在 $0, \dots, C-1$ 之外的抽头乘的是零。因此，即使描述子在每个通道上都相同，中间的通道和两端的通道得到的门控也不一样。取滑动平均（$w_j = 1/3$）和 $z = \mathbf 1$：

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-05", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
w_avg = torch.full((3,), 1 / 3, dtype=torch.float64)
x_flat = torch.ones(1, 8, 2, 2, dtype=torch.float64)          # z_c = 1 for every channel
print("logits C1D(z):", (torch.logit(eca_gate(x_flat, w_avg))[0]).numpy().round(4))
print("gates  s     :", eca_gate(x_flat, w_avg)[0].numpy().round(4))

# %% [markdown]
# 通道 0 和 7 看到的是 $(0 + 1 + 1)/3$，而不是 1。训练好的网络可以消化这一点（模块前后的层会适应它），但这意味着 ECA 对每个通道做的*并不是*同一个运算；而看上去无害的循环填充（circular padding）或反射填充，算出来的是另一个模块。
#
# **通道顺序。** SE 的激励是一对完整矩阵。如果用置换矩阵 $P$ 置换 $X$ 的通道，那么权重取 $W_1 P^\top$ 和 $P W_2$（以及 $P b_2$）的 SE 恰好给出原模块输出的置换：只要相应地重新标记权重，SE 并不在乎通道怎样排列。ECA 的矩阵是一个*共享的带状矩阵* $B_w$。置换通道会把它变成 $P B_w P^\top$，对一般的置换来说它不再是带状的，所以任何 $k$ 个权重都无法在置换后的输入上复现原来的模块。通道顺序是模型的一部分：只有通道轴上相邻的通道之间才有交互，而哪些通道最终挨在一起，是由模块之前的层学出来的。
#
# 用一个小计算把这两方面的说法落到实处。我们取一个随机置换，构造 SE 重新标记后的权重；对 ECA，则在 64 个随机输入的 logit 上用最小二乘法寻找最好的 $k$ 个权重 $w'$：

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
# ## 3. 开销
#
# 每个模块、每个样本，记 $p = (k-1)/2$：
#
# | 部分 | 参数量 | 乘加次数 |
# |---|---|---|
# | 挤压，式 (1) | 0 | $CHW$ 次加法 |
# | 一维卷积，式 (3) | $k$ | 按卷积计数器的算法为 $Ck$（其中 $Ck - p(p+1)$ 次涉及真实的通道） |
# | 缩放，式 (4) | 0 | $CHW$ 次乘法 |
# | **ECA 合计** | $k$ | $Ck + CHW$（另加池化的加法） |
# | SE，作为对照 | $2CC' + C' + C$，$C' = \lfloor C/r\rfloor$ | $2CC' + CHW$ |
#
# ECA 的参数量与 $C$ 完全无关，所以起作用的是模块的个数和它们的卷积核大小。
#
# **练习 4（2 分）。** ResNet-50 的四个阶段分别有 3、4、6、3 个瓶颈块，每个块有自己的注意力模块。把 `eca_params_official` 设为所有 ECA 模块给发布的 ECA-ResNet-50（各阶段卷积核为 3、5、5、7）增加的参数量，把 `eca_params_adaptive` 设为改用规则给出的卷积核（§ 2.3 表中的 `psi` 列）时它们增加的参数量。

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
# 论文摘要给出的 ECA-ResNet-50 参数量是发布网络的（下面第一行）。下面与一个把 `attn_ref` 各模块参数加起来的计数器对照，并与放在同样位置的 SE（$r = 16$，带偏置）比较：

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
# 再用 PyTorch 自带的计数器看最宽阶段一个模块的乘加次数。它只统计卷积（按 FLOPs 计，每次乘加算两次，包括落在补零上的抽头），不统计池化、Sigmoid 和缩放：

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
# ## 4. 看它工作
#
# 和第 1 章一样，不用训练好的网络，而是自己构造特征图（feature map）：scikit-image 的三张示例图像经过 Gabor 滤波器后的十二个整流响应（`attn_ref.data.gabor_features`），每个通道除以它在三张图像上的均值。现在它们的**顺序**很重要。通道 0–5 是波长 λ = 4 下的六个方向 θ = 0°, 30°, …, 150°，通道 6–11 是 λ = 8 下的同样六个方向，所以通道上的邻居就是方向上的邻居。例外是通道 5 和 6 之间的 λ 分界处，以及补零所在的两端（而方向本身是首尾相接的：150° 紧挨着 0°）。
#
# 为了看清三个权重能表达什么，我们手动把它们设为 $w = \alpha\,(-\tfrac12, 1, -\tfrac12)$：
#
# $$ s_c = \sigma\big(\alpha\,(z_c - \tfrac12(z_{c-1} + z_{c+1}))\big), $$
#
# 某个通道的响应强于它方向上的邻居时，这个门控就打开：这是沿通道轴的局部对比度，而 SE 要用一个 $C\times C$ 矩阵才写得出来。

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
# 用文字列出同一组门控：每张图像门控值最大的三个通道，以及每个波长 λ 下门控值高于 ½ 的方向 θ；然后是紧挨补零的两个端点通道：

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
# 对砖墙图像来说，是墙的砖层和灰缝（θ = 0° 和 90°）对比它们之间的斜向方向：上面那行说明了门控在每个波长下对哪些方向打开。再看虚线处，那里通道的邻居不是方向上的邻居。两个端点通道各只有一个真实的邻居，另一个是补的零，所以只减去一半，它们比其他通道更容易打开：最后两行统计了有几张图像如此。在中间的 λ 分界处，一个通道被拿来和另一个波长的通道比较。如果让方向首尾相接（θ = 150° 紧挨 0°，每个波长各自相接），端点通道就会和其他通道受到同样的判断。下面是砖墙图像在两者不同的四个位置上的 logit：

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
# ## 5. 易错点
#
# * **$k$ 的取整。** 论文中的 $|t|_{odd}$ 是“最近的奇数”；代码则截断取整，再把偶数 $t$ 向上加一。两者只在恰好等距时不同（默认参数下为 $C = 8, 128, 2048$），而 ResNet-50 的最后一个阶段恰好就在这里。先把 $t$ 四舍五入到最近的整数、向上取整，或把偶数 $t$ *向下*移，都会改变某些卷积核大小。
# * **规则与发布版本。** 发布的 ECA-ResNet-50 用的卷积核是 3、5、5、7，而不是 $\psi$ 给出的那些（练习 1 和 4 两种都算了，也算出了差别带来的开销）；ECA-MobileNetV2 用 1 和 3。官方的 `eca_layer(channel,
#   k_size=3)` 接收通道数，却从不使用它：不显式给出 `k_size` 时，每个模块都得到 $k = 3$。
# * **偶数 $k$ 与填充。** $k$ 为奇数时，`padding=(k - 1) // 2`、`padding=k // 2` 和 PyTorch 的 `padding="same"` 三者一致。偶数 $k$ 没有对称的
#   "same" 填充：两边各补 `k // 2` 得到 $C + 1$ 个值，各补 `(k - 1) // 2` 得到 $C - 1$ 个值。规则永远不会给出偶数 $k$；如果你的代码给出了，就是取整错了。
# * **填充方式。** 两端填充的是零。循环填充（`padding_mode="circular"`）会让通道 0 和通道 $C-1$ 成为邻居：这是另一个模块，而两者的 state dict 能互相加载，不报任何错。
# * **沿哪个轴。** 卷积沿每个样本的描述子 $z \in \mathbb{R}^C$ 的通道轴进行。官方代码对 `(B, C, 1, 1)` 张量做 `squeeze(-1).transpose(-1, -2)`，得到 `(B, 1, C)`；多转置一次就会沿批次维做卷积（$B = C$ 时形状照样对得上，$B = 1$ 时则被静默地广播）。
# * **别无其他。** 没有偏置，没有 ReLU，没有归一化：卷积之后直接接 Sigmoid。官方的 state dict 只有一个张量，即形状为 `(1, 1, k)` 的 `conv.weight`，`attn_ref.load_official_state_dict` 可以把它加载进 `attn_ref.ECA`。
# * **通道顺序。** ECA 对通道的重新编号不具有不变性（§ 2.6）。哪些通道是邻居，由模块之前的层决定；把 ECA 加进一个预训练网络时，那个顺序是在没有 ECA 的情况下学出来的，只有训练才能让它适应。

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
# ## 6. 小结
#
# | 步骤 | 公式 | 代码 |
# |---|---|---|
# | 挤压 | $z_c = \frac{1}{HW}\sum_{i,j} x_c(i,j)$ | `x.mean(dim=(2, 3))` |
# | 局部交互 | $s_c = \sigma\big(\sum_j w_{c,j}\, z_{c+j-p}\big)$，$kC$ 个权重（ECA-NS） | 带状矩阵 |
# | 共享权重 | $s = \sigma(\mathrm{C1D}_k(z))$，$k$ 个权重 | `torch.sigmoid(F.conv1d(z[:, None], w.view(1, 1, k), padding=(k - 1) // 2))[:, 0]` |
# | 缩放 | $\tilde x_c = s_c x_c$ | `x * s[:, :, None, None]` |
# | 卷积核大小 | $k = \psi(C) = \lvert \log_2(C)/\gamma + b/\gamma\rvert_{odd}$，$\gamma = 2$，$b = 1$ | `t = int(abs((math.log2(C) + b) / gamma)); k = t if t % 2 else t + 1` |
# | 开销 | 每个模块 $k$ 个参数；ECA-ResNet-50：$\sum_{\text{stages}} (\text{blocks}\cdot k)$，按发布版本或按 $\psi$（§ 3） | `attn_ref.ECA(C, k_size)` |
#
# **参考文献**
#
# * Q. Wang, B. Wu, P. Zhu, P. Li, W. Zuo, Q. Hu. *ECA-Net: Efficient Channel Attention for Deep
#   Convolutional Neural Networks.* CVPR 2020. arXiv:1910.03151。Sec. 3.2（SE 的各种变体，Table 2；局部交互；卷积核大小的规则及其取整的 PyTorch 代码），Table 3（与其他注意力模块的比较）。表号按 CVPR 2020 / arXiv v4 版本。
# * 官方代码（PyTorch）：github.com/BangguWu/ECANet，其中 `models/eca_module.py`（`eca_layer`）、
#   `models/eca_resnet.py`、`models/eca_mobilenetv2.py`；发布的模型 `eca_resnet50_k3557`、
#   `eca_mobilenetv2_k13`。
# * J. Hu, L. Shen, G. Sun. *Squeeze-and-Excitation Networks.* CVPR 2018（第 1 章）。
# * 本课程的参考实现：`attn_ref/eca.py`；本章的隐藏测试：`attn_ref/grading/checks_eca.py`。

# %% [markdown]
# ## 提交之前
#
# 下面的单元格列出本章的计分步骤和分值，以及每一步的可见测试在本次会话中最近一次运行时是否通过（*运行 → 运行全部单元格*，即 *Run → Run All Cells*，会运行全部单元格，遇到你还没写的步骤也会继续往下运行）。可见测试通过是个好兆头，但不是成绩：提交后，评分程序会运行每一步的隐藏测试。

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "summary", "locked": true, "schema_version": 3, "solution": false, "task": false}
from attn_ref.grading import summary

summary("eca.ipynb")
