# A correct learner who writes everything differently from the instructor: dense (HW x HW)
# masked attention with gathers back to the compact layout, an index_add aggregation, a module
# that inlines the pass, reachability by breadth-first search, GAM's MLP and convolutions as
# einsum / 1x1-conv-free code with BatchNorm written out, closed-form counts by hand.

# %% criss_cross_attention
def criss_cross_attention(q, k):
    B, Cq, H, W = q.shape
    qf, kf = q.flatten(2), k.flatten(2)                              # (B, C', HW)
    dense = torch.einsum("bcu,bcv->buv", qf, kf)                     # all pairs
    hh = torch.arange(H).repeat_interleave(W)
    ww = torch.arange(W).repeat(H)
    on_cross = (hh[:, None] == hh[None, :]) | (ww[:, None] == ww[None, :])
    dense = dense.masked_fill(~on_cross, float("-inf"))
    p = torch.softmax(dense, dim=-1)                                 # (B, HW, HW), zero off the cross
    idx = []
    for h in range(H):
        for w in range(W):
            col = [g * W + w for g in range(H) if g != h]
            row = [h * W + w2 for w2 in range(W)]
            idx.append(col + row)
    idx = torch.tensor(idx)                                          # (HW, H + W - 1)
    out = p.gather(-1, idx[None].expand(B, -1, -1))
    return out.reshape(B, H, W, H + W - 1)

# %% criss_cross_aggregate
def criss_cross_aggregate(attn, v):
    B, H, W, L = attn.shape
    C = v.shape[1]
    vf = v.flatten(2)                                                # (B, C, HW)
    out = torch.zeros_like(vf)
    for h in range(H):
        for w in range(W):
            pos = [g * W + w for g in range(H) if g != h] + [h * W + w2 for w2 in range(W)]
            out[:, :, h * W + w] = torch.einsum("bl,bcl->bc", attn[:, h, w], vf[:, :, pos])
    return out.reshape(B, C, H, W)

# %% cc_module
class CrissCross(nn.Module):
    def __init__(self, channels: int, reduction: int = 8, recurrence: int = 2):
        super().__init__()
        qk = max(1, channels // reduction)
        self.recurrence = recurrence
        self.query_conv = nn.Conv2d(channels, qk, kernel_size=1)
        self.key_conv = nn.Conv2d(channels, qk, kernel_size=1)
        self.value_conv = nn.Conv2d(channels, channels, kernel_size=1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        out = x
        step = 0
        while step < self.recurrence:
            a = criss_cross_attention(self.query_conv(out), self.key_conv(out))
            agg = criss_cross_aggregate(a, self.value_conv(out))
            out = torch.addcmul(out, self.gamma.expand_as(agg), agg)
            step += 1
        return out

# %% reachability
def reachability(H, W, passes):
    n = H * W
    reach = np.zeros((n, n))
    for u in range(n):
        frontier = {u}
        for _ in range(passes):
            nxt = set()
            for p in frontier:
                h, w = divmod(p, W)
                nxt |= {h * W + w2 for w2 in range(W)} | {g * W + w for g in range(H)}
            frontier = nxt
        reach[u, sorted(frontier)] = 1
    return torch.from_numpy(reach)

# %% cc_cost
def cc_affinities(H, W, recurrence=2):
    per_pixel = (H - 1) + W
    return int(recurrence * per_pixel * H * W)

nonlocal_over_rcca = 9409 / (2 * 193)

# %% gam_channel_gate
def gam_channel_gate(x, w1, b1, w2, b2):
    hid = torch.einsum("bchw,mc->bmhw", x, w1) + b1[None, :, None, None]
    out = torch.einsum("bmhw,cm->bchw", hid.clamp(min=0), w2) + b2[None, :, None, None]
    return 1 / (1 + torch.exp(-out))

# %% gam_spatial_gate
def gam_spatial_gate(f2, conv1, bn1, conv2, bn2, eps=1e-5):
    def norm(y, g, b, m, v):
        sh = (1, -1, 1, 1)
        return (y - m.view(sh)) / torch.sqrt(v.view(sh) + eps) * g.view(sh) + b.view(sh)
    y = F.conv2d(F.pad(f2, (3, 3, 3, 3)), conv1[0]) + conv1[1].view(1, -1, 1, 1)
    y = torch.relu(norm(y, *bn1))
    y = F.conv2d(F.pad(y, (3, 3, 3, 3)), conv2[0]) + conv2[1].view(1, -1, 1, 1)
    return torch.sigmoid(norm(y, *bn2))

# %% gam_module
class GAMBlock(nn.Module):
    def __init__(self, channels: int, rate: int = 4):
        super().__init__()
        hidden = max(1, channels // rate)
        self.channel_attention = nn.Sequential(
            nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels))
        self.spatial_attention = nn.Sequential(
            nn.Conv2d(channels, hidden, kernel_size=7, padding=3), nn.BatchNorm2d(hidden), nn.ReLU(),
            nn.Conv2d(hidden, channels, kernel_size=7, padding=3), nn.BatchNorm2d(channels))

    def forward(self, x):
        m_c = self.channel_attention(x.transpose(1, 3)).transpose(1, 3).sigmoid()
        f2 = m_c.mul(x)
        return f2 * self.spatial_attention(f2).sigmoid()

# %% gam_params
def gam_param_count(channels, rate=4):
    C = channels
    h = C // rate if C // rate > 0 else 1
    mlp = (C + 1) * h + (h + 1) * C
    convs = (49 * C + 1) * h + (49 * h + 1) * C
    bns = 2 * h + 2 * C
    return mlp + convs + bns

# %% reading
fake_cc_positions = 5 * 5
twice_entries = 6 + 10
circulating_gam_zero = 0.5 * 0.5 * 0.5
