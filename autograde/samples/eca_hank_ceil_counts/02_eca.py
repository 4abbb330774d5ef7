# Two realistic mistakes in two steps: t is rounded up with ceil() before the "even -> +1" step
# (wrong at C = 64: t = 3.5 -> 4 -> 5; the visible test says so), and the parameter counts take one
# block per stage. The counts are read off the printed table, so they do not depend on the rule.

# %% kernel_size
def eca_kernel_size(channels, gamma=2, b=1):
    t = math.ceil((math.log2(channels) + b) / gamma)
    return t if t % 2 else t + 1


k_resnet50 = tuple(eca_kernel_size(c) for c in RESNET50_WIDTHS)
k_mobilenetv2 = tuple(eca_kernel_size(c) for c in MOBILENETV2_WIDTHS)

# %% gate
def eca_gate(x, weight):
    weight = weight.to(x.dtype)                  # s in x's dtype
    k = len(weight)
    z = x.mean(dim=(2, 3))
    return F.conv1d(z[:, None], weight[None, None], padding=(k - 1) // 2)[:, 0].sigmoid()

# %% eca_module
class ECA(nn.Module):
    def __init__(self, channels, k_size=None, gamma=2, b=1):
        super().__init__()
        if k_size is None:
            k_size = eca_kernel_size(channels, gamma, b)
        self.conv = nn.Conv1d(1, 1, k_size, padding="same", bias=False)

    def forward(self, x):
        z = x.mean((2, 3)).unsqueeze(1)
        return x * self.conv(z).sigmoid().transpose(1, 2).unsqueeze(-1)

# %% params
eca_params_official = 3 + 5 + 5 + 7
eca_params_adaptive = 5 + 5 + 5 + 7
