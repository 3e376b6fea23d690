"""``SynthConfig``: every knob of the synthetic AVSS benchmark; ``GeneratorKnobs``: the ones a profile nests
as ``data.synth``; ``default_root``: where a profile's synthetic set lives."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...config import GeneratorKnobs  # the generator's own knobs: a profile's data.synth section
from .materials import DEFAULT_CLASSES, SILENT_ONLY, STYLES

__all__ = [
    "GeneratorKnobs",
    "SynthConfig",
    "GENERATOR_VERSION",
    "FROM_DATA_CONFIG",
    "default_root",
    "profile_overrides",
]

GENERATOR_VERSION = "1.0"  # bump when the same config would render different bytes


# the fields the profile's DataConfig holds itself (the reader and the model use them too): SynthConfig name
# -> DataConfig name
FROM_DATA_CONFIG = {
    "num_clips": "num_clips",
    "size": "render_size",
    "seed": "seed",
    "num_frames": "num_frames",
    "split_fractions": "split_fractions",
    "off_screen_prob": "off_screen_prob",
    "partial_sounding_prob": "partial_sounding_prob",
    "silent_only_prob": "silent_only_prob",
}


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

    def __post_init__(self) -> None:
        # a profile leaves these at None ("the catalogue's"): the catalogue lives here, beside the generator
        for name, default in (
            ("classes", DEFAULT_CLASSES),
            ("silent_only_classes", SILENT_ONLY),
            ("styles", STYLES),
        ):
            if getattr(self, name) is None:
                setattr(self, name, default)

    @classmethod
    def from_data_config(cls, data: Any, **overrides: Any) -> "SynthConfig":
        """The generator config of a ``stepstones_lite.config.DataConfig``: its own data fields
        (:data:`FROM_DATA_CONFIG`) and its ``synth`` section, then ``overrides``."""
        kw: dict[str, Any] = (
            dataclasses.asdict(data.synth) if getattr(data, "synth", None) is not None else {}
        )
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
        if (
            len(self.split_fractions) != 3
            or abs(sum(self.split_fractions) - 1) > 1e-6
            or min(self.split_fractions) < 0
        ):
            raise ValueError(
                f"split_fractions must be 3 non-negative numbers summing to 1, got {self.split_fractions}"
            )
        bad = [c for c in self.classes if c not in AVSS_CLASSES]
        if bad:
            raise ValueError(f"classes {bad} are not AVSBench-semantic classes")
        if not self.classes:
            raise ValueError("classes is empty")
        if self.class_distribution not in ("uniform", "zipf"):
            raise ValueError(
                f"class_distribution must be 'uniform' or 'zipf', got {self.class_distribution!r}"
            )
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
            raise ValueError(
                f"AVSBench subset {self.label!r} has {AVSS_SUBSETS[self.label]} frames per clip, got "
                f"num_frames={self.num_frames}; choose label='v2' for 10 frames, 'v1m' for 5"
            )


def profile_overrides(knobs: dict[str, Any] | None) -> dict[str, Any]:
    """``SynthConfig`` settings as profile overrides: ``data__<field>`` for the data fields a profile holds
    itself (``size`` is ``data__render_size``), ``data__synth__<knob>`` for the rest.

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
    folder the notebooks and the trainer use for profile P (``train.datasets.ensure_dataset``), and a dataset
    made with other knobs gets a folder of its own.
    """
    from ...artifacts import artifact_key
    from ...utils import artifacts_dir

    env = os.environ.get("STEPSTONES_DATA", "").strip()
    if env:
        return Path(env).expanduser()
    suffix = f"_{artifact_key(dataclasses.asdict(config))[:8]}" if config is not None else ""
    return artifacts_dir() / "data" / f"synthetic_{profile_name}{suffix}"
