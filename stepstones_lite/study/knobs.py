"""Benchmark-regime knobs (issue: "the benchmark regime"), classroom profile, seed 0 unless ``--seeds``.

Run: ``stepstones study knobs [--seeds 0 1 2] [--knobs ...]`` -> ``results/regime_knobs_classroom.json``.

Each knob changes one thing against a regime and reruns the key comparison on it: stage 1, stage 2 (stage-1
priors and the oracle prior) and end-to-end under the paper's protocol (stage 2's schedule; with
``--equal-compute`` also at stage-1 + stage-2 steps), on the test split and, as the regime is chosen on val,
on val. Knobs that change the data generate their own synthetic set (and stand-ins trained on it); every run
is a cached ``Course`` artifact.

The course's regime is coarse visual + fine audio stand-ins (the paper's ADE20k Swin-B beside AudioSet
VGGish); the knobs measured before it became the default (4x longer stand-ins, fewer clips, the long tail)
changed one thing against the earlier coarse regime and keep it (``COARSE``) so that a rerun reproduces them.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from ..artifacts import read_marker
from ..data.synthetic.materials import DEFAULT_CLASSES, EXTRA_CLASSES
from ..train import Course
from ..utils import atomic_write_json, project_root
from .provenance import command_line, provenance, with_command
from .recipe import Recipe, split_comparison
from .variants import Variant, declare

# each knob: its JSON key, profile overrides, SynthConfig overrides or None, the AVSBench statistic it mirrors
COARSE = {
    "train__pretrain_audio_label_space": "coarse"
}  # the earlier default: both stand-ins on super-classes
KNOBS: dict[str, Variant] = declare(
    [
        Variant(
            "chosen regime (coarse visual + fine audio stand-ins)",
            {},
            None,
            "ADE20k (150 classes, few of AVSBench's sounding objects) beside AudioSet (527 classes naming "
            "most AVSBench sounds): only the visual side mismatches",
        ),
        Variant(
            "stage 1 trained 2x longer (3000 steps)",
            {"train__stage1_steps": 3000},
            None,
            "the paper trains stage 1 to convergence on its own (the cheap stage, binary labels); priors of "
            "0.77-0.84 mean IoU (Supp. 2)",
        ),
        Variant(
            "stand-ins pre-trained 4x longer (1600 steps), faithful regime",
            {"train__pretrain_steps": 1600},
            None,
            "the paper's frozen encoders are strong (Swin-B segments ADE20k well, VGGish names AudioSet's "
            "sounds)",
        ),
        Variant(
            "stand-ins 4x longer + stage 1 2x longer",
            {"train__pretrain_steps": 1600, "train__stage1_steps": 3000},
            None,
            "both of the above: strong frozen encoders and a converged stage 1",
        ),
        Variant(
            "multi-source clips (v2-like), stand-ins 4x + stage 1 2x",
            {"train__pretrain_steps": 1600, "train__stage1_steps": 3000},
            {
                "num_objects_probs": (0.1, 0.3, 0.3, 0.3),
                "num_sounding_probs": (0.1, 0.3, 0.35, 0.25),
                "same_family_prob": 0.5,
            },
            "AVSBench-semantic is mostly multi-source (v2's ~6k and v1m's 424 of ~11k videos): up to 4 "
            "objects, 0-3 sounding, half the sounding-capable distractors of a sounding object's family "
            "(docs/data_sources.md §3.2b harder)",
        ),
        Variant(
            "fewer clips per class (500 clips), stand-ins 4x + stage 1 2x",
            {"train__pretrain_steps": 1600, "train__stage1_steps": 3000},
            {"num_clips": 500},
            "AVSBench-semantic's tail classes: a few dozen training videos each (~24 train clips per class "
            "here)",
        ),
        Variant(
            "fewest clips per class (300 clips), stand-ins 4x + stage 1 2x",
            {"train__pretrain_steps": 1600, "train__stage1_steps": 3000},
            {"num_clips": 300},
            "AVSBench-semantic's rarest classes: about a dozen training videos each (~14 train clips per "
            "class here)",
        ),
        Variant(
            "more classes (all 21 pip sounding classes, 1240 clips), stand-ins 4x + stage 1 2x",
            {"train__pretrain_steps": 1600, "train__stage1_steps": 3000},
            {"classes": DEFAULT_CLASSES + EXTRA_CLASSES, "num_clips": 1240},
            "AVSBench-semantic names 70 sounding classes, 4x ours: the 4 pip extras (saxophone, accordion, "
            "bell, emergency car) join the 17, clips scaled to keep ~59 per class",
        ),
        Variant(
            "10-frame clips (v2-like, 10 annotated frames)",
            {"data__num_frames": 10},
            {"label": "v2"},
            "AVSBench-semantic's v2 subset (~6k of ~11k videos) is 10 s clips with all 10 frames annotated, "
            "where v1s/v1m have 5 (docs/avsbench.md §1.3): twice the frames per clip for the model to track",
        ),
        Variant(
            "family audio stand-in (sound families; visual coarse)",
            {"train__pretrain_audio_label_space": "family"},
            None,
            "VGGish's generic AudioSet embedding against AVSBench's confusable classes (five person classes, "
            "~25 instruments, ~12 vehicles): the sound names the family (voice, pets, livestock, birds, "
            "strings and keys, winds, percussion), vision must name the member",
        ),
        Variant(
            "family audio stand-in, stand-ins 4x longer (1600 steps)",
            {"train__pretrain_audio_label_space": "family", "train__pretrain_steps": 1600},
            None,
            "the family regime with stronger frozen encoders (in the fine regime 4x longer stand-ins raised "
            "the oracle by about 0.13): can vision name the member when it is better trained, while audio "
            "names only the family?",
        ),
        Variant(
            "family audio stand-in, adapters in every block (r = 1)",
            {
                "train__pretrain_audio_label_space": "family",
                "model__adapter_placement": "block",
                "model__adapter_reduction": 1,
            },
            None,
            "the paper's phase B trains adapters inside every Swin block, so its visual features can learn "
            "fine classes the frozen backbone does not know; ours had one adapter per output stage. With a "
            "full-width adapter after every conv block (about 8x the trainable backbone parameters), can "
            "vision name the member while audio names only the family?",
        ),
        Variant(
            "coarse stand-ins (neither encoder knows the classes)",
            dict(COARSE),
            None,
            "an audio encoder as blind to AVSBench's classes as the visual one (the earlier default)",
        ),
        Variant(
            "fine stand-ins (the benchmark's classes)",
            {"train__pretrain_label_space": "fine"},
            None,
            "encoders pre-trained on exactly the benchmark classes (no mismatch)",
        ),
        Variant(
            "coarse stand-ins pre-trained 4x longer (1600 steps)",
            {**COARSE, "train__pretrain_steps": 1600},
            None,
            "the paper's frozen encoders are strong (Swin-B segments ADE20k well); ours at 400 steps reach "
            "0.64 held-out mIoU, at 1600 0.80",
        ),
        Variant(
            "coarse stand-ins, fewer clips per class (500 clips, ~24 train clips per class)",
            dict(COARSE),
            {"num_clips": 500},
            "AVSBench-semantic's tail classes: a few dozen training videos each",
        ),
        Variant(
            "coarse stand-ins, Zipf long tail (a = 1)",
            dict(COARSE),
            {"class_distribution": "zipf", "zipf_exponent": 1.0},
            "AVSBench-semantic's long-tailed class frequencies (head classes ~10x tail)",
        ),
    ]
)


def _built(run: Path) -> float | None:
    """Wall seconds the cached run took to build (its artifact marker)."""
    return (read_marker(run) or {}).get("wall_seconds")


METRICS = (
    "stage1_miou",
    "stage1_distractor_fp",
    "two_stage",
    "oracle_prior",
    "end_to_end",
    "end_to_end_binary_miou",
    "gap_two_stage_minus_end_to_end",
    "val_two_stage",
    "val_end_to_end",
    "val_gap_two_stage_minus_end_to_end",
    "end_to_end_equal_compute",
    "gap_equal_compute",
)


def _summary(per_seed: list[dict]) -> tuple[dict, dict]:
    """Mean and (unbiased) std over seeds of the numeric metrics; std is 0 for one seed."""
    mean, std = {}, {}
    for m in METRICS:
        vals = torch.tensor([float(r[m]) for r in per_seed if r.get(m) is not None], dtype=torch.float64)
        if len(vals):
            mean[m] = float(vals.mean())
            std[m] = float(vals.std()) if len(vals) > 1 else 0.0
    return mean, std


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="stepstones study knobs", description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--knobs", nargs="+", default=list(KNOBS), choices=list(KNOBS))
    ap.add_argument(
        "--equal-compute",
        action="store_true",
        help="also train end-to-end for stage-1 + stage-2 steps (the stricter protocol)",
    )
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = project_root() / "results" / "regime_knobs_classroom.json"
    previous = json.loads(out.read_text()) if out.is_file() else {"knobs": {}, "provenance": {}}
    knobs = previous["knobs"]
    command = command_line(["stepstones", "study", "knobs"], argv)
    # the file accumulates invocations (one knob or seed at a time): every command that wrote to it is kept
    commands = with_command(previous["provenance"], command)
    start = time.perf_counter()

    def save() -> None:  # after every run: an interrupted invocation keeps what it measured
        for entry in knobs.values():
            entry["seeds"] = [r["seed"] for r in entry["per_seed"]]
            entry["mean"], entry["std"] = _summary(entry["per_seed"])
        atomic_write_json(
            out,
            {
                "provenance": provenance(command, start, commands=commands, profile="classroom"),
                "knobs": knobs,
            },
        )

    for name in args.knobs:
        knob = KNOBS[name]
        # the data knobs are profile overrides too (data__synth__...): the Course finds (or makes) their data
        # set
        runs = Course(knob.profile("classroom"), progress=False)
        entry = knobs.setdefault(name, {"per_seed": []})
        entry.update(
            {"profile_overrides": knob.overrides, "data_overrides": knob.synth, "mirrors": knob.mirrors}
        )
        for seed in args.seeds:
            t = time.perf_counter()
            recipe = Recipe(runs, seed).build()
            # the regime is chosen on val (never on test): the same comparison on the val split
            test, val = split_comparison(recipe, "test"), split_comparison(recipe, "val")
            rec = {
                "seed": seed,
                "stage1_miou": test["stage1_miou"],
                "stage1_distractor_fp": runs.evaluate(recipe.stage1).get("diag_distractor_fp"),
                "two_stage": test["two_stage"],
                "oracle_prior": test["oracle_prior"],
                "end_to_end": test["end_to_end"],
                "end_to_end_binary_miou": test["end_to_end_binary_miou"],
                "gap_two_stage_minus_end_to_end": test["gap"],
                "val_two_stage": val["two_stage"],
                "val_end_to_end": val["end_to_end"],
                "val_gap_two_stage_minus_end_to_end": val["gap"],
                # the mechanism (metrics/mechanism.py): Δloc, and the split loss of both arms
                "delta_loc": test["delta_loc"],
                "end_to_end_split_loss": test["end_to_end_split_loss"],
                "end_to_end_pooled_binary_miou": test["end_to_end_pooled_binary_miou"],
                "two_stage_split_loss": test["two_stage_split_loss"],
                # what the runs took to build (a rerun re-reads cached runs, so its own wall time says
                # nothing)
                "build_seconds": {
                    "stage1": _built(recipe.stage1),
                    "stage2": _built(recipe.stage2),
                    "end_to_end": _built(recipe.end_to_end),
                },
            }
            if args.equal_compute:
                steps = runs.profile.train.stage1_steps + runs.profile.train.stage2_steps
                eq_run = runs.end_to_end(seed, steps)
                eq = runs.evaluate(eq_run)["miou_benchmark"]
                rec.update({"end_to_end_equal_compute": eq, "gap_equal_compute": test["two_stage"] - eq})
                rec["build_seconds"]["end_to_end_equal_compute"] = _built(eq_run)
            else:
                # keep this seed's earlier equal-compute result, with its build time (cached runs make it the
                # same)
                for r in entry["per_seed"]:
                    if r["seed"] == seed and "gap_equal_compute" in r:
                        rec.update({k: r[k] for k in ("end_to_end_equal_compute", "gap_equal_compute")})
                        eq_built = r.get("build_seconds", {}).get("end_to_end_equal_compute")
                        if eq_built is not None:
                            rec["build_seconds"]["end_to_end_equal_compute"] = eq_built
            entry["per_seed"] = sorted(
                [r for r in entry["per_seed"] if r["seed"] != seed] + [rec], key=lambda r: r["seed"]
            )
            print(
                f"{name} | seed {seed}: stage 1 {rec['stage1_miou']:.3f} | two-stage {rec['two_stage']:.3f} "
                f"| oracle {rec['oracle_prior']:.3f} | end-to-end {rec['end_to_end']:.3f} (gap "
                f"{rec['gap_two_stage_minus_end_to_end']:+.3f}; val gap "
                f"{rec['val_gap_two_stage_minus_end_to_end']:+.3f}) [{time.perf_counter() - t:.0f} s]",
                flush=True,
            )
            save()


if __name__ == "__main__":
    main()
