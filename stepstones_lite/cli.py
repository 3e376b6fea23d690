"""The ``stepstones`` command line: the same steps the notebooks take, for scripts and GPUs.

Sub-commands are added as the course grows; each takes ``--profile`` (``auto`` reads
``STEPSTONES_PROFILE``) where it runs anything profile-dependent.
Run as ``stepstones ...`` or ``python -m stepstones_lite.cli ...`` (the form ``torchrun`` needs).
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from ._version import __version__


def _cmd_env(args: argparse.Namespace) -> int:
    from .utils import env_info, print_env

    if args.json:
        print(json.dumps(env_info(), indent=2))
    else:
        print_env()
    return 0


def _cmd_profile(args: argparse.Namespace) -> int:
    from .config import resolve_profile

    print(resolve_profile(args.profile).to_json())
    return 0


def _cmd_student(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .nbtools import write_student_version
    from .utils import project_root

    sources = sorted((project_root() / "notebooks").glob("[0-9][0-9]_*.py"))
    for source in sources:
        print("wrote", write_student_version(source, Path(args.out)))
    return 0


def _cmd_model_info(args: argparse.Namespace) -> int:
    from .config import resolve_profile
    from .model import build_model, model_summary

    prof = resolve_profile(args.profile)
    stages = [("stage 1 (AVS, 2 classes)", 2, False)] if args.task == "avs" else [
        ("stage 2 (AVSS, 71 classes, prior)", 71, True), ("end-to-end AVSS (71 classes)", 71, False)]
    for title, num_classes, use_prior in stages:
        try:
            model = build_model(prof.model, num_classes=num_classes, use_prior=use_prior)
        except (ImportError, ValueError, FileNotFoundError) as err:
            print(f"cannot build the {prof.name} model: {err}", file=sys.stderr)
            return 1
        print(f"profile {prof.name}: {title}")
        print(model_summary(model))
        print()
    return 0


def _cmd_make_data(args: argparse.Namespace) -> int:
    from .data.synthetic.cli import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stepstones",
        description="Stepping Stones (ECCV 2024) course tools: data, training, priors, evaluation.",
    )
    parser.add_argument("--version", action="version", version=f"stepstones_lite {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p_env = sub.add_parser("env", help="print python/torch/CUDA versions, device and package versions")
    p_env.add_argument("--json", action="store_true", help="machine-readable output")
    p_env.set_defaults(func=_cmd_env)

    p_prof = sub.add_parser("profile", help="print the resolved profile (data/model/train config) as JSON")
    p_prof.add_argument("--profile", default="auto", help="smoke | classroom | paper | auto (env STEPSTONES_PROFILE)")
    p_prof.set_defaults(func=_cmd_profile)

    p_mi = sub.add_parser("model-info", help="print the AAVS model's parameter summary for a profile")
    p_mi.add_argument("--profile", default="auto", help="smoke | classroom | paper | auto (env STEPSTONES_PROFILE)")
    p_mi.add_argument("--task", default="avs", choices=["avs", "avss"], help="avs: stage 1; avss: stage 2 + end-to-end")
    p_mi.set_defaults(func=_cmd_model_info)

    from .data.synthetic.cli import add_arguments as _synth_arguments

    p_data = sub.add_parser("make-data", help="generate the synthetic AVSBench-semantic benchmark (seeded)")
    _synth_arguments(p_data)
    p_data.set_defaults(func=_cmd_make_data)

    p_stu = sub.add_parser("student", help="write exercise copies of the notebooks (solution cells removed)")
    p_stu.add_argument("--out", default="build/student", help="output folder")
    p_stu.set_defaults(func=_cmd_student)

    from .study.cli import add_study_commands
    from .train.commands import add_training_commands

    add_training_commands(sub)
    add_study_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
