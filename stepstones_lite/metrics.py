"""Exact AVSBench metrics (S4/MS3 mIoU and max-F, AVSS per-class mIoU and F) plus diagnostics.

The numbers in the Stepping Stones paper (Tab. 1, §4.1) and in AVSBench come from the official AVSBench
evaluation code; this module re-implements it so that identical inputs give identical values (to float32
rounding). Semantics were read from OpenNLPLab/AVSBench ``avs_scripts/avs_s4/utils/utility.py``
(``mask_iou``, ``_eval_pr``, ``Eval_Fmeasure``), ``avs_scripts/avs_s4/test.py`` + ``utils/pyutils.py``
(``AverageMeter``) and ``avs_scripts/avss/utils/compute_color_metrics.py`` + ``avs_scripts/avss/test.py``
(``_batch_miou_fscore``); the code here is our own, vectorised (thresholds via ``searchsorted`` +
``bincount`` instead of a 255-step loop, per-class histograms via ``bincount`` instead of ``histc``).
The "no-background" variants follow Stepping Stones' ``avss/utils/cal_color_metric.py`` (drop class 0).

Binary (S4 / MS3), per batch of N frames (logits ``[N,H,W]``, GT ``{0,1}`` ``[N,H,W]``):

* :func:`mask_iou`: prediction = ``sigmoid(logit) > 0.5`` (strict, computed in the logits' dtype: a logit
  of exactly 0 is background; mathematically "logit > 0", for |logit| below ~1e-7 float rounding of the
  sigmoid decides, exactly as in the official code). Per frame IoU = inter / (union + 1e-7); a frame with an
  empty GT scores its true negatives instead (inter = #both-background, union = H·W). Batch value = the sum
  of frame IoUs / N, in float32.
* :func:`f_measure`: S = sigmoid(logit); 255 thresholds ``torch.linspace(0, 1-1e-10, 255)`` in float32 (the
  last one is exactly 1.0); positive = ``S >= t``; precision = TP/(#pos + 1e-20), recall = TP/(#GT + 1e-20);
  F = 1.3·P·R/(0.3·P + R) (β² = 0.3), NaN → 0. Frames whose GT is all zero are skipped; the F curves of the
  remaining frames are averaged and the **max over thresholds is taken per batch** (so the value depends on
  the batch size). A batch without a non-empty GT frame scores 0.0.
* :class:`BinaryMeter`: dataset value = plain mean of the per-batch values (``AverageMeter``); the mIoU
  mean is accumulated in float32 as the official code does (its batch values are float32 tensors), F in
  float64.

Semantic (AVSS), per frame and class c (prediction = argmax of softmax over the class dimension, ties → lowest
index): I, P = #pred==c, L = #gt==c, U = P + L − I; IoU = I/(U + 2.22e-16); the frame "counts" for c when
U > 0; F = 1.3·(I/P)·(I/L)/(0.3·(I/P) + I/L) with NaN → 0. Sums of IoU, F and counts run over all frames;
class score = sum/count (0 when count is 0); mIoU/F = mean over **all** classes incl. background and classes
never seen (they score 0). See :class:`SemanticMeter` for the padded-frame convention.

Diagnostics (:class:`FrameTypeMeter`, :func:`binary_diagnostics`) are ours, not AVSBench's: the binary mIoU
scores silent frames by their true negatives and so hides whether a model uses sound (feasibility.md §3.2).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import torch

__all__ = [
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

BETA2 = 0.3  # F-measure β² of AVSBench
IOU_EPS = 1e-7  # added to the union in the binary IoU
F_EPS = 1e-20  # added to both denominators of the binary precision/recall
SEM_EPS = 2.220446049250313e-16  # added to the union in the semantic IoU (numpy float64 eps)
_SOFTMAX_CHUNK = 8  # frames per softmax chunk in SemanticMeter (caps memory at [8, C, H, W])


# --------------------------------------------------------------------------------------------- validation
def _as_tensor(x: Any, name: str, fn: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach()
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    raise TypeError(f"{fn}: {name} must be a torch.Tensor or numpy array, got {type(x).__name__}")


def _as_aux(x: Any, name: str, fn: str) -> torch.Tensor:
    """Small per-frame arguments (flags, counts) may also be lists."""
    if isinstance(x, (list, tuple)):
        try:
            return torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"{fn}: {name} could not be read as a tensor ({err})") from None
    return _as_tensor(x, name, fn)


def _float_scores(x: torch.Tensor) -> torch.Tensor:
    """Keep float32/float64 as given (the official code computes in the input dtype); others → float32."""
    if x.dtype in (torch.float32, torch.float64):
        return x
    return x.to(torch.float32)


def _binary_pair(logits: Any, target: Any, fn: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate ``[N,H,W]`` logits and a [0, 1] target of the same shape; return (scores, float target)."""
    logits = _as_tensor(logits, "logits", fn)
    target = _as_tensor(target, "target", fn)
    if logits.dim() != 3:
        raise ValueError(f"{fn}: logits must be [N, H, W] (squeeze a channel dim first), got shape "
                         f"{tuple(logits.shape)}")
    if tuple(target.shape) != tuple(logits.shape):
        raise ValueError(f"{fn}: target shape {tuple(target.shape)} does not match logits shape "
                         f"{tuple(logits.shape)}")
    if logits.shape[0] == 0:
        raise ValueError(f"{fn}: empty batch (N = 0)")
    if target.device != logits.device:
        target = target.to(logits.device)
    target = target.to(torch.float32) if not target.is_floating_point() else _float_scores(target)
    if target.numel() and (target.min() < 0 or target.max() > 1):
        raise ValueError(f"{fn}: target values must lie in [0, 1] (binary masks), got range "
                         f"[{target.min().item():g}, {target.max().item():g}]; "
                         "a 0/255 mask needs (mask > 0)")
    return _float_scores(logits), target


# --------------------------------------------------------------------------------------------- binary
def binary_prediction(logits: torch.Tensor) -> torch.Tensor:
    """The official hard mask: ``sigmoid(logits) > 0.5`` in the logits' dtype (bool, same shape).

    A bool / 0-1 mask passed as "logits" maps to itself (sigmoid(1) > 0.5, sigmoid(0) = 0.5 is not), which is
    how AVSBench's ``calc_binary_miou`` scores hard predictions.
    """
    return torch.sigmoid(_float_scores(_as_tensor(logits, "logits", "binary_prediction"))) > 0.5


def frame_iou(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Official per-frame IoU (empty GT → fraction of pixels predicted background).

    Args:
        logits: ``[N, H, W]`` mask logits (or a bool/0-1 hard mask, see :func:`binary_prediction`).
        target: ``[N, H, W]`` GT in {0, 1} (bool, int or float).
    Returns:
        ``[N]`` IoUs in the dtype of the official computation (float32 for float32 inputs).
    """
    scores, tgt = _binary_pair(logits, target, "frame_iou")
    n, h, w = scores.shape
    pred = (torch.sigmoid(scores) > 0.5).to(tgt.dtype)  # [N, H, W] in {0, 1}
    inter = (pred * tgt).sum(dim=(1, 2))  # [N]
    psum, gsum = pred.sum(dim=(1, 2)), tgt.sum(dim=(1, 2))  # [N], [N]
    union = psum + gsum - inter  # = sum(max(pred, tgt)) for pred in {0, 1}, tgt in [0, 1]
    empty = gsum == 0  # [N]
    inter = torch.where(empty, h * w - psum, inter)  # empty GT: true negatives
    union = torch.where(empty, torch.full_like(union, h * w), union)
    return inter / (union + IOU_EPS)  # [N]


def mask_iou(logits: torch.Tensor, target: torch.Tensor) -> float:
    """Official AVSBench per-batch mIoU ("J") of N frames: ``sum(frame_iou) / N`` (see module docstring).

    Args:
        logits: ``[N, H, W]`` mask logits (N = all frames of the batch, e.g. 4 clips × 5 frames).
        target: ``[N, H, W]`` binary GT.
    Returns:
        the batch mIoU as a Python float (value of the official float32 tensor).
    """
    ious = frame_iou(logits, target)  # [N]
    return float((torch.sum(ious) / ious.shape[0]).item())


def f_measure_curves(logits: torch.Tensor, target: torch.Tensor,
                     num_thresholds: int = 255) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame F curves over the official thresholds (vectorised ``_eval_pr``).

    Args:
        logits: ``[N, H, W]`` mask logits.
        target: ``[N, H, W]`` binary GT.
        num_thresholds: number of thresholds in ``linspace(0, 1 - 1e-10)``.
    Returns:
        ``(curves [N, num_thresholds] float32 on CPU, valid [N] bool)``; ``valid`` is False for all-zero GT
        frames (which the official F skips; their curve is computed anyway).
    """
    scores, tgt = _binary_pair(logits, target, "f_measure")
    if num_thresholds < 1:
        raise ValueError(f"f_measure: num_thresholds must be >= 1, got {num_thresholds}")
    n = scores.shape[0]
    s = torch.sigmoid(scores)  # [N, H, W]
    th = torch.linspace(0, 1 - 1e-10, num_thresholds).to(device=s.device, dtype=s.dtype)  # [K] float32 values
    # number of thresholds t with s >= t; pixel is positive at threshold k  <=>  idx > k
    flat_s = s.reshape(n, -1).contiguous()  # [N, HW]
    idx = torch.searchsorted(th, flat_s, right=True)  # [N, HW] in 0..K
    idx = torch.where(torch.isnan(flat_s), torch.zeros_like(idx), idx)  # NaN >= t is False everywhere
    k1 = num_thresholds + 1
    flat = (idx + torch.arange(n, device=s.device).unsqueeze(1) * k1).reshape(-1)  # [N*HW]
    # histograms on the input's device (exact: binary weights, < 2**24 px per frame), sums on CPU in float64
    pos_hist = torch.bincount(flat, minlength=n * k1).reshape(n, k1).cpu().double()  # [N, K+1]
    tp_hist = torch.bincount(flat, weights=tgt.reshape(-1), minlength=n * k1).reshape(n, k1).cpu().double()
    # counts of pixels with idx > k  =  reverse cumulative sum starting at k + 1
    pos = pos_hist.flip(1).cumsum(1).flip(1)[:, 1:]  # [N, K]
    tp = tp_hist.flip(1).cumsum(1).flip(1)[:, 1:]  # [N, K]
    # the official sums are float32 (or the target's dtype); the division runs in the promoted dtype
    work = torch.promote_types(torch.float32, tgt.dtype)
    gsum = tgt.sum(dim=(1, 2)).cpu().to(work).unsqueeze(1)  # [N, 1]
    tp_w, pos_f32 = tp.to(work), pos.to(torch.float32)
    prec = (tp_w / ((pos_f32 + F_EPS).to(work))).to(torch.float32)  # [N, K]
    rec = (tp_w / (gsum + F_EPS)).to(torch.float32)  # [N, K]
    f = (1 + BETA2) * prec * rec / (BETA2 * prec + rec)  # [N, K]
    f = torch.where(torch.isnan(f), torch.zeros_like(f), f)  # 0/0 (P = R = 0) -> 0
    valid = (torch.mean(tgt, dim=(1, 2)) != 0.0).cpu()  # [N]
    return f, valid


def f_measure(logits: torch.Tensor, target: torch.Tensor, num_thresholds: int = 255) -> float:
    """Official AVSBench per-batch F-score ("F", β² = 0.3): max over thresholds of the batch-mean F curve.

    Batch-size dependent by construction. Frames with an all-zero GT are skipped; a batch with no other frame
    scores 0.0 (and that 0 is averaged into the dataset value by :class:`BinaryMeter`).

    Args:
        logits: ``[N, H, W]`` mask logits (all frames of one evaluation batch).
        target: ``[N, H, W]`` binary GT.
        num_thresholds: thresholds in ``linspace(0, 1 - 1e-10)`` (official: 255).
    Returns:
        the batch F-score as a Python float.
    """
    curves, valid = f_measure_curves(logits, target, num_thresholds)
    if not bool(valid.any()):
        return 0.0
    total = None  # official: running float32 sum in frame order, then / number of valid frames
    for i in torch.nonzero(valid).flatten().tolist():
        total = curves[i].clone() if total is None else total + curves[i]
    return float((total / int(valid.sum())).max().item())


class BinaryMeter:
    """Dataset-level S4/MS3 mIoU and F, reproducing ``test.py`` + ``AverageMeter``.

    Call :meth:`update` once per clip (``[T, H, W]``) or with several clips (``[B, T, H, W]``), in dataset
    order.
    Clips are grouped into evaluation batches of ``batch_videos`` clips (the official ``test_batch_size``:
    AVSBench ``test.sh`` uses 4, AVSegFormer 2, Stepping Stones and COMBO 1); the last batch may be smaller,
    as with a DataLoader without ``drop_last``. Each batch gets :func:`mask_iou` and :func:`f_measure` over
    all its frames; the dataset value is the mean over batches. (Equivalently, with ``batch_videos=1`` each
    call's frames form one batch: passing a flattened evaluation batch ``[B*T, H, W]`` per call scores it
    exactly as the official loop scores that batch.)

    Args:
        batch_videos: clips per evaluation batch (1 = the Stepping Stones protocol).
        num_thresholds: F thresholds (official 255).
    """

    def __init__(self, batch_videos: int = 1, num_thresholds: int = 255) -> None:
        if int(batch_videos) < 1:
            raise ValueError(f"BinaryMeter: batch_videos must be >= 1, got {batch_videos}")
        self.batch_videos = int(batch_videos)
        self.num_thresholds = int(num_thresholds)
        self.reset()

    def reset(self) -> None:
        self._pending: list[tuple[torch.Tensor, torch.Tensor]] = []  # clips of the open batch
        self.batch_miou: list[torch.Tensor] = []  # float32 0-dim tensors, as the official batch values
        self.batch_fscore: list[float] = []
        self.num_clips = 0
        self.num_frames = 0

    def update(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        """Add one clip ``[T, H, W]`` or B clips ``[B, T, H, W]`` (logits and binary GT of equal shape)."""
        logits = _as_tensor(logits, "logits", "BinaryMeter.update")
        target = _as_tensor(target, "target", "BinaryMeter.update")
        if tuple(logits.shape) != tuple(target.shape):
            raise ValueError(f"BinaryMeter.update: target shape {tuple(target.shape)} does not match logits "
                             f"shape {tuple(logits.shape)}")
        if logits.dim() == 3:
            logits, target = logits.unsqueeze(0), target.unsqueeze(0)
        if logits.dim() != 4:
            raise ValueError("BinaryMeter.update: expected one clip [T, H, W] or clips [B, T, H, W], "
                             f"got shape {tuple(logits.shape)}")
        for b in range(logits.shape[0]):
            _binary_pair(logits[b], target[b], "BinaryMeter.update")  # validate early, clear message
            self._pending.append((logits[b], target[b]))
            self.num_clips += 1
            self.num_frames += logits.shape[1]
            if len(self._pending) == self.batch_videos:
                self._close_batch()

    def _batch_values(self, clips: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, float]:
        lg = torch.cat([c[0] for c in clips])  # [N, H, W]
        gt = torch.cat([c[1] for c in clips])  # [N, H, W]
        ious = frame_iou(lg, gt)  # [N]
        return (torch.sum(ious) / ious.shape[0]).cpu(), f_measure(lg, gt, self.num_thresholds)

    def _close_batch(self) -> None:
        miou, f = self._batch_values(self._pending)
        self.batch_miou.append(miou)
        self.batch_fscore.append(f)
        self._pending = []

    def compute(self) -> dict[str, Any]:
        """Return ``miou``, ``fscore`` (dataset values), ``num_batches``, ``num_clips``, ``num_frames`` and
        the per-batch lists ``batch_miou`` / ``batch_fscore``. A partly filled last batch is included (and
        stays open for further clips)."""
        mious, fs = list(self.batch_miou), list(self.batch_fscore)
        if self._pending:
            m, f = self._batch_values(self._pending)
            mious.append(m)
            fs.append(f)
        if not mious:
            raise ValueError("BinaryMeter.compute: no clips were added")
        acc = None  # AverageMeter: 0.0 + float32 tensor, then float32 additions, then / count
        for m in mious:
            acc = m.to(torch.float32) if acc is None else acc + m
        f_acc = 0.0
        for f in fs:
            f_acc += f
        return {
            "miou": float((acc / len(mious)).item()),
            "fscore": f_acc / len(fs),
            "num_batches": len(mious),
            "num_clips": self.num_clips,
            "num_frames": self.num_frames,
            "batch_miou": [float(m.item()) for m in mious],
            "batch_fscore": fs,
        }


# --------------------------------------------------------------------------------------------- semantic
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
        raise ValueError(f"{fn}: {name} values must lie in [0, {num_classes - 1}], got range "
                         f"[{x.min().item()}, {x.max().item()}]")
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
            raise ValueError(f"{fn}: logits shape {tuple(pred.shape)} does not match labels shape "
                             f"{tuple(labels_t.shape)} (expected [N, C, H, W] vs [N, H, W])")
        pred = semantic_prediction(pred)
    elif pred.dim() == 3 and not pred.is_floating_point():
        if tuple(pred.shape) != tuple(labels_t.shape):
            raise ValueError(f"{fn}: predicted labels shape {tuple(pred.shape)} does not match labels shape "
                             f"{tuple(labels_t.shape)}")
    else:
        raise ValueError(f"{fn}: pred must be float logits [N, C, H, W] or integer class maps [N, H, W], got "
                         f"{pred.dtype} {tuple(pred.shape)}")
    pred = _labels(pred, "pred", fn, num_classes)
    labels_t = _labels(labels_t, "labels", fn, num_classes).to(pred.device)
    return pred, labels_t


def semantic_frame_stats(pred: torch.Tensor, labels: torch.Tensor,
                         num_classes: int = 71) -> dict[str, torch.Tensor]:
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
    return {"inter": area_inter, "pred_area": area_pred, "label_area": area_lab, "union": area_union,
            "iou": iou, "fscore": fscore, "present": area_union > 0}


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
        if int(num_classes) < 2:
            raise ValueError(f"SemanticMeter: num_classes must be >= 2, got {num_classes}")
        self.num_classes = int(num_classes)
        self.include_padded = bool(include_padded)
        self.reset()

    def reset(self) -> None:
        c = self.num_classes
        self.iou_sum = torch.zeros(c, dtype=torch.float32)
        self.f_sum = torch.zeros(c, dtype=torch.float32)
        self.count = torch.zeros(c, dtype=torch.float32)
        self.num_frames = 0
        self.num_padded_frames = 0

    def update(self, pred: torch.Tensor, labels: torch.Tensor,
               frame_valid: torch.Tensor | None = None) -> None:
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
                raise ValueError(f"{fn}: frame_valid has {fv.numel()} entries for {n} label frames and "
                                 f"{pred.shape[0] if pred.dim() else 0} predicted frames")
            if not self.include_padded:
                keep = torch.nonzero(fv).flatten()
                pred, labels = pred[keep.to(pred.device)], labels[keep.to(labels.device)]
            else:
                pad = ~fv
                if bool(pad.any()):
                    pl = _labels(labels[pad.to(labels.device)], "labels", fn, self.num_classes)
                    if bool((pl != 0).any()):
                        raise ValueError(f"{fn}: padded frames (frame_valid=False) must have all-background "
                                         "labels")
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
        raise ValueError("binarize_semantic: expects integer class maps; argmax logits first "
                         "(semantic_prediction)")
    return x != 0


# --------------------------------------------------------------------------------------------- diagnostics
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

    def update(self, logits: torch.Tensor, target: torch.Tensor, num_sources: Any = None,
               instances: Sequence[Mapping[str, Any]] | None = None) -> None:
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
    def _instances(instances: Sequence[Mapping[str, Any]] | None, shape: tuple[int, int, int],
                   fn: str) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        if instances is None or len(instances) == 0:
            return None, None, None
        masks, snd, dis = [], [], []
        for j, inst in enumerate(instances):
            if "mask" not in inst or "sounding" not in inst:
                raise ValueError(f"{fn}: instance {j} needs keys 'mask' [T,H,W] and 'sounding' [T]")
            m = _as_tensor(inst["mask"], f"instances[{j}]['mask']", fn).to(torch.bool).cpu()
            s = _as_aux(inst["sounding"], f"instances[{j}]['sounding']", fn).to(torch.bool).reshape(-1).cpu()
            if tuple(m.shape) != shape:
                raise ValueError(f"{fn}: instances[{j}]['mask'] has shape {tuple(m.shape)}, "
                                 f"frames are {shape}")
            if s.numel() != shape[0]:
                raise ValueError(f"{fn}: instances[{j}]['sounding'] has {s.numel()} entries for "
                                 f"{shape[0]} frames")
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


def binary_diagnostics(logits: torch.Tensor, target: torch.Tensor, num_sources: Any = None,
                       instances: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """One-shot :class:`FrameTypeMeter` on ``[T, H, W]`` frames (see there for inputs and outputs)."""
    meter = FrameTypeMeter()
    meter.update(logits, target, num_sources=num_sources, instances=instances)
    return meter.compute()
