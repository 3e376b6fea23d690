"""``stepstones reproduce`` and ``stepstones study reproduce|knobs|levers|errors|noise|tables``.

Each study writes its JSON (and a markdown table) into ``results/`` of the checkout; every run it needs is a
cached :class:`~stepstones_lite.train.Course` artifact, so a rerun re-reads what was built and an interrupted
one resumes.

``levers`` and ``errors`` take ``--stage 1`` (stage-1 variants; the default) or ``--stage 2``; every other
flag goes to the study itself (``stepstones study knobs --help``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

__all__ = ["add_study_commands", "STUDIES"]

# name: (what it measures, {stage: "module"}); the module's ``main(argv)`` runs it
STUDIES: dict[str, tuple[str, dict[int, str]]] = {
    "knobs": (
        "benchmark-regime knobs: the key comparison per regime (results/regime_knobs_classroom.json)",
        {0: "knobs"},
    ),
    "levers": (
        "levers towards a better stage 1 (--stage 1) or stage 2's training prior (--stage 2)",
        {1: "stage1_levers", 2: "stage2_levers"},
    ),
    "errors": (
        "error splits: stage 1's misses and false marks (--stage 1), stage 2's object by object (--stage 2)",
        {1: "stage1_errors", 2: "stage2_errors"},
    ),
    "noise": ("build-to-build noise: one configuration rebuilt under 1 and 2 CPU threads", {0: "noise"}),
    "mechanism": (
        "when stepping stones pay: split loss, pooled foreground, Δloc, the tests T1-T3",
        {0: "mechanism"},
    ),
    "tables": (
        "rewrite the side studies' markdown tables and the README blocks from the committed JSON",
        {0: "tables"},
    ),
}


def add_reproduce_arguments(p: argparse.ArgumentParser) -> None:
    from ..train.commands import _common

    _common(p, "results JSON (default results/reproduce_<profile>.json; a .md table is written beside it)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default: the profile's)")
    p.add_argument("--arms", nargs="+", default=["all"], help="'all', 'core', or arm names")
    p.add_argument(
        "--merge",
        action="store_true",
        help="keep the arms of an existing --out file that this run does not compute",
    )
    p.set_defaults(func=_cmd_reproduce)


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from ..train.commands import _profile
    from ..utils import project_root
    from .reproduce import ALL_ARMS, CORE_ARMS, run_study

    profile = _profile(args)
    seeds = args.seeds or list(profile.train.seeds)
    arms = ALL_ARMS if args.arms == ["all"] else (CORE_ARMS if args.arms == ["core"] else tuple(args.arms))
    out = Path(args.out) if args.out else project_root() / "results" / f"reproduce_{profile.name}.json"
    results = run_study(
        profile,
        seeds,
        out=out,
        arms=arms,
        data_root=args.data,
        command="stepstones " + " ".join(sys.argv[1:]),
        merge=args.merge,
    )
    print(out.with_suffix(".md").read_text())
    print(f"wrote {out} ({results['provenance']['wall_seconds']} s)")
    return 0


def _study_main(name: str, stage: int) -> Callable[[list[str]], None]:
    import importlib

    stages = STUDIES[name][1]
    if stage not in stages:
        raise SystemExit(f"stepstones study {name}: --stage must be one of {sorted(stages)}")
    return importlib.import_module(f"{__package__}.{stages[stage]}").main


def _cmd_study(args: argparse.Namespace) -> int:
    if args.study == "reproduce":
        inner_parser = argparse.ArgumentParser(prog="stepstones study reproduce")
        add_reproduce_arguments(inner_parser)
        inner = inner_parser.parse_args(args.rest)
        return int(inner.func(inner) or 0)
    rest = list(args.rest)
    stage = 0
    if set(STUDIES[args.study][1]) != {0}:
        pre = argparse.ArgumentParser(add_help=False)
        pre.add_argument("--stage", type=int, default=1)
        known, rest = pre.parse_known_args(rest)
        stage = known.stage
    _study_main(args.study, stage)(rest)
    return 0


def add_study_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``reproduce`` and ``study`` on the ``stepstones`` parser."""
    p = sub.add_parser(
        "reproduce", help="run the study (arms x seeds) and write results/reproduce_<profile>.json"
    )
    add_reproduce_arguments(p)

    names = ", ".join(f"{name} ({what})" for name, (what, _) in STUDIES.items())
    p = sub.add_parser(
        "study",
        help="the side studies behind results/ (reproduce, knobs, levers, errors, noise, tables)",
        description="Run one study: reproduce (the same as `stepstones reproduce`), " + names,
    )
    p.add_argument("study", choices=["reproduce", *STUDIES], help="which study")
    p.add_argument(
        "rest", nargs=argparse.REMAINDER, help="the study's own flags (see stepstones study NAME --help)"
    )
    p.set_defaults(func=_cmd_study)
