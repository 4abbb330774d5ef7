# Two realistic slips in the gates; the module and the order exercise reuse the gates, so the
# slips cost only the gates' own points.

# %% channel_gate
def channel_gate(x, w1, b1, w2, b2):
    mlp = lambda z: F.linear(F.relu(F.linear(z, w1, b1)), w2, b2)
    avg = x.mean(dim=(2, 3))
    pooled = F.adaptive_avg_pool2d(x, 1).flatten(1)      # meant to be the max pooling
    return torch.sigmoid(mlp(avg) + mlp(pooled))[:, :, None, None]

# %% spatial_gate
def spatial_gate(x, conv_w):
    k = conv_w.shape[-1]
    pooled = torch.cat([torch.max(x, 1)[0].unsqueeze(1), torch.mean(x, 1).unsqueeze(1)], dim=1)
    return torch.sigmoid(F.conv2d(pooled, conv_w, padding=(k - 1) // 2))

# %% cbam_module
class CBAM(nn.Module):
    def __init__(self, channels, reduction=16, kernel_size=7):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)

    def forward(self, x):
        f1 = x * channel_gate(x, self.fc1.weight, self.fc1.bias, self.fc2.weight, self.fc2.bias)
        return f1 * spatial_gate(f1, self.conv.weight)

# %% gate_order
def spatial_first(x, w1, b1, w2, b2, conv_w):
    g1 = x * spatial_gate(x, conv_w)
    return g1 * channel_gate(g1, w1, b1, w2, b2)


def order_gap(x, w1, b1, w2, b2, conv_w):
    f1 = x * channel_gate(x, w1, b1, w2, b2)
    f2 = f1 * spatial_gate(f1, conv_w)
    return (f2 - spatial_first(x, w1, b1, w2, b2, conv_w)).abs().flatten(1).max(dim=1).values

# %% cost
def cbam_param_count(channels, reduction=16, kernel_size=7):
    h = max(1, channels // reduction)
    return 2 * channels * h + h + channels + 2 * kernel_size ** 2


def cbam_macs(channels, height, width, reduction=16, kernel_size=7):
    h = max(1, channels // reduction)
    return 4 * channels * h + 2 * kernel_size ** 2 * height * width + 2 * channels * height * width


cbam_params_resnet50 = (3 * cbam_param_count(256) + 4 * cbam_param_count(512)
                        + 6 * cbam_param_count(1024) + 3 * cbam_param_count(2048))
