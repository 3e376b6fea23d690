"""House style: colour map, matplotlib defaults, saving figures, and the course pipeline figure (00_welcome).

Every figure is titled, heatmaps carry a colour bar, and :func:`save_figure` writes PNG into
``figures_dir()`` (``$STEPSTONES_FIGURES`` or ``<root>/figures``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from ..utils import figures_dir

__all__ = ["set_style", "save_figure", "plot_pipeline", "HEATMAP_CMAP"]

HEATMAP_CMAP = "viridis"  # perceptually uniform; used for attention and score maps
_STAGE_COLOURS = {
    "data": "#d9e8f5",
    "stage1": "#fde0c5",
    "prior": "#fff3b0",
    "stage2": "#d5f0d5",
    "eval": "#e8e0f0",
}


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
    """Save ``fig`` as ``<figures>/<name>.png`` and return the path.

    With ``STEPSTONES_CHECK_FIGURES=1`` (the test runs) the figure is checked first (:mod:`.check`:
    overlapping texts, legends over data, class colours, overlay contrast) and a failing figure raises
    ``FigureCheckError``.
    """
    from .check import assert_figure_ok, checks_enabled

    mode = checks_enabled()
    if mode:
        assert_figure_ok(fig, name, warn_only=mode == "warn")
    out_dir = Path(folder) if folder is not None else figures_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / (name if name.endswith(".png") else f"{name}.png")
    fig.savefig(path)
    return path


def _box(ax: plt.Axes, xy: tuple[float, float], w: float, h: float, text: str, colour: str) -> None:
    ax.add_patch(
        FancyBboxPatch(
            xy, w, h, boxstyle="round,pad=0.02,rounding_size=0.03", fc=colour, ec="#333333", lw=1.2
        )
    )
    ax.text(xy[0] + w / 2, xy[1] + h / 2, text, ha="center", va="center", fontsize=9, wrap=True)


def _arrow(ax: plt.Axes, start: tuple[float, float], end: tuple[float, float], label: str = "") -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, lw=1.3, color="#333333"))
    if label:
        ax.text(
            (start[0] + end[0]) / 2,
            (start[1] + end[1]) / 2 + 0.03,
            label,
            ha="center",
            fontsize=8,
            style="italic",
            color="#444444",
        )


def plot_pipeline(stages: Sequence[str] | None = None) -> plt.Figure:
    """The Stepping Stones pipeline (paper Fig. 2, simplified): data -> stage 1 -> priors -> stage 2 ->
    eval."""
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
    ax.text(
        0.5,
        0.12,
        "Stage 2 trains with ground-truth masks as M and is tested with stage-1 predictions",
        ha="center",
        fontsize=9,
        color="#444444",
    )
    ax.set_title("Stepping Stones: localise first, then recognise (Ma et al., ECCV 2024)")
    return fig
