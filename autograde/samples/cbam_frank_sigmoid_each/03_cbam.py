# %% channel_gate
def channel_gate(x, w1, b1, w2, b2):
    def branch(z):
        return torch.sigmoid(F.linear(torch.relu(F.linear(z, w1, b1)), w2, b2))
    return (branch(x.mean((2, 3))) + branch(x.amax((2, 3))))[:, :, None, None]

# %% spatial_gate
def spatial_gate(x, conv_w):
    pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
    return torch.sigmoid(F.conv2d(pooled, conv_w, padding=3))

# %% cbam_module
class CBAM(nn.Module):
    def __init__(self, channels, reduction=16, kernel_size=7):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x):
        f1 = x * channel_gate(x, self.fc1.weight, self.fc1.bias, self.fc2.weight, self.fc2.bias)
        return x * spatial_gate(f1, self.conv.weight)

# %% gate_order
def spatial_first(x, w1, b1, w2, b2, conv_w):
    g1 = x * spatial_gate(x, conv_w)
    return g1 * channel_gate(g1, w1, b1, w2, b2)


def order_gap(x, w1, b1, w2, b2, conv_w):
    f1 = x * channel_gate(x, w1, b1, w2, b2)
    f2 = f1 * spatial_gate(f1, conv_w)
    return (f2 - spatial_first(x, w1, b1, w2, b2, conv_w)).abs().amax(dim=(1, 2, 3))

# %% cost
def cbam_param_count(channels, reduction=16, kernel_size=7):
    h = max(1, channels // reduction)
    one_mlp = 2 * channels * h + h + channels
    return 2 * one_mlp + 2 * kernel_size ** 2          # one MLP per descriptor


def cbam_macs(channels, height, width, reduction=16, kernel_size=7):
    h = max(1, channels // reduction)
    return 4 * channels * h + 2 * kernel_size ** 2 * height * width + 2 * channels * height * width


cbam_params_resnet50 = sum(n * cbam_param_count(c) for n, c in [(3, 256), (4, 512), (6, 1024), (3, 2048)])
