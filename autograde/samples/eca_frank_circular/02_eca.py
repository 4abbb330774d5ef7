# A realistic mistake: the channel axis is padded circularly ("same" size, but channel 0 and C-1
# become neighbours). The module reuses the learner's gate, so only exercise 2 loses its points.

# %% kernel_size
def eca_kernel_size(channels, gamma=2, b=1):
    t = int(abs((np.log2(channels) + b) / gamma))
    if t % 2 == 0:
        t += 1
    return int(t)


k_resnet50 = tuple(eca_kernel_size(c) for c in RESNET50_WIDTHS)
k_mobilenetv2 = tuple(eca_kernel_size(c) for c in MOBILENETV2_WIDTHS)

# %% gate
def eca_gate(x, weight):
    weight = weight.to(x.dtype)                  # s in x's dtype
    k = weight.shape[-1]
    z = x.mean(dim=(2, 3)).unsqueeze(1)
    z = F.pad(z, ((k - 1) // 2, (k - 1) // 2), mode="circular")
    return torch.sigmoid(F.conv1d(z, weight.reshape(1, 1, k))).squeeze(1)

# %% eca_module
class ECA(nn.Module):
    def __init__(self, channels, k_size=None, gamma=2, b=1):
        super().__init__()
        k = eca_kernel_size(channels, gamma, b) if k_size is None else k_size
        self.conv = nn.Conv1d(1, 1, k, bias=False)

    def forward(self, x):
        return x * eca_gate(x, self.conv.weight.flatten())[:, :, None, None]

# %% params
eca_params_official = sum(n * k for n, k in zip(RESNET50_BLOCKS, (3, 5, 5, 7)))
eca_params_adaptive = sum(n * k for n, k in zip(RESNET50_BLOCKS, k_resnet50))
