# se_round_up's answers, handed in in the Chinese edition (course/zh-CN/01_se): the same mistake
# (the bottleneck rounded up), the same score; the grader's refusal of the module (core.Rejected)
# and the 'rounded up' hint in Chinese in the feedback.

# %% squeeze
def squeeze(x):
    return x.mean(dim=(2, 3))

# %% excitation
def excitation(z, w1, b1, w2, b2):
    h = z @ w1.T
    if b1 is not None:
        h = h + b1
    s = torch.relu(h) @ w2.T
    if b2 is not None:
        s = s + b2
    return torch.sigmoid(s)

# %% se_module
class SqueezeExcitation(nn.Module):
    def __init__(self, channels, reduction=16, bias=True):
        super().__init__()
        mid = math.ceil(channels / reduction)
        self.fc1 = nn.Linear(channels, mid, bias=bias)
        self.fc2 = nn.Linear(mid, channels, bias=bias)

    def forward(self, x):
        s = excitation(squeeze(x), self.fc1.weight, self.fc1.bias, self.fc2.weight, self.fc2.bias)
        return x * s[:, :, None, None]

# %% param_count
def se_param_count(channels, reduction, bias=True):
    mid = max(1, channels // reduction)
    return 2 * channels * mid + (mid + channels if bias else 0)

se_params_conv4 = 6 * se_param_count(1024, 16)
