# %% channel_gate
def channel_gate(x, w1, b1, w2, b2):
    mlp = lambda z: F.linear(F.relu(F.linear(z, w1, b1)), w2, b2)
    return (mlp(x.mean((2, 3))) + mlp(x.amax((2, 3))))[:, :, None, None]

# %% spatial_gate
def spatial_gate(x, conv_w):
    pooled = torch.stack([x.mean(1), x.amax(1)], dim=1)
    return torch.sigmoid(F.conv2d(pooled, conv_w, padding="same"))

# %% cbam_module
class CBAM(nn.Module):
    def __init__(self, channels, reduction=16, kernel_size=7):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.mlp_avg = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels))
        self.mlp_max = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels))
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x):
        m_c = torch.sigmoid(self.mlp_avg(x.mean((2, 3))) + self.mlp_max(x.amax((2, 3))))
        f1 = x * m_c[:, :, None, None]
        return f1 * spatial_gate(f1, self.conv.weight)

# %% gate_order
def spatial_first(x, w1, b1, w2, b2, conv_w):
    return x * spatial_gate(x, conv_w) * channel_gate(x, w1, b1, w2, b2)


def order_gap(x, w1, b1, w2, b2, conv_w):
    f1 = x * channel_gate(x, w1, b1, w2, b2)
    f2 = f1 * spatial_gate(f1, conv_w)
    return (f2 - spatial_first(x, w1, b1, w2, b2, conv_w)).abs().amax(dim=(1, 2, 3))

# %% cost
def cbam_param_count(channels, reduction=16, kernel_size=7):
    h = max(1, channels // reduction)
    return 2 * channels * h + h + channels + 2 * kernel_size ** 2


def cbam_macs(channels, height, width, reduction=16, kernel_size=7):
    h = max(1, channels // reduction)
    return 4 * channels * h + 2 * kernel_size ** 2 * height * width + 2 * channels * height * width


cbam_params_resnet50 = sum(n * cbam_param_count(c) for n, c in [(3, 256), (4, 512), (6, 1024), (3, 2048)])
