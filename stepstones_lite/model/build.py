"""``build_model``: the AAVS of a :class:`~stepstones_lite.config.ModelConfig` (stage 1, stage 2 or end to
end), and parameter summaries. Re-exported by :mod:`stepstones_lite.model`; here so that the converters
(``official``) import it without importing the package face that imports them."""

from __future__ import annotations

import torch.nn as nn

from ..config import ModelConfig
from .aaqg import QueryGenerator
from .aavs import AAVS
from .audio_encoder import build_audio_encoder
from .backbone import build_backbone
from .class_matching import ClassMatching
from .pixel_decoder import build_pixel_decoder
from .prior import RobustKeys
from .transformer_decoder import MaskedAttentionDecoder

__all__ = ["build_model", "count_parameters", "model_summary"]


def build_model(cfg: ModelConfig, *, num_classes: int, use_prior: bool = False) -> AAVS:
    """Build AAVS from a :class:`ModelConfig`.

    Args:
        cfg: the profile's model config.
        num_classes: C without no-object (stage 1: 2 = {background, sounding}; AVSS: 71 incl. background).
        use_prior: build the stage-2 prior modules (each still behind its own switch in ``cfg``).
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    backbone = build_backbone(
        cfg.backbone,
        cfg.backbone_channels,
        cfg.backbone_weights,
        cfg.freeze_backbone,
        cfg.adapters,
        img_size=cfg.backbone_img_size,
        adapter_placement=cfg.adapter_placement,
        adapter_reduction=cfg.adapter_reduction,
        backbone_kwargs=cfg.backbone_kwargs,
    )
    audio = build_audio_encoder(
        cfg.audio_encoder, cfg.audio_dim, cfg.hidden_dim, cfg.audio_weights, cfg.freeze_audio
    )
    pixel = build_pixel_decoder(
        cfg.pixel_decoder,
        backbone.feature_channels,
        cfg.hidden_dim,
        cfg.mask_stride,
        cfg.num_encoder_layers,
        cfg.num_heads,
        cfg.encoder_feedforward,
        avs_adapt=cfg.avs_adapt,
        norm_groups=cfg.norm_groups,
    )
    decoder = MaskedAttentionDecoder(
        cfg.hidden_dim,
        cfg.num_heads,
        cfg.dim_feedforward,
        cfg.num_decoder_layers,
        num_classes,
        avs_adapt=cfg.avs_adapt,
    )
    queries = QueryGenerator(cfg.num_queries, cfg.hidden_dim, cfg.query_mode, cfg.query_init_std)
    keys = (
        RobustKeys(cfg.hidden_dim, cfg.tau_silent, cfg.tau_sounding)
        if (use_prior and cfg.robust_keys)
        else None
    )
    matching = (
        ClassMatching(
            backbone.feature_channels,
            cfg.audio_dim,
            cfg.hidden_dim,
            cfg.matching_vis_classes,
            cfg.matching_aud_classes,
        )
        if cfg.class_matching
        else None
    )
    return AAVS(
        backbone,
        audio,
        pixel,
        decoder,
        queries,
        num_classes,
        use_prior=use_prior,
        mask_fusion=cfg.mask_fusion,
        prior_attention=cfg.prior_attention,
        robust_keys=keys,
        matching=matching,
    )


def count_parameters(model: nn.Module) -> dict[str, int]:
    """``{"total": ..., "trainable": ...}`` parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable}


def model_summary(model: nn.Module) -> str:
    """A short table: parameters (total / trainable) per top-level part, then the totals."""
    lines = [f"{'part':<16}{'params':>12}{'trainable':>12}"]
    for name, child in model.named_children():
        c = count_parameters(child)
        lines.append(f"{name:<16}{c['total']:>12,}{c['trainable']:>12,}")
    c = count_parameters(model)
    lines.append(f"{'total':<16}{c['total']:>12,}{c['trainable']:>12,}")
    return "\n".join(lines)
