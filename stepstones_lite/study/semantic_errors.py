"""Where a semantic (AVSS) model's errors sit, object by object: named, wrong class, missed, masks on silent
objects.

The official AVSS mIoU (``metrics.SemanticMeter``) says *how much* is wrong; this module says *what*: for
every object visible in a frame of the synthetic set (its sidecar ``objects.json`` + ``instances/{k}.png``
gives the object's pixels even where the label map says background), with ``share(c)`` the part of its pixels
predicted as class ``c``:

- a **sounding** object (sounding in that frame) is ``named`` when ``share(its class) >= 0.5``; otherwise
  ``wrong_class`` when ``share(any class != background) >= 0.5`` (a right mask with the wrong name), else
  ``missed`` (the model left at least half of it as background);
- a **silent** object is ``marked`` when ``share(any class != background) >= 0.5``: a mask the model put on
  something that does not sound. Silent objects come in three kinds: ``pool`` (a never-sounding class, e.g. a
  tree), ``distractor`` (a sounding-capable class that is silent in this clip) and ``inactive`` (an object
  that sounds in other frames of its clip, silent in this one).

This is the measurement the semantics issue asks for before any lever: run it on stage 2 with the stage-1
prior, with the oracle prior, and on end-to-end, and the differences say whether the prior passes on its
distractors or stage 2 fails to name what it is given. :func:`confusion` is the per-class view (GT class ×
predicted class). The 0.5 thresholds are ours (the paper has no object-level diagnostics).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch

__all__ = [
    "ObjectOutcomes",
    "object_outcomes",
    "confusion",
    "first_sounding_clips",
    "predict_split",
    "SOUNDING_OUTCOMES",
    "SILENT_KINDS",
]

SOUNDING_OUTCOMES = ("named", "wrong_class", "missed")
SILENT_KINDS = ("pool", "distractor", "inactive")


@dataclass
class ObjectOutcomes:
    """Counts of object-frames by outcome; ``add`` another clip's, ``summary()`` the shares."""

    sounding: Counter = field(default_factory=Counter)  # outcome -> object-frames
    sounding_multi: Counter = field(
        default_factory=Counter
    )  # the same, in frames where 2+ visible objects sound
    silent: Counter = field(default_factory=Counter)  # kind -> object-frames
    silent_marked: Counter = field(default_factory=Counter)  # kind -> object-frames marked as sounding
    silent_area: dict[str, float] = field(
        default_factory=dict
    )  # kind -> summed share predicted non-background
    confused_with: Counter = field(
        default_factory=Counter
    )  # (gt class, predicted class) of wrong_class objects

    def add(self, other: "ObjectOutcomes") -> "ObjectOutcomes":
        self.sounding.update(other.sounding)
        self.sounding_multi.update(other.sounding_multi)
        self.silent.update(other.silent)
        self.silent_marked.update(other.silent_marked)
        self.confused_with.update(other.confused_with)
        for kind, area in other.silent_area.items():
            self.silent_area[kind] = self.silent_area.get(kind, 0.0) + area
        return self

    def summary(self) -> dict[str, float]:
        """Shares: ``named`` / ``wrong_class`` / ``missed`` of sounding object-frames (they sum to 1), and per
        silent kind ``marked_<kind>`` (share of its object-frames marked) and ``area_<kind>`` (mean share of
        its pixels predicted as some class); ``<outcome>_single`` / ``<outcome>_multi``: the same shares in
        frames where one / several visible objects sound; ``n_*`` the counts behind them."""
        n = sum(self.sounding.values())
        out: dict[str, float] = {"n_sounding": float(n)}
        single = self.sounding - self.sounding_multi
        for name in SOUNDING_OUTCOMES:
            out[name] = self.sounding[name] / n if n else float("nan")
        for tag, counts in (("single", single), ("multi", self.sounding_multi)):
            m = sum(counts.values())
            out[f"n_sounding_{tag}"] = float(m)
            for name in SOUNDING_OUTCOMES:
                out[f"{name}_{tag}"] = counts[name] / m if m else float("nan")
        for kind in SILENT_KINDS:
            m = self.silent[kind]
            out[f"n_{kind}"] = float(m)
            out[f"marked_{kind}"] = self.silent_marked[kind] / m if m else float("nan")
            out[f"area_{kind}"] = self.silent_area.get(kind, 0.0) / m if m else float("nan")
        return out


def object_outcomes(
    pred: torch.Tensor,
    instances: torch.Tensor,
    objects: Sequence[dict[str, Any]],
    valid: torch.Tensor | None = None,
) -> ObjectOutcomes:
    """Outcomes of one clip.

    Args:
        pred: ``[T, H, W]`` predicted class ids (0 = background); instances: ``[T, H, W]`` visible object id
            per pixel (0 = none); objects: the sidecar's ``objects`` list (``id``, ``class_index``,
            ``sounding`` per frame, ``silent_only``); valid: ``[T]`` frames that are scored (default: all).
    """
    if pred.shape != instances.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and instances {tuple(instances.shape)} differ in shape")
    out = ObjectOutcomes()
    frames = range(pred.shape[0]) if valid is None else valid.nonzero().flatten().tolist()
    for k in frames:
        n_sounding = sum(
            bool(o["sounding"][k]) and bool((instances[k] == int(o["id"])).any()) for o in objects
        )
        for obj in objects:
            mask = instances[k] == int(obj["id"])  # [H, W]
            if not mask.any():
                continue
            inside = pred[k][mask]  # [P] predicted classes on the object's pixels
            foreground = float((inside > 0).float().mean())
            if obj["sounding"][k]:
                cls = int(obj["class_index"])
                if float((inside == cls).float().mean()) >= 0.5:
                    outcome = "named"
                elif foreground >= 0.5:
                    outcome = "wrong_class"
                    labels = inside[inside > 0]
                    out.confused_with[(cls, int(labels.mode().values))] += 1
                else:
                    outcome = "missed"
                out.sounding[outcome] += 1
                if n_sounding > 1:
                    out.sounding_multi[outcome] += 1
                continue
            kind = (
                "pool" if obj.get("silent_only") else ("inactive" if any(obj["sounding"]) else "distractor")
            )
            out.silent[kind] += 1
            out.silent_marked[kind] += int(foreground >= 0.5)
            out.silent_area[kind] = out.silent_area.get(kind, 0.0) + foreground
    return out


def confusion(pred: torch.Tensor, labels: torch.Tensor, num_classes: int = 71) -> torch.Tensor:
    """Pixel confusion counts ``[num_classes, num_classes]``: row = GT class, column = predicted class."""
    if pred.shape != labels.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and labels {tuple(labels.shape)} differ in shape")
    index = labels.flatten().long() * num_classes + pred.flatten().long()  # [P]
    return torch.bincount(index, minlength=num_classes * num_classes).view(num_classes, num_classes)


def first_sounding_clips(dataset: Any, k: int) -> list[int]:
    """The course's fixed rule for example clips: the first ``k`` clips of the split (metadata order) in which
    some object sounds in at least one frame. No clip is ever chosen by hand or by how well a model does."""
    chosen = []
    for i in range(len(dataset)):
        if bool((dataset[i]["labels"] > 0).any()):
            chosen.append(i)
            if len(chosen) == k:
                break
    return chosen


def predict_split(
    checkpoint: str | Path, dataset: Any, prior: str | None = "dataset", device: str | torch.device = "cpu"
) -> Iterator[tuple[dict[str, Any], torch.Tensor]]:
    """Yield ``(item, pred [T, H, W])`` for every clip of ``dataset`` with the AVSS model at ``checkpoint``.

    ``prior``: ``"dataset"`` (the item's ``prior``, i.e. stage-1 priors), ``"gt"`` (oracle: the GT foreground)
    or ``None`` (a model without prior modules, e.g. end-to-end).
    """
    from ..train.pipeline import load_model
    from ..train.predict import predict

    model, _, _ = load_model(checkpoint, device=device)
    for i in range(len(dataset)):
        item = dataset[i]
        yield item, predict(model, item, prior).cpu()  # [T, H, W]
