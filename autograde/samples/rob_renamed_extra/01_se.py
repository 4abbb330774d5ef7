# Correct, written with plain tensor methods; handed in under another name with an extra file.

# %% squeeze
def squeeze(x):
    return x.flatten(2).mean(-1)

# %% excitation
def excitation(z, w1, b1, w2, b2):
    h = z @ w1.t()
    if b1 is not None:
        h += b1
    h = h * (h > 0)
    o = h @ w2.t()
    if b2 is not None:
        o += b2
    return o.sigmoid()

# %% se_module
class SqueezeExcitation(nn.Module):
    def __init__(self, channels, reduction=16, bias=True):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.body = nn.Sequential(nn.Linear(channels, hidden, bias=bias), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, channels, bias=bias), nn.Sigmoid())

    def forward(self, x):
        return x.mul(self.body(x.flatten(2).mean(-1)).unsqueeze(-1).unsqueeze(-1))

# %% param_count
def se_param_count(channels, reduction, bias=True):
    hidden = max(1, channels // reduction)
    return 2 * channels * hidden + (hidden + channels) * int(bias)

se_params_conv4 = 6 * se_param_count(1024, 16)
