"""The AAVS model (paper §3): Mask2Former + audio-aware queries + stage-2 prior modules.

``build_model(cfg, num_classes=2)`` is the stage-1 (AVS, {background, sounding}) model;
``build_model(cfg, num_classes=71, use_prior=True)`` the stage-2 (AVSS) model; without the prior it is
the end-to-end AVSS baseline. Modules: ``backbone``, ``audio_encoder``, ``pixel_decoder``,
``transformer_decoder``, ``aaqg``, ``prior``, ``aavs`` (assembly and post-processing), ``tpavi``
(the AVSBench TPAVI baseline, ``build_tpavi``), ``class_matching`` (clsim, a labelled deviation, off by
default), ``hf_port`` (HF Mask2Former weights -> ours: ``state_dict_from_hf``,
``load_mask2former_checkpoint``), ``official`` (the released Stepping Stones checkpoints -> ours:
``load_official_checkpoint``).

Parameter-name prefixes, for the official code's phase-wise freezing (docs/paper_and_code.md §2.2):
``backbone.body.*`` (visual encoder; frozen by ``freeze_backbone``), ``backbone.stage_adapters.*`` (CNN
adapters) and ``backbone.body.*.attn.proj.1.*`` / ``*.mlp.fc2.1.*`` (Swin adapters),
``audio_encoder.encoder.*`` (frozen by ``freeze_audio``), ``audio_encoder.projector.*`` (``audio_proj``),
``pixel_decoder.*``, ``decoder.layers.*``, ``decoder.class_embed.*`` / ``decoder.mask_embed.*`` /
``decoder.decoder_norm.*`` / ``decoder.level_embed``, ``queries.query_feat`` (Q_obj), ``queries.query_embed``
(P_audio), ``robust_keys.embed`` (stage 2).
"""

from __future__ import annotations

from .aaqg import audio_aware_queries
from .aavs import AAVS, binary_inference, binary_scores, export_prior_png, semantic_inference, semantic_scores
from .build import build_model, count_parameters, model_summary
from .hf_port import load_mask2former_checkpoint, state_dict_from_hf
from .official import OfficialCheckpointError, load_official_checkpoint
from .tpavi import TPAVIModel, build_tpavi

__all__ = [
    "build_model",
    "count_parameters",
    "model_summary",
    "AAVS",
    "audio_aware_queries",
    "semantic_scores",
    "semantic_inference",
    "binary_scores",
    "binary_inference",
    "export_prior_png",
    "build_tpavi",
    "TPAVIModel",
    "state_dict_from_hf",
    "load_mask2former_checkpoint",
    "load_official_checkpoint",
    "OfficialCheckpointError",
]
