"""The AAVS model: shapes, Eq. 1, attention-mask rules, prior modules, post-processing, round trips."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stepstones_lite.config import resolve_profile
from stepstones_lite.model import (
    audio_aware_queries,
    binary_inference,
    binary_scores,
    build_model,
    count_parameters,
    export_prior_png,
    model_summary,
    semantic_inference,
    semantic_scores,
)
from stepstones_lite.model.aaqg import QueryGenerator
from stepstones_lite.model.backbone import Adapter, build_backbone
from stepstones_lite.model.pixel_decoder import ms_deform_attn_core
from stepstones_lite.model.prior import RobustKeys, fuse_prior, prior_attention_mask
from stepstones_lite.model.transformer_decoder import Attention, attention_mask_from_logits, unblock_full_rows

torch.set_num_threads(1)


def _inputs(n: int, size: int, prior: bool = False, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    frames = torch.rand(n, 3, size, size, generator=g)
    log_mel = torch.randn(n, 1, 96, 64, generator=g)
    pr = (torch.rand(n, size, size, generator=g) > 0.5).float() if prior else None
    return frames, log_mel, pr


# ----------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("profile", ["smoke", "classroom"])
@pytest.mark.parametrize("num_classes,use_prior", [(2, False), (71, True), (71, False)])
def test_output_shapes(profile, num_classes, use_prior):
    prof = resolve_profile(profile)
    cfg = prof.model
    torch.manual_seed(0)
    model = build_model(cfg, num_classes=num_classes, use_prior=use_prior)
    size = prof.data.image_size
    out = model(*_inputs(3, size, use_prior))
    hm = size // cfg.mask_stride
    assert out["pred_logits"].shape == (3, cfg.num_queries, num_classes + 1)
    assert out["pred_masks"].shape == (3, cfg.num_queries, hm, hm)
    assert len(out["aux_outputs"]) == cfg.num_decoder_layers  # initial prediction + all layers but the last
    for aux in out["aux_outputs"]:
        assert aux["pred_logits"].shape == out["pred_logits"].shape
        assert aux["pred_masks"].shape == out["pred_masks"].shape
    assert "attn" not in out
    assert torch.isfinite(out["pred_masks"]).all()


@pytest.mark.parametrize("stride", [2, 4])
@pytest.mark.parametrize("decoder", ["fpn", "msdeform"])
def test_mask_stride_and_pixel_decoders(stride, decoder):
    prof = resolve_profile(
        "smoke", model__mask_stride=stride, model__pixel_decoder=decoder, model__num_encoder_layers=1
    )
    model = build_model(prof.model, num_classes=2)
    pix = model.pixel_decoder(model.backbone(torch.rand(2, 3, 64, 64)))
    assert pix.mask_features.shape == (2, 32, 64 // stride, 64 // stride)
    assert [tuple(m.shape[-2:]) for m in pix.memories] == [(2, 2), (4, 4), (8, 8)]  # 1/32, 1/16, 1/8
    assert [p.shape for p in pix.pos] == [m.shape for m in pix.memories]


def test_backbone_and_audio_shapes():
    cfg = resolve_profile("classroom").model
    model = build_model(cfg, num_classes=2)
    feats = model.backbone(torch.rand(2, 3, 96, 96))
    for key, stride in [("res2", 4), ("res3", 8), ("res4", 16), ("res5", 32)]:
        assert feats[key].shape == (2, model.backbone.feature_channels[key], 96 // stride, 96 // stride)
    assert [model.backbone.feature_channels[k] for k in ("res2", "res3", "res4", "res5")] == list(
        cfg.backbone_channels
    )
    assert model.audio_encoder.embed(torch.randn(4, 1, 96, 64)).shape == (4, cfg.audio_dim)
    assert model.audio_encoder(torch.randn(4, 1, 96, 64)).shape == (4, cfg.hidden_dim)


def test_timm_resnet_backbone_with_adapters():
    bb = build_backbone("resnet18", freeze=True, adapters=True)
    feats = bb(torch.rand(1, 3, 64, 64))
    assert feats["res1"].shape[-1] == 32 and feats["res5"].shape == (1, 512, 2, 2)
    trainable = {n for n, p in bb.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("stage_adapters") for n in trainable)


def test_lite_cnn_block_adapters_add_capacity_and_start_as_the_identity(tmp_path):
    """adapter_placement="block": one adapter after every conv block of the lite CNN (8), inserted after the
    weights are loaded and the body frozen, so the adapters alone train; fresh, they leave the features
    unchanged; adapter_reduction sets the bottleneck width."""
    channels = (8, 16, 24, 32)
    torch.manual_seed(0)
    plain = build_backbone("lite_cnn", channels, freeze=True)
    weights = tmp_path / "body.pt"
    torch.save(plain.body.state_dict(), weights)
    block = build_backbone(
        "lite_cnn", channels, str(weights), freeze=True, adapters=True, adapter_placement="block",
        adapter_reduction=1,
    )  # fmt: skip
    stage = build_backbone("lite_cnn", channels, str(weights), freeze=True, adapters=True)
    assert block.num_block_adapters == 8 and not block.stage_adapters and len(stage.stage_adapters) == 4
    x = torch.rand(2, 3, 64, 64)
    plain.eval(), block.eval()
    for key, value in plain(x).items():
        torch.testing.assert_close(block(x)[key], value)  # zero-initialised: the identity
    trainable = {n: p for n, p in block.named_parameters() if p.requires_grad}
    assert trainable and all(".1.down." in n or ".1.up." in n for n in trainable)
    assert block.body.stages[3][1][1].down.out_features == 32  # d -> d/1 -> d
    assert stage.stage_adapters["res5"].down.out_features == 8  # d -> d/4 -> d
    n_block = sum(p.numel() for p in trainable.values())
    n_stage = sum(p.numel() for p in stage.parameters() if p.requires_grad)
    assert n_block > 4 * n_stage  # the knob's point: more adapter capacity
    with pytest.raises(ValueError, match="placement"):
        build_backbone("lite_cnn", channels, adapters=True, adapter_placement="everywhere")
    with pytest.raises(ValueError, match="needs the lite CNN or a Swin body, not TimmBackbone"):
        build_backbone("resnet18", adapters=True, adapter_placement="block")  # not silently per stage
    cfg = resolve_profile("smoke", model__adapter_placement="block").model
    assert build_model(cfg, num_classes=2).backbone.num_block_adapters == 8  # the config reaches the model


def test_bad_inputs_raise_clear_errors():
    model = build_model(resolve_profile("smoke").model, num_classes=2)
    frames, log_mel, _ = _inputs(2, 64)
    with pytest.raises(ValueError, match="use_prior=False"):
        model(frames, log_mel, torch.zeros(2, 64, 64))
    with pytest.raises(ValueError, match="log_mel"):
        model(frames, log_mel[:1])
    stage2 = build_model(resolve_profile("smoke").model, num_classes=71, use_prior=True)
    with pytest.raises(ValueError, match="pass prior"):
        stage2(frames, log_mel)
    with pytest.raises(ValueError, match="query_mode"):
        build_model(resolve_profile("smoke", model__query_mode="bogus").model, num_classes=2)
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        build_model(
            resolve_profile("smoke", model__backbone_weights="/nonexistent/w.pt").model, num_classes=2
        )


# ----------------------------------------------------------------------------- AAQG (Eq. 1)
def test_aaqg_matches_hand_computation():
    p = torch.tensor([[1.0, 0.0], [1.0, 1.0]])  # P_audio [Nq=2, D=2]
    a = torch.tensor([[2.0, 0.0], [0.0, 3.0]])  # F_A [T=2, D]
    q = torch.tensor([[0.5, 0.5], [-1.0, 2.0]])  # Q_obj
    out = audio_aware_queries(p, a, q)
    assert out.shape == (2, 2, 2)
    r = 1 / math.sqrt(2)
    # t=0: cos(P0,a0)=1, cos(P1,a0)=1/sqrt2 ; t=1: cos(P0,a1)=0, cos(P1,a1)=1/sqrt2
    expected = torch.tensor(
        [
            [[0.5 + 2.0, 0.5], [-1.0 + 2 * r, 2.0]],
            [[0.5, 0.5], [-1.0, 2.0 + 3 * r]],
        ]
    )
    torch.testing.assert_close(out, expected)
    # against the explicit formula on random tensors
    g = torch.Generator().manual_seed(1)
    p, a, q = torch.randn(5, 8, generator=g), torch.randn(3, 8, generator=g), torch.randn(5, 8, generator=g)
    out = audio_aware_queries(p, a, q)
    for t in range(3):
        for i in range(5):
            cos = (p[i] @ a[t]) / (p[i].norm() * a[t].norm())
            torch.testing.assert_close(out[t, i], cos * a[t] + q[i])


def test_query_modes():
    torch.manual_seed(0)
    audio = torch.randn(3, 16)
    gens = {m: QueryGenerator(4, 16, mode=m) for m in ("aaqg", "repeat_audio", "none")}
    for g in gens.values():  # same parameters everywhere
        g.load_state_dict(gens["aaqg"].state_dict())
    qf, pe = gens["aaqg"].query_feat.weight, gens["aaqg"].query_embed.weight
    tgt, pos, sim = gens["aaqg"](audio)
    torch.testing.assert_close(tgt, audio_aware_queries(pe, audio, qf))
    torch.testing.assert_close(pos, pe[None].expand(3, -1, -1))
    torch.testing.assert_close(sim, F.cosine_similarity(pe[None], audio[:, None], dim=-1))
    tgt, _, _ = gens["repeat_audio"](audio)
    torch.testing.assert_close(tgt, qf[None] + audio[:, None])
    tgt, _, _ = gens["none"](audio)
    torch.testing.assert_close(tgt, qf[None].expand(3, -1, -1))


def test_query_modes_change_audio_dependence():
    prof = resolve_profile("smoke")
    frames, log_mel, _ = _inputs(2, 64)
    other = torch.randn_like(log_mel)
    for mode, depends in [("aaqg", True), ("repeat_audio", True), ("none", False)]:
        torch.manual_seed(0)
        model = build_model(resolve_profile(prof, model__query_mode=mode).model, num_classes=2).eval()
        with torch.no_grad():
            a, b = model(frames, log_mel)["pred_logits"], model(frames, other)["pred_logits"]
        assert (not torch.allclose(a, b)) == depends, mode


# ----------------------------------------------------------------------------- attention masks
def test_attention_mask_threshold_detached_and_unblocking():
    logits = torch.tensor([[[[0.0, -1e-4], [1.0, -3.0]]]], requires_grad=True)  # [1, 1, 2, 2]
    blocked = attention_mask_from_logits(logits, (2, 2))
    assert blocked.tolist() == [[[False, True, False, True]]]  # sigmoid(0) = 0.5 is not blocked
    assert not blocked.requires_grad and blocked.grad_fn is None  # no gradient through the mask
    rows = torch.tensor([[[True, True, True], [True, False, True]]])
    assert unblock_full_rows(rows).tolist() == [[[False, False, False], [True, False, True]]]


def test_prior_attention_mask_blocks_below_half_exactly():
    prior = torch.tensor([[[0.5, 0.49999], [1.0, 0.0]]])  # already at the 1/32 size: resize is the identity
    blocked = prior_attention_mask(prior, (2, 2), num_queries=3)
    assert blocked.shape == (1, 3, 4)
    assert blocked[0].tolist() == [[False, True, False, True]] * 3


def test_decoder_masks_gradients_and_empty_prior():
    """The decoder's attention masks carry no gradient, and an empty prior unblocks layer 0 fully."""
    prof = resolve_profile("smoke")
    torch.manual_seed(0)
    model = build_model(prof.model, num_classes=71, use_prior=True)
    frames, log_mel, _ = _inputs(2, 64)
    out = model(frames, log_mel, torch.zeros(2, 64, 64), return_attn=True)
    assert not out["attn_masks"][0].any()  # all blocked by the empty prior -> every row unblocked
    assert torch.isfinite(out["attn"][0]).all()
    full = model(frames, log_mel, torch.ones(2, 64, 64), return_attn=True)
    assert not full["attn_masks"][0].any()
    # a half prior blocks the same pixels for every query
    half = torch.zeros(2, 64, 64)
    half[:, :, :32] = 1.0
    m0 = model(frames, log_mel, half, return_attn=True)["attn_masks"][0]  # [N, Q, 2, 2]
    assert m0[:, :, :, 0].logical_not().all() and m0[:, :, :, 1].all()
    # later masks come from predictions, detached: d(masks)/d(anything) only via the heads
    assert all(not m.requires_grad for m in out["attn_masks"])


def test_attention_weights_respect_mask():
    attn = Attention(8, 2)
    q, k = torch.randn(1, 3, 8), torch.randn(1, 5, 8)
    blocked = torch.zeros(1, 3, 5, dtype=torch.bool)
    blocked[0, 0, :2] = True
    out_w, w = attn(q, k, k, blocked, need_weights=True)
    out_fast, _ = attn(q, k, k, blocked, need_weights=False)
    torch.testing.assert_close(out_w, out_fast)  # explicit weights path == SDPA path
    assert w.shape == (1, 2, 3, 5)
    torch.testing.assert_close(w.sum(-1), torch.ones(1, 2, 3))
    assert (w[0, :, 0, :2] == 0).all()


# ----------------------------------------------------------------------------- prior modules
def test_robust_key_thresholds_inclusive():
    keys = RobustKeys(4, 0.4, 0.6)
    values = torch.tensor([[[0.0, 0.4, 0.41, 0.5, 0.59, 0.6, 1.0]]])
    assert keys.states(values).tolist() == [[[0, 0, 1, 1, 1, 2, 2]]]
    prior = torch.tensor([[[0.4, 0.5], [0.6, 1.0]]])
    embeds, states = keys(prior, [(2, 2)])
    assert states[0].tolist() == [[[0, 1], [2, 2]]]
    e = keys.embed.weight
    torch.testing.assert_close(embeds[0][0, :, 0, 0], e[0])
    torch.testing.assert_close(embeds[0][0, :, 0, 1], e[1])
    torch.testing.assert_close(embeds[0][0, :, 1, 0], e[2])


def test_robust_keys_touch_keys_only():
    """Robust keys enter the key positional embedding: with identical memories but different priors,
    the values are unchanged, so a decoder with zero key projection gives identical output."""
    prof = resolve_profile("smoke", model__mask_fusion=False, model__prior_attention=False)
    torch.manual_seed(0)
    model = build_model(prof.model, num_classes=71, use_prior=True).eval()
    frames, log_mel, _ = _inputs(2, 64)
    p1, p2 = torch.zeros(2, 64, 64), torch.ones(2, 64, 64)
    with torch.no_grad():
        a, b = model(frames, log_mel, p1)["pred_logits"], model(frames, log_mel, p2)["pred_logits"]
        assert not torch.allclose(a, b)  # the keys moved the attention
        for layer in model.decoder.layers:
            layer.cross_attn.k_proj.weight.zero_()
        a, b = model(frames, log_mel, p1)["pred_logits"], model(frames, log_mel, p2)["pred_logits"]
    torch.testing.assert_close(a, b)


def test_mask_fusion_adds_prior_to_every_channel():
    feats = torch.randn(2, 5, 4, 4)
    prior = torch.zeros(2, 8, 8)
    prior[0, :4, :4] = 1.0
    fused = fuse_prior(feats, prior)
    expected = F.interpolate(prior[:, None], size=(4, 4), mode="bilinear", align_corners=False)
    torch.testing.assert_close(fused - feats, expected.expand(-1, 5, -1, -1))
    assert (fused - feats)[0, :, 0, 0].eq(1).all() and (fused - feats)[1].eq(0).all()


def test_prior_switches_change_the_output():
    frames, log_mel, prior = _inputs(2, 64, prior=True)
    base = resolve_profile(
        "smoke", model__mask_fusion=False, model__prior_attention=False, model__robust_keys=False
    )
    torch.manual_seed(0)
    off = build_model(base.model, num_classes=71, use_prior=True).eval()
    with torch.no_grad():
        ref = off(frames, log_mel, prior)["pred_logits"]
        ref2 = off(frames, log_mel, 1 - prior)["pred_logits"]
    torch.testing.assert_close(ref, ref2)  # every switch off: the prior is ignored
    for switch in ("mask_fusion", "prior_attention", "robust_keys"):
        torch.manual_seed(0)
        m = build_model(
            resolve_profile(base, **{f"model__{switch}": True}).model, num_classes=71, use_prior=True
        ).eval()
        with torch.no_grad():
            assert not torch.allclose(
                m(frames, log_mel, prior)["pred_logits"], m(frames, log_mel, 1 - prior)["pred_logits"]
            ), switch


# ----------------------------------------------------------------------------- post-processing
def _two_query_case():
    # C = 2 classes (bg, sounding) + no-object; 2 queries; 1 frame; masks 1x2 upsampled to 1x2 (identity)
    logits = torch.log(torch.tensor([[[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]]]))  # softmax gives these probs
    masks = torch.tensor([[[[0.0, 2.0]], [[-2.0, 3.0]]]])  # [1, 2, 1, 2]
    return logits, masks


def test_semantic_scores_hand_case():
    logits, masks = _two_query_case()
    s = semantic_scores(logits, masks, (1, 2))
    sg = torch.sigmoid
    bg = torch.tensor(
        [
            0.7 * sg(torch.tensor(0.0)) + 0.1 * sg(torch.tensor(-2.0)),
            0.7 * sg(torch.tensor(2.0)) + 0.1 * sg(torch.tensor(3.0)),
        ]
    )
    snd = torch.tensor(
        [
            0.2 * sg(torch.tensor(0.0)) + 0.6 * sg(torch.tensor(-2.0)),
            0.2 * sg(torch.tensor(2.0)) + 0.6 * sg(torch.tensor(3.0)),
        ]
    )
    assert s.shape == (1, 2, 1, 2)
    torch.testing.assert_close(s[0, 0, 0], bg)
    torch.testing.assert_close(s[0, 1, 0], snd)
    torch.testing.assert_close(binary_scores(logits, masks, (1, 2)), s)
    assert binary_inference(logits, masks, (1, 2)).tolist() == [
        [[False, True]]
    ]  # 0.367 < 0.421; 0.650 < 0.690
    assert semantic_inference(logits, masks, (1, 2)).tolist() == [[[0, 1]]]


def test_post_processing_upsamples_and_checks():
    logits, masks = _two_query_case()
    s = semantic_scores(logits, masks, 8)
    assert s.shape == (1, 2, 8, 8)
    with pytest.raises(ValueError, match="2-class"):
        binary_scores(torch.zeros(1, 2, 72), masks, 4)


def test_export_prior_png():
    mask = torch.tensor([[True, False], [False, True]])
    img = export_prior_png(mask)
    arr = np.asarray(img)
    assert img.mode == "L" and arr.dtype == np.uint8 and arr.tolist() == [[255, 0], [0, 255]]
    assert np.asarray(export_prior_png(np.array([[0, 255], [255, 0]], dtype=np.uint8))).tolist() == [
        [0, 255],
        [255, 0],
    ]
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    from PIL import Image

    assert (np.asarray(Image.open(io.BytesIO(buf.getvalue()))) / 255).tolist() == [[1, 0], [0, 1]]


# ----------------------------------------------------------------------------- attention outputs
def test_return_attn_shapes():
    prof = resolve_profile("smoke")
    cfg = prof.model
    model = build_model(cfg, num_classes=71, use_prior=True)
    out = model(*_inputs(2, 64, prior=True), return_attn=True)
    sizes = [(2, 2), (4, 4), (8, 8)]
    assert len(out["attn"]) == cfg.num_decoder_layers == len(out["attn_masks"])
    for i, (a, m) in enumerate(zip(out["attn"], out["attn_masks"])):
        h, w = sizes[i % 3]
        assert a.shape == (2, cfg.num_heads, cfg.num_queries, h, w)
        assert m.shape == (2, cfg.num_queries, h, w) and m.dtype == torch.bool
        torch.testing.assert_close(a.sum((-1, -2)), torch.ones(2, cfg.num_heads, cfg.num_queries))
    assert out["audio_similarity"].shape == (2, cfg.num_queries)
    assert out["audio_similarity"].abs().max() <= 1 + 1e-6
    assert [tuple(s.shape) for s in out["robust_keys"]] == [(2, h, w) for h, w in sizes]


def test_return_attn_does_not_change_predictions():
    torch.manual_seed(0)
    model = build_model(resolve_profile("smoke").model, num_classes=2).eval()
    x = _inputs(2, 64)
    with torch.no_grad():
        a, b = model(*x)["pred_masks"], model(*x, return_attn=True)["pred_masks"]
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


# ----------------------------------------------------------------------------- training behaviour
def test_state_dict_round_trip():
    cfg = resolve_profile("smoke").model
    torch.manual_seed(0)
    model = build_model(cfg, num_classes=71, use_prior=True).eval()
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    torch.manual_seed(1)
    fresh = build_model(cfg, num_classes=71, use_prior=True).eval()
    x = _inputs(2, 64, prior=True)
    with torch.no_grad():
        assert not torch.allclose(model(*x)["pred_logits"], fresh(*x)["pred_logits"])
        fresh.load_state_dict(torch.load(io.BytesIO(buf.getvalue()), weights_only=True))
        torch.testing.assert_close(model(*x)["pred_masks"], fresh(*x)["pred_masks"], rtol=0, atol=0)


def test_frozen_encoders_keep_batchnorm_in_eval_and_get_no_gradient():
    prof = resolve_profile(
        "smoke", model__freeze_backbone=True, model__adapters=True, model__freeze_audio=True
    )
    model = build_model(prof.model, num_classes=2)
    model.train()
    bns = [m for m in model.backbone.body.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    abns = [m for m in model.audio_encoder.encoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and abns and not any(m.training for m in bns + abns)
    assert model.decoder.training and model.backbone.stage_adapters.training
    before = bns[0].running_mean.clone()
    out = model(*_inputs(2, 64))
    torch.testing.assert_close(bns[0].running_mean, before)  # running statistics untouched
    (out["pred_masks"].mean() + out["pred_logits"].mean()).backward()
    assert all(p.grad is None for p in model.backbone.body.parameters())
    assert all(p.grad is None for p in model.audio_encoder.encoder.parameters())
    assert any(
        p.grad is not None and p.grad.abs().sum() > 0 for p in model.audio_encoder.projector.parameters()
    )
    assert count_parameters(model)["trainable"] < count_parameters(model)["total"]


def test_unfrozen_model_trains_batchnorm():
    model = build_model(
        resolve_profile("smoke", model__freeze_audio=False, model__freeze_backbone=False).model, num_classes=2
    ).train()
    assert all(m.training for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_adapter_starts_as_identity():
    a = Adapter(8, channels_first=True)
    x = torch.randn(2, 8, 3, 3)
    torch.testing.assert_close(a(x), x)


def test_ms_deform_attn_core_samples_pixel_centres():
    # one level 2x3, one head, d=1, one point: sampling at a pixel centre returns that pixel exactly
    value = torch.arange(6, dtype=torch.float32).view(1, 6, 1, 1)  # [N, S, H, d]
    loc = torch.tensor([(2 + 0.5) / 3, (1 + 0.5) / 2]).view(1, 1, 1, 1, 1, 2)  # x=2, y=1 -> value 5
    out = ms_deform_attn_core(value, [(2, 3)], loc, torch.ones(1, 1, 1, 1, 1))
    torch.testing.assert_close(out, torch.tensor([[[5.0]]]))


def test_summary_and_counts():
    model = build_model(resolve_profile("smoke").model, num_classes=2)
    text = model_summary(model)
    c = count_parameters(model)
    assert f"{c['total']:,}" in text and "backbone" in text and "decoder" in text
    assert c["total"] == sum(p.numel() for p in model.parameters())


@pytest.mark.slow
def test_paper_profile_builds_and_runs_small():
    """Swin-B (timm, random init, no download), msdeform decoder, 9 layers, D 256, at 192 px on CPU."""
    prof = resolve_profile("paper", model__backbone_img_size=192)
    vggish = 72_141_184  # frozen VGGish (stepstones_lite.audio), when that package is present
    try:
        from stepstones_lite.audio import VGGish  # noqa: F401
    except ImportError:  # the VGGish module lives on another branch until merged
        prof, vggish = resolve_profile(prof, model__audio_encoder="lite_cnn"), 0
    model = build_model(prof.model, num_classes=71, use_prior=True).eval()
    c = count_parameters(model)
    assert 100e6 < c["total"] - vggish < 120e6 and c["trainable"] == 27_229_320  # incl. HF input-proj biases
    assert model.backbone.num_block_adapters == 2 * 24  # two per Swin block, 2+2+18+2 blocks
    with torch.no_grad():
        out = model(*_inputs(2, 192, prior=True), return_attn=True)
    assert out["pred_logits"].shape == (2, 100, 72)
    assert out["pred_masks"].shape == (2, 100, 48, 48)
    assert len(out["aux_outputs"]) == 9 and len(out["attn"]) == 9
    assert out["attn"][0].shape == (2, 8, 100, 6, 6)


# ----------------------------------------------------------------------------- TPAVI baseline
def test_tpavi_block_matches_brute_force_non_local():
    from stepstones_lite.model.tpavi import TPAVI

    torch.manual_seed(0)
    blk = TPAVI(8).eval()
    x, a = torch.randn(2, 8, 3, 4, 5), torch.randn(2, 3, 8)
    # zero-initialised W_z: the block is LayerNorm(x)
    torch.testing.assert_close(
        blk(x, a), F.layer_norm(x.movedim(1, -1), (8,), blk.norm.weight, blk.norm.bias).movedim(-1, 1)
    )
    torch.nn.init.normal_(blk.w_z[1].weight)
    th, g, ph = blk.theta(x).flatten(2), blk.g(x).flatten(2), blk.phi(a)  # [B,c,L], [B,c,L], [B,T,c]
    phi_full = ph.transpose(1, 2)[..., None].expand(-1, -1, -1, 20).reshape(2, 4, 60)  # audio over each frame
    f = th.transpose(1, 2) @ phi_full / 60  # [B, L, L] affinity theta^T phi / (T h w)
    y = (f @ g.transpose(1, 2)).transpose(1, 2)  # [B, c, L]
    z = x + blk.w_z(y.view(2, 4, 3, 4, 5))
    torch.testing.assert_close(blk(x, a), blk.norm(z.movedim(1, -1)).movedim(-1, 1))


@pytest.mark.parametrize("use_prior", [False, True])
def test_tpavi_model_output(use_prior):
    from stepstones_lite.model import build_tpavi

    prof = resolve_profile("smoke")
    model = build_tpavi(prof.model, num_classes=71, num_frames=5, use_prior=use_prior)
    frames, log_mel, prior = _inputs(10, 64, prior=use_prior)
    out = model(frames, log_mel, prior)
    assert out["sem_logits"].shape == (10, 71, 64, 64)
    with pytest.raises(ValueError, match="use_prior"):
        model(frames, log_mel, None if use_prior else torch.zeros(10, 64, 64))


def test_model_info_cli(capsys):
    from stepstones_lite.cli import main

    assert main(["model-info", "--profile", "smoke", "--task", "avss"]) == 0
    text = capsys.readouterr().out
    assert "stage 2" in text and "end-to-end" in text and "robust_keys" in text


# ----------------------------------------------------------------------------- class matching (deviation)
def test_class_matching_switch():
    prof = resolve_profile(
        "smoke", model__class_matching=True, model__matching_vis_classes=5, model__matching_aud_classes=4
    )
    torch.manual_seed(0)
    model = build_model(prof.model, num_classes=2).eval()
    torch.manual_seed(0)
    plain = build_model(resolve_profile("smoke").model, num_classes=2).eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("matching.")})
    x = _inputs(2, 64)
    with torch.no_grad():
        out = model(*x, return_attn=True)
        torch.testing.assert_close(out["pred_masks"], plain(*x)["pred_masks"])  # zero-init e: paper model
        assert out["class_match"].shape == (2, 16, 16) and out["class_match"].abs().max() <= 1 + 1e-6
        model.matching.e.fill_(1.0)
        assert not torch.allclose(model(*x)["pred_masks"], plain(*x)["pred_masks"])
    assert not any(p.requires_grad for p in model.matching.vis_head.parameters())
    assert model.matching.theta.weight.requires_grad


# ----------------------------------------------------------------------------- local weights
def test_pretrained_weights_load_from_local_files(tmp_path):
    from stepstones_lite.model.audio_encoder import LiteAudioCNN
    from stepstones_lite.model.backbone import LiteCNN

    cfg = resolve_profile("smoke").model
    torch.manual_seed(3)
    cnn, aud = LiteCNN(cfg.backbone_channels), LiteAudioCNN(cfg.audio_dim)
    # as a pre-training step might save them: with a classification head and a prefix
    vis_state = {f"backbone.{k}": v for k, v in cnn.state_dict().items()}
    vis_state["head.weight"] = torch.zeros(3, 48)
    torch.save(vis_state, tmp_path / "vis.pt")
    torch.save(aud.state_dict(), tmp_path / "aud.pt")
    prof = resolve_profile(
        "smoke",
        model__backbone_weights=str(tmp_path / "vis.pt"),
        model__audio_weights=str(tmp_path / "aud.pt"),
    )
    model = build_model(prof.model, num_classes=2)
    for k, v in cnn.state_dict().items():
        torch.testing.assert_close(model.backbone.body.state_dict()[k], v)
    for k, v in aud.state_dict().items():
        torch.testing.assert_close(model.audio_encoder.encoder.state_dict()[k], v)
    torch.save({"something": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="bad.pt lacks"):
        build_model(
            resolve_profile("smoke", model__backbone_weights=str(tmp_path / "bad.pt")).model, num_classes=2
        )


def test_bfloat16_autocast_forward():
    model = build_model(resolve_profile("smoke").model, num_classes=71, use_prior=True).eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(*_inputs(2, 64, prior=True), return_attn=True)
        s = semantic_scores(out["pred_logits"], out["pred_masks"], 64)
    assert torch.isfinite(out["pred_masks"].float()).all() and s.shape == (2, 71, 64, 64)


def test_smoke_model_overfits_one_clip():
    """Forward/backward are wired: 30 AdamW steps fit bright rectangles (pixel NLL on the semantic scores)."""
    torch.manual_seed(0)
    model = build_model(
        resolve_profile("smoke", model__freeze_audio=False, model__freeze_backbone=False).model, num_classes=2
    ).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    frames, log_mel = torch.rand(4, 3, 64, 64), torch.randn(4, 1, 96, 64)
    target = torch.zeros(4, 64, 64, dtype=torch.long)
    for i in range(4):
        target[i, 8 + 8 * i : 30 + 8 * i, 10:40] = 1
    frames[target[:, None].expand(-1, 3, -1, -1) == 1] = 0.9
    for _ in range(30):
        out = model(frames, log_mel)
        loss = 0.0
        for o in [out, *out["aux_outputs"]]:
            s = semantic_scores(o["pred_logits"], o["pred_masks"], 64)
            loss = loss + F.nll_loss(torch.log(s / s.sum(1, keepdim=True) + 1e-6), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred = binary_inference(
            *[model.eval()(frames, log_mel)[k] for k in ("pred_logits", "pred_masks")], 64
        )
    iou = ((pred & (target == 1)).sum() / (pred | (target == 1)).sum()).item()
    assert iou > 0.8


@pytest.mark.parametrize("grad", [False, True])
def test_swin_window_attention_builds_the_shift_mask_once_and_equals_timm(grad):
    """Our WindowAttention (bias + shift mask added per window, then expanded) equals timm's, bit for bit."""
    from stepstones_lite.model.backbone import TimmBackbone

    torch.manual_seed(0)
    body = TimmBackbone(
        "swin_tiny_patch4_window7_224",
        img_size=112,
        embed_dim=16,
        depths=[2, 2, 2, 2],
        num_heads=[1, 2, 2, 4],
        window_size=7,
    ).eval()  # eval: no stochastic depth
    attn = [m for m in body.modules() if type(m).__name__ == "WindowAttention"]
    assert attn and all(type(m).__mro__[1].__module__.startswith("timm") for m in attn)
    x = torch.rand(3, 3, 112, 112)
    with torch.set_grad_enabled(grad):
        ours = body(x)
        for m in attn:
            m.__class__ = type(m).__mro__[1]  # timm's own forward
        theirs = body(x)
    for key in ours:
        assert torch.equal(ours[key], theirs[key]), key
