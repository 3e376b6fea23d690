"""Binary diagnostics beyond AVSBench: frame types, silence handling, distractors, per-source recall.

Diagnostics (:class:`FrameTypeMeter`, :func:`binary_diagnostics`) are ours, not AVSBench's: the binary mIoU
scores silent frames by their true negatives and so hides whether a model uses sound
(docs/feasibility.md §3.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from .exact import _as_aux, _as_tensor, _binary_pair, frame_iou

__all__ = ["FrameTypeMeter", "binary_diagnostics"]


def _nanmean(xs: Sequence[float]) -> float:
    return float(np.mean(xs)) if len(xs) else float("nan")


@dataclass
class FrameTypeMeter:
    """Binary diagnostics beyond AVSBench: frame types, silence handling, distractors, per-source recall.

    Frame types: *silent* = empty GT (nothing sounding on screen); *sounding* = non-empty GT, split into
    *single* (exactly one sounding instance) and *multi* (two or more) when the per-frame number of sounding
    instances is known (``num_sources`` or derived from ``instances``). The GT decides silence: an empty-GT
    frame is silent whatever its count (e.g. an off-screen source); a non-empty frame with count 0 counts only
    as sounding. IoU per frame is the official one (:func:`frame_iou`), so ``miou_all`` equals the AVSBench
    frame mean.

    Instance format (one list per clip, e.g. built from the synthetic set's ``objects.json``; no file I/O
    here):
    ``{"mask": bool [T, H, W], "sounding": bool [T], "distractor": bool (optional)}``. ``mask`` is the visible
    instance mask per frame (may be empty where the object is absent), ``sounding`` says in which frames it
    makes sound; ``distractor`` (default: never sounding in the clip) marks a silent distractor object.

    Reported (means over the listed units; NaN where there is no unit):

    * ``miou_all``, ``miou_silent``, ``miou_sounding``, ``miou_single``, ``miou_multi``; ``n_*`` frame counts;
    * ``silent_empty_rate``: share of silent frames predicted completely empty;
      ``silent_fp_area``: mean fraction of a silent frame's pixels predicted foreground;
    * ``distractor_fp``: mean over (distractor, frame where visible) of the fraction of its area predicted
      foreground; ``silent_instance_fp``: the same over every (instance, visible but not sounding frame);
    * ``sounding_recall``: mean over (instance, visible and sounding frame) of the fraction of its area
      predicted foreground; ``sounding_recall_per_instance``: per instance (in update order), the mean over
      its sounding frames.
    """

    frame_iou: list[float] = field(default_factory=list)
    frame_type: list[str] = field(default_factory=list)  # "silent" | "single" | "multi" | "sounding"
    silent_empty: list[bool] = field(default_factory=list)
    silent_fp: list[float] = field(default_factory=list)
    distractor_fp_units: list[float] = field(default_factory=list)
    silent_instance_units: list[float] = field(default_factory=list)
    sounding_units: list[float] = field(default_factory=list)
    per_instance_recall: list[float] = field(default_factory=list)

    def update(
        self,
        logits: torch.Tensor,
        target: torch.Tensor,
        num_sources: Any = None,
        instances: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Add one clip (or any batch of frames) ``[T, H, W]``.

        Args:
            logits: ``[T, H, W]`` mask logits or a bool hard mask.
            target: ``[T, H, W]`` binary GT (sounding pixels).
            num_sources: optional ``[T]`` ints, number of sounding instances per frame.
            instances: optional list of instance dicts (format in the class docstring) for these T frames.
        """
        fn = "FrameTypeMeter.update"
        scores, tgt = _binary_pair(logits, target, fn)
        t = scores.shape[0]
        pred = (torch.sigmoid(scores) > 0.5).cpu()  # [T, H, W] bool
        ious = frame_iou(scores, tgt).double().cpu()  # [T]
        empty_gt = (tgt.sum(dim=(1, 2)) == 0).cpu()  # [T]
        masks, sounding, distractor = self._instances(instances, tuple(scores.shape), fn)
        if num_sources is None and masks is not None:
            num_sources = (sounding & masks.flatten(2).any(-1)).sum(0)  # [T] sounding and visible
        if num_sources is not None:
            ns = _as_aux(num_sources, "num_sources", fn).reshape(-1).long().cpu()
            if ns.numel() != t:
                raise ValueError(f"{fn}: num_sources has {ns.numel()} entries for {t} frames")
        for i in range(t):
            self.frame_iou.append(float(ious[i]))
            if bool(empty_gt[i]):
                kind = "silent"
            elif num_sources is None:
                kind = "sounding"
            else:
                kind = "single" if int(ns[i]) == 1 else ("multi" if int(ns[i]) >= 2 else "sounding")
            self.frame_type.append(kind)
        fg_frac = pred.flatten(1).double().mean(1)  # [T]
        for i in torch.nonzero(empty_gt).flatten().tolist():
            self.silent_empty.append(not bool(pred[i].any()))
            self.silent_fp.append(float(fg_frac[i]))
        if masks is None:
            return
        area = masks.flatten(2).sum(-1).double()  # [K, T]
        hit = (masks & pred.unsqueeze(0)).flatten(2).sum(-1).double()  # [K, T]
        frac = hit / area.clamp(min=1)  # [K, T]
        visible = area > 0
        for k in range(masks.shape[0]):
            for i in range(t):
                if not bool(visible[k, i]):
                    continue
                if bool(distractor[k]):
                    self.distractor_fp_units.append(float(frac[k, i]))
                if bool(sounding[k, i]):
                    self.sounding_units.append(float(frac[k, i]))
                else:
                    self.silent_instance_units.append(float(frac[k, i]))
            snd = visible[k] & sounding[k]
            if bool(snd.any()):
                self.per_instance_recall.append(float(frac[k][snd].mean()))

    @staticmethod
    def _instances(
        instances: Sequence[Mapping[str, Any]] | None, shape: tuple[int, int, int], fn: str
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        if instances is None or len(instances) == 0:
            return None, None, None
        masks, snd, dis = [], [], []
        for j, inst in enumerate(instances):
            if "mask" not in inst or "sounding" not in inst:
                raise ValueError(f"{fn}: instance {j} needs keys 'mask' [T,H,W] and 'sounding' [T]")
            m = _as_tensor(inst["mask"], f"instances[{j}]['mask']", fn).to(torch.bool).cpu()
            s = _as_aux(inst["sounding"], f"instances[{j}]['sounding']", fn).to(torch.bool).reshape(-1).cpu()
            if tuple(m.shape) != shape:
                raise ValueError(
                    f"{fn}: instances[{j}]['mask'] has shape {tuple(m.shape)}, frames are {shape}"
                )
            if s.numel() != shape[0]:
                raise ValueError(
                    f"{fn}: instances[{j}]['sounding'] has {s.numel()} entries for {shape[0]} frames"
                )
            masks.append(m)
            snd.append(s)
            dis.append(bool(inst.get("distractor", not bool(s.any()))))
        return torch.stack(masks), torch.stack(snd), torch.tensor(dis)

    def compute(self) -> dict[str, Any]:
        """Return the diagnostics dict described in the class docstring."""
        iou = np.asarray(self.frame_iou, dtype=np.float64)
        kinds = np.asarray(self.frame_type)

        def sel(*names: str) -> list[float]:
            return list(iou[np.isin(kinds, names)]) if len(kinds) else []

        sounding = sel("single", "multi", "sounding")
        return {
            "n_frames": int(len(iou)),
            "n_silent": int((kinds == "silent").sum()) if len(kinds) else 0,
            "n_sounding": len(sounding),
            "n_single": int((kinds == "single").sum()) if len(kinds) else 0,
            "n_multi": int((kinds == "multi").sum()) if len(kinds) else 0,
            "miou_all": _nanmean(list(iou)),
            "miou_silent": _nanmean(sel("silent")),
            "miou_sounding": _nanmean(sounding),
            "miou_single": _nanmean(sel("single")),
            "miou_multi": _nanmean(sel("multi")),
            "silent_empty_rate": _nanmean([float(x) for x in self.silent_empty]),
            "silent_fp_area": _nanmean(self.silent_fp),
            "distractor_fp": _nanmean(self.distractor_fp_units),
            "silent_instance_fp": _nanmean(self.silent_instance_units),
            "sounding_recall": _nanmean(self.sounding_units),
            "sounding_recall_per_instance": list(self.per_instance_recall),
            "n_distractor_units": len(self.distractor_fp_units),
            "n_sounding_units": len(self.sounding_units),
        }


def binary_diagnostics(
    logits: torch.Tensor,
    target: torch.Tensor,
    num_sources: Any = None,
    instances: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """One-shot :class:`FrameTypeMeter` on ``[T, H, W]`` frames (see there for inputs and outputs)."""
    meter = FrameTypeMeter()
    meter.update(logits, target, num_sources=num_sources, instances=instances)
    return meter.compute()
