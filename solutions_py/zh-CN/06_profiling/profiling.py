# %% [markdown]
# # 第 6 章　剖析注意力模块的性能（GPU 练习）
#
# *attention-course · 第 6 章 · 约 60 分钟 · 有 GPU 时在 GPU 上运行，其他情况下都在 CPU 上运行 · 计时单元格会打印各自用了多长时间；`torch.compile` 的首次调用（第 4 节）在两个 CPU 核上约需一分钟*
#
# 第 1–5 章统计了注意力模块在**参数**和**乘加**次数上的开销，发现按乘加次数算它们几乎是免费的（第 5 章第 2.1 节）。可是在真实的机器上，CBAM 或坐标注意力（Coordinate Attention，CA）这样的模块可能占去一个块相当可观的一部分时间。原因在于这些模块每个字节几乎不做什么运算：它们都要把整张特征图（feature map）$X\in\mathbb{R}^{B\times C\times H\times W}$ 读几遍、写一遍，所以决定速度的是**访存量（memory traffic）**，而不是乘加次数。本章：
#
# 1. 老老实实地计时（预热、同步、中位数与离散程度，以一次复制为标尺）；
# 2. 用闭式推导每个模块*必须*搬运的字节数、它的算术强度（arithmetic intensity）以及它在 roofline 上的位置，并由你写出这些公式；
# 3. 用 `torch.profiler` 剖析照搬已发表代码的直译实现（`attn_ref.baselines`）——算子表、可以在 Perfetto 中打开的 trace、内存——看清为什么直译的 CA 或 CBAM 可能耗费一次复制许多倍的时间，以及 `attn_ref` 怎样避开这一点；
# 4. 试试常用的手段：channels-last 内存布局、更低的精度、`torch.compile`；
# 5. 由你写一个 **Triton 内核**，把 CA 最后一步的乘积 $y = x\cdot a^h\cdot a^w$ 融合成一遍完成。
#
# **GPU 还是 CPU。** 每个单元格在两者上都能运行。在有 CUDA 的机器上，计时是 GPU 计时，你的 Triton 内核为 GPU 编译。没有 CUDA 时，计时是 CPU 计时，Triton 在它的*解释器*中运行（`TRITON_INTERPRET=1`，在导入 Triton 之前设置）：同一个程序用 NumPy 在 CPU 张量上执行——结果精确，但慢得没法计时。
#
# **本笔记本怎样评分。** 五个练习，共 11 分。每个练习是一个含 `raise NotImplementedError()` 的代码单元格，由你替换成自己的代码；它后面是一个锁定的测试单元格。可见测试检查一个能手算验证的小例子；隐藏测试在你提交时运行，检查许多用例，判定在你的笔记本内核之外完成。**计分的内容都不计时**（评分机器没有 GPU，而且是共享的）：练习是字节数和 FLOP 数的闭式、读一份保存好的性能剖析，以及一个按*数值*比较的内核。本笔记本中测得的数字是在你运行时算出来的；你的数字会和任何别人的不同，在繁忙的机器上每次运行也会不同。

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import os
import tempfile
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils import benchmark

GPU = torch.cuda.is_available()
if not GPU:
    os.environ.setdefault("TRITON_INTERPRET", "1")   # must be set before triton is imported
import triton
import triton.language as tl

import attn_ref
from attn_ref import profiling as P
from attn_ref.grading import expect_close, expect_equal, grade

DEVICE = "cuda" if GPU else "cpu"
GRADING = os.environ.get("NBGRADER_EXECUTION") is not None   # while grading: small and quick
if not GPU:
    torch.set_num_threads(min(2, os.cpu_count() or 1))
SHAPE = (4, 64, 28, 28) if GRADING else ((32, 256, 28, 28) if GPU else (16, 64, 56, 56))
ROUNDS, MIN_TIME = (2, 0.01) if GRADING else (5, 0.05)
torch.manual_seed(0)
torch.set_printoptions(precision=4, sci_mode=False)
# %matplotlib inline
print(f"device {DEVICE}, {torch.get_num_threads()} CPU thread(s), feature maps of shape {SHAPE}")

# %% [markdown]
# ## 1. 老老实实地计时
#
# ### 1.1 为什么在一次调用外面套一个 `time.time()` 会骗人
#
# 在一次模块调用前后各读一次挂钟时间、取其差值，有三处会出错：
#
# * **异步执行（GPU）。** CUDA 调用只要把内核*排进队列*就返回，GPU 之后才执行它们。`t0 = time.time(); y = module(x); time.time() - t0` 量到的是启动，而不是计算本身——除非在第二次读数前用 `torch.cuda.synchronize()` 等队列清空，或者用记录在流上的 CUDA 事件在 GPU 上为计算本身计时。
# * **首次调用的代价。** 第一次调用要为后面的调用不必付的东西买单：惰性初始化，缓存分配器向驱动或操作系统申请内存（新页面在首次访问时才被映射并清零），cuDNN 或 oneDNN 挑选算法。计时之前先预热。
# * **噪声。** 其他进程、频率调节和中断让每次运行都不一样。单独一个数说不出差别有多大；多次运行的**中位数**（不受偶尔一次慢运行的影响）加上一个**离散程度**的度量（四分位距，IQR）才说得出。
#
# `torch.utils.benchmark.Timer` 解决了第一和第三个问题：它在每次测量前后同步 CUDA、预热、自己决定每一块计时多少次调用，使计时器的分辨率无关紧要，并报告各块的中位数和 IQR。下面先是对直译 CA（`attn_ref.baselines.CABaseline`）的八次单独的 `time.time()` 读数，然后是用 `Timer` 为同一个模块计时。

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-02", "locked": true, "schema_version": 3, "solution": false, "task": false}
ca_fast, ca_base = (m.to(DEVICE) for m in P.module_pair("ca", SHAPE[1]))
x = torch.randn(SHAPE, device=DEVICE)

naive = []
with torch.no_grad():
    for _ in range(8):
        t0 = time.time()
        ca_base(x)
        naive.append(time.time() - t0)
print("eight single time.time() readings, ms:", "  ".join(f"{1e3 * t:.2f}" for t in naive))

if GPU:
    with torch.no_grad():
        torch.cuda.synchronize()
        t0 = time.time(); ca_base(x); launched = time.time() - t0
        torch.cuda.synchronize(); finished = time.time() - t0
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record(); ca_base(x); end.record(); torch.cuda.synchronize()
    print(f"GPU: returned after {1e3 * launched:.3f} ms, finished after {1e3 * finished:.3f} ms, "
          f"CUDA events {start.elapsed_time(end):.3f} ms")

# Timer runs on ONE thread unless told otherwise: give it the threads the readings had. One
# blocked_autorange may time a single block when a call is slow, and one block has no spread, so
# take several and pool their blocks.
timer = benchmark.Timer("f()", globals={"f": lambda: ca_base(x)}, num_threads=torch.get_num_threads())
with torch.no_grad():
    runs = [timer.blocked_autorange(min_run_time=MIN_TIME) for _ in range(max(ROUNDS, 5))]
blocks = [t for r in runs for t in r.times]                     # seconds per call, one per block
q1, med, q3 = np.percentile(blocks, [25, 50, 75])
print(f"torch.utils.benchmark: median {1e3 * med:.2f} ms, IQR {1e3 * (q3 - q1):.2f} ms "
      f"over {len(blocks)} blocks, {torch.get_num_threads()} thread(s)")
above = sum(t > q3 for t in naive)
print(f"the single readings run from {1e3 * min(naive):.2f} to {1e3 * max(naive):.2f} ms "
      f"({max(naive) / min(naive):.1f} times the smallest); {above} of {len(naive)} lie above Timer's "
      f"third quartile; the first reading was {'the slowest' if naive[0] == max(naive) else 'not the slowest'}")
if P.relative_spread({"median": med, "iqr": q3 - q1}) > P.NOISY_SPREAD:
    print(f"Timer's own blocks varied by {100 * (q3 - q1) / med:.0f} % of their median: the machine is busy, "
          "and even the median is only a rough figure on this run")

# %% [markdown]
# 最后几行比较了本次运行中的两者：单次读数散布得有多开，其中有几个高于 `Timer` 的第三四分位数，以及第一次读数（它承担了首次调用的代价）是不是最慢的。每次读数是一个带噪声的量的一个样本；多次读数的中位数是它的一个统计量，IQR 说明这个统计量有多可信——当 `Timer` 自己报告的 IQR 很宽时，单元格会指出来。（`Timer` 默认单线程运行，除非 `num_threads` 另有指定：只在相同线程数下比较读数。）在 GPU 上，三个数字中的第一个表明，调用在计算完成之前很久就返回了。
#
# ### 1.2 标尺：复制
#
# 以毫秒计的时间取决于机器；相对于每台机器都以同样方式完成的某件事的比值，换到别的机器上也更站得住。这里的标尺是把输入**复制**到一个预先分配好的张量中，`out.copy_(x)`：读一遍、写一遍 $X$，没有运算——任何必须读 $X$ 并写出同样大小结果的模块，最快也只能这么快。`attn_ref.profiling.measure` 以**交替轮次**（复制、模块 A、模块 B、复制、模块 A、……）为若干个可调用对象计时，这样机器负载的变化对它们的影响相同；`ratios_to` 报告每个可调用对象在各轮中*它的时间 / 同一轮中复制的时间*的中位数，并以四分位数作为误差棒。
#
# 每个 `attn_ref` 模块都与照搬其已发表代码的直译实现作比较：`P.module_pair(kind, C)` 用相同的权重构建两者，单元格先断言它们的输出相同，再为它们计时。
#
# **数字何时不可信。** 繁忙的机器不只是让一切变慢：它会让各轮结果互相矛盾；某一轮里复制被邻居拖慢，就可能让一个运算看起来比它必须搬运的字节还便宜——这是不可能的。所以单元格不把判读留给你。它打印每个可调用对象的**离散程度**（各轮的 IQR / 中位数），当某个离散程度超过 `P.NOISY_SPREAD` 时再测一次，并把各轮合并（`P.measure_until_steady`）。只有当两个实现的逐轮比值在每个四分位数上都低于 1（或都高于 1）时，它才判定*更快*或*更慢*（`P.compare`），否则就说*无法判断*。对一直过宽的离散程度，以及低于其下限一半的比值（下限见第 2 节式 (3)：模块至少要搬运的访存量），它会打印警告（`P.trust_report`）。出现警告的意思是：等机器空闲一些再运行，不要从这次运行得出结论。

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-03", "locked": true, "schema_version": 3, "solution": false, "task": false}
pairs = {kind: tuple(m.to(DEVICE) for m in P.module_pair(kind, SHAPE[1])) for kind in P.KINDS}
fns = {"copy": P.copy_of(x)}
with torch.no_grad():
    for kind, (ours, base) in pairs.items():
        assert torch.allclose(ours(x), base(x), atol=1e-4, rtol=1e-4), kind
        fns[kind] = lambda m=ours: m(x)
        fns[kind + " (baseline)"] = lambda m=base: m(x)
    print(f"timing {len(fns)} callables in {ROUNDS} interleaved rounds, once more if the machine is "
          "too busy ...", flush=True)
    t0 = time.perf_counter()
    results = P.measure_until_steady(fns, rounds=ROUNDS, min_run_time=MIN_TIME)
print(f"done in {time.perf_counter() - t0:.0f} s")
ratios = P.ratios_to(results)
b, c, h, w = SHAPE
floors = {name: P.min_bytes(kind, b, c, h, w, x.element_size()) / P.copy_bytes(x)   # eq. (3), in copies
          for kind in P.KINDS for name in (kind, kind + " (baseline)")}
print(f"{'callable':18} {'median ms':>10} {'IQR ms':>8} {'spread':>7} {'x copy':>7} {'quartiles':>11}")
for name, r in results.items():
    q = ratios[name]
    print(f"{name:18} {1e3 * r['median']:10.3f} {1e3 * r['iqr']:8.3f} {100 * P.relative_spread(r):6.0f}% "
          f"{q['median']:7.2f} {q['q1']:5.2f}–{q['q3']:.2f}")
print()
for kind in P.KINDS:                     # attn_ref against the published code, round by round
    v = P.compare(results, kind, kind + " (baseline)")
    words = {"faster": f"attn_ref is faster: {v['median']:.2f} of the baseline's time",
             "slower": f"attn_ref is SLOWER: {v['median']:.2f} times the baseline's time",
             "undecided": f"this run cannot tell (attn_ref / baseline = {v['median']:.2f}, but the rounds "
                          "disagree on which is faster)"}[v["verdict"]]
    print(f"{kind:5} {words}; per-round quartiles {v['q1']:.2f}–{v['q3']:.2f}")
for line in P.trust_report(results, ratios, floors):
    print("WARNING:", line)


# %% [markdown]
# ## 2. 模块必须搬运什么：字节、强度、roofline
#
# ### 2.1 模型
#
# 设 $N = BCHW$ 为 $X$ 的元素个数，$s$ 为每个元素的字节数（`itemsize`：float32 为 4，bfloat16 和 float16 为 2，float64 为 8）。当 $X$ 远大于缓存时，对它的每一遍完整扫描都要在内存与核心之间搬运 $Ns$ 字节，在内存带宽 $\beta$ 下一遍扫描至少耗时 $Ns/\beta$ 秒。复制读一遍、写一遍：
#
# $$ Q_{\text{copy}} = 2Ns, \qquad t_{\text{copy}} \ge \frac{2Ns}{\beta}. \tag{1}$$
#
# 本课程的每个模块最后都有一个**缩放遍（scaling pass）**，把 $X$ 乘以它的门控。融合成一遍时，它读一遍 $X$，**以门控自身的小形状**把每个门控读一遍（融合内核在寄存器里广播，从不物化出门控的全尺寸副本），再写一遍 $Y$：
#
# $$ Q_{\text{scale}} = s\,(2N + G), \qquad
# G = \begin{cases} BC & \text{SE, ECA } (s\in\mathbb{R}^{C}\text{ per example})\\
# BC\,(H+W) & \text{CA } (a^h\in\mathbb{R}^{C\times H},\ a^w\in\mathbb{R}^{C\times W})\\
# BC + BHW & \text{CBAM } (M_c\in\mathbb{R}^{C},\ M_s\in\mathbb{R}^{H\times W}).\end{cases} \tag{2}$$
#
# 在这一遍开始之前，门控必须已经算好，而它们依赖于 $X$ 的**全部**（在 $H\times W$ 上、在 $W$ 上、在通道上求均值）。当 $X$ 大到无法在池化与缩放之间留在缓存中时，池化要完整地读 $X$：SE、ECA 和 CA 读**一**遍（一遍扫描就能同时累加 CA 的行均值和列均值），CBAM 读**两**遍——它的空间图在通道上对 $F' = M_c\otimes X$ 做池化，这需要 $M_c$，而 $M_c$ 需要先完整扫描一遍 $X$（第二遍可以同时读 $X$ 和 $M_c$，即时构成 $F'$，而不必把它写出来）。设池化遍数为 $p$，并略去把池化后的向量变成门控的那些小层，
#
# $$ Q_{\min} = s\,pN + Q_{\text{scale}}, \qquad p = \begin{cases}1 & \text{SE, ECA, CA}\\ 2 & \text{CBAM.}\end{cases} \tag{3}$$
#
# 以复制为单位，**下限**为 $Q_{\min}/Q_{\text{copy}} \approx (p+2)/2$：SE、ECA 和 CA 为 1.5，CBAM 为 2。任何遵循式 (3) 扫描顺序的实现都不可能低于它；实测比值与这个下限之间的差距，就是一个实现浪费掉的部分。

# %% [markdown]
# ### 练习 1：缩放遍（2 分）
#
# 写出 `scale_bytes(kind, B, C, H, W, itemsize=4)`，即式 (2)，`kind` 取 `"se"`、`"eca"`、`"cbam"`、`"ca"`。返回字节数（整数）。

# %% nbgrader={"grade": false, "grade_id": "scale_bytes", "locked": false, "schema_version": 3, "solution": true, "task": false}
def scale_bytes(kind: str, B: int, C: int, H: int, W: int, itemsize: int = 4) -> int:
    """一遍融合缩放所搬运的字节数，式 (2)：读一遍 x、读一遍各门控、写一遍 y。"""
    ### BEGIN SOLUTION
    n = B * C * H * W
    gates = {"se": B * C, "eca": B * C, "ca": B * C * (H + W), "cbam": B * C + B * H * W}[kind]
    return itemsize * (2 * n + gates)
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_scale_bytes", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("profiling.scale_bytes", scale_bytes)
### END HIDDEN TESTS
# B=1, C=2, H=3, W=4: N = 24 elements. SE reads x (24), its gate s (2 values) and writes y (24).
expect_equal(scale_bytes("se", 1, 2, 3, 4), 4 * (24 + 2 + 24), "scale_bytes('se', 1, 2, 3, 4)",
             hint="read x once, read the B*C gate values once, write y once; 4 bytes each in float32.")
# CA reads a^h (C*H = 6 values) and a^w (C*W = 8 values) instead; float64 has 8 bytes per element.
expect_equal(scale_bytes("ca", 1, 2, 3, 4, itemsize=8), 8 * (24 + 6 + 8 + 24), "scale_bytes('ca', 1, 2, 3, 4, itemsize=8)",
             hint="CA's gates are B*C*H + B*C*W values, read in their own small shapes.")
print("Every visible test of this step passes; it earns its 2 points when the hidden tests agree.")


# %% [markdown]
# ### 练习 2：整个前向传播（2 分）
#
# 写出 `min_bytes(kind, B, C, H, W, itemsize=4)`，即式 (3)：池化的读取加上缩放遍。可以调用你的 `scale_bytes`。

# %% nbgrader={"grade": false, "grade_id": "min_bytes", "locked": false, "schema_version": 3, "solution": true, "task": false}
def min_bytes(kind: str, B: int, C: int, H: int, W: int, itemsize: int = 4) -> int:
    """推理时一次前向传播的最小访存量，式 (3)，单位为字节。"""
    ### BEGIN SOLUTION
    pooling_passes = 2 if kind == "cbam" else 1
    return pooling_passes * B * C * H * W * itemsize + scale_bytes(kind, B, C, H, W, itemsize)
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_min_bytes", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("profiling.min_bytes", min_bytes)
### END HIDDEN TESTS
# ECA at B=1, C=2, H=3, W=4 in float32: one pooling read (24 elements) + the scaling pass of exercise 1.
expect_equal(min_bytes("eca", 1, 2, 3, 4), 4 * 24 + 4 * (24 + 2 + 24), "min_bytes('eca', 1, 2, 3, 4)",
             hint="one full read of x for the pooling, then scale_bytes.")
# CA pools along W and along H, but one pass over x can accumulate both: one read, as for ECA.
expect_equal(min_bytes("ca", 1, 2, 3, 4), 4 * 24 + 4 * (24 + 6 + 8 + 24), "min_bytes('ca', 1, 2, 3, 4)",
             hint="CA: one pooling read; its row means and column means accumulate in the same pass over x.")
# CBAM pools twice: M_c needs all of x, and the spatial map pools M_c * x.
expect_equal(min_bytes("cbam", 1, 2, 3, 4), 4 * 2 * 24 + 4 * (24 + 2 + 12 + 24), "min_bytes('cbam', 1, 2, 3, 4)",
             hint="CBAM: two pooling reads; its gates are M_c (B*C) and M_s (B*H*W).")
print("Every visible test of this step passes; it earns its 2 points when the hidden tests agree.")


# %% [markdown]
# ### 2.2 算术强度与 roofline
#
# 处理器每秒最多做 $P_{\text{peak}}$ 次浮点运算、最多搬运 $\beta$ 字节。对 $Q$ 字节做 $F$ 次运算的计算，其**算术强度**为 $I = F/Q$（FLOP/字节），而 *roofline 模型*（Williams、Waterman、Patterson，“Roofline”，CACM 2009）给出其速度的上界：
#
# $$ P_{\text{attainable}} = \min\big(P_{\text{peak}},\; I\,\beta\big). \tag{4}$$
#
# 在**脊点**（ridge point）$I^* = P_{\text{peak}}/\beta$ 以下，计算受内存限制（memory-bound）：更多的运算单元帮不上忙，更少的字节才有用。以 NVIDIA A100（40 GB）为例，数据手册上的 float32 19.5 TFLOP/s 和 1,555 GB/s 给出 $I^*\approx 12.5$ FLOP/字节；CPU 也在同一量级。缩放遍对每个元素、每个门控做一次乘法，
#
# $$ F_{\text{scale}} = gN, \qquad g = \begin{cases}1 & \text{SE, ECA}\\ 2 & \text{CA } (x\,a^h a^w),\ \text{CBAM } (x\,M_c M_s),\end{cases} \tag{5}$$
#
# 所以它的强度约为 $g/(2s)$：float32 下为 0.125 到 0.25 FLOP/字节，比脊点低五十到一百倍。这些模块在哪里都受内存限制；只有字节数要紧。
#
# ### 练习 3：缩放遍的乘法次数（1 分）
#
# 写出 `scale_flops(kind, B, C, H, W)`，即式 (5)。

# %% nbgrader={"grade": false, "grade_id": "scale_flops", "locked": false, "schema_version": 3, "solution": true, "task": false}
def scale_flops(kind: str, B: int, C: int, H: int, W: int) -> int:
    """缩放遍的乘法次数，式 (5)。"""
    ### BEGIN SOLUTION
    gates = 1 if kind in ("se", "eca") else 2
    return gates * B * C * H * W
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_scale_flops", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("profiling.scale_flops", scale_flops)
### END HIDDEN TESTS
expect_equal(scale_flops("se", 1, 2, 3, 4), 24, "scale_flops('se', 1, 2, 3, 4)",
             hint="SE multiplies each of the N = 24 elements by its channel's gate once.")
expect_equal(scale_flops("ca", 1, 2, 3, 4), 48, "scale_flops('ca', 1, 2, 3, 4)",
             hint="CA multiplies each element by a^h and by a^w: two multiplications.")
print("Every visible test of this step passes; it earns its 1 point when the hidden tests agree.")

# %% [markdown]
# ### 2.3 下限与实测
#
# 你的三个函数的参考版本是 `P.scale_bytes`、`P.min_bytes` 和 `P.scale_flops`（下面的单元格用的是它们，所以无论你的练习返回什么，这些单元格都能运行）。先看以复制为单位的式 (3) 下限，与第 1.2 节测得的比值并列：

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-04", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
B, C, H, W = 32, 256, 28, 28
copy = 2 * B * C * H * W * 4
print(f"float32, B={B}, C={C}, H={H}, W={W}: a copy moves {copy / 2**20:.1f} MiB")
print(f"{'module':6} {'min bytes (MiB)':>16} {'floor (copies)':>15} {'intensity of scaling (FLOP/B)':>30}")
for kind in P.KINDS:
    q = P.min_bytes(kind, B, C, H, W)
    i = P.scale_flops(kind, B, C, H, W) / P.scale_bytes(kind, B, C, H, W)
    print(f"{kind:6} {q / 2**20:16.1f} {q / copy:15.3f} {i:30.3f}")

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-05", "locked": true, "schema_version": 3, "solution": false, "task": false}
b, c, h, w = SHAPE
copy = 2 * x.numel() * x.element_size()
floor = {k: P.min_bytes(k, b, c, h, w, x.element_size()) / copy for k in P.KINDS}
fig, ax = plt.subplots(figsize=(8, 3.4))
pos = np.arange(len(P.KINDS))
for off, label, key in ((-0.27, "attn_ref", "{}"), (0.0, "baseline (published code)", "{} (baseline)")):
    med = np.array([ratios[key.format(k)]["median"] for k in P.KINDS])
    lo = med - np.array([ratios[key.format(k)]["q1"] for k in P.KINDS])
    hi = np.array([ratios[key.format(k)]["q3"] for k in P.KINDS]) - med
    ax.bar(pos + off, med, 0.27, yerr=[lo, hi], capsize=3, label=label)
ax.bar(pos + 0.27, [floor[k] for k in P.KINDS], 0.27, color="0.6", label="floor, eq. (3)")
ax.axhline(1, color="k", lw=0.8); ax.set_yscale("log")
ax.set_xticks(pos, [k.upper() for k in P.KINDS]); ax.set_ylabel("time / copy (log scale)")
ax.set_title(f"inference forward on {DEVICE}, {tuple(SHAPE)} float32 (median and quartiles over rounds)")
ax.legend(fontsize=8); fig.tight_layout(); plt.show()

# %% [markdown]
# 再看本机的 roofline，即式 (4)：$\beta$ 取自上面测得的复制，$P_{\text{peak}}$ 取自一次大矩阵乘法（实际可达的峰值，不是数据手册上的）。每个模块放在它的强度 $F_{\text{scale}}/Q_{\min}$ 和它达到的速率 $F_{\text{scale}}/t$ 处（$t$ 为它的实测时间）：它在斜屋顶下方的距离，就是它浪费的访存量。

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-06", "locked": true, "schema_version": 3, "solution": false, "task": false}
n = 512 if GRADING else 2048
a_mat = torch.randn(n, n, device=DEVICE)
with torch.no_grad():
    mm = P.measure({"mm": lambda: a_mat @ a_mat}, rounds=ROUNDS, min_run_time=MIN_TIME)["mm"]["median"]
peak = 2 * n**3 / mm                                  # FLOP/s
beta = copy / results["copy"]["median"]               # bytes/s
fig, ax = plt.subplots(figsize=(7, 4))
I = np.logspace(-2, 3, 200)
ax.loglog(I, np.minimum(peak, I * beta), "k-", label=f"roof: β = {beta / 1e9:.1f} GB/s, P = {peak / 1e9:.0f} GFLOP/s")
for kind in P.KINDS:
    F_ = P.scale_flops(kind, b, c, h, w)
    inten = F_ / P.min_bytes(kind, b, c, h, w, x.element_size())
    for name, marker in ((kind, "o"), (kind + " (baseline)", "x")):
        ax.plot(inten, F_ / results[name]["median"], marker, label=name)
ax.axvline(peak / beta, color="0.7", ls=":")
ax.set_xlabel("arithmetic intensity (FLOP / byte)"); ax.set_ylabel("FLOP / s")
ax.set_title(f"roofline on {DEVICE} (ridge at {peak / beta:.1f} FLOP/byte)")
ax.legend(fontsize=7, ncol=2); fig.tight_layout(); plt.show()


# %% [markdown]
# ## 3. 时间花在哪里：`torch.profiler`
#
# ### 3.1 算子表与 trace
#
# `torch.profiler.profile` 记录 PyTorch 分派的每个算子（在 GPU 上还有每个 CUDA 内核）及其起止时间。`key_averages()` 按算子名把它们加总成一张表。最要紧的是两列：
#
# * **自身时间（self time）**——花在算子本身、不含它所调用的算子的时间；
# * **总时间（total time）**——包含它们。`aten::conv2d` 调用 `aten::convolution`，后者又调用 `aten::_convolution`，……：总时间在每一层都把同一份工作计入一次，而用 `record_function("…")` 记录的区间，其总时间包含其中的一切。
#
# 所以*时间花在哪里*要看自身时间那一列（在 GPU 上还要看 `self_device_us`：算子启动的内核所用的时间，而它的 CPU 时间大多花在启动上）。`P.profile_rows(fn)` 在性能剖析器下、在一个 `record_function` 区间内把 `fn` 运行几次，以普通行的形式返回这张表，按自身时间排序；给出 `trace_path=` 时还会写出一份 **Chrome trace**，即一条 JSON 时间线，可以在 <https://ui.perfetto.dev> 或 `chrome://tracing` 中打开（每个算子一根条；放大可以看到条与条之间的空隙，那是 Python 和分派器在运行）。加上 `profile_memory=True` 时，表中还有每个算子自身分配的内存。

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-07", "locked": true, "schema_version": 3, "solution": false, "task": false}
def show(rows, top=8, title=""):
    dev = "self_device_us" in rows[0]
    print(title)
    print(f"  {'operator':32} {'calls':>5} {'self ms':>8} {'total ms':>9} {'self alloc MiB':>15}" + ("  device ms" if dev else ""))
    for r in rows[:top]:
        print(f"  {r['name'][:32]:32} {r['calls']:5d} {r['self_cpu_us'] / 1e3:8.2f} {r['cpu_total_us'] / 1e3:9.2f} "
              f"{r['self_cpu_memory_bytes'] / 2**20:15.1f}" + (f" {r['self_device_us'] / 1e3:10.2f}" if dev else ""))

trace = None if GRADING else os.path.join(tempfile.gettempdir(), "ca_baseline_trace.json")
with torch.no_grad():
    base_rows = P.profile_rows(lambda: ca_base(x), label="CABaseline.forward", trace_path=trace)
    fast_rows = P.profile_rows(lambda: ca_fast(x), label="CoordinateAttention.forward")
show(base_rows, title="straightforward CA (attn_ref.baselines), 3 calls:")
show(fast_rows, title="attn_ref.CoordinateAttention, 3 calls:")
if trace:
    print(f"\ntrace written to {trace} ({os.path.getsize(trace) / 1e3:.0f} kB): open it in https://ui.perfetto.dev "
          "(copy it next to your notebook first if your browser cannot reach that folder)")

# %% [markdown]
# ### 3.2 内存
#
# 全尺寸新张量的一项开销是访存量，另一项是它占用的内存。在 GPU 上，PyTorch 的缓存分配器保存着统计数据：先 `torch.cuda.reset_peak_memory_stats()`，再 `torch.cuda.max_memory_allocated()`，就得到一次调用的峰值（`P.peak_cuda_bytes`）。CPU 上没有这样的分配器；操作系统看到的是进程的**常驻集**（resident set）。Linux 允许进程重置它的高水位标记（`echo 5 > /proc/self/clear_refs`）并读回（`/proc/self/status` 中的 `VmHWM`）：`P.peak_rss_bytes` 报告一次调用比调用前的常驻集高出多少。`P.minor_faults` 统计每次调用的**次缺页**（minor page fault）次数：每一次都是内核在首次访问时映射（并清零）一个新页面——分配器不得不向操作系统要、而不能复用的大块分配，代价就在这里。
#
# 在 CPU 上，第一次调用之后常驻集和缺页次数往往都保持为零：glibc 留着一次调用释放的内存，交给下一次调用，所以操作系统什么也看不到（是否如此取决于堆的历史；`bench/README.md` 里有每次调用数千次缺页的运行）。所以表中还用 `torch.profiler` 统计了 PyTorch 在一次调用中**分配**的字节数，以及它是 $x$ 的多少倍：模块之间的差别就在这里，不论分配器之后怎样处理这些内存。

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-08", "locked": true, "schema_version": 3, "solution": false, "task": false}
mib = x.numel() * x.element_size() / 2**20
print(f"x is {mib:.1f} MiB")


def allocated_bytes(fn):
    """Bytes PyTorch allocates during one call (torch.profiler: each operator's own allocations)."""
    rows = P.profile_rows(fn, label="one call", repeats=1)
    return sum(max(r["self_cpu_memory_bytes"], 0) for r in rows if r["name"] != "one call")


with torch.no_grad():
    for kind, (ours, base) in pairs.items():
        row = []
        for m in (ours, base):
            if GPU:
                extra = P.peak_cuda_bytes(lambda: m(x))["increase"]
                row.append(f"peak allocated +{extra / 2**20:6.1f} MiB")
            else:
                alloc = allocated_bytes(lambda: m(x))
                extra = P.peak_rss_bytes(lambda: m(x))["increase"]
                row.append(f"allocates {alloc / 2**20:6.1f} MiB ({alloc / 2**20 / mib:3.1f} x), RSS +{extra / 2**20:5.1f} MiB, "
                           f"{P.minor_faults(lambda: m(x), repeats=2):6.0f} faults")
        print(f"{kind:5} attn_ref: {row[0]} | baseline: {row[1]}")

# %% [markdown]
# ### 3.3 为什么直译的 CA 或 CBAM 可能耗费许多次复制的时间
#
# 先看你在第 1.2 节得到的判定行：本节解释的是机器安静时可以看到的、基线与 `attn_ref` 之间的差距。如果你的运行打印了*无法判断*、*更慢*（SLOWER）或警告，说明测量时机器很忙；请先重新运行那个单元格再往下读。把算子表和式 (3) 放在一起看。`attn_ref` 自己的基准测试背后的实测分解（`bench/README.md`）找到的是同样的原因；这份列表之后的单元格会在你的机器上测量各个部分。
#
# * **多余的全尺寸扫描。** 已发表的 CA 最后是 `identity * a_w * a_h`（恒等路径乘以两个门控）：第一个乘积写出一个全尺寸临时张量，第二个再把它读回来并写出输出——式 (2) 只有一遍读写，这里却有两遍，外加第二次全尺寸分配。它的两个池化 `AdaptiveAvgPool2d((None, 1))` 和 `((1, None))` 把 $X$ 读了两遍，而一遍就够。已发表的 CBAM 为池化（平均与最大）读两遍 $X$，**写出** $F' = M_c\otimes X$，再读两遍 $F'$（在通道上求最大值和均值），为 $M_s\otimes F'$ 又读并重写它一遍：六次完整读取、两次写入，而下限只要三次读取、一次写入。
# * **与内存布局相悖的归约。** 在 NCHW 中，$W$ 是最内层的轴：在 $W$ 上求均值（CA 的行描述子）归约的是一段段长为 $W$ 的连续值，在靠后的阶段里很短（$W = 7$ 到 28）；而在通道上求最大值（CBAM 的空间图）所合并的值彼此相隔 $HW$ 个元素。两者都远低于复制的速度。
# * **对跨步张量的广播。** 当 $X$ 是 channels-last 而某个门控按 NCHW 排布（或者反过来）时，乘积的每个元素都要跨步读取门控，而不是与 $X$ 步调一致地读取。
# * **分配器。** 每个新的全尺寸结果都是一次新的大块分配。如果分配器用完后把它还给操作系统，下一次调用又重新申请，每个页面都要再次缺页并清零——在 CPU 上这大约相当于把内存再扫一遍。
#
# `attn_ref` 避开了 eager PyTorch 允许它避开的部分：它在 channels-last 的 $X$ 的 $(B, H, W, C)$ 视图上池化，让门控保持 $X$ 的内存格式，把 CA 乘积的结果写进一次分配并原地缩放（`attn_ref.coord.scale_hw`），并在不需要梯度时用 `amax`（不返回索引）做 CBAM 的最大池化。它在 eager 模式下做不到的，是在**一遍**扫描中乘以两个广播的门控——那需要一个融合内核（第 5 节）。
#
# 表中可能还会显示一件式 (3) 没有建模的事：作用在池化后描述子上的小层（CA 的 $1\times1$ 卷积、CBAM 的 $7\times7$ 卷积、各个 MLP）每次调用都有固定开销——分派，以及 oneDNN 卷积的计算准备——它不随张量变小。在小的或繁忙的机器上，这部分开销在自身时间一列中可能排得很靠前；它是延迟，不是访存量，$N$ 越大就越无关紧要。

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-09", "locked": true, "schema_version": 3, "solution": false, "task": false}
a_h = torch.rand(b, c, h, 1, device=DEVICE)
a_w = torch.rand(b, c, 1, w, device=DEVICE)
out = torch.empty_like(x)
parts = {
    "copy": P.copy_of(x),
    "x.clone() (fresh allocation)": lambda: x.clone(),
    "x.mean(3) (pool along W)": lambda: x.mean(3),
    "x.mean(2) (pool along H)": lambda: x.mean(2),
    "x * a_w * a_h (temporary)": lambda: x * a_w * a_h,
    "mul(x, a_w, out=).mul_(a_h)": lambda: torch.mul(x, a_w, out=out).mul_(a_h),
    "x.amax(1) (CBAM, over C)": lambda: x.amax(1),
}
# the least each must move, in copies (eq. 1): a pass that only reads x moves half a copy's bytes
part_floors = {"x.clone() (fresh allocation)": 1.0, "x.mean(3) (pool along W)": 0.5,
               "x.mean(2) (pool along H)": 0.5, "x * a_w * a_h (temporary)": 2.0,
               "mul(x, a_w, out=).mul_(a_h)": 2.0, "x.amax(1) (CBAM, over C)": 0.5}
with torch.no_grad():
    part_results = P.measure_until_steady(parts, rounds=ROUNDS, min_run_time=MIN_TIME)
part_ratios = P.ratios_to(part_results)
print(f"{'operation':32} {'copies':>6} {'quartiles':>11} {'floor':>6}")
for name, r in part_ratios.items():
    print(f"{name:32} {r['median']:6.2f} {r['q1']:5.2f}–{r['q3']:.2f} {part_floors.get(name, 1.0):6.1f}")
for line in P.trust_report(part_results, part_ratios, part_floors):
    print("WARNING:", line)

# %% [markdown]
# ### 练习 4：保存的性能剖析中占主导的算子（2 分）
#
# 性能剖析有噪声，又因机器而异，所以这个练习读取一份随课程包**保存**的剖析：直译的 CA 在 CPU 上做推理，由 `P.save_profile()` 生成（它的 `meta` 记录了所用的 torch 版本、形状和线程数）。它的 `rows` 是字典，键为 `name`、`calls`、`self_cpu_us` 和 `cpu_total_us`（所有调用的总和，单位为微秒）以及 `self_cpu_memory_bytes`。
#
# 写出 `dominant_operator(rows)`：返回*自身*耗时最多的算子的**名字**。不要假设各行已经排好序；隐藏测试也会给出其他顺序的表。

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-10", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
saved = P.load_saved_profile()
meta = saved["meta"]
print(f"{meta['module']}, x of shape {tuple(meta['shape'])}, {meta['threads']} thread(s), "
      f"{meta['repeats']} calls, torch {meta['torch']}")
show(saved["rows"], top=10, title="the saved table (sorted by self time):")


# %% nbgrader={"grade": false, "grade_id": "dominant_operator", "locked": false, "schema_version": 3, "solution": true, "task": false}
def dominant_operator(rows: list[dict]) -> str:
    """自身 CPU 时间（self_cpu_us）最大的那一行的算子名。"""
    ### BEGIN SOLUTION
    return max(rows, key=lambda r: r["self_cpu_us"])["name"]
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_dominant_operator", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("profiling.dominant_operator", dominant_operator)
### END HIDDEN TESTS
rows = [  # a hand-made table, not sorted: the forward range has the largest total, empty the most calls
    {"name": "aten::empty", "calls": 40, "self_cpu_us": 90.0, "cpu_total_us": 90.0, "self_cpu_memory_bytes": 0},
    {"name": "model.forward", "calls": 1, "self_cpu_us": 30.0, "cpu_total_us": 2000.0, "self_cpu_memory_bytes": 0},
    {"name": "aten::mul", "calls": 2, "self_cpu_us": 1200.0, "cpu_total_us": 1200.0, "self_cpu_memory_bytes": 0},
    {"name": "aten::mean", "calls": 2, "self_cpu_us": 600.0, "cpu_total_us": 640.0, "self_cpu_memory_bytes": 0},
]
got = dominant_operator(rows)
hints = {"model.forward": "that row has the largest cpu_total_us, which includes the operators called "
                         "inside it: rank by self_cpu_us.",
         "aten::empty": "that row has the most calls (and is the first row): rank every row by self_cpu_us."}
if got != "aten::mul":
    raise AssertionError(f"dominant_operator(rows): {hints.get(got, 'rank the rows by self_cpu_us, largest first.')}\n"
                         f"  expected 'aten::mul', got {got!r}")
print("ok: dominant_operator(rows) = 'aten::mul'")
print("Every visible test of this step passes; it earns its 2 points when the hidden tests agree.")

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-11", "locked": true, "schema_version": 3, "solution": false, "task": false}
# NBVAL_CHECK_OUTPUT
top = dominant_operator(saved["rows"])
share = sum(r["self_cpu_us"] for r in saved["rows"] if r["name"] == top) / sum(r["self_cpu_us"] for r in saved["rows"])
print(f"dominant operator of the saved profile: {top} ({100 * share:.0f} % of all self time)")

# %% [markdown]
# 把它与第 3.3 节的列表对照：它是哪一遍全尺寸扫描？在上面的单元格里，同一个运算在你的机器上花了几次复制的时间？
#
# ## 4. 优化手段
#
# 三种不需要给模块写新代码的改动，每一种都以同一个复制为标尺来测量：
#
# * **channels-last**（`x.to(memory_format=torch.channels_last)`，$C$ 在最内层）：改变哪些归约沿连续内存进行。`attn_ref` 的模块两种布局都能处理；直译代码是为 NCHW 写的。
# * **更低的精度**：bfloat16（在 GPU 上也可以用 float16）把式 (1)–(3) 中的 $s$ 减半，所以受内存限制的模块应该只需大约一半的时间——*前提是*它的张量真的只有一半大小。`torch.autocast` 以较低精度运行矩阵乘法和卷积，但让 float32 输入的逐元素乘积保持 float32，所以对这些模块省不了多少；把模块和它的输入一起转换（`.bfloat16()`）才能让访存量减半。（CPU 上的 bfloat16 运算只有在原生支持它的处理器上才快；在其他处理器上要即时转换。）
# * **`torch.compile`**：TorchInductor 把一串逐元素运算和归约融合进生成的内核（CPU 上是 C++/OpenMP，GPU 上是 Triton），去掉中间张量。它的首次调用要编译，很慢（章首给出了估计；单元格会打印何时开始、用了多久），所以评分时跳过。我们以 `dynamic=False`（形状固定）编译直译的 CA。

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-12", "locked": true, "schema_version": 3, "solution": false, "task": false}
x_cl = x.to(memory_format=torch.channels_last)
x_bf = x.bfloat16()
ca_fast_bf, ca_base_bf = (m.to(DEVICE).bfloat16() for m in P.module_pair("ca", SHAPE[1]))
levers = {
    "copy": P.copy_of(x),
    "CA attn_ref, NCHW": lambda: ca_fast(x),
    "CA baseline, NCHW": lambda: ca_base(x),
    "CA attn_ref, channels_last": lambda: ca_fast(x_cl),
    "CA baseline, channels_last": lambda: ca_base(x_cl),
    "CA attn_ref, autocast bf16": lambda: _autocast(ca_fast, x),
    "CA attn_ref, bfloat16": lambda: ca_fast_bf(x_bf),
    "CA baseline, bfloat16": lambda: ca_base_bf(x_bf),
}


def _autocast(m, t):
    with torch.autocast(DEVICE, dtype=torch.bfloat16):
        return m(t)


if not GRADING:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ca_compiled = torch.compile(ca_base, dynamic=False)
        print("compiling the baseline CA with torch.compile (slow the first time, less with a warm cache; "
              "the chapter's header gives an estimate); nothing more is printed until it is done ...", flush=True)
        t0 = time.time()
        with torch.no_grad():
            same = torch.allclose(ca_compiled(x), ca_base(x), atol=1e-5)
        print(f"torch.compile of the baseline CA: first call {time.time() - t0:.1f} s, same output: {same}")
    levers["CA baseline, torch.compile"] = lambda: ca_compiled(x)
print(f"timing {len(levers)} callables in {ROUNDS} interleaved rounds, once more if the machine is "
      "too busy ...", flush=True)
t0 = time.perf_counter()
with torch.no_grad():
    lever_results = P.measure_until_steady(levers, rounds=ROUNDS, min_run_time=MIN_TIME)
print(f"done in {time.perf_counter() - t0:.0f} s")
lever_ratios = P.ratios_to(lever_results)
for name, r in lever_ratios.items():
    print(f"{name:30} {r['median']:6.2f} copies of float32 x ({r['q1']:.2f}–{r['q3']:.2f})")
print()
for name in levers:                          # each lever against the same code in NCHW float32
    if name == "copy" or name.endswith("NCHW"):
        continue
    same_code = "CA attn_ref, NCHW" if "attn_ref" in name else "CA baseline, NCHW"
    v = P.compare(lever_results, name, same_code)
    said = {"faster": "helped", "slower": "HURT", "undecided": "made no difference this run could see"}[v["verdict"]]
    print(f"{name.split(', ')[1]:15} {said} for {name.split(',')[0][3:]}: {v['median']:.2f} times "
          f"its NCHW float32 time (per-round quartiles {v['q1']:.2f}–{v['q3']:.2f})")
lever_floors = {"CA attn_ref, bfloat16": 0.75, "CA baseline, bfloat16": 0.75}   # eq. (3) with s = 2, in float32 copies
lever_floors |= {n: 1.5 for n in levers if n != "copy" and n not in lever_floors and "autocast" not in n}
for line in P.trust_report(lever_results, lever_ratios, lever_floors):
    print("WARNING:", line)


# %% [markdown]
# 对照式 (3) 读这张表：在 bfloat16 下，下限是 float32 复制的一半，CA 为 0.75 次复制。某个手段是否有帮助取决于机器——channels-last 输入可能让直译代码*更慢*，在没有原生支持的 CPU 上，bfloat16 花掉的可能比省下的还多——所以表下面的几行逐个手段地说明它是*有帮助*、*有害*，还是在本次运行中看不出差别（与第 1.2 节相同的逐轮检验），并在机器太忙、无法下结论时给出警告。这就是为什么本章的每个论断都是一次你能重复的测量，并附上其数字所支持的判定。
#
# ## 5. 一遍完成：用 Triton 写融合内核
#
# ### 5.1 内核
#
# eager PyTorch 把 CA 的最后一步，即第 4 章的式 (6) $y_c(h,w) = x_c(h,w)\,a^h_c(h)\,a^w_c(w)$，分两遍计算。单个内核可以读一遍 $x$，取出每个元素需要的两个门控值，再写一遍 $y$——恰好是式 (2) 的 $Q_{\text{scale}}$。
#
# [Triton](https://triton-lang.org) 让你用 Python 写这样的内核。内核是一个用 `@triton.jit` 装饰的函数，在由程序实例组成的**网格**（grid）上启动；每个实例一次处理一个含 `BLOCK` 个元素的块（`BLOCK` 是 `tl.constexpr`，在编译时固定，通常是 2 的幂）。在内核里：
#
# * `pid = tl.program_id(0)` 是该实例沿网格第一个轴的索引，`offs = pid * BLOCK + tl.arange(0, BLOCK)` 是它这一块的扁平索引；
# * `tl.load(ptr + offs, mask=m)` 和 `tl.store(ptr + offs, v, mask=m)` 读写内存；张量参数以指向其首元素的指针传入，索引运算由你来做；
# * **掩码**（mask）屏蔽越过末尾的那些位置：$N$ 很少是 `BLOCK` 的倍数，最后一个块既不能读、也不能写到张量之外。
#
# 对于连续存储的 $(B, C, H, W)$ 输出和扁平索引 $i$：$w = i \bmod W$，$a^h$ 的行号是 $\lfloor i/W\rfloor$（它按顺序枚举 $(b, c, h)$，恰好就是 $a^h$ 的扁平索引），而 $a^w$ 的扁平索引是 $\lfloor i/(HW)\rfloor\, W + w$。启动函数计算网格，即 $\lceil N/\texttt{BLOCK}\rceil$ 个实例（`triton.cdiv`），并传入各个尺寸。
#
# ### 练习 5：`ca_scale`（4 分）
#
# 写出内核及其启动函数 `ca_scale(x, a_h, a_w, out)`，它把 $x\,a^h a^w$ 写进 `out` 并返回 `out`。隐藏测试保证的是：`x` 为 $(B, C, H, W)$，可能是连续的、channels-last 的或转置后的视图（在启动函数里把它变成连续的，或者使用它的步长）；`a_h` 为 $(B, C, H, 1)$，`a_w` 为 $(B, C, 1, W)$，都是连续的；`out` 是连续的 $(B, C, H, W)$ 张量；float32 和 float64；尺寸不是任何块大小的倍数，小到只有一个元素，$H \ne W$ 和 $H = W$ 都有。任意块大小、1-D 或 2-D 网格、使用步长或连续副本都可以。写到 `out` 末尾之外的内核不能通过。

# %% nbgrader={"grade": false, "grade_id": "ca_scale", "locked": false, "schema_version": 3, "solution": true, "task": false}
@triton.jit
def ca_scale_kernel(x_ptr, ah_ptr, aw_ptr, out_ptr, n, H, W, BLOCK: tl.constexpr):
    """out[i] = x[i] * a_h[i 所在的行] * a_w[i 所在的列]，每个程序实例处理 BLOCK 个扁平索引 i。"""
    ### BEGIN SOLUTION
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    live = offs < n                       # 最后一个块会越过末尾
    w = offs % W
    row = offs // W                       # (b, c, h) 的扁平索引：a_h 的元素
    col = (row // H) * W + w              # (b, c, w) 的扁平索引：a_w 的元素
    x = tl.load(x_ptr + offs, mask=live)
    ah = tl.load(ah_ptr + row, mask=live)
    aw = tl.load(aw_ptr + col, mask=live)
    tl.store(out_ptr + offs, x * ah * aw, mask=live)
    ### END SOLUTION


def ca_scale(x: torch.Tensor, a_h: torch.Tensor, a_w: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """用一次内核启动把 x * a_h * a_w 写进 out（连续存储，形状与 x 相同），并返回 out。"""
    ### BEGIN SOLUTION
    x = x.contiguous()
    n = x.numel()
    block = 256
    grid = (triton.cdiv(n, block),)
    ca_scale_kernel[grid](x, a_h, a_w, out, n, x.shape[2], x.shape[3], BLOCK=block)
    return out
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_ca_scale", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
grade("profiling.ca_scale", ca_scale)
### END HIDDEN TESTS
def with_margin(shape, dtype):
    """An output tensor followed by spare room filled with -1: an unmasked kernel writes there."""
    n = int(np.prod(shape))
    buf = torch.full((n + 4096,), -1.0, dtype=dtype, device=DEVICE)
    return buf[:n].view(shape), buf[n:]


def check_margin(margin, name):
    if (margin != -1).any():
        raise AssertionError(f"{name}: the last block runs past n: pass mask=offs < n to its loads and stores.\n"
                             f"  your kernel wrote {int((margin != -1).sum())} value(s) past the end of out.")


# B=1, C=2, H=2, W=3 (N = 12, not a multiple of any block size): every value is checkable by hand.
xs = torch.arange(1.0, 13.0, dtype=torch.float64, device=DEVICE).reshape(1, 2, 2, 3)
ah = torch.tensor([1.0, 10.0, 100.0, 1000.0], dtype=torch.float64, device=DEVICE).reshape(1, 2, 2, 1)
aw = torch.tensor([1.0, 2.0, 3.0, 1.0, 0.5, 0.25], dtype=torch.float64, device=DEVICE).reshape(1, 2, 1, 3)
want = xs * ah * aw          # row h of channel c is scaled by ah[c, h], column w by aw[c, w]
out, margin = with_margin((1, 2, 2, 3), torch.float64)
ca_scale(xs, ah, aw, out)
check_margin(margin, "ca_scale on a 1x2x2x3 example")
expect_close(out.cpu(), want.cpu(), "ca_scale on a 1x2x2x3 example",
             hint="a_h scales whole rows (index it with (b, c, h) = offs // W), a_w whole columns "
                  "((b, c) = offs // (H * W), then w = offs % W).")
xt = torch.randn(2, 3, 7, 5, dtype=torch.float64, device=DEVICE).transpose(2, 3)     # a strided view
ah2, aw2 = torch.rand(2, 3, 5, 1, dtype=torch.float64, device=DEVICE), torch.rand(2, 3, 1, 7, dtype=torch.float64, device=DEVICE)
out, margin = with_margin((2, 3, 5, 7), torch.float64)
ca_scale(xt, ah2, aw2, out)
check_margin(margin, "ca_scale on a transposed x")
expect_close(out.cpu(), (xt * ah2 * aw2).cpu(), "ca_scale on a transposed x (2x3x5x7, N = 210)",
             hint="x is not contiguous here: call x.contiguous() in the launcher, or index it with x.stride().")
print("Every visible test of this step passes; it earns its 4 points when the hidden tests agree.")

# %% [markdown]
# ### 5.2 值得吗？
#
# 你的内核与 `P.fused_ca_scale`（参考内核：一个 1-D 网格，通过步长读取 $x$，因此不需要连续副本）以及 eager PyTorch 的对比。在 GPU 上，计时显示融合带来了什么；在 CPU 上，解释器用 NumPy 一次运行一个程序实例，所以只比较数值和字节数。

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "code-13", "locked": true, "schema_version": 3, "solution": false, "task": false}
small = (2, 16, 14, 14)
xs = torch.randn(small, device=DEVICE)
ahs, aws = torch.rand(small[0], small[1], small[2], 1, device=DEVICE), torch.rand(small[0], small[1], 1, small[3], device=DEVICE)
out_s, margin_s = with_margin(small, xs.dtype)        # out followed by guard space filled with -1
mine = ca_scale(xs, ahs, aws, out_s)
ref = P.fused_ca_scale(xs, ahs, aws)
same = torch.allclose(mine, ref) and torch.allclose(ref, xs * ahs * aws)
inside = bool((margin_s == -1).all())                   # an unmasked last block writes past the end
print("your kernel == reference kernel == eager, nothing written past the end of out:", same and inside)
if not inside:
    print(f"  your kernel wrote {int((margin_s != -1).sum())} value(s) past the end of out: mask the last block")
b_, c_, h_, w_ = SHAPE
fused = P.scale_bytes("ca", b_, c_, h_, w_)
eager = 4 * b_ * c_ * h_ * w_ * 4 + 4 * b_ * c_ * (h_ + w_)   # two passes: x·a_w -> temporary, temporary·a_h -> y
print(f"scaling pass at {tuple(SHAPE)}, float32: fused {fused / 2**20:.1f} MiB, eager (two passes) "
      f"{eager / 2**20:.1f} MiB: {eager / fused:.2f}x the traffic")
if GPU:
    out_ = torch.empty_like(x)
    t = P.ratios_to(P.measure({"copy": P.copy_of(x), "eager x * a_w * a_h": lambda: x * a_w * a_h,
                               "your ca_scale": lambda: ca_scale(x, a_h, a_w, out_),
                               "P.fused_ca_scale": lambda: P.fused_ca_scale(x, a_h, a_w, out_)},
                              rounds=ROUNDS, min_run_time=MIN_TIME))
    for name, r in t.items():
        print(f"{name:22} {r['median']:6.2f} copies")

# %% [markdown]
# ## 6. 易错点
#
# * **计时量到的是启动而不是计算。** 没有 `torch.cuda.synchronize()`（或 CUDA 事件，或 `torch.utils.benchmark`），GPU 计时测的是内核入队有多快。
# * **为第一次调用计时。** 它包含了分配、初始化和算法选择。
# * **只报一个数。** 报告中位数和离散程度，在交替轮次中测量，并相对于在同样轮次中测得的标尺；说明当时还有什么在运行。
# * **从噪声中得出结论。** 当各轮之间的离散程度比你要找的差别还大，或者某个比值低于该运算必须搬运的字节数时，数字反映的是机器的负载，而不是代码。只有逐轮比值的每个四分位数都一致时才下结论（`P.compare`），否则就说*无法判断*，到更安静的机器上再测。
# * **Timer 的线程数。** 除非给出 `num_threads`，`torch.utils.benchmark.Timer` 只用一个线程运行；与用全部线程得到的读数相比，它测的是另一个程序。
# * **为受内存限制的模块数乘加次数。** 0.1–0.3 FLOP/字节的模块受字节数限制；式 (3) 能预测它的开销，FLOP 计数器不能。
# * **用总时间代替自身时间。** 在算子表中，总时间在每一层都把嵌套的算子计入，而 `record_function` 区间包含其中的一切；要按自身时间排序。
# * **物化的广播。** `x * a.expand_as(x)` 没问题（是视图），但 `a.expand_as(x).contiguous()` 或 `repeat` 会构建一个全尺寸的门控；在融合内核中，要读小的门控。
# * **不带掩码的内核。** 在 GPU 上，不带掩码的最后一个块会读到垃圾数据并写过末尾，悄无声息地破坏另一个张量；在解释器中它可能让进程崩溃。
# * **名不副实的低精度。** `autocast` 让 float32 输入的逐元素乘积保持 float32；只有张量本身变成一半大小时，访存量才会减半。
#
# ## 7. 小结与参考文献
#
# | 量 | 闭式 | 代码 |
# |---|---|---|
# | 复制 | $Q_{\text{copy}} = 2Ns$ | `P.copy_bytes(x)` |
# | 缩放遍 | $Q_{\text{scale}} = s(2N + G)$；$G = BC$、$BC(H+W)$、$BC + BHW$ | `scale_bytes` |
# | 整个前向 | $Q_{\min} = s\,pN + Q_{\text{scale}}$；$p = 1$，CBAM 为 $2$ | `min_bytes` |
# | 以复制计的下限 | $\approx (p + 2)/2$：1.5（SE、ECA、CA），2（CBAM） | |
# | 乘法次数 | $F = gN$；$g = 1$（SE、ECA），$2$（CA、CBAM） | `scale_flops` |
# | roofline | $P = \min(P_{\text{peak}}, I\beta)$，$I = F/Q$ | |
#
# * S. Williams, A. Waterman, D. Patterson. *Roofline: an insightful visual performance model for
#   multicore architectures.* Communications of the ACM 52(4), 2009.
# * PyTorch 文档：`torch.utils.benchmark`（*PyTorch Benchmark* 教程）、`torch.profiler`（*PyTorch Profiler* 教程）、CUDA 语义（异步执行）、`torch.compile`。
# * P. Tillet, H. T. Kung, D. Cox. *Triton: an intermediate language and compiler for tiled neural
#   network computations.* MAPL 2019；<https://triton-lang.org>（教程 *Vector addition*；解释器，`TRITON_INTERPRET=1`）。
# * `attn_ref/baselines.py`（直译实现）、`attn_ref/profiling.py`（本章的辅助函数）、`bench/README.md`（课程的模块基准测试及其分解）。

# %% [markdown]
# ## 提交之前
#
# 下面的单元格列出本章的计分步骤和分值，以及每一步的可见测试在本次会话中最近一次运行时是否通过（*运行 → 运行全部单元格*，即 *Run → Run All Cells*，会运行全部单元格，遇到你还没写的步骤也会继续往下运行）。可见测试通过是个好兆头，但不是成绩：提交后，评分程序会运行每一步的隐藏测试。

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "summary", "locked": true, "schema_version": 3, "solution": false, "task": false}
from attn_ref.grading import summary

summary("profiling.ipynb")
