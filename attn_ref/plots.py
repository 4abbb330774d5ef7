"""Plots the chapters share: block diagrams, gates over channels, grids of maps.

Each figure's texts are written in English and shown in the learner's language
(:func:`attn_ref.i18n.figures.translate`: through the catalogue, with a font that has the glyphs);
so are the sentences of :func:`describe_gates` (:func:`attn_ref.i18n.tr`).
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from .i18n import tr
from .i18n.figures import translate, watch


def block_diagram(steps: Sequence[tuple[str, str]], title: str = "", skip_to: int | None = None,
                  ax=None):
    """Boxes and arrows, left to right: each step is ``(operation, output shape)``.

    ``skip_to`` draws the identity path from the input to that step (the final product with x).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(1.9 * len(steps), 2.2))
    ax.set_xlim(-0.6, len(steps) - 0.4)
    ax.set_ylim(-1.0, 1.5 if skip_to is not None else 0.6)
    ax.axis("off")
    for i, (op, shape) in enumerate(steps):
        ax.add_patch(plt.Rectangle((i - 0.42, -0.3), 0.84, 0.6, fc="#e8eef7", ec="#345",
                                   lw=1.2))
        ax.text(i, 0.0, op, ha="center", va="center", fontsize=9)
        ax.text(i, -0.45, shape, ha="center", va="top", fontsize=8, color="#555")
        if i:
            ax.annotate("", xy=(i - 0.42, 0), xytext=(i - 0.58, 0),
                        arrowprops=dict(arrowstyle="->", color="#345"))
    if skip_to is not None:
        ax.annotate("", xy=(skip_to, 0.3), xytext=(0, 0.3),
                    arrowprops=dict(arrowstyle="->", color="#b33",
                                    connectionstyle="arc3,rad=-0.15"))
        ax.text(skip_to / 2, 0.78 + 0.04 * skip_to, "x", color="#b33", ha="center", fontsize=9)
    if title:
        ax.set_title(title, fontsize=10, pad=2)
    _in_language(ax.figure)
    return ax


def plot_gates(gates: dict[str, np.ndarray], labels: Sequence[str] | None = None, ax=None,
               title: str = "channel gate s"):
    """Grouped bars: one group per channel, one bar per named gate vector (each of length C)."""
    names = list(gates)
    c = len(np.asarray(gates[names[0]]).ravel())
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6, 0.45 * c), 2.8))
    width = 0.8 / len(names)
    for k, name in enumerate(names):
        ax.bar(np.arange(c) + (k - (len(names) - 1) / 2) * width,
               np.asarray(gates[name]).ravel(), width, label=name)
    ax.set_ylim(0, 1)
    ax.set_ylabel("s")
    ax.set_title(title, fontsize=10)
    ax.set_xticks(np.arange(c))
    ax.set_xticklabels(labels if labels is not None else [str(i) for i in range(c)],
                       rotation=60, ha="right", fontsize=7)
    if len(names) > 1:
        ax.legend(fontsize=8)
    _in_language(ax.figure)
    return ax


def show_maps(maps: np.ndarray, titles: Sequence[str] | None = None, cols: int = 6,
              cmap: str = "magma", suptitle: str = "", vmax: float | None = None):
    """A grid of 2-D maps (N, H, W) on one colour scale from 0 to ``vmax`` (default: the 99.5th
    percentile of all values, so a few bright pixels do not darken the rest); returns the figure."""
    maps = np.asarray(maps)
    n = len(maps)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(1.8 * cols, 1.9 * rows), squeeze=False)
    top = float(np.quantile(maps, 0.995)) if vmax is None else vmax
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i < n:
            ax.imshow(maps[i], cmap=cmap, vmin=0, vmax=top)
            if titles is not None:
                ax.set_title(titles[i], fontsize=7)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    _in_language(fig)
    fig.tight_layout()
    return fig


def describe_gates(gates: dict[str, np.ndarray], labels: Sequence[str], top: int = 3) -> list[str]:
    """Which channels each named gate vector favours, in words a chapter can print beside its plot:
    per name, the ``top`` channels with the largest gates (label and value), and the channels
    whose gate is above one half, grouped by the part of their label before the first comma (for
    the Gabor bank's labels ``"λ=4, θ=90°"``: the orientations above one half at each wavelength).

    gates: name -> array of C gate values in (0, 1); labels: C channel labels. Returns one line
    per name, in the learner's language (the catalogue's template for the line).
    """
    lines = []
    for name, g in gates.items():
        g = np.asarray(g, dtype=float).ravel()
        if len(g) != len(labels):
            raise ValueError(f"{name}: {len(g)} gate values for {len(labels)} labels")
        order = np.argsort(-g, kind="stable")[:top]
        best = ", ".join(f"{labels[i]} ({g[i]:.2f})" for i in order)
        groups: dict[str, list[str]] = {}
        for lab, v in zip(labels, g):
            head, _, rest = lab.partition(", ")
            groups.setdefault(head, [])
            if v > 0.5:
                groups[head].append(rest or head)
        above = "; ".join(f"{head}: {', '.join(rest)}" if rest else tr(f"{head}: none")
                          for head, rest in groups.items())
        lines.append(tr(f"{name}: largest {best} | above ½ — {above}"))
    return lines


def _in_language(fig) -> None:
    """A figure drawn here, in the learner's language (English: as it is); in a notebook, every
    later figure too (:func:`attn_ref.i18n.figures.watch`)."""
    watch()
    translate(fig)
