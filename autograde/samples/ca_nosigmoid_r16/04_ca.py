# The gates without their sigmoid, SE's reduction ratio 16 as CA's default (in the bottleneck and
# in the cost functions), a module that feeds f^w to conv_h and f^h to conv_w, and a flip table
# that treats CA's gates like SE's.

# %% coordinate_pool
def coordinate_pool(x):
    return x.mean(-1).unsqueeze(-1), x.mean(-2).unsqueeze(-2)

# %% ca_bottleneck
def ca_bottleneck(channels, reduction=16):
    return max(8, channels // reduction)

# %% shared_transform
def shared_transform(z_h, z_w, weight, bias, bn_weight, bn_bias, bn_mean, bn_var, eps=1e-5):
    z = torch.cat([z_h, z_w.transpose(2, 3)], dim=2)
    return F.hardswish(F.batch_norm(F.conv2d(z, weight, bias), bn_mean, bn_var, bn_weight, bn_bias,
                                    training=False, eps=eps))

# %% split_gates
def split_gates(f, H, W, w_h, b_h, w_w, b_w):
    f_h, f_w = torch.split(f, [H, W], dim=2)
    return F.conv2d(f_h, w_h, b_h), F.conv2d(f_w.transpose(2, 3), w_w, b_w)

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
        f = F.hardswish(self.bn1(self.conv1(z)))
        f_h, f_w = torch.split(f, [H, W], dim=2)
        a_h = torch.sigmoid(self.conv_w(f_h))
        a_w = torch.sigmoid(self.conv_h(f_w.transpose(2, 3)))
        return x * a_h * a_w

# %% ca_cost
def ca_param_count(channels, reduction=16):
    m = max(8, channels // reduction)
    return 3 * channels * m + 3 * m + 2 * channels


def ca_macs(channels, H, W, reduction=16):
    m = max(8, channels // reduction)
    return 2 * channels * m * (H + W) + 2 * channels * H * W

# %% flip_table
flip_table = np.zeros((3, 2))
