# scale_bytes counts x and y three times (the write twice); min_bytes reads x twice for CA's two poolings

# %% scale_bytes
def scale_bytes(kind, B, C, H, W, itemsize=4):
    n = B * C * H * W
    gates = {"se": B * C, "eca": B * C, "ca": B * C * (H + W), "cbam": B * C + B * H * W}[kind]
    return itemsize * (n + gates + 2 * n)      # read x, read the gates, write y ... and write it again

# %% min_bytes
def min_bytes(kind, B, C, H, W, itemsize=4):
    pooling_passes = {"se": 1, "eca": 1, "ca": 2, "cbam": 2}[kind]    # one pass per pooling
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
    live = offs < n
    w = offs % W
    row = offs // W
    col = (row // H) * W + w
    x = tl.load(x_ptr + offs, mask=live)
    ah = tl.load(ah_ptr + row, mask=live)
    aw = tl.load(aw_ptr + col, mask=live)
    tl.store(out_ptr + offs, x * ah * aw, mask=live)


def ca_scale(x, a_h, a_w, out):
    x = x.contiguous()
    n = x.numel()
    ca_scale_kernel[(triton.cdiv(n, 256),)](x, a_h, a_w, out, n, x.shape[2], x.shape[3], BLOCK=256)
    return out
