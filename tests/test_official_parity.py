"""Parity with the official Stepping Stones code (GeWu-Lab/Stepping-Stones @ de6a17b), issue #16.

The fixtures (tests/fixtures/official/, written by make_fixtures.py from the official ``avs/`` and ``avss/``
wrappers on CPU, random init, reduced size) hold the official state dicts, fixed inputs and outputs. The
official checkpoint converted by :func:`stepstones_lite.model.load_official_checkpoint`, fed the official
preprocessing (:func:`official_preprocess` of the raw uint8 frames) and the official VGGish vectors, must give
the official class and mask logits of every prediction and the official post-processed maps, to 1e-4.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from stepstones_lite.config import resolve_profile
from stepstones_lite.model import OfficialCheckpointError, load_official_checkpoint
from stepstones_lite.model.official import (
    official_binary_scores,
    official_preprocess,
    official_profile,
    official_semantic_map,
)

FIXTURES = Path(__file__).parent / "fixtures" / "official"
ATOL = 1e-4


def _load(name: str) -> dict:
    return torch.load(FIXTURES / name, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def inputs() -> dict:
    return _load("inputs.pt")


def _base():
    return resolve_profile(
        "paper", model__audio_encoder="precomputed"
    )  # the official loader's VGGish vectors


def _run(stage: str, inputs: dict, state=None):
    model, profile = load_official_checkpoint(
        state if state is not None else FIXTURES / f"{stage}_state_dict.pt", stage, _base()
    )
    frames = official_preprocess(inputs["frames"])  # [2, 3, 384, 384] in [0, 1]
    prior = inputs["prior"].float() if stage == "avss" else None  # the PNG prior, grey / 255
    with torch.no_grad():
        out = model(frames, inputs["audio"], prior)
    return model, profile, out


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a.float() - b.float()).abs().max().item()


@pytest.mark.parametrize("stage", ["avs", "avss"])
def test_converted_model_matches_official_outputs(stage, inputs):
    _, _, out = _run(stage, inputs)
    ref, aux = _load(f"{stage}_outputs.pt"), _load(f"{stage}_aux_masks.pt")["mask_logits"]
    cls = torch.stack([a["pred_logits"] for a in out["aux_outputs"]] + [out["pred_logits"]])
    masks = torch.stack([a["pred_masks"] for a in out["aux_outputs"]])
    assert (
        cls.shape[0] == ref["class_logits"].shape[0] == aux.shape[0] + 1
    )  # initial prediction + every layer
    assert _max_diff(cls, ref["class_logits"]) <= ATOL
    assert _max_diff(out["pred_masks"], ref["mask_logits"]) <= ATOL
    assert _max_diff(masks, aux) <= ATOL
    if stage == "avs":  # post_process_binary_segmentation: scores at 224 via 384, then the argmax prior
        scores = official_binary_scores(out["pred_logits"], out["pred_masks"])
        assert _max_diff(scores, _load("avs_scores.pt")["scores"]) <= ATOL
        ours = (scores[:, 1] > scores[:, 0]).to(torch.uint8)
        close = (scores[:, 1] - scores[:, 0]).abs() < ATOL  # a tie within the tolerance may go either way
        assert bool(((ours == ref["binary"]) | close).all())
        assert 0 < ref["binary"].float().mean() < 1  # the fixture is not trivial
    else:  # post_process_semantic_segmentation
        sem = official_semantic_map(out["pred_logits"], out["pred_masks"])
        assert sem.shape == ref["semantic"].shape
        assert (sem != ref["semantic"].long()).float().mean().item() < 1e-4
        assert len(torch.unique(ref["semantic"])) >= 3


def test_official_postprocessing_differs_from_our_default(inputs):
    """The 384-px detour matters: upsampling masks straight to 224 (our default) is not the official map."""
    from stepstones_lite.model import semantic_scores

    _, _, out = _run("avs", inputs)
    direct = semantic_scores(out["pred_logits"], out["pred_masks"], 224)[:, :2]
    assert _max_diff(direct, _load("avs_scores.pt")["scores"]) > 2 * ATOL  # would fail the parity tolerance


def test_preprocess_is_the_official_processor_resize(inputs):
    frames = official_preprocess(inputs["frames"])
    assert frames.shape == (2, 3, 384, 384) and frames.dtype == torch.float32
    assert 0.0 <= frames.min() and frames.max() <= 1.0
    with pytest.raises(ValueError, match="uint8"):
        official_preprocess(inputs["frames"].float())
    meta = json.loads((FIXTURES / "avs_config.json").read_text())
    assert meta["pixel_values_shape"] == [2, 3, 384, 384] and meta["official_commit"].startswith("de6a17b")


@pytest.mark.parametrize("stage", ["avs", "avss"])
def test_profile_read_off_the_checkpoint(stage):
    profile = official_profile(_load(f"{stage}_state_dict.pt"), stage, _base())
    m = profile.model
    assert m.avs_adapt == ("replace" if stage == "avs" else "after") and m.norm_groups == 32
    assert m.backbone_kwargs == {
        "always_partition": True,
        "embed_dim": 8,
        "depths": [2, 2, 2, 2],
        "num_heads": [1, 1, 2, 4],
        "window_size": 12,
        "mlp_ratio": 2.0,
    }
    assert (m.hidden_dim, m.num_heads, m.dim_feedforward, m.encoder_feedforward) == (32, 4, 64, 64)
    assert (m.num_encoder_layers, m.num_decoder_layers, m.adapters, m.audio_dim) == (1, 3, True, 128)
    assert (m.stage1_num_queries if stage == "avs" else m.num_queries) == 4
    assert (
        m.audio_encoder == "precomputed" and profile.data.image_size == 384 and profile.data.eval_size == 224
    )
    if stage == "avss":
        assert m.num_classes == 5 and m.mask_fusion and m.prior_attention and m.robust_keys
    # the profile's JSON round trip rebuilds the same architecture
    from stepstones_lite.config import Profile

    assert Profile.from_json(profile.to_json()).model == m


@pytest.mark.parametrize(
    "stage,queries,classes,adapt", [("avs", 30, 2, "replace"), ("avss", 100, 71, "after")]
)
def test_released_profile_is_the_released_checkpoints_architecture(stage, queries, classes, adapt):
    """Swin-B, D 256, 6 + 9 layers, 30 / 100 queries (docs/paper_and_code.md §2.2, §2.4); the small fixture's
    profile, read off its tensors, differs from it exactly in the sizes the fixture shrank."""
    from stepstones_lite.model.official import released_profile

    m = released_profile(stage).model
    assert (m.backbone, m.backbone_kwargs, m.adapters, m.freeze_backbone) == (
        "swin_base_patch4_window12_384",
        {"always_partition": True},
        True,
        True,
    )
    assert (m.hidden_dim, m.num_heads, m.dim_feedforward, m.encoder_feedforward) == (256, 8, 2048, 1024)
    assert (m.num_encoder_layers, m.num_decoder_layers, m.audio_dim, m.avs_adapt) == (6, 9, 128, adapt)
    assert (m.stage1_num_queries if stage == "avs" else m.num_queries) == queries
    if stage == "avss":
        assert m.num_classes == classes and m.mask_fusion and m.prior_attention and m.robust_keys
    small = official_profile(_load(f"{stage}_state_dict.pt"), stage, resolve_profile("paper")).model
    same = {k for k, v in vars(m).items() if vars(small)[k] == v}
    assert {"backbone", "avs_adapt", "norm_groups", "mask_fusion", "pixel_decoder", "query_mode"} <= same
    with pytest.raises(ValueError, match="stage must be one of"):
        released_profile("s4")


def test_every_official_key_is_accounted_for():
    for stage, ignored in (("avs", 9 + 8), ("avss", 1 + 8)):
        state = dict(_load(f"{stage}_state_dict.pt"))
        # the fixture leaves out the fixed Swin index buffers (1 MB budget); a real checkpoint has one per
        # block
        for key in [k for k in state if k.endswith("attention.self.relative_position_bias_table")]:
            state[key.replace("relative_position_bias_table", "relative_position_index")] = torch.zeros(
                144, 144, dtype=torch.long
            )
        model, _ = load_official_checkpoint(state, stage, _base())
        report = model.conversion_report
        assert report["official_keys"] == len(state) and len(report["ignored"]) == ignored
        why = set(report["ignored"].values())
        assert any("loss buffer" in w for w in why) and any("Swin buffer" in w for w in why)
        assert (stage == "avs") == any("stage-1 forward" in w for w in why)


def test_converter_refuses_missing_extra_and_misshaped_keys():
    state = dict(_load("avs_state_dict.pt"))
    missing = "model.model.transformer_module.decoder.layers.1.self_attn.avs_adapt.2.weight"
    extra = "model.model.transformer_module.decoder.layers.0.mystery.weight"
    bad = "audio_proj.2.weight"
    del state[missing]
    state[extra] = torch.zeros(3)
    state[bad] = torch.zeros(31, 64)
    with pytest.raises(OfficialCheckpointError) as err:
        load_official_checkpoint(state, "avs", _base())
    msg = str(err.value)
    assert "1 unmapped official keys" in msg and extra in msg
    assert (
        "1 model keys the checkpoint lacks" in msg and "decoder.layers.1.self_attn.avs_adapt.2.weight" in msg
    )
    assert "1 shape mismatches" in msg and "audio_encoder.projector.net.2.weight" in msg and "(31, 64)" in msg


@pytest.mark.parametrize(
    "key,what",
    [
        ("model.model.transformer_module.decoder.layers.0.fc1.weight", "lacks"),
        ("model.model.transformer_module.silence_embed.weight", "robust-key"),
    ],
)
def test_converter_refuses_one_missing_key(key, what):
    stage = "avss"
    state = dict(_load(f"{stage}_state_dict.pt"))
    del state[key]
    with pytest.raises(OfficialCheckpointError, match=what):
        load_official_checkpoint(state, stage, _base())


def test_wrong_stage_and_non_official_files(tmp_path):
    with pytest.raises(OfficialCheckpointError, match="stage-2"):
        load_official_checkpoint(FIXTURES / "avss_state_dict.pt", "avs", _base())
    with pytest.raises(OfficialCheckpointError, match="fit the avss model"):  # a stage-1 file as stage 2
        load_official_checkpoint(FIXTURES / "avs_state_dict.pt", "avss", _base())
    with pytest.raises(OfficialCheckpointError, match="not an official"):
        load_official_checkpoint({"x.weight": torch.zeros(1)}, "avs")
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        load_official_checkpoint(tmp_path / "nope.pth", "avs")
    with pytest.raises(ValueError, match="stage must be"):
        load_official_checkpoint(FIXTURES / "avs_state_dict.pt", "stage1")


def test_random_vggish_warns():
    with pytest.warns(UserWarning, match=r"audio encoder \(vggish\) is randomly initialised"):
        load_official_checkpoint(
            FIXTURES / "avs_state_dict.pt", "avs", resolve_profile("paper", model__audio_encoder="vggish")
        )


def test_cli_convert_official_writes_a_loadable_checkpoint(tmp_path, inputs):
    from stepstones_lite.cli import main
    from stepstones_lite.train.checkpoint import load_checkpoint
    from stepstones_lite.train.pipeline import STAGE1, load_model

    out = tmp_path / "conv"
    assert (
        main(
            [
                "convert-official",
                "--stage",
                "avs",
                "--ckpt",
                str(FIXTURES / "avs_state_dict.pt"),
                "--out",
                str(out),
                "--set",
                "model__audio_encoder=precomputed",
            ]
        )
        == 0
    )
    assert (out / "model.pt").is_file() and (out / "model.json").is_file()
    config = json.loads((out / "config.json").read_text())
    assert (
        config["model"]["avs_adapt"] == "replace" and config["model"]["backbone_kwargs"]["window_size"] == 12
    )
    payload = load_checkpoint(out / "model.pt", kind=STAGE1)
    assert payload["extra"]["official_stage"] == "avs" and payload["extra"]["official_keys"] == 358
    model, profile, _ = load_model(out / "model.pt")  # what evaluate / make-priors use
    with torch.no_grad():
        got = model(official_preprocess(inputs["frames"]), inputs["audio"])
    ref = _load("avs_outputs.pt")
    assert _max_diff(got["pred_logits"], ref["class_logits"][-1]) <= ATOL
    assert _max_diff(got["pred_masks"], ref["mask_logits"]) <= ATOL
    assert not list(out.glob("*.tmp*"))  # written atomically


def test_fixture_files_are_small_and_weights_only():
    for f in FIXTURES.glob("*.pt"):
        assert f.stat().st_size <= 1_000_000, f
        torch.load(f, map_location="cpu", weights_only=True)


def test_evaluate_accepts_a_converted_checkpoint(tmp_path, monkeypatch):
    """``stepstones evaluate`` scores a converted stage-1 checkpoint like a trained one (log-mel input here:
    the smoke profile's audio stand-in, randomly initialised, so only the plumbing is checked)."""
    from stepstones_lite.train import pipeline

    monkeypatch.setenv("STEPSTONES_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.delenv("STEPSTONES_DATA", raising=False)
    root = pipeline.ensure_dataset(resolve_profile("smoke", data__num_clips=12))
    with pytest.warns(UserWarning, match="randomly initialised"):
        path = pipeline.convert_official(
            FIXTURES / "avs_state_dict.pt", "avs", tmp_path / "conv", resolve_profile("smoke")
        )
    metrics = pipeline.evaluate_checkpoint(path, "test", data_root=root, device="cpu")
    assert 0.0 <= metrics["miou"] <= 1.0 and 0.0 <= metrics["fscore"] <= 1.0


def test_evaluate_accepts_a_converted_stage2_checkpoint(tmp_path, monkeypatch):
    """A stage-2 checkpoint with the released 71 classes (the fixture's 5-class head padded) evaluates with
    priors."""
    from stepstones_lite.train import pipeline

    monkeypatch.setenv("STEPSTONES_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.delenv("STEPSTONES_DATA", raising=False)
    root = pipeline.ensure_dataset(resolve_profile("smoke", data__num_clips=12))
    with pytest.warns(UserWarning, match="randomly initialised"):
        path = pipeline.convert_official(
            _released_avss_71(tmp_path), "avss", tmp_path / "conv", resolve_profile("smoke")
        )
    metrics = pipeline.evaluate_checkpoint(path, "test", data_root=root, prior="gt", device="cpu")
    assert 0.0 <= metrics["miou"] <= 1.0


def _released_avss_71(tmp_path: Path) -> Path:
    """The avss fixture with the released 71-class head (its 5 classes padded), saved as a checkpoint file."""
    state = dict(_load("avss_state_dict.pt"))
    w, b = state["model.class_predictor.weight"], state["model.class_predictor.bias"]  # [6, D], [6]
    state["model.class_predictor.weight"] = torch.cat([w[:-1], w[:1].repeat(66, 1), w[-1:]])  # [72, D]
    state["model.class_predictor.bias"] = torch.cat([b[:-1], b[:1].repeat(66), b[-1:]])
    torch.save(state, tmp_path / "avss71.pth")
    return tmp_path / "avss71.pth"


def test_notebook_05_runs_the_released_checkpoint_section(tmp_path):
    """05's optional section with ``official_checkpoint`` set: converts, scores and draws the released
    model."""
    import papermill

    notebooks = Path(__file__).resolve().parent.parent / "notebooks"
    out = tmp_path / "05.ipynb"
    papermill.execute_notebook(
        str(notebooks / "05_attention_maps.ipynb"),
        str(out),
        cwd=str(notebooks),
        parameters={
            "official_checkpoint": str(_released_avss_71(tmp_path)),
            "artifacts_dir": str(tmp_path / "artifacts"),
            "max_clips": 2,
        },
        kernel_name="python3",
        progress_bar=False,
    )
    nb = json.loads(out.read_text())
    printed = "".join(
        t
        for c in nb["cells"]
        if c["cell_type"] == "code"
        for o in c.get("outputs", [])
        for t in o.get("text", [])
    )
    assert "released model, test split with the stage-1 priors: AVSS mIoU" in printed
    assert "skipped" not in printed
    assert (tmp_path / "artifacts" / "official_avss" / "model.pt").is_file()
