"""Exact AVSBench AVSS metrics: per-class mIoU and F over the 71 classes (see :mod:`.exact` for the sources).

Semantic (AVSS), per frame and class c (prediction = argmax of softmax over the class dimension, ties → lowest
index): I, P = #pred==c, L = #gt==c, U = P + L − I; IoU = I/(U + 2.22e-16); the frame "counts" for c when
U > 0; F = 1.3·(I/P)·(I/L)/(0.3·(I/P) + I/L) with NaN → 0. Sums of IoU, F and counts run over all frames;
class score = sum/count (0 when count is 0); mIoU/F = mean over **all** classes incl. background and classes
never seen (they score 0). See :class:`SemanticMeter` for the padded-frame convention.
"""

from __future__ import annotations

from typing import Any

import torch

from .exact import BETA2, _as_aux, _as_tensor, _at_least, _float_scores

__all__ = ["semantic_prediction", "semantic_frame_stats", "SemanticMeter", "binarize_semantic"]

SEM_EPS = 2.220446049250313e-16  # added to the union in the semantic IoU (numpy float64 eps)
_SOFTMAX_CHUNK = 8  # frames per softmax chunk in SemanticMeter (caps memory at [8, C, H, W])


def semantic_prediction(logits: torch.Tensor) -> torch.Tensor:
    """Official class map: ``argmax(softmax(logits, dim=1), dim=1)`` (ties → lowest class index).

    Args:
        logits: ``[N, C, H, W]`` class scores.
    Returns:
        ``[N, H, W]`` int64 class indices.
    """
    logits = _float_scores(_as_tensor(logits, "logits", "semantic_prediction"))
    if logits.dim() != 4:
        raise ValueError(f"semantic_prediction: logits must be [N, C, H, W], got {tuple(logits.shape)}")
    out = [torch.softmax(chunk, dim=1).argmax(dim=1) for chunk in logits.split(_SOFTMAX_CHUNK)]
    return torch.cat(out) if out else logits.new_zeros((0,) + tuple(logits.shape[2:]), dtype=torch.long)


def _labels(x: Any, name: str, fn: str, num_classes: int) -> torch.Tensor:
    x = _as_tensor(x, name, fn)
    if x.dtype == torch.bool:
        x = x.long()
    if x.is_floating_point():
        if x.numel() and not bool((x == x.round()).all()):
            raise ValueError(f"{fn}: {name} must hold integer class indices, got non-integer values")
        x = x.long()
    x = x.long()
    if x.numel() and (x.min() < 0 or x.max() >= num_classes):
        raise ValueError(
            f"{fn}: {name} values must lie in [0, {num_classes - 1}], got range "
            f"[{x.min().item()}, {x.max().item()}]"
        )
    return x


def _semantic_pair(pred: Any, labels: Any, num_classes: int, fn: str) -> tuple[torch.Tensor, torch.Tensor]:
    pred = _as_tensor(pred, "pred", fn)
    labels_t = _as_tensor(labels, "labels", fn)
    if labels_t.dim() != 3:
        raise ValueError(f"{fn}: labels must be [N, H, W], got shape {tuple(labels_t.shape)}")
    if pred.dim() == 4 and pred.is_floating_point():
        if pred.shape[1] != num_classes:
            raise ValueError(f"{fn}: logits have {pred.shape[1]} classes, the meter expects {num_classes}")
        if (pred.shape[0],) + tuple(pred.shape[2:]) != tuple(labels_t.shape):
            raise ValueError(
                f"{fn}: logits shape {tuple(pred.shape)} does not match labels shape "
                f"{tuple(labels_t.shape)} (expected [N, C, H, W] vs [N, H, W])"
            )
        pred = semantic_prediction(pred)
    elif pred.dim() == 3 and not pred.is_floating_point():
        if tuple(pred.shape) != tuple(labels_t.shape):
            raise ValueError(
                f"{fn}: predicted labels shape {tuple(pred.shape)} does not match labels shape "
                f"{tuple(labels_t.shape)}"
            )
    else:
        raise ValueError(
            f"{fn}: pred must be float logits [N, C, H, W] or integer class maps [N, H, W], got "
            f"{pred.dtype} {tuple(pred.shape)}"
        )
    pred = _labels(pred, "pred", fn, num_classes)
    labels_t = _labels(labels_t, "labels", fn, num_classes).to(pred.device)
    return pred, labels_t


def semantic_frame_stats(
    pred: torch.Tensor, labels: torch.Tensor, num_classes: int = 71
) -> dict[str, torch.Tensor]:
    """Per-frame, per-class official AVSS statistics (vectorised ``_batch_miou_fscore``).

    Args:
        pred: ``[N, C, H, W]`` logits or ``[N, H, W]`` integer class map.
        labels: ``[N, H, W]`` GT class indices in ``[0, num_classes)``.
        num_classes: C (71 for AVSBench-semantic, background = 0).
    Returns:
        dict of CPU float32 ``[N, C]`` tensors ``inter``, ``pred_area``, ``label_area``, ``union``, ``iou``,
        ``fscore`` and bool ``present`` (U > 0).
    """
    p, g = _semantic_pair(pred, labels, num_classes, "semantic_frame_stats")
    n, c = p.shape[0], num_classes
    offs = (torch.arange(n, device=p.device) * c).view(n, 1, 1)  # [N, 1, 1]
    size = n * c

    def hist(x: torch.Tensor) -> torch.Tensor:
        return torch.bincount(x.reshape(-1), minlength=size).reshape(n, c).to(torch.float32).cpu()  # [N, C]

    area_pred = hist(p + offs)
    area_lab = hist(g + offs)
    hit = p == g  # [N, H, W]
    area_inter = hist((p + offs)[hit])
    area_union = area_pred + area_lab - area_inter
    iou = 1.0 * area_inter / (SEM_EPS + area_union)  # [N, C]
    precision = area_inter / area_pred  # no eps: 0/0 -> NaN
    recall = area_inter / area_lab
    fscore = (1 + BETA2) * precision * recall / (BETA2 * precision + recall)
    fscore[torch.isnan(fscore)] = 0.0
    return {
        "inter": area_inter,
        "pred_area": area_pred,
        "label_area": area_lab,
        "union": area_union,
        "iou": iou,
        "fscore": fscore,
        "present": area_union > 0,
    }


class SemanticMeter:
    """Dataset-level AVSS mIoU / F (official AVSBench ``avss/test.py`` accumulation).

    :meth:`update` takes one evaluation batch: logits ``[N, C, H, W]`` (argmax of softmax, as official) or an
    already-argmaxed integer map ``[N, H, W]``, and GT labels ``[N, H, W]``. The result does not depend on how
    frames are split into calls, except for float32 rounding: the official code sums frames of a batch from
    zero and then adds the batch sum to the running total — one call per official batch reproduces that
    bit for bit.

    Padded frames. The official loaders pad every clip to T = 10: a 5-frame v1s/v1m clip gets 5 black frames
    with zero audio and all-background labels, and the official test loop scores them (4,020 extra test
    frames). Stepping Stones and COMBO score real frames only.

    * ``include_padded=False`` (default, Stepping Stones/COMBO): frames flagged ``frame_valid=False`` in
      :meth:`update` are dropped, and :meth:`add_padded_frames` does nothing.
    * ``include_padded=True`` (AVSBench/AVSegFormer): frames flagged ``frame_valid=False`` are scored like any
      other frame (their labels must be all background and the prediction is whatever the model produced
      on the black frame), and :meth:`add_padded_frames` scores ``n`` padding frames for callers that never
      ran the model on them: all-background GT, with the given prediction or, by default, an all-background
      prediction (each such frame adds background IoU 1, F 1 and count 1, nothing else).

    Args:
        num_classes: C including background (71).
        include_padded: score padded frames (see above).
    """

    def __init__(self, num_classes: int = 71, include_padded: bool = False) -> None:
        self.num_classes = _at_least(num_classes, 2, "num_classes", "SemanticMeter")
        self.include_padded = bool(include_padded)
        self.reset()

    def reset(self) -> None:
        c = self.num_classes
        self.iou_sum = torch.zeros(c, dtype=torch.float32)
        self.f_sum = torch.zeros(c, dtype=torch.float32)
        self.count = torch.zeros(c, dtype=torch.float32)
        self.num_frames = 0
        self.num_padded_frames = 0

    def update(
        self, pred: torch.Tensor, labels: torch.Tensor, frame_valid: torch.Tensor | None = None
    ) -> None:
        """Add one batch of frames.

        Args:
            pred: ``[N, C, H, W]`` float logits or ``[N, H, W]`` integer predicted classes.
            labels: ``[N, H, W]`` GT class indices.
            frame_valid: optional ``[N]`` bool; False marks padded frames (``vid_temporal_mask_flag``).
        """
        fn = "SemanticMeter.update"
        pred = _as_tensor(pred, "pred", fn)
        labels = _as_tensor(labels, "labels", fn)
        n = labels.shape[0] if labels.dim() else 0
        if frame_valid is not None:
            fv = _as_aux(frame_valid, "frame_valid", fn).to(torch.bool).reshape(-1).cpu()
            if fv.numel() != n or pred.shape[0] != n:
                raise ValueError(
                    f"{fn}: frame_valid has {fv.numel()} entries for {n} label frames and "
                    f"{pred.shape[0] if pred.dim() else 0} predicted frames"
                )
            if not self.include_padded:
                keep = torch.nonzero(fv).flatten()
                pred, labels = pred[keep.to(pred.device)], labels[keep.to(labels.device)]
            else:
                pad = ~fv
                if bool(pad.any()):
                    pl = _labels(labels[pad.to(labels.device)], "labels", fn, self.num_classes)
                    if bool((pl != 0).any()):
                        raise ValueError(
                            f"{fn}: padded frames (frame_valid=False) must have all-background labels"
                        )
                self.num_padded_frames += int(pad.sum())
        if labels.shape[0] == 0:
            return
        self._accumulate(semantic_frame_stats(pred, labels, self.num_classes))

    def _accumulate(self, st: dict[str, torch.Tensor]) -> None:
        c = self.num_classes
        ious, fs, cnt = torch.zeros(c), torch.zeros(c), torch.zeros(c)  # official per-batch sums (float32)
        for i in range(st["iou"].shape[0]):
            ious += st["iou"][i]
            fs += st["fscore"][i]
            cnt += st["present"][i].to(torch.float32)
        self.iou_sum += ious
        self.f_sum += fs
        self.count += cnt
        self.num_frames += st["iou"].shape[0]

    def add_padded_frames(self, n: int, pred: torch.Tensor | None = None) -> None:
        """Score ``n`` padding frames (all-background GT) when ``include_padded`` is True; no-op otherwise.

        Args:
            n: number of padded frames (e.g. 5 per 5-frame clip).
            pred: the model's prediction on them (``[n, C, H, W]`` logits or ``[n, H, W]`` labels); None
                means an all-background prediction.
        """
        if not self.include_padded or n <= 0:
            return
        if pred is None:
            pred = torch.zeros((n, 1, 1), dtype=torch.long)
            labels = pred.clone()
        else:
            pred = _as_tensor(pred, "pred", "SemanticMeter.add_padded_frames")
            shape = (pred.shape[0],) + tuple(pred.shape[2:] if pred.dim() == 4 else pred.shape[1:])
            if pred.shape[0] != n:
                raise ValueError(f"SemanticMeter.add_padded_frames: pred has {pred.shape[0]} frames, n = {n}")
            labels = torch.zeros(shape, dtype=torch.long, device=pred.device)
        self._accumulate(semantic_frame_stats(pred, labels, self.num_classes))
        self.num_padded_frames += n

    def compute(self) -> dict[str, Any]:
        """Return ``miou``, ``fscore`` (means over all C classes, background included, unseen classes = 0),
        ``miou_nb``/``fscore_nb`` (classes 1..C-1, Stepping Stones),
        ``miou_nb_official``/``fscore_nb_official``
        (AVSBench's ``x[:-1]``, which drops the *last* class, not background), per-class numpy arrays
        ``iou_per_class``, ``f_per_class``, ``count_per_class``, plus ``classes_seen``, ``num_frames``,
        ``num_padded_frames``."""
        miou_pc = self.iou_sum / self.count  # [C]; 0/0 -> NaN
        miou_pc[torch.isnan(miou_pc)] = 0
        f_pc = self.f_sum / self.count
        f_pc[torch.isnan(f_pc)] = 0
        return {
            "miou": float(torch.mean(miou_pc).item()),
            "fscore": float(torch.mean(f_pc).item()),
            "miou_nb": float(torch.mean(miou_pc[1:]).item()),
            "fscore_nb": float(torch.mean(f_pc[1:]).item()),
            "miou_nb_official": float(torch.mean(miou_pc[:-1]).item()),
            "fscore_nb_official": float(torch.mean(f_pc[:-1]).item()),
            "iou_per_class": miou_pc.double().numpy(),
            "f_per_class": f_pc.double().numpy(),
            "count_per_class": self.count.long().numpy(),
            "classes_seen": int((self.count > 0).sum()),
            "num_frames": self.num_frames,
            "num_padded_frames": self.num_padded_frames,
        }


def binarize_semantic(pred_labels: torch.Tensor) -> torch.Tensor:
    """Foreground = any class other than background (0). ``[N, H, W]`` int → ``[N, H, W]`` bool.

    The result can be passed to :func:`mask_iou` / :class:`BinaryMeter` as a hard "logit" (see
    :func:`binary_prediction`) to compare a stage-2 model with stage 1 on the binary task.
    """
    x = _as_tensor(pred_labels, "pred_labels", "binarize_semantic")
    if x.is_floating_point():
        raise ValueError(
            "binarize_semantic: expects integer class maps; argmax logits first (semantic_prediction)"
        )
    return x != 0
