"""Viz helpers of notebook 01 (frame strips, log-mel, palette, class histogram, mask panels)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from stepstones_lite import viz  # noqa: E402
from stepstones_lite.data import palette  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_frame_strip_overlays_binary_and_semantic():
    frames = torch.zeros(3, 3, 8, 8)
    masks = torch.zeros(3, 8, 8, dtype=torch.long)
    masks[:, 2:5, 2:5] = 1
    outl = torch.zeros(3, 8, 8, dtype=torch.bool)
    outl[:, 5:7, 5:7] = True
    fig = viz.frame_strip(frames, masks, outlines=outl, title="clip")
    assert len(fig.axes) == 3 and fig._suptitle.get_text() == "clip"
    overlay = fig.axes[0].images[1].get_array()  # [H, W, 4]
    assert np.allclose(overlay[3, 3, :3], viz.SOUNDING_COLOUR) and overlay[0, 0, 3] == 0
    assert len(fig.axes[0].collections) >= 1  # the dashed contour
    sem = masks * 17  # class 17 = dog
    fig2 = viz.frame_strip(frames, sem)
    rgba = fig2.axes[1].images[1].get_array()
    assert np.allclose(rgba[3, 3, :3] * 255, palette()[17], atol=1e-3)


def test_plot_log_mel_layout():
    mel = torch.arange(2 * 96 * 64, dtype=torch.float32).reshape(2, 1, 96, 64)
    fig = viz.plot_log_mel(mel, title="mel")
    ax = fig.axes[0]
    img = ax.images[0].get_array()
    assert img.shape == (64, 192)  # mel bands x time
    assert img[5, 100] == mel[1, 0, 4, 5]  # time 100 = example 1, frame 4; band 5
    assert len(fig.axes) == 2 and ax.get_title() == "mel"  # colour bar present
    with pytest.raises(ValueError, match="96, 64"):
        viz.plot_log_mel(torch.zeros(96, 64))


def test_palette_swatches_and_histogram():
    fig = viz.palette_swatches()
    assert len(fig.axes[0].patches) == 71
    assert fig.axes[0].texts[17].get_text() == "17 dog"
    fig = viz.class_histogram({"dog": 3, "piano": 5, "cow": 1}, title="h")
    bars = fig.axes[0].patches
    assert [b.get_width() for b in bars] == [1, 3, 5]  # ascending so the largest is on top
    fig = viz.class_histogram({"sounding": {"dog": 2}, "silent": {"dog": 1, "cow": 4}}, top=1)
    widths = sorted(b.get_width() for b in fig.axes[0].patches)
    assert widths == [0, 4]  # cow only (total 4 > 3), two stacked series


def test_mask_panels_annotates_values():
    m = torch.tensor([[0, 1], [1, 0]])
    fig = viz.mask_panels({"a": m, "rgb": torch.rand(3, 2, 2)}, annotate=True, title="t")
    assert [t.get_text() for t in fig.axes[0].texts] == ["0", "1", "1", "0"]
    assert fig.axes[0].get_title() == "a"
    assert len(fig.axes) == 3  # two panels + one colour bar (RGB panels get none)
