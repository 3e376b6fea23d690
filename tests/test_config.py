import json

import pytest

from stepstones_lite.config import (
    PROFILES,
    DataConfig,
    ModelConfig,
    Profile,
    TrainConfig,
    load_profile_json,
    profile_name,
    resolve_profile,
)


def test_auto_reads_env(monkeypatch):
    monkeypatch.setenv("STEPSTONES_PROFILE", "paper")
    assert profile_name("auto") == "paper"
    assert resolve_profile("auto").name == "paper"


def test_auto_defaults_to_classroom(monkeypatch):
    monkeypatch.delenv("STEPSTONES_PROFILE", raising=False)
    assert resolve_profile().name == "classroom"
    monkeypatch.setenv("STEPSTONES_PROFILE", "  ")
    assert profile_name("auto") == "classroom"


def test_unknown_profile_is_a_clear_error(monkeypatch):
    with pytest.raises(ValueError, match="unknown profile 'tiny'"):
        resolve_profile("tiny")
    monkeypatch.setenv("STEPSTONES_PROFILE", "nope")
    with pytest.raises(ValueError, match="nope"):
        resolve_profile("auto")


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_profiles_round_trip_json(name, tmp_path):
    prof = resolve_profile(name)
    assert isinstance(prof.data, DataConfig) and isinstance(prof.model, ModelConfig)
    assert isinstance(prof.train, TrainConfig)
    again = Profile.from_json(prof.to_json())
    assert again == prof
    path = tmp_path / "cfg.json"
    path.write_text(prof.to_json())
    assert load_profile_json(path) == prof
    # tuples survive the JSON list conversion
    assert isinstance(again.model.backbone_channels, tuple)


def test_profiles_are_ordered_by_size():
    smoke, classroom, paper = (resolve_profile(n) for n in ("smoke", "classroom", "paper"))
    assert smoke.data.image_size < classroom.data.image_size < paper.data.image_size
    assert smoke.model.hidden_dim < classroom.model.hidden_dim < paper.model.hidden_dim
    assert smoke.train.stage1_steps < classroom.train.stage1_steps < paper.train.stage1_steps
    # the published configuration (docs/paper_and_code.md §1)
    assert paper.model.hidden_dim == 256 and paper.model.num_decoder_layers == 9
    assert paper.model.num_heads == 8 and paper.model.num_queries == 100
    assert paper.model.num_points == 12544 and paper.data.image_size == 384


def test_overrides_double_underscore_and_dict():
    prof = resolve_profile("smoke", train__stage1_steps=3, model={"hidden_dim": 48, "num_heads": 4})
    assert prof.train.stage1_steps == 3
    assert prof.model.hidden_dim == 48 and prof.model.num_heads == 4
    # the registry's profile is untouched
    assert resolve_profile("smoke").train.stage1_steps != 3


def test_none_override_means_keep_default():
    base = resolve_profile("smoke")
    assert resolve_profile("smoke", train__stage1_steps=None) == base


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"train__stage1_stpes": 1}, "no field 'stage1_stpes'"),
        ({"trian__stage1_steps": 1}, "unknown config section 'trian'"),
        ({"stage1_steps": 1}, "section__field"),
        ({"model": {"hiden_dim": 3}}, "no field 'hiden_dim'"),
    ],
)
def test_bad_override_names_fail_loudly(kwargs, message):
    with pytest.raises(KeyError, match=message):
        resolve_profile("smoke", **kwargs)


def test_from_dict_rejects_unknown_fields():
    payload = json.loads(resolve_profile("smoke").to_json())
    payload["model"]["not_a_field"] = 1
    with pytest.raises(KeyError, match="not_a_field"):
        Profile.from_dict(payload)


def test_key_dict_leaves_out_later_fields_at_their_neutral_value():
    """Cache keys must not move when a behaviour-preserving field is added, and must move once it is set."""
    import dataclasses

    from stepstones_lite.config import KEY_NEUTRAL

    base = resolve_profile("classroom")
    for (
        section,
        name,
    ), neutral in KEY_NEUTRAL.items():  # (replace() skips None: a notebook's unset override)
        setattr(base, section, dataclasses.replace(getattr(base, section), **{name: neutral}))
    key = base.key_dict()
    for section, name in KEY_NEUTRAL:
        assert name in base.to_dict()[section] and name not in key[section]
    changed = base.replace(train__pretrain_audio_label_space="fine").key_dict()
    assert changed["train"]["pretrain_audio_label_space"] == "fine" and changed != key
    assert (
        resolve_profile("classroom").key_dict() == changed
    )  # the course's regime: coarse vision, fine audio
    assert base.replace(train__stage1_steps=7).key_dict() != key  # every other field stays in the key


def test_later_fields_are_declared_at_the_field():
    """KEY_NEUTRAL is read off the declarations (config.later_field), not kept by hand: these seven fields
    were added after runs were cached; dropping later_field from one would rebuild every cached run."""
    import dataclasses

    from stepstones_lite.config import KEY_NEUTRAL, ModelConfig, TrainConfig, later_field

    assert KEY_NEUTRAL == {
        ("model", "adapter_placement"): "stage",
        ("model", "adapter_reduction"): 4,
        ("model", "backbone_kwargs"): None,
        ("model", "avs_adapt"): None,
        ("model", "norm_groups"): None,
        ("train", "pretrain_audio_label_space"): None,
        ("train", "stage2_train_prior"): "gt",
    }
    plain = {f.name for f in dataclasses.fields(ModelConfig) + dataclasses.fields(TrainConfig)}
    assert "stage1_steps" in plain and ("train", "stage1_steps") not in KEY_NEUTRAL

    @dataclasses.dataclass
    class Later:
        new_switch: bool = later_field(False)

    (f,) = dataclasses.fields(Later)
    assert Later().new_switch is False and f.metadata.get("later_field") is True


def test_generator_knobs_nest_under_data_and_are_overrides():
    """One config tree: the synthetic generator's knobs are data.synth, reached as data__synth__<knob>."""
    from stepstones_lite.config import Profile, parse_overrides
    from stepstones_lite.data.synthetic import SynthConfig

    base = resolve_profile("smoke")
    p = resolve_profile(
        "smoke",
        data__synth__label="v2",
        data__num_frames=10,
        data__synth={"same_family_prob": 0.5, "num_objects_probs": [0.1, 0.3, 0.3, 0.3]},
    )
    assert (p.data.synth.label, p.data.num_frames, p.data.synth.same_family_prob) == ("v2", 10, 0.5)
    assert p.data.synth.num_objects_probs == (0.1, 0.3, 0.3, 0.3)  # JSON lists come back as tuples
    assert base.data.synth.label == "v1m"  # replace() copies: the base profile is untouched
    assert Profile.from_json(p.to_json()) == p
    cfg = SynthConfig.from_data_config(p.data)
    assert (cfg.label, cfg.num_frames, cfg.same_family_prob, cfg.size) == ("v2", 10, 0.5, p.data.render_size)
    cfg.validate()
    with pytest.raises(KeyError, match="data.synth config has no field 'bogus'"):
        resolve_profile("smoke", data__synth__bogus=1)
    with pytest.raises(KeyError, match="not a section"):
        resolve_profile("smoke", data__num_clips__x=1)
    # the command line's --set reaches them as well
    q = resolve_profile(
        "smoke", **parse_overrides(["data__synth__label=v2", "data__synth__object_size=[0.3, 0.5]"])
    )
    assert q.data.synth.label == "v2" and q.data.synth.object_size == (0.3, 0.5)


def test_generator_knobs_enter_run_keys_through_the_data_root():
    """Run keys hold the dataset root, whose folder name hashes every generator setting: data.synth stays out
    of the profile key (so keys made before the knobs moved into the profile stay valid) yet changes the
    root."""
    from stepstones_lite.data.synthetic import SynthConfig, default_root, profile_overrides

    base = resolve_profile("classroom")
    knob = resolve_profile("classroom", **profile_overrides({"label": "v2", "num_frames": 10}))
    assert knob.data.num_frames == 10 and knob.data.synth.label == "v2"
    assert "synth" not in base.key_dict()["data"]
    roots = [default_root(p.name, SynthConfig.from_data_config(p.data)) for p in (base, knob)]
    assert roots[0] != roots[1]
    assert profile_overrides({"size": 64, "same_family_prob": 0.5}) == {
        "data__render_size": 64,
        "data__synth__same_family_prob": 0.5,
    }
    with pytest.raises(KeyError, match="no setting"):
        profile_overrides({"bogus": 1})
