# A realistic mistake: k is "the nearest odd number" of t, with an exact tie (t = 2, 4, 6 at
# C = 8, 128, 2048) settled downwards. Passes the visible tests (64, 256, 32 are not ties); the
# tables come from the same rule, so only exercise 1 loses its points. The counts are read off the
# table printed after exercise 1, the gate uses padding="same", the module calls the learner's rule.

# %% kernel_size
def eca_kernel_size(channels, gamma=2, b=1):
    t = (math.log2(channels) + b) / gamma
    return 2 * math.ceil(t / 2) - 1       # nearest odd number to t (ties go down)


k_resnet50 = tuple(eca_kernel_size(c) for c in RESNET50_WIDTHS)
k_mobilenetv2 = tuple(eca_kernel_size(c) for c in MOBILENETV2_WIDTHS)

# %% gate
def eca_gate(x, weight):
    weight = weight.to(x.dtype)                  # s in x's dtype
    z = x.mean(dim=(-2, -1)).unsqueeze(1)                       # (B, 1, C)
    return torch.sigmoid(F.conv1d(z, weight.view(1, 1, -1), padding="same")).squeeze(1)

# %% eca_module
class ECA(nn.Module):
    def __init__(self, channels, k_size=None, gamma=2, b=1):
        super().__init__()
        k = k_size or eca_kernel_size(channels, gamma, b)
        self.conv = nn.Conv1d(1, 1, kernel_size=k, padding=k // 2, bias=False)

    def forward(self, x):
        z = x.mean((2, 3))[:, None, :]
        s = torch.sigmoid(self.conv(z))[:, 0, :]
        return x * s[..., None, None]

# %% params
eca_params_official = 3 * 3 + 4 * 5 + 6 * 5 + 3 * 7
eca_params_adaptive = 3 * 5 + 4 * 5 + 6 * 5 + 3 * 7
