# %% squeeze
import sys
import warnings

print("debug " * 2_000_000)
def squeeze(x):
    print("squeeze called with", tuple(x.shape), file=sys.stderr)
    warnings.warn("squeeze: is this right?")
    return x.mean(dim=(2, 3))

# %% excitation
def excitation(z, w1, b1, w2, b2):
    sys.stderr.write("excitation!\n")
    return torch.sigmoid(F.linear(F.relu(F.linear(z, w1, b1)), w2, b2))

# %% se_module
class SqueezeExcitation(nn.Module):
    def __init__(self, channels, reduction=16, bias=True):
        super().__init__()
        h = max(1, channels // reduction)
        self.fc1, self.fc2 = nn.Linear(channels, h, bias=bias), nn.Linear(h, channels, bias=bias)

    def forward(self, x):
        print("forward", file=sys.stderr)
        s = excitation(squeeze(x), self.fc1.weight, self.fc1.bias, self.fc2.weight, self.fc2.bias)
        return x * s[:, :, None, None]

# %% param_count
def se_param_count(channels, reduction, bias=True):
    h = max(1, channels // reduction)
    return 2 * channels * h + ((h + channels) if bias else 0)

se_params_conv4 = 6 * se_param_count(1024, 16)
print("x" * 10_000_000)
