"""Generator flags, shared by ``stepstones make-data`` and ``data_scripts/make_synthetic_avss.py``.

Defaults come from the profile's ``data`` section: its own fields (``num_clips``, ``render_size``, ``seed``,
``num_frames``, ``split_fractions``, ``off_screen_prob``, ``partial_sounding_prob``, ``silent_only_prob``) and
the generator knobs ``data.synth`` (``--set data__synth__<knob>=...`` reaches any of them, as in every other
command); the flags below override single knobs on top.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .config import default_root

__all__ = ["add_arguments", "config_from_args", "default_root", "run"]


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.replace(" ", "").split(",") if x)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.replace("-", ",").split(",") if x)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 1,3 or 1-3, got {text!r}") from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(x for x in text.replace(" ", "").split(",") if x)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add every generator flag to ``p`` (all default to None = profile / SynthConfig default)."""
    p.add_argument(
        "--profile", default="auto", help="smoke | classroom | paper | auto (env STEPSTONES_PROFILE)"
    )
    p.add_argument(
        "--out",
        default=None,
        help="dataset root (default: $STEPSTONES_DATA or <artifacts>/data/synthetic_<profile>)",
    )
    p.add_argument("--num-clips", type=int, help="clips in all splits together")
    p.add_argument("--size", type=int, help="frame side in px (render_size)")
    p.add_argument("--seed", type=int)
    p.add_argument(
        "--workers", type=int, default=None, help="processes (default: available cores; 1 = in-process)"
    )
    p.add_argument("--split-fractions", type=_floats, help="train,val,test fractions, e.g. 0.8,0.1,0.1")
    g = p.add_argument_group("classes")
    g.add_argument("--classes", type=_names, help="comma list of sounding classes, 'default' (17) or 'all'")
    g.add_argument("--class-distribution", choices=("uniform", "zipf"))
    g.add_argument("--zipf-exponent", type=float, help="long tail: class r gets weight r**-a (list order)")
    g.add_argument("--clips-per-class", type=int, help="clips of the head class (sets the number of clips)")
    g = p.add_argument_group("objects")
    g.add_argument("--objects-per-clip", type=_ints, help="MIN-MAX objects per clip, uniform (e.g. 1-3)")
    g.add_argument("--num-objects-probs", type=_floats, help="P(1),P(2),... objects (e.g. .3,.4,.3)")
    g.add_argument("--sounding-probs", type=_floats, help="P(0),P(1),... sounding objects (e.g. .1,.6,.3)")
    g.add_argument("--extra-distractors", type=_ints, help="MIN-MAX extra silent objects (e.g. 0-1)")
    g.add_argument("--silent-only-prob", type=float, help="a distractor is never-sounding (cow, tree, ...)")
    g.add_argument("--same-family-prob", type=float, help="a sounding-capable distractor shares a family")
    g.add_argument("--object-size", type=_floats, help="lo,hi longer side as a fraction of the frame")
    g.add_argument("--min-visible", type=float, help="min visible share of every object's area")
    g.add_argument("--styles", type=_names, help="twemoji,openmoji,noto,tux (filtered to what is installed)")
    g = p.add_argument_group("timing and audio")
    g.add_argument("--partial-sounding-prob", type=float, help="share of sounding objects on a sub-interval")
    g.add_argument("--off-screen-prob", type=float, help="probability of an unlabelled off-screen sound")
    g.add_argument("--off-screen-gain", type=float)
    g.add_argument("--noise-std", type=_floats, help="lo,hi white-noise sigma")
    g = p.add_argument_group("out-of-distribution test split")
    g.add_argument("--holdout", choices=("none", "style", "source"), help="test uses held-out styles/sources")
    g.add_argument("--holdout-styles", type=_names, help="styles seen only at test time (default openmoji)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION__FIELD=VALUE",
        help="profile override, e.g. --set data__synth__label=v2 --set data__num_frames=10 (repeatable); "
        "the flags above apply on top",
    )
    p.add_argument("--overwrite", action="store_true", help="replace a dataset made with another config")
    p.add_argument("--no-progress", action="store_true")


def config_from_args(args: argparse.Namespace):
    """``(SynthConfig, out_dir)`` from parsed flags."""
    from ...config import parse_overrides, profile_name, resolve_profile
    from .config import SynthConfig
    from .materials import DEFAULT_CLASSES, available_classes

    prof = resolve_profile(args.profile, **parse_overrides(getattr(args, "set", None) or []))
    over = {}
    simple = {
        "num_clips": "num_clips",
        "size": "size",
        "seed": "seed",
        "split_fractions": "split_fractions",
        "class_distribution": "class_distribution",
        "zipf_exponent": "zipf_exponent",
        "clips_per_class": "clips_per_class",
        "num_objects_probs": "num_objects_probs",
        "sounding_probs": "num_sounding_probs",
        "silent_only_prob": "silent_only_prob",
        "same_family_prob": "same_family_prob",
        "object_size": "object_size",
        "min_visible": "min_visible",
        "styles": "styles",
        "partial_sounding_prob": "partial_sounding_prob",
        "off_screen_prob": "off_screen_prob",
        "off_screen_gain": "off_screen_gain",
        "noise_std": "noise_std",
        "holdout": "holdout",
        "holdout_styles": "holdout_styles",
    }
    for arg, fld in simple.items():
        v = getattr(args, arg, None)
        if v is not None:
            over[fld] = v
    if args.classes:
        over["classes"] = (
            DEFAULT_CLASSES
            if args.classes == ("default",)
            else available_classes()
            if args.classes == ("all",)
            else args.classes
        )
    if args.objects_per_clip:
        lo, hi = (args.objects_per_clip * 2)[:2]
        if not 1 <= lo <= hi:
            raise SystemExit(f"--objects-per-clip: need 1 <= MIN <= MAX, got {args.objects_per_clip}")
        over["num_objects_probs"] = tuple(0.0 if k + 1 < lo else 1.0 for k in range(hi))
    if args.extra_distractors:
        over["extra_distractors"] = tuple((args.extra_distractors * 2)[:2])
    cfg = SynthConfig.from_data_config(prof.data, **over)
    out = (
        Path(args.out)
        if args.out
        else Path(prof.data.root)
        if prof.data.root
        else default_root(profile_name(args.profile), cfg)
    )
    return cfg, out


def run(args: argparse.Namespace) -> int:
    """Generate the dataset described by ``args``; print where it went."""
    from .generator import generate_dataset

    cfg, out = config_from_args(args)
    try:
        cfg.validate()
    except ValueError as err:
        raise SystemExit(f"make-data: {err}") from None
    # a DatasetError propagates: the caller (stepstones_lite.cli.run_command) prints it as one line
    root = generate_dataset(
        out, cfg, workers=args.workers, progress=not args.no_progress, overwrite=args.overwrite
    )
    n = sum(1 for _ in open(root / "metadata.csv", encoding="utf-8")) - 1
    print(f"synthetic AVSS dataset ({n} clips, {cfg.size} px, seed {cfg.seed}): {root}")
    return 0
