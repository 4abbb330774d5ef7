# %% channel_gate
def channel_gate(x, w1, b1, w2, b2):
    avg, mx = x.mean((2, 3)), x.amax((2, 3))
    h_avg = torch.relu(avg @ w1.T + b1)
    h_max = torch.relu(mx @ w1.T + b1)
    return torch.sigmoid((h_avg @ w2.T + b2) + (h_max @ w2.T + b2)).unsqueeze(-1).unsqueeze(-1)

# %% spatial_gate
def spatial_gate(x, conv_w):
    k = conv_w.shape[-1]
    pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
    pooled = F.pad(pooled, (k - 1, 0, k - 1, 0))          # keeps H x W ... but not centred
    return torch.sigmoid(F.conv2d(pooled, conv_w))

# %% cbam_module
class CBAM(nn.Module):
    def __init__(self, channels, reduction=16, kernel_size=7):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)

    def forward(self, x):
        m_c = channel_gate(x, self.fc1.weight, self.fc1.bias, self.fc2.weight, self.fc2.bias)
        m_s = spatial_gate(x, self.conv.weight)
        return x * m_c * m_s

# %% gate_order
def spatial_first(x, w1, b1, w2, b2, conv_w):
    g1 = x * spatial_gate(x, conv_w)
    return g1 * channel_gate(g1, w1, b1, w2, b2)


def order_gap(x, w1, b1, w2, b2, conv_w):
    f1 = x * channel_gate(x, w1, b1, w2, b2)
    f2 = f1 * spatial_gate(f1, conv_w)
    return (f2 - spatial_first(x, w1, b1, w2, b2, conv_w)).flatten(1).amax(dim=1)

# %% cost
def cbam_param_count(channels, reduction=16, kernel_size=7):
    h = max(1, channels // reduction)
    return 2 * channels * h + h + channels + 2 * kernel_size ** 2 + 2    # + BatchNorm


def cbam_macs(channels, height, width, reduction=16, kernel_size=7):
    h = max(1, channels // reduction)
    return 4 * channels * h + 2 * kernel_size ** 2 * height * width + 2 * channels * height * width


cbam_params_resnet50 = sum(n * cbam_param_count(c) for n, c in [(3, 256), (4, 512), (6, 1024), (3, 2048)])
