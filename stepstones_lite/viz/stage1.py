"""Figures of notebooks 02_stage1_avs and 03_mask_priors: stage 1 (AVS) and the mask priors."""

from __future__ import annotations

import math as _math
from typing import Any as _Any
from typing import Mapping as _Mapping
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as _np

from .style import HEATMAP_CMAP

# Okabe & Ito's colour-blind-safe palette (https://jfly.uni-koeln.de/color/): the four overlay colours stay
# apart under deuteranopia, protanopia and tritanopia, and the ground truth drawn alone never takes the
# "missed" colour
_GT_RGB = (0.80, 0.47, 0.65)  # reddish purple #CC79A7: the ground truth alone (no prediction given)
_MISSED_RGB = (0.00, 0.45, 0.70)  # blue #0072B2: ground truth the prediction missed
_PRED_RGB = (0.84, 0.37, 0.00)  # vermillion #D55E00: prediction outside the ground truth (false positive)
_BOTH_RGB = (0.94, 0.89, 0.26)  # yellow #F0E442: hit
OVERLAY_LEGEND = "yellow hit, vermillion false positive, blue missed"

__all__ = [
    "OVERLAY_LEGEND",
    "plot_history",
    "plot_attention_matrix",
    "plot_query_similarity",
    "prediction_grid",
    "mask_overlay",
    "overlay_report",
    "compare_bars",
    "prior_gallery",
    "plot_prior_quality",
]


def _np_img(x: _Any) -> _np.ndarray:
    """A tensor/array frame ``[3, H, W]`` or ``[H, W, 3]`` in [0, 1] -> ``[H, W, 3]`` float array."""
    arr = x.detach().cpu().float().numpy() if hasattr(x, "detach") else _np.asarray(x, dtype=_np.float32)
    if arr.ndim == 3 and arr.shape[0] == 3 and arr.shape[-1] != 3:
        arr = arr.transpose(1, 2, 0)
    return _np.clip(arr, 0.0, 1.0)


def _np_mask(x: _Any) -> _np.ndarray:
    arr = x.detach().cpu().numpy() if hasattr(x, "detach") else _np.asarray(x)
    return arr.astype(_np.float64) > 0.5 if arr.dtype != bool else arr


_STRONG_ALPHA = 0.85  # opacity of an overlay that the normal one would leave hard to see
_NEUTRALS = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # outline colours for overlays that vanish on their pixels


def _inner_edge(mask: _np.ndarray) -> _np.ndarray:
    """The pixels of ``mask`` with a 4-neighbour outside it (the region's inner outline)."""
    pad = _np.pad(mask, 1, constant_values=False)
    interior = mask & pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:]
    return mask & ~interior


def _median_colour(pixels: _np.ndarray) -> _np.ndarray:
    return _np.median(pixels.reshape(-1, 3), axis=0)


def overlay_report(
    frame: _Any, gt: _Any | None = None, pred: _Any | None = None, alpha: float = 0.55
) -> tuple[_np.ndarray, dict]:
    """:func:`mask_overlay` with its contrast report: ``(image [H, W, 3], {"visibility": {category: ΔE},
    "separation": {(category, category): ΔE}})``.

    Each region is painted at ``alpha``; where that barely changes the pixels it covers (median CIEDE2000 ΔE
    below ``check.MIN_VISIBLE_DELTA_E``, e.g. the blue "missed" on a blue bird) or two categories end up
    looking alike, the region is painted at a stronger opacity, and a region still hard to see gets a black or
    white inner outline (whichever stands out more from its pixels and its colour). Visibility is the larger
    of the fill's median ΔE and the outline's ΔE against the covered pixels; separation is the ΔE of two
    regions' median colours.
    """
    from .check import MIN_SEPARATION_DELTA_E, MIN_VISIBLE_DELTA_E, delta_e, overlay_contrast

    base = _np_img(frame)
    g = _np_mask(gt) if gt is not None else _np.zeros(base.shape[:2], bool)
    p = _np_mask(pred) if pred is not None else _np.zeros(base.shape[:2], bool)
    gt_only = ("missed", _MISSED_RGB) if pred is not None else ("ground truth", _GT_RGB)
    fp_name = "false positive" if gt is not None else "prediction"
    regions = {
        name: (sel, colour)
        for sel, (name, colour) in (
            (g & ~p, gt_only),
            (p & ~g, (fp_name, _PRED_RGB)),
            (g & p, ("hit", _BOTH_RGB)),
        )
        if sel.any()
    }
    strength = {name: alpha for name in regions}
    for name, (sel, colour) in regions.items():
        if overlay_contrast(colour, base[sel], alpha) < MIN_VISIBLE_DELTA_E:
            strength[name] = max(alpha, _STRONG_ALPHA)

    def painted(name: str) -> _np.ndarray:
        sel, colour = regions[name]
        return (1 - strength[name]) * base[sel] + strength[name] * _np.asarray(colour)

    names = list(regions)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if (
                float(delta_e(_median_colour(painted(a)), _median_colour(painted(b))))
                < MIN_SEPARATION_DELTA_E
            ):
                strength[a] = strength[b] = max(alpha, _STRONG_ALPHA)
    img = base.copy()
    visibility: dict[str, float] = {}
    for name, (sel, colour) in regions.items():
        img[sel] = painted(name)
        visibility[name] = float(_np.median(delta_e(base[sel], img[sel])))
        if visibility[name] < MIN_VISIBLE_DELTA_E:
            under = _median_colour(base[sel])
            outline = max(_NEUTRALS, key=lambda o: min(float(delta_e(o, under)), float(delta_e(o, colour))))
            img[_inner_edge(sel)] = outline
            visibility[name] = max(visibility[name], float(delta_e(outline, under)))
    separation = {
        (a, b): float(delta_e(_median_colour(img[regions[a][0]]), _median_colour(img[regions[b][0]])))
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    }
    return img, {"visibility": visibility, "separation": separation}


def mask_overlay(
    frame: _Any, gt: _Any | None = None, pred: _Any | None = None, alpha: float = 0.55
) -> _np.ndarray:
    """Frame ``[3,H,W]`` with masks painted on (colour-blind safe): hit yellow, false positive vermillion,
    missed blue.

    With only ``gt`` the mask is painted reddish purple (never the "missed" blue: nothing was predicted, so
    nothing was missed); with only ``pred`` it is painted vermillion. A region that would barely show on the
    pixels it covers is painted more opaquely and, if still needed, outlined (:func:`overlay_report`).
    Returns ``[H, W, 3]`` in [0, 1].
    """
    return overlay_report(frame, gt, pred, alpha)[0]


def _show_overlay(ax: plt.Axes, frame: _Any, gt: _Any | None, pred: _Any | None, where: str) -> None:
    """Draw :func:`mask_overlay` into ``ax`` and note its contrast report on the figure (the figure check)."""
    from .check import note_overlay

    img, report = overlay_report(frame, gt=gt, pred=pred)
    ax.imshow(img)
    note_overlay(ax.figure, report, where)


def plot_history(
    history: Sequence[_Mapping[str, _Any]],
    keys: Sequence[str] = ("train_loss", "val_miou"),
    title: str = "Training history",
) -> plt.Figure:
    """One panel per key of a run's evaluation records (``Course.history(run)`` / ``on_eval`` records) vs
    step."""
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


def plot_attention_matrix(
    weights: _Any,
    blocked: _Any | None = None,
    title: str = "Attention weights",
    row_label: str = "query",
    col_label: str = "key",
) -> plt.Figure:
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


def plot_query_similarity(
    sim: _Any, row_labels: Sequence[str] | None = None, title: str = "AAQG: cos(P_audio, F_A) per query"
) -> plt.Figure:
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


def prediction_grid(
    frames: _Any,
    gt: _Any,
    pred: _Any | _Mapping[str, _Any],
    title: str = "Prediction vs GT",
    captions: Sequence[str] | None = None,
) -> plt.Figure:
    """Frame strip of one clip: row 1 the GT on the frames, then one row per prediction (GT-coloured errors).

    Args:
        frames: ``[T, 3, H, W]`` in [0, 1]; gt: ``[T, H, W]`` binary.
        pred: ``[T, H, W]`` binary, or ``{row name: [T, H, W]}`` for several predictions (e.g. muted audio).
        captions: optional per-frame captions (e.g. "t=0 silent").
    Colours in prediction rows: yellow hit, vermillion false positive, blue missed (Okabe-Ito, colour-blind
    safe); the ground-truth row is reddish purple.
    """
    preds = dict(pred) if isinstance(pred, _Mapping) else {"prediction": pred}
    t = len(frames)
    rows = 1 + len(preds)
    fig, axes = plt.subplots(rows, t, figsize=(1.9 * t, 1.95 * rows + 0.4), squeeze=False)
    for k in range(t):
        _show_overlay(axes[0, k], frames[k], gt[k], None, f"ground truth, frame {k}")
        axes[0, k].set_title(captions[k] if captions else f"t={k}", fontsize=8)
        for r, (name, p) in enumerate(preds.items(), start=1):
            _show_overlay(axes[r, k], frames[k], gt[k], p[k], f"{name}, frame {k}")
    for r, name in enumerate(["ground truth", *preds], start=0):
        axes[r, 0].set_ylabel(name, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    fig.suptitle(f"{title}\n({OVERLAY_LEGEND})", fontsize=10)
    fig.tight_layout()
    return fig


def compare_bars(
    results: _Mapping[str, _Mapping[str, float]],
    keys: Sequence[str],
    title: str = "Metrics side by side",
    lower_is_better: Sequence[str] = (),
) -> plt.Figure:
    """Grouped bars: one group per metric key, one bar per condition (``{condition: {key: value}}``).

    ``lower_is_better`` names the keys where a smaller value is better (false-positive rates...): they get
    their own panel, "lower is better ↓", beside "higher is better ↑", and every label its arrow, so the two
    kinds are never read as one scale. Without it: one panel, labels as given.
    """
    names = list(results)
    keys = list(keys)
    low = [k for k in keys if k in set(lower_is_better)]
    panels = [
        ("higher is better ↑", [k for k in keys if k not in low], " ↑"),
        ("lower is better ↓", low, " ↓"),
    ]
    panels = [p for p in panels if p[1]] if low else [("", keys, "")]
    width_units = [len(p[1]) * max(1, len(names)) * 0.66 + 0.6 for p in panels]
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(max(6.0, sum(width_units) + 2), 3.6),
        squeeze=False,
        sharey=True,
        gridspec_kw={"width_ratios": [len(p[1]) + 0.5 for p in panels]},
    )
    width = 0.8 / max(1, len(names))
    for ax, (heading, panel_keys, arrow) in zip(axes[0], panels):
        x = _np.arange(len(panel_keys))
        for j, name in enumerate(names):
            vals = [float(results[name].get(k, float("nan"))) for k in panel_keys]
            ax.bar(
                x + (j - (len(names) - 1) / 2) * width,
                _np.nan_to_num(vals, nan=0.0),
                width,
                label=name,
                color=f"C{j}",
            )
        ax.set_xticks(x)
        ax.set_xticklabels([f"{k}{arrow}" for k in panel_keys], rotation=30, ha="right", fontsize=8)
        ax.set_ylim(0, 1.05)
        if heading:
            ax.set_title(heading, fontsize=9)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(title) if low else axes[0, 0].set_title(title)
    fig.tight_layout()
    return fig


def prior_gallery(
    frames: Sequence[_Any],
    gt: Sequence[_Any],
    priors: Sequence[_Any],
    captions: Sequence[str],
    title: str = "Mask priors",
    ncols: int = 4,
) -> plt.Figure:
    """A grid of single frames, each with its GT and a prior painted on (yellow hit, vermillion FP, blue
    missed)."""
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
        _show_overlay(ax, frames[i], gt[i], priors[i], captions[i].replace("\n", " "))
        ax.set_title(captions[i], fontsize=8)
    fig.suptitle(f"{title}\n({OVERLAY_LEGEND})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_prior_quality(
    levels: _Mapping[str, Sequence[float]],
    ious: _Mapping[str, Sequence[float]],
    reference: _Mapping[str, float] | None = None,
    title: str = "Prior quality vs degradation",
) -> plt.Figure:
    """Prior mIoU vs degradation level, one panel per kind (``{kind: levels}``, ``{kind: mIoUs}``).

    ``reference`` draws horizontal lines (e.g. ``{"stage-1 prior": 0.61}``) on every panel.
    """
    kinds = list(levels)
    units = {
        "erode": "radius (px)",
        "dilate": "radius (px)",
        "noise": "flipped share",
        "drop": "drop probability",
    }
    fig, axes = plt.subplots(1, len(kinds), figsize=(3.3 * len(kinds), 3.1), squeeze=False, sharey=True)
    for ax, kind in zip(axes[0], kinds):
        ax.plot(list(levels[kind]), list(ious[kind]), marker="o", lw=1.6, label="degraded GT")
        for j, (name, value) in enumerate((reference or {}).items()):
            ax.axhline(value, ls="--", lw=1.1, color=f"C{j + 1}", label=name)
        ax.set_title(kind, fontsize=10)
        ax.set_xlabel(units.get(kind, "level"))
        ax.set_ylim(-0.02, 1.02)
    axes[0, 0].set_ylabel("prior mIoU vs GT")
    # one legend beside the last panel: inside, the reference lines (at any height) can run under it
    axes[0, -1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
