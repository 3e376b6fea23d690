"""Configuration: one ``@dataclass`` per concern and one registered profile per audience.

A *profile* bundles a :class:`DataConfig`, a :class:`ModelConfig` and a :class:`TrainConfig`.
Three profiles are registered:

``smoke``      CI and nbval: every notebook in well under a minute on 2 CPU cores.
``classroom``  a student's laptop: the whole course (``make run``) in < 20 min on 2 CPU cores.
``paper``      the published configuration (Swin-B, 384 px, 9 decoder layers, D 256) for GPUs.

Notebooks never hard-code sizes or epochs: they call ``resolve_profile(profile, **overrides)``
with the ``profile`` parameter of their parameters cell (``"auto"`` reads ``STEPSTONES_PROFILE``,
default ``classroom``).

Overrides are keywords ``section__field=value`` (e.g. ``train__stage1_steps=50``) or one dict per
section (``model={"hidden_dim": 32}``); a nested section is reached the same way: the synthetic generator's
knobs are ``data.synth`` (``data__synth__label="v2"``, ``data__synth={"same_family_prob": 0.5}``). Unknown
names raise ``KeyError`` so typos never pass silently. Every config round-trips through JSON (``to_json`` /
``from_json``).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

__all__ = [
    "GeneratorKnobs",
    "DataConfig",
    "ModelConfig",
    "TrainConfig",
    "Profile",
    "PROFILES",
    "DEFAULT_PROFILE",
    "PROFILE_ENV",
    "profile_name",
    "resolve_profile",
    "parse_overrides",
    "later_field",
]

PROFILE_ENV = "STEPSTONES_PROFILE"
DEFAULT_PROFILE = "classroom"


_LATER = "later_field"  # the field metadata flag of later_field


def later_field(default: Any) -> Any:
    """Declare a config field added after runs were cached, with the value at which it changes nothing.

    The cache-key policy in one place: while the field holds ``default`` it is left out of every run's
    key (:meth:`Profile.key_dict`), so the runs cached before it existed stay valid; set to anything else, it
    enters the key and the run is rebuilt. A field that changes what is computed is declared plainly
    (``x: int = 3``): it enters every key, and runs cached without it are rebuilt, which is right for it.
    """
    return field(default=default, metadata={_LATER: True})


@dataclass
class GeneratorKnobs:
    """The generator's own knobs: the profile's ``data.synth`` section, so each is an override
    ``data__synth__<field>=value`` (``stepstones reproduce --set``, a notebook's parameters).

    Probabilities over counts are tuples indexed by the count: ``num_objects_probs[i]`` = P(i+1 sounding or
    silent objects), ``num_sounding_probs[i]`` = P(i sounding objects) (capped at the number of objects).
    """

    # classes: which sounding classes, how often (uniform or Zipf long tail in list order), how many clips
    classes: tuple[str, ...] | None = None  # None: the catalogue's 17 pure-pip sounding classes
    class_distribution: str = "uniform"  # "uniform" | "zipf"
    zipf_exponent: float = 1.0  # weight of the r-th class (r = 1, 2, ...) ∝ r ** -zipf_exponent
    clips_per_class: int | None = None  # head class gets this many clips as primary object; sets num_clips
    # objects
    num_objects_probs: tuple[float, ...] = (0.3, 0.4, 0.3)  # P(1), P(2), P(3) objects
    num_sounding_probs: tuple[float, ...] = (0.1, 0.6, 0.3)  # P(0), P(1), P(2) sounding
    extra_distractors: tuple[int, int] = (0, 0)  # extra silent objects on top (inclusive range)
    same_family_prob: float = (
        0.0  # a sounding-capable distractor is from a sounding object's family (dog/cat)
    )
    silent_only_classes: tuple[str, ...] | None = None  # None: the catalogue's never-sounding pool
    object_size: tuple[float, float] = (0.28, 0.55)  # longer sprite side as a fraction of the frame
    min_visible: float = 0.4  # re-place objects keeping less than this share of their area visible
    drift: float = 0.035  # per-frame motion std as a fraction of the frame
    rotation_deg: float = 10.0  # initial rotation range (±) ; plus up to ±rotation_deg/10 per frame
    styles: tuple[str, ...] | None = None  # None: every sprite style (filtered to what is installed)
    procedural_background_prob: float = 0.25
    # timing and audio
    min_partial_seconds: int = 2
    off_screen_gain: float = 0.3  # relative to the on-screen gain range
    gain_range: tuple[float, float] = (0.5, 1.0)
    noise_std: tuple[float, float] = (0.002, 0.02)  # white noise sigma range (after peak-normalising to 0.9)
    # out-of-distribution test sets (see generator docstring)
    holdout: str = "none"  # "none" | "style" | "source"
    holdout_styles: tuple[str, ...] = ("openmoji",)
    jpeg_quality: int = 90
    label: str = "v1m"  # AVSBench subset folder: v1s/v1m 5 frames, v2 10 frames (all annotated)


@dataclass
class DataConfig:
    """What data to build or read, and how items are shaped."""

    root: str | None = None  # None: $STEPSTONES_DATA, else <artifacts>/data/synthetic_<profile>
    num_clips: int = 1000  # synthetic clips to generate (all splits together)
    image_size: int = 96  # frame side fed to the model (px)
    render_size: int = 112  # side the synthetic generator renders at (px)
    eval_size: int = 96  # side at which masks/metrics are computed (AVSBench uses 224)
    num_frames: int = 5  # frames per clip (1 frame per second, as AVSBench v1s/v1m)
    seed: int = 0  # generator seed (same seed -> byte-identical dataset)
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)  # train / val / test
    off_screen_prob: float = 0.2  # probability of an off-screen (unlabelled) sound per clip
    partial_sounding_prob: float = 0.4  # share of sounding objects active on a sub-interval only
    silent_only_prob: float = 0.5  # probability that distractors come from the never-sounding pool
    num_workers: int = 0  # DataLoader workers (0 on CPU classrooms, more on GPUs)
    # the synthetic generator's other knobs (classes, objects per clip, distractors, the AVSBench
    # subset, ...); the set they make lives in its own folder (its name hashes every generator setting), used
    # when root is None
    synth: GeneratorKnobs = field(default_factory=GeneratorKnobs)


@dataclass
class ModelConfig:
    """The AAVS model (Mask2Former + audio) at one size; the same code path for every profile."""

    # visual backbone
    backbone: str = "lite_cnn"  # "lite_cnn" or a timm name, e.g. "swin_base_patch4_window12_384"
    backbone_weights: str | None = None  # local file only; nothing is downloaded at run time
    backbone_channels: tuple[int, int, int, int] = (24, 48, 96, 160)  # lite CNN widths at strides 4/8/16/32
    freeze_backbone: bool = False
    adapters: bool = False  # residual bottleneck adapters in a frozen backbone (paper §4.1)
    # where the lite CNN's adapters sit: "stage" = one after each output stage (ours); "block" = one after
    # every conv block, as the paper has them in every Swin block (more capacity; Swin: always in-block)
    adapter_placement: str = later_field("stage")
    adapter_reduction: int = later_field(4)  # adapter bottleneck d -> d/r -> d (the paper code: 4)
    backbone_img_size: int | None = None  # timm Swin input side (None: the model's default, 384)
    # more timm.create_model arguments (a converted small Swin's embed_dim / depths / num_heads / window_size;
    # stepstones_lite.model.official); None: the model's own
    backbone_kwargs: dict[str, Any] | None = later_field(None)
    # audio encoder
    audio_encoder: str = "lite_cnn"  # "lite_cnn" (trainable/pretrained stand-in), "vggish", or "precomputed"
    # (the model takes [N, audio_dim] embeddings, as the official code feeds towhee VGGish vectors)
    audio_weights: str | None = None  # local file only
    audio_dim: int = 128  # embedding width of the audio encoder (VGGish: 128)
    freeze_audio: bool = True
    # pixel decoder and transformer decoder
    pixel_decoder: str = "fpn"  # "fpn" (lite) or "msdeform" (paper)
    num_encoder_layers: int = 0  # deformable-attention encoder layers (paper: 6)
    encoder_feedforward: int = 256  # FFN width of the deformable encoder (paper code: 1024)
    mask_stride: int = 4  # stride of the mask features F_V^1 (4 as the paper, 2 for small inputs)
    hidden_dim: int = 64  # D
    num_heads: int = 4
    dim_feedforward: int = 256
    num_decoder_layers: int = 6  # masked-attention layers cycling 1/32 -> 1/16 -> 1/8 (paper: 9)
    num_queries: int = 16
    stage1_num_queries: int | None = (
        8  # queries of the binary stage-1 model (official code: 30); None = num_queries
    )
    # official code's avs_adapt MLPs (D -> D/4 -> D, ReLU, not residual) on the output projection of every
    # deformable-attention block and decoder self-attention (docs/paper_and_code.md §1.4-1.5): None = none
    # (ours); "replace" = instead of it (official avs/, stage 1); "after" = after it (official avss/, stage 2)
    avs_adapt: str | None = later_field(None)
    # msdeform GroupNorm groups (None: >= 2 channels a group; HF Mask2Former: 32)
    norm_groups: int | None = later_field(None)
    query_mode: str = "aaqg"  # "aaqg" (Eq. 1) | "repeat_audio" | "none"
    query_init_std: float = (
        0.02  # init std of Q_obj and P_audio (nn.Embedding default 1 drowns the audio term)
    )
    num_classes: int = 71  # semantic classes incl. background (stage 1 uses 2: background, sounding)
    # DEVIATION (docs/feasibility.md §R3.2, not in the paper): class-aware audio-visual matching "clsim"
    class_matching: bool = False
    matching_vis_classes: int = 26  # classes of the visual stand-in's dense head
    matching_aud_classes: int = 17  # classes of the audio stand-in's head
    # stage-2 prior modules (paper §3.2), each behind its own switch for ablations
    mask_fusion: bool = True
    prior_attention: bool = True
    robust_keys: bool = True
    tau_silent: float = 0.4  # tau_1: prior <= tau_silent -> E_silent
    tau_sounding: float = 0.6  # tau_2: prior >= tau_sounding -> E_sounding
    # matcher and criterion (Mask2Former defaults)
    num_points: int = 1024  # sampled points for mask losses (paper: 12544)
    oversample_ratio: float = 3.0
    importance_sample_ratio: float = 0.75
    class_weight: float = 2.0
    mask_weight: float = 5.0
    dice_weight: float = 5.0
    no_object_weight: float = 0.1


@dataclass
class TrainConfig:
    """Optimisation and schedule (the paper's code: AdamW 1e-3 then 1e-4, one clip per step)."""

    device: str = "auto"
    seed: int = 0
    lr: float = 1e-3  # phase A
    lr_phase_b: float = 1e-4  # phase B
    phase_b_fraction: float = 0.5  # share of steps run at lr_phase_b
    warmup_steps: int = 0  # linear warm-up (the paper's code has none)
    weight_decay: float = 0.05
    grad_clip: float = 1.0  # 0 disables
    clips_per_step: int = 1  # the paper: one clip, frames as the batch
    pretrain_steps: int = 400  # encoder stand-in pre-training (each of visual and audio)
    pretrain_label_space: str = (
        "coarse"  # "coarse" super-classes (paper-like mismatch) | "fine" (exact classes)
    )
    # the audio stand-in's own space (None: pretrain_label_space), also "family" (sound families: the sound
    # says which family, vision which member; train/pretrain.py)
    pretrain_audio_label_space: str | None = later_field(None)
    stage1_steps: int = 1500
    stage2_steps: int = 1500
    # the prior stage 2 trains with: "gt" (paper §3.2 teacher forcing: ground-truth binary masks); DEVIATIONS,
    # not in the paper: "stage1" (the stage-1 model's predictions on the train split, so training sees the
    # prior's errors: marked silent distractors, missed objects) or "mixed" (per training clip, stage-1
    # prediction or GT, even odds)
    stage2_train_prior: str = later_field("gt")
    eval_every: int = 250
    amp: bool = True  # autocast on CUDA only (bf16 where supported, else fp16 + GradScaler)
    compile: bool = False
    num_threads: int | None = None  # CPU threads; None leaves torch's default
    seeds: tuple[int, ...] = (0, 1, 2)  # seeds of the reproduce study


_SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}


@dataclass
class Profile:
    """A named bundle of the three configs."""

    name: str
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    # ----------------------------------------------------------------- overrides
    def replace(self, overrides: Mapping[str, Any] | None = None, **kwargs: Any) -> "Profile":
        """A copy with overrides applied; ``section__field=value`` or ``section={field: value}``."""
        merged: dict[str, Any] = dict(overrides or {})
        merged.update(kwargs)
        sections = {name: dataclasses.asdict(getattr(self, name)) for name in _SECTIONS}
        description = self.description
        for key, value in merged.items():
            if value is None and "__" in key:
                continue  # a notebook override left at its default None
            if key in _SECTIONS and isinstance(value, Mapping):
                for sub, subval in value.items():
                    _set_field(sections[key], key, sub, subval)
            elif "__" in key:
                section, sub = key.split("__", 1)
                if section not in _SECTIONS:
                    raise KeyError(f"unknown config section {section!r} in override {key!r}")
                _set_field(sections[section], section, sub, value)
            elif key == "description":
                description = str(value)
            else:
                raise KeyError(
                    f"override {key!r} is not of the form section__field (sections: {', '.join(_SECTIONS)})"
                )
        return Profile(
            name=self.name,
            description=description,
            **{name: _from_dict(cls, sections[name]) for name, cls in _SECTIONS.items()},
        )

    # ----------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def key_dict(self) -> dict[str, Any]:
        """``to_dict()`` for cache keys: fields added later are left out while at their neutral value.

        A field added with a default that keeps the earlier behaviour (declared with :func:`later_field`,
        collected in ``KEY_NEUTRAL``) would otherwise change every cached run's key, so runs that are still
        valid would be rebuilt; once set, it enters the key.
        """
        payload = self.to_dict()
        # the generator's knobs are not part of a run's key: every run key also holds the dataset root, whose
        # folder name hashes every generator setting (data.synthetic.default_root), so they enter the key
        # through it
        payload["data"].pop("synth", None)
        for (section, name), neutral in KEY_NEUTRAL.items():
            if payload[section].get(name, neutral) == neutral:
                payload[section].pop(name, None)
        return payload

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> "Profile":
        return cls(
            name=str(payload["name"]),
            description=str(payload.get("description", "")),
            **{name: _from_dict(sec_cls, payload.get(name, {})) for name, sec_cls in _SECTIONS.items()},
        )

    @classmethod
    def from_json(cls, text: str) -> "Profile":
        return cls.from_dict(json.loads(text))


# the fields declared with later_field, with the value at which they change nothing (see Profile.key_dict);
# derived from the declarations, never edited by hand
KEY_NEUTRAL: dict[tuple[str, str], Any] = {
    (section, f.name): f.default
    for section, sec_cls in _SECTIONS.items()
    for f in dataclasses.fields(sec_cls)
    if f.metadata.get(_LATER)
}


def _set_field(section: dict[str, Any], section_name: str, name: str, value: Any) -> None:
    """Set ``name`` in the dict of a section; ``sub__field`` descends into a nested section (``data.synth``),
    and a dict given for a nested section updates its fields."""
    head, _, rest = name.partition("__")
    if head not in section:
        known = ", ".join(sorted(section))
        raise KeyError(f"{section_name} config has no field {head!r} (known: {known})")
    nested = isinstance(section[head], dict)
    if rest:
        if not nested:
            raise KeyError(f"{section_name}.{head} is not a section: no field {rest!r} in it")
        _set_field(section[head], f"{section_name}.{head}", rest, value)
    elif nested and isinstance(value, Mapping):
        for sub, subval in value.items():
            _set_field(section[head], f"{section_name}.{head}", sub, subval)
    else:
        section[name] = value


def _from_dict(cls: type, payload: Mapping[str, Any]) -> Any:
    """Build a dataclass from a dict, turning JSON lists back into tuples where the default is a tuple."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(payload) - set(fields)
    if unknown:
        raise KeyError(f"{cls.__name__} has no field(s) {sorted(unknown)}")
    kwargs = {}
    defaults = cls()
    for name, value in payload.items():
        default = getattr(defaults, name)
        if isinstance(value, list) and (isinstance(default, tuple) or "tuple" in str(fields[name].type)):
            value = tuple(value)
        elif dataclasses.is_dataclass(default) and isinstance(value, Mapping):
            value = _from_dict(type(default), value)  # a nested section (data.synth)
        kwargs[name] = value
    return cls(**kwargs)


# --------------------------------------------------------------------- the registry
def _smoke() -> Profile:
    return Profile(
        name="smoke",
        description="CI / nbval: tiny data and model, every notebook < 60 s on 2 CPU cores",
        data=DataConfig(num_clips=48, image_size=64, render_size=64, eval_size=64),
        model=ModelConfig(
            freeze_backbone=True,
            adapters=True,
            backbone_channels=(16, 24, 32, 48),
            audio_dim=32,
            hidden_dim=32,
            num_heads=2,
            dim_feedforward=64,
            num_decoder_layers=3,
            num_queries=8,
            num_points=256,
        ),
        train=TrainConfig(
            pretrain_steps=20,
            stage1_steps=20,
            stage2_steps=20,
            eval_every=10,
            seeds=(0,),
            pretrain_audio_label_space="fine",
        ),  # the classroom's encoder regime, in miniature
    )


def _classroom() -> Profile:
    return Profile(
        name="classroom",
        description="a 2-core laptop: the whole course in < 20 min",
        data=DataConfig(num_clips=1000, image_size=96, render_size=112, eval_size=96),
        # the paper's regime with CPU stand-ins: frozen pre-trained encoders + adapters
        # (docs/feasibility.md §R3, lever 1)
        model=ModelConfig(freeze_backbone=True, adapters=True, mask_stride=2),
        # the paper's encoder regime: a visual stand-in pre-trained on coarse super-classes (ADE20k's Swin-B
        # does not name most sounding objects) beside an audio stand-in that names the benchmark's sounds
        # (AudioSet's VGGish does); ``train__pretrain_audio_label_space="coarse"`` is the "neither encoder
        # knows" lesson
        train=TrainConfig(pretrain_audio_label_space="fine"),
    )


def _paper() -> Profile:
    return Profile(
        name="paper",
        description=(
            "the published configuration (Swin-B Mask2Former, VGGish, 384 px in, 224 px eval) for GPUs"
        ),
        data=DataConfig(num_clips=10000, image_size=384, render_size=224, eval_size=224, num_workers=4),
        model=ModelConfig(
            backbone="swin_base_patch4_window12_384",
            freeze_backbone=True,
            adapters=True,
            audio_encoder="vggish",
            audio_dim=128,
            pixel_decoder="msdeform",
            num_encoder_layers=6,
            encoder_feedforward=1024,
            mask_stride=4,
            hidden_dim=256,
            num_heads=8,
            dim_feedforward=2048,
            num_decoder_layers=9,
            num_queries=100,
            stage1_num_queries=30,
            num_points=12544,
        ),
        train=TrainConfig(
            grad_clip=0.0,
            pretrain_steps=0,
            stage1_steps=60 * 3452,
            stage2_steps=60 * 8498,
            eval_every=3452,
        ),
    )


PROFILES: dict[str, Any] = {"smoke": _smoke, "classroom": _classroom, "paper": _paper}


def profile_name(name: str = "auto") -> str:
    """The concrete profile name: ``"auto"`` (or empty) reads ``$STEPSTONES_PROFILE``, default
    ``classroom``."""
    if not name or name == "auto":
        name = os.environ.get(PROFILE_ENV, "").strip() or DEFAULT_PROFILE
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)} or 'auto'")
    return name


def resolve_profile(
    name: str | Profile = "auto", overrides: Mapping[str, Any] | None = None, **kwargs: Any
) -> Profile:
    """Return the :class:`Profile` for ``name`` (``"auto"`` -> env, default classroom) with overrides.

    >>> resolve_profile("smoke", train__stage1_steps=5).train.stage1_steps
    5
    """
    if isinstance(name, Profile):
        base = name
    else:
        base = PROFILES[profile_name(name)]()
    if overrides or kwargs:
        return base.replace(overrides, **kwargs)
    return base


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Command-line ``--set SECTION__FIELD=VALUE`` items as overrides for :func:`resolve_profile`; VALUE is
    read as JSON where it parses (``3``, ``false``, ``[0.1, 0.9]``, ``{"label": "v2"}``), else kept as a
    string."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise SystemExit(f"--set needs SECTION__FIELD=VALUE, got {item!r}")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def load_profile_json(path: str | os.PathLike[str]) -> Profile:
    """Read a profile written by ``Profile.to_json`` (e.g. next to a checkpoint)."""
    return Profile.from_json(Path(path).read_text(encoding="utf-8"))
