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


# --- 04/05: 04_stage2_avss, 05_attention_maps ------------------------------------------------------------
# Semantic overlays, the three stage-2 prior modules, attention grids, audio-prototype similarity over time,
# robust-key state maps, training curves and annotated heatmaps. Tensors or arrays in, Figure out.
import numpy as _np45  # noqa: E402  (private alias: other blocks of this file keep their own names)

__all__ += ["semantic_overlay", "semantic_rows", "prior_modules_figure", "robust_key_maps", "attention_grid",
            "similarity_over_time", "training_curves", "annotated_heatmap", "KEY_STATE_NAMES"]

KEY_STATE_NAMES = ("silent", "uncertain", "sounding")  # RobustKeys state ids 0 / 1 / 2
_KEY_STATE_COLOURS = ("#3b4cc0", "#f2c14e", "#c0392b")


def _v45_array(x) -> _np45.ndarray:
    return _np45.asarray(x.detach().float().cpu() if hasattr(x, "detach") else x)


def _v45_image(frame) -> _np45.ndarray:
    """``[3, H, W]`` / ``[H, W, 3]`` in [0, 1] (or uint8) -> ``[H, W, 3]`` float array."""
    arr = _v45_array(frame).astype(_np45.float32)
    if arr.ndim == 3 and arr.shape[0] == 3 and arr.shape[-1] != 3:
        arr = arr.transpose(1, 2, 0)
    if arr.max(initial=0.0) > 1.0:
        arr = arr / 255.0
    return _np45.clip(arr, 0.0, 1.0)


def _v45_labels_rgba(labels, alpha: float) -> _np45.ndarray:
    """Class map ``[H, W]`` -> ``[H, W, 4]`` AVSBench palette colours, transparent on background."""
    from .data import palette

    lab = _v45_array(labels).astype(_np45.int64)
    pal = palette().astype(_np45.float32) / 255.0  # [71, 3]
    rgba = _np45.zeros(lab.shape + (4,), dtype=_np45.float32)
    rgba[..., :3] = pal[_np45.clip(lab, 0, len(pal) - 1)]
    rgba[..., 3] = (lab > 0) * alpha
    return rgba


def _v45_upsample(x: _np45.ndarray, size: tuple[int, int]) -> _np45.ndarray:
    """Nearest upsampling of a ``[h, w]`` map to ``size`` (integer or not), for overlays."""
    h, w = x.shape
    rows = _np45.minimum((_np45.arange(size[0]) * h / size[0]).astype(int), h - 1)
    cols = _np45.minimum((_np45.arange(size[1]) * w / size[1]).astype(int), w - 1)
    return x[rows][:, cols]


def semantic_overlay(frame, labels, ax: plt.Axes | None = None, alpha: float = 0.6, title: str | None = None,
                     legend: bool = True) -> plt.Figure:
    """A frame with its class map in the AVSBench palette (background transparent) and a class legend.

    Args:
        frame: ``[3, H, W]`` in [0, 1]; labels: ``[H, W]`` class ids 0..70; ax: draw into this axes.
    Returns:
        the figure holding the axes.
    """
    from matplotlib.patches import Patch

    from .data import AVSS_CLASSES, palette

    if ax is None:
        fig, ax = plt.subplots(figsize=(3.2, 3.2))
    fig = ax.figure
    ax.imshow(_v45_image(frame))
    ax.imshow(_v45_labels_rgba(labels, alpha))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    ax.set_title(title or "semantic overlay")
    if legend:
        ids = [int(c) for c in _np45.unique(_v45_array(labels).astype(_np45.int64)) if c > 0]
        pal = palette() / 255.0
        handles = [Patch(color=pal[c], label=AVSS_CLASSES[c]) for c in ids]
        if handles:
            ax.legend(handles=handles, loc="lower left", fontsize=7, framealpha=0.8)
    return fig


def semantic_rows(frames, rows: dict, title: str | None = None, frame_titles: Sequence[str] | None = None
                  ) -> plt.Figure:
    """A grid of semantic overlays: one row per named class map stack (e.g. GT, stage 2, end-to-end).

    Args:
        frames: ``[T, 3, H, W]``; rows: ``{name: [T, H, W] class ids}``; frame_titles: column titles.
    """
    t = len(frames)
    fig, axes = plt.subplots(len(rows), t, figsize=(2.1 * t, 2.2 * len(rows)), squeeze=False)
    for r, (name, labels) in enumerate(rows.items()):
        for c in range(t):
            col = frame_titles[c] if frame_titles else f"frame {c}"
            semantic_overlay(frames[c], labels[c], ax=axes[r, c], title=f"{name} · {col}", legend=True)
            axes[r, c].title.set_fontsize(8)
    fig.suptitle(title or "semantic predictions (AVSBench palette)", fontweight="bold")
    fig.set_layout_engine("constrained")  # room for the per-panel legends that tight_layout cannot fit
    return fig


def _v45_heat(ax: plt.Axes, data: _np45.ndarray, title: str, cmap: str | None = None, vmin=None, vmax=None,
              colorbar: bool = True, label: str = "") -> None:
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
    b, a = _v45_array(before).mean(0), _v45_array(after).mean(0)  # [h, w]
    lo, hi = min(b.min(), a.min()), max(b.max(), a.max())
    fig, axes = plt.subplots(1, 5, figsize=(16, 3.2))
    axes[0].imshow(_v45_image(frame))
    if (_v45_array(prior) >= 0.5).any():
        axes[0].contour(_v45_array(prior), levels=[0.5], colors="#00e5ff", linewidths=2.0)
    axes[0].set_title("frame + prior M (cyan outline)", fontsize=9)
    axes[0].set_xticks([])
    axes[0].set_yticks([])
    axes[0].grid(False)
    _v45_heat(axes[1], b, "F_V^1 before fusion\n(channel mean)", vmin=lo, vmax=hi)
    _v45_heat(axes[2], a, "F_V^1 + resize(M)\n(channel mean)", vmin=lo, vmax=hi)
    _v45_heat(axes[3], a - b, "after - before\n(= resized M)", vmin=0.0, vmax=1.0)
    blk = _v45_array(blocked).astype(float)
    _v45_heat(axes[4], 1.0 - blk, f"layer-0 attention mask\n1/32 = {blk.shape[0]}x{blk.shape[1]} (1 = open)",
              cmap="gray", vmin=0.0, vmax=1.0)
    fig.suptitle(title or "stage 2: mask fusion and the prior as the first attention mask", fontweight="bold")
    fig.tight_layout()
    return fig


def robust_key_maps(states, prior=None, titles: Sequence[str] | None = None, title: str | None = None
                    ) -> plt.Figure:
    """Robust audio-aware key states per decoder scale (0 silent, 1 uncertain, 2 sounding; Eq. 4).

    Args:
        states: list of ``[h_l, w_l]`` long maps (one per scale); prior: optional ``[H, W]`` shown first.
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap

    maps = [_v45_array(s) for s in states]
    n = len(maps) + (prior is not None)
    fig, axes = plt.subplots(1, n, figsize=(3.3 * n, 3.2), squeeze=False)
    axes = axes[0]
    if prior is not None:
        _v45_heat(axes[0], _v45_array(prior), "prior M", vmin=0.0, vmax=1.0)
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
    fig.suptitle(title or "robust audio-aware keys: silent / uncertain / sounding per scale",
                 fontweight="bold")
    fig.tight_layout()
    return fig


def attention_grid(attn, frames=None, row_labels: Sequence[str] | None = None,
                   col_labels: Sequence[str] | None = None, title: str | None = None, alpha: float = 0.6,
                   masks=None) -> plt.Figure:
    """A grid of attention heatmaps (e.g. layers x frames or layers x heads), optionally over the frames.

    Args:
        attn: nested ``[rows][cols]`` maps ``[h, w]`` (a list of lists, or an array ``[R, C, h, w]``;
            rows may have different ``h, w``, e.g. decoder layers at 1/32, 1/16, 1/8).
        frames: optional per-column frames ``[C, 3, H, W]`` (maps are upsampled to them, nearest).
        masks: optional per-column ``[C, H, W]`` binary masks drawn as a contour (e.g. the sounding GT).
    """
    grid = [[_v45_array(m) for m in row] for row in attn]
    r, c = len(grid), len(grid[0])
    fig, axes = plt.subplots(r, c, figsize=(2.2 * c + 0.6, 2.1 * r), squeeze=False)
    for i in range(r):
        vmax = max(float(m.max()) for m in grid[i]) or 1.0
        for j in range(c):
            ax = axes[i, j]
            m = grid[i][j]
            if frames is not None:
                img = _v45_image(frames[j])
                ax.imshow(img)
                im = ax.imshow(_v45_upsample(m, img.shape[:2]), cmap=HEATMAP_CMAP, alpha=alpha, vmin=0,
                               vmax=vmax)
            else:
                im = ax.imshow(m, cmap=HEATMAP_CMAP, vmin=0, vmax=vmax, interpolation="nearest")
            if masks is not None and _v45_array(masks[j]).any():
                ax.contour(_v45_array(masks[j]), levels=[0.5], colors="white", linewidths=1.0)
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


def similarity_over_time(sim, sounding=None, query_labels: Sequence[str] | None = None,
                         title: str | None = None) -> plt.Figure:
    """The audio-prototype similarity cos(P_audio^i, F_A(t)) per query over the frames (AAQG, Eq. 1).

    Args:
        sim: ``[T, Q]``; sounding: optional ``[T]`` bool (frames with an on-screen sound, shaded).
    Returns:
        a figure: lines per query (left) and a ``frames x queries`` heatmap (right).
    """
    s = _v45_array(sim)
    t, q = s.shape
    labels = list(query_labels or [f"q{i}" for i in range(q)])
    fig, (ax, axh) = plt.subplots(1, 2, figsize=(12, 3.6), gridspec_kw={"width_ratios": [1.3, 1]})
    if sounding is not None:
        for k, on in enumerate(_v45_array(sounding).astype(bool)):
            if on:
                ax.axvspan(k - 0.5, k + 0.5, color="#fde0c5", alpha=0.7, lw=0)
    for i in range(q):
        ax.plot(range(t), s[:, i], marker="o", lw=1.2, label=labels[i])
    ax.set_xticks(range(t))
    ax.set_xlabel("frame (second)")
    ax.set_ylabel("cos(P_audio, F_A)")
    ax.set_title("per query over time (shaded: sounding frames)", fontsize=9)
    if q <= 16:
        ax.legend(fontsize=7, ncol=2, loc="best")
    lim = float(_np45.abs(s).max()) or 1.0
    im = axh.imshow(s.T, cmap="coolwarm", vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
    axh.set_xticks(range(t))
    axh.set_yticks(range(q))
    axh.set_yticklabels(labels, fontsize=7)
    axh.set_xlabel("frame (second)")
    axh.grid(False)
    axh.set_title("queries x frames", fontsize=9)
    fig.colorbar(im, ax=axh, label="cosine")
    fig.suptitle(title or "audio-prototype similarity over time", fontweight="bold")
    fig.tight_layout()
    return fig


def training_curves(histories: dict, keys: Sequence[str] = ("train_loss", "val_miou"),
                    title: str | None = None) -> plt.Figure:
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


def annotated_heatmap(data, row_labels: Sequence[str], col_labels: Sequence[str], title: str | None = None,
                      cbar_label: str = "", fmt: str = ".2f", cmap: str | None = None,
                      center: float | None = None) -> plt.Figure:
    """A seaborn heatmap with values written in the cells (house colour map and a labelled colour bar)."""
    import seaborn as sns

    arr = _v45_array(data).astype(float)
    fig, ax = plt.subplots(figsize=(1.1 * len(col_labels) + 2.5, 0.5 * len(row_labels) + 1.6))
    sns.heatmap(arr, annot=True, fmt=fmt, cmap=cmap or HEATMAP_CMAP, center=center, ax=ax,
                xticklabels=list(col_labels), yticklabels=list(row_labels), cbar_kws={"label": cbar_label})
    ax.set_title(title or "heatmap")
    fig.tight_layout()
    return fig
