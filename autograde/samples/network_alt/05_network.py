# correct, written differently: a loop over (conv, bn) pairs, in-place addition, clamp for the ReLU; counts by summing terms, NumPy array for the stages, a longer closed form

# %% bottleneck
class Bottleneck(nn.Module):
    """ResNet bottleneck with an attention module on the residual branch, eq. (1)."""

    def __init__(self, in_channels: int, width: int, stride: int = 1, attention: nn.Module | None = None):
        super().__init__()
        out_channels = 4 * width
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.attention = attention if attention is not None else nn.Identity()
        self.downsample = None                     # the shortcut's 1x1 projection, when needed
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = x
        for conv, bn, act in ((self.conv1, self.bn1, True), (self.conv2, self.bn2, True),
                              (self.conv3, self.bn3, False)):
            branch = bn(conv(branch))
            if act:
                branch = F.relu(branch)
        branch = self.attention(branch)
        shortcut = self.downsample(x) if self.downsample is not None else x
        branch += shortcut                          # in place, after the module
        return torch.clamp_min(branch, 0.0)

# %% se_conv3
per_block = sum(n for n in (512 * 32, 32, 32 * 512, 512))
se_conv3_params = int(per_block * 4)

# %% eca_stages
import numpy as np
eca_stage_params = np.array([3, 4, 6, 3]) * np.array([3, 5, 5, 7])

# %% ca_block
def ca_block_params(in_channels, expansion, reduction=32):
    channels = int(round(in_channels * expansion))
    mip = channels // reduction if channels // reduction > 8 else 8
    conv1 = channels * mip + mip
    bn1 = 2 * mip
    decoders = 2 * (mip * channels + channels)
    return int(conv1 + bn1 + decoders)
