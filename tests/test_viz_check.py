"""The figure check (viz/check.py): hand-built figures that must fail, and figures that must pass."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from stepstones_lite import viz  # noqa: E402
from stepstones_lite.viz import check  # noqa: E402

pytestmark = pytest.mark.usefixtures("figures_in_tmp")


def _kinds(problems: list[str]) -> str:
    return "\n".join(problems)


# ----------------------------------------------------------------------------------------------- texts
def test_overlapping_titles_fail_and_separate_titles_pass():
    fig, axes = plt.subplots(1, 2, figsize=(4, 2))
    axes[0].set_title("a rather long title that runs into the next panel")
    axes[1].set_title("second panel title")
    problems = check.check_figure(fig)
    assert any("overlapping texts" in p and "second panel title" in p for p in problems), problems
    fig, axes = plt.subplots(1, 2, figsize=(6, 2))
    axes[0].set_title("left")
    axes[1].set_title("right")
    fig.suptitle("one suptitle")
    fig.tight_layout()
    assert check.check_figure(fig) == []


def test_suptitle_over_panel_title_fails():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.set_title("panel title")
    fig.suptitle("figure title", y=0.93)  # pushed down onto the panel title
    assert any("suptitle" in p and "panel title" in p for p in check.check_figure(fig))


def test_rotated_tick_labels_are_tested_as_rotated_boxes():
    names = ["alpha", "bravo", "charlie", "delta"]
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.bar(range(4), [1, 2, 3, 4])
    ax.set_xticks(range(4))
    ax.set_xticklabels(names, rotation=30, ha="right")  # axis-aligned boxes touch, the texts do not
    fig.tight_layout()
    assert check.check_figure(fig) == []
    ax.set_xticklabels([n * 6 for n in names], rotation=0)  # long flat labels collide
    assert any("x tick label" in p for p in check.check_figure(fig))


def test_annotations_under_a_legend_fail():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [0, 0.1], label="a line")
    ax.text(0.02, 0.95, "a note", transform=ax.transAxes, va="top")
    ax.legend(loc="upper left")
    assert any("legend of" in p and "a note" in p for p in check.check_figure(fig))


# ----------------------------------------------------------------------------------------------- legends
def test_legend_over_a_bar_fails_and_outside_legend_passes():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.bar([0, 1, 2], [0.2, 0.3, 0.95], label="bars")
    ax.legend(loc="upper right")
    problems = check.check_figure(fig)
    assert any("covers plotted data" in p and "bar" in p for p in problems), problems
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    assert check.check_figure(fig) == []


def test_legend_over_a_twin_axis_bar_and_scatter_dots_fails():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.bar([0, 1], [0.1, 0.1], label="ours")
    ax.scatter([1.0], [0.95], color="black")
    ax.set_ylim(0, 1)
    ax2 = ax.twinx()
    ax2.bar([1.3], [95.0], width=0.25, fill=False, label="paper")
    ax2.set_ylim(0, 100)
    ax.legend(
        handles=ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0], loc="upper right"
    )
    problems = check.check_figure(fig)
    assert any("covers plotted data" in p for p in problems), problems
    assert "scatter points" in _kinds(problems) and "bar/patch" in _kinds(problems)


def test_legend_over_a_line_fails_but_not_over_a_span():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.axvspan(0.0, 1.0, color="#fde0c5")  # background shading, not data
    ax.plot([0, 1], [0.0, 0.05], label="low line")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    assert check.check_figure(fig) == []
    ax.plot([0, 1], [0.95, 0.95], label="high line")
    ax.legend(loc="upper left")
    assert any("line 'high line'" in p for p in check.check_figure(fig))


# ----------------------------------------------------------------------------------------------- colours
def test_label_map_in_two_colours_fails_and_palette_panels_pass():
    a = np.zeros((4, 4), dtype=int)
    a[:2, :2], a[2:, 2:] = 5, 9
    b = np.zeros((4, 4), dtype=int)
    b[1:3, 1:3] = 5
    fig, axes = plt.subplots(1, 2)
    axes[0].imshow(a)  # each panel on its own scale: 5 is mid-scale here ...
    axes[1].imshow(b)  # ... and the top colour there
    problems = check.check_figure(fig)
    assert any("class map value 5" in p for p in problems), problems
    fig, axes = plt.subplots(1, 2)
    axes[0].imshow(a, vmin=0, vmax=70)
    axes[1].imshow(b, vmin=0, vmax=70)
    assert check.check_figure(fig) == []
    fig = viz.mask_panels(
        {"GT": torch.as_tensor(a), "pred": torch.as_tensor(b)}, annotate=True, colorbar=False, labels=True
    )
    assert check.check_figure(fig) == []
    fig = viz.mask_panels(
        {"GT": torch.as_tensor(a), "pred": torch.as_tensor(b)}, annotate=True, colorbar=False
    )
    assert any("class map value 5" in p for p in check.check_figure(fig))


def test_class_named_in_two_colours_fails():
    fig, _ = plt.subplots()
    check.note_class_colours(fig, {"dog": (0.0, 0.5, 0.5)}, "panel 0")
    check.note_class_colours(fig, {"dog": (0.0, 0.5, 0.5), "piano": (1.0, 1.0, 0.0)}, "panel 1")
    assert check.check_figure(fig) == []
    check.note_class_colours(fig, {"dog": (1.0, 0.9, 0.1)}, "panel 2")
    assert any("class 'dog'" in p for p in check.check_figure(fig))


# ----------------------------------------------------------------------------------------------- overlays
def test_delta_e_and_overlay_contrast():
    assert float(check.delta_e((0.3, 0.4, 0.5), (0.3, 0.4, 0.5))) == 0.0
    assert float(check.delta_e((1, 0, 0), (0, 0, 1))) > 40
    blue_bird = np.tile([0.1, 0.4, 0.7], (50, 1))
    white = np.ones((50, 3))
    assert check.overlay_contrast(viz._MISSED_RGB, blue_bird) < check.MIN_VISIBLE_DELTA_E
    assert check.overlay_contrast(viz._MISSED_RGB, white) > check.MIN_VISIBLE_DELTA_E


def test_low_contrast_overlay_noted_on_a_figure_fails():
    fig, _ = plt.subplots()
    check.note_overlay(
        fig, {"visibility": {"missed": 4.0}, "separation": {("hit", "false positive"): 30.0}}, "f0"
    )
    check.note_overlay(
        fig, {"visibility": {"hit": 30.0}, "separation": {("hit", "false positive"): 5.0}}, "f1"
    )
    problems = check.check_figure(fig)
    assert any("'missed' in f0" in p for p in problems) and any("look alike" in p for p in problems), problems


def _sprite_frame(colour, size: int = 24) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A grey frame with one square sprite of ``colour``; GT = the sprite, prediction = its left half +
    spill."""
    frame = torch.full((3, size, size), 0.5)
    frame[:, 4:20, 4:20] = torch.tensor(colour)[:, None, None]
    gt = torch.zeros(size, size)
    gt[4:20, 4:20] = 1
    pred = torch.zeros(size, size)
    pred[4:20, 4:12] = 1
    pred[4:20, 20:23] = 1
    return frame, gt, pred


@pytest.mark.parametrize("sprite", [(0.1, 0.4, 0.7), (0.55, 0.33, 0.15), (1.0, 0.8, 0.2), (0.95, 0.95, 0.95)])
def test_mask_overlay_stays_visible_on_any_sprite(sprite):
    frame, gt, pred = _sprite_frame(sprite)
    naive = {"missed": viz._MISSED_RGB, "hit": viz._BOTH_RGB}
    img, report = viz.overlay_report(frame, gt, pred)
    assert img.shape == (24, 24, 3) and set(report["visibility"]) == {"missed", "false positive", "hit"}
    assert min(report["visibility"].values()) >= check.MIN_VISIBLE_DELTA_E, report
    assert min(report["separation"].values()) >= check.MIN_SEPARATION_DELTA_E, report
    if sprite == (0.1, 0.4, 0.7):  # the plain blend would hide "missed" on the blue sprite
        assert (
            check.overlay_contrast(naive["missed"], frame[:, 4:20, 12:20].permute(1, 2, 0))
            < check.MIN_VISIBLE_DELTA_E
        )
    fig = viz.prediction_grid(frame[None], gt[None], pred[None], title="one frame")
    assert check.check_figure(fig) == []


def test_mask_overlay_keeps_the_plain_blend_where_it_shows():
    frame, gt, pred = _sprite_frame((0.95, 0.95, 0.95))
    img = viz.mask_overlay(frame, gt, pred)
    expected = 0.45 * 0.95 + 0.55 * np.asarray(viz._MISSED_RGB)
    assert np.allclose(img[10, 15], expected, atol=1e-5)  # missed region, white sprite: unchanged colour


# -------------------------------------------------------------------------------------------- library figures
def test_library_figures_pass_the_check():
    frames = torch.rand(3, 3, 16, 16)
    attn = [[torch.rand(4, 4) for _ in range(3)]]
    figs = {
        "pipeline": viz.plot_pipeline(),
        "attention 1x1 (05 explorer)": viz.attention_grid(
            [[torch.rand(4, 4)]],
            frames=frames[:1],
            col_labels=["clip 0 t=0"],
            row_labels=["layer 2"],
            title="query 3 (top class: dog)",
        ),
        "attention 1x3 (04 mask)": viz.attention_grid(
            attn,
            frames=frames,
            row_labels=["open at 1/32"],
            col_labels=["frame 0", "frame 1 (silent)", "frame 2"],
            title="layer-0 attention mask from the GT prior",
        ),
        "similarity (lines everywhere)": viz.similarity_over_time(
            torch.rand(5, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1,
            sounding=torch.tensor([1, 1, 0, 0, 1]),
        ),
    }
    bad = {name: check.check_figure(fig) for name, fig in figs.items()}
    assert not any(bad.values()), bad


def test_save_figure_raises_when_the_check_is_on(monkeypatch, figures_in_tmp):
    fig, axes = plt.subplots(1, 2, figsize=(3, 2))
    axes[0].set_title("a rather long title that runs into the next panel")
    axes[1].set_title("second")
    monkeypatch.setenv("STEPSTONES_CHECK_FIGURES", "1")
    with pytest.raises(check.FigureCheckError, match="'bad_titles'"):
        viz.save_figure(fig, "bad_titles")
    monkeypatch.setenv("STEPSTONES_CHECK_FIGURES", "0")
    assert viz.save_figure(fig, "bad_titles").exists()


def test_the_test_session_turns_the_check_on():
    import os

    assert check.checks_enabled() == "raise", os.environ.get("STEPSTONES_CHECK_FIGURES")
