"""Why stage 2's prior pays (or not): the localisation mechanism as numbers. Ours, not AVSBench's.

The paper's Fig. 4 argument: a one-stage model must localise *and* name at once, and semantic supervision
"mashes up" localisation; stage 1 localises alone and hands stage 2 a mask. Two measurements make it concrete:

* **split loss** — the share of ground-truth sounding pixels that the argmax gives to background although the
  *summed* sounding-class scores beat background, ``Σ_{c≥1} s_c > s_0``: the model found *something* sounding
  there, but its class mass is spread over several classes and each alone loses to the one background class.
* **pooled-foreground binary mIoU** — the collapsed binary mIoU with foreground read as ``Σ_{c≥1} s_c > s_0``
  instead of ``argmax ≠ background``: how well the semantic model localises once split loss is forgiven.

``s`` are per-pixel class scores ``[N, C, H, W]`` with class 0 background: Mask2Former's semantic scores
(:func:`~stepstones_lite.model.aavs.semantic_scores`) or a per-pixel softmax (the TPAVI-style baseline). The
study adds ``delta_loc`` (Δloc = stage-1 binary mIoU − end-to-end collapsed binary mIoU) from these records.
"""

from __future__ import annotations

import torch

from .exact import BinaryMeter

__all__ = ["pooled_foreground", "split_loss_pixels", "MechanismMeter"]


def pooled_foreground(scores: torch.Tensor) -> torch.Tensor:
    """Foreground where the sounding classes together beat background: ``Σ_{c≥1} s_c > s_0`` ``[N, H, W]``
    (bool)."""
    return scores[:, 1:].sum(1) > scores[:, 0]  # [N, H, W]


def split_loss_pixels(scores: torch.Tensor, labels: torch.Tensor) -> tuple[int, int]:
    """``(lost, sounding)``: ground-truth sounding pixels (``labels > 0``) the argmax gives to background
    although :func:`pooled_foreground` holds there, and all ground-truth sounding pixels."""
    sounding = labels > 0  # [N, H, W]
    lost = sounding & (scores.argmax(1) == 0) & pooled_foreground(scores)  # [N, H, W]
    return int(lost.sum()), int(sounding.sum())


class MechanismMeter:
    """Accumulates split loss and the pooled-foreground binary mIoU over frames (``update`` per batch)."""

    def __init__(self) -> None:
        self.lost = 0
        self.sounding = 0
        self.pooled = BinaryMeter()

    def update(self, scores: torch.Tensor, labels: torch.Tensor) -> None:
        """``scores [N, C, H, W]`` (class 0 background), ``labels [N, H, W]`` (0 background) of valid
        frames."""
        lost, sounding = split_loss_pixels(scores, labels)
        self.lost += lost
        self.sounding += sounding
        fg = pooled_foreground(scores)  # [N, H, W]
        self.pooled.update(torch.where(fg, 1.0, -1.0), (labels > 0).float())  # as binary logits

    def compute(self) -> dict[str, float]:
        """``split_loss`` (share of GT sounding pixels; NaN if none) and ``pooled_binary_miou``."""
        share = self.lost / self.sounding if self.sounding else float("nan")
        return {"split_loss": share, "pooled_binary_miou": float(self.pooled.compute()["miou"])}
