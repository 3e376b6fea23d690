"""House style and the figures the notebooks draw.

Every figure is titled, heatmaps carry a colour bar, and :func:`save_figure` writes PNG into
``figures_dir()`` (``$STEPSTONES_FIGURES`` or ``<root>/figures``). Only matplotlib/seaborn are
imported here, so notebooks can import this module cheaply.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from .utils import figures_dir

__all__ = ["set_style", "save_figure", "plot_pipeline", "HEATMAP_CMAP", "plot_study", "plot_prior_sweep"]

HEATMAP_CMAP = "viridis"  # perceptually uniform; used for attention and score maps
_STAGE_COLOURS = {"data": "#d9e8f5", "stage1": "#fde0c5", "prior": "#fff3b0", "stage2": "#d5f0d5", "eval": "#e8e0f0"}


def set_style() -> None:
    """The course's matplotlib defaults (call once in a notebook's setup cell)."""
    try:
        import seaborn as sns

        sns.set_theme(context="notebook", style="whitegrid", font_scale=0.95)
    except ImportError:  # seaborn is a dependency, but keep viz usable without it
        pass
    matplotlib.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": 120,
            "savefig.bbox": "tight",
            "image.cmap": HEATMAP_CMAP,
            "axes.titleweight": "bold",
            "figure.figsize": (7.0, 4.0),
        }
    )


def save_figure(fig: plt.Figure, name: str, folder: str | Path | None = None) -> Path:
    """Save ``fig`` as ``<figures>/<name>.png`` and return the path."""
    out_dir = Path(folder) if folder is not None else figures_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / (name if name.endswith(".png") else f"{name}.png")
    fig.savefig(path)
    return path


def _box(ax: plt.Axes, xy: tuple[float, float], w: float, h: float, text: str, colour: str) -> None:
    ax.add_patch(
        FancyBboxPatch(xy, w, h, boxstyle="round,pad=0.02,rounding_size=0.03", fc=colour, ec="#333333", lw=1.2)
    )
    ax.text(xy[0] + w / 2, xy[1] + h / 2, text, ha="center", va="center", fontsize=9, wrap=True)


def _arrow(ax: plt.Axes, start: tuple[float, float], end: tuple[float, float], label: str = "") -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, lw=1.3, color="#333333"))
    if label:
        ax.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.03, label, ha="center", fontsize=8,
                style="italic", color="#444444")


def plot_pipeline(stages: Sequence[str] | None = None) -> plt.Figure:
    """The Stepping Stones pipeline (paper Fig. 2, simplified): data -> stage 1 -> priors -> stage 2 -> eval."""
    labels = list(
        stages
        or (
            "Clips\nframes + audio\n(AVSBench layout)",
            "Stage 1: AVS\nWHERE is the sound?\nbinary masks",
            "Mask priors M\n0/255 PNGs\n(stepping stones)",
            "Stage 2: AVSS\nWHAT is sounding?\n71 classes, uses M",
            "Evaluate\nmIoU / F-score\n(AVSBench exact)",
        )
    )
    colours = list(_STAGE_COLOURS.values())
    fig, ax = plt.subplots(figsize=(11, 2.8))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    n = len(labels)
    width, gap = 0.16, (1 - 0.16 * n) / (n + 1)
    for i, text in enumerate(labels):
        x = gap + i * (width + gap)
        _box(ax, (x, 0.3), width, 0.45, text, colours[i % len(colours)])
        if i:
            _arrow(ax, (x - gap + 0.005, 0.525), (x - 0.005, 0.525))
    ax.text(0.5, 0.12, "Stage 2 trains with ground-truth masks as M and is tested with stage-1 predictions",
            ha="center", fontsize=9, color="#444444")
    ax.set_title("Stepping Stones: localise first, then recognise (Ma et al., ECCV 2024)")
    return fig


# --- 06_reproduce_paper ---------------------------------------------------------------------------------
def plot_study(results: dict, arms: Sequence[str], key: str = "avss_miou", paper: dict | None = None,
               title: str | None = None) -> plt.Figure:
    """Bar chart of mean ± std over seeds for ``arms`` (dots = single seeds), with the paper's values beside.

    Args:
        results: the ``reproduce_<profile>.json`` dict; arms missing from it are skipped.
        paper: optional ``{arm: {key: value_x100}}`` (``reproduce.PAPER_NUMBERS``), drawn as hollow bars on a
            second axis (percent) because the synthetic benchmark's scale differs from AVSBench's.
    """
    names = [a for a in arms if a in results.get("arms", {})]
    fig, ax = plt.subplots(figsize=(1.6 * max(3, len(names)) + 1.5, 3.8))
    xs = range(len(names))
    means = [results["arms"][a]["mean"].get(key, float("nan")) for a in names]
    stds = [results["arms"][a]["std"].get(key, 0.0) for a in names]
    ax.bar(xs, means, yerr=stds, capsize=4, color="#4c72b0", alpha=0.85, label="ours (mean ± std)")
    for x, arm in zip(xs, names):
        vals = [r[key] for r in results["arms"][arm]["per_seed"] if key in r]
        ax.scatter([x] * len(vals), vals, color="black", s=12, zorder=3)
    ax.set_xticks(list(xs))
    ax.set_xticklabels([a.replace("_", "\n") for a in names], fontsize=8)
    ax.set_ylabel(key)
    if paper:
        ax2 = ax.twinx()
        pv = [paper.get(a, {}).get(key, float("nan")) for a in names]
        ax2.bar([x + 0.3 for x in xs], pv, width=0.25, fill=False, edgecolor="#dd8452", hatch="//", label="paper (%)")
        ax2.set_ylabel(f"paper {key} (%)")
        ax2.grid(False)
        handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
        ax.legend(handles=handles, loc="upper right", fontsize=8)
    ax.set_title(title or f"{key} per arm ({results.get('provenance', {}).get('profile', '?')} profile)")
    return fig


def plot_prior_sweep(points: Sequence[tuple[float, float]], reference: float | None = None,
                     reference_label: str = "end-to-end", title: str = "Stage-2 mIoU vs prior quality") -> plt.Figure:
    """AVSS mIoU of one stage-2 model against the binary mIoU of the priors it was tested with."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    pts = sorted(points)
    ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color="#4c72b0", label="stage 2 with this prior")
    if reference is not None:
        ax.axhline(reference, color="#c44e52", ls="--", label=reference_label)
    ax.set_xlabel("prior binary mIoU (vs ground truth)")
    ax.set_ylabel("AVSS mIoU")
    ax.legend(fontsize=8)
    ax.set_title(title)
    return fig


# --- 01_data_and_metrics ---------------------------------------------------------------------------------
# Frame strips with mask overlays, log-mel examples, the AVSS palette and class counts. Tensors in, Figure out.
import numpy as _np  # noqa: E402  (kept local to this block; matplotlib already imports numpy)

__all__ += ["frame_strip", "plot_log_mel", "palette_swatches", "class_histogram", "mask_panels"]

SOUNDING_COLOUR = (1.0, 0.15, 0.1)  # overlay colour of binary "sounding" masks
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
    from .data import palette

    rgba = _np.zeros(label.shape + (4,), dtype=_np.float32)
    on = label > 0
    if semantic:
        pal = palette().astype(_np.float32) / 255.0  # [71, 3]
        rgba[..., :3] = pal[_np.clip(label.astype(_np.int64), 0, len(pal) - 1)]
    else:
        rgba[..., :3] = SOUNDING_COLOUR
    rgba[..., 3] = on * alpha
    return rgba


def frame_strip(frames, masks=None, outlines=None, title: str | None = None,
                frame_titles: Sequence[str] | None = None, semantic: bool | None = None,
                alpha: float = 0.55) -> plt.Figure:
    """One row of video frames with optional mask overlays and outlined regions.

    Args:
        frames: ``[T, 3, H, W]`` in [0, 1] (or ``[T, H, W, 3]``).
        masks: optional ``[T, H, W]``: binary sounding masks (red) or class maps (AVSS palette colours).
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
        ax.set_title(frame_titles[k] if frame_titles is not None else f"t = {k} s", fontsize=9,
                     fontweight="normal")
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
    im = ax.imshow(image, origin="lower", aspect="auto", cmap=HEATMAP_CMAP, extent=(0, span, 0, bands),
                   interpolation="nearest")
    for i in range(1, n):
        ax.axvline(i * seconds_per_example, color="white", lw=1, ls="--")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mel band")
    ax.grid(False)
    fig.colorbar(im, ax=ax, label="log mel energy")
    ax.set_title(title or "log-mel examples")
    fig.tight_layout()
    return fig


def palette_swatches(names: Sequence[str] | None = None, colours=None, ncols: int = 6,
                     title: str | None = None) -> plt.Figure:
    """A grid of colour swatches with their class index and name (default: the 71 AVSS classes).

    Args:
        names: class names (default ``AVSS_CLASSES``).
        colours: ``[C, 3]`` uint8 colours (default ``palette()``).
        ncols: swatch columns.
        title: figure title.
    """
    from .data import AVSS_CLASSES, palette

    names = list(AVSS_CLASSES if names is None else names)
    cols = _np.asarray(palette(len(names)) if colours is None else _np_map(colours), dtype=_np.float32) / 255.0
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


def class_histogram(counts, title: str | None = None, xlabel: str = "count", top: int | None = None
                    ) -> plt.Figure:
    """Horizontal bars per class, coloured with the AVSS palette where the name is an AVSS class.

    Args:
        counts: ``{class: count}``, or ``{series: {class: count}}`` for stacked bars (e.g. sounding / silent).
        title: figure title.
        xlabel: x-axis label.
        top: keep only the ``top`` classes by total count.
    """
    from .data import AVSS_CLASSES, class_colour

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
        colours = [tuple(c / 255 for c in class_colour(AVSS_CLASSES.index(k))) if k in AVSS_CLASSES and k !=
                   "background" else (0.6, 0.6, 0.6) for k in order]
        ax.barh(order, vals, left=left, color=colours, edgecolor="#333333", lw=0.5,
                hatch=hatches[j % len(hatches)], label=label or None)
        left += vals
    if len(series) > 1:  # legend keys by hatch only (bar colours are the classes')
        from matplotlib.patches import Patch

        keys = [Patch(fc="white", ec="#333333", hatch=hatches[j % len(hatches)], label=label)
                for j, label in enumerate(series)]
        ax.legend(handles=keys, loc="lower right")
    ax.set_xlabel(xlabel)
    ax.set_title(title or "class frequency")
    fig.tight_layout()
    return fig


def mask_panels(panels, title: str | None = None, annotate: bool = False, cmap: str | None = None,
                colorbar: bool = True) -> plt.Figure:
    """Small maps side by side: ``{caption: [H, W] map or [3, H, W] image}``, heatmaps with colour bars.

    Args:
        panels: ordered mapping caption -> tensor/array (2-D maps are drawn with ``cmap``, 3-channel as RGB).
        title: figure title.
        annotate: write each cell's value (for tiny hand-worked masks, e.g. 4x4).
        cmap: colour map of 2-D maps (default ``HEATMAP_CMAP``).
        colorbar: add a colour bar to each 2-D map.
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
        im = ax.imshow(arr, cmap=cmap or HEATMAP_CMAP, interpolation="nearest",
                       vmin=min(0.0, float(arr.min(initial=0))), vmax=max(1.0, float(arr.max(initial=0))))
        if annotate:
            for (i, j), v in _np.ndenumerate(arr):
                ax.text(j, i, f"{v:g}", ha="center", va="center", fontsize=8,
                        color="white" if v < 0.5 * max(1.0, arr.max()) else "black")
        if colorbar:
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.suptitle(title or "maps", fontweight="bold")
    fig.tight_layout()
    return fig


# --- 02/03: stage 1 (AVS) and mask priors -----------------------------------------------------------------
# (notebooks/02_stage1_avs, notebooks/03_mask_priors)
import math as _math  # noqa: E402
from typing import Any as _Any, Mapping as _Mapping  # noqa: E402

import numpy as _np  # noqa: E402

_GT_RGB, _PRED_RGB, _BOTH_RGB = (0.10, 0.80, 0.25), (0.95, 0.20, 0.15), (1.00, 0.85, 0.10)

__all__ += ["plot_history", "plot_attention_matrix", "plot_query_similarity", "prediction_grid", "mask_overlay",
            "compare_bars", "prior_gallery", "plot_prior_quality"]


def _np_img(x: _Any) -> _np.ndarray:
    """A tensor/array frame ``[3, H, W]`` or ``[H, W, 3]`` in [0, 1] -> ``[H, W, 3]`` float array."""
    arr = x.detach().cpu().float().numpy() if hasattr(x, "detach") else _np.asarray(x, dtype=_np.float32)
    if arr.ndim == 3 and arr.shape[0] == 3 and arr.shape[-1] != 3:
        arr = arr.transpose(1, 2, 0)
    return _np.clip(arr, 0.0, 1.0)


def _np_mask(x: _Any) -> _np.ndarray:
    arr = x.detach().cpu().numpy() if hasattr(x, "detach") else _np.asarray(x)
    return arr.astype(_np.float64) > 0.5 if arr.dtype != bool else arr


def mask_overlay(frame: _Any, gt: _Any | None = None, pred: _Any | None = None, alpha: float = 0.55) -> _np.ndarray:
    """Frame ``[3,H,W]`` with masks painted on: GT only green, prediction only red, both yellow.

    With only ``gt`` (or only ``pred``) the mask is painted in its own colour. Returns ``[H, W, 3]`` in [0, 1].
    """
    img = _np_img(frame).copy()
    g = _np_mask(gt) if gt is not None else _np.zeros(img.shape[:2], bool)
    p = _np_mask(pred) if pred is not None else _np.zeros(img.shape[:2], bool)
    for sel, colour in ((g & ~p, _GT_RGB), (p & ~g, _PRED_RGB), (g & p, _BOTH_RGB)):
        img[sel] = (1 - alpha) * img[sel] + alpha * _np.asarray(colour)
    return img


def plot_history(history: Sequence[_Mapping[str, _Any]], keys: Sequence[str] = ("train_loss", "val_miou"),
                 title: str = "Training history") -> plt.Figure:
    """One panel per key of a run's evaluation records (``Course.history(run)`` / ``on_eval`` records) vs step."""
    keys = list(keys)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.0), squeeze=False)
    steps = [r.get("step", i) for i, r in enumerate(history)]
    for ax, key in zip(axes[0], keys):
        vals = [r.get(key, float("nan")) for r in history]
        ax.plot(steps, vals, marker="o", lw=1.5)
        ax.set_xlabel("step")
        ax.set_title(key, fontsize=10)
        if key.startswith("val_") and "loss" not in key:
            ax.set_ylim(-0.02, 1.02)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_attention_matrix(weights: _Any, blocked: _Any | None = None, title: str = "Attention weights",
                          row_label: str = "query", col_label: str = "key") -> plt.Figure:
    """Heatmap of attention weights ``[Lq, Lk]``; blocked cells (``True``) are marked with an x."""
    w = weights.detach().cpu().numpy() if hasattr(weights, "detach") else _np.asarray(weights)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * w.shape[1], 0.8 + 0.5 * w.shape[0]))
    im = ax.imshow(w, cmap=HEATMAP_CMAP, vmin=0.0, vmax=1.0)
    if blocked is not None:
        b = blocked.detach().cpu().numpy() if hasattr(blocked, "detach") else _np.asarray(blocked)
        ys, xs = _np.nonzero(b)
        ax.scatter(xs, ys, marker="x", c="white", s=40)
    ax.set_xticks(range(w.shape[1]))
    ax.set_yticks(range(w.shape[0]))
    ax.set_xlabel(col_label)
    ax.set_ylabel(row_label)
    ax.grid(False)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="weight")
    ax.set_title(title)
    return fig


def plot_query_similarity(sim: _Any, row_labels: Sequence[str] | None = None,
                          title: str = "AAQG: cos(P_audio, F_A) per query") -> plt.Figure:
    """Heatmap of ``cos(P_audio^i, F_A(t))`` ``[rows (clip, second), Q]`` in [-1, 1]."""
    s = sim.detach().cpu().numpy() if hasattr(sim, "detach") else _np.asarray(sim)
    fig, ax = plt.subplots(figsize=(1.5 + 0.45 * s.shape[1], 1.0 + 0.28 * s.shape[0]))
    lim = max(1e-6, float(_np.abs(s).max()))
    im = ax.imshow(s, cmap=HEATMAP_CMAP, vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(s.shape[1]))
    ax.set_xlabel("query i")
    if row_labels is not None:
        ax.set_yticks(range(len(row_labels)))
        ax.set_yticklabels(row_labels, fontsize=7)
    ax.grid(False)
    fig.colorbar(im, ax=ax, label="cosine")
    ax.set_title(title)
    return fig


def prediction_grid(frames: _Any, gt: _Any, pred: _Any | _Mapping[str, _Any], title: str = "Prediction vs GT",
                    captions: Sequence[str] | None = None) -> plt.Figure:
    """Frame strip of one clip: row 1 the GT on the frames, then one row per prediction (GT-coloured errors).

    Args:
        frames: ``[T, 3, H, W]`` in [0, 1]; gt: ``[T, H, W]`` binary.
        pred: ``[T, H, W]`` binary, or ``{row name: [T, H, W]}`` for several predictions (e.g. muted audio).
        captions: optional per-frame captions (e.g. "t=0 silent").
    Colours in prediction rows: yellow hit, red false positive, green missed.
    """
    preds = dict(pred) if isinstance(pred, _Mapping) else {"prediction": pred}
    t = len(frames)
    rows = 1 + len(preds)
    fig, axes = plt.subplots(rows, t, figsize=(1.9 * t, 1.95 * rows + 0.4), squeeze=False)
    for k in range(t):
        axes[0, k].imshow(mask_overlay(frames[k], gt=gt[k]))
        axes[0, k].set_title(captions[k] if captions else f"t={k}", fontsize=8)
        for r, (name, p) in enumerate(preds.items(), start=1):
            axes[r, k].imshow(mask_overlay(frames[k], gt=gt[k], pred=p[k]))
    for r, name in enumerate(["ground truth", *preds], start=0):
        axes[r, 0].set_ylabel(name, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    fig.suptitle(f"{title}\n(yellow hit, red false positive, green missed)", fontsize=10)
    fig.tight_layout()
    return fig


def compare_bars(results: _Mapping[str, _Mapping[str, float]], keys: Sequence[str],
                 title: str = "Metrics side by side") -> plt.Figure:
    """Grouped bars: one group per metric key, one bar per condition (``{condition: {key: value}}``)."""
    names = list(results)
    keys = list(keys)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(keys) * max(1, len(names)) * 0.6 + 2), 3.4))
    width = 0.8 / max(1, len(names))
    x = _np.arange(len(keys))
    for j, name in enumerate(names):
        vals = [float(results[name].get(k, float("nan"))) for k in keys]
        ax.bar(x + (j - (len(names) - 1) / 2) * width, _np.nan_to_num(vals, nan=0.0), width, label=name)
    ax.set_xticks(x)
    ax.set_xticklabels(keys, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def prior_gallery(frames: Sequence[_Any], gt: Sequence[_Any], priors: Sequence[_Any], captions: Sequence[str],
                  title: str = "Mask priors", ncols: int = 4) -> plt.Figure:
    """A grid of single frames, each with its GT and a prior painted on (yellow hit, red FP, green missed)."""
    n = len(frames)
    ncols = max(1, min(ncols, n))
    nrows = max(1, _math.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.3 * ncols, 2.8 * nrows + 0.5), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        if i >= n:
            ax.axis("off")
            continue
        ax.imshow(mask_overlay(frames[i], gt=gt[i], pred=priors[i]))
        ax.set_title(captions[i], fontsize=8)
    fig.suptitle(f"{title}\n(yellow hit, red false positive, green missed)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_prior_quality(levels: _Mapping[str, Sequence[float]], ious: _Mapping[str, Sequence[float]],
                       reference: _Mapping[str, float] | None = None,
                       title: str = "Prior quality vs degradation") -> plt.Figure:
    """Prior mIoU vs degradation level, one panel per kind (``{kind: levels}``, ``{kind: mIoUs}``).

    ``reference`` draws horizontal lines (e.g. ``{"stage-1 prior": 0.61}``) on every panel.
    """
    kinds = list(levels)
    units = {"erode": "radius (px)", "dilate": "radius (px)", "noise": "flipped share", "drop": "drop probability"}
    fig, axes = plt.subplots(1, len(kinds), figsize=(3.3 * len(kinds), 3.1), squeeze=False, sharey=True)
    for ax, kind in zip(axes[0], kinds):
        ax.plot(list(levels[kind]), list(ious[kind]), marker="o", lw=1.6, label="degraded GT")
        for j, (name, value) in enumerate((reference or {}).items()):
            ax.axhline(value, ls="--", lw=1.1, color=f"C{j + 1}", label=name)
        ax.set_title(kind, fontsize=10)
        ax.set_xlabel(units.get(kind, "level"))
        ax.set_ylim(-0.02, 1.02)
    axes[0, 0].set_ylabel("prior mIoU vs GT")
    axes[0, -1].legend(fontsize=7, loc="lower left")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
