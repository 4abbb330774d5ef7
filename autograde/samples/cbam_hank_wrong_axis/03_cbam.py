# %% channel_gate
def channel_gate(x, w1, b1, w2, b2):
    z = x.mean(dim=(2, 3))
    return torch.sigmoid(F.linear(F.relu(F.linear(z, w1, b1)), w2, b2))[:, :, None, None]

# %% spatial_gate
def spatial_gate(x, conv_w):
    k = conv_w.shape[-1]
    pooled = torch.cat([x.mean(dim=(2, 3), keepdim=True), x.amax(dim=(2, 3), keepdim=True)], dim=1)
    return torch.sigmoid(F.conv2d(pooled, conv_w, padding=(k - 1) // 2))

# %% cbam_module
class CBAM(nn.Module):
    def __init__(self, channels, reduction=16, kernel_size=7):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)

    def gate_c(self, x):
        mlp = lambda z: self.fc2(torch.relu(self.fc1(z)))
        return torch.sigmoid(mlp(x.mean((2, 3))) + mlp(x.amax((2, 3))))[:, :, None, None]

    def gate_s(self, x):
        return torch.sigmoid(self.conv(torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)))

    def forward(self, x):
        g = x * self.gate_s(x)
        return g * self.gate_c(g)

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
    return 2 * channels * h + h + channels + 2 * kernel_size ** 2


def cbam_macs(channels, height, width, reduction=16, kernel_size=7):
    h = max(1, channels // reduction)
    return 4 * channels * h + 2 * kernel_size ** 2 * height * width


cbam_params_resnet50 = sum(n * cbam_param_count(c) for n, c in [(3, 256), (4, 512), (6, 1024), (3, 2048)])
