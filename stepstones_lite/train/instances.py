"""Glue from the synthetic set's sidecar (``objects.json`` + ``instances/{k}.png``) to the metric diagnostics.

The dataset (``return_instances=True``) gives per clip ``objects`` (the parsed JSON) and ``instances``
``int64 [T,H,W]`` (visible object id per pixel, 0 = none); :class:`~stepstones_lite.metrics.FrameTypeMeter`
wants one dict per object ``{"mask": bool [T,H,W], "sounding": bool [T], "distractor": bool}``.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["instances_for_meter"]


def instances_for_meter(batch: dict[str, Any], valid: torch.Tensor) -> dict[str, Any]:
    """``{"instances": [...]}`` for the frames ``valid`` (``[B*T]`` bool) of a collated batch."""
    ids = batch["instances"].flatten(0, 1)  # [N, H, W]
    frames_per_clip = batch["instances"].shape[1]
    out = []
    for clip, objects in enumerate(batch["objects"]):
        lo = clip * frames_per_clip
        for obj in objects.get("objects", []):
            mask = torch.zeros_like(ids, dtype=torch.bool)  # [N, H, W], only this clip's frames set
            mask[lo : lo + frames_per_clip] = ids[lo : lo + frames_per_clip] == int(obj["id"])
            sounding = torch.zeros(ids.shape[0], dtype=torch.bool)
            sounding[lo : lo + frames_per_clip] = torch.tensor([bool(s) for s in obj["sounding"]])
            out.append(
                {
                    "mask": mask[valid],
                    "sounding": sounding[valid.cpu()],
                    "distractor": bool(obj.get("distractor", not any(obj["sounding"]))),
                }
            )
    return {"instances": out}
