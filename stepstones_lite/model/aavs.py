"""AAVS: Mask2Former + audio (paper §3, Fig. 2), and Mask2Former-style post-processing.

forward(frames [N,3,H,W], log_mel [N,1,96,64], prior [N,H,W] | None, return_attn) -> dict with
``pred_logits [N,Q,C+1]``, ``pred_masks [N,Q,h,w]`` (mask-feature resolution, H/mask_stride) and
``aux_outputs`` (``{pred_logits, pred_masks}`` for the initial prediction and every layer but the last),
the Mask2Former/DETR output convention used by the matcher and criterion.
N is frames: one clip's T frames, or several clips' frames concatenated -- everything is per frame
(frame t is paired with audio second t).

Frames are float RGB in [0, 1]; the model subtracts the ImageNet mean and divides by the std itself
(as detectron2's Mask2Former does), matching HF ``Mask2FormerImageProcessor``.

Post-processing (docs/paper_and_code.md §1.9): semantic scores ``sum_q softmax(class_q)[c] * sigmoid(mask_q)``
with the no-object column dropped; the binary (stage-1) decision is sounding where s_sounding > s_bg.
The official code upsamples masks to 384 px and the score map to 224 px; we upsample masks straight to
the requested size (bilinear).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .aaqg import QueryGenerator
from .audio_encoder import AudioEncoder
from .backbone import Backbone
from .prior import RobustKeys, fuse_prior, prior_attention_mask
from .transformer_decoder import MaskedAttentionDecoder

__all__ = [
    "AAVS",
    "semantic_scores",
    "semantic_inference",
    "binary_scores",
    "binary_inference",
    "export_prior_png",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class AAVS(nn.Module):
    """The assembled model. Build it with :func:`stepstones_lite.model.build_model`.

    Args:
        backbone, audio_encoder, pixel_decoder, decoder, queries: the parts.
        robust_keys: :class:`RobustKeys` or None; mask_fusion / prior_attention: the other prior switches.
        use_prior: whether a prior is expected (stage 2); a prior passed to a model built without it errors.
    """

    def __init__(
        self,
        backbone: Backbone,
        audio_encoder: AudioEncoder,
        pixel_decoder: nn.Module,
        decoder: MaskedAttentionDecoder,
        queries: QueryGenerator,
        num_classes: int,
        use_prior: bool = False,
        mask_fusion: bool = False,
        prior_attention: bool = False,
        robust_keys: RobustKeys | None = None,
        matching: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.backbone, self.audio_encoder, self.pixel_decoder = backbone, audio_encoder, pixel_decoder
        self.decoder, self.queries = decoder, queries
        self.num_classes = num_classes
        self.use_prior = use_prior
        self.mask_fusion = use_prior and mask_fusion
        self.prior_attention = use_prior and prior_attention
        self.robust_keys = robust_keys if use_prior else None
        self.matching = matching  # ClassMatching (a labelled deviation) or None
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def _check(self, frames, log_mel, prior) -> None:
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise ValueError(f"frames must be [N, 3, H, W], got {tuple(frames.shape)}")
        if getattr(
            self.audio_encoder, "precomputed", False
        ):  # official-code input: [N, audio_dim] embeddings
            if log_mel.dim() != 2 or log_mel.shape[0] != frames.shape[0]:
                raise ValueError(
                    f"audio_encoder='precomputed' takes embeddings [N, audio_dim] with N = "
                    f"{frames.shape[0]} frames, got {tuple(log_mel.shape)}"
                )
        elif log_mel.dim() != 4 or log_mel.shape[0] != frames.shape[0] or log_mel.shape[1] != 1:
            raise ValueError(
                f"log_mel must be [N, 1, 96, 64] with N = {frames.shape[0]} frames, "
                f"got {tuple(log_mel.shape)}"
            )
        if prior is not None:
            if not self.use_prior:
                raise ValueError("a prior was given to a model built with use_prior=False")
            if prior.dim() != 3 or prior.shape[0] != frames.shape[0]:
                raise ValueError(
                    f"prior must be [N, H, W] with N = {frames.shape[0]}, got {tuple(prior.shape)}"
                )
        elif self.use_prior:
            raise ValueError(
                "this model was built with use_prior=True: pass prior [N, H, W] (GT or stage-1 masks)"
            )

    def forward(
        self,
        frames: torch.Tensor,
        log_mel: torch.Tensor,
        prior: torch.Tensor | None = None,
        return_attn: bool = False,
    ) -> dict[str, Any]:
        """Args: frames ``[N,3,H,W]`` in [0,1]; log_mel ``[N,1,96,64]``; prior ``[N,H,W]`` in [0,1] (stage 2).

        Returns a dict: ``pred_logits [N,Q,C+1]``, ``pred_masks [N,Q,h,w]``, ``aux_outputs`` (list of
        ``L`` dicts); with ``return_attn`` also ``attn`` (per layer ``[N, heads, Q, h_l, w_l]``),
        ``attn_masks`` (per layer blocked ``[N, Q, h_l, w_l]``), ``audio_similarity [N, Q]``
        (cos(P_audio, F_A)) and, when robust keys are used, ``robust_keys`` (per decoder scale
        ``[N, h_l, w_l]`` long: 0 silent, 1 uncertain, 2 sounding); with ``class_matching`` (a deviation)
        ``class_match [N, H/4, W/4]``.
        """
        self._check(frames, log_mel, prior)
        x = (frames - self.pixel_mean.to(frames.dtype)) / self.pixel_std.to(frames.dtype)  # [N, 3, H, W]
        feats = self.backbone(x)
        pix = self.pixel_decoder(feats)
        audio_emb = self.audio_encoder.embed(log_mel)  # [N, audio_dim]
        audio = self.audio_encoder.projector(audio_emb)  # F_A [N, D]
        tgt, query_pos, sim = self.queries(audio)  # [N, Q, D], [N, Q, D], [N, Q]
        mask_features = pix.mask_features  # [N, D, h, w]
        class_match = None
        if self.matching is not None:  # deviation: class-aware audio-visual matching
            pix.memories, mask_features, class_match = self.matching(
                feats, audio_emb, pix.memories, mask_features
            )
        key_extra, states, first_blocked = None, None, None
        if prior is not None:
            if self.mask_fusion:
                mask_features = fuse_prior(mask_features, prior)
            if self.prior_attention:
                first_blocked = prior_attention_mask(prior, pix.memories[0].shape[-2:], tgt.shape[1])
            if self.robust_keys is not None:
                key_extra, states = self.robust_keys(prior, [m.shape[-2:] for m in pix.memories])
        dec = self.decoder(
            pix.memories,
            pix.pos,
            mask_features,
            tgt,
            query_pos,
            key_extra=key_extra,
            first_blocked=first_blocked,
            return_attn=return_attn,
        )
        logits, masks = dec.predictions[-1]
        out: dict[str, Any] = {
            "pred_logits": logits,  # [N, Q, C+1]
            "pred_masks": masks,  # [N, Q, h, w]
            "aux_outputs": [{"pred_logits": lg, "pred_masks": mk} for lg, mk in dec.predictions[:-1]],
        }
        if return_attn:
            out["attn"] = dec.attn
            out["attn_masks"] = dec.attn_masks
            out["audio_similarity"] = sim
            if states is not None:
                out["robust_keys"] = states
            if class_match is not None:
                out["class_match"] = class_match  # [N, H/4, W/4]
        return out


# ----------------------------------------------------------------------------- post-processing
def semantic_scores(
    pred_logits: torch.Tensor,
    pred_masks: torch.Tensor,
    size: tuple[int, int] | int,
    mask_size: tuple[int, int] | int | None = None,
) -> torch.Tensor:
    """Mask2Former semantic inference scores ``[N, C, H, W]``.

    ``score[c] = sum_q softmax(pred_logits_q)[c] * sigmoid(upsample(pred_masks_q))``; the no-object
    column (the last) is dropped after the softmax.

    Args:
        pred_logits: ``[N, Q, C+1]``; pred_masks: ``[N, Q, h, w]``; size: output ``(H, W)`` or side.
        mask_size: None (default) upsamples the masks straight to ``size``; a size upsamples them to it first
            and the score map from there to ``size`` (both bilinear), as the official image processor does
            with 384 (``post_process_{binary,semantic}_segmentation``, docs/paper_and_code.md §1.9).
    """
    size = (size, size) if isinstance(size, int) else tuple(size)
    probs = pred_logits.softmax(-1)[..., :-1]  # [N, Q, C]
    first = (
        size
        if mask_size is None
        else ((mask_size, mask_size) if isinstance(mask_size, int) else tuple(mask_size))
    )
    masks = F.interpolate(
        pred_masks, size=first, mode="bilinear", align_corners=False
    ).sigmoid()  # [N, Q, H', W']
    scores = torch.einsum("nqc,nqhw->nchw", probs, masks)  # [N, C, H', W']
    if first != size:
        scores = F.interpolate(scores, size=size, mode="bilinear", align_corners=False)  # [N, C, H, W]
    return scores


def semantic_inference(
    pred_logits: torch.Tensor, pred_masks: torch.Tensor, size: tuple[int, int] | int
) -> torch.Tensor:
    """Argmax class map ``[N, H, W]`` (long) of :func:`semantic_scores`."""
    return semantic_scores(pred_logits, pred_masks, size).argmax(1)


def binary_scores(
    pred_logits: torch.Tensor, pred_masks: torch.Tensor, size: tuple[int, int] | int
) -> torch.Tensor:
    """Stage-1 scores ``[N, 2, H, W]``: channel 0 background, channel 1 sounding (needs C = 2)."""
    if pred_logits.shape[-1] != 3:
        raise ValueError(
            f"binary_scores needs a 2-class model (3 logits incl. no-object), got {pred_logits.shape[-1]}"
        )
    return semantic_scores(pred_logits, pred_masks, size)


def binary_inference(
    pred_logits: torch.Tensor, pred_masks: torch.Tensor, size: tuple[int, int] | int
) -> torch.Tensor:
    """Binary sounding mask ``[N, H, W]`` (bool): sounding wins where ``s_sounding > s_bg`` (ties:
    background)."""
    s = binary_scores(pred_logits, pred_masks, size)
    return s[:, 1] > s[:, 0]


def export_prior_png(mask: torch.Tensor | np.ndarray):
    """A binary mask ``[H, W]`` -> PIL grey image, 0 (background) / 255 (sounding): AVSBench prior convention.

    Values > 0.5 count as sounding (bool masks, {0,1} floats or {0,255} arrays all work).
    Save with ``img.save(path)``; ``np.asarray(img)`` gives the uint8 array.
    """
    from PIL import Image

    arr = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    if arr.ndim != 2:
        raise ValueError(f"export_prior_png expects one [H, W] mask, got shape {arr.shape}")
    arr = arr.astype(np.float64)
    if arr.max(initial=0) > 1:
        arr = arr / 255.0
    return Image.fromarray(np.where(arr > 0.5, 255, 0).astype(np.uint8))
