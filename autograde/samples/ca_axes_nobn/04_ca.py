# Pooling over the wrong axes (z_h averages the height), the bottleneck without its floor of 8,
# and a module whose forward (written inline) forgets the BatchNorm. The cost functions call the
# learner's ca_bottleneck, which the grader replaces by the reference while they are checked.

# %% coordinate_pool
def coordinate_pool(x):
    return x.mean(dim=2, keepdim=True), x.mean(dim=3, keepdim=True)

# %% ca_bottleneck
def ca_bottleneck(channels, reduction=32):
    return max(1, channels // reduction)

# %% shared_transform
def shared_transform(z_h, z_w, weight, bias, bn_weight, bn_bias, bn_mean, bn_var, eps=1e-5):
    z = torch.cat([z_h, z_w.transpose(2, 3)], dim=2)
    t = F.conv2d(z, weight, bias)
    t = (t - bn_mean.view(1, -1, 1, 1)) / torch.sqrt(bn_var.view(1, -1, 1, 1) + eps)
    t = t * bn_weight.view(1, -1, 1, 1) + bn_bias.view(1, -1, 1, 1)
    return F.hardswish(t)

# %% split_gates
def split_gates(f, H, W, w_h, b_h, w_w, b_w):
    f_h, f_w = torch.split(f, [H, W], dim=2)
    return torch.sigmoid(F.conv2d(f_h, w_h, b_h)), torch.sigmoid(F.conv2d(f_w, w_w, b_w)).transpose(2, 3)

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
        H, W = x.shape[2], x.shape[3]
        z = torch.cat([x.mean(3, keepdim=True), x.mean(2, keepdim=True).transpose(2, 3)], dim=2)
        f = F.hardswish(self.conv1(z))                                # no BatchNorm
        f_h, f_w = torch.split(f, [H, W], dim=2)
        return x * torch.sigmoid(self.conv_h(f_h)) * torch.sigmoid(self.conv_w(f_w.transpose(2, 3)))

# %% ca_cost
def ca_param_count(channels, reduction=32):
    m = ca_bottleneck(channels, reduction)
    conv1 = m * channels + m
    return conv1 + 2 * m + 2 * (channels * m + channels)


def ca_macs(channels, H, W, reduction=32):
    m = ca_bottleneck(channels, reduction)
    return m * channels * (H + W) + channels * m * H + channels * m * W + 2 * channels * H * W

# %% flip_table
xx = torch.randn(3, 12, 6, 10, dtype=torch.float64)
flip_table = torch.tensor([[float(not torch.allclose(g(xx.flip(d)), g(xx))) for d in (2, 3)]
                           for g in (se_gate, lambda t: ca_gates(t)[0], lambda t: ca_gates(t)[1])])
