"""Parity with Hugging Face Mask2Former (random init, small configs, no download).

Our pixel decoder + masked-attention decoder, loaded through ``hf_port.state_dict_from_hf``, must give
HF ``Mask2FormerForUniversalSegmentation``'s class and mask logits (every prediction, the initial one
included) from the same backbone features, to 1e-4. The backbone is not mapped (see hf_port's docstring).
"""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")

from stepstones_lite.config import resolve_profile  # noqa: E402
from stepstones_lite.model import build_model  # noqa: E402
from stepstones_lite.model.hf_port import load_mask2former_checkpoint, state_dict_from_hf  # noqa: E402

D, HEADS, QUERIES, LABELS, ENC, DEC = 64, 4, 6, 5, 2, 4  # DEC = HF decoder_layers (3 masked-attention layers)
CHANNELS = (32, 64, 128, 256)  # the small Swin's stage widths


def _hf_model(seed: int = 0):
    from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation, SwinConfig

    torch.manual_seed(seed)
    swin = SwinConfig(
        image_size=64,
        embed_dim=CHANNELS[0],
        depths=[1, 1, 1, 1],
        num_heads=[1, 2, 4, 8],
        window_size=2,
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    cfg = Mask2FormerConfig(
        backbone_config=swin,
        use_pretrained_backbone=False,
        num_labels=LABELS,
        num_queries=QUERIES,
        hidden_dim=D,
        feature_size=D,
        mask_feature_size=D,
        num_attention_heads=HEADS,
        dim_feedforward=96,
        encoder_feedforward_dim=80,
        encoder_layers=ENC,
        decoder_layers=DEC,
    )
    model = Mask2FormerForUniversalSegmentation(cfg).eval()
    with torch.no_grad():  # a non-trivial init: HF's zero-init offsets/attention weights would hide mistakes
        for name, p in model.named_parameters():
            if "sampling_offsets" in name or "attention_weights" in name or "level_embed" in name:
                p.normal_(0, 0.5)
            elif "mask_embedder.2" in name or "queries_" in name:
                p.normal_(0, 1.0)
    return model


def _our_cfg(**over):
    base = dict(
        backbone="lite_cnn",
        backbone_channels=CHANNELS,
        freeze_backbone=False,
        adapters=False,
        audio_encoder="lite_cnn",
        pixel_decoder="msdeform",
        num_encoder_layers=ENC,
        encoder_feedforward=80,
        mask_stride=4,
        hidden_dim=D,
        num_heads=HEADS,
        dim_feedforward=96,
        num_decoder_layers=DEC - 1,
        num_queries=QUERIES,
        query_mode="none",
    )
    base.update(over)
    return resolve_profile("paper", **{f"model__{k}": v for k, v in base.items()}).model


def _ours(hf, cfg=None):
    cfg = cfg or _our_cfg()
    model = build_model(cfg, num_classes=LABELS).eval()
    mapped = state_dict_from_hf(hf.state_dict(), cfg)
    missing, unexpected = model.load_state_dict(mapped, strict=False)
    assert not unexpected
    # everything in the two decoders and the queries comes from HF
    assert not [k for k in missing if k.split(".")[0] in ("pixel_decoder", "decoder", "queries")]
    return model


def _hf_run(hf, seed: int = 1, n: int = 2):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 64, 64, generator=g)
    with torch.no_grad():
        out = hf(pixel_values=x, output_hidden_states=True, output_auxiliary_logits=True)
        pix = hf.model.pixel_level_module.decoder(list(out.encoder_hidden_states))
    feats = dict(zip(("res2", "res3", "res4", "res5"), out.encoder_hidden_states))
    return out, pix, feats


def _run_ours(model, feats):
    n = feats["res2"].shape[0]
    with torch.no_grad():
        pix = model.pixel_decoder(feats)
        tgt, query_pos, _ = model.queries(torch.zeros(n, D))
        dec = model.decoder(pix.memories, pix.pos, pix.mask_features, tgt, query_pos)
    return pix, dec


def test_pixel_decoder_matches_hf():
    hf = _hf_model()
    ours = _ours(hf)
    _, hf_pix, feats = _hf_run(hf)
    pix, _ = _run_ours(ours, feats)
    assert pix.mask_features.shape == (2, D, 16, 16)
    torch.testing.assert_close(pix.mask_features, hf_pix.mask_features, atol=1e-4, rtol=1e-4)
    for mine, theirs in zip(pix.memories, hf_pix.multi_scale_features):  # 1/32, 1/16, 1/8
        torch.testing.assert_close(mine, theirs, atol=1e-4, rtol=1e-4)


def test_transformer_decoder_matches_hf_given_its_pixel_decoder_outputs():
    hf = _hf_model(seed=3)
    ours = _ours(hf)
    out, hf_pix, _ = _hf_run(hf, seed=4)
    mem = list(hf_pix.multi_scale_features)
    pos = [_pos(m) for m in mem]
    tgt, query_pos, _ = ours.queries(torch.zeros(2, D))
    with torch.no_grad():
        dec = ours.decoder(mem, pos, hf_pix.mask_features, tgt, query_pos)
    assert len(dec.predictions) == DEC  # initial prediction + 3 layers
    torch.testing.assert_close(dec.predictions[-1][0], out.class_queries_logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(dec.predictions[-1][1], out.masks_queries_logits, atol=1e-4, rtol=1e-4)


def _pos(m):
    from stepstones_lite.model.pixel_decoder import sine_position_embedding

    return sine_position_embedding(m.shape[0], m.shape[2], m.shape[3], m.shape[1], m.device, m.dtype)


def test_full_decoders_match_hf_from_backbone_features_every_prediction():
    hf = _hf_model(seed=5)
    ours = _ours(hf)
    out, _, feats = _hf_run(hf, seed=6, n=3)
    _, dec = _run_ours(ours, feats)
    # HF's aux outputs are the initial prediction and every layer but the last, as ours
    hf_preds = [(a["class_queries_logits"], a["masks_queries_logits"]) for a in out.auxiliary_logits]
    hf_preds.append((out.class_queries_logits, out.masks_queries_logits))
    assert len(hf_preds) == len(dec.predictions) == DEC
    for (lg, mk), (hlg, hmk) in zip(dec.predictions, hf_preds):
        assert lg.shape == (3, QUERIES, LABELS + 1) and mk.shape == (3, QUERIES, 16, 16)
        torch.testing.assert_close(lg, hlg, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(mk, hmk, atol=1e-4, rtol=1e-4)
    # not vacuous: the masks are far from zero and the attention masks block a real share of pixels
    assert out.masks_queries_logits.abs().mean() > 0.5
    assert 0.05 < (out.masks_queries_logits < 0).float().mean() < 0.95


def test_mapping_is_needed_a_fresh_model_differs():
    hf = _hf_model(seed=7)
    fresh = build_model(_our_cfg(), num_classes=LABELS).eval()
    out, _, feats = _hf_run(hf, seed=8)
    _, dec = _run_ours(fresh, feats)
    assert (dec.predictions[-1][1] - out.masks_queries_logits).abs().max() > 1e-2


def test_cross_attention_in_proj_is_split_q_k_v():
    hf = _hf_model(seed=9)
    sd = hf.state_dict()
    mapped = state_dict_from_hf(sd, _our_cfg())
    w = sd["model.transformer_module.decoder.layers.1.cross_attn.in_proj_weight"]  # [3D, D]
    torch.testing.assert_close(mapped["decoder.layers.1.cross_attn.k_proj.weight"], w[D : 2 * D])
    torch.testing.assert_close(
        mapped["pixel_decoder.input_proj.res5.0.weight"],
        sd["model.pixel_level_module.decoder.input_projections.0.0.weight"],
    )
    torch.testing.assert_close(
        mapped["pixel_decoder.level_embed.weight"], sd["model.pixel_level_module.decoder.level_embed"]
    )
    assert not any(k.startswith("backbone.") for k in mapped)


def test_mapping_rejects_a_config_that_does_not_fit():
    hf = _hf_model()
    with pytest.raises(ValueError, match="num_decoder_layers=5"):
        state_dict_from_hf(hf.state_dict(), _our_cfg(num_decoder_layers=5))
    with pytest.raises(ValueError, match="msdeform"):
        state_dict_from_hf(hf.state_dict(), _our_cfg(pixel_decoder="fpn"))
    with pytest.raises(ValueError, match="not a Mask2Former"):
        state_dict_from_hf({"foo.weight": torch.zeros(1)}, _our_cfg())


@pytest.mark.parametrize("fmt", ["torch", "save_pretrained"])
def test_load_mask2former_checkpoint_from_local_files(tmp_path, fmt):
    hf = _hf_model(seed=11)
    if fmt == "torch":
        path = tmp_path / "m2f.pth"
        torch.save(hf.state_dict(), path)
    else:
        path = tmp_path / "m2f"
        hf.save_pretrained(path)  # model.safetensors
    model = build_model(_our_cfg(), num_classes=LABELS).eval()
    loaded = load_mask2former_checkpoint(path, model)
    assert "decoder.class_embed.weight" in loaded and "pixel_decoder.level_embed.weight" in loaded
    out, _, feats = _hf_run(hf, seed=12)
    _, dec = _run_ours(model, feats)
    torch.testing.assert_close(dec.predictions[-1][1], out.masks_queries_logits, atol=1e-4, rtol=1e-4)
    # a 71-class AVSS head does not fit the 5-label checkpoint: it keeps its init, the rest loads
    avss = build_model(_our_cfg(), num_classes=71)
    loaded = load_mask2former_checkpoint(path, avss)
    assert "decoder.class_embed.weight" not in loaded and "decoder.mask_embed.layers.2.weight" in loaded
    fewer = build_model(_our_cfg(num_queries=QUERIES - 2), num_classes=LABELS)  # stage 1: fewer queries
    loaded = load_mask2former_checkpoint(path, fewer)
    assert "queries.query_feat.weight" not in loaded and "decoder.class_embed.weight" in loaded
    with pytest.raises(ValueError, match="num_encoder_layers=1"):
        load_mask2former_checkpoint(path, build_model(_our_cfg(num_encoder_layers=1), num_classes=LABELS))
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        load_mask2former_checkpoint(tmp_path / "nope.safetensors", model)


def _small_swin_aavs(cfg, num_classes=LABELS, adapters=False):
    """An AAVS whose backbone is a timm Swin shaped like the small HF Swin (built without Swin-B's cost)."""
    from stepstones_lite.model.backbone import Backbone, TimmBackbone

    model = build_model(cfg, num_classes=num_classes)
    body = TimmBackbone(
        "swin_base_patch4_window12_384",
        img_size=64,
        embed_dim=CHANNELS[0],
        depths=(1, 1, 1, 1),
        num_heads=(1, 2, 4, 8),
        window_size=2,
    )
    model.backbone = Backbone(body, freeze=True, adapters=adapters)
    return model.eval()


def test_whole_model_matches_hf_swin_included():
    """AAVS (query_mode none, no prior) with HF's Swin + decoders mapped in == HF Mask2Former, pixels to
    logits."""
    import dataclasses

    hf = _hf_model(seed=13)
    with torch.no_grad():  # HF inits its output norms to identity: perturb them so the mapping is checked
        for name, p in hf.named_parameters():
            if "hidden_states_norms" in name:
                p.normal_(1.0 if name.endswith("weight") else 0.0, 0.3)
    cfg = dataclasses.replace(_our_cfg(), backbone="swin_base_patch4_window12_384")
    ours = _small_swin_aavs(_our_cfg())
    mapped = state_dict_from_hf(hf.state_dict(), cfg)
    missing, unexpected = ours.load_state_dict(mapped, strict=False)
    assert not unexpected and not [k for k in missing if not k.startswith("audio_encoder.")]
    g = torch.Generator().manual_seed(14)
    frames, log_mel = torch.rand(2, 3, 64, 64, generator=g), torch.randn(2, 1, 96, 64, generator=g)
    with torch.no_grad():
        out = ours(frames, log_mel)
        ref = hf(pixel_values=(frames - ours.pixel_mean) / ours.pixel_std, output_auxiliary_logits=True)
    torch.testing.assert_close(out["pred_logits"], ref.class_queries_logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out["pred_masks"], ref.masks_queries_logits, atol=1e-4, rtol=1e-4)
    for mine, theirs in zip(out["aux_outputs"], ref.auxiliary_logits):
        torch.testing.assert_close(mine["pred_masks"], theirs["masks_queries_logits"], atol=1e-4, rtol=1e-4)
    # with adapters (identity at init) the Swin keys land inside the adapter wrappers and the logits still
    # match
    ours_ad = _small_swin_aavs(_our_cfg(), adapters=True)
    load_mask2former_checkpoint_state(ours_ad, hf)
    with torch.no_grad():
        torch.testing.assert_close(
            ours_ad(frames, log_mel)["pred_masks"], ref.masks_queries_logits, atol=1e-4, rtol=1e-4
        )


def load_mask2former_checkpoint_state(model, hf):
    from stepstones_lite.model.hf_port import _config_of

    cfg = _config_of(model)
    assert cfg.adapters and cfg.backbone == "swin"
    missing, unexpected = model.load_state_dict(state_dict_from_hf(hf.state_dict(), cfg), strict=False)
    assert not unexpected
    assert not [
        k for k in missing if not (k.startswith("audio_encoder.") or ".1.down." in k or ".1.up." in k)
    ]


def test_hf4_key_names_map_the_same():
    """Checkpoints saved by transformers 4.x (the official code's 4.35.2) name the Swin parts differently."""
    import dataclasses
    import re

    sd = _hf_model(seed=15).state_dict()
    old = {}
    for k, v in sd.items():
        k4 = k.replace("encoder.swin.", "encoder.")
        k4 = re.sub(
            r"attention\.(q|k|v)_proj",
            lambda m: "attention.self." + {"q": "query", "k": "key", "v": "value"}[m[1]],
            k4,
        )
        k4 = k4.replace("attention.o_proj", "attention.output.dense")
        k4 = k4.replace(
            "attention.relative_position_bias.relative_position_bias_table",
            "attention.self.relative_position_bias_table",
        )
        k4 = k4.replace("mlp.fc1", "intermediate.dense").replace("mlp.fc2", "output.dense")
        old[k4] = v
    assert old.keys() != sd.keys()
    cfg = dataclasses.replace(_our_cfg(), backbone="swin_base_patch4_window12_384")
    new_map, old_map = state_dict_from_hf(sd, cfg), state_dict_from_hf(old, cfg)
    assert new_map.keys() == old_map.keys() and any(
        k.startswith("backbone.body.body.layers_0") for k in new_map
    )
    for k in new_map:
        assert torch.equal(new_map[k], old_map[k]), k
