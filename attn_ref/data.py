"""Data the chapters use: images that packages ship, and features computed from them in closed form.

Nothing is downloaded: images come from scikit-image's bundled samples, and the "feature maps"
are responses of a fixed bank of Gabor filters (oriented band-pass filters, a classic model of
early vision), so a chapter can show attention acting on real image structure without weights.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

BUNDLED = ("astronaut", "camera", "brick", "grass", "gravel", "chelsea", "coffee", "rocket")


def sample_image(name: str = "astronaut", size: int = 128) -> torch.Tensor:
    """A scikit-image sample image as a grey (1, 1, size, size') tensor in [0, 1].

    The shorter side is resized to ``size`` (antialiased), keeping the aspect ratio.
    """
    from skimage import data

    if name not in BUNDLED:
        raise ValueError(f"unknown image {name!r}; choose one of {BUNDLED}")
    img = np.asarray(getattr(data, name)(), dtype=np.float64)
    if img.ndim == 3:                                    # RGB -> luma (ITU-R BT.601 weights)
        img = img[..., :3] @ np.array([0.299, 0.587, 0.114])
    img = img / 255.0
    t = torch.from_numpy(img).float()[None, None]
    h, w = t.shape[-2:]
    scale = size / min(h, w)
    out = (max(1, round(h * scale)), max(1, round(w * scale)))
    return F.interpolate(t, size=out, mode="bilinear", antialias=True, align_corners=False)


def gabor_bank(orientations: int = 6, wavelengths=(4.0, 8.0), size: int = 15) -> tuple[torch.Tensor, list[str]]:
    """Zero-mean, unit-norm even Gabor filters: weights (C, 1, size, size) and a label each.

    ``g(u, v) = exp(-(u'^2 + v'^2) / (2 s^2)) cos(2 pi u' / lambda)`` with ``(u', v')`` the
    coordinates rotated by the filter's orientation and ``s = 0.56 lambda`` (one octave).
    """
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    v, u = torch.meshgrid(r, r, indexing="ij")
    filters, labels = [], []
    for lam in wavelengths:
        sigma = 0.56 * lam
        for k in range(orientations):
            theta = math.pi * k / orientations
            up = u * math.cos(theta) + v * math.sin(theta)
            vp = -u * math.sin(theta) + v * math.cos(theta)
            g = torch.exp(-(up ** 2 + vp ** 2) / (2 * sigma ** 2)) * torch.cos(2 * math.pi * up / lam)
            g = g - g.mean()
            filters.append(g / g.norm())
            labels.append(f"λ={lam:g}, θ={round(math.degrees(theta))}°")
    return torch.stack(filters)[:, None].float(), labels


def gabor_features(image: torch.Tensor, orientations: int = 6, wavelengths=(4.0, 8.0)) -> tuple[torch.Tensor, list[str]]:
    """Rectified Gabor responses of a (B, 1, H, W) image: (B, C, H, W) feature maps and labels."""
    weight, labels = gabor_bank(orientations, wavelengths)
    pad = weight.shape[-1] // 2
    x = F.pad(image, (pad, pad, pad, pad), mode="reflect")
    return F.relu(F.conv2d(x, weight.to(image.dtype))), labels
