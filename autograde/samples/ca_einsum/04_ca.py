# A correct learner who writes everything differently from the instructor: sums divided by hand,
# einsum for every 1x1 convolution, BatchNorm and h-swish written out, slicing instead of split,
# a forward that never calls the earlier functions and scales in place, a closed-form cost.

# %% coordinate_pool
def coordinate_pool(x):
    B, C, H, W = x.shape
    z_h = x.sum(-1, keepdim=True) / W
    z_w = torch.einsum("bchw->bcw", x).unsqueeze(2) / H
    return z_h, z_w

# %% ca_bottleneck
def ca_bottleneck(channels, reduction=32):
    width = channels // reduction
    return width if width > 8 else 8

# %% shared_transform
def shared_transform(z_h, z_w, weight, bias, bn_weight, bn_bias, bn_mean, bn_var, eps=1e-5):
    z = torch.cat([z_h[..., 0], z_w[:, :, 0, :]], dim=-1)            # (B, C, H + W)
    t = torch.einsum("bcp,mc->bmp", z, weight[:, :, 0, 0]) + bias[None, :, None]
    t = (t - bn_mean[:, None]) * (bn_weight / torch.sqrt(bn_var + eps))[:, None] + bn_bias[:, None]
    return (t * torch.clamp(t + 3, 0, 6) / 6).unsqueeze(-1)

# %% split_gates
def split_gates(f, H, W, w_h, b_h, w_w, b_w):
    g = f[..., 0]
    lin_h = torch.einsum("bmp,cm->bcp", g[:, :, :H], w_h[:, :, 0, 0]) + b_h[None, :, None]
    lin_w = torch.einsum("bmp,cm->bcp", g[:, :, H:], w_w[:, :, 0, 0]) + b_w[None, :, None]
    return (1 / (1 + torch.exp(-lin_h))).unsqueeze(-1), (1 / (1 + torch.exp(-lin_w))).unsqueeze(2)

# %% ca_module
class CoordinateAttention(nn.Module):
    """The CA block, eqs. (1)-(6): forward(x) = x * a_h * a_w."""

    def __init__(self, channels: int, reduction: int = 32):
        super().__init__()
        mip = ca_bottleneck(channels, reduction)
        self.conv1 = nn.Conv2d(channels, mip, kernel_size=1)          # F_1, with bias
        self.bn1 = nn.BatchNorm2d(mip)
        self.conv_h = nn.Conv2d(mip, channels, kernel_size=1)         # F_h
        self.conv_w = nn.Conv2d(mip, channels, kernel_size=1)         # F_w

    def forward(self, x):
        B, C, H, W = x.shape
        rows = torch.einsum("bchw->bch", x) / W
        cols = torch.einsum("bchw->bcw", x) / H
        z = torch.cat([rows, cols], dim=2).unsqueeze(-1)             # (B, C, H + W, 1)
        t = self.bn1(torch.einsum("bcpq,mc->bmpq", z, self.conv1.weight[:, :, 0, 0])
                     + self.conv1.bias[None, :, None, None])
        f = t * F.relu6(t + 3) / 6
        a_h = torch.sigmoid(torch.einsum("bmpq,cm->bcpq", f[:, :, :H], self.conv_h.weight[:, :, 0, 0])
                            + self.conv_h.bias[None, :, None, None])                 # (B, C, H, 1)
        a_w = torch.sigmoid(torch.einsum("bmpq,cm->bcqp", f[:, :, H:], self.conv_w.weight[:, :, 0, 0])
                            + self.conv_w.bias[None, :, None, None])                 # (B, C, 1, W)
        out = x.clone()
        out.mul_(a_h).mul_(a_w)
        return out

# %% ca_cost
def ca_param_count(channels, reduction=32):
    m = max(8, channels // reduction)
    return int(3 * channels * m + 3 * m + 2 * channels)


def ca_macs(channels, H, W, reduction=32):
    m = max(8, channels // reduction)
    return int(2 * channels * m * (H + W) + 2 * channels * H * W)

# %% flip_table
x = torch.rand(1, 12, 4, 9, dtype=torch.float64)
flip_table = []
for gate in (se_gate, lambda t: ca_gates(t)[0], lambda t: ca_gates(t)[1]):
    row = []
    for d in (2, 3):
        row.append(int(not torch.allclose(gate(x.flip(d)), gate(x))))
    flip_table.append(row)
