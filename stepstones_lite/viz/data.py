"""Figures of notebook 01_data_and_metrics.

Frame strips with mask overlays, log-mel examples, the AVSS palette and class counts. Tensors in, Figure out.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as _np

from .style import HEATMAP_CMAP

__all__ = ["frame_strip", "plot_log_mel", "palette_swatches", "class_histogram", "mask_panels"]

SOUNDING_COLOUR = (0.84, 0.37, 0.0)  # overlay colour of binary "sounding" masks (Okabe-Ito vermillion)
OUTLINE_COLOUR = "#ffd400"  # contour colour of silent objects / distractors


def _np_image(frame) -> _np.ndarray:
    """``[3, H, W]`` or ``[H, W, 3]`` tensor/array in [0, 1] (or uint8) -> ``[H, W, 3]`` float array."""
    arr = _np.asarray(frame.detach().cpu() if hasattr(frame, "detach") else frame, dtype=_np.float32)
    if arr.ndim == 3 and arr.shape[0] == 3 and arr.shape[-1] != 3:
        arr = arr.transpose(1, 2, 0)  # [H, W, 3]
    if arr.max(initial=0.0) > 1.0:
        arr = arr / 255.0
    return _np.clip(arr, 0.0, 1.0)


def _np_map(x) -> _np.ndarray:
    return _np.asarray(x.detach().cpu() if hasattr(x, "detach") else x)


def _label_rgba(label: _np.ndarray, semantic: bool, alpha: float) -> _np.ndarray:
    """``[H, W]`` mask (binary) or class map -> ``[H, W, 4]`` overlay (transparent where 0)."""
    from ..data import palette

    rgba = _np.zeros(label.shape + (4,), dtype=_np.float32)
    on = label > 0
    if semantic:
        pal = palette().astype(_np.float32) / 255.0  # [71, 3]
        rgba[..., :3] = pal[_np.clip(label.astype(_np.int64), 0, len(pal) - 1)]
    else:
        rgba[..., :3] = SOUNDING_COLOUR
    rgba[..., 3] = on * alpha
    return rgba


def frame_strip(
    frames,
    masks=None,
    outlines=None,
    title: str | None = None,
    frame_titles: Sequence[str] | None = None,
    semantic: bool | None = None,
    alpha: float = 0.55,
) -> plt.Figure:
    """One row of video frames with optional mask overlays and outlined regions.

    Args:
        frames: ``[T, 3, H, W]`` in [0, 1] (or ``[T, H, W, 3]``).
        masks: optional ``[T, H, W]``: binary sounding masks (vermillion) or class maps (AVSS palette
            colours).
        outlines: optional ``[T, H, W]`` bool, drawn as yellow contours (e.g. silent objects).
        title: figure title.
        frame_titles: one caption per frame (default ``t = k s``).
        semantic: colour ``masks`` by class (default: auto, True if any value > 1).
        alpha: overlay opacity.
    Returns:
        the figure (T panels).
    """
    t = len(frames)
    fig, axes = plt.subplots(1, t, figsize=(2.1 * t, 2.5), squeeze=False)
    if masks is not None:
        masks_np = _np_map(masks)
        semantic = bool(masks_np.max(initial=0) > 1) if semantic is None else semantic
    for k, ax in enumerate(axes[0]):
        ax.imshow(_np_image(frames[k]))
        if masks is not None:
            ax.imshow(_label_rgba(masks_np[k], semantic, alpha), interpolation="nearest")
        if outlines is not None:
            out = _np_map(outlines[k]).astype(_np.float32)
            if out.any() and not out.all():
                ax.contour(out, levels=[0.5], colors=[OUTLINE_COLOUR], linewidths=1.5, linestyles="--")
        ax.set_title(
            frame_titles[k] if frame_titles is not None else f"t = {k} s", fontsize=9, fontweight="normal"
        )
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    fig.suptitle(title or "frames", fontweight="bold")
    fig.tight_layout()
    return fig


def plot_log_mel(log_mel, title: str | None = None, seconds_per_example: float = 0.96) -> plt.Figure:
    """The VGGish log-mel examples of a clip side by side in time, with a colour bar.

    Args:
        log_mel: ``[n, 1, 96, 64]`` or ``[n, 96, 64]`` examples (96 frames of 10 ms × 64 mel bands each).
        title: figure title.
        seconds_per_example: time span of one example (0.96 s in VGGish).
    Returns:
        the figure; dashed lines separate the examples (one per video frame in AVSBench).
    """
    arr = _np.asarray(_np_map(log_mel), dtype=_np.float32)
    if arr.ndim == 4:
        arr = arr[:, 0]  # [n, 96, 64]
    if arr.ndim != 3:
        raise ValueError(f"plot_log_mel: expected [n, 1, 96, 64] or [n, 96, 64], got shape {arr.shape}")
    n, frames_per_ex, bands = arr.shape
    image = arr.reshape(n * frames_per_ex, bands).T  # [64, n*96]: mel band x time
    fig, ax = plt.subplots(figsize=(max(4.0, 1.9 * n), 2.6))
    span = n * seconds_per_example
    im = ax.imshow(
        image,
        origin="lower",
        aspect="auto",
        cmap=HEATMAP_CMAP,
        extent=(0, span, 0, bands),
        interpolation="nearest",
    )
    for i in range(1, n):
        ax.axvline(i * seconds_per_example, color="white", lw=1, ls="--")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mel band")
    ax.grid(False)
    fig.colorbar(im, ax=ax, label="log mel energy")
    ax.set_title(title or "log-mel examples")
    fig.tight_layout()
    return fig


def palette_swatches(
    names: Sequence[str] | None = None, colours=None, ncols: int = 6, title: str | None = None
) -> plt.Figure:
    """A grid of colour swatches with their class index and name (default: the 71 AVSS classes).

    Args:
        names: class names (default ``AVSS_CLASSES``).
        colours: ``[C, 3]`` uint8 colours (default ``palette()``).
        ncols: swatch columns.
        title: figure title.
    """
    from ..data import AVSS_CLASSES, palette

    names = list(AVSS_CLASSES if names is None else names)
    cols = (
        _np.asarray(palette(len(names)) if colours is None else _np_map(colours), dtype=_np.float32) / 255.0
    )
    nrows = -(-len(names) // ncols)
    fig, ax = plt.subplots(figsize=(2.0 * ncols, 0.32 * nrows + 0.6))
    for i, name in enumerate(names):
        r, c = divmod(i, ncols)
        ax.add_patch(plt.Rectangle((c, nrows - 1 - r), 0.22, 0.8, fc=cols[i], ec="#333333", lw=0.5))
        ax.text(c + 0.27, nrows - 1 - r + 0.4, f"{i} {name}", va="center", fontsize=7.5)
    ax.set_xlim(0, ncols)
    ax.set_ylim(0, nrows)
    ax.axis("off")
    ax.set_title(title or f"AVSS palette: {len(names)} classes (index = label2idx value − 1)")
    return fig


def class_histogram(
    counts, title: str | None = None, xlabel: str = "count", top: int | None = None
) -> plt.Figure:
    """Horizontal bars per class, coloured with the AVSS palette where the name is an AVSS class.

    Args:
        counts: ``{class: count}``, or ``{series: {class: count}}`` for stacked bars (e.g. sounding / silent).
        title: figure title.
        xlabel: x-axis label.
        top: keep only the ``top`` classes by total count.
    """
    from ..data import AVSS_CLASSES, class_colour
    from .check import note_class_colours

    series = counts if counts and isinstance(next(iter(counts.values())), dict) else {"": counts}
    totals: dict[str, float] = {}
    for part in series.values():
        for name, v in part.items():
            totals[name] = totals.get(name, 0) + v
    order = sorted(totals, key=lambda k: (-totals[k], k))[:top]
    order = order[::-1]  # largest on top
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(order) + 1.2))
    left = _np.zeros(len(order))
    hatches = [None, "//", "..", "xx"]
    for j, (label, part) in enumerate(series.items()):
        vals = _np.array([part.get(k, 0) for k in order], dtype=float)
        colours = [
            tuple(c / 255 for c in class_colour(AVSS_CLASSES.index(k)))
            if k in AVSS_CLASSES and k != "background"
            else (0.6, 0.6, 0.6)
            for k in order
        ]
        ax.barh(
            order,
            vals,
            left=left,
            color=colours,
            edgecolor="#333333",
            lw=0.5,
            hatch=hatches[j % len(hatches)],
            label=label or None,
        )
        note_class_colours(fig, dict(zip(order, colours)), label)
        left += vals
    if len(series) > 1:  # legend keys by hatch only (bar colours are the classes')
        from matplotlib.patches import Patch

        keys = [
            Patch(fc="white", ec="#333333", hatch=hatches[j % len(hatches)], label=label)
            for j, label in enumerate(series)
        ]
        ax.legend(handles=keys, loc="lower right")
    ax.set_xlabel(xlabel)
    ax.set_title(title or "class frequency")
    fig.tight_layout()
    return fig


def _class_map_panel(ax: plt.Axes, arr: _np.ndarray, annotate: bool) -> None:
    """A class map in the AVSS palette (one colour per class in every panel; background left white)."""
    from ..data import AVSS_CLASSES, palette
    from .check import note_class_colours

    ids = arr.astype(_np.int64)
    ax.imshow(_label_rgba(ids, True, 1.0), interpolation="nearest")
    pal = palette().astype(_np.float32) / 255.0
    shown = {int(c) for c in _np.unique(ids) if 0 < c < len(pal)}
    note_class_colours(ax.figure, {AVSS_CLASSES[c]: pal[c] for c in shown}, ax.get_title())
    if annotate:
        for (i, j), v in _np.ndenumerate(ids):
            light = v <= 0 or float(pal[min(int(v), len(pal) - 1)] @ _np.array([0.299, 0.587, 0.114])) > 0.5
            ax.text(j, i, f"{v:d}", ha="center", va="center", fontsize=8, color="black" if light else "white")


def mask_panels(
    panels,
    title: str | None = None,
    annotate: bool = False,
    cmap: str | None = None,
    colorbar: bool = True,
    labels: bool = False,
) -> plt.Figure:
    """Small maps side by side: ``{caption: [H, W] map or [3, H, W] image}``, heatmaps with colour bars.

    Args:
        panels: ordered mapping caption -> tensor/array (2-D maps are drawn with ``cmap``, 3-channel as RGB).
        title: figure title.
        annotate: write each cell's value (for tiny hand-worked masks, e.g. 4x4).
        cmap: colour map of 2-D maps (default ``HEATMAP_CMAP``).
        colorbar: add a colour bar to each 2-D map.
        labels: the 2-D maps are class maps: drawn in the AVSS palette, so a class has one colour in every
            panel (no colour bar; background white).
    """
    items = list(panels.items())
    fig, axes = plt.subplots(1, len(items), figsize=(2.6 * len(items) + 0.4, 2.8), squeeze=False)
    for ax, (caption, value) in zip(axes[0], items):
        arr = _np.asarray(_np_map(value), dtype=_np.float32)
        ax.grid(False)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(caption, fontsize=9)
        if arr.ndim == 3:
            ax.imshow(_np_image(arr))
            continue
        if labels:
            _class_map_panel(ax, arr, annotate)
            continue
        im = ax.imshow(
            arr,
            cmap=cmap or HEATMAP_CMAP,
            interpolation="nearest",
            vmin=min(0.0, float(arr.min(initial=0))),
            vmax=max(1.0, float(arr.max(initial=0))),
        )
        if annotate:
            for (i, j), v in _np.ndenumerate(arr):
                ax.text(
                    j,
                    i,
                    f"{v:g}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if v < 0.5 * max(1.0, arr.max()) else "black",
                )
        if colorbar:
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.suptitle(title or "maps", fontweight="bold")
    fig.tight_layout()
    return fig
