"""Stage-1 levers tried towards the issue's stage-1 target (binary mIoU >= 0.80), one seed, classroom profile.

Run: ``stepstones study levers --stage 1 [--seeds 0] [--threads 1]`` ->
``results/stage1_levers_classroom.json``.

Each lever is a stage-1 variant of ``REGIME``: the coarse regime (both stand-ins on super-classes), the
course's default when the levers were tried; the course's regime is now coarse visual + fine audio (the "fine
audio stand-in" levers below), and ``REGIME`` keeps the committed records reproducible (cached ``Course``
runs, so nothing is retrained twice). Its priors are then fed to that regime's stage-2 model of the same seed
(trained on ground-truth priors, so it never saw any stage 1): the AVSS mIoU shows what the better prior buys.
A lever that changes the stand-ins (``train__pretrain_*``) gets a ``Course`` of its own (other encoders); the
stage-2 model it is scored with stays the study's.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from ..artifacts import read_marker
from ..config import resolve_profile
from ..train import Course
from ..utils import atomic_write_json, project_root
from .provenance import command_line, provenance, with_command
from .reproduce import stage1_metrics
from .variants import Variant, declare

REGIME = {"train__pretrain_audio_label_space": "coarse"}  # the regime the levers vary (see the docstring)
LEVERS: dict[str, Variant] = declare(
    [
        Variant("baseline (the coarse regime's stage 1)", {}),
        Variant("stage-1 steps x2 (3000)", {"train__stage1_steps": 3000}),
        Variant("class matching (DEVIATION)", {"model__class_matching": True}),
        Variant(
            "class matching (DEVIATION) + 3000 steps",
            {"model__class_matching": True, "train__stage1_steps": 3000},
        ),
        Variant("4 clips per step (1500 steps)", {"train__clips_per_step": 4}),
        Variant(
            "fine audio stand-in (AudioSet-like; visual stays coarse)",
            {"train__pretrain_audio_label_space": "fine"},
        ),
        Variant(
            "fine audio stand-in + class matching (DEVIATION)",
            {"train__pretrain_audio_label_space": "fine", "model__class_matching": True},
        ),
        Variant(
            "fine audio stand-in + class matching (DEVIATION) + 3000 steps",
            {
                "train__pretrain_audio_label_space": "fine",
                "model__class_matching": True,
                "train__stage1_steps": 3000,
            },
        ),
        Variant("stand-ins pre-trained 4x longer (1600 steps)", {"train__pretrain_steps": 1600}),
        Variant(
            "stand-ins pre-trained 4x longer + class matching (DEVIATION)",
            {"train__pretrain_steps": 1600, "model__class_matching": True},
        ),
        # not levers for the chosen regime but the test of why same-super-class distractors stay: fine visual
        # labels
        Variant("fine stand-ins (the benchmark's classes)", {"train__pretrain_label_space": "fine"}),
        Variant(
            "fine stand-ins + class matching (DEVIATION)",
            {"train__pretrain_label_space": "fine", "model__class_matching": True},
        ),
        Variant(
            "fine stand-ins pre-trained 4x longer + class matching (DEVIATION)",
            {
                "train__pretrain_label_space": "fine",
                "train__pretrain_steps": 1600,
                "model__class_matching": True,
            },
        ),
    ]
)
DEFAULT = list(LEVERS)[:4]  # the first four are the committed ones; ask for the others with --levers
STANDIN_PREFIX = "train__pretrain"  # overrides that change the stand-in encoders (Course-level)


def lever_stage1(runs: Course, name: str, seed: int) -> tuple[Course, Path]:
    """The ``Course`` a lever runs in (``runs``, or its own where it changes the stand-ins) and its stage-1
    run."""
    overrides = LEVERS[name].overrides
    standins = {**REGIME, **{k: v for k, v in overrides.items() if k.startswith(STANDIN_PREFIX)}}
    own = Course(resolve_profile("classroom", **standins), progress=False) if standins != REGIME else runs
    return own, own.stage1(seed, {k: v for k, v in overrides.items() if k not in standins})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="stepstones study levers --stage 1", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--levers", nargs="+", default=DEFAULT, choices=list(LEVERS))
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    runs = Course(resolve_profile("classroom", **REGIME), progress=False)
    out = project_root() / "results" / "stage1_levers_classroom.json"
    old = json.loads(out.read_text()) if out.is_file() else {"levers": {}}
    levers = old["levers"]
    command = command_line(["stepstones", "study", "levers", "--stage", "1"], argv)
    # the file accumulates invocations (one lever at a time): every command that wrote to it is kept
    commands = with_command(old.get("provenance"), command)

    def save() -> None:  # after every lever: an interrupted run keeps what it measured
        note = "stage-2 model: the study's two_stage model of the same seed, tested with each lever's priors"
        results = {
            "provenance": provenance(command, start, commands=commands, profile="classroom", note=note),
            "levers": levers,
        }
        atomic_write_json(out, results)

    for seed in args.seeds:
        base = runs.stage1(seed)
        s2 = runs.stage2(seed, runs.stage1_priors(base))
        for name in args.levers:
            t = time.perf_counter()
            own, s1 = lever_stage1(runs, name, seed)
            avss = runs.evaluate(s2, prior=own.stage1_priors(s1))
            rec = {
                "seed": seed,
                **stage1_metrics(own.evaluate(s1)),
                "avss_miou": avss["miou_benchmark"],
                "binary_miou_of_stage2": avss["binary_miou"],
                "build_seconds": read_marker(s1).get("wall_seconds"),
            }
            levers.setdefault(name, {"overrides": LEVERS[name].overrides, "per_seed": []})
            levers[name]["per_seed"] = [r for r in levers[name]["per_seed"] if r["seed"] != seed] + [rec]
            print(
                f"seed {seed} | {name}: stage 1 {rec['stage1_miou']:.3f} (FP on never-sounding "
                f"{rec.get('stage1_distractor_fp', float('nan')):.2f}) -> AVSS {rec['avss_miou']:.3f} "
                f"[{time.perf_counter() - t:.0f} s]",
                flush=True,
            )
            save()


if __name__ == "__main__":
    main()
