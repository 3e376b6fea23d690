"""Stage 2's use of the prior: what stage 2 trains with (issue: "turn the prior into semantics").

Run: ``stepstones study levers --stage 2 [--regime strong] [--levers gt stage1 mixed] [--seeds 0 1 2]``
-> ``results/stage2_levers_classroom.json`` (+ ``.md``); each call adds its (regime, lever, seed) records.

The paper trains stage 2 with ground-truth priors and tests it with stage-1 priors (§3.2, teacher forcing), and
the robust keys are meant to absorb the difference. ``stage2_errors.py`` shows what the difference costs here:
with stage-1 priors 0.48 of the silent distractors are marked (the prior marks them, stage 2 keeps them) where
the oracle prior leaves none to keep — a stage 2 that has only ever seen clean priors never learns to unmark one.
The levers (``TrainConfig.stage2_train_prior``):

- ``gt`` — the paper (the study's stage 2; cached);
- ``stage1`` — DEVIATION: stage 2 trains with the stage-1 predictions of the train split (stage 1 saw these
  clips, so they could be cleaner than its test priors; the record's ``stage1_train_miou`` says how good they are);
- ``mixed`` — DEVIATION: each training clip gets the stage-1 prediction or the GT, even odds.

Every lever's stage 2 is scored with the stage-1 priors (two-stage) and the oracle prior, on val (where a lever
is chosen) and test, beside end-to-end (paper protocol) of the same seed, plus the object-by-object error split
of its two-stage prediction on test (:mod:`stepstones_lite.study.semantic_errors`). Every run is a cached
``Course`` artifact.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..config import resolve_profile
from ..train import Course, pipeline
from ..utils import atomic_write_json, atomic_write_text, project_root
from .provenance import command_line, provenance
from .stage2_errors import score  # the object-by-object error split

# name: (profile overrides, what it is)
REGIMES = {
    "chosen": ({}, "the course's regime (coarse visual + fine audio stand-ins)"),
    "strong": (
        {"train__pretrain_steps": 1600, "train__stage1_steps": 3000},
        "stand-ins 4x longer + stage 1 2x longer (the strong pair of regime_knobs_classroom.md)",
    ),
}
LEVERS = {
    "gt": "ground-truth priors (the paper, §3.2)",
    "stage1": "stage-1 priors of the train split (DEVIATION)",
    "mixed": "stage-1 or ground-truth prior per clip, even odds (DEVIATION)",
}
ERROR_KEYS = ("named", "wrong_class", "missed", "marked_distractor", "marked_pool", "marked_inactive")


def _avss(metrics: dict) -> dict:
    return {
        "avss_miou": metrics.get("miou_benchmark", metrics["miou"]),
        "binary_miou": metrics["binary_miou"],
        "split_loss": metrics.get("split_loss"),
        "pooled_binary_miou": metrics.get("pooled_binary_miou"),
    }


def errors(checkpoint: Path, dataset, prior: str | None) -> dict:
    """The error split of ``stage2_errors.py`` (its ``score``), the shares this table shows."""
    summary = score(checkpoint, dataset, prior)
    return {k: summary[k] for k in ERROR_KEYS if k in summary}


def record(course: Course, lever: str, seed: int) -> dict:
    """One (lever, seed): two-stage and oracle on val and test, end-to-end beside, the error split on test."""
    s1 = course.stage1(seed)
    priors = course.stage1_priors(s1)
    if lever == "gt":
        s2 = course.stage2(seed, priors)
        train_prior_miou = 1.0
    else:
        train_priors = course.stage1_priors(s1, splits=("train",))
        s2 = course.stage2(
            seed, priors, overrides={"train__stage2_train_prior": lever}, train_priors=train_priors
        )
        train_prior_miou = course.evaluate(s1, "train")["miou"]
    e2e = course.end_to_end(seed)
    rec: dict = {
        "lever": lever,
        "seed": seed,
        "stage1_train_miou": train_prior_miou,
        "build_seconds": course.compute_seconds(),
    }
    for split in ("val", "test"):
        two = _avss(course.evaluate(s2, split, prior=priors))
        oracle = _avss(course.evaluate(s2, split, prior="gt"))
        end = _avss(course.evaluate(e2e, split))
        rec[split] = {
            "stage1_miou": course.evaluate(s1, split)["miou"],
            "two_stage": two["avss_miou"],
            "two_stage_binary_miou": two["binary_miou"],
            "oracle_prior": oracle["avss_miou"],
            "end_to_end": end["avss_miou"],
            "end_to_end_binary_miou": end["binary_miou"],
            "gap": two["avss_miou"] - end["avss_miou"],
            # the mechanism (metrics/mechanism.py)
            "two_stage_split_loss": two["split_loss"],
            "end_to_end_split_loss": end["split_loss"],
            "end_to_end_pooled_binary_miou": end["pooled_binary_miou"],
        }
        rec[split]["delta_loc"] = rec[split]["stage1_miou"] - end["binary_miou"]
    test = pipeline.avss_dataset(
        course.profile, course.root, "test", prior_root=priors, return_instances=True
    )
    rec["test_errors_two_stage"] = errors(s2 / "best.pt", test, "dataset")
    return rec


def markdown(payload: dict) -> str:
    lines = [
        f"# Stage 2's training prior ({payload['profile']})",
        "",
        "Stage 2 trained with the ground-truth prior (the paper) or, as labelled DEVIATIONS, with the stage-1 "
        "predictions of the train split (`stage1`) or either per clip (`mixed`); tested with stage-1 priors "
        "(two-stage) and the oracle prior, beside end-to-end (paper protocol). Error split: shares of sounding "
        "object-frames named / wrong class / missed and of silent object-frames marked, two-stage on test. "
        "Generated by `stepstones study levers --stage 2`; every cell is a run's number.",
        "",
        "| regime | lever | seed | training prior mIoU (train split) | two-stage val | end-to-end val | gap val | two-stage test "
        "| oracle test | end-to-end test | gap test | two-stage binary test | named | wrong class | missed "
        "| marked distractor |",
        "|---|---|---|" + "---|" * 13,
    ]
    for name, recs in payload["regimes"].items():
        for lever in LEVERS:
            mine = sorted((r for r in recs if r["lever"] == lever), key=lambda r: r["seed"])
            rows = [_row(r) for r in mine]
            for rec, row in zip(mine, rows):
                lines.append(
                    f"| {name} | {lever} | {rec['seed']} | " + " | ".join(_fmt(k, v) for k, v in row) + " |"
                )
            if len(rows) > 1:  # the mean over the seeds, cell by cell
                mean = [(k, sum(r[i][1] for r in rows) / len(rows)) for i, (k, _) in enumerate(rows[0])]
                lines.append(f"| {name} | {lever} | mean | " + " | ".join(_fmt(k, v) for k, v in mean) + " |")
    return "\n".join(lines) + "\n"


def _row(rec: dict) -> list[tuple[str, float]]:
    v, t, e = rec["val"], rec["test"], rec["test_errors_two_stage"]
    return [
        ("prior", rec["stage1_train_miou"]),
        ("val", v["two_stage"]),
        ("val", v["end_to_end"]),
        ("gap", v["gap"]),
        ("test", t["two_stage"]),
        ("test", t["oracle_prior"]),
        ("test", t["end_to_end"]),
        ("gap", t["gap"]),
        ("test", t["two_stage_binary_miou"]),
    ] + [("share", e.get(k, float("nan"))) for k in ERROR_KEYS[:4]]


def _fmt(kind: str, value: float) -> str:
    return f"{value:+.3f}" if kind == "gap" else f"{value:.3f}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="stepstones study levers --stage 2", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--profile", default="classroom")
    ap.add_argument("--regime", default="strong", choices=sorted(REGIMES))
    ap.add_argument("--levers", nargs="+", default=list(LEVERS), choices=list(LEVERS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = ap.parse_args(argv)
    start = time.time()
    command = command_line(["stepstones", "study", "levers", "--stage", "2"], argv)
    course = Course(resolve_profile(args.profile, **REGIMES[args.regime][0]))
    out = project_root() / "results" / f"stage2_levers_{args.profile}"
    path = out.with_suffix(".json")
    payload = (
        json.loads(path.read_text())
        if path.is_file()
        else {"profile": args.profile, "regimes": {}, "provenance": {"commands": []}}
    )
    for seed in args.seeds:
        for lever in args.levers:
            rec = record(course, lever, seed)
            recs = [
                r for r in payload["regimes"].get(args.regime, []) if (r["lever"], r["seed"]) != (lever, seed)
            ]
            payload["regimes"][args.regime] = recs + [rec]
            payload["provenance"].update(provenance(command))
            atomic_write_json(path, payload)
    payload["provenance"]["commands"].append(
        {"command": command, "wall_seconds": round(time.time() - start, 1)}
    )
    atomic_write_json(path, payload)
    atomic_write_text(out.with_suffix(".md"), markdown(payload))
    print(markdown(payload))


if __name__ == "__main__":
    main()
