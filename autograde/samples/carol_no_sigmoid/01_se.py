# A realistic mistake: the excitation forgets the sigmoid. Everything else is right, and the
# module reuses the learner's excitation, so only exercise 2 should lose its points.

# %% squeeze
def squeeze(x):
    return x.mean(dim=(-2, -1))

# %% excitation
def excitation(z, w1, b1, w2, b2):
    return F.linear(F.relu(F.linear(z, w1, b1)), w2, b2)

# %% se_module
class SqueezeExcitation(nn.Module):
    def __init__(self, channels, reduction=16, bias=True):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(channels, max(1, channels // reduction), bias=bias),
                                nn.Linear(max(1, channels // reduction), channels, bias=bias))

    def forward(self, x):
        s = excitation(squeeze(x), self.fc[0].weight, self.fc[0].bias,
                       self.fc[1].weight, self.fc[1].bias)
        return x * s.view(*s.shape, 1, 1)

# %% param_count
def se_param_count(channels, reduction, bias=True):
    return sum(p.numel() for p in SqueezeExcitation(channels, reduction, bias).parameters())

se_params_conv4 = 6 * se_param_count(1024, 16)
