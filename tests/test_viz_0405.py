"""The 04/05 figures (semantic overlays, prior modules, robust keys, attention grids, similarity, curves)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from stepstones_lite import viz  # noqa: E402
from stepstones_lite.data import AVSS_CLASSES, palette  # noqa: E402
from stepstones_lite.model.prior import RobustKeys, fuse_prior, prior_attention_mask  # noqa: E402

pytestmark = pytest.mark.usefixtures("figures_in_tmp")  # tests/conftest.py


def _square(h=32, lo=8, hi=24):
    m = torch.zeros(h, h)
    m[lo:hi, lo:hi] = 1.0
    return m


def test_semantic_overlay_colours_classes_and_keeps_background():
    frame = torch.full((3, 16, 16), 0.5)
    labels = torch.zeros(16, 16, dtype=torch.long)
    labels[4:8, 4:8] = 3
    fig = viz.semantic_overlay(frame, labels, alpha=1.0, title="t")
    ax = fig.axes[0]
    overlay = ax.images[1].get_array()  # [H, W, 4]
    assert np.allclose(overlay[5, 5, :3], palette()[3] / 255.0)
    assert overlay[5, 5, 3] == 1.0 and overlay[0, 0, 3] == 0.0
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [AVSS_CLASSES[3]]
    assert ax.get_title() == "t"


def test_semantic_rows_grid_shape():
    frames = torch.rand(3, 3, 16, 16)
    labels = torch.randint(0, 71, (3, 16, 16))
    fig = viz.semantic_rows(frames, {"GT": labels, "pred": labels}, title="rows")
    assert len(fig.axes) == 6
    assert fig._suptitle.get_text() == "rows"


def test_prior_modules_figure_difference_is_the_resized_prior():
    prior = _square()[None]  # [1, 32, 32]
    feats = torch.randn(1, 4, 16, 16)
    after = fuse_prior(feats, prior)
    blocked = prior_attention_mask(prior, (2, 2), 1)[0, 0].view(2, 2)
    fig = viz.prior_modules_figure(torch.rand(3, 32, 32), prior[0], feats[0], after[0], blocked)
    panels = {a.get_title().split("\n")[0]: a for a in fig.axes if a.get_title()}
    diff = panels["after - before"].images[0].get_array()
    resized = torch.nn.functional.interpolate(
        prior[:, None], size=(16, 16), mode="bilinear", align_corners=False
    )
    assert np.allclose(diff, resized[0, 0].numpy(), atol=1e-5)
    # at 2x2 the bilinear samples of the 8..24 square are 0.25 < 0.5: everything blocked, nothing shown open
    assert blocked.all()
    open_ = panels["layer-0 attention mask"].images[0].get_array()
    assert open_.shape == (2, 2) and float(np.asarray(open_).max()) == 0.0
    path = viz.save_figure(fig, "t_prior")
    assert path.is_file() and path.stat().st_size > 0


def test_robust_key_maps_reports_uncertain_share():
    keys = RobustKeys(dim=4)
    prior = _square(32, 8, 24)[None]
    _, states = keys(prior, [(4, 4), (8, 8)])
    fig = viz.robust_key_maps([s[0] for s in states], prior=prior[0], titles=["1/8", "1/4"])
    titles = [a.get_title() for a in fig.axes if a.get_title()]
    share = (states[1][0] == 1).float().mean().item()
    assert any(f"uncertain {share:.0%}" in t for t in titles)
    shown = fig.axes[1].images[0].get_array()
    assert np.array_equal(np.asarray(shown), states[0][0].numpy())


def test_attention_grid_rows_with_different_scales_and_frames():
    attn = [[torch.rand(2, 2), torch.rand(2, 2)], [torch.rand(4, 4), torch.rand(4, 4)]]
    frames = torch.rand(2, 3, 16, 16)
    masks = torch.zeros(2, 16, 16)
    masks[0, 4:12, 4:12] = 1
    fig = viz.attention_grid(
        attn, frames=frames, row_labels=["L0", "L1"], col_labels=["f0", "f1"], masks=masks
    )
    heat = fig.axes[0].images[1].get_array()
    assert heat.shape == (16, 16)
    # nearest upsampling keeps the 2x2 values in 8x8 blocks
    assert np.isclose(heat[0, 0], float(attn[0][0][0, 0]))
    assert np.isclose(heat[15, 15], float(attn[0][0][1, 1]))
    assert fig.axes[0].get_title() == "f0" and fig.axes[0].get_ylabel() == "L0"


def test_similarity_over_time_lines_and_heatmap():
    sim = torch.linspace(-1, 1, 10).view(5, 2)
    fig = viz.similarity_over_time(sim, sounding=torch.tensor([1, 1, 0, 0, 1], dtype=torch.bool))
    ax, axh = fig.axes[0], fig.axes[1]
    assert len(ax.lines) == 2 and np.allclose(ax.lines[1].get_ydata(), sim[:, 1].numpy())
    assert np.allclose(axh.images[0].get_array(), sim.T.numpy())
    assert len(ax.patches) == 3  # shaded sounding frames


def test_training_curves_skip_missing_and_nan():
    hist = {"a": [{"step": 1, "train_loss": 2.0, "val_miou": float("nan")}, {"step": 2, "train_loss": 1.0}]}
    fig = viz.training_curves(hist, keys=("train_loss", "val_miou"))
    assert list(fig.axes[0].lines[0].get_ydata()) == [2.0, 1.0]
    assert len(fig.axes[1].lines) == 0


def test_annotated_heatmap_writes_values():
    fig = viz.annotated_heatmap([[0.1, 0.25]], ["r"], ["a", "b"], title="h", cbar_label="share")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["0.10", "0.25"]
    assert fig.axes[0].get_title() == "h"


def test_share_and_lift_heatmaps_put_each_on_its_own_scale():
    fig = viz.share_and_lift_heatmaps(
        [[0.2, 0.1], [0.5, 0.25]], [[3.0], [1.0]], ["l0", "l1"], ["mass", "area"], ["lift"], title="t"
    )
    heat = [ax for ax in fig.axes if ax.collections and ax.get_title()]
    assert [ax.get_title() for ax in heat] == ["shares", "lifts = share / area"]
    share_mesh, lift_mesh = heat[0].collections[0], heat[1].collections[0]
    assert share_mesh.get_clim() == (0.0, 1.0)  # shares on a fixed 0-1 scale
    lo, hi = lift_mesh.get_clim()
    assert hi >= 3.0 and lo <= 1.0 <= hi  # the lift scale holds the largest lift and 1
    texts = [t.get_text() for ax in heat for t in ax.texts]
    assert {"0.20", "0.25", "3.00", "1.00"} <= set(texts)


def test_semantic_rows_name_rows_once_and_mark_gt_and_prediction():
    """Column titles on the top row only, row names as y labels, under each panel the predicted and the GT
    classes marked as such plus the row's note: no per-panel title repeats the row name."""
    frames = torch.rand(2, 3, 16, 16)
    gt = torch.zeros(2, 16, 16, dtype=torch.long)
    gt[:, :8] = 1  # the first AVSBench class
    pred = torch.zeros_like(gt)
    fig = viz.semantic_rows(
        frames,
        {"GT": gt, "model": pred},
        gt=gt,
        frame_titles=["a f0", "b f1"],
        notes={"model": ["named 0 of 1 sounding", "named 0 of 1 sounding"]},
    )
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["a f0", "b f1", "", ""]
    assert axes[0].get_ylabel() == "GT" and axes[2].get_ylabel() == "model"
    assert axes[0].get_xlabel().startswith("GT: ") and "pred:" not in axes[0].get_xlabel()
    assert axes[2].get_xlabel().splitlines() == [
        "pred: nothing",
        axes[0].get_xlabel(),
        "named 0 of 1 sounding",
    ]


def test_split_loss_panel_counts_the_pixels_lost_to_the_split():
    """GT sounding pixels that the argmax gives to background while the pooled classes win are the lost
    ones."""
    labels = torch.zeros(4, 4, dtype=torch.long)
    labels[:2] = 5  # 8 GT sounding pixels (top half)
    scores = torch.zeros(3, 4, 4)
    scores[0] = 0.4  # background everywhere
    scores[1, 0] = 0.3  # row 0: two classes at 0.3 each: argmax background, pooled 0.6 wins -> lost
    scores[2, 0] = 0.3
    scores[1, 1] = 0.5  # row 1: one class wins the argmax
    fig = viz.split_loss_panel(torch.rand(3, 4, 4), labels, scores)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[1] == "argmax foreground (4 px)" and titles[2] == "pooled foreground (8 px)"
    assert titles[3] == "lost to the split: 4 of 8 GT px"
