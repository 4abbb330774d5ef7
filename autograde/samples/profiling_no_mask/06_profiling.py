# a Triton kernel without a mask on the last block

# %% scale_bytes
def scale_bytes(kind: str, B: int, C: int, H: int, W: int, itemsize: int = 4) -> int:
    n = B * C * H * W
    gates = {"se": B * C, "eca": B * C, "ca": B * C * (H + W), "cbam": B * C + B * H * W}[kind]
    return itemsize * (2 * n + gates)

# %% min_bytes
def min_bytes(kind: str, B: int, C: int, H: int, W: int, itemsize: int = 4) -> int:
    pooling_passes = 2 if kind == "cbam" else 1
    return pooling_passes * B * C * H * W * itemsize + scale_bytes(kind, B, C, H, W, itemsize)

# %% scale_flops
def scale_flops(kind: str, B: int, C: int, H: int, W: int) -> int:
    return (1 if kind in ("se", "eca") else 2) * B * C * H * W

# %% dominant_operator
def dominant_operator(rows: list[dict]) -> str:
    return max(rows, key=lambda r: r["self_cpu_us"])["name"]

# %% ca_scale
@triton.jit
def ca_scale_kernel(x_ptr, ah_ptr, aw_ptr, out_ptr, n, H, W, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    w = offs % W
    row = offs // W
    x = tl.load(x_ptr + offs)
    ah = tl.load(ah_ptr + row)
    aw = tl.load(aw_ptr + (row // H) * W + w)
    tl.store(out_ptr + offs, x * ah * aw)


def ca_scale(x, a_h, a_w, out):
    x = x.contiguous()
    n = x.numel()
    ca_scale_kernel[(triton.cdiv(n, 128),)](x, a_h, a_w, out, n, x.shape[2], x.shape[3], BLOCK=128)
    return out
