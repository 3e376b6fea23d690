"""``SynthConfig``: every knob of the synthetic AVSS benchmark; ``GeneratorKnobs``: the ones a profile nests as
``data.synth``; ``default_root``: where a profile's synthetic set lives."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .materials import DEFAULT_CLASSES, SILENT_ONLY, STYLES

__all__ = ["GeneratorKnobs", "SynthConfig", "GENERATOR_VERSION", "FROM_DATA_CONFIG", "default_root", "profile_overrides"]

GENERATOR_VERSION = "1.0"  # bump when the same config would render different bytes


@dataclass
class GeneratorKnobs:
    """The generator's own knobs: the profile's ``data.synth`` section, so each is an override
    ``data__synth__<field>=value`` (``stepstones reproduce --set``, a notebook's parameters).

    Probabilities over counts are tuples indexed by the count: ``num_objects_probs[i]`` = P(i+1 sounding or
    silent objects), ``num_sounding_probs[i]`` = P(i sounding objects) (capped at the number of objects).
    """

    # classes: which sounding classes, how often (uniform or Zipf long tail in list order), how many clips
    classes: tuple[str, ...] = DEFAULT_CLASSES
    class_distribution: str = "uniform"  # "uniform" | "zipf"
    zipf_exponent: float = 1.0  # weight of the r-th class (r = 1, 2, ...) ∝ r ** -zipf_exponent
    clips_per_class: int | None = None  # head class gets this many clips as primary object; sets num_clips
    # objects
    num_objects_probs: tuple[float, ...] = (0.3, 0.4, 0.3)  # P(1), P(2), P(3) objects
    num_sounding_probs: tuple[float, ...] = (0.1, 0.6, 0.3)  # P(0), P(1), P(2) sounding
    extra_distractors: tuple[int, int] = (0, 0)  # extra silent objects on top (inclusive range)
    same_family_prob: float = 0.0  # a sounding-capable distractor is from a sounding object's family (dog/cat)
    silent_only_classes: tuple[str, ...] = SILENT_ONLY
    object_size: tuple[float, float] = (0.28, 0.55)  # longer sprite side as a fraction of the frame
    min_visible: float = 0.4  # re-place objects keeping less than this share of their area visible
    drift: float = 0.035  # per-frame motion std as a fraction of the frame
    rotation_deg: float = 10.0  # initial rotation range (±) ; plus up to ±rotation_deg/10 per frame
    styles: tuple[str, ...] = STYLES  # filtered to what is installed
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


# the fields the profile's DataConfig holds itself (the reader and the model use them too): SynthConfig name ->
# DataConfig name
FROM_DATA_CONFIG = {"num_clips": "num_clips", "size": "render_size", "seed": "seed", "num_frames": "num_frames",
                    "split_fractions": "split_fractions", "off_screen_prob": "off_screen_prob",
                    "partial_sounding_prob": "partial_sounding_prob", "silent_only_prob": "silent_only_prob"}


@dataclass
class SynthConfig(GeneratorKnobs):
    """Everything the generator reads: :class:`GeneratorKnobs` plus the data fields a profile's ``DataConfig``
    holds itself (``from_data_config`` takes both from a profile's data section)."""

    num_clips: int = 1000  # ignored when clips_per_class is set
    size: int = 112  # frame side (px); AVSBench-like: 224
    seed: int = 0
    num_frames: int = 5  # 1 frame per second of audio (AVSBench v1m)
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)  # train / val / test
    silent_only_prob: float = 0.5  # a distractor comes from the never-sounding pool with this probability
    partial_sounding_prob: float = 0.4  # share of sounding objects active on a contiguous sub-interval
    off_screen_prob: float = 0.2  # an unlabelled off-screen sound per clip

    @classmethod
    def from_data_config(cls, data: Any, **overrides: Any) -> "SynthConfig":
        """The generator config of a ``stepstones_lite.config.DataConfig``: its own data fields
        (:data:`FROM_DATA_CONFIG`) and its ``synth`` section, then ``overrides``."""
        kw: dict[str, Any] = dataclasses.asdict(data.synth) if getattr(data, "synth", None) is not None else {}
        kw.update({name: getattr(data, field) for name, field in FROM_DATA_CONFIG.items()})
        kw["split_fractions"] = tuple(kw["split_fractions"])
        kw.update(overrides)
        return cls.from_dict(kw)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> "SynthConfig":
        defaults = cls()
        kw = {}
        for f in dataclasses.fields(cls):
            if f.name in payload:
                v = payload[f.name]
                as_tuple = isinstance(getattr(defaults, f.name), tuple) and isinstance(v, list)
                kw[f.name] = tuple(v) if as_tuple else v
        return cls(**kw)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the bad knob."""
        from ..classes import AVSS_CLASSES

        if self.size < 16:
            raise ValueError(f"size must be >= 16 px, got {self.size}")
        if self.num_frames < 1:
            raise ValueError("num_frames must be >= 1")
        if self.clips_per_class is None and self.num_clips < 1:
            raise ValueError("num_clips must be >= 1")
        if len(self.split_fractions) != 3 or abs(sum(self.split_fractions) - 1) > 1e-6 or min(
                self.split_fractions) < 0:
            raise ValueError(
                f"split_fractions must be 3 non-negative numbers summing to 1, got {self.split_fractions}")
        bad = [c for c in self.classes if c not in AVSS_CLASSES]
        if bad:
            raise ValueError(f"classes {bad} are not AVSBench-semantic classes")
        if not self.classes:
            raise ValueError("classes is empty")
        if self.class_distribution not in ("uniform", "zipf"):
            raise ValueError(
                f"class_distribution must be 'uniform' or 'zipf', got {self.class_distribution!r}")
        for name in ("num_objects_probs", "num_sounding_probs"):
            p = getattr(self, name)
            if not p or min(p) < 0 or sum(p) <= 0:
                raise ValueError(f"{name} must be non-negative with a positive sum, got {p}")
        if not 0 < self.object_size[0] <= self.object_size[1] <= 1:
            raise ValueError(f"object_size must satisfy 0 < lo <= hi <= 1, got {self.object_size}")
        if self.holdout not in ("none", "style", "source"):
            raise ValueError(f"holdout must be 'none', 'style' or 'source', got {self.holdout!r}")
        unknown = [s for s in (*self.styles, *self.holdout_styles) if s not in STYLES]
        if unknown:
            raise ValueError(f"unknown styles {unknown}; known: {STYLES}")
        if self.extra_distractors[0] < 0 or self.extra_distractors[1] < self.extra_distractors[0]:
            raise ValueError(f"extra_distractors must be a range lo <= hi, got {self.extra_distractors}")
        if self.label not in ("v1s", "v1m", "v2"):
            raise ValueError(f"label must be an AVSBench subset (v1s/v1m/v2), got {self.label!r}")
        from ..readers import AVSS_SUBSETS  # the reader reads a subset's clips at its frame count

        if self.num_frames != AVSS_SUBSETS[self.label]:
            raise ValueError(f"AVSBench subset {self.label!r} has {AVSS_SUBSETS[self.label]} frames per clip, got "
                             f"num_frames={self.num_frames}; choose label='v2' for 10 frames, 'v1m' for 5")


def profile_overrides(knobs: dict[str, Any] | None) -> dict[str, Any]:
    """``SynthConfig`` settings as profile overrides: ``data__<field>`` for the data fields a profile holds itself
    (``size`` is ``data__render_size``), ``data__synth__<knob>`` for the rest.

    >>> profile_overrides({"num_clips": 500, "label": "v2"})
    {'data__num_clips': 500, 'data__synth__label': 'v2'}
    """
    names = {f.name for f in dataclasses.fields(SynthConfig)}
    out = {}
    for name, value in (knobs or {}).items():
        if name not in names:
            raise KeyError(f"the synthetic generator has no setting {name!r}")
        out[f"data__{FROM_DATA_CONFIG[name]}" if name in FROM_DATA_CONFIG else f"data__synth__{name}"] = value
    return out


def default_root(profile_name: str, config: SynthConfig | None = None) -> Path:
    """``$STEPSTONES_DATA``, else ``<artifacts>/data/synthetic_<profile>_<config hash>``.

    The hash covers the whole :class:`SynthConfig`, so ``stepstones make-data --profile P`` writes exactly the
    folder the notebooks and the trainer use for profile P (``train.datasets.ensure_dataset``), and a dataset made
    with other knobs gets a folder of its own.
    """
    from ...artifacts import artifact_key
    from ...utils import artifacts_dir

    env = os.environ.get("STEPSTONES_DATA", "").strip()
    if env:
        return Path(env).expanduser()
    suffix = f"_{artifact_key(dataclasses.asdict(config))[:8]}" if config is not None else ""
    return artifacts_dir() / "data" / f"synthetic_{profile_name}{suffix}"
