# Two realistic mistakes in the functional steps: ReLU instead of h-swish in the shared transform,
# and the two decoders swapped in split_gates. The module is built from these two functions, so
# the mistakes sit in their own steps only: the module step is graded with the reference versions.

# %% coordinate_pool
def coordinate_pool(x):
    return x.mean(3, keepdim=True), x.mean(2, keepdim=True)

# %% ca_bottleneck
def ca_bottleneck(channels, reduction=32):
    return max(8, channels // reduction)

# %% shared_transform
def shared_transform(z_h, z_w, weight, bias, bn_weight, bn_bias, bn_mean, bn_var, eps=1e-5):
    z = torch.cat([z_h, z_w.permute(0, 1, 3, 2)], dim=2)
    t = F.batch_norm(F.conv2d(z, weight, bias), bn_mean, bn_var, bn_weight, bn_bias, False, 0.1, eps)
    return F.relu(t)

# %% split_gates
def split_gates(f, H, W, w_h, b_h, w_w, b_w):
    f_h, f_w = f[:, :, :H], f[:, :, H:]
    a_h = torch.sigmoid(F.conv2d(f_h, w_w, b_w))
    a_w = torch.sigmoid(F.conv2d(f_w.permute(0, 1, 3, 2), w_h, b_h))
    return a_h, a_w

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
        H, W = x.shape[-2:]
        z_h, z_w = coordinate_pool(x)
        bn = self.bn1
        f = shared_transform(z_h, z_w, self.conv1.weight, self.conv1.bias, bn.weight, bn.bias,
                             bn.running_mean, bn.running_var, bn.eps)
        a_h, a_w = split_gates(f, H, W, self.conv_h.weight, self.conv_h.bias,
                               self.conv_w.weight, self.conv_w.bias)
        return x * a_h * a_w

# %% ca_cost
def ca_param_count(channels, reduction=32):
    m = ca_bottleneck(channels, reduction)
    return m * channels + m + 2 * m + 2 * (m * channels + channels)


def ca_macs(channels, H, W, reduction=32):
    m = ca_bottleneck(channels, reduction)
    return 2 * m * channels * (H + W) + 2 * channels * H * W

# %% flip_table
flip_table = np.array([[0, 0], [1, 0], [0, 1]])
