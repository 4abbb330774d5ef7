# Two realistic mistakes: the criss-cross softmax runs over all H column and all W row entries
# (the pixel itself twice) and keeps H + W - 1 of them by dropping the centre's column entry after
# the softmax; the GAM forward squares the channel map (the circulating bug).

# %% criss_cross_attention
def criss_cross_attention(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Eqs. (2)-(3): softmax over each pixel's criss-cross path, (B, H, W, H + W - 1).

    Last axis: the H - 1 column positions (h', w), h' != h, by increasing h', then the W row
    positions (h, w'), w' = 0 .. W - 1.
    """
    B, _, H, W = q.shape
    d_col = torch.einsum("bchw,bcgw->bhwg", q, k)               # (B, H, W, H): Q_(h,w) . K_(g,w)
    d_row = torch.einsum("bchw,bchg->bhwg", q, k)               # (B, H, W, W): Q_(h,w) . K_(h,g)
    centre = torch.eye(H, dtype=torch.bool, device=q.device)[:, None, :]   # g == h
    a = torch.softmax(torch.cat([d_col, d_row], dim=-1), dim=-1)
    a_col = a[..., :H][~centre.expand(B, H, W, H)].reshape(B, H, W, H - 1)
    return torch.cat([a_col, a[..., H:]], dim=-1)

# %% criss_cross_aggregate
def criss_cross_aggregate(attn: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Eq. (4) without gamma and the residual: (B, C, H, W)."""
    B, H, W, _ = attn.shape
    h = torch.arange(H, device=attn.device)
    j = torch.arange(H - 1, device=attn.device)
    rows_of = j[None, :] + (j[None, :] >= h[:, None]).long()        # (H, H - 1): h' of entry j
    a_col = torch.zeros(B, H, W, H, dtype=attn.dtype, device=attn.device)
    a_col.scatter_(-1, rows_of[None, :, None, :].expand(B, H, W, H - 1), attn[..., :H - 1])
    a_row = attn[..., H - 1:]
    return (torch.einsum("bhwg,bcgw->bchw", a_col, v)
            + torch.einsum("bhwg,bchg->bchw", a_row, v))

# %% cc_module
class CrissCross(nn.Module):
    """Recurrent criss-cross attention, eqs. (1)-(5), with R = `recurrence` passes."""

    def __init__(self, channels: int, reduction: int = 8, recurrence: int = 2):
        super().__init__()
        qk = max(1, channels // reduction)
        self.recurrence = recurrence
        self.query_conv = nn.Conv2d(channels, qk, kernel_size=1)
        self.key_conv = nn.Conv2d(channels, qk, kernel_size=1)
        self.value_conv = nn.Conv2d(channels, channels, kernel_size=1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(self.recurrence):
            attn = criss_cross_attention(self.query_conv(x), self.key_conv(x))
            x = x + self.gamma * criss_cross_aggregate(attn, self.value_conv(x))
        return x

# %% reachability
def reachability(H: int, W: int, passes: int) -> torch.Tensor:
    """(H*W, H*W) 0/1 matrix, pixels numbered row-major: 1 where u can depend on v after `passes`."""
    h = torch.arange(H).repeat_interleave(W)
    w = torch.arange(W).repeat(H)
    m = ((h[:, None] == h[None, :]) | (w[:, None] == w[None, :])).double()
    reach = torch.eye(H * W, dtype=torch.float64)
    for _ in range(passes):
        reach = (reach @ m > 0).double()
    return reach

# %% cc_cost
def cc_affinities(H: int, W: int, recurrence: int = 2) -> int:
    """Affinities computed by `recurrence` criss-cross passes on an H x W map."""
    return recurrence * H * W * (H + W - 1)


nonlocal_over_rcca = (97 * 97) ** 2 / cc_affinities(97, 97)

# %% gam_channel_gate
def gam_channel_gate(x, w1, b1, w2, b2):
    """Eq. (6): M_c (B, C, H, W), the MLP C -> C/r -> C applied at every position."""
    t = F.linear(F.relu(F.linear(x.permute(0, 2, 3, 1), w1, b1)), w2, b2)   # (B, H, W, C)
    return torch.sigmoid(t.permute(0, 3, 1, 2))

# %% gam_spatial_gate
def gam_spatial_gate(f2, conv1, bn1, conv2, bn2, eps=1e-5):
    """Eq. (7): M_s (B, C, H, W) from F2: conv7 -> BN -> ReLU -> conv7 -> BN -> sigmoid."""
    def bn(y, p):
        g, beta, mean, var = p
        return F.batch_norm(y, mean, var, g, beta, training=False, eps=eps)
    y = F.relu(bn(F.conv2d(f2, conv1[0], conv1[1], padding=3), bn1))
    return torch.sigmoid(bn(F.conv2d(y, conv2[0], conv2[1], padding=3), bn2))

# %% gam_module
class GAMBlock(nn.Module):
    """GAM: F2 = M_c(x) * x, F3 = M_s(F2) * F2, eqs. (6)-(7)."""

    def __init__(self, channels: int, rate: int = 4):
        super().__init__()
        hidden = max(1, channels // rate)
        self.channel_attention = nn.Sequential(
            nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels))
        self.spatial_attention = nn.Sequential(
            nn.Conv2d(channels, hidden, kernel_size=7, padding=3), nn.BatchNorm2d(hidden), nn.ReLU(),
            nn.Conv2d(hidden, channels, kernel_size=7, padding=3), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fc1, fc2 = self.channel_attention[0], self.channel_attention[2]
        m_c = gam_channel_gate(x, fc1.weight, fc1.bias, fc2.weight, fc2.bias)
        f2 = m_c * m_c
        s = self.spatial_attention
        m_s = gam_spatial_gate(
            f2, (s[0].weight, s[0].bias), (s[1].weight, s[1].bias, s[1].running_mean, s[1].running_var),
            (s[3].weight, s[3].bias), (s[4].weight, s[4].bias, s[4].running_mean, s[4].running_var))
        return f2 * m_s

# %% gam_params
def gam_param_count(channels: int, rate: int = 4) -> int:
    """Parameters of one GAM block (MLP, two 7x7 convolutions with biases, two BatchNorms)."""
    C, h = channels, max(1, channels // rate)
    return (2 * C * h + h + C) + (2 * 49 * C * h + h + C) + 2 * (h + C)

# %% reading
torch.manual_seed(0)
fake = CirculatingCrissCross(16).double()      # many channels: a ReLU rarely cuts every path
with torch.no_grad():
    fake.gamma.fill_(1.0)
x = torch.randn(1, 16, 9, 9, dtype=torch.float64, requires_grad=True)
fake(x)[0, :, 4, 4].sum().backward()
fake_cc_positions = int((x.grad.abs().sum(1) > 0).sum())

q = torch.randn(1, 2, 6, 10)
twice_entries = circulating_cc_softmax(q, q).shape[-1]

bad = CirculatingGAM(8).eval()
with torch.no_grad():
    for p in bad.parameters():
        p.zero_()
    bad.spatial_attention[1].weight.fill_(1.0); bad.spatial_attention[4].weight.fill_(1.0)
    circulating_gam_zero = float(bad(torch.zeros(1, 8, 5, 5))[0, 0, 0, 0])
