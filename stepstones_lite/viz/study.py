"""Figures of notebook 06_reproduce_paper: the study's arms over seeds and the prior-quality sweep."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt

__all__ = ["plot_study", "plot_prior_sweep", "plot_gap_map", "payoff_ladder"]


def plot_study(
    results: dict,
    arms: Sequence[str],
    key: str = "avss_miou",
    paper: dict | None = None,
    title: str | None = None,
) -> plt.Figure:
    """Bar chart of mean ± std over seeds for ``arms`` (dots = single seeds), with the paper's values beside.

    Args:
        results: the ``reproduce_<profile>.json`` dict; arms missing from it are skipped.
        paper: optional ``{arm: {key: value_x100}}`` (``reproduce.PAPER_NUMBERS``), drawn as hollow bars on a
            second axis (percent) because the synthetic benchmark's scale differs from AVSBench's.
    """
    names = [a for a in arms if a in results.get("arms", {})]
    fig, ax = plt.subplots(figsize=(1.6 * max(3, len(names)) + 1.5, 4.2), layout="constrained")
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
        ax2.bar(
            [x + 0.3 for x in xs],
            pv,
            width=0.25,
            fill=False,
            edgecolor="#dd8452",
            hatch="//",
            label="paper (%)",
        )
        ax2.set_ylabel(f"paper {key} (%)")
        ax2.grid(False)
        handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
        fig.legend(
            handles=handles, loc="outside lower center", ncol=2, fontsize=8, frameon=False
        )  # off the bars
    ax.set_title(title or f"{key} per arm ({results.get('provenance', {}).get('profile', '?')} profile)")
    return fig


def plot_prior_sweep(
    points: Sequence[tuple[float, float]],
    reference: float | None = None,
    reference_label: str = "end-to-end",
    title: str = "Stage-2 mIoU vs prior quality",
    labels: Sequence[str] | None = None,
) -> plt.Figure:
    """AVSS mIoU of one stage-2 model against the binary mIoU of the priors it was tested with.

    ``labels`` (one per point, in the order of ``points``) names each point (e.g. "stage-1 prior", "erode 2"):
    every point gets its own marker, named in the legend beside the plot, so names never cover each other when
    points bunch up; the line joins the points sorted by prior quality.
    """
    fig, ax = plt.subplots(figsize=(7.2, 3.8))
    order = sorted(range(len(points)), key=lambda i: tuple(points[i]))
    pts = [tuple(points[i]) for i in order]
    style = "-" if labels is not None else "o-"
    ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color="#4c72b0", label="stage 2 with this prior")
    if labels is not None:
        if len(labels) != len(points):
            raise ValueError(f"{len(labels)} labels for {len(points)} points")
        markers = "osD^vPX*<>"
        for k, i in enumerate(order):
            ax.scatter(
                *points[i],
                marker=markers[k % len(markers)],
                s=42,
                color="#4c72b0",
                edgecolor="black",
                linewidth=0.5,
                zorder=3,
                label=labels[i],
            )
    if reference is not None:
        ax.axhline(reference, color="#c44e52", ls="--", label=reference_label)
    ax.set_xlabel("prior binary mIoU (vs ground truth)")
    ax.set_ylabel("AVSS mIoU")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_gap_map(
    points: Sequence[dict],
    summary: dict | None = None,
    highlight: dict | None = None,
    title: str = "When do stepping stones pay? Two-stage gap against Δloc",
) -> plt.Figure:
    """Every committed run as a point: Δloc (stage-1 binary mIoU − end-to-end collapsed binary mIoU) against
    the two-stage gap on test, coloured by encoder regime, the TPAVI-style baseline as squares; the AAVS
    points' fitted line (``summary["aavs"]``) and, if given, one ``highlight`` point (e.g. this notebook's
    live run)."""
    colours = {
        "chosen (coarse visual, fine audio)": "#0072b2",
        "coarse audio": "#d55e00",
        "fine stand-ins": "#009e73",
        "family audio": "#cc79a7",
        "TPAVI-style baseline": "#444444",
    }
    fig, ax = plt.subplots(figsize=(7.2, 4.6))
    for regime in dict.fromkeys(p["regime"] for p in points):
        sel = [p for p in points if p["regime"] == regime]
        ax.scatter(
            [p["delta_loc"] for p in sel],
            [p["gap_test"] for p in sel],
            s=36,
            marker="s" if sel[0]["tpavi"] else "o",
            color=colours.get(regime, "#999999"),
            label=f"{regime} ({len(sel)})",
            alpha=0.85,
            edgecolor="white",
            linewidth=0.5,
            zorder=3,
        )
    fit = (summary or {}).get("aavs", {})
    if "slope" in fit:
        xs = [min(p["delta_loc"] for p in points), max(p["delta_loc"] for p in points)]
        ax.plot(
            xs,
            [fit["intercept"] + fit["slope"] * x for x in xs],
            color="#555555",
            ls="--",
            lw=1,
            label=f"AAVS fit (Spearman {fit['spearman']:.2f}, n={fit['n']})",
        )
    if highlight is not None:
        ax.scatter(
            [highlight["delta_loc"]],
            [highlight["gap_test"]],
            s=140,
            marker="*",
            color="#f0e442",
            edgecolor="black",
            zorder=4,
            label=highlight.get("label", "this run"),
        )
    ax.axhline(0, color="black", lw=0.6)
    ax.axvline(0, color="black", lw=0.6)
    ax.set_xlabel("Δloc: stage-1 binary mIoU − end-to-end collapsed binary mIoU")
    ax.set_ylabel("two-stage − end-to-end (AVSS mIoU, test)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


LADDER_RUNGS = ("end-to-end", "mask after the fact", "stage 2 reads the mask")


def payoff_ladder(
    end_to_end: float,
    gated_stage1: float,
    two_stage: float,
    gated_gt: float,
    oracle: float,
    noise: float | None = None,
    title: str = "What a mask is worth: applied after the fact, or read",
) -> plt.Figure:
    """The payoff ladder: per mask (stage 1's, the ground truth's) three rungs of AVSS mIoU — end-to-end, the
    end-to-end prediction with the mask applied after the fact (outside it: background), and stage 2 trained
    to read the mask (two-stage, oracle). Each step is annotated with its difference; ``noise`` (the
    build-to-build range) is drawn as a band around end-to-end, so a step inside it reads as a tie."""
    colours = ("#999999", "#56b4e9", "#0072b2")
    groups = {
        "stage-1 mask": (end_to_end, gated_stage1, two_stage),
        "ground-truth mask": (end_to_end, gated_gt, oracle),
    }
    fig, ax = plt.subplots(figsize=(7.2, 3.9))
    top = max(max(v) for v in groups.values())
    for g, (name, values) in enumerate(groups.items()):
        for r, (rung, value) in enumerate(zip(LADDER_RUNGS, values)):
            x = 4 * g + r
            ax.bar(x, value, width=0.8, color=colours[r], label=rung if g == 0 else None, zorder=2)
            text = f"{value:.3f}" if r == 0 else f"{value:.3f}\n({value - values[r - 1]:+.3f})"
            ax.text(x, value + 0.02 * top, text, ha="center", va="bottom", fontsize=7.5)
    if noise is not None:
        ax.axhspan(
            end_to_end - noise,
            end_to_end + noise,
            color="#999999",
            alpha=0.18,
            lw=0,
            zorder=1,
            label=f"end-to-end ± build-to-build range ({noise:.3f})",
        )
    ax.set_xticks([1, 5])
    ax.set_xticklabels(list(groups))
    ax.set_xlim(-0.7, 6.7)
    ax.set_ylim(0, top * 1.28)
    ax.set_ylabel("AVSS mIoU (test)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig
