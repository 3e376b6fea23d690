"""Set criterion of AAVS / Mask2Former and the target builders (paper Eq. 2-3; §2.5 and §1.9 of the digest).

After the Hungarian matching (``matcher.py``) every layer's prediction is scored by

    L = class_weight * CE(logits, matched class or no-object; no-object weight 0.1)
      + mask_weight  * BCE(matched mask, target mask)
      + dice_weight  * Dice(matched mask, target mask)

with the mask terms computed on ``num_points`` points per matched mask chosen PointRend-style:
draw ``oversample_ratio * num_points`` uniform points, keep the ``importance_sample_ratio`` share
whose predicted logit is closest to 0 (most uncertain), fill the rest with fresh uniform points.
BCE and Dice are summed over matched masks and divided by the number of target masks in the batch
(at least 1). Deep supervision: the same loss, with its own matching, for every entry of
``aux_outputs``; the total ``loss`` sums all layers with the same weights (λ_aux = 1, as in the code).

Background is an explicit target class in both stages (the HF processor turns every label value,
0 included, into a binary target): see :func:`targets_from_labels` and :func:`targets_from_binary`.

Idea from facebookresearch/Mask2Former (``modeling/criterion.py``) and detectron2's PointRend
``get_uncertain_point_coords_with_randomness``; our own batched implementation.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .matcher import (
    DEFAULT_NUM_POINTS,
    HungarianMatcher,
    _rand_points,
    batch_dice_cost,
    batch_sigmoid_ce_cost,
    dense_point_coords,
    point_sample,
    validate_outputs_targets,
)

__all__ = [
    "SetCriterion",
    "HungarianMatcher",  # re-exported: the trainer builds both from here
    "targets_from_labels",
    "targets_from_binary",
    "sigmoid_ce_loss",
    "dice_loss",
    "sample_uncertain_points",
    "batch_sigmoid_ce_cost",
    "batch_dice_cost",
    "point_sample",
]

Indices = list[tuple[Tensor, Tensor]]  # per frame: (pred_idx [k], tgt_idx [k])


# ----------------------------------------------------------------------------- point-wise losses


def sigmoid_ce_loss(inputs: Tensor, targets: Tensor, num_masks: float) -> Tensor:
    """Point-wise BCE, averaged over points, summed over masks, divided by ``num_masks``.

    Args:
        inputs: ``[M, P]`` mask logits at P points.
        targets: ``[M, P]`` target values in [0, 1].
        num_masks: normaliser (number of target masks).
    Returns:
        scalar loss.
    """
    loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")  # [M, P]
    return loss.mean(1).sum() / num_masks


def dice_loss(inputs: Tensor, targets: Tensor, num_masks: float) -> Tensor:
    """Dice loss ``1 - (2|p∩t| + 1) / (|p| + |t| + 1)`` per mask, summed, divided by ``num_masks``.

    Arguments as :func:`sigmoid_ce_loss` (``[M, P]`` logits and targets at P points, the normaliser);
    returns the scalar loss.
    """
    probs = inputs.sigmoid()  # [M, P]
    numerator = 2.0 * (probs * targets).sum(-1)  # [M]
    denominator = probs.sum(-1) + targets.sum(-1)  # [M]
    return (1.0 - (numerator + 1.0) / (denominator + 1.0)).sum() / num_masks


@torch.no_grad()
def sample_uncertain_points(
    logits: Tensor,
    num_points: int,
    oversample_ratio: float = 3.0,
    importance_sample_ratio: float = 0.75,
    generator: torch.Generator | None = None,
) -> Tensor:
    """PointRend importance sampling: mostly points where the mask logit is near 0, the rest uniform.

    Args:
        logits: ``[M, 1, h, w]`` mask logits.
        num_points: points per mask.
        oversample_ratio: draw ``int(num_points * oversample_ratio)`` candidates (>= 1).
        importance_sample_ratio: share of the points taken from the most uncertain candidates.
        generator: RNG (default: the global RNG).
    Returns:
        ``[M, num_points, 2]`` (x, y) points in [0, 1].
    """
    if oversample_ratio < 1 or not 0 <= importance_sample_ratio <= 1:
        raise ValueError(
            f"need oversample_ratio >= 1 and 0 <= importance_sample_ratio <= 1, got {oversample_ratio}, "
            f"{importance_sample_ratio}"
        )
    m = logits.shape[0]
    num_sampled = int(num_points * oversample_ratio)
    num_uncertain = int(importance_sample_ratio * num_points)
    candidates = _rand_points((m, 2, num_sampled), logits.device, generator)  # [M, 2, S] (x, y) rows
    uncertainty = -point_sample(logits, candidates.transpose(1, 2))[:, 0].abs()  # [M, S]  max = logit 0
    top = uncertainty.topk(num_uncertain, dim=1, sorted=False).indices  # [M, U]  (order is irrelevant)
    chosen = candidates.gather(2, top[:, None, :].expand(m, 2, num_uncertain)).transpose(1, 2)  # [M, U, 2]
    if num_points > num_uncertain:
        uniform = _rand_points((m, num_points - num_uncertain, 2), logits.device, generator)  # [M, R, 2]
        chosen = torch.cat([chosen, uniform], dim=1)  # [M, P, 2]
    return chosen


# ----------------------------------------------------------------------------- targets


def targets_from_labels(labels: Tensor, num_classes: int, ignore_index: int = 255) -> list[dict]:
    """Semantic label maps -> one binary target per class present in each frame, background included.

    Mirrors the HF Mask2Former processor (``reduce_labels=False``): every label value in a frame,
    0 (background) included, becomes a target; ``ignore_index`` pixels get no target and are 0 in
    every target mask (so the mask loss treats them as negatives, as the HF processor does).

    Args:
        labels: ``[N, H, W]`` integer class ids in ``[0, num_classes)`` or ``ignore_index``.
        num_classes: number of real classes (no-object excluded), e.g. 71 for AVSS, 2 for AVS.
        ignore_index: label value to skip.
    Returns:
        N dicts ``{"labels": int64[n_i] ascending, "masks": float32[n_i, H, W]}`` on ``labels``' device.
    """
    if labels.dim() != 3 or labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(
            "targets_from_labels: expected integer labels [N, H, W], "
            f"got {labels.dtype} {tuple(labels.shape)}"
        )
    targets = []
    for frame in labels:  # [H, W]
        present = torch.unique(frame)  # [u] ascending
        present = present[present != ignore_index]
        if present.numel() and (int(present.min()) < 0 or int(present.max()) >= num_classes):
            raise ValueError(
                f"targets_from_labels: label values {present.tolist()} outside [0, {num_classes}) "
                f"(ignore_index={ignore_index})"
            )
        masks = (frame[None] == present[:, None, None]).float()  # [n, H, W]
        targets.append({"labels": present.to(torch.int64), "masks": masks})
    return targets


def targets_from_binary(masks: Tensor, threshold: float = 0.5) -> list[dict]:
    """Binary (stage-1) ground truth -> targets with classes {0: background, 1: sounding}.

    A frame gets a background target if any pixel is silent and a sounding target if any pixel
    sounds; a frame with no sounding pixels has only the background target.

    Args:
        masks: ``[N, H, W]`` bool, {0, 1} float or 0/255 uint8 maps; sounding where ``> threshold``
            (values are not rescaled, so 0/255 maps work with the default).
        threshold: decision threshold.
    Returns:
        N dicts ``{"labels": int64[n_i] in {0, 1}, "masks": float32[n_i, H, W]}``.
    """
    if masks.dim() != 3:
        raise ValueError(f"targets_from_binary: expected masks [N, H, W], got {tuple(masks.shape)}")
    sounding = masks.float() > threshold  # [N, H, W]
    return targets_from_labels(sounding.to(torch.int64), num_classes=2, ignore_index=-1)


# ----------------------------------------------------------------------------- criterion


def _num_masks(targets: Sequence[dict], device: torch.device) -> float:
    """Number of target masks (averaged over DDP ranks when distributed), at least 1."""
    count = torch.tensor([float(sum(int(t["labels"].shape[0]) for t in targets))], device=device)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(count)
        count = count / torch.distributed.get_world_size()
    return max(float(count.item()), 1.0)


class SetCriterion(nn.Module):
    """Mask2Former loss: Hungarian matching, weighted CE + point-sampled BCE + Dice, deep supervision.

    Args:
        num_classes: real classes (no-object excluded); logits must have ``num_classes + 1`` columns.
        matcher: a :class:`HungarianMatcher`; default ``HungarianMatcher(num_points=num_points)``.
        class_weight, mask_weight, dice_weight: loss weights (Mask2Former: 2, 5, 5).
        no_object_weight: CE weight of the no-object column (Mask2Former ``eos_coef`` 0.1).
        num_points: importance-sampled points per matched mask; ``None`` scores every pixel of the
            prediction grid (targets read at the pixel centres) with no sampling.
        oversample_ratio, importance_sample_ratio: PointRend sampling parameters (3, 0.75).
        weight_dict: optional ``{"loss_ce": .., "loss_mask": .., "loss_dice": ..}`` overriding the three
            weights; keys with a layer suffix (``"loss_ce_0"``) override single auxiliary layers.
    """

    def __init__(
        self,
        num_classes: int,
        matcher: HungarianMatcher | None = None,
        class_weight: float = 2.0,
        mask_weight: float = 5.0,
        dice_weight: float = 5.0,
        no_object_weight: float = 0.1,
        num_points: int | None = DEFAULT_NUM_POINTS,
        oversample_ratio: float = 3.0,
        importance_sample_ratio: float = 0.75,
        weight_dict: dict[str, float] | None = None,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.matcher = matcher if matcher is not None else HungarianMatcher(num_points=num_points)
        self.weight_dict = {"loss_ce": class_weight, "loss_mask": mask_weight, "loss_dice": dice_weight}
        self.weight_dict.update(weight_dict or {})
        self.no_object_weight = no_object_weight
        self.num_points = num_points
        self.oversample_ratio = oversample_ratio
        self.importance_sample_ratio = importance_sample_ratio
        class_weights = torch.ones(num_classes + 1)  # [C+1]
        class_weights[-1] = no_object_weight
        self.register_buffer("class_weights", class_weights, persistent=False)

    def weight(self, key: str) -> float:
        """The weight of one loss entry, e.g. ``"loss_dice_3"`` -> that key's or ``"loss_dice"``'s weight."""
        if key in self.weight_dict:
            return self.weight_dict[key]
        base = key.rsplit("_", 1)[0]
        return self.weight_dict[base]

    def loss_labels(self, logits: Tensor, targets: Sequence[dict], indices: Indices) -> Tensor:
        """Weighted CE of every query against its matched class, no-object for unmatched queries.

        Args:
            logits: ``[N, Q, C+1]``.
        Returns:
            scalar loss.
        """
        n, q, _ = logits.shape
        device = logits.device
        target_classes = torch.full((n, q), self.num_classes, dtype=torch.int64, device=device)  # [N, Q]
        for i, (src, tgt) in enumerate(indices):
            target_classes[i, src.to(device)] = targets[i]["labels"].to(device)[tgt.to(device)]
        weight = self.class_weights.to(device=logits.device, dtype=torch.float32)  # [C+1]
        return F.cross_entropy(logits.float().transpose(1, 2), target_classes, weight)

    def loss_masks(
        self,
        pred_masks: Tensor,
        targets: Sequence[dict],
        indices: Indices,
        num_masks: float,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Point-sampled BCE and Dice of matched masks.

        Args:
            pred_masks: ``[N, Q, h, w]`` mask logits.
        Returns:
            (loss_mask, loss_dice) scalars; zeros (still in the graph) if nothing is matched.
        """
        device = pred_masks.device
        frame_idx = torch.cat([torch.full_like(src, i) for i, (src, _) in enumerate(indices)])  # [M]
        frame_idx = frame_idx.to(device)
        src_idx = torch.cat([src for src, _ in indices]).to(device)  # [M]
        if src_idx.numel() == 0:
            zero = pred_masks.sum() * 0.0
            return zero, zero.clone()
        src = pred_masks[frame_idx, src_idx].float()  # [M, h, w]
        m, h, w = src.shape
        if self.num_points is None:
            coords = dense_point_coords(h, w, device).expand(m, h * w, 2)  # [M, h*w, 2]
            point_logits = src.flatten(1)  # [M, h*w]  pixel centres = the pixels themselves
        else:
            coords = sample_uncertain_points(
                src[:, None].detach(),
                self.num_points,
                self.oversample_ratio,
                self.importance_sample_ratio,
                generator,
            )  # [M, P, 2]
            point_logits = point_sample(src[:, None], coords)[:, 0]  # [M, P]
        with torch.no_grad():
            point_labels = self._sample_matched_targets(targets, indices, coords)  # [M, P]
        return (
            sigmoid_ce_loss(point_logits, point_labels, num_masks),
            dice_loss(point_logits, point_labels, num_masks),
        )

    @staticmethod
    def _sample_matched_targets(targets: Sequence[dict], indices: Indices, coords: Tensor) -> Tensor:
        """Matched target masks read at their points: ``[M, P]``, one grid_sample if resolutions agree."""
        device = coords.device
        # per frame [m_i, H, W]
        matched = [t["masks"][tgt.to(t["masks"].device)] for t, (_, tgt) in zip(targets, indices)]
        if len({tuple(x.shape[-2:]) for x in matched}) == 1:
            stacked = torch.cat(matched).to(device=device, dtype=torch.float32)  # [M, H, W]
            return point_sample(stacked[:, None], coords)[:, 0]  # [M, P]
        out, start = [], 0
        for x in matched:  # frames at different label resolutions
            k = x.shape[0]
            if k:
                x = x.to(device=device, dtype=torch.float32)[:, None]  # [k, 1, H, W]
                out.append(point_sample(x, coords[start : start + k])[:, 0])
            start += k
        return torch.cat(out)

    def layer_losses(
        self,
        outputs: dict,
        targets: Sequence[dict],
        num_masks: float,
        generator: torch.Generator | None = None,
    ) -> dict[str, Tensor]:
        """Match one layer's prediction; return its unweighted ``loss_ce``, ``loss_mask``, ``loss_dice``."""
        indices = self.matcher(outputs, targets, generator=generator)
        loss_mask, loss_dice = self.loss_masks(outputs["pred_masks"], targets, indices, num_masks, generator)
        return {
            "loss_ce": self.loss_labels(outputs["pred_logits"], targets, indices),
            "loss_mask": loss_mask,
            "loss_dice": loss_dice,
        }

    def forward(
        self, outputs: dict, targets: Sequence[dict], generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """Compute all loss terms and their weighted total.

        Args:
            outputs: ``pred_logits`` ``[N, Q, C+1]``, ``pred_masks`` ``[N, Q, h, w]`` and optionally
                ``aux_outputs`` (list of dicts with the same two keys).
            targets: N dicts ``{"labels": int64[n_i], "masks": [n_i, H, W]}`` (see the target builders).
            generator: RNG for the matcher's and the loss's random points (default: the global RNG).
        Returns:
            ``loss_ce``, ``loss_mask``, ``loss_dice`` (final layer, unweighted), the same with suffix
            ``_i`` for ``aux_outputs[i]``, and ``loss``, the weighted sum over all of them.
        """
        validate_outputs_targets(outputs, targets)
        if outputs["pred_logits"].shape[-1] != self.num_classes + 1:
            raise ValueError(
                f"SetCriterion: pred_logits has {outputs['pred_logits'].shape[-1]} columns, expected "
                f"num_classes + 1 = {self.num_classes + 1}"
            )
        num_masks = _num_masks(targets, outputs["pred_logits"].device)
        losses = self.layer_losses(outputs, targets, num_masks, generator)
        for i, aux in enumerate(outputs.get("aux_outputs") or []):
            validate_outputs_targets(aux, targets)
            for key, value in self.layer_losses(aux, targets, num_masks, generator).items():
                losses[f"{key}_{i}"] = value
        losses["loss"] = sum(self.weight(key) * value for key, value in losses.items())
        return losses

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, weights={self.weight_dict}, "
            f"no_object_weight={self.no_object_weight}, "
            f"num_points={self.num_points}, oversample_ratio={self.oversample_ratio}, "
            f"importance_sample_ratio={self.importance_sample_ratio}"
        )
