# A correct learner who writes everything differently from the instructor.

# %% channel_gate
def channel_gate(x, w1, b1, w2, b2):
    b, c = x.shape[:2]
    flat = x.reshape(b, c, -1)
    z = torch.stack((flat.sum(-1) / flat.shape[-1], flat.max(dim=-1).values))   # (2, B, C)
    hidden = (torch.einsum("nbc,hc->nbh", z, w1) + b1).clamp(min=0)
    out = torch.einsum("nbh,ch->nbc", hidden, w2) + b2                          # (2, B, C)
    return (1 / (1 + torch.exp(-out.sum(0)))).reshape(b, c, 1, 1)

# %% spatial_gate
def spatial_gate(x, conv_w):
    k = conv_w.shape[-1]
    p = k // 2
    pooled = torch.cat((x.sum(1, keepdim=True) / x.shape[1], x.max(dim=1, keepdim=True).values), 1)
    return torch.sigmoid(F.conv2d(F.pad(pooled, (p, p, p, p)), conv_w))

# %% cbam_module
class CBAM(nn.Module):
    def __init__(self, channels, reduction=16, kernel_size=7):
        super().__init__()
        mid = channels // reduction or 1
        self.mlp = nn.Sequential(nn.Conv2d(channels, mid, 1), nn.ReLU(), nn.Conv2d(mid, channels, 1))
        self.spatial = nn.Conv2d(2, 1, kernel_size, padding="same", bias=False)

    def forward(self, x):
        avg = nn.functional.adaptive_avg_pool2d(x, 1)
        mx = nn.functional.adaptive_max_pool2d(x, 1)
        out = x * torch.sigmoid(self.mlp(avg) + self.mlp(mx))
        maps = torch.cat([out.mean(1, keepdim=True), out.amax(1, keepdim=True)], dim=1)
        return out.mul_(torch.sigmoid(self.spatial(maps)))

# %% gate_order
def spatial_first(x, w1, b1, w2, b2, conv_w):
    y = spatial_gate(x, conv_w) * x
    return channel_gate(y, w1, b1, w2, b2) * y


def order_gap(x, w1, b1, w2, b2, conv_w):
    y = channel_gate(x, w1, b1, w2, b2) * x
    y = spatial_gate(y, conv_w) * y
    diff = torch.abs(y - spatial_first(x, w1, b1, w2, b2, conv_w))
    return torch.amax(diff, dim=(1, 2, 3))

# %% cost
def cbam_param_count(channels, reduction=16, kernel_size=7):
    mid = channels // reduction or 1
    mlp = (channels + 1) * mid + (mid + 1) * channels
    return int(mlp + 2 * kernel_size * kernel_size)


def cbam_macs(channels, height, width, reduction=16, kernel_size=7):
    mid = channels // reduction or 1
    per_pixel = 2 * kernel_size ** 2 + 2 * channels
    return int(2 * (2 * channels * mid) + per_pixel * height * width)


blocks = np.array([3, 4, 6, 3])
widths = [256, 512, 1024, 2048]
cbam_params_resnet50 = int(sum(n * cbam_param_count(c, 16, 7) for n, c in zip(blocks, widths)))
