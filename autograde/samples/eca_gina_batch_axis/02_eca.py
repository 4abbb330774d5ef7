# Two realistic mistakes in two steps: the gate transposes the descriptor once too often and
# convolves across the batch (shapes still work), and the module, written on its own with
# nn.Conv1d, forgets the sigmoid. Exercises 2 and 3 lose their points, nothing else.

# %% kernel_size
def eca_kernel_size(channels, gamma=2, b=1):
    t = int(abs((math.log2(channels) + b) / gamma))
    return t + (1 - t % 2)


k_resnet50 = tuple(eca_kernel_size(c) for c in RESNET50_WIDTHS)
k_mobilenetv2 = tuple(eca_kernel_size(c) for c in MOBILENETV2_WIDTHS)

# %% gate
def eca_gate(x, weight):
    weight = weight.to(x.dtype)                  # s in x's dtype
    k = weight.numel()
    z = x.mean(dim=(2, 3))                       # (B, C)
    y = F.conv1d(z.t().unsqueeze(1), weight.view(1, 1, k), padding=k // 2)   # (C, 1, B)
    return torch.sigmoid(y.squeeze(1).t())

# %% eca_module
class ECA(nn.Module):
    def __init__(self, channels, k_size=None, gamma=2, b=1):
        super().__init__()
        k = k_size if k_size is not None else eca_kernel_size(channels, gamma, b)
        self.conv = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)

    def forward(self, x):
        y = self.conv(x.mean((2, 3)).unsqueeze(1)).squeeze(1)
        return x * y[:, :, None, None]

# %% params
eca_params_official = 80
eca_params_adaptive = 86
