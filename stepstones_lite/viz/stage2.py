"""Figures of notebooks 04_stage2_avss and 05_attention_maps: stage 2 (AVSS) and its attention.

Semantic overlays, the three stage-2 prior modules, attention grids, audio-prototype similarity over time,
robust-key state maps, training curves and annotated heatmaps. Tensors or arrays in, Figure out.
"""

from __future__ import annotations

import textwrap
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .style import HEATMAP_CMAP

__all__ = [
    "semantic_overlay",
    "semantic_rows",
    "split_loss_panel",
    "prior_modules_figure",
    "robust_key_maps",
    "attention_grid",
    "similarity_over_time",
    "training_curves",
    "annotated_heatmap",
    "share_and_lift_heatmaps",
    "KEY_STATE_NAMES",
]

KEY_STATE_NAMES = ("silent", "uncertain", "sounding")  # RobustKeys state ids 0 / 1 / 2
_KEY_STATE_COLOURS = ("#3b4cc0", "#f2c14e", "#c0392b")


def _as_array(x) -> np.ndarray:
    return np.asarray(x.detach().float().cpu() if hasattr(x, "detach") else x)


def _image_array(frame) -> np.ndarray:
    """``[3, H, W]`` / ``[H, W, 3]`` in [0, 1] (or uint8) -> ``[H, W, 3]`` float array."""
    arr = _as_array(frame).astype(np.float32)
    if arr.ndim == 3 and arr.shape[0] == 3 and arr.shape[-1] != 3:
        arr = arr.transpose(1, 2, 0)
    if arr.max(initial=0.0) > 1.0:
        arr = arr / 255.0
    return np.clip(arr, 0.0, 1.0)


def _labels_rgba_array(labels, alpha: float) -> np.ndarray:
    """Class map ``[H, W]`` -> ``[H, W, 4]`` AVSBench palette colours, transparent on background."""
    from ..data import palette

    lab = _as_array(labels).astype(np.int64)
    pal = palette().astype(np.float32) / 255.0  # [71, 3]
    rgba = np.zeros(lab.shape + (4,), dtype=np.float32)
    rgba[..., :3] = pal[np.clip(lab, 0, len(pal) - 1)]
    rgba[..., 3] = (lab > 0) * alpha
    return rgba


def _upsample_map(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest upsampling of a ``[h, w]`` map to ``size`` (integer or not), for overlays."""
    h, w = x.shape
    rows = np.minimum((np.arange(size[0]) * h / size[0]).astype(int), h - 1)
    cols = np.minimum((np.arange(size[1]) * w / size[1]).astype(int), w - 1)
    return x[rows][:, cols]


def semantic_overlay(
    frame,
    labels,
    ax: plt.Axes | None = None,
    alpha: float = 0.6,
    title: str | None = None,
    legend: bool = True,
) -> plt.Figure:
    """A frame with its class map in the AVSBench palette (background transparent) and a class legend.

    Args:
        frame: ``[3, H, W]`` in [0, 1]; labels: ``[H, W]`` class ids 0..70; ax: draw into this axes.
    Returns:
        the figure holding the axes.
    """
    from matplotlib.patches import Patch

    from ..data import AVSS_CLASSES, palette
    from .check import note_class_colours

    if ax is None:
        fig, ax = plt.subplots(figsize=(3.2, 3.2))
    fig = ax.figure
    ax.imshow(_image_array(frame))
    ax.imshow(_labels_rgba_array(labels, alpha))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    ax.set_title(title or "semantic overlay")
    ids = [int(c) for c in np.unique(_as_array(labels).astype(np.int64)) if c > 0]
    pal = palette() / 255.0
    note_class_colours(
        fig, {AVSS_CLASSES[c]: pal[c] for c in ids if c < min(len(pal), len(AVSS_CLASSES))}, ax.get_title()
    )
    if legend:
        handles = [Patch(color=pal[c], label=AVSS_CLASSES[c]) for c in ids]
        if handles:
            ax.legend(handles=handles, loc="lower left", fontsize=7, framealpha=0.8)
    return fig


def semantic_rows(
    frames,
    rows: dict,
    title: str | None = None,
    frame_titles: Sequence[str] | None = None,
    gt=None,
    notes: dict | None = None,
) -> plt.Figure:
    """A grid of semantic overlays: one row per named class map stack (e.g. GT, stage 2, end-to-end).

    The column titles (``frame_titles``) stand over the top row only and each row's name is its first panel's
    y label, so no two titles collide. Under each panel one line names the classes it paints ("pred: ...", or
    "GT: ..." for the ``gt`` stack itself) and, when ``gt`` is given, the ground truth's classes as well, each
    marked as such; ``notes``: ``{row name: [one line per column]}`` added below (e.g. objects named /
    painted).

    Args:
        frames: ``[T, 3, H, W]``; rows: ``{name: [T, H, W] class ids}``; gt: ``[T, H, W]`` ground-truth class
            ids.
    """
    from ..data import AVSS_CLASSES

    def names(labels) -> str:
        ids = [int(c) for c in np.unique(_as_array(labels).astype(np.int64)) if c > 0]
        return ", ".join(AVSS_CLASSES[c] for c in ids) or "nothing"

    t = len(frames)
    fig, axes = plt.subplots(len(rows), t, figsize=(2.6 * t + 0.6, 2.75 * len(rows)), squeeze=False)
    for r, (name, labels) in enumerate(rows.items()):
        is_gt = gt is not None and labels is gt
        for c in range(t):
            ax = axes[r, c]
            col = frame_titles[c] if frame_titles else f"frame {c}"
            semantic_overlay(frames[c], labels[c], ax=ax, legend=False)
            ax.set_title(col if r == 0 else "", fontsize=8)
            if c == 0:
                ax.set_ylabel(name, fontsize=9)
            lines = [f"GT: {names(labels[c])}" if is_gt else f"pred: {names(labels[c])}"]
            if gt is not None and not is_gt:
                lines.append(f"GT: {names(gt[c])}")
            if notes and name in notes:
                lines.append(notes[name][c])
            ax.set_xlabel(
                "\n".join(textwrap.fill(line, 46) for line in lines), fontsize=7
            )  # within its column
    fig.suptitle(title or "semantic predictions (AVSBench palette)", fontweight="bold")
    fig.set_layout_engine("constrained")
    return fig


def _heat_array(
    ax: plt.Axes,
    data: np.ndarray,
    title: str,
    cmap: str | None = None,
    vmin=None,
    vmax=None,
    colorbar: bool = True,
    label: str = "",
) -> None:
    im = ax.imshow(data, cmap=cmap or HEATMAP_CMAP, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=label)


def prior_modules_figure(frame, prior, before, after, blocked, title: str | None = None) -> plt.Figure:
    """Mechanisms 1 and 2 of stage 2 on one frame (paper §3.2).

    Args:
        frame: ``[3, H, W]``; prior: M ``[H, W]`` in [0, 1];
        before / after: mask features ``[D, h, w]`` before / after :func:`fuse_prior` (channel mean shown);
        blocked: the first layer's attention mask at 1/32 ``[h0, w0]`` (True = blocked).
    """
    b, a = _as_array(before).mean(0), _as_array(after).mean(0)  # [h, w]
    lo, hi = min(b.min(), a.min()), max(b.max(), a.max())
    fig, axes = plt.subplots(1, 5, figsize=(16, 3.4), layout="constrained")  # suptitle above two-line titles
    axes[0].imshow(_image_array(frame))
    if (_as_array(prior) >= 0.5).any():
        axes[0].contour(_as_array(prior), levels=[0.5], colors="#00e5ff", linewidths=2.0)
    axes[0].set_title("frame + prior M (cyan outline)", fontsize=9)
    axes[0].set_xticks([])
    axes[0].set_yticks([])
    axes[0].grid(False)
    _heat_array(axes[1], b, "F_V^1 before fusion\n(channel mean)", vmin=lo, vmax=hi)
    _heat_array(axes[2], a, "F_V^1 + resize(M)\n(channel mean)", vmin=lo, vmax=hi)
    _heat_array(axes[3], a - b, "after - before\n(= resized M)", vmin=0.0, vmax=1.0)
    blk = _as_array(blocked).astype(float)
    _heat_array(
        axes[4],
        1.0 - blk,
        f"layer-0 attention mask\n1/32 = {blk.shape[0]}x{blk.shape[1]} (1 = open)",
        cmap="gray",
        vmin=0.0,
        vmax=1.0,
    )
    fig.suptitle(title or "stage 2: mask fusion and the prior as the first attention mask", fontweight="bold")
    return fig


def robust_key_maps(
    states, prior=None, titles: Sequence[str] | None = None, title: str | None = None
) -> plt.Figure:
    """Robust audio-aware key states per decoder scale (0 silent, 1 uncertain, 2 sounding; Eq. 4).

    Args:
        states: list of ``[h_l, w_l]`` long maps (one per scale); prior: optional ``[H, W]`` shown first.
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap

    maps = [_as_array(s) for s in states]
    n = len(maps) + (prior is not None)
    fig, axes = plt.subplots(1, n, figsize=(3.3 * n, 3.2), squeeze=False)
    axes = axes[0]
    if prior is not None:
        _heat_array(axes[0], _as_array(prior), "prior M", vmin=0.0, vmax=1.0)
    cmap = ListedColormap(_KEY_STATE_COLOURS)
    norm = BoundaryNorm([-0.5, 0.5, 1.5, 2.5], 3)
    for i, m in enumerate(maps):
        ax = axes[i + (prior is not None)]
        im = ax.imshow(m, cmap=cmap, norm=norm, interpolation="nearest")
        share = (m == 1).mean()
        name = titles[i] if titles else f"scale {i}"
        ax.set_title(f"{name} {m.shape[0]}x{m.shape[1]}\nuncertain {share:.0%}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, ticks=[0, 1, 2])
        cbar.ax.set_yticklabels(KEY_STATE_NAMES, fontsize=7)
    fig.suptitle(
        title or "robust audio-aware keys: silent / uncertain / sounding per scale", fontweight="bold"
    )
    fig.tight_layout()
    return fig


def attention_grid(
    attn,
    frames=None,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    title: str | None = None,
    alpha: float = 0.6,
    masks=None,
) -> plt.Figure:
    """A grid of attention heatmaps (e.g. layers x frames or layers x heads), optionally over the frames.

    Args:
        attn: nested ``[rows][cols]`` maps ``[h, w]`` (a list of lists, or an array ``[R, C, h, w]``;
            rows may have different ``h, w``, e.g. decoder layers at 1/32, 1/16, 1/8).
        frames: optional per-column frames ``[C, 3, H, W]`` (maps are upsampled to them, nearest).
        masks: optional per-column ``[C, H, W]`` binary masks drawn as a contour (e.g. the sounding GT).
    """
    grid = [[_as_array(m) for m in row] for row in attn]
    r, c = len(grid), len(grid[0])
    fig, axes = plt.subplots(
        r, c, figsize=(2.2 * c + 0.6, 2.1 * r + 0.4), squeeze=False, layout="constrained"
    )  # the suptitle and column titles get their own rows
    for i in range(r):
        vmax = max(float(m.max()) for m in grid[i]) or 1.0
        for j in range(c):
            ax = axes[i, j]
            m = grid[i][j]
            if frames is not None:
                img = _image_array(frames[j])
                ax.imshow(img)
                im = ax.imshow(
                    _upsample_map(m, img.shape[:2]), cmap=HEATMAP_CMAP, alpha=alpha, vmin=0, vmax=vmax
                )
            else:
                im = ax.imshow(m, cmap=HEATMAP_CMAP, vmin=0, vmax=vmax, interpolation="nearest")
            if masks is not None and _as_array(masks[j]).any():
                ax.contour(_as_array(masks[j]), levels=[0.5], colors="white", linewidths=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if i == 0 and col_labels:
                ax.set_title(col_labels[j], fontsize=9)
            if j == 0 and row_labels:
                ax.set_ylabel(row_labels[i], fontsize=9)
        fig.colorbar(im, ax=list(axes[i]), fraction=0.02, pad=0.01, label="attention")
    fig.suptitle(title or "cross-attention maps", fontweight="bold")
    return fig


def similarity_over_time(
    sim, sounding=None, query_labels: Sequence[str] | None = None, title: str | None = None
) -> plt.Figure:
    """The audio-prototype similarity cos(P_audio^i, F_A(t)) per query over the frames (AAQG, Eq. 1).

    Args:
        sim: ``[T, Q]``; sounding: optional ``[T]`` bool (frames with an on-screen sound, shaded).
    Returns:
        a figure: lines per query (left) and a ``frames x queries`` heatmap (right).
    """
    s = _as_array(sim)
    t, q = s.shape
    labels = list(query_labels or [f"q{i}" for i in range(q)])
    fig, (ax, axh) = plt.subplots(
        1, 2, figsize=(12, 3.6), gridspec_kw={"width_ratios": [1.3, 1]}, layout="constrained"
    )
    if sounding is not None:
        for k, on in enumerate(_as_array(sounding).astype(bool)):
            if on:
                ax.axvspan(k - 0.5, k + 0.5, color="#fde0c5", alpha=0.7, lw=0)
    for i in range(q):
        ax.plot(range(t), s[:, i], marker="o", lw=1.2, label=labels[i])
    ax.set_xticks(range(t))
    ax.set_xlabel("frame (second)")
    ax.set_ylabel("cos(P_audio, F_A)")
    ax.set_title("per query over time (shaded: sounding frames)", fontsize=9)
    if q <= 16:  # beside the panel: inside it, "best" still covers some query's line
        ax.legend(
            fontsize=7, ncol=1 if q <= 8 else 2, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False
        )
    lim = float(np.abs(s).max()) or 1.0
    im = axh.imshow(s.T, cmap="coolwarm", vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
    axh.set_xticks(range(t))
    axh.set_yticks(range(q))
    axh.set_yticklabels(labels, fontsize=7)
    axh.set_xlabel("frame (second)")
    axh.grid(False)
    axh.set_title("queries x frames", fontsize=9)
    fig.colorbar(im, ax=axh, label="cosine")
    fig.suptitle(title or "audio-prototype similarity over time", fontweight="bold")
    return fig


def training_curves(
    histories: dict, keys: Sequence[str] = ("train_loss", "val_miou"), title: str | None = None
) -> plt.Figure:
    """Curves of evaluation records (``Trainer`` ``on_eval`` / ``Course.history``), one panel per key.

    Args:
        histories: ``{run name: [record, ...]}`` with records holding ``step`` and the keys.
    """
    fig, axes = plt.subplots(1, len(keys), figsize=(5.2 * len(keys), 3.4), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for name, records in histories.items():
            pts = [(r["step"], r[key]) for r in records if key in r and r[key] == r[key]]
            if pts:
                ax.plot(*zip(*pts), marker="o", lw=1.4, label=name)
        ax.set_xlabel("step")
        ax.set_title(key, fontsize=10)
        if ax.get_legend_handles_labels()[0]:  # a key no run logged leaves an empty panel
            ax.legend(fontsize=8)
    fig.suptitle(title or "training curves", fontweight="bold")
    fig.tight_layout()
    return fig


def annotated_heatmap(
    data,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    title: str | None = None,
    cbar_label: str = "",
    fmt: str = ".2f",
    cmap: str | None = None,
    center: float | None = None,
) -> plt.Figure:
    """A seaborn heatmap with values written in the cells (house colour map and a labelled colour bar)."""
    import seaborn as sns

    arr = _as_array(data).astype(float)
    fig, ax = plt.subplots(figsize=(1.1 * len(col_labels) + 2.5, 0.5 * len(row_labels) + 1.6))
    sns.heatmap(
        arr,
        annot=True,
        fmt=fmt,
        cmap=cmap or HEATMAP_CMAP,
        center=center,
        ax=ax,
        xticklabels=list(col_labels),
        yticklabels=list(row_labels),
        cbar_kws={"label": cbar_label},
    )
    ax.set_title(title or "heatmap")
    fig.tight_layout()
    return fig


def share_and_lift_heatmaps(
    shares,
    lifts,
    row_labels: Sequence[str],
    share_labels: Sequence[str],
    lift_labels: Sequence[str],
    title: str | None = None,
    fmt: str = ".2f",
) -> plt.Figure:
    """Two annotated heatmaps side by side, each on its own scale: shares (fractions, fixed 0-1 colour scale)
    and lifts (ratios, a diverging map centred on 1 = no preference), so a lift of 3 does not wash out shares
    of 0.2."""
    import seaborn as sns

    share_arr, lift_arr = _as_array(shares).astype(float), _as_array(lifts).astype(float)
    n_cols = share_arr.shape[1] + lift_arr.shape[1]
    fig, axes = plt.subplots(
        1,
        2,
        figsize=(1.1 * n_cols + 5.0, 0.5 * len(row_labels) + 1.8),
        gridspec_kw={"width_ratios": [share_arr.shape[1], lift_arr.shape[1]]},
    )
    sns.heatmap(
        share_arr,
        annot=True,
        fmt=fmt,
        cmap=HEATMAP_CMAP,
        vmin=0.0,
        vmax=1.0,
        ax=axes[0],
        xticklabels=list(share_labels),
        yticklabels=list(row_labels),
        cbar_kws={"label": "share (0-1)"},
    )
    top = max(2.0, float(np.nanmax(lift_arr)) if lift_arr.size else 2.0)
    sns.heatmap(
        lift_arr,
        annot=True,
        fmt=fmt,
        cmap="RdBu_r",
        center=1.0,
        vmin=0.0,
        vmax=top,
        ax=axes[1],
        xticklabels=list(lift_labels),
        yticklabels=False,
        cbar_kws={"label": "lift (1 = no preference)"},
    )
    axes[0].set_title("shares", fontsize=10)
    axes[1].set_title("lifts = share / area", fontsize=10)
    fig.suptitle(title or "shares and lifts")
    fig.tight_layout()
    return fig


def split_loss_panel(frame, labels, scores, title: str | None = None) -> plt.Figure:
    """One frame of an AVSS model, the split loss made visible (``metrics.mechanism``).

    Panels: the frame with the ground-truth sounding region; foreground by the argmax (any class beats
    background); foreground by the pooled sounding classes (``Σ_{c≥1} s_c > s_bg``); and the pixels *lost to
    the split*: sounding in the ground truth, background by the argmax, although the pooled classes win
    (orange).

    Args:
        frame: ``[3, H, W]``; labels: ``[H, W]`` GT class ids; scores: ``[C, H, W]`` class scores (class 0
            background).
    """
    scores = torch.as_tensor(scores)
    gt = _as_array(labels) > 0  # [H, W]
    argmax = _as_array(scores.argmax(0)) > 0
    pooled = _as_array((scores[1:].sum(0) > scores[0]).float()) > 0.5
    lost = gt & ~argmax & pooled
    fig, axes = plt.subplots(1, 4, figsize=(11.5, 3.2))
    image = _image_array(frame)
    panels = [
        ("frame, GT sounding outlined", None),
        (f"argmax foreground ({int(argmax.sum())} px)", argmax),
        (f"pooled foreground ({int(pooled.sum())} px)", pooled),
        (f"lost to the split: {int(lost.sum())} of {int(gt.sum())} GT px", lost),
    ]
    for ax, (name, mask) in zip(axes, panels):
        ax.imshow(image)
        if mask is not None:
            overlay = np.zeros((*mask.shape, 4))
            overlay[mask] = (0.90, 0.38, 0.0, 0.75) if mask is lost else (0.0, 0.45, 0.70, 0.55)
            ax.imshow(overlay)
        if gt.any():
            ax.contour(gt, levels=[0.5], colors="white", linewidths=1.2)
        ax.set_title(name, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    fig.suptitle(title or "split loss: sounding pixels the argmax gives to background", fontsize=10)
    fig.set_layout_engine("constrained")
    return fig
