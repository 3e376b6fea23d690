"""Exact AVSBench metrics (S4/MS3 mIoU and max-F, AVSS per-class mIoU and F) plus diagnostics.

The numbers in the Stepping Stones paper (Tab. 1, §4.1) and in AVSBench come from the official AVSBench
evaluation code; this package re-implements it so that identical inputs give identical values (to float32
rounding). Every name is re-exported here (``from stepstones_lite.metrics import mask_iou``):

* :mod:`.exact`: the binary (S4 / MS3) metrics, with the sources and conventions of the whole package;
* :mod:`.semantic`: the semantic (AVSS) metrics;
* :mod:`.diagnostics`: ours, not AVSBench's (frame types, silence handling, distractors);
* :mod:`.mechanism`: ours, why a prior pays (split loss, pooled-foreground binary mIoU).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from .diagnostics import FrameTypeMeter, _nanmean, binary_diagnostics
from .exact import (
    BETA2,
    F_EPS,
    IOU_EPS,
    BinaryMeter,
    _as_aux,
    _as_tensor,
    _binary_pair,
    _float_scores,
    binary_prediction,
    f_measure,
    f_measure_curves,
    frame_iou,
    mask_iou,
)
from .mechanism import MechanismMeter, pooled_foreground, split_loss_pixels
from .semantic import (
    _SOFTMAX_CHUNK,
    SEM_EPS,
    SemanticMeter,
    _labels,
    _semantic_pair,
    binarize_semantic,
    semantic_frame_stats,
    semantic_prediction,
)

__all__ = [
    "MechanismMeter",
    "pooled_foreground",
    "split_loss_pixels",
    "binary_prediction",
    "frame_iou",
    "mask_iou",
    "f_measure",
    "f_measure_curves",
    "BinaryMeter",
    "semantic_prediction",
    "semantic_frame_stats",
    "SemanticMeter",
    "binarize_semantic",
    "FrameTypeMeter",
    "binary_diagnostics",
]
