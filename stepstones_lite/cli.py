"""The ``stepstones`` command line: the same steps the notebooks take, for scripts and GPUs.

Sub-commands are added as the course grows; each takes ``--profile`` (``auto`` reads
``STEPSTONES_PROFILE``) where it runs anything profile-dependent.
Run as ``stepstones ...`` or ``python -m stepstones_lite.cli ...`` (the form ``torchrun`` needs).

Known errors (bad data, a corrupt or mismatched checkpoint, a file that cannot be read or written) end the
command with one line ``stepstones: error: <file>: <reason>`` on stderr and exit status 1; ``--debug`` shows
the full traceback instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, Sequence

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

    from .notebook_rules import write_student_version
    from .utils import project_root

    sources = sorted((project_root() / "notebooks").glob("[0-9][0-9]_*.py"))
    for source in sources:
        print("wrote", write_student_version(source, Path(args.out)))
    return 0


def _cmd_model_info(args: argparse.Namespace) -> int:
    from .config import resolve_profile
    from .model import build_model, model_summary

    prof = resolve_profile(args.profile)
    stages = (
        [("stage 1 (AVS, 2 classes)", 2, False)]
        if args.task == "avs"
        else [("stage 2 (AVSS, 71 classes, prior)", 71, True), ("end-to-end AVSS (71 classes)", 71, False)]
    )
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
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the full traceback of an error (default: one line 'stepstones: error: <file>: <reason>')",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p_env = sub.add_parser("env", help="print python/torch/CUDA versions, device and package versions")
    p_env.add_argument("--json", action="store_true", help="machine-readable output")
    p_env.set_defaults(func=_cmd_env)

    p_prof = sub.add_parser("profile", help="print the resolved profile (data/model/train config) as JSON")
    p_prof.add_argument(
        "--profile", default="auto", help="smoke | classroom | paper | auto (env STEPSTONES_PROFILE)"
    )
    p_prof.set_defaults(func=_cmd_profile)

    p_mi = sub.add_parser("model-info", help="print the AAVS model's parameter summary for a profile")
    p_mi.add_argument(
        "--profile", default="auto", help="smoke | classroom | paper | auto (env STEPSTONES_PROFILE)"
    )
    p_mi.add_argument(
        "--task", default="avs", choices=["avs", "avss"], help="avs: stage 1; avss: stage 2 + end-to-end"
    )
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


_MAX_PROBLEMS = 3  # listed problems of a DatasetError on its one line


def _one_line(text: str) -> str:
    return " ".join(text.split())


def error_line(err: BaseException) -> str | None:
    """``<file>: <reason>`` for an error the user can act on without a traceback; None for any other error.

    Known: :class:`~stepstones_lite.data.errors.DatasetError`,
    :class:`~stepstones_lite.train.checkpoint.CheckpointError` (and its ``ConfigMismatchError``), the
    official-checkpoint converter's error, and an ``OSError`` that names its file (disk full, permission
    denied, missing file).
    """
    from .data.errors import DatasetError
    from .model.official import OfficialCheckpointError
    from .train.checkpoint import CheckpointError

    if isinstance(err, DatasetError):
        where = f"{err.path}: " if err.path is not None else ""
        shown = "; ".join(err.problems[:_MAX_PROBLEMS])
        more = len(err.problems) - _MAX_PROBLEMS
        tail = (f": {shown}" if shown else "") + (f"; ... {more} more (--debug: all)" if more > 0 else "")
        return _one_line(f"{where}{err.problem}{tail}")
    if isinstance(err, (CheckpointError, OfficialCheckpointError)):
        return _one_line(str(err))
    if isinstance(err, OSError) and err.filename is not None:
        target = f"{err.filename} -> {err.filename2}" if err.filename2 is not None else f"{err.filename}"
        return _one_line(f"{target}: {err.strerror or err}")
    return None


def run_command(
    func: Callable[[argparse.Namespace], Any],
    args: argparse.Namespace,
    debug: bool = False,
    prog: str = "stepstones",
) -> int:
    """Run a sub-command; a known error (:func:`error_line`) becomes one stderr line and exit status 1,
    unless ``debug`` (then it propagates with its traceback)."""
    try:
        return int(func(args) or 0)
    except Exception as err:  # noqa: BLE001 - filtered by error_line, everything else is raised again
        line = None if debug else error_line(err)
        if line is None:
            raise
        print(f"{prog}: error: {line}", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return run_command(args.func, args, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
