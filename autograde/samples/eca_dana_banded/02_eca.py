# A correct learner who writes everything differently from the instructor: the paper's math.log(C, 2)
# and a bit trick for "odd or one more", the gate as an explicit banded product built with unfold,
# the module with a bare Parameter of shape (k,), a hand-written sigmoid and an in-place product.

# %% kernel_size
def eca_kernel_size(channels, gamma=2, b=1):
    t = int(abs((math.log(channels, 2) + b) / gamma))
    return t | 1                      # an even t gains its lowest bit: t + 1; an odd t stays


k_resnet50 = [eca_kernel_size(c) for c in RESNET50_WIDTHS]
k_mobilenetv2 = list(map(eca_kernel_size, MOBILENETV2_WIDTHS))

# %% gate
def eca_gate(x, weight):
    weight = weight.to(x.dtype)                  # s in x's dtype
    k = weight.numel()
    b, c, h, w = x.shape
    z = x.reshape(b, c, h * w).sum(-1) / (h * w)                 # (B, C)
    padded = torch.cat([z.new_zeros(b, (k - 1) // 2), z, z.new_zeros(b, (k - 1) // 2)], dim=1)
    windows = padded.unfold(1, k, 1)                             # (B, C, k): neighbours c-p .. c+p
    logits = torch.einsum("bck,k->bc", windows, weight.reshape(k))
    return 1 / (1 + torch.exp(-logits))

# %% eca_module
class ECA(nn.Module):
    def __init__(self, channels, k_size=None, gamma=2, b=1):
        super().__init__()
        if k_size is None:
            k_size = eca_kernel_size(channels, gamma=gamma, b=b)
        self.taps = nn.Parameter(torch.randn(k_size) * 0.1)

    def forward(self, x):
        s = eca_gate(x, self.taps)
        out = x.clone()
        out.mul_(s.unsqueeze(-1).unsqueeze(-1))
        return out

# %% params
eca_params_official = int(np.dot(RESNET50_BLOCKS, [3, 5, 5, 7]))
eca_params_adaptive = int(np.dot(RESNET50_BLOCKS, k_resnet50))
