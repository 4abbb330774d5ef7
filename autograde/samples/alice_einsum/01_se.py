# A correct learner who writes everything differently from the instructor: reductions by sum,
# einsum for the layers, bare nn.Parameters in (in, out) layout, a clamp for the ReLU.

# %% squeeze
def squeeze(x):
    b, c, h, w = x.shape
    return x.reshape(b, c, h * w).sum(-1) / (h * w)

# %% excitation
def excitation(z, w1, b1, w2, b2):
    hidden = torch.einsum("bc,hc->bh", z, w1)
    if b1 is not None:
        hidden = hidden + b1
    out = torch.einsum("bh,ch->bc", hidden.clamp(min=0), w2)
    if b2 is not None:
        out = out + b2
    return 1 / (1 + torch.exp(-out))

# %% se_module
class SqueezeExcitation(nn.Module):
    def __init__(self, channels, reduction=16, bias=True):
        super().__init__()
        mid = max(channels // reduction, 1)
        self.down = nn.Parameter(torch.randn(channels, mid) / channels ** 0.5)   # (in, out)
        self.up = nn.Parameter(torch.randn(mid, channels) / mid ** 0.5)
        self.down_bias = nn.Parameter(torch.zeros(mid)) if bias else None
        self.up_bias = nn.Parameter(torch.zeros(channels)) if bias else None

    def forward(self, x):
        z = torch.einsum("bchw->bc", x) / (x.shape[2] * x.shape[3])
        h = z @ self.down
        if self.down_bias is not None:
            h = h + self.down_bias
        g = torch.relu(h) @ self.up
        if self.up_bias is not None:
            g = g + self.up_bias
        return torch.einsum("bchw,bc->bchw", x, torch.sigmoid(g))

# %% param_count
def se_param_count(channels, reduction, bias=True):
    mid = max(channels // reduction, 1)
    weights = channels * mid * 2
    return int(weights + (mid + channels) * bias)

se_params_conv4 = int(6 * se_param_count(1024, 16))
