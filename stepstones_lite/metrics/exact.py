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
scores silent frames by their true negatives and so hides whether a model uses sound (docs/feasibility.md
§3.2). They live in :mod:`.diagnostics`, the AVSS metrics in :mod:`.semantic`.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

__all__ = ["binary_prediction", "frame_iou", "mask_iou", "f_measure", "f_measure_curves", "BinaryMeter"]

BETA2 = 0.3  # F-measure β² of AVSBench
IOU_EPS = 1e-7  # added to the union in the binary IoU
F_EPS = 1e-20  # added to both denominators of the binary precision/recall


# --------------------------------------------------------------------------------------------- validation
def _as_tensor(x: Any, name: str, fn: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach()
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    raise TypeError(f"{fn}: {name} must be a torch.Tensor or numpy array, got {type(x).__name__}")


def _at_least(value: Any, minimum: int, name: str, fn: str) -> int:
    """``int(value)``, or a ``ValueError`` naming ``fn`` and ``name`` if it is below ``minimum``."""
    if int(value) < minimum:
        raise ValueError(f"{fn}: {name} must be >= {minimum}, got {value}")
    return int(value)


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
        raise ValueError(
            f"{fn}: logits must be [N, H, W] (squeeze a channel dim first), got shape {tuple(logits.shape)}"
        )
    if tuple(target.shape) != tuple(logits.shape):
        raise ValueError(
            f"{fn}: target shape {tuple(target.shape)} does not match logits shape {tuple(logits.shape)}"
        )
    if logits.shape[0] == 0:
        raise ValueError(f"{fn}: empty batch (N = 0)")
    if target.device != logits.device:
        target = target.to(logits.device)
    target = target.to(torch.float32) if not target.is_floating_point() else _float_scores(target)
    if target.numel() and (target.min() < 0 or target.max() > 1):
        raise ValueError(
            f"{fn}: target values must lie in [0, 1] (binary masks), got range "
            f"[{target.min().item():g}, {target.max().item():g}]; "
            "a 0/255 mask needs (mask > 0)"
        )
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


def f_measure_curves(
    logits: torch.Tensor, target: torch.Tensor, num_thresholds: int = 255
) -> tuple[torch.Tensor, torch.Tensor]:
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
        self.batch_videos = _at_least(batch_videos, 1, "batch_videos", "BinaryMeter")
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
            raise ValueError(
                f"BinaryMeter.update: target shape {tuple(target.shape)} does not match logits "
                f"shape {tuple(logits.shape)}"
            )
        if logits.dim() == 3:
            logits, target = logits.unsqueeze(0), target.unsqueeze(0)
        if logits.dim() != 4:
            raise ValueError(
                "BinaryMeter.update: expected one clip [T, H, W] or clips [B, T, H, W], "
                f"got shape {tuple(logits.shape)}"
            )
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
