# Three realistic mistakes in three steps: "nearest odd" written as 2 * round((t - 1) / 2) + 1
# (Python's round-half-to-even makes C = 8 give 1), the gate averages over the wrong axes
# (dims 1 and 3), and the module pads the channel axis circularly through nn.Conv1d's padding_mode.

# %% kernel_size
def eca_kernel_size(channels, gamma=2, b=1):
    t = (math.log2(channels) + b) / gamma
    return 2 * round((t - 1) / 2) + 1


k_resnet50 = tuple(eca_kernel_size(c) for c in RESNET50_WIDTHS)
k_mobilenetv2 = tuple(eca_kernel_size(c) for c in MOBILENETV2_WIDTHS)

# %% gate
def eca_gate(x, weight):
    weight = weight.to(x.dtype)                  # s in x's dtype
    k = weight.shape[0]
    z = x.mean(dim=(1, 3))
    return torch.sigmoid(F.conv1d(z.unsqueeze(1), weight.view(1, 1, k), padding=(k - 1) // 2).squeeze(1))

# %% eca_module
class ECA(nn.Module):
    def __init__(self, channels, k_size=None, gamma=2, b=1):
        super().__init__()
        k = eca_kernel_size(channels, gamma, b) if k_size is None else k_size
        self.conv = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, padding_mode="circular", bias=False)

    def forward(self, x):
        s = torch.sigmoid(self.conv(x.mean((2, 3)).unsqueeze(1)).squeeze(1))
        return x * s[:, :, None, None]

# %% params
eca_params_official = 80
eca_params_adaptive = 86
