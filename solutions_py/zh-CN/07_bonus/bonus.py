# %% [markdown]
# # 第 7 章（附加）　十字交叉注意力（criss-cross attention）与 GAM
#
# *attention-course · 附加章节 · 约 60 分钟*
#
# 本章讲两个比第 1–4 章的门控看得更远的模块，外加一项凡是读注意力机制（attention mechanism）代码的人都用得上的本领。
#
# * **十字交叉注意力**（CCNet；Huang、Wang、Huang、Huang、Wei、Liu，ICCV 2019 / TPAMI 2020，arXiv 1811.11721）是非局部模块（non-local block）的一个廉价近亲：每个像素只关注它所在行和列上的 $H + W - 1$ 个像素；同一组权重算两轮，就足以把任意两个像素连起来。论文报告，与非局部模块相比，它的 GPU 显存占用少 11×，FLOPs 少约 85 %（摘要）。
# * **GAM**，即全局注意力机制（Global Attention Mechanism；Liu、Shao、Hoffmann，arXiv 2112.05561），沿用 CBAM 的顺序——先通道注意力（channel attention），再空间注意力（spatial attention）——但去掉了 CBAM 生成注意力图时用的池化，所以两张图都是完整的 $C\times H\times W$ 形状。
# * **批判性阅读。** 网上以这些名字流传的代码，常常名不副实。你将读三段短代码（为本课程而写，仿照流传的写法），用数字找出其中的错误，并写出修正后的版本。
#
# **本笔记本怎样评分。** 每个练习是一个含 `raise NotImplementedError()` 的代码单元格，由你替换成自己的代码；它后面是一个锁定的测试单元格。可见测试检查能手算验证的小例子；提交后，同一个单元格还会在多种形状、随机种子和数据类型上运行隐藏测试，判定在你的笔记本内核之外完成。提交前请重启内核并运行全部单元格。

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

import attn_ref
from attn_ref.grading import expect_answer, expect_defined, expect_dtype, expect_close, expect_equal, expect_shape, grade
from attn_ref.data import gabor_features, sample_image
from attn_ref.plots import block_diagram

torch.manual_seed(0)
torch.set_printoptions(precision=4, sci_mode=False)
# %matplotlib inline

# %% [markdown]
# ## 1. 是什么，为什么
#
# **非局部模块**让 $H\times W$ 特征图（feature map）上的每个位置 $u$ 关注全部 $HW$ 个位置：$HW$ 个查询乘以 $HW$ 个键，共 $(HW)^2$ 个亲和度（affinity）。CCNet 的分割网络从 $769\times 769$ 的裁剪图像得到 $97\times 97$ 的特征图，在这张图上，每张图像有 88.5 M（百万）个亲和度，光是注意力矩阵用 float32 存储就要 354 MB——这还只是一个模块、一张图像的用量。
#
# **十字交叉注意力**保留了长距离依赖，但不再稠密：位置 $u=(h,w)$ 只关注它的*十字路径*（criss-cross path）$\Omega_u$，即第 $h$ 行和第 $w$ 列上的像素。像素自己同时在这一行和这一列上，只计一次，所以 $|\Omega_u| = H + W - 1$。同一个模块再算一轮（共享权重：论文中的*循环*十字交叉注意力，recurrent criss-cross attention，简称 RCCA，取 $R = 2$），信息就能经由两个像素所在行与列的交点，从任意一个像素传到任意另一个像素。

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-01", "locked": true, "schema_version": 3, "solution": false, "task": false}
block_diagram([("X", "C×H×W"), ("1×1 convs\nQ, K, V", "C'×H×W, C×H×W"),
               ("affinity\non the cross", "H×W×(H+W−1)"), ("softmax", "A"),
               ("aggregate\nΣ A V", "C×H×W"), ("γ · + X", "C×H×W")],
              title="one criss-cross pass (RCCA applies it twice with the same weights)", skip_to=5)
plt.show()


# %% [markdown]
# ## 2. 十字交叉注意力，逐式推导
#
# 对一个样本 $X\in\mathbb{R}^{C\times H\times W}$，三个 $1\times 1$ 卷积分别给出查询（query）、键（key）和值（value）：
#
# $$ Q = W_q X + b_q,\quad K = W_k X + b_k \in \mathbb{R}^{C'\times H\times W},\qquad
#    V = W_v X + b_v \in \mathbb{R}^{C\times H\times W}, \tag{1}$$
#
# 其中 $C' = C/r$（官方代码取 $r = 8$）。$u$ 与它十字路径上某个位置 $v$ 的**亲和度**是一个点积：
#
# $$ d_{u,v} = Q_u^\top K_v, \qquad v \in \Omega_u, \tag{2}$$
#
# **注意力**是在 $u$ 的十字路径上做的 Softmax（每个像素一个分布）：
#
# $$ A_{u,v} = \frac{\exp d_{u,v}}{\sum_{v'\in\Omega_u}\exp d_{u,v'}}, \tag{3}$$
#
# 输出把加权后的值加回输入，系数是一个可学习的标量 $\gamma$：
#
# $$ X'_u = \gamma \sum_{v\in\Omega_u} A_{u,v}\, V_v + X_u . \tag{4}$$
#
# **论文留给代码的细节。** (i) *中心像素。* 第 $h$ 行和第 $w$ 列共享 $u$。官方实现计算全部 $H$ 个列亲和度和全部 $W$ 个行亲和度，并把 $u$ 与自身的列亲和度设为 $-\infty$，这样 $u$ 只经由它的行进入 Softmax，且只进入一次。(ii) *$\gamma$ 的初值为 0*，所以新插入的模块是恒等映射，掺入多少注意力由训练决定。(iii) *存储布局。* 本章把像素 $(h, w)$ 的权重紧凑地存放在长度为 $H + W - 1$ 的最后一个维度上：
#
# | 下标 | 位置 |
# |---|---|
# | $0,\dots,H-2$ | 列上的 $(h', w)$，$h' = 0,\dots,H-1$ 但**不含** $h' = h$，按 $h'$ 递增 |
# | $H-1,\dots,H+W-2$ | 行上的 $(h, w')$，$w' = 0,\dots,W-1$（$w' = w$ 处是像素自己） |
#
# **练习 1（3 分）。** 对一个批次实现式 (2)–(3)：`criss_cross_attention(q, k)` 输入形状为 `(B, C', H, W)` 的查询和键，按上面的布局返回注意力 `(B, H, W, H + W - 1)`。一种做法：用 `torch.einsum` 算出列亲和度 `(B, H, W, H)` 和行亲和度 `(B, H, W, W)`，把列部分的中心用 `-inf` 屏蔽，对两者拼接后的结果做一次 Softmax，再去掉（此时为零的）列中心项。

# %% nbgrader={"grade": false, "grade_id": "criss_cross_attention", "locked": false, "schema_version": 3, "solution": true, "task": false}
def criss_cross_attention(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """式 (2)-(3)：在每个像素的十字路径上做 Softmax，返回 (B, H, W, H + W - 1)。

    最后一个维度：先是 H - 1 个列位置 (h', w)（h' != h，按 h' 递增），再是 W 个行位置
    (h, w')（w' = 0 .. W - 1）。
    """
    ### BEGIN SOLUTION
    B, _, H, W = q.shape
    d_col = torch.einsum("bchw,bcgw->bhwg", q, k)               # (B, H, W, H): Q_(h,w) . K_(g,w)
    d_row = torch.einsum("bchw,bchg->bhwg", q, k)               # (B, H, W, W): Q_(h,w) . K_(h,g)
    centre = torch.eye(H, dtype=torch.bool, device=q.device)[:, None, :]   # g == h
    d_col = d_col.masked_fill(centre, float("-inf"))
    a = torch.softmax(torch.cat([d_col, d_row], dim=-1), dim=-1)
    a_col = a[..., :H][~centre.expand(B, H, W, H)].reshape(B, H, W, H - 1)
    return torch.cat([a_col, a[..., H:]], dim=-1)
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_criss_cross_attention", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("bonus.criss_cross_attention", criss_cross_attention)
### END HIDDEN TESTS
# 1. Equal affinities everywhere: every pixel spreads its attention evenly over H + W - 1 = 6
#    positions of a 3 x 4 map. Counting the centre twice would give 7 entries of 1/7 (and drop one).
q = torch.ones(1, 1, 3, 4, dtype=torch.float64)
a = criss_cross_attention(q, q)
expect_shape(a, (1, 3, 4, 6), "criss_cross_attention on a 3 x 4 map",
             hint="the last axis holds H - 1 = 2 column entries and W = 4 row entries.")
expect_close(a, torch.full((1, 3, 4, 6), 1 / 6, dtype=torch.float64), "equal affinities",
             hint="count the pixel itself once: mask its column affinity with -inf before one softmax.")
# 2. A 2 x 2 map with C' = 1, q = k = [[1, 2], [0, 3]]. Pixel (0, 0) has value 1:
#    column entry (1, 0): 1 * 0 = 0; row entries (0, 0): 1 * 1 = 1 and (0, 1): 1 * 2 = 2.
#    Pixel (1, 1) has value 3: column entry (0, 1): 3 * 2 = 6; row entries (1, 0): 0, (1, 1): 9.
q = torch.tensor([[[[1.0, 2.0], [0.0, 3.0]]]], dtype=torch.float64)
a = criss_cross_attention(q, q)
expect_close(a[0, 0, 0], torch.softmax(torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64), 0),
             "weights of pixel (0, 0)", hint="one softmax over the 3 entries of this pixel (the last axis).")
expect_close(a[0, 1, 1], torch.softmax(torch.tensor([6.0, 0.0, 9.0], dtype=torch.float64), 0),
             "weights of pixel (1, 1)", hint="column entries first (without the pixel), then the whole row.")
print("Every visible test of this step passes; it earns its 3 points when the hidden tests agree.")


# %% [markdown]
# **练习 2（2 分）。** 实现式 (4) 中的求和，不含 $\gamma$ 和残差：`criss_cross_aggregate(attn, v)` 输入按上面布局存放的注意力 `(B, H, W, H + W - 1)` 和值 `(B, C, H, W)`，返回形状为 `(B, C, H, W)` 的 $\sum_{v\in\Omega_u} A_{u,v}V_v$。难点在列上：像素 $(h, w)$ 的第 $j$ 项，在 $j < h$ 时属于第 $h' = j$ 行，在 $j \ge h$ 时属于第 $h' = j + 1$ 行。

# %% nbgrader={"grade": false, "grade_id": "criss_cross_aggregate", "locked": false, "schema_version": 3, "solution": true, "task": false}
def criss_cross_aggregate(attn: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """式 (4)，不含 gamma 和残差：返回 (B, C, H, W)。"""
    ### BEGIN SOLUTION
    B, H, W, _ = attn.shape
    h = torch.arange(H, device=attn.device)
    j = torch.arange(H - 1, device=attn.device)
    rows_of = j[None, :] + (j[None, :] >= h[:, None]).long()        # (H, H - 1)：第 j 项对应的 h'
    a_col = torch.zeros(B, H, W, H, dtype=attn.dtype, device=attn.device)
    a_col.scatter_(-1, rows_of[None, :, None, :].expand(B, H, W, H - 1), attn[..., :H - 1])
    a_row = attn[..., H - 1:]
    return (torch.einsum("bhwg,bcgw->bchw", a_col, v)
            + torch.einsum("bhwg,bchg->bchw", a_row, v))
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_criss_cross_aggregate", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("bonus.criss_cross_aggregate", criss_cross_aggregate)
### END HIDDEN TESTS
# A loop you can read: out[h, w] = sum over the column without h, then over the whole row.
def aggregate_by_loops(attn, v):
    B, H, W, _ = attn.shape
    out = torch.zeros_like(v)
    for h in range(H):
        for w in range(W):
            others = [g for g in range(H) if g != h]
            for j, g in enumerate(others):
                out[:, :, h, w] += attn[:, h, w, j, None] * v[:, :, g, w]
            for w2 in range(W):
                out[:, :, h, w] += attn[:, h, w, H - 1 + w2, None] * v[:, :, h, w2]
    return out

v = torch.arange(6.0, dtype=torch.float64).reshape(1, 1, 2, 3)     # [[0, 1, 2], [3, 4, 5]]
uniform = torch.full((1, 2, 3, 4), 0.25, dtype=torch.float64)
# pixel (0, 0): its cross holds 3 (column) and 0, 1, 2 (row): mean 1.5
expect_close(criss_cross_aggregate(uniform, v)[0, 0, 0, 0], torch.tensor(1.5, dtype=torch.float64),
             "uniform attention at pixel (0, 0)", hint="average of the column entry 3 and the row 0, 1, 2.")
torch.manual_seed(2)
attn = torch.softmax(torch.randn(2, 4, 3, 6, dtype=torch.float64), -1)
vals = torch.randn(2, 5, 4, 3, dtype=torch.float64)
expect_close(criss_cross_aggregate(attn, vals), aggregate_by_loops(attn, vals), "against the loops",
             hint="column entry j of pixel (h, w) is row j if j < h, else row j + 1.")
print("Every visible test of this step passes; it earns its 2 points when the hidden tests agree.")


# %% [markdown]
# ### 2.1 循环模块
#
# RCCA 把式 (1)–(4) **用同一组权重**执行 $R$ 次，每一轮都从上一轮的输出开始：
#
# $$ X^{(0)} = X, \qquad X^{(t)} = \gamma\, \mathrm{CC}\big(X^{(t-1)}\big) + X^{(t-1)},
# \quad t = 1,\dots,R. \tag{5}$$
#
# **练习 3（3 分）。** 写出下面模块的 `forward`（各层已经替你建好，请保留它们的名字）。用上你写的两个函数。

# %% nbgrader={"grade": false, "grade_id": "cc_module", "locked": false, "schema_version": 3, "solution": true, "task": false}
class CrissCross(nn.Module):
    """循环十字交叉注意力，式 (1)-(5)，共 R = `recurrence` 轮。"""

    def __init__(self, channels: int, reduction: int = 8, recurrence: int = 2):
        super().__init__()
        qk = max(1, channels // reduction)
        self.recurrence = recurrence
        self.query_conv = nn.Conv2d(channels, qk, kernel_size=1)
        self.key_conv = nn.Conv2d(channels, qk, kernel_size=1)
        self.value_conv = nn.Conv2d(channels, channels, kernel_size=1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        for _ in range(self.recurrence):
            attn = criss_cross_attention(self.query_conv(x), self.key_conv(x))
            x = x + self.gamma * criss_cross_aggregate(attn, self.value_conv(x))
        return x
        ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_cc_module", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("bonus.cc_module", CrissCross)
### END HIDDEN TESTS
torch.manual_seed(3)
cc = CrissCross(8, reduction=4).double()
x = torch.randn(2, 8, 5, 7, dtype=torch.float64)
expect_shape(cc(x), (2, 8, 5, 7), "CrissCross(8, 4)(x).shape", hint="the block keeps the shape of x.")
expect_close(cc(x), x, "gamma = 0 at initialisation", hint="x' = x + gamma * out, and gamma starts at 0.")
# With gamma = 1 the passes show. Eq. (5) written out with your two functions: each pass reads
# the previous pass's output through the SAME three convolutions.
with torch.no_grad():
    cc.gamma.fill_(1.0)

def passes_by_hand(x, R):
    for _ in range(R):
        attn = criss_cross_attention(cc.query_conv(x), cc.key_conv(x))
        x = x + cc.gamma * criss_cross_aggregate(attn, cc.value_conv(x))
    return x

with torch.no_grad():
    expect_close(cc(x), passes_by_hand(x, 2), "two passes with shared weights, gamma = 1",
                 hint="run the pass self.recurrence times (2 here), each on the previous output, "
                      "and add gamma * out to x each time.")
    cc.recurrence = 3
    expect_close(cc(x), passes_by_hand(x, 3), "recurrence = 3", hint="use self.recurrence, not a fixed 2.")
# Random weights loaded into your module, on the hidden check's own shapes (earlier steps are
# replaced by the reference ones here, as when you submit).
expect_answer(CrissCross, "bonus.cc_module", "CrissCross with random weights")
print("Every visible test of this step passes; it earns its 3 points when the hidden tests agree.")


# %% [markdown]
# ## 3. 为什么两轮就能到达每个像素
#
# 一轮之后，$u=(h,w)$ 处的输出只依赖它十字路径上的输入。任取另一个像素 $v=(h_2,w_2)$。像素 $(h, w_2)$ 既在 $v$ 的列上，又在 $u$ 的行上：第一轮之后它带有 $v$ 的信息，第二轮 $u$ 再读取它。（$(h_2, w)$ 也一样。）所以 $R = 2$ 就能连通任意两个像素，再多的轮次也不会扩大可达范围（论文对循环次数做的消融实验最终选定 $R = 2$，作为精度与开销之间的折中）。
#
# 写成矩阵：按行优先给像素编号，$u = hW + w$，令 $M\in\{0,1\}^{HW\times HW}$ 在 $v\in\Omega_u$ 时取 $M_{u,v} = 1$。$R$ 轮之后 $u$ 处的输出可能依赖 $v$ 处的输入，当且仅当 $(M^R)_{u,v} > 0$（对一般的权重而言）。
#
# **练习 4（2 分）。** 写出 `reachability(H, W, passes)`：一个只含 0 和 1 的 $HW\times HW$ 矩阵（`torch.float64` 张量），经过 `passes` 轮之后 $u$ 处的输出依赖 $v$ 处的输入时，元素 $[u, v] = 1$。

# %% nbgrader={"grade": false, "grade_id": "reachability", "locked": false, "schema_version": 3, "solution": true, "task": false}
def reachability(H: int, W: int, passes: int) -> torch.Tensor:
    """(H*W, H*W) 的 float64 张量，元素为 0.0 或 1.0，像素按行优先编号：经过 `passes` 轮后
    u 可能依赖 v 的位置为 1。"""
    ### BEGIN SOLUTION
    h = torch.arange(H).repeat_interleave(W)
    w = torch.arange(W).repeat(H)
    m = ((h[:, None] == h[None, :]) | (w[:, None] == w[None, :])).double()
    reach = torch.eye(H * W, dtype=torch.float64)
    for _ in range(passes):
        reach = (reach @ m > 0).double()
    return reach
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_reachability", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("bonus.reachability", reachability)
### END HIDDEN TESTS
# A 2 x 2 map, pixels 0 = (0, 0), 1 = (0, 1), 2 = (1, 0), 3 = (1, 1): each pixel's cross holds
# itself, its row neighbour and its column neighbour, but not the diagonal pixel.
one = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 1], [1, 0, 1, 1], [0, 1, 1, 1]], dtype=torch.float64)
expect_dtype(reachability(2, 2, 1), torch.float64, "reachability(2, 2, 1).dtype",
             hint="return a torch.float64 tensor of 0.0 and 1.0 (for instance reach.double()), not a bool or integer one.")
expect_close(torch.as_tensor(reachability(2, 2, 1), dtype=torch.float64), one, "reachability(2, 2, 1)",
             hint="one pass: v is on the row or the column of u (u itself included).")
expect_close(torch.as_tensor(reachability(2, 2, 2), dtype=torch.float64), torch.ones(4, 4, dtype=torch.float64),
             "reachability(2, 2, 2)", hint="the diagonal pixel is reached through (0, 1) or (1, 0).")
print("Every visible test of this step passes; it earns its 2 points when the hidden tests agree.")

# %% [markdown]
# 下面是 $5\times 7$ 特征图上每个像素可达的像素数，以及在参考实现的模块上用 autograd 测出的同一个数（随机权重，$\gamma = 1$）：中心处的输出对某个输入像素的梯度不为零，就说明它依赖这个像素。

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-02", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
H, W = 5, 7
for R in (1, 2, 3):
    counts = torch.as_tensor(reachability(H, W, R)).sum(1)
    torch.manual_seed(0)
    block = attn_ref.CrissCrossAttention(4, reduction=2, recurrence=R).double()
    with torch.no_grad():
        block.gamma.fill_(1.0)
    x = torch.randn(1, 4, H, W, dtype=torch.float64, requires_grad=True)
    block(x)[0, :, 2, 3].sum().backward()
    measured = int((x.grad.abs().sum(1) > 0).sum())
    print(f"R = {R}: reachability says {int(counts[2 * W + 3])} of {H * W} pixels for the centre, "
          f"autograd finds {measured}")


# %% [markdown]
# ## 4. 与非局部模块比较开销
#
# 每一轮，$HW$ 个像素各自计算 $H + W - 1$ 个亲和度（式 2），每个都是长度为 $C'$ 的点积；再聚合 $H + W - 1$ 个长度为 $C$ 的值（式 4）。非局部模块这两项各是 $(HW)^2$ 个。两者的投影（式 1）都是同样的 $1\times 1$ 卷积。
#
# | | 亲和度个数 | 注意力占用的内存（float32） | 式 (2) 和式 (4) 的乘加次数 |
# |---|---|---|---|
# | 非局部模块 | $(HW)^2$ | $4(HW)^2$ 字节 | $(HW)^2 (C' + C)$ |
# | RCCA，$R$ 轮 | $R\,HW(H+W-1)$ | $4\,HW(H+W-1)$ 字节（每次只存一轮） | $R\,HW(H+W-1)(C'+C)$ |
#
# **练习 5（2 分）。** 写出 `cc_affinities(H, W, recurrence=2)`：RCCA 在 $H\times W$ 特征图上计算的亲和度 $d_{u,v}$ 的个数。然后把 `nonlocal_over_rcca` 设为在 CCNet 的 $97\times 97$ 特征图上，非局部模块的亲和度个数与 RCCA（$R = 2$）的亲和度个数之比，类型为 float。

# %% nbgrader={"grade": false, "grade_id": "cc_cost", "locked": false, "schema_version": 3, "solution": true, "task": false}
def cc_affinities(H: int, W: int, recurrence: int = 2) -> int:
    """`recurrence` 轮十字交叉注意力在 H x W 特征图上计算的亲和度个数。"""
    ### BEGIN SOLUTION
    return recurrence * H * W * (H + W - 1)
    ### END SOLUTION


### BEGIN SOLUTION
nonlocal_over_rcca = (97 * 97) ** 2 / cc_affinities(97, 97)
### END SOLUTION

# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_cc_cost", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("bonus.cc_cost", cc_affinities)
grade("bonus.cc_cost.ratio", nonlocal_over_rcca)
### END HIDDEN TESTS
expect_equal(cc_affinities(2, 2, 1), 4 * 3, "cc_affinities(2, 2, 1)",
             hint="4 pixels, each with a cross of 2 + 2 - 1 = 3 positions.")
expect_equal(cc_affinities(2, 2), 2 * 4 * 3, "cc_affinities(2, 2)", hint="the default is two passes.")
expect_defined("nonlocal_over_rcca")
expect_answer(nonlocal_over_rcca, "bonus.cc_cost.ratio", "nonlocal_over_rcca")
print("Every visible test of this step passes; it earns its 2 points when the hidden tests agree.")

# %% [markdown]
# 下面是几种特征图尺寸下的计数，以及用 PyTorch 的计数器对聚合乘加次数的核对（计数器把参考实现一轮中的 `einsum` 视为矩阵乘法；参考实现在全部 $H$ 行上稠密地计算列部分，所以每个像素计 $H + W$ 项）。

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-03", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
print(f"{'map':>9} {'non-local':>14} {'RCCA (R=2)':>12} {'ratio':>7}")
for H, W in [(33, 33), (65, 65), (97, 97), (64, 128)]:
    nl = (H * W) ** 2
    print(f"{H:>4}x{W:<4} {nl:14,d} {cc_affinities(H, W):12,d} {nl / cc_affinities(H, W):7.1f}")

from torch.utils.flop_counter import FlopCounterMode
C, H, W = 64, 16, 24
one_pass = attn_ref.CrissCrossAttention(C, reduction=8, store_maps=False, recurrence=1)
with FlopCounterMode(display=False) as counter:
    one_pass(torch.randn(1, C, H, W))
convs = (2 * C * (C // 8) + C * C) * H * W
print("counter, one pass, minus the 1x1 convs:", counter.get_total_flops() // 2 - convs)
print("closed form H W (H + W) (C' + C)      :", H * W * (H + W) * (C // 8 + C))


# %% [markdown]
# ## 5. 看它工作：一个像素在一轮和两轮之后看向哪里
#
# 要看清几何结构，不需要训练好的权重。我们取 scikit-image 的宇航员图像的十二张 Gabor 特征图（与第 1 章相同），把每个像素的 12 维向量缩放到单位长度，并令 $W_q = W_k = \alpha I$（$C' = C$，$\alpha = 2$）：这样两个像素的亲和度就是 $\alpha^2$ 乘以它们纹理描述子的余弦，像素最关注与自己纹理相近的位置。取 $\gamma = 1$、$W_v = I$，第二轮混合的是第一轮的输出。两轮之后，输入像素 $v$ 在 $u$ 处输出中的*有效*权重（不计残差路径）是 $\sum_{w} A^{(2)}_{u,w} A^{(1)}_{w,v}$，即两个注意力矩阵的乘积。

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-04", "locked": true, "schema_version": 3, "solution": false, "task": false}
def dense_attention(attn):
    # compact (H, W, H + W - 1) weights of one image -> dense (H*W, H*W) matrix
    H, W, _ = attn.shape
    col = torch.zeros(H, W, H, dtype=attn.dtype)
    others = torch.tensor([[g for g in range(H) if g != h] for h in range(H)])    # (H, H - 1)
    col.scatter_(-1, others[:, None, :].expand(H, W, H - 1), attn[..., :H - 1])
    dense = (torch.einsum("hwg,wv->hwgv", col, torch.eye(W, dtype=attn.dtype))
             + torch.einsum("hwv,hg->hwgv", attn[..., H - 1:], torch.eye(H, dtype=attn.dtype)))
    return dense.reshape(H * W, H * W)

image = sample_image("astronaut", size=64)
feats, labels = gabor_features(image)
feats = feats / feats.norm(dim=1, keepdim=True).clamp_min(1e-6)   # unit descriptor per pixel
C, H, W = feats.shape[1:]
rcca = attn_ref.CrissCrossAttention(C, reduction=1, recurrence=2)
with torch.no_grad():
    for conv in (rcca.query_conv, rcca.key_conv):
        conv.weight.copy_(2.0 * torch.eye(C)[:, :, None, None]); conv.bias.zero_()
    rcca.value_conv.weight.copy_(torch.eye(C)[:, :, None, None]); rcca.value_conv.bias.zero_()
    rcca.gamma.fill_(1.0)
    rcca(feats)
passes = rcca.maps["attention_passes"][:, 0]                   # (2, H, W, H + W - 1)
d1, d2 = dense_attention(passes[0]), dense_attention(passes[1])
u = (14, 28)                                                   # a pixel on the astronaut's face
k = u[0] * W + u[1]
fig, axes = plt.subplots(1, 3, figsize=(11, 3.8))
axes[0].imshow(image[0, 0], cmap="gray"); axes[0].plot(u[1], u[0], "r+", ms=12)
axes[0].set_title("image and pixel u")
for ax, m, t in ((axes[1], d1[k], "after one pass: A(1)[u]"), (axes[2], (d2 @ d1)[k], "after two passes: (A(2) A(1))[u]")):
    im = ax.imshow(np.log10(m.reshape(H, W).numpy() + 1e-6), cmap="magma", vmin=-6)
    ax.set_title(t); fig.colorbar(im, ax=ax, fraction=0.046, label="log10 weight")
for ax in axes:
    ax.axis("off")
fig.tight_layout(); plt.show()

# %% [markdown]
# 一轮之后，像素只看得到它的十字路径（其余位置都落在色标的最低处）；两轮之后，每个像素的权重都不为零，与 $u$ 处纹理最相似的地方权重最大。这就是 §3 的论证在真实图像上的样子。
#
# ## 6. GAM，逐式推导
#
# GAM 沿用 CBAM 的顺序 $F_2 = M_c(F_1)\otimes F_1$、$F_3 = M_s(F_2)\otimes F_2$（论文第 3 节和 Fig. 1），其中 $F_1 = X$，但两张图都**不经过池化**生成，以保留 CBAM 的均值和最大值丢掉的信息。两张图都是完整的 $C\times H\times W$ 形状，所以 $\otimes$ 就是普通的逐元素乘积。

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-05", "locked": true, "schema_version": 3, "solution": false, "task": false}
block_diagram([("F1 = X", "C×H×W"), ("permute,\nMLP C→C/r→C", "H×W×C"), ("permute⁻¹, σ", "M_c: C×H×W"),
               ("⊗ F1", "F2: C×H×W"), ("7×7 conv, BN,\nReLU, 7×7, BN", "C×H×W"),
               ("σ", "M_s: C×H×W"), ("⊗ F2", "F3: C×H×W")],
              title="GAM: full-size channel and spatial maps, no pooling", skip_to=3)
plt.show()


# %% [markdown]
# **通道子模块**（论文 Fig. 2）。一个 3 维置换 $P$ 把通道轴移到最后，$(C, H, W)\to(H, W, C)$，这样一个两层 MLP（降维比 $r$，中间是 ReLU）就作用在*每个*位置的通道向量上；再做逆置换、经过 Sigmoid，就得到这张图：
#
# $$ M_c = \sigma\Big(P^{-1}\big(W_2\,\delta(W_1 P(F_1) + b_1) + b_2\big)\Big),\qquad
#    W_1\in\mathbb{R}^{\frac{C}{r}\times C},\ W_2\in\mathbb{R}^{C\times\frac{C}{r}}. \tag{6}$$
#
# **空间子模块**（Fig. 3）。两个 $7\times 7$ 卷积，$C\to C/r\to C$，每个后面接 BatchNorm，两者之间是 ReLU，最后是 Sigmoid；没有池化，所以每个通道都保留自己的空间图：
#
# $$ M_s = \sigma\Big(\mathrm{BN}\big(\mathrm{conv}^{7\times7}_{C/r\to C}\,
#    \delta(\mathrm{BN}(\mathrm{conv}^{7\times7}_{C\to C/r}(F_2)))\big)\Big). \tag{7}$$
#
# **留给代码的细节。** 我们取 $r = 4$，这是常见 PyTorch 移植版（以及 `attn_ref.GAM`）的默认值；Fig. 3 没有画出偏置和填充（我们与这些移植版一样，用填充 3 并带偏置）；在 ResNet-50 上，论文用带通道混洗（channel shuffle）的分组卷积代替这两个卷积以减少参数，这里不采用。在网络中，GAM 推理时 BatchNorm 处于 eval 模式，所以练习把 BatchNorm 的滑动统计量（running statistics）作为参数传入（eps $= 10^{-5}$）。
#
# **练习 6（2 分）。** 实现式 (6)：`gam_channel_gate(x, w1, b1, w2, b2)` 输入 `(B, C, H, W)` 和 `nn.Linear` 排列的权重，返回形状为 `(B, C, H, W)` 的 $M_c$。

# %% nbgrader={"grade": false, "grade_id": "gam_channel_gate", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gam_channel_gate(x, w1, b1, w2, b2):
    """式 (6)：M_c (B, C, H, W)，在每个位置上应用 MLP C -> C/r -> C。"""
    ### BEGIN SOLUTION
    t = F.linear(F.relu(F.linear(x.permute(0, 2, 3, 1), w1, b1)), w2, b2)   # (B, H, W, C)
    return torch.sigmoid(t.permute(0, 3, 1, 2))
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_gam_channel_gate", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("bonus.gam_channel_gate", gam_channel_gate)
### END HIDDEN TESTS
# C = 2, H = 1, W = 2, one hidden unit that adds the two channels: position 0 holds (1, 2),
# position 1 holds (3, -1). Hidden: relu(3) = 3 and relu(2) = 2; output (t, -t).
x = torch.tensor([[[[1.0, 3.0]], [[2.0, -1.0]]]], dtype=torch.float64)       # (1, 2, 1, 2)
w1, b1 = torch.tensor([[1.0, 1.0]], dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
w2, b2 = torch.tensor([[1.0], [-1.0]], dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
s = lambda t: 1 / (1 + math.exp(-t))
expected = torch.tensor([[[[s(3), s(2)]], [[s(-3), s(-2)]]]], dtype=torch.float64)
expect_close(gam_channel_gate(x, w1, b1, w2, b2), expected, "channel map of a 1 x 2 input",
             hint="permute (not reshape) to (B, H, W, C), MLP on the last axis, permute back, sigmoid.")
# A negative hidden unit: position 0 holds (1, -3), so the hidden unit is ReLU(1 - 3) = 0.
x2 = torch.tensor([[[[1.0]], [[-3.0]]]], dtype=torch.float64)                  # (1, 2, 1, 1)
expect_close(gam_channel_gate(x2, w1, b1, w2, b2), torch.full((1, 2, 1, 1), 0.5, dtype=torch.float64),
             "channel map with a negative hidden unit",
             hint="the MLP has a ReLU between its layers: ReLU(-2) = 0, so both outputs are sigmoid(0).")
print("Every visible test of this step passes; it earns its 2 points when the hidden tests agree.")


# %% [markdown]
# **练习 7（3 分）。** 实现式 (7)：`gam_spatial_gate(f2, conv1, bn1, conv2, bn2)`，其中 `conv = (weight, bias)`（权重形状分别为 `(C/r, C, 7, 7)` 和 `(C, C/r, 7, 7)`），`bn = (weight, bias, running_mean, running_var)`；返回形状为 `(B, C, H, W)` 的 $M_s$。

# %% nbgrader={"grade": false, "grade_id": "gam_spatial_gate", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gam_spatial_gate(f2, conv1, bn1, conv2, bn2, eps=1e-5):
    """式 (7)：由 F2 计算 M_s (B, C, H, W)：conv7 -> BN -> ReLU -> conv7 -> BN -> sigmoid。"""
    ### BEGIN SOLUTION
    def bn(y, p):
        g, beta, mean, var = p
        return F.batch_norm(y, mean, var, g, beta, training=False, eps=eps)
    y = F.relu(bn(F.conv2d(f2, conv1[0], conv1[1], padding=3), bn1))
    return torch.sigmoid(bn(F.conv2d(y, conv2[0], conv2[1], padding=3), bn2))
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_gam_spatial_gate", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("bonus.gam_spatial_gate", gam_spatial_gate)
### END HIDDEN TESTS
# C = 4, C/r = 2 on a 3 x 5 map. conv1 has zero weights and bias 1, so every hidden unit is 1;
# bn1 (mean 0, var 1 - eps, scale 1, shift 0) keeps 1, ReLU keeps 1. conv2 averages the 2 hidden
# units at the same position (centre tap 1/2) and adds bias 0: 1. bn2 (mean 0.5, var 1 - eps,
# scale 2, shift 0): (1 - 0.5) * 2 = 1. M_s = sigmoid(1) everywhere, whatever f2 is.
d = dict(dtype=torch.float64)
f2 = torch.randn(1, 4, 3, 5, **d)
conv1 = (torch.zeros(2, 4, 7, 7, **d), torch.ones(2, **d))
w2 = torch.zeros(4, 2, 7, 7, **d); w2[:, :, 3, 3] = 0.5
conv2 = (w2, torch.zeros(4, **d))
bn1 = (torch.ones(2, **d), torch.zeros(2, **d), torch.zeros(2, **d), torch.full((2,), 1 - 1e-5, **d))
bn2 = (torch.full((4,), 2.0, **d), torch.zeros(4, **d), torch.full((4,), 0.5, **d), torch.full((4,), 1 - 1e-5, **d))
m = gam_spatial_gate(f2, conv1, bn1, conv2, bn2)
expect_shape(m, (1, 4, 3, 5), "gam_spatial_gate(...).shape",
             hint="7 x 7 convolutions with padding 3 keep H x W; the map has C channels.")
expect_close(m, torch.full((1, 4, 3, 5), 1 / (1 + math.exp(-1)), **d), "constant map",
             hint="BatchNorm in eval mode: (y - running_mean) / sqrt(running_var + eps) * weight + bias.")
# The same with eps = 0.25 and running variances 0.75: sqrt(var + eps) = 1 again.
bn1e, bn2e = bn1[:3] + (torch.full((2,), 0.75, **d),), bn2[:3] + (torch.full((4,), 0.75, **d),)
expect_close(gam_spatial_gate(f2, conv1, bn1e, conv2, bn2e, eps=0.25),
             torch.full((1, 4, 3, 5), 1 / (1 + math.exp(-1)), **d), "constant map with eps=0.25",
             hint="use the eps argument you are given in both BatchNorms: they divide by sqrt(running_var + eps).")
# Random weights, where pooling, a max pooling or a missing BatchNorm change the map: the
# hidden check's own cases.
expect_answer(gam_spatial_gate, "bonus.gam_spatial_gate", "gam_spatial_gate on random weights")
print("Every visible test of this step passes; it earns its 3 points when the hidden tests agree.")


# %% [markdown]
# ### 6.1 模块本身，以及网上流传的写法
#
# 下面是网上流传的那类 GAM `forward`（为本课程而写）。写你自己的版本之前，先读一读它：
#
# ```python
# def forward(self, x):
#     att = self.channel_attention(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
#     x_channel_att = att.sigmoid()
#     x = x_channel_att * x_channel_att            # <- 错误在这里
#     x_spatial_att = self.spatial_attention(x).sigmoid()
#     return x * x_spatial_att
# ```
#
# 标出的那一行把通道图自乘了一次，而不是把它与输入相乘。从这一行起，输出只通过这张图依赖输入：这种“GAM”层无法让特征原样通过，而且对 $x = 0$ 会输出一个非零常数（你会在 §8 算出它）。
#
# **练习 8（3 分）。** 写出下面模块的 `forward`（各层已经替你建好，命名与常见的移植版一致，所以它的检查点可以按名字加载）：式 (6)，$F_2 = M_c\otimes x$，**由 $F_2$** 计算式 (7)，$F_3 = M_s\otimes F_2$。你可以调用自己写的两个门控函数。

# %% nbgrader={"grade": false, "grade_id": "gam_module", "locked": false, "schema_version": 3, "solution": true, "task": false}
class GAMBlock(nn.Module):
    """GAM：F2 = M_c(x) * x，F3 = M_s(F2) * F2，式 (6)-(7)。"""

    def __init__(self, channels: int, rate: int = 4):
        super().__init__()
        hidden = max(1, channels // rate)
        self.channel_attention = nn.Sequential(
            nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels))
        self.spatial_attention = nn.Sequential(
            nn.Conv2d(channels, hidden, kernel_size=7, padding=3), nn.BatchNorm2d(hidden), nn.ReLU(),
            nn.Conv2d(hidden, channels, kernel_size=7, padding=3), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        fc1, fc2 = self.channel_attention[0], self.channel_attention[2]
        f2 = x * gam_channel_gate(x, fc1.weight, fc1.bias, fc2.weight, fc2.bias)
        s = self.spatial_attention
        m_s = gam_spatial_gate(
            f2, (s[0].weight, s[0].bias), (s[1].weight, s[1].bias, s[1].running_mean, s[1].running_var),
            (s[3].weight, s[3].bias), (s[4].weight, s[4].bias, s[4].running_mean, s[4].running_var))
        return f2 * m_s
        ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_gam_module", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("bonus.gam_module", GAMBlock)
### END HIDDEN TESTS
torch.manual_seed(4)
gam = GAMBlock(8).double().eval()
x = torch.randn(2, 8, 5, 6, dtype=torch.float64)
expect_shape(gam(x), (2, 8, 5, 6), "GAMBlock(8)(x).shape", hint="the block keeps the shape of x.")
expect_close(gam(torch.zeros_like(x)), torch.zeros_like(x), "x = 0 gives 0",
             hint="F2 = M_c * x (not M_c * M_c), and F3 = M_s * F2.")
with torch.no_grad():
    for p in gam.parameters():
        p.zero_()
    gam.spatial_attention[1].weight.fill_(1.0); gam.spatial_attention[4].weight.fill_(1.0)
expect_close(gam(x), x / 4, "all weights zero gives x / 4",
             hint="both maps are sigmoid(0) = 1/2 everywhere: F3 = x / 2 / 2.")
# Random weights loaded into your module, on the hidden check's own shapes (earlier steps are
# replaced by the reference ones here, as when you submit).
expect_answer(GAMBlock, "bonus.gam_module", "GAMBlock with random weights")
print("Every visible test of this step passes; it earns its 3 points when the hidden tests agree.")


# %% [markdown]
# ## 7. GAM 的开销
#
# 记 $h = \max(1, \lfloor C/r \rfloor)$，按 Fig. 3 的朴素形式：
#
# | 部分 | 参数量 | 每个样本的乘加次数 |
# |---|---|---|
# | MLP，式 (6) | $2Ch + h + C$ | $2ChHW$（在每个位置上） |
# | $7\times7$ 卷积，式 (7) | $98\,Ch + h + C$ | $98\,ChHW$ |
# | 两个 BatchNorm | $2h + 2C$（滑动统计量是缓冲区，不是参数） | （推理时折叠掉） |
# | $F_2$、$F_3$ | 0 | $2CHW$ |
#
# $7\times 7$ 卷积占了大头：约 $100\,C^2/r$ 个参数。$C = 256$、$r = 4$ 时，每个模块有 1.6 M 个参数，而 $r = 16$ 的 CBAM 模块只有约 8 k 个（见下表）——这正是论文在 ResNet-50 中改用分组卷积的原因。
#
# **练习 9（1 分）。** 写出 `gam_param_count(channels, rate=4)`，即一个 `GAMBlock` 的参数量。

# %% nbgrader={"grade": false, "grade_id": "gam_params", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gam_param_count(channels: int, rate: int = 4) -> int:
    """一个 GAM 模块的参数量（MLP、两个带偏置的 7x7 卷积、两个 BatchNorm）。"""
    ### BEGIN SOLUTION
    C, h = channels, max(1, channels // rate)
    return (2 * C * h + h + C) + (2 * 49 * C * h + h + C) + 2 * (h + C)
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_gam_params", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("bonus.gam_params", gam_param_count)
### END HIDDEN TESTS
# C = 8, r = 4, h = 2: MLP 8*2 + 2 + 2*8 + 8 = 42; conv1 8*2*49 + 2 = 786; BN 2*2 = 4;
# conv2 2*8*49 + 8 = 792; BN 2*8 = 16. Total 1640.
expect_equal(gam_param_count(8, 4), 1640, "gam_param_count(8, 4)",
             hint="count weights and biases of each layer; BatchNorm has 2 parameters per channel.")
expect_equal(gam_param_count(64), 102720, "gam_param_count(64)",
             hint="GAM's default rate is r = 4: C/r = 16 (r = 16 would give 4).")
print("Every visible test of this step passes; it earns its 1 point when the hidden tests agree.")

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-06", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
from attn_ref.complexity import count_params, gam_macs, module_cost
print(f"{'C':>5} {'GAM params':>11} {'counter':>9} {'CBAM r=16':>10} {'GAM MACs (14x14)':>17}")
for C in (64, 128, 256, 512):
    print(f"{C:5d} {gam_param_count(C):11,d} {count_params(attn_ref.GAM(C)):9,d} "
          f"{module_cost('cbam', C, 14, 14)['params']:10,d} {gam_macs(C, 14, 14):17,d}")


# %% [markdown]
# ## 8. 批判性阅读
#
# 下面三段代码仿照网上以这些名字流传的写法。每一段都有一个数字能暴露它的问题；修正的写法就是你的练习 1、3 和 8。
#
# **(a) 一个“十字交叉注意力”，实际上是残差卷积块。** 没有查询，没有键，也没有 Softmax：不管叫什么名字，它都是局部的。

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-07", "locked": true, "schema_version": 3, "solution": false, "task": false}
class CirculatingCrissCross(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x + self.gamma * self.conv2(F.relu(self.conv1(x)))


# %% [markdown]
# **(b) 一个把中心算了两次的十字交叉 Softmax**（以及随之而来的维度问题）：它不加屏蔽，直接拼接整列和整行的亲和度。

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-08", "locked": true, "schema_version": 3, "solution": false, "task": false}
def circulating_cc_softmax(q, k):
    d_col = torch.einsum("bchw,bcgw->bhwg", q, k)     # all H column positions, the centre included
    d_row = torch.einsum("bchw,bchg->bhwg", q, k)     # all W row positions, the centre again
    return torch.softmax(torch.cat([d_col, d_row], dim=-1), dim=-1)


# %% [markdown]
# **(c) §6.1 中的 GAM**，它的通道图与自身相乘：

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-09", "locked": true, "schema_version": 3, "solution": false, "task": false}
class CirculatingGAM(GAMBlock):
    def forward(self, x):
        att = self.channel_attention(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        x_channel_att = att.sigmoid()
        x = x_channel_att * x_channel_att
        x_spatial_att = self.spatial_attention(x).sigmoid()
        return x * x_spatial_att


# %% [markdown]
# **练习 10（2 分）。** 设定三个数（可以用上面的类、用 autograd，或者手算）：
#
# * `fake_cc_positions`：`CirculatingCrissCross` 作用在 $9\times 9$ 特征图上、$\gamma \ne 0$ 时，中心像素 $(4, 4)$ 处的输出所依赖的输入像素个数（真正的十字交叉注意力，一轮：17；两轮：81）；
# * `twice_entries`：`circulating_cc_softmax` 对 $6\times 10$ 特征图上的一个像素归一化的项数（正确的项数是 15）；
# * `circulating_gam_zero`：所有权重和偏置都为零、BatchNorm 保持初始统计量（均值 0、方差 1、缩放 1、平移 0）时，eval 模式下的 `CirculatingGAM` 对 $x = 0$ 输出的每个元素的值。

# %% nbgrader={"grade": false, "grade_id": "reading", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
torch.manual_seed(0)
fake = CirculatingCrissCross(16).double()      # 通道多：ReLU 很少会切断所有路径
with torch.no_grad():
    fake.gamma.fill_(1.0)
x = torch.randn(1, 16, 9, 9, dtype=torch.float64, requires_grad=True)
fake(x)[0, :, 4, 4].sum().backward()
fake_cc_positions = int((x.grad.abs().sum(1) > 0).sum())

q = torch.randn(1, 2, 6, 10)
twice_entries = circulating_cc_softmax(q, q).shape[-1]

bad = CirculatingGAM(8).eval()
with torch.no_grad():
    for p in bad.parameters():
        p.zero_()
    bad.spatial_attention[1].weight.fill_(1.0); bad.spatial_attention[4].weight.fill_(1.0)
    circulating_gam_zero = float(bad(torch.zeros(1, 8, 5, 5))[0, 0, 0, 0])
### END SOLUTION

# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_reading", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("bonus.reading", fake_cc_positions)
grade("bonus.reading.twice_entries", twice_entries)
grade("bonus.reading.gam_zero", circulating_gam_zero)
### END HIDDEN TESTS
expect_defined("fake_cc_positions", "twice_entries", "circulating_gam_zero")
expect_answer(fake_cc_positions, "bonus.reading", "fake_cc_positions")
expect_answer(twice_entries, "bonus.reading.twice_entries", "twice_entries")
expect_answer(circulating_gam_zero, "bonus.reading.gam_zero", "circulating_gam_zero")
print("Every visible test of this step passes; it earns its 2 points when the hidden tests agree.")

# %% [markdown]
# 每个数字说明了什么：(a) 一个局部的 $5\times 5$ 窗口不是长距离上下文，不管这个类叫什么；(b) 每个像素多出一项，意味着像素自己的值得到了应有权重的两倍，其余 $H + W - 2$ 个位置的权重被压小；(c) 一个对零输入输出常数（一般来说，忽略了输入尺度）的模块，根本就没有在对特征做门控。对任何下载来的注意力模块，都可以做一个快速测试：输入全零，输入一个独热（one-hot）像素，看哪些输出发生变化（autograd 会替你做这件事），再数一数 Softmax 的项数。
#
# ## 9. 小结
#
# | 步骤 | 公式 | 代码 |
# |---|---|---|
# | 亲和度 | $d_{u,v} = Q_u^\top K_v,\ v\in\Omega_u,\ \lvert\Omega_u\rvert = H+W-1$ | 两个 `einsum`，屏蔽列的中心 |
# | 注意力 | $A_{u,\cdot} = \mathrm{softmax}(d_{u,\cdot})$ | `softmax(cat([d_col, d_row]), dim=-1)` |
# | 聚合 | $X'_u = \gamma\sum_v A_{u,v}V_v + X_u$，$\gamma_0 = 0$ | `x + gamma * aggregate(attn, v)` |
# | 循环 | $R = 2$ 轮，共享权重，到达每个像素 | `for _ in range(R)` |
# | 开销 | $R\,HW(H+W-1)$ 对 $(HW)^2$ 个亲和度 | `cc_affinities` |
# | GAM 通道 | $M_c = \sigma(P^{-1}\mathrm{MLP}(P(F_1)))$ | `permute(0, 2, 3, 1)`、`Linear`、`permute(0, 3, 1, 2)` |
# | GAM 空间 | $M_s = \sigma(\mathrm{BN}(\mathrm{conv}^{7}\delta(\mathrm{BN}(\mathrm{conv}^{7}F_2))))$ | 两个带 BatchNorm 的 `Conv2d(…, 7, padding=3)` |
# | GAM 模块 | $F_2 = M_c\otimes F_1$，$F_3 = M_s\otimes F_2$ | `f2 = x * m_c; f2 * m_s(f2)` |
#
# **参考文献**
#
# * Z. Huang, X. Wang, L. Huang, C. Huang, Y. Wei, W. Liu. *CCNet: Criss-Cross Attention for Semantic Segmentation.* ICCV 2019；TPAMI 2020。arXiv:1811.11721。官方代码：github.com/speedinghzl/CCNet。
# * Y. Liu, Z. Shao, N. Hoffmann. *Global Attention Mechanism: Retain Information to Enhance Channel-Spatial Interactions.* arXiv:2112.05561，2021。
# * 本课程的参考实现：`attn_ref/ccnet.py`、`attn_ref/gam.py`；本章的隐藏测试：`attn_ref/grading/checks_bonus.py`。

# %% [markdown]
# ## 提交之前
#
# 下面的单元格列出本章的计分步骤和分值，以及每一步的可见测试在本次会话中最近一次运行时是否通过（*运行 → 运行全部单元格*，即 *Run → Run All Cells*，会运行全部单元格，遇到你还没写的步骤也会继续往下运行）。可见测试通过是个好兆头，但不是成绩：提交后，评分程序会运行每一步的隐藏测试。

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "summary", "locked": true, "schema_version": 3, "solution": false, "task": false}
from attn_ref.grading import summary

summary("bonus.ipynb")
