"""``stepstones`` sub-commands for the pipeline: train-avs, make-priors, train-avss, evaluate,
convert-official.

Each takes ``--profile`` (``auto`` reads ``STEPSTONES_PROFILE``), ``--device``, ``--seed`` and ``--out``; the
training commands also work under ``torchrun --nproc_per_node=K -m stepstones_lite.cli train-avss ...``
(DistributedDataParallel; rank 0 writes). Output folders default to ``<artifacts>/<stage>/<profile>-s<seed>``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["add_training_commands"]


def _common(p: argparse.ArgumentParser, out_help: str) -> None:
    p.add_argument(
        "--profile", default="auto", help="smoke | classroom | paper | auto (env STEPSTONES_PROFILE)"
    )
    p.add_argument("--device", default=None, help="auto | cpu | cuda | mps (default: the profile's)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the profile's)")
    p.add_argument("--out", default=None, help=out_help)
    p.add_argument(
        "--data", default=None, help="dataset root (default: $STEPSTONES_DATA or the synthetic set)"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION__FIELD=VALUE",
        help="config override, e.g. --set train__stage1_steps=100 (repeatable)",
    )


def _profile(args: argparse.Namespace):
    from ..config import parse_overrides, resolve_profile

    return resolve_profile(args.profile, **parse_overrides(args.set))


def _out(args: argparse.Namespace, stage: str, profile) -> Path:
    from ..utils import artifacts_dir

    if args.out:
        return Path(args.out)
    seed = args.seed if args.seed is not None else profile.train.seed
    return artifacts_dir() / stage / f"{profile.name}-s{seed}"


def _training_options(args: argparse.Namespace) -> dict[str, Any]:
    """What every training command hands its pipeline function from the shared flags."""
    return dict(data_root=args.data, seed=args.seed, steps=args.steps, resume=args.resume, device=args.device)


def _report(result) -> int:
    print(
        json.dumps(
            {
                "best": result.best,
                "steps_run": result.steps_run,
                "wall_seconds": round(result.wall_seconds, 1),
                "best_checkpoint": str(result.best_checkpoint),
                "last_checkpoint": str(result.last_checkpoint),
            },
            indent=2,
            default=str,
        )
    )
    return 0


def _cmd_train_avs(args: argparse.Namespace) -> int:
    from .pipeline import train_stage1

    profile = _profile(args)
    out = _out(args, "stage1" + ("-muted" if args.mute_audio else ""), profile)
    return _report(train_stage1(profile, out, mute_audio=args.mute_audio, **_training_options(args)))


def _cmd_make_priors(args: argparse.Namespace) -> int:
    from .priors import make_priors

    manifest = make_priors(
        args.checkpoint,
        args.out,
        data_root=args.data,
        splits=tuple(args.splits),
        device=args.device,
        mute_audio=args.mute_audio,
    )
    print(manifest.read_text())
    return 0


def _cmd_train_avss(args: argparse.Namespace) -> int:
    from .pipeline import train_end_to_end, train_stage2

    profile = _profile(args)
    if args.end_to_end:
        out = _out(args, "end_to_end", profile)
        result = train_end_to_end(profile, out, **_training_options(args))
    else:
        out = _out(args, "stage2", profile)
        result = train_stage2(profile, out, prior_root=args.priors, **_training_options(args))
    return _report(result)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .pipeline import evaluate_checkpoint

    metrics = evaluate_checkpoint(
        args.checkpoint,
        args.split,
        data_root=args.data,
        prior=args.priors,
        mute_audio=args.mute_audio,
        device=args.device,
        stage1=args.stage1,
    )
    print(json.dumps(metrics, indent=2))
    return 0


def _cmd_convert_official(args: argparse.Namespace) -> int:
    from .pipeline import convert_official

    profile = _profile(args)
    if args.audio_weights:
        profile = profile.replace(model__audio_weights=args.audio_weights)
    path = convert_official(args.ckpt, args.stage, args.out, profile)
    print(
        json.dumps(
            {
                "checkpoint": str(path),
                "config": str(Path(args.out) / "config.json"),
                "kind": "aavs-stage1" if args.stage == "avs" else "aavs-stage2",
            },
            indent=2,
        )
    )
    return 0


def _cmd_pretrain(args: argparse.Namespace) -> int:
    from .pipeline import ensure_dataset
    from .pretrain import ensure_encoders, pretrain_encoders

    profile = _profile(args)
    if args.out:
        report = pretrain_encoders(profile, args.out, data_root=args.data, device=args.device)
        print(json.dumps(report, indent=2))
    else:
        folder = ensure_encoders(profile, ensure_dataset(profile, args.data))
        print((folder / "standins.json").read_text())
    return 0


def add_training_commands(sub: argparse._SubParsersAction) -> None:
    """Register the pipeline sub-commands on the ``stepstones`` parser."""
    p = sub.add_parser("train-avs", help="stage 1: train AAVS on binary sounding masks")
    _common(p, "run folder (default <artifacts>/stage1/<profile>-s<seed>)")
    p.add_argument(
        "--steps", type=int, default=None, help="optimisation steps (default: profile stage1_steps)"
    )
    p.add_argument("--mute-audio", action="store_true", help="train and validate with silence (control run)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.pt")
    p.set_defaults(func=_cmd_train_avs)

    p = sub.add_parser("make-priors", help="write stage-1 predictions as AVSBench prior PNGs")
    p.add_argument("checkpoint", help="stage-1 checkpoint (best.pt)")
    p.add_argument("--out", required=True, help="prior folder (<out>/<subset>/<uid>/<k>.png)")
    p.add_argument("--splits", nargs="+", default=["val", "test"], choices=["train", "val", "test"])
    p.add_argument("--data", default=None, help="dataset root (default: the checkpoint profile's dataset)")
    p.add_argument("--device", default=None)
    p.add_argument(
        "--mute-audio", action="store_true", help="predict with silence (a deliberately bad prior)"
    )
    p.set_defaults(func=_cmd_make_priors)

    p = sub.add_parser("train-avss", help="stage 2 (with priors) or --end-to-end AVSS")
    _common(p, "run folder (default <artifacts>/stage2|end_to_end/<profile>-s<seed>)")
    p.add_argument(
        "--steps", type=int, default=None, help="optimisation steps (default: profile stage2_steps)"
    )
    p.add_argument("--priors", default=None, help="stage-1 prior folder for validation (default: oracle GT)")
    p.add_argument("--end-to-end", action="store_true", help="train without priors (the one-stage baseline)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.pt")
    p.set_defaults(func=_cmd_train_avss)

    p = sub.add_parser(
        "pretrain-encoders", help="pre-train (and cache) the visual and audio stand-in encoders"
    )
    _common(p, "folder for visual.pt/audio.pt (default: the cached artifact)")
    p.set_defaults(func=_cmd_pretrain)

    p = sub.add_parser(
        "convert-official",
        help="convert a released Stepping Stones checkpoint (avs/ or avss/) "
        "into ours (<out>/model.pt + config.json)",
    )
    p.add_argument(
        "--stage", required=True, choices=["avs", "avss"], help="avs: stage 1 (binary); avss: stage 2"
    )
    p.add_argument("--ckpt", required=True, help="the official checkpoint (f_miou_best.pth)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--profile", default="paper", help="base profile for what the checkpoint does not fix (paper)"
    )
    p.add_argument(
        "--audio-weights",
        default=None,
        help="torchvggish weights file for the VGGish (not part of the official checkpoints)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION__FIELD=VALUE",
        help="config override, e.g. --set model__audio_encoder=precomputed (repeatable)",
    )
    p.set_defaults(func=_cmd_convert_official)

    p = sub.add_parser("evaluate", help="score a checkpoint with the exact AVSBench metrics")
    p.add_argument("checkpoint")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--priors", default=None, help="stage 2: prior folder, or 'gt' for oracle priors")
    p.add_argument("--mute-audio", action="store_true", help="stage 1: feed silence")
    p.add_argument(
        "--stage1",
        default=None,
        help="stage 2: the stage-1 checkpoint the --priors must come from (checked via their manifest)",
    )
    p.add_argument("--data", default=None)
    p.add_argument("--device", default=None)
    p.set_defaults(func=_cmd_evaluate)
