"""Criss-cross attention (Huang, Wang, Huang, Huang, Wei, Liu: "CCNet: Criss-Cross Attention for
Semantic Segmentation", ICCV 2019 / TPAMI 2020, arXiv 1811.11721).

Non-local attention lets every position u of an H x W map attend to all H W positions, at a cost
of (H W)^2. Criss-cross attention restricts u = (h, w) to its *criss-cross path* Omega_u: the
positions on row h and on column w, u itself counted once, so |Omega_u| = H + W - 1.

Equations, in the course notation (X in R^{C x H x W}, one example):

    (1) projections   Q = W_q X + b_q,  K = W_k X + b_k  in R^{C' x H x W},  C' = C // r
                      V = W_v X + b_v                      in R^{C x H x W}   (1x1 convolutions)
    (2) affinity      d_{u,v} = Q_u . K_v                  for v in Omega_u
    (3) attention     A_{u,v} = exp(d_{u,v}) / sum_{v' in Omega_u} exp(d_{u,v'})
    (4) aggregation   X'_u = gamma * sum_{v in Omega_u} A_{u,v} V_v + X_u

gamma is a learned scalar initialised to 0, so the block starts as the identity.

Duplicate position. Row h and column w share u itself. The official code computes the column
affinities (all H positions of column w) and the row affinities (all W positions of row h) and
sets the column affinity of u with itself to -inf, so u enters the softmax once, through the row.
We do the same. ``maps["attention"]`` drops that always-zero entry, so its last axis has exactly
H + W - 1 entries, in this order: the H - 1 column positions (h', w), h' != h, by increasing h',
then the W row positions (h, w'), w' = 0 .. W - 1 (u itself at w' = w).

Recurrence. One pass connects u only to its row and column. The paper applies the block R = 2
times with shared weights (RCCA). Two passes reach every pixel: for any u = (h, w) and
v = (h2, w2), the pixel (h, w2) is on v's column and on u's row, so after the first pass
(h, w2) holds information from v and after the second pass u holds information from (h, w2).
(So does (h2, w).) With R = 1 the output at u does not depend on any pixel outside its cross.
"""
from __future__ import annotations

import torch
from torch import nn

from .kinds import ModuleKind


def _drop_self_index(H: int, device: torch.device) -> torch.Tensor:
    """(H, H - 1) index: row h lists 0 .. H - 1 without h."""
    j = torch.arange(H - 1, device=device)
    h = torch.arange(H, device=device)
    return j[None, :] + (j[None, :] >= h[:, None]).long()


def criss_cross_attention(q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eqs. (2)-(3) for queries and keys ``q``, ``k`` (B, C', H, W).

    Returns ``(A_col, A_row)``: ``A_col`` (B, H, W, H), where ``A_col[b, h, w, h']`` weighs
    (h', w) and is exactly 0 at h' = h, and ``A_row`` (B, H, W, W), where ``A_row[b, h, w, w']``
    weighs (h, w'). For every (b, h, w), the H + W entries sum to one.
    """
    B, _, H, W = q.shape
    dtype = q.dtype
    if dtype in (torch.float16, torch.bfloat16):
        # affinities and softmax in float32: a float16 dot product of C' large activations
        # overflows to inf, and inf - inf in the softmax gives NaN; float16's rounding of logits
        # in the thousands also moves the weights by tenths. The weights come back in q's dtype.
        q, k = q.float(), k.float()
    d_col = torch.einsum("bchw,bcgw->bhwg", q, k)          # (B, H, W, H): Q_(h,w) . K_(g,w)
    d_row = torch.einsum("bchw,bchg->bhwg", q, k)          # (B, H, W, W): Q_(h,w) . K_(h,g)
    # the diagonal h' = h, built by a comparison (a boolean torch.eye exports to ONNX as a
    # boolean EyeLike, which onnxruntime does not implement)
    rows = torch.arange(H, device=q.device)
    self_pos = (rows[:, None] == rows[None, :])[:, None, :]        # (H, 1, H)
    d_col = d_col.masked_fill(self_pos, float("-inf"))     # u counted once, via its row
    a = torch.softmax(torch.cat([d_col, d_row], dim=-1), dim=-1).to(dtype)  # (B, H, W, H + W)
    return a[..., :H], a[..., H:]


def criss_cross_aggregate(a_col: torch.Tensor, a_row: torch.Tensor,
                          v: torch.Tensor) -> torch.Tensor:
    """Eq. (4) without gamma and the residual: ``sum_v A_{u,v} V_v``, shape (B, C, H, W)."""
    return (torch.einsum("bhwg,bcgw->bchw", a_col, v)
            + torch.einsum("bhwg,bchg->bchw", a_row, v))


class CrissCrossAttention(nn.Module):
    """Criss-cross attention applied ``recurrence`` times with shared weights (the paper's RCCA).

    Args:
        channels: C, input and output channels.
        reduction: r; queries and keys have ``max(1, C // r)`` channels (8 in the paper's code).
        store_maps: keep ``self.maps["attention"]`` (B, H, W, H + W - 1), the softmax weights of
            the last pass, ordered as in the module docstring, and for R > 1 also
            ``self.maps["attention_passes"]`` (R, B, H, W, H + W - 1), detached. Building them
            copies the attention once per pass: switch it off when only the output matters.
        recurrence: R, the number of passes (2 in the paper: enough to connect every pair of
            pixels, see the module docstring). ``recurrence=1`` is a single criss-cross block.

    Parameters: ``query_conv``, ``key_conv`` (C -> C', 1x1, bias), ``value_conv`` (C -> C, 1x1,
    bias) and the scalar ``gamma`` (initialised to 0).
    """

    def __init__(self, channels: int, reduction: int = 8, store_maps: bool = True,
                 recurrence: int = 2):
        super().__init__()
        if channels < 1 or reduction < 1 or recurrence < 1:
            raise ValueError("channels, reduction and recurrence must be positive, got "
                             f"{channels}, {reduction}, {recurrence}")
        qk = max(1, channels // reduction)
        self.channels, self.reduction, self.recurrence, self.qk_channels = (
            channels, reduction, recurrence, qk)
        self.query_conv = nn.Conv2d(channels, qk, kernel_size=1)
        self.key_conv = nn.Conv2d(channels, qk, kernel_size=1)
        self.value_conv = nn.Conv2d(channels, channels, kernel_size=1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.store_maps = store_maps
        self.maps: dict[str, torch.Tensor] = {}

    def single_pass(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One criss-cross block: returns ``(x', A_col, A_row)``."""
        a_col, a_row = criss_cross_attention(self.query_conv(x), self.key_conv(x))
        out = criss_cross_aggregate(a_col, a_row, self.value_conv(x))
        return x + self.gamma * out, a_col, a_row

    @staticmethod
    def compact_map(a_col: torch.Tensor, a_row: torch.Tensor) -> torch.Tensor:
        """(B, H, W, H + W - 1) attention: column weights without u itself, then row weights."""
        B, H, W, _ = a_col.shape
        idx = _drop_self_index(H, a_col.device)[:, None, :].expand(B, H, W, H - 1)
        return torch.cat([a_col.gather(-1, idx), a_row], dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"expected a (B, {self.channels}, H, W) tensor, "
                             f"got shape {tuple(x.shape)}")
        maps = []
        for _ in range(self.recurrence):
            x, a_col, a_row = self.single_pass(x)
            if self.store_maps:
                maps.append(self.compact_map(a_col.detach(), a_row.detach()))
        if self.store_maps:
            self.maps = {"attention": maps[-1]}
            if self.recurrence > 1:
                self.maps["attention_passes"] = torch.stack(maps)
        return x

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, reduction={self.reduction}, "
                f"qk_channels={self.qk_channels}, recurrence={self.recurrence}")


KIND = ModuleKind(name="ccnet", title="CCNet", cls=CrissCrossAttention,
                  aliases=("cca", "rcca", "criss_cross"))
