# Two realistic mistakes in two steps: the rule forgets "+1 for even t" (k = 4 at C = 128), and the
# module, which computes k inline with the same rule instead of calling eca_kernel_size, gets an
# even kernel; padding k // 2 then even returns C + 1 gates. Exercises 1 and 3 lose their points.

# %% kernel_size
def eca_kernel_size(channels, gamma=2, b=1):
    return int(abs((math.log2(channels) + b) / gamma))


k_resnet50 = tuple(eca_kernel_size(c) for c in RESNET50_WIDTHS)
k_mobilenetv2 = tuple(eca_kernel_size(c) for c in MOBILENETV2_WIDTHS)

# %% gate
def eca_gate(x, weight):
    weight = weight.to(x.dtype)                  # s in x's dtype
    k = weight.shape[0]
    z = x.mean(dim=(2, 3))
    return torch.sigmoid(F.conv1d(z.unsqueeze(1), weight.view(1, 1, k), padding=(k - 1) // 2).squeeze(1))

# %% eca_module
class ECA(nn.Module):
    def __init__(self, channels, k_size=None, gamma=2, b=1):
        super().__init__()
        k = k_size or int(abs((math.log2(channels) + b) / gamma))
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)

    def forward(self, x):
        s = torch.sigmoid(self.conv(x.mean((2, 3)).unsqueeze(1))).squeeze(1)
        return x * s[:, :x.shape[1], None, None]

# %% params
eca_params_official = 3 * 3 + 4 * 5 + 6 * 5 + 3 * 7
eca_params_adaptive = 3 * 5 + 4 * 5 + 6 * 5 + 3 * 7
