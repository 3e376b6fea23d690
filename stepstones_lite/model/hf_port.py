"""Hugging Face Mask2Former weights -> our AAVS decoders (paper §3, docs/paper_and_code.md §1.4-1.5).

The official Stepping Stones code *is* HF ``transformers`` 4.35.2 Mask2Former with modifications, and
starts from the ADE20k Swin-B Mask2Former checkpoint. :func:`state_dict_from_hf` is the one key mapping
from an HF ``Mask2FormerForUniversalSegmentation`` state_dict (4.35 or 5.x naming) onto our modules:

HF key (``model.`` prefix dropped; PD = ``pixel_level_module.decoder.``, TM = ``transformer_module.``) ->
ours:

* PD ``input_projections.{0,1,2}.{0,1}`` -> ``pixel_decoder.input_proj.{res5,res4,res3}.{0,1}``
* PD ``level_embed`` (a Parameter ``[3, D]``) -> ``pixel_decoder.level_embed.weight``
* PD ``encoder.layers.i.self_attn.*`` -> ``pixel_decoder.layers.i.attn.*``;
  ``self_attn_layer_norm`` / ``final_layer_norm`` -> ``norm1`` / ``norm2``; ``fc1`` / ``fc2`` -> ``ffn.0`` /
  ``ffn.2``
* PD ``adapter_1`` / ``layer_1`` / ``mask_projection`` -> ``pixel_decoder.top_down.lateral.res2`` /
  ``output.res2`` / ``mask_projection``
* TM ``queries_features`` / ``queries_embedder`` -> ``queries.query_feat`` (Q_obj) / ``queries.query_embed``
  (P_audio)
* TM ``level_embed`` -> ``decoder.level_embed``
* TM ``decoder.layers.i.cross_attn.in_proj_*`` (q; k; v stacked) ->
  ``decoder.layers.i.cross_attn.{q,k,v}_proj``; ``cross_attn.out_proj`` and ``self_attn.{q,k,v,out}_proj``
  keep their names
* TM ``decoder.layers.i.{cross_attn,self_attn,final}_layer_norm`` -> ``decoder.layers.i.{norm1,norm2,norm3}``;
  ``fc1`` / ``fc2`` -> ``ffn.0`` / ``ffn.2``
* TM ``decoder.layernorm`` -> ``decoder.decoder_norm``;
  ``decoder.mask_predictor.mask_embedder.j.0`` -> ``decoder.mask_embed.layers.j``
* ``class_predictor`` -> ``decoder.class_embed``

With a timm Swin backbone (``cfg.backbone`` names a Swin), the HF Swin maps too (EN = ``pixel_level_module.
encoder.``, B = ``backbone.body.body.``; HF 4.x names in brackets; 4.x has no ``swin.`` level):

* EN ``swin.embeddings.patch_embeddings.projection`` / ``swin.embeddings.norm`` -> B ``patch_embed.proj`` /
  ``.norm``
* EN ``swin.encoder.layers.i.blocks.j.``: ``layernorm_before`` / ``layernorm_after`` -> B
  ``layers_i.blocks.j.norm1`` / ``norm2``; ``attention.{q,k,v}_proj`` (``attention.self.{query,key,value}``)
  concatenated -> ``attn.qkv``; ``attention.o_proj`` (``attention.output.dense``) -> ``attn.proj``;
  ``mlp.fc1`` / ``mlp.fc2`` (``intermediate.dense`` / ``output.dense``) -> ``mlp.fc1`` / ``mlp.fc2`` (``.0``
  inside an adapter wrapper); the relative position bias table -> ``attn.relative_position_bias_table``
* EN ``swin.encoder.layers.i.downsample`` (end of stage i) -> B ``layers_{i+1}.downsample`` (timm: start of
  stage i+1)
* EN ``hidden_states_norms.stage{i+1}`` -> ``backbone.body.out_norms.res{i+2}``

Caveat: HF's ``SwinBackbone`` runs its blocks with ``always_partition=True`` (a map no larger than the window,
Swin-B's stage 4 at 384 px, is still shifted by window // 2 under the shift mask); timm clips the shift there
unless built with ``backbone_kwargs={"always_partition": True}`` (``stepstones_lite.model.official`` does).

HF's ``decoder_layers`` counts the query-only initial prediction: ``decoder_layers = num_decoder_layers + 1``.
Not mapped: the audio parts, the adapters and the stage-2 prior modules (new in the paper). The class head
maps only when its size fits. tests/test_hf_parity.py checks equal logits, the whole model and each decoder.
Idea from the HF Mask2Former / Swin model code and timm's Swin; our own mapping.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
import torch.nn as nn

from ..config import ModelConfig

__all__ = ["state_dict_from_hf", "load_mask2former_checkpoint", "read_checkpoint"]

_LEVELS = ("res5", "res4", "res3")  # HF input_projections / level order: 1/32, 1/16, 1/8
_PD, _TM = "pixel_level_module.decoder.", "transformer_module."

# (HF regex after the "model." prefix, our key template); \1 etc. are regex groups
_RULES: list[tuple[str, str]] = [
    (_PD + r"level_embed", "pixel_decoder.level_embed.weight"),
    (
        _PD + r"encoder\.layers\.(\d+)\.self_attn\."
        r"(sampling_offsets|attention_weights|value_proj|output_proj)\.(weight|bias)",
        r"pixel_decoder.layers.\1.attn.\2.\3",
    ),
    (
        _PD + r"encoder\.layers\.(\d+)\.self_attn_layer_norm\.(weight|bias)",
        r"pixel_decoder.layers.\1.norm1.\2",
    ),
    (_PD + r"encoder\.layers\.(\d+)\.final_layer_norm\.(weight|bias)", r"pixel_decoder.layers.\1.norm2.\2"),
    (_PD + r"encoder\.layers\.(\d+)\.fc1\.(weight|bias)", r"pixel_decoder.layers.\1.ffn.0.\2"),
    (_PD + r"encoder\.layers\.(\d+)\.fc2\.(weight|bias)", r"pixel_decoder.layers.\1.ffn.2.\2"),
    (_PD + r"adapter_1\.(\d)\.(weight|bias)", r"pixel_decoder.top_down.lateral.res2.\1.\2"),
    (_PD + r"layer_1\.(\d)\.(weight|bias)", r"pixel_decoder.top_down.output.res2.\1.\2"),
    (_PD + r"mask_projection\.(weight|bias)", r"pixel_decoder.top_down.mask_projection.\1"),
    (_TM + r"queries_features\.weight", "queries.query_feat.weight"),
    (_TM + r"queries_embedder\.weight", "queries.query_embed.weight"),
    (_TM + r"level_embed\.weight", "decoder.level_embed.weight"),
    (
        _TM + r"decoder\.layers\.(\d+)\.cross_attn\.out_proj\.(weight|bias)",
        r"decoder.layers.\1.cross_attn.out_proj.\2",
    ),
    (
        _TM + r"decoder\.layers\.(\d+)\.self_attn\.(q_proj|k_proj|v_proj|out_proj)\.(weight|bias)",
        r"decoder.layers.\1.self_attn.\2.\3",
    ),
    (_TM + r"decoder\.layers\.(\d+)\.cross_attn_layer_norm\.(weight|bias)", r"decoder.layers.\1.norm1.\2"),
    (_TM + r"decoder\.layers\.(\d+)\.self_attn_layer_norm\.(weight|bias)", r"decoder.layers.\1.norm2.\2"),
    (_TM + r"decoder\.layers\.(\d+)\.final_layer_norm\.(weight|bias)", r"decoder.layers.\1.norm3.\2"),
    (_TM + r"decoder\.layers\.(\d+)\.fc1\.(weight|bias)", r"decoder.layers.\1.ffn.0.\2"),
    (_TM + r"decoder\.layers\.(\d+)\.fc2\.(weight|bias)", r"decoder.layers.\1.ffn.2.\2"),
    (_TM + r"decoder\.layernorm\.(weight|bias)", r"decoder.decoder_norm.\1"),
    (
        _TM + r"decoder\.mask_predictor\.mask_embedder\.(\d)\.0\.(weight|bias)",
        r"decoder.mask_embed.layers.\1.\2",
    ),
]
_RULES_RE = [(re.compile(p + r"$"), t) for p, t in _RULES]

_EN = r"pixel_level_module\.encoder\."
_BLOCK = _EN + r"(?:swin\.)?encoder\.layers\.(\d+)\.blocks\.(\d+)\."
_SWIN_RULES: list[tuple[str, str]] = [  # {a} = ".0" inside an adapter wrapper
    (_EN + r"(?:swin\.)?embeddings\.patch_embeddings\.projection\.(weight|bias)", r"patch_embed.proj.\1"),
    (_EN + r"(?:swin\.)?embeddings\.norm\.(weight|bias)", r"patch_embed.norm.\1"),
    (_BLOCK + r"layernorm_before\.(weight|bias)", r"layers_\1.blocks.\2.norm1.\3"),
    (_BLOCK + r"layernorm_after\.(weight|bias)", r"layers_\1.blocks.\2.norm2.\3"),
    (
        _BLOCK + r"attention\.(?:relative_position_bias|self)\.relative_position_bias_table",
        r"layers_\1.blocks.\2.attn.relative_position_bias_table",
    ),
    (_BLOCK + r"attention\.(?:o_proj|output\.dense)\.(weight|bias)", r"layers_\1.blocks.\2.attn.proj{a}.\3"),
    (_BLOCK + r"(?:mlp\.fc1|intermediate\.dense)\.(weight|bias)", r"layers_\1.blocks.\2.mlp.fc1.\3"),
    (_BLOCK + r"(?:mlp\.fc2|output\.dense)\.(weight|bias)", r"layers_\1.blocks.\2.mlp.fc2{a}.\3"),
]
_SWIN_RE = [(re.compile(p + r"$"), t) for p, t in _SWIN_RULES]
_QKV = re.compile(_BLOCK + r"attention\.(?:(q|k|v)_proj|self\.(query|key|value))\.(weight|bias)$")
_DOWN = re.compile(_EN + r"(?:swin\.)?encoder\.layers\.(\d+)\.downsample\.(reduction|norm)\.(weight|bias)$")
_OUT_NORM = re.compile(_EN + r"hidden_states_norms\.stage(\d)\.(weight|bias)$")


def _swin_from_hf(sd: dict[str, torch.Tensor], adapters: bool) -> dict[str, torch.Tensor]:
    """HF ``SwinBackbone`` keys (4.x or 5.x names) -> our ``backbone.body.*`` (timm ``features_only``
    Swin)."""
    body, a = "backbone.body.body.", ".0" if adapters else ""
    out: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[str, str, str], dict[str, torch.Tensor]] = {}
    for key, val in sd.items():
        m = _QKV.match(key)
        if m:
            part = m[3] or {"query": "q", "key": "k", "value": "v"}[m[4]]
            qkv.setdefault((m[1], m[2], m[5]), {})[part] = val
            continue
        m = _DOWN.match(key)
        if m:
            out[f"{body}layers_{int(m[1]) + 1}.downsample.{m[2]}.{m[3]}"] = val
            continue
        m = _OUT_NORM.match(key)
        if m:
            out[f"backbone.body.out_norms.res{int(m[1]) + 1}.{m[2]}"] = val
            continue
        for rule, template in _SWIN_RE:
            m = rule.match(key)
            if m:
                out[body + m.expand(template.replace("{a}", a))] = val
                break
    for (stage, block, kind), parts in qkv.items():
        if set(parts) != {"q", "k", "v"}:
            raise ValueError(f"HF Swin block {stage}.{block} lacks some of its q/k/v {kind}s")
        out[f"{body}layers_{stage}.blocks.{block}.attn.qkv.{kind}"] = torch.cat([parts[p] for p in "qkv"], 0)
    return out


def state_dict_from_hf(hf_state_dict: dict[str, torch.Tensor], cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """Map an HF Mask2Former state_dict onto AAVS keys (pixel decoder, transformer decoder, queries).

    Args:
        hf_state_dict: ``Mask2FormerForUniversalSegmentation.state_dict()`` (or a saved checkpoint's), with
            or without the ``model.`` prefix.
        cfg: the :class:`ModelConfig` the AAVS was built from; checked against the checkpoint (``msdeform``
            pixel decoder, ``mask_stride`` 4, layer counts, D). The query count and class count may differ
            (:func:`load_mask2former_checkpoint` leaves those at their init).
    Returns:
        ``{our_key: tensor}`` for ``model.load_state_dict(..., strict=False)``; the backbone's keys only when
        ``cfg.backbone`` is a timm Swin; audio keys never.
    Raises:
        ValueError: the checkpoint is not a Mask2Former one, or does not fit ``cfg``.
    """
    if cfg.pixel_decoder != "msdeform" or cfg.mask_stride != 4:
        raise ValueError(
            "HF Mask2Former weights need pixel_decoder='msdeform' and mask_stride=4, got "
            f"{cfg.pixel_decoder!r} and {cfg.mask_stride}"
        )
    sd = {(k[len("model.") :] if k.startswith("model.") else k): v for k, v in hf_state_dict.items()}
    out: dict[str, torch.Tensor] = {}
    for key, val in sd.items():
        m = re.fullmatch(_PD + r"input_projections\.(\d)\.(\d)\.(weight|bias)", key)
        if m:
            out[f"pixel_decoder.input_proj.{_LEVELS[int(m[1])]}.{m[2]}.{m[3]}"] = val
            continue
        m = re.fullmatch(_TM + r"decoder\.layers\.(\d+)\.cross_attn\.in_proj_(weight|bias)", key)
        if m:  # nn.MultiheadAttention packs q; k; v along dim 0
            for name, part in zip(("q_proj", "k_proj", "v_proj"), val.chunk(3, dim=0)):
                out[f"decoder.layers.{m[1]}.cross_attn.{name}.{m[2]}"] = part
            continue
        if key.startswith("class_predictor."):
            out["decoder.class_embed." + key.split(".", 1)[1]] = val
            continue
        for rule, template in _RULES_RE:
            m = rule.fullmatch(key)
            if m:
                out[m.expand(template)] = val
                break
    if "swin" in cfg.backbone:
        out.update(_swin_from_hf(sd, cfg.adapters))
    if not any(k.startswith("decoder.layers.") for k in out):
        raise ValueError("not a Mask2Former state_dict: no transformer_module.decoder.layers.* keys found")
    if _TM + "input_projections.0.weight" in sd:
        raise ValueError(
            "checkpoint has transformer input projections (enforce_input_projection or feature_size "
            "!= hidden_dim); our decoder has none"
        )
    _check_fit(out, cfg)
    return out


def _check_fit(out: dict[str, torch.Tensor], cfg: ModelConfig) -> None:
    """Layer counts and widths of the mapped checkpoint against ``cfg``: one clear error if they differ."""

    def count(prefix: str) -> int:
        return len({k.split(".")[2] for k in out if k.startswith(prefix)})

    n_dec, n_enc = count("decoder.layers."), count("pixel_decoder.layers.")
    problems = []
    if n_dec != cfg.num_decoder_layers:
        problems.append(
            f"{n_dec} masked-attention layers (HF decoder_layers={n_dec + 1}) but "
            f"num_decoder_layers={cfg.num_decoder_layers}"
        )
    if n_enc != max(1, cfg.num_encoder_layers):
        problems.append(f"{n_enc} deformable encoder layers but num_encoder_layers={cfg.num_encoder_layers}")
    d = (
        out["decoder.decoder_norm.weight"].shape[0]
        if "decoder.decoder_norm.weight" in out
        else cfg.hidden_dim
    )
    if d != cfg.hidden_dim:
        problems.append(f"hidden size {d} but hidden_dim={cfg.hidden_dim}")
    if problems:
        raise ValueError("HF Mask2Former checkpoint does not fit the model config: " + "; ".join(problems))


def _config_of(model: nn.Module) -> ModelConfig:
    """The fields :func:`state_dict_from_hf` checks, read off a built AAVS."""
    from .pixel_decoder import MSDeformPixelDecoder

    pix = model.pixel_decoder
    body = getattr(model.backbone.body, "body", None)
    swin = body is not None and any(type(m).__name__ == "SwinTransformerBlock" for m in body.modules())
    return ModelConfig(
        backbone="swin" if swin else "other",
        adapters=model.backbone.num_block_adapters > 0,
        pixel_decoder="msdeform" if isinstance(pix, MSDeformPixelDecoder) else "fpn",
        mask_stride=pix.top_down.mask_stride,
        num_encoder_layers=len(getattr(pix, "layers", [])),
        num_decoder_layers=len(model.decoder.layers),
        hidden_dim=model.decoder.decoder_norm.weight.shape[0],
        num_queries=model.queries.query_feat.num_embeddings,
    )


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a *local* HF checkpoint: a ``.safetensors`` / ``.bin`` / ``.pt`` / ``.pth`` file, or a folder
    holding ``model.safetensors`` or ``pytorch_model.bin`` (``save_pretrained``). Never downloads."""
    p = Path(path)
    if p.is_dir():
        for name in ("model.safetensors", "pytorch_model.bin"):
            if (p / name).is_file():
                p = p / name
                break
        else:
            raise FileNotFoundError(f"{path}: folder has neither model.safetensors nor pytorch_model.bin")
    if not p.is_file():
        raise FileNotFoundError(f"Mask2Former checkpoint {p} does not exist (weights are never downloaded)")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(p))
        else:
            state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"Mask2Former checkpoint {p} is not a readable state_dict: {err}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"Mask2Former checkpoint {p} does not hold a state_dict")
    return state


def load_mask2former_checkpoint(
    path: str | Path, model: nn.Module, cfg: ModelConfig | None = None
) -> list[str]:
    """Load a locally saved HF Mask2Former checkpoint (e.g. the ADE20k Swin-B one) into an AAVS model.

    Args:
        path: a checkpoint file or ``save_pretrained`` folder (see :func:`read_checkpoint`).
        model: an AAVS from ``build_model(cfg, num_classes=...)``. The class head and the queries are loaded
            only when their sizes match (ADE20k's 151 logits do not fit AVSS's 72, nor its 100 queries the
            stage-1 model's 30): those keep their init, as HF's ``ignore_mismatched_sizes`` does in the
            official code.
        cfg: the model's config (default: the fields the mapping checks, read off ``model``).
    Returns:
        Our keys that were loaded.
    """
    cfg = cfg if cfg is not None else _config_of(model)
    mapped = state_dict_from_hf(read_checkpoint(path), cfg)
    own = model.state_dict()
    unknown = sorted(k for k in mapped if k not in own)
    if unknown:
        raise ValueError(f"{path}: mapped keys missing from the model, e.g. {unknown[:3]}")
    load = {k: v for k, v in mapped.items() if own[k].shape == v.shape}
    bad = sorted(
        k for k in mapped if k not in load and not k.startswith(("decoder.class_embed.", "queries."))
    )
    if bad:
        raise ValueError(
            f"{path}: shapes do not fit the model for {len(bad)} keys, e.g. {bad[0]} "
            f"{tuple(mapped[bad[0]].shape)} vs {tuple(own[bad[0]].shape)}"
        )
    model.load_state_dict(load, strict=False)
    return sorted(load)
