# Swish/SiLU where h-swish belongs in the shared transform, and a module that normalises with the
# batch's own statistics (training-mode batch_norm) even in eval mode. Everything else is right.

# %% coordinate_pool
def coordinate_pool(x):
    return torch.mean(x, 3, True), torch.mean(x, 2, True)

# %% ca_bottleneck
def ca_bottleneck(channels, reduction=32):
    return max(channels // reduction, 8)

# %% shared_transform
def shared_transform(z_h, z_w, weight, bias, bn_weight, bn_bias, bn_mean, bn_var, eps=1e-5):
    z = torch.cat([z_h, z_w.transpose(2, 3)], dim=2)
    t = F.batch_norm(F.conv2d(z, weight, bias), bn_mean, bn_var, bn_weight, bn_bias, eps=eps)
    return F.silu(t)

# %% split_gates
def split_gates(f, H, W, w_h, b_h, w_w, b_w):
    f_h, f_w = torch.split(f, [H, W], dim=2)
    return torch.sigmoid(F.conv2d(f_h, w_h, b_h)), torch.sigmoid(F.conv2d(f_w.transpose(2, 3), w_w, b_w))

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
        t = F.batch_norm(self.conv1(z), None, None, self.bn1.weight, self.bn1.bias, training=True)
        f = F.hardswish(t)
        f_h, f_w = torch.split(f, [H, W], dim=2)
        return x * torch.sigmoid(self.conv_h(f_h)) * torch.sigmoid(self.conv_w(f_w.transpose(2, 3)))

# %% ca_cost
def ca_param_count(channels, reduction=32):
    return sum(p.numel() for p in CoordinateAttention(channels, reduction).parameters())


def ca_macs(channels, H, W, reduction=32):
    m = ca_bottleneck(channels, reduction)
    return 2 * channels * m * (H + W) + 2 * channels * H * W

# %% flip_table
flip_table = [[0, 0], [1, 0], [0, 1]]
