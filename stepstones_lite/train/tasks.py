"""The course's training tasks: how a batch of clips becomes a loss, and how a split is scored.

- :class:`AVSTask` — stage 1 (binary AVS): targets {background, sounding}; scored with the exact AVSBench
  binary mIoU / max-F plus the diagnostics (per frame type, silent frames predicted empty, distractor
  false positives and instance recall on the synthetic set), optionally with the audio muted.
- :class:`AVSSTask` — stage 2 (semantic AVSS, with priors) and end-to-end AVSS (without): 71-class targets;
  scored with the exact AVSBench semantic mIoU / F and the collapsed binary mIoU of the prediction
  (any class ≠ background), the paper's Fig. 1/4 measure of how well an AVSS model localises.

Batches come from :func:`~stepstones_lite.train.engine.collate_clips`: ``frames [B,T,3,H,W]``,
``log_mel [B,T,1,96,64]``, ``masks``/``labels [B,T,H,W]``, ``valid [B,T]``, optional ``prior [B,T,H,W]``.
Frames are folded into the batch axis (the paper: one clip per step, frames as the batch). The loss uses
only annotated frames (``valid``); the model always sees every frame.

Stage 2 follows the paper's teacher forcing (§3.2): the prior is the ground-truth binary mask during
training and the stage-1 prediction (``batch["prior"]``, read from a prior folder) at evaluation, unless
``eval_prior="gt"`` (the oracle) is asked for. ``train_prior="stage1"`` / ``"mixed"`` (DEVIATIONS, not in the
paper; ``TrainConfig.stage2_train_prior``) train with the stage-1 predictions of the train split instead (all
clips / each clip with even odds), read from ``batch["prior"]`` of a train set built with a prior folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
from torch import nn

from ..metrics import BinaryMeter, FrameTypeMeter, MechanismMeter, SemanticMeter
from ..model.criterion import SetCriterion, targets_from_binary, targets_from_labels
from .predict import SILENT_LOG_MEL, muted_log_mel, predict  # noqa: F401  (the first two: re-exported)

__all__ = [
    "AVSTask",
    "AVSSTask",
    "TPAVITask",
    "select_frames",
    "muted_log_mel",
    "SILENT_LOG_MEL",
    "TRAIN_PRIORS",
]

TRAIN_PRIORS = ("gt", "stage1", "mixed")  # stage 2's training prior: the paper's, then two DEVIATIONS


def select_frames(outputs: dict[str, Any], index: torch.Tensor) -> dict[str, Any]:
    """Keep frames ``index`` of a Mask2Former output dict (final and auxiliary predictions)."""
    pick = {"pred_logits": outputs["pred_logits"][index], "pred_masks": outputs["pred_masks"][index]}
    pick["aux_outputs"] = [
        {"pred_logits": a["pred_logits"][index], "pred_masks": a["pred_masks"][index]}
        for a in outputs.get("aux_outputs", [])
    ]
    return pick


def _flat(batch: dict[str, Any], key: str) -> torch.Tensor:
    return batch[key].flatten(0, 1)  # [B, T, ...] -> [B*T, ...]


def _loss_logs(losses: dict[str, torch.Tensor]) -> dict[str, float]:
    return {k: float(losses[k].detach()) for k in ("loss_ce", "loss_mask", "loss_dice") if k in losses}


@dataclass
class AVSTask:
    """Stage 1: binary "sounding" segmentation (paper §3.1, code ``avs/``)."""

    criterion: SetCriterion
    mute_audio: bool = False  # train with silence instead of the soundtrack (the "trained muted" control)
    eval_mute_audio: bool = False  # score with silence fed at test time
    kind: str = "aavs-stage1"
    monitor: str = "miou"

    def _audio(self, batch: dict[str, Any], muted: bool) -> torch.Tensor:
        log_mel = _flat(batch, "log_mel")  # [N, 1, 96, 64]
        return muted_log_mel(log_mel) if muted else log_mel

    def loss(self, model: nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        frames = _flat(batch, "frames")  # [N, 3, H, W]
        outputs = model(frames, self._audio(batch, self.mute_audio))
        index = _flat(batch, "valid").nonzero().squeeze(1)  # annotated frames
        targets = targets_from_binary(_flat(batch, "masks")[index])
        losses = self.criterion(select_frames(outputs, index), targets)
        return losses["loss"], _loss_logs(losses)

    @torch.no_grad()
    def predict(self, model: nn.Module, batch: dict[str, Any], muted: bool | None = None) -> torch.Tensor:
        """Binary logits ``[N, H, W]`` at the label size: > 0 where sounding wins (argmax of bg/sounding)."""
        muted = self.eval_mute_audio if muted is None else muted
        return predict(model, batch, muted=muted, output="logits")

    def evaluate(self, model: nn.Module, batches: Iterator[dict[str, Any]]) -> dict[str, float]:
        meter, diag = BinaryMeter(), FrameTypeMeter()
        for batch in batches:
            logits = self.predict(model, batch)  # [N, H, W]
            valid = _flat(batch, "valid")
            target = _flat(batch, "masks")
            meter.update(logits[valid], target[valid])
            diag.update(logits[valid], target[valid], **_diagnostic_inputs(batch, valid))
        result = {k: float(v) for k, v in meter.compute().items() if isinstance(v, (int, float))}
        result.update(
            {f"diag_{k}": float(v) for k, v in diag.compute().items() if isinstance(v, (int, float))}
        )
        return result


def _diagnostic_inputs(batch: dict[str, Any], valid: torch.Tensor) -> dict[str, Any]:
    """Instance information of the synthetic set (``objects``/``instances``) for the diagnostics, if
    present."""
    if "instances" not in batch or "objects" not in batch:
        return {}
    from .instances import instances_for_meter

    return instances_for_meter(batch, valid)


def _mask(batch: dict[str, Any], source: str, what: str) -> torch.Tensor:
    """The mask ``[N, H, W]`` in [0, 1] a stage-2 evaluation reads (as its prior, or as a gate): ``"gt"`` the
    ground-truth foreground, ``"dataset"`` the clip's prior file (the dataset needs ``prior_root``)."""
    if source == "gt":
        return (_flat(batch, "labels") > 0).float()
    if "prior" not in batch:
        raise KeyError(f"{what} needs the dataset built with prior_root=...")
    return _flat(batch, "prior").float()


@dataclass
class AVSSTask:
    """Stage 2 (``use_prior=True``) or end-to-end AVSS (``use_prior=False``) on the 71 AVSBench classes."""

    criterion: SetCriterion
    use_prior: bool = True
    eval_prior: str = "dataset"  # "dataset" (stage-1 priors from the prior folder) | "gt" (oracle)
    num_classes: int = 71
    kind: str = "aavs-stage2"
    monitor: str = "miou"
    extra_metrics: dict[str, float] = field(default_factory=dict)
    class_set: tuple[int, ...] | None = (
        None  # the benchmark's label space (data.benchmark_classes); None: all
    )
    train_prior: str = "gt"  # "gt" (the paper) | "stage1" | "mixed" (DEVIATIONS): see the module docstring
    gate: str | None = None  # None | "dataset" | "gt": a mask applied *after the fact* (the payoff ladder)

    def __post_init__(self) -> None:
        if self.train_prior not in TRAIN_PRIORS:
            raise ValueError(f"train_prior must be one of {TRAIN_PRIORS}, got {self.train_prior!r}")
        if self.gate not in (None, "dataset", "gt"):
            raise ValueError(f"gate must be None, 'dataset' or 'gt', got {self.gate!r}")

    def _prior(self, batch: dict[str, Any], training: bool) -> torch.Tensor | None:
        if not self.use_prior:
            return None
        if training and self.train_prior != "gt":
            if "prior" not in batch:
                raise KeyError(
                    f"train_prior={self.train_prior!r} needs the train set built with prior_root=..."
                )
            stage1 = batch["prior"].float()  # [B, T, H, W]
            if self.train_prior == "mixed":  # one coin per clip, from the seeded global RNG (resumable)
                coin = torch.rand(stage1.shape[0], device=stage1.device) < 0.5  # [B]
                stage1 = torch.where(coin[:, None, None, None], stage1, batch["labels"].gt(0).float())
            return stage1.flatten(0, 1)  # [N, H, W]
        source = "gt" if training else self.eval_prior  # ground truth M during training (teacher forcing)
        return _mask(batch, source, "evaluation with stage-1 priors")

    def loss(self, model: nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        outputs = model(_flat(batch, "frames"), _flat(batch, "log_mel"), self._prior(batch, training=True))
        index = _flat(batch, "valid").nonzero().squeeze(1)
        targets = targets_from_labels(_flat(batch, "labels")[index], self.num_classes)
        losses = self.criterion(select_frames(outputs, index), targets)
        return losses["loss"], _loss_logs(losses)

    @torch.no_grad()
    def scores(self, model: nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        """Per-pixel class scores ``[N, C, H, W]`` at the label size (:func:`~.predict.predict`).

        With ``gate``, every pixel outside the mask (the clip's stage-1 prior, or the ground-truth foreground)
        becomes background: a mask used after the fact instead of as the model's input, the ladder's middle
        rung.
        """
        scores = predict(model, batch, self._prior(batch, training=False), output="scores")  # [N, C, H, W]
        if self.gate is None:
            return scores
        keep = _mask(batch, self.gate, "gate='dataset'") > 0.5  # [N, H, W], the mask a prior would be
        background = torch.zeros_like(scores)
        background[:, 0] = 1.0  # [N, C, H, W], all mass on background
        return torch.where(keep.to(scores.device)[:, None], scores, background)

    @torch.no_grad()
    def predict(self, model: nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        """Class map ``[N, H, W]``: the argmax of :meth:`scores`."""
        return self.scores(model, batch).argmax(1)

    def evaluate(self, model: nn.Module, batches: Iterator[dict[str, Any]]) -> dict[str, float]:
        semantic, binary = SemanticMeter(num_classes=self.num_classes), BinaryMeter()
        mechanism = MechanismMeter()  # split loss and pooled-foreground localisation (metrics/mechanism.py)
        present = torch.zeros(self.num_classes, dtype=torch.bool)  # classes in the GT of this split
        for batch in batches:
            scores = self.scores(model, batch)  # [N, C, H, W]
            pred = scores.argmax(1)  # [N, H, W]
            valid = _flat(batch, "valid")
            labels = _flat(batch, "labels")
            mechanism.update(scores[valid], labels[valid])
            present |= (
                torch.bincount(labels[valid].flatten().cpu(), minlength=self.num_classes)[: self.num_classes]
                > 0
            )
            semantic.update(pred[valid], labels[valid])
            collapsed = torch.where(pred[valid] > 0, 1.0, -1.0)  # any class != background, as binary logits
            binary.update(collapsed, (labels[valid] > 0).float())
        stats = semantic.compute()
        result = {k: float(v) for k, v in stats.items() if isinstance(v, (int, float))}
        # the official mean runs over all 71 classes; on a benchmark with fewer classes the mean over the
        # classes present in the split's GT is the readable number (same ordering, larger scale)
        if present.any():
            result["miou_present"] = float(torch.as_tensor(stats["iou_per_class"])[present].mean())
            result["fscore_present"] = float(torch.as_tensor(stats["f_per_class"])[present].mean())
            result["classes_present"] = int(present.sum())
        # the official formula over the benchmark's own label space (all 71 on AVSBench, 18 on the synthetic
        # set)
        classes = torch.as_tensor(
            self.class_set if self.class_set else range(self.num_classes), dtype=torch.long
        )
        result["miou_benchmark"] = float(torch.as_tensor(stats["iou_per_class"])[classes].mean())
        result["fscore_benchmark"] = float(torch.as_tensor(stats["f_per_class"])[classes].mean())
        result["classes_benchmark"] = int(classes.numel())
        result.update(
            {f"binary_{k}": float(v) for k, v in binary.compute().items() if isinstance(v, (int, float))}
        )
        result.update(mechanism.compute())
        return result


@dataclass
class TPAVITask(AVSSTask):
    """The TPAVI-style baseline (per-pixel class logits, softmax CE), end to end or with a stage-1 prior.

    The paper's Tab. 2 adds the stage-1 mask to existing methods' prediction heads; here the prior enters the
    baseline's head (``build_tpavi(..., use_prior=True)``). Scored exactly like :class:`AVSSTask`.
    """

    criterion: Any = None
    kind: str = "tpavi"

    def loss(self, model: nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        import torch.nn.functional as F

        logits = model(_flat(batch, "frames"), _flat(batch, "log_mel"), self._prior(batch, training=True))[
            "sem_logits"
        ]
        labels = _flat(batch, "labels")  # [N, H, W]
        if logits.shape[-2:] != labels.shape[-2:]:
            logits = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=False)
        index = _flat(batch, "valid").nonzero().squeeze(1)
        loss = F.cross_entropy(logits[index], labels[index])
        return loss, {"loss_ce": float(loss.detach())}
