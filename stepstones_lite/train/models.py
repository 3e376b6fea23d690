"""Trained models by kind: the checkpoint kinds, the criterion of a profile, and :func:`load_model` (rebuild a
model from its checkpoint). :mod:`.pipeline` re-exports them; :mod:`.priors` and the study import them from
here, so that nothing that the pipeline imports has to import the pipeline back."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from ..config import Profile
from ..model import build_model, build_tpavi
from ..model.criterion import HungarianMatcher, SetCriterion
from ..utils import resolve_device
from .checkpoint import CheckpointError, load_checkpoint, load_state

__all__ = [
    "STAGE1",
    "STAGE2",
    "END_TO_END",
    "TPAVI",
    "TPAVI_PRIOR",
    "NUM_AVSS_CLASSES",
    "KINDS",
    "build_criterion",
    "new_model",
    "load_model",
]

STAGE1, STAGE2, END_TO_END = "aavs-stage1", "aavs-stage2", "aavs-e2e"
TPAVI, TPAVI_PRIOR = "tpavi", "tpavi-prior"
NUM_AVSS_CLASSES = 71


def build_criterion(profile: Profile, num_classes: int) -> SetCriterion:
    """Mask2Former criterion with the profile's weights and point counts (docs/paper_and_code.md §2.5)."""
    m = profile.model
    matcher = HungarianMatcher(
        cost_class=1.0, cost_mask=m.mask_weight, cost_dice=m.dice_weight, num_points=m.num_points
    )
    return SetCriterion(
        num_classes,
        matcher,
        class_weight=m.class_weight,
        mask_weight=m.mask_weight,
        dice_weight=m.dice_weight,
        no_object_weight=m.no_object_weight,
        num_points=m.num_points,
        oversample_ratio=m.oversample_ratio,
        importance_sample_ratio=m.importance_sample_ratio,
    )


KINDS = {
    STAGE1: (2, False),
    STAGE2: (NUM_AVSS_CLASSES, True),
    END_TO_END: (NUM_AVSS_CLASSES, False),
    TPAVI: (NUM_AVSS_CLASSES, False),
    TPAVI_PRIOR: (NUM_AVSS_CLASSES, True),
}


def new_model(profile: Profile, kind: str) -> torch.nn.Module:
    num_classes, use_prior = KINDS[kind]
    if kind in (TPAVI, TPAVI_PRIOR):
        return build_tpavi(
            profile.model, num_classes=num_classes, num_frames=profile.data.num_frames, use_prior=use_prior
        )
    cfg = profile.model
    if kind == STAGE1 and cfg.stage1_num_queries:
        cfg = dataclasses.replace(cfg, num_queries=cfg.stage1_num_queries)
    return build_model(cfg, num_classes=num_classes, use_prior=use_prior)


def load_model(
    checkpoint: str | Path, kind: str | None = None, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, Profile, dict[str, Any]]:
    """Rebuild a trained model from its checkpoint (``weights_only`` load); returns (model, profile,
    payload)."""
    payload = load_checkpoint(checkpoint, kind=kind)
    kind = payload["kind"]
    if kind not in KINDS:
        raise CheckpointError(f"{checkpoint}: unknown model kind {kind!r}")
    profile = payload["profile"]
    # the state_dict holds every weight, so local encoder files need not exist on this machine any more
    model = new_model(profile.replace(model__backbone_weights=None, model__audio_weights=None), kind)
    load_state(checkpoint, model, payload["model"])
    return model.to(resolve_device(device, verbose=False)).eval(), profile, payload
