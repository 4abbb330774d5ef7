# scale_bytes in elements, not bytes; one multiplication per element for every module; the first row of the table as the dominant operator

# %% scale_bytes
def scale_bytes(kind, B, C, H, W, itemsize=4):
    n = B * C * H * W
    gates = {"se": B * C, "eca": B * C, "ca": B * C * (H + W), "cbam": B * C + B * H * W}[kind]
    return 2 * n + gates

# %% min_bytes
def min_bytes(kind: str, B: int, C: int, H: int, W: int, itemsize: int = 4) -> int:
    pooling_passes = 2 if kind == "cbam" else 1
    return pooling_passes * B * C * H * W * itemsize + scale_bytes(kind, B, C, H, W, itemsize)

# %% scale_flops
def scale_flops(kind, B, C, H, W):
    return B * C * H * W

# %% dominant_operator
def dominant_operator(rows):
    return rows[0]["name"]        # the profiler sorts its tables ... but not every table is sorted

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
