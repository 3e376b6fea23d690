"""One way to run a trained model on a clip or a batch: :func:`predict` (no criterion, no task object).

Every caller that turns model outputs into maps goes through here: the tasks' evaluation (stage 1, stage 2,
end-to-end, TPAVI), the priors (:func:`~stepstones_lite.train.priors.make_priors`), the error analyses and the
notebooks. The post-processing is the Mask2Former semantic inference of the paper's code (paper §3, the
released ``semantic_inference``): ``s[c] = Σ_q softmax(class_q)[c] · sigmoid(mask_q)`` at the label size, or a
per-pixel softmax for the TPAVI-style baseline.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..model.aavs import binary_scores, semantic_scores

__all__ = ["predict", "muted_log_mel", "SILENT_LOG_MEL", "OUTPUTS"]

SILENT_LOG_MEL = math.log(0.01)  # the VGGish front end's value for digital silence: log(0 + 0.01)
OUTPUTS = ("labels", "scores", "logits")


def muted_log_mel(log_mel: torch.Tensor) -> torch.Tensor:
    """The log-mel of silence with the shape of ``log_mel`` (the "audio muted" condition)."""
    return torch.full_like(log_mel, SILENT_LOG_MEL)


@torch.no_grad()
def predict(
    model: nn.Module,
    batch: dict[str, Any],
    prior: str | torch.Tensor | None = None,
    *,
    muted: bool = False,
    output: str = "labels",
) -> torch.Tensor:
    """Run ``model`` on one clip (``frames [T,3,H,W]``) or a batch (``frames [B,T,3,H,W]``, frames folded into
    N).

    Args:
        prior: ``None`` (stage 1, end-to-end), ``"dataset"`` (the clip's ``prior``: stage-1 priors), ``"gt"``
            (the oracle: ground-truth foreground) or a ``[N, H, W]`` tensor in [0, 1].
        muted: feed the log-mel of silence instead of the soundtrack.
        output: ``"labels"`` class map ``[N, H, W]``; ``"scores"`` per-pixel class scores ``[N, C, H, W]``;
            ``"logits"`` (2-class stage 1 only) ``s_sounding − s_background`` ``[N, H, W]``, > 0 where
            sounding wins.
    The maps come at the size of the clip's ``labels`` (``masks`` for ``"logits"``).
    """
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    folded = batch["frames"].dim() == 5

    def flat(key: str) -> torch.Tensor:
        return batch[key].flatten(0, 1) if folded else batch[key]  # [B, T, ...] -> [N, ...]

    log_mel = flat("log_mel")  # [N, 1, 96, 64]
    if muted:
        log_mel = muted_log_mel(log_mel)
    if isinstance(prior, str):
        if prior not in ("dataset", "gt"):
            raise ValueError(f"prior must be None, 'dataset', 'gt' or a tensor, got {prior!r}")
        prior = flat("prior").float() if prior == "dataset" else (flat("labels") > 0).float()  # [N, H, W]
    device = next(model.parameters()).device
    frames = flat("frames").to(device)  # [N, 3, H, W]
    outputs = model(frames, log_mel.to(device), None if prior is None else prior.to(device))
    size = tuple(batch["masks" if output == "logits" else "labels"].shape[-2:])
    if output == "logits":
        scores = binary_scores(outputs["pred_logits"], outputs["pred_masks"], size)  # [N, 2, H, W]
        return (scores[:, 1] - scores[:, 0]).float()
    if "sem_logits" in outputs:  # the TPAVI-style baseline: per-pixel class logits
        logits = F.interpolate(outputs["sem_logits"], size=size, mode="bilinear", align_corners=False)
        scores = logits.softmax(1)  # [N, C, H, W]
    else:
        scores = semantic_scores(outputs["pred_logits"], outputs["pred_masks"], size)  # [N, C, H, W]
    return scores if output == "scores" else scores.argmax(1)
