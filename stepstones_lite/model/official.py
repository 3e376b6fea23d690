"""The released Stepping Stones checkpoints -> our AAVS (issue #16).

The official code (``GeWu-Lab/Stepping-Stones``, ``avs/`` = stage 1, ``avss/`` = stage 2) saves
``torch.save(AdaptiveAVS.state_dict())`` (``avs|avss/train.py``): the wrapper's ``audio_proj`` and, under
``model.``, an HF ``Mask2FormerForUniversalSegmentation`` from its vendored, modified transformers 4.35.2.
:func:`load_official_checkpoint` maps every key onto an AAVS built to be exactly that architecture.

Key map (official prefix -> ours; PD = ``model.model.pixel_level_module.decoder.``, TM =
``model.model.transformer_module.``, EN = ``model.model.pixel_level_module.encoder.``, B =
``backbone.body.body.``):

* everything HF Mask2Former has -> :func:`~stepstones_lite.model.hf_port.state_dict_from_hf` (Swin, pixel
  decoder, transformer decoder, queries, ``class_predictor``; see its docstring)
* PD ``encoder.layers.i.self_attn.avs_adapt.{0,2}`` -> ``pixel_decoder.layers.i.attn.avs_adapt.{0,2}``
* TM ``decoder.layers.i.self_attn.avs_adapt.{0,2}`` -> ``decoder.layers.i.self_attn.avs_adapt.{0,2}``
* EN ``encoder.layers.i.blocks.j.attention.output.swin_adapt_1.{0,2}`` -> B
  ``layers_i.blocks.j.attn.proj.1.{down,up}``; ``output.swin_adapt_3.{0,2}`` -> B
  ``layers_i.blocks.j.mlp.fc2.1.{down,up}`` (``modeling_swin.py`` ``SwinSelfOutput`` / ``SwinOutput``:
  residual bottlenecks, as our :class:`~stepstones_lite.model.backbone.Adapter`)
* ``audio_proj.{0,2}`` -> ``audio_encoder.projector.net.{0,2}`` (``avs|avss/avs_model.py``)
* TM ``silence_embed`` / ``uncertain_embed`` / ``audio_embed`` (stage 2) -> rows 0 / 1 / 2 of
  ``robust_keys.embed`` (E_silent / E_uncertain / E_sounding, paper Eq. 4)
* ignored: ``model.criterion.empty_weight`` (a loss buffer), Swin ``relative_position_index`` (a fixed buffer
  timm rebuilds) and, in stage 1 only, PD ``...self_attn.output_proj`` and TM ``...self_attn.out_proj``:
  stored but unused, the official stage-1 forward comments them out in favour of ``avs_adapt``.

Architecture switches this needs (``ModelConfig``; defaults keep our own model): ``avs_adapt="replace"``
(stage 1) / ``"after"`` (stage 2), ``norm_groups=32`` (HF's GroupNorm, differs from ours only at D < 64),
``backbone_kwargs`` (``always_partition=True`` as HF's SwinBackbone -- it differs from timm's default in
Swin-B's stage 4 at 384 px -- and the shape of a Swin other than Swin-B), ``audio_encoder="precomputed"``
(feed the official VGGish vectors) and ``semantic_scores(..., mask_size=384)`` for the post-processing.
Everything else (AAQG, masked attention, the three prior mechanisms, thresholds 0.4/0.6) already follows the
official code (docs/paper_and_code.md §1). The VGGish itself is not part of the checkpoints (the official data
loader runs towhee's): give ``model.audio_weights`` (torchvggish weights) or use
``audio_encoder="precomputed"``. tests/test_official_parity.py checks the outputs against the official code's
to 1e-4.
"""

from __future__ import annotations

import dataclasses
import math
import re
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn as nn

from ..config import Profile, resolve_profile
from . import hf_port

__all__ = [
    "OfficialCheckpointError",
    "load_official_checkpoint",
    "official_profile",
    "released_profile",
    "translate_official",
    "build_official_model",
    "official_preprocess",
    "official_binary_scores",
    "official_semantic_map",
    "OFFICIAL_STAGES",
]

OFFICIAL_STAGES = ("avs", "avss")
OFFICIAL_INPUT_SIZE = (
    384  # avs|avss/.models/preprocessor_config.json, and the wrappers' view(-1, 3, 384, 384)
)
OFFICIAL_EVAL_SIZE = 224  # batch_data["image_size"] = [(224, 224)]
_SWIN_B = {
    "embed_dim": 128,
    "depths": (2, 2, 18, 2),
    "num_heads": (4, 8, 16, 32),
    "window_size": 12,
    "mlp_ratio": 4.0,
}
_PD, _TM, _EN = "pixel_level_module.decoder.", "transformer_module.", "pixel_level_module.encoder."
_EXTRA_RULES = [  # official-only parameters (HF-level keys, "model." dropped) -> ours
    (
        re.compile(re.escape(_PD) + r"encoder\.layers\.(\d+)\.self_attn\.avs_adapt\.([02])\.(weight|bias)"),
        r"pixel_decoder.layers.\1.attn.avs_adapt.\2.\3",
    ),
    (
        re.compile(re.escape(_TM) + r"decoder\.layers\.(\d+)\.self_attn\.avs_adapt\.([02])\.(weight|bias)"),
        r"decoder.layers.\1.self_attn.avs_adapt.\2.\3",
    ),
    (
        re.compile(
            re.escape(_EN) + r"(?:swin\.)?encoder\.layers\.(\d+)\.blocks\.(\d+)\.attention\.output\."
            r"swin_adapt_1\.([02])\.(weight|bias)"
        ),
        r"backbone.body.body.layers_\1.blocks.\2.attn.proj.1.{\3}.\4",
    ),
    (
        re.compile(
            re.escape(_EN) + r"(?:swin\.)?encoder\.layers\.(\d+)\.blocks\.(\d+)\.output\."
            r"swin_adapt_3\.([02])\.(weight|bias)"
        ),
        r"backbone.body.body.layers_\1.blocks.\2.mlp.fc2.1.{\3}.\4",
    ),
]
_ROBUST = {"silence_embed": 0, "uncertain_embed": 1, "audio_embed": 2}  # -> robust_keys.embed rows
_IGNORED = [
    (re.compile(r"criterion\.empty_weight"), "loss buffer (no-object weight)"),
    (re.compile(r".*\.relative_position_index"), "fixed Swin buffer (timm rebuilds it)"),
]
_STAGE1_UNUSED = [  # stored, but the official avs/ forward comments them out (avs_adapt replaces them)
    re.compile(re.escape(_PD) + r"encoder\.layers\.\d+\.self_attn\.output_proj\.(weight|bias)"),
    re.compile(re.escape(_TM) + r"decoder\.layers\.\d+\.self_attn\.out_proj\.(weight|bias)"),
]


class OfficialCheckpointError(ValueError):
    """An official checkpoint that does not map onto the model: unmapped, missing or mis-shaped keys."""


def _hf_maps(key: str) -> bool:
    """Whether :func:`hf_port.state_dict_from_hf` consumes this HF-level key (``model.`` dropped)."""
    if re.fullmatch(re.escape(_PD) + r"input_projections\.\d\.\d\.(weight|bias)", key):
        return True
    if re.fullmatch(re.escape(_TM) + r"decoder\.layers\.\d+\.cross_attn\.in_proj_(weight|bias)", key):
        return True
    if key.startswith("class_predictor."):
        return True
    if any(rule.fullmatch(key) for rule, _ in hf_port._RULES_RE):
        return True
    return bool(
        any(rule.match(key) for rule, _ in hf_port._SWIN_RE)
        or hf_port._QKV.match(key)
        or hf_port._DOWN.match(key)
        or hf_port._OUT_NORM.match(key)
    )


def _split(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The wrapper's state_dict -> (HF-level keys without any ``model.`` prefix, the rest)."""
    hf, rest = {}, {}
    for key, val in state.items():
        key = key[len("module.") :] if key.startswith("module.") else key
        if key.startswith("model."):
            k = key[len("model.") :]
            hf[k[len("model.") :] if k.startswith("model.") else k] = val
        else:
            rest[key] = val
    return hf, rest


def _read(path_or_state_dict: str | Path | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if isinstance(path_or_state_dict, Mapping):
        state = dict(path_or_state_dict)
    else:
        p = Path(path_or_state_dict)
        if not p.is_file():
            raise FileNotFoundError(f"official checkpoint {p} does not exist (weights are never downloaded)")
        try:
            state = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001
            raise OfficialCheckpointError(
                f"{p}: not a readable state_dict ({type(err).__name__}: {err})"
            ) from None
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise OfficialCheckpointError(
            "an official checkpoint is a state_dict of tensors (torch.save(model.state_dict()))"
        )
    return state


def _count(keys, pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m[1] for k in keys if (m := rx.match(k))})


def _first(state: Mapping[str, torch.Tensor], pattern: str) -> torch.Tensor | None:
    """The tensor of the first key (in sorted order) that fully matches ``pattern``, or None."""
    rx = re.compile(pattern)
    return next((state[k] for k in sorted(state) if rx.fullmatch(k)), None)


def official_profile(
    state: Mapping[str, torch.Tensor], stage: str, profile: Profile | None = None
) -> Profile:
    """The profile of an official checkpoint: architecture read off the tensors, the rest from ``profile``.

    Read off the checkpoint (these always override ``profile``): hidden size, heads, FFN widths, encoder and
    decoder depths, queries, classes, the Swin's embed_dim / depths / heads / window, adapters, audio width.
    Set by the stage (official ``avs/`` vs ``avss/``): ``avs_adapt`` ("replace" / "after") and the prior
    modules. ``profile`` (default: ``paper``) supplies the rest, e.g. ``audio_encoder`` and ``audio_weights``.
    """
    if stage not in OFFICIAL_STAGES:
        raise ValueError(f"stage must be one of {OFFICIAL_STAGES}, got {stage!r}")
    hf, rest = _split(state)
    need = [
        _TM + "decoder.layernorm.weight",
        _TM + "queries_features.weight",
        "class_predictor.weight",
        _EN + "embeddings.patch_embeddings.projection.weight",
    ]
    lacking = [k for k in need if k not in hf]
    if lacking or "audio_proj.0.weight" not in rest:
        missing = ["model.model." + k for k in lacking] + (
            ["audio_proj.0.weight"] if "audio_proj.0.weight" not in rest else []
        )
        raise OfficialCheckpointError(f"not an official Stepping Stones checkpoint: lacks {missing}")
    d = hf[_TM + "decoder.layernorm.weight"].shape[0]
    q = hf[_TM + "queries_features.weight"].shape[0]
    c = hf["class_predictor.weight"].shape[0] - 1
    enc = _count(hf, re.escape(_PD) + r"encoder\.layers\.(\d+)\.")
    dec = _count(hf, re.escape(_TM) + r"decoder\.layers\.(\d+)\.")
    off = _first(hf, re.escape(_PD) + r"encoder\.layers\.\d+\.self_attn\.sampling_offsets\.weight")
    heads = (
        off.shape[0] // (3 * 4 * 2) if off is not None else 8
    )  # 3 levels x 4 points x (x, y), HF's fixed values
    enc_fc1 = _first(hf, re.escape(_PD) + r"encoder\.layers\.\d+\.fc1\.weight")
    dec_fc1 = _first(hf, re.escape(_TM) + r"decoder\.layers\.\d+\.fc1\.weight")
    enc_ff = enc_fc1.shape[0] if enc_fc1 is not None else 1024
    dec_ff = dec_fc1.shape[0] if dec_fc1 is not None else 2048
    blocks = re.compile(re.escape(_EN) + r"(?:swin\.)?encoder\.layers\.(\d+)\.blocks\.(\d+)\.")
    depth: dict[int, set[int]] = {}
    tables: dict[int, torch.Tensor] = {}
    for k, v in hf.items():
        m = blocks.match(k)
        if m:
            depth.setdefault(int(m[1]), set()).add(int(m[2]))
            if k.endswith("relative_position_bias_table"):
                tables.setdefault(int(m[1]), v)
    stages = sorted(depth)
    if not stages or stages != list(range(len(stages))) or sorted(tables) != stages:
        raise OfficialCheckpointError(
            "the checkpoint's Swin blocks are incomplete (no relative position bias tables or stages missing)"
        )
    side = tables[0].shape[0]
    fc1 = _first(
        hf,
        re.escape(_EN)
        + r"(?:swin\.)?encoder\.layers\.0\.blocks\.\d+\.(?:intermediate\.dense|mlp\.fc1)\.weight",
    )
    embed = int(hf[_EN + "embeddings.patch_embeddings.projection.weight"].shape[0])
    swin = {
        "embed_dim": embed,
        "depths": tuple(len(depth[s]) for s in stages),
        "num_heads": tuple(int(tables[s].shape[1]) for s in stages),
        "window_size": int((math.isqrt(side) + 1) // 2),
        "mlp_ratio": fc1.shape[0] / embed if fc1 is not None else 4.0,
    }
    if hf[_EN + "embeddings.patch_embeddings.projection.weight"].shape[-1] != 4:
        raise OfficialCheckpointError("only patch-4 Swins are supported (swin_*_patch4_*)")
    if stage == "avs" and c != 2:
        raise OfficialCheckpointError(
            f"a stage-1 (avs) checkpoint has 2 classes + no-object, this one {c} + 1: "
            "is it a stage-2 (avss) one?"
        )
    return _official_arch(
        stage,
        profile,
        swin=swin,
        adapters=any(".swin_adapt_" in k for k in hf),
        audio_dim=int(rest["audio_proj.0.weight"].shape[1]),
        encoder_layers=enc,
        encoder_feedforward=enc_ff,
        hidden_dim=d,
        num_heads=heads,
        dim_feedforward=dec_ff,
        decoder_layers=dec,
        num_queries=q,
        num_classes=c,
    )


def _official_arch(
    stage: str,
    profile: Profile | None,
    *,
    swin: Mapping[str, Any],
    adapters: bool,
    audio_dim: int,
    encoder_layers: int,
    encoder_feedforward: int,
    hidden_dim: int,
    num_heads: int,
    dim_feedforward: int,
    decoder_layers: int,
    num_queries: int,
    num_classes: int,
) -> Profile:
    """``profile`` (default ``paper``) holding the official ``stage``'s architecture with these sizes."""
    base = profile if profile is not None else resolve_profile("paper")
    # HF's SwinBackbone (the Mask2Former encoder) runs its blocks with always_partition=True: a block whose
    # map is no larger than the window (Swin-B's stage 4 at 384 px: 12x12, window 12) still shifts by
    # window // 2 with the shift mask; timm's default clips window and shift there, so the converted backbone
    # asks timm for the same
    kwargs: dict[str, Any] = {"always_partition": True}
    if dict(swin) != _SWIN_B:
        kwargs.update(
            embed_dim=swin["embed_dim"],
            depths=list(swin["depths"]),
            num_heads=list(swin["num_heads"]),
            window_size=swin["window_size"],
            mlp_ratio=swin["mlp_ratio"],
        )
    model = dict(
        backbone="swin_base_patch4_window12_384",
        backbone_kwargs=kwargs,
        backbone_img_size=OFFICIAL_INPUT_SIZE,
        adapters=adapters,
        freeze_backbone=True,
        audio_dim=audio_dim,
        pixel_decoder="msdeform",
        num_encoder_layers=encoder_layers,
        encoder_feedforward=encoder_feedforward,
        mask_stride=4,
        hidden_dim=hidden_dim,
        num_heads=num_heads,
        dim_feedforward=dim_feedforward,
        num_decoder_layers=decoder_layers,
        query_mode="aaqg",
        avs_adapt="replace" if stage == "avs" else "after",
        norm_groups=32,
        class_matching=False,
    )
    if stage == "avs":
        model.update(stage1_num_queries=num_queries)
    else:
        model.update(
            num_queries=num_queries,
            num_classes=num_classes,
            mask_fusion=True,
            prior_attention=True,
            robust_keys=True,
            tau_silent=0.4,
            tau_sounding=0.6,
        )  # avss/.../modeling_mask2former.py
    return base.replace(
        model=model, data={"image_size": OFFICIAL_INPUT_SIZE, "eval_size": OFFICIAL_EVAL_SIZE}
    )


def released_profile(stage: str, profile: Profile | None = None) -> Profile:
    """The architecture of the released checkpoints (GeWu-Lab/Stepping-Stones README), without a checkpoint.

    Swin-B at 384 px with adapters, 6 deformable encoder layers (FFN 1024), 9 masked-attention layers (D 256,
    8 heads, FFN 2048), 128-d VGGish audio, 30 queries and 2 classes (``avs``) or 100 queries and 71 classes
    (``avss``; docs/paper_and_code.md §1.7-1.8): what :func:`official_profile` reads off a released file.
    """
    if stage not in OFFICIAL_STAGES:
        raise ValueError(f"stage must be one of {OFFICIAL_STAGES}, got {stage!r}")
    avs = stage == "avs"
    return _official_arch(
        stage,
        profile,
        swin=_SWIN_B,
        adapters=True,
        audio_dim=128,
        encoder_layers=6,
        encoder_feedforward=1024,
        hidden_dim=256,
        num_heads=8,
        dim_feedforward=2048,
        decoder_layers=9,
        num_queries=30 if avs else 100,
        num_classes=2 if avs else 71,
    )


def build_official_model(profile: Profile, stage: str) -> nn.Module:
    """An AAVS with the official ``stage``'s architecture (``profile`` from :func:`official_profile`)."""
    from .build import build_model

    cfg = profile.model
    if stage == "avs":
        q = cfg.stage1_num_queries or cfg.num_queries
        return build_model(dataclasses.replace(cfg, num_queries=q), num_classes=2)
    return build_model(cfg, num_classes=cfg.num_classes, use_prior=True)


def translate_official(
    state: Mapping[str, torch.Tensor], stage: str, profile: Profile
) -> tuple[dict[str, torch.Tensor], dict[str, str], list[str]]:
    """Official keys -> ours. Returns ``(mapped, ignored {official key: why}, unmapped official keys)``."""
    hf, rest = _split(state)
    cfg = profile.model
    mapped: dict[str, torch.Tensor] = {}
    ignored: dict[str, str] = {}
    unmapped: list[str] = []
    hf_part: dict[str, torch.Tensor] = {}
    robust: dict[int, torch.Tensor] = {}
    for key, val in hf.items():
        full = (
            "model.model." + key if not key.startswith(("class_predictor.", "criterion.")) else "model." + key
        )
        why = next((w for rx, w in _IGNORED if rx.fullmatch(key)), None)
        if why is None and stage == "avs" and any(rx.fullmatch(key) for rx in _STAGE1_UNUSED):
            why = "unused by the official stage-1 forward (avs_adapt replaces it)"
        if why is not None:
            ignored[full] = why
            continue
        if _hf_maps(key):
            hf_part[key] = val
            continue
        for rx, template in _EXTRA_RULES:
            m = rx.fullmatch(key)
            if m:
                mapped[m.expand(template).replace("{0}", "down").replace("{2}", "up")] = val
                break
        else:
            name = key[len(_TM) : -len(".weight")] if key.startswith(_TM) and key.endswith(".weight") else ""
            if name in _ROBUST and val.dim() == 2 and val.shape[0] == 1:
                robust[_ROBUST[name]] = val[0]
            else:
                unmapped.append(full)
    for key, val in rest.items():
        m = re.fullmatch(r"audio_proj\.([02])\.(weight|bias)", key)
        if m:
            mapped[f"audio_encoder.projector.net.{m[1]}.{m[2]}"] = val
        else:
            unmapped.append(key)
    if robust:
        if sorted(robust) != [0, 1, 2]:
            unmapped += [
                f"model.model.{_TM}{n}.weight (the other robust-key embeddings are missing)"
                for n, i in _ROBUST.items()
                if i in robust
            ]
        else:
            mapped["robust_keys.embed.weight"] = torch.stack([robust[i] for i in range(3)])
    try:
        mapped.update(hf_port.state_dict_from_hf(hf_part, cfg))
    except ValueError as err:
        unmapped.append(f"(HF Mask2Former part: {err})")
    return mapped, ignored, unmapped


def load_official_checkpoint(
    path_or_state_dict: str | Path | Mapping[str, torch.Tensor], stage: str, profile: Profile | None = None
) -> tuple[nn.Module, Profile]:
    """Load a released Stepping Stones checkpoint (``f_miou_best.pth`` of ``avs/`` or ``avss/``) into our
    AAVS.

    Args:
        path_or_state_dict: the official file (``torch.save(AdaptiveAVS.state_dict())``) or its state_dict.
        stage: ``"avs"`` (stage 1, binary; official ``avs/``) or ``"avss"`` (stage 2, semantic with the mask
            prior; official ``avss/``).
        profile: the base for what the checkpoint does not fix (default ``paper``); the architecture is read
            off the checkpoint (:func:`official_profile`).
    Returns:
        ``(model in eval mode, profile)``. The model takes frames in [0, 1] at 384 px (see
        :func:`official_preprocess`), audio as the profile's encoder wants it and, for ``avss``, the prior.
    Raises:
        OfficialCheckpointError: one message listing every unmapped official key, every model key the
            checkpoint lacks and every shape mismatch.
    """
    state = _read(path_or_state_dict)
    profile = official_profile(state, stage, profile)
    model = build_official_model(profile, stage)
    mapped, ignored, unmapped = translate_official(state, stage, profile)
    own = model.state_dict()
    external = "audio_encoder.encoder."  # the VGGish: not in the official checkpoints (see module docstring)
    missing = sorted(k for k in own if k not in mapped and not k.startswith(external))
    unexpected = sorted(k for k in mapped if k not in own)
    shapes = sorted(
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in mapped.items()
        if k in own and own[k].shape != v.shape
    )
    problems = []
    for title, items in (
        ("unmapped official keys", unmapped),
        ("model keys the checkpoint lacks", missing),
        ("mapped keys the model lacks", unexpected),
        ("shape mismatches", shapes),
    ):
        if items:
            shown = "; ".join(items[:12]) + (f"; ... ({len(items) - 12} more)" if len(items) > 12 else "")
            problems.append(f"{len(items)} {title}: {shown}")
    if problems:
        raise OfficialCheckpointError(
            f"official {stage} checkpoint does not fit the {stage} model:\n  " + "\n  ".join(problems)
        )
    model.load_state_dict(mapped, strict=False)
    enc = profile.model.audio_encoder
    if enc != "precomputed" and not profile.model.audio_weights:
        warnings.warn(
            f"the converted model's audio encoder ({enc}) is randomly initialised: the official code "
            "uses towhee's VGGish, which its checkpoints do not hold; set model__audio_encoder='vggish' "
            "with model__audio_weights=<torchvggish weights file>, or model__audio_encoder='precomputed' "
            "to feed VGGish embeddings",
            stacklevel=2,
        )
    model.conversion_report = {"mapped": len(mapped), "ignored": ignored, "official_keys": len(state)}
    return model.eval(), profile


# ----------------------------------------------------------------------------- official pre/post-processing
def official_preprocess(frames: torch.Tensor | np.ndarray, size: int = OFFICIAL_INPUT_SIZE) -> torch.Tensor:
    """The official image processor's resize (``Mask2FormerImageProcessor``: PIL bilinear, uint8) -> [0, 1].

    Args: frames ``uint8 [N, 3, H, W]`` RGB (as ``avs|avss/dataset.py`` reads them). Returns float
    ``[N, 3, size, size]`` in [0, 1]; AAVS subtracts the ImageNet mean and divides by the std itself, which
    completes the processor's ``rescale`` + ``normalize``.
    """
    from PIL import Image

    arr = frames.numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[1] != 3:
        raise ValueError(f"frames must be uint8 [N, 3, H, W], got {arr.dtype} {arr.shape}")
    out = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(f.transpose(1, 2, 0))).resize(
                (size, size), resample=Image.BILINEAR
            )
        )
        for f in arr
    ]
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float() / 255.0


def official_binary_scores(
    pred_logits: torch.Tensor, pred_masks: torch.Tensor, size: int = OFFICIAL_EVAL_SIZE
) -> torch.Tensor:
    """``post_process_binary_segmentation`` (official ``avs/``): masks to 384, scores {bg, audio} to
    ``size``."""
    from .aavs import semantic_scores

    return semantic_scores(pred_logits, pred_masks, size, mask_size=OFFICIAL_INPUT_SIZE)[:, :2]


def official_semantic_map(
    pred_logits: torch.Tensor, pred_masks: torch.Tensor, size: int = OFFICIAL_EVAL_SIZE
) -> torch.Tensor:
    """``post_process_semantic_segmentation`` (official ``avss/``): the argmax class map
    ``[N, size, size]``."""
    from .aavs import semantic_scores

    return semantic_scores(pred_logits, pred_masks, size, mask_size=OFFICIAL_INPUT_SIZE).argmax(1)
