# bob_max_pool's answers, handed in in the Chinese edition (course/zh-CN/01_se): the same mistake
# (the squeeze takes the maximum), the same score, the hint in Chinese in the feedback.

# %% squeeze
def squeeze(x):
    return x.amax(dim=(2, 3))

# %% excitation
def excitation(z, w1, b1, w2, b2):
    return torch.sigmoid(F.linear(torch.relu(F.linear(z, w1, b1)), w2, b2))

# %% se_module
class SqueezeExcitation(nn.Module):
    def __init__(self, channels, reduction=16, bias=True):
        super().__init__()
        mid = channels // reduction or 1
        self.reduce = nn.Conv2d(channels, mid, kernel_size=1, bias=bias)
        self.expand = nn.Conv2d(mid, channels, kernel_size=1, bias=bias)

    def forward(self, x):
        z = squeeze(x)[:, :, None, None]
        return x * torch.sigmoid(self.expand(torch.relu(self.reduce(z))))

# %% param_count
def se_param_count(channels, reduction, bias=True):
    mid = channels // reduction or 1
    return 2 * channels * mid + (mid + channels if bias else 0)

se_params_conv4 = 6 * se_param_count(1024, 16)
