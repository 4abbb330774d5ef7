# attention on the identity (shortcut) path; CA counted on the input width

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
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + self.attention(identity))

# %% se_conv3
C = 4 * 128
hidden = C // 16
se_conv3_params = 4 * (2 * C * hidden + hidden + C)

# %% eca_stages
eca_stage_params = [blocks * k for blocks, k in zip([3, 4, 6, 3], [3, 5, 5, 7])]

# %% ca_block
def ca_block_params(in_channels, expansion, reduction=32):
    C = in_channels
    m = max(8, C // reduction)
    return C * m + m + 2 * m + 2 * (m * C + C)
