"""The 02/03 figures: they draw what they are given (overlay colours, panels, lines) and save as PNG."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from stepstones_lite import viz  # noqa: E402

pytestmark = pytest.mark.usefixtures("figures_in_tmp")  # tests/conftest.py


def test_mask_overlay_colours():
    frame = torch.zeros(3, 2, 2)  # black frame
    gt = torch.tensor([[1, 1], [0, 0]])
    pred = torch.tensor([[1, 0], [1, 0]])
    img = viz.mask_overlay(frame, gt=gt, pred=pred, alpha=1.0)
    assert img.shape == (2, 2, 3)
    np.testing.assert_allclose(img[0, 0], viz._BOTH_RGB)  # hit
    np.testing.assert_allclose(img[0, 1], viz._MISSED_RGB)  # missed
    np.testing.assert_allclose(img[1, 0], viz._PRED_RGB)  # false positive
    np.testing.assert_allclose(img[1, 1], 0.0)  # untouched
    # channels-last input and 0/255-free float masks work the same
    np.testing.assert_allclose(
        viz.mask_overlay(np.zeros((2, 2, 3)), gt=gt.float(), alpha=1.0)[0, 0], viz._GT_RGB
    )
    # the ground truth drawn alone never takes the "missed" colour (issue #18), and the four colours differ
    colours = [viz._GT_RGB, viz._MISSED_RGB, viz._PRED_RGB, viz._BOTH_RGB]
    assert len({tuple(c) for c in colours}) == 4


def test_overlay_colours_stay_apart_for_colour_blind_readers():
    """Under deuteranopia / protanopia simulations (Vienot et al. 1999, LMS projection) the three colours of
    one prediction panel (hit, false positive, missed) stay > 0.3 apart in RGB, and the ground truth drawn
    alone stays apart from "missed". The earlier red / green pair (0.28 apart for a deuteranope) fails the
    same check."""
    rgb_to_lms = np.array(
        [[17.8824, 43.5161, 4.11935], [3.45565, 27.1554, 3.86714], [0.0299566, 0.184309, 1.46709]]
    )
    lms_to_rgb = np.linalg.inv(rgb_to_lms)
    sims = {
        "deutan": np.array([[1, 0, 0], [0.494207, 0, 1.24827], [0, 0, 1]]),
        "protan": np.array([[0, 2.02344, -2.52581], [0, 1, 0], [0, 0, 1]]),
    }

    def gap(a, b, m: np.ndarray) -> float:
        seen = [np.clip(lms_to_rgb @ m @ rgb_to_lms @ np.asarray(c, dtype=float), 0, 1) for c in (a, b)]
        return float(np.linalg.norm(seen[0] - seen[1]))

    panel = (viz._MISSED_RGB, viz._PRED_RGB, viz._BOTH_RGB)
    for name, m in sims.items():
        assert min(gap(a, b, m) for k, a in enumerate(panel) for b in panel[k + 1 :]) > 0.3, name
        assert gap(viz._GT_RGB, viz._MISSED_RGB, m) > 0.15, name
    assert (
        gap((0.95, 0.20, 0.15), (0.10, 0.80, 0.25), sims["deutan"]) < 0.3
    )  # the old pair: the check can fail


def test_plot_history_one_panel_per_key_with_the_values():
    history = [
        {"step": 10, "train_loss": 3.0, "val_miou": 0.2},
        {"step": 20, "train_loss": 2.0, "val_miou": 0.4},
    ]
    fig = viz.plot_history(history, ("train_loss", "val_miou"))
    axes = fig.axes
    assert [a.get_title() for a in axes] == ["train_loss", "val_miou"]
    x, y = axes[1].lines[0].get_data()
    assert list(x) == [10, 20] and list(y) == [0.2, 0.4]
    assert viz.save_figure(fig, "t_hist").is_file()


def test_attention_and_similarity_heatmaps_have_colour_bars():
    w = torch.softmax(torch.randn(3, 5), -1)
    blocked = torch.zeros(3, 5, dtype=torch.bool)
    blocked[0, 1] = True
    fig = viz.plot_attention_matrix(w, blocked)
    assert len(fig.axes) == 2  # heatmap + colour bar
    offsets = fig.axes[0].collections[0].get_offsets()
    assert offsets.tolist() == [[1.0, 0.0]]  # the x sits on (key 1, query 0)
    fig2 = viz.plot_query_similarity(torch.tensor([[0.5, -0.25], [0.0, 1.0]]), ["a", "b"])
    assert len(fig2.axes) == 2
    assert fig2.axes[0].images[0].get_clim() == (-1.0, 1.0)


def test_prediction_grid_rows_and_prior_gallery_panels():
    frames = torch.rand(3, 3, 8, 8)
    gt = torch.zeros(3, 8, 8, dtype=torch.bool)
    fig = viz.prediction_grid(frames, gt, {"a": gt, "b": ~gt}, captions=["x", "y", "z"])
    assert len(fig.axes) == 9  # (1 GT + 2 predictions) x 3 frames
    assert fig.axes[0].get_title() == "x" and fig.axes[0].get_ylabel() == "ground truth"
    assert viz.prediction_grid(frames, gt, gt).axes[3].get_ylabel() == "prediction"
    fig = viz.prior_gallery(list(frames), list(gt), list(gt), ["p", "q", "r"], ncols=2)
    visible = [a for a in fig.axes if a.axison]
    assert len(fig.axes) == 4 and len(visible) == 3
    assert [a.get_title() for a in visible] == ["p", "q", "r"]


def test_compare_bars_and_prior_quality():
    fig = viz.compare_bars(
        {"on": {"miou": 0.5, "f": 0.25}, "off": {"miou": 0.1, "f": float("nan")}}, ["miou", "f"]
    )
    heights = sorted(round(p.get_height(), 3) for p in fig.axes[0].patches)
    assert heights == [0.0, 0.1, 0.25, 0.5]
    # lower-is-better keys get their own panel, and every label its arrow
    fig = viz.compare_bars(
        {"on": {"miou": 0.5, "fp": 0.2}, "off": {"miou": 0.1, "fp": 0.4}},
        ["miou", "fp"],
        lower_is_better=["fp"],
    )
    assert [a.get_title() for a in fig.axes] == ["higher is better ↑", "lower is better ↓"]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["miou ↑"]
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == ["fp ↓"]
    assert sorted(round(p.get_height(), 3) for p in fig.axes[1].patches) == [0.2, 0.4]
    fig = viz.plot_prior_quality(
        {"erode": [0, 1, 2], "noise": [0.0, 0.1]},
        {"erode": [1.0, 0.8, 0.6], "noise": [1.0, 0.7]},
        reference={"stage 1": 0.5},
    )
    assert [a.get_title() for a in fig.axes] == ["erode", "noise"]
    line = fig.axes[0].lines[0]
    assert list(line.get_ydata()) == [1.0, 0.8, 0.6]
    assert fig.axes[1].lines[1].get_ydata()[0] == 0.5  # the reference line on every panel
