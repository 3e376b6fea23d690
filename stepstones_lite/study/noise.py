"""How much one training run moves when nothing but the CPU thread count changes (the study's seed-0 puzzle).

Run: ``stepstones study noise [--threads 1 2]`` -> ``results/build_noise_classroom.json`` (+ ``.md``).

The committed study's ``stage2_no_prior_modules`` is the ``end_to_end`` model and schedule, so the two must
agree. On seeds 1 and 2 they do bit for bit; on seed 0 they do not. The cache key (:meth:`Profile.key_dict`)
holds every setting but not torch's thread count, and a float sum over 1 thread is not the same sum over 2: a
notebook run (all cores) and the study (1 thread) that build "the same" run get two different runs, and
whichever is cached first is reused. This script builds the course's seed-0 end-to-end run once per thread
count (its own artifact ``noise/end_to_end``, keyed by the count as well) and scores it on test, beside the
builds of that configuration the committed results already hold (both builds of the study among them).

The study itself was built twice (the earlier build kept as ``results/reproduce_classroom_build_xeon.json``):
:func:`study_rebuild` sets the two side by side run by run. Runs with no stage 1 in them move by the build
alone; stage-2 runs also move with the stage 1 they read, which can land in another solution.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from ..artifacts import ensure_artifact, read_marker
from ..config import resolve_profile
from ..train import pipeline
from ..utils import atomic_write_json, atomic_write_text, project_root
from .findings import EARLIER_BUILD, STUDY, STUDY_BUILDS
from .provenance import command_line, provenance
from .reproduce import per_seed_diff

SEED = 0


# Arms whose runs hold no stage 1 (their two builds differ by the build alone) ...
NO_STAGE1_ARMS = ("end_to_end", "end_to_end_equal_compute", "stage2_no_prior_modules", "tpavi_end_to_end")


def committed_builds() -> list[dict]:
    """The seed-0 builds of the course's end-to-end configuration that the committed results hold (both builds
    of the study, where the earlier one is kept)."""
    results = project_root() / "results"
    knobs = json.loads((results / "regime_knobs_classroom.json").read_text())["knobs"]
    seed0 = lambda recs: next(r for r in recs if r["seed"] == SEED)  # noqa: E731
    builds = []
    for name in STUDY_BUILDS:
        if not (results / name).is_file():
            continue
        study = json.loads((results / name).read_text())["arms"]
        builds += [
            {
                "source": f"{name}: end_to_end",
                "avss_miou": seed0(study["end_to_end"]["per_seed"])["avss_miou"],
            },
            {
                "source": f"{name}: stage2_no_prior_modules (the same model and schedule)",
                "avss_miou": seed0(study["stage2_no_prior_modules"]["per_seed"])["avss_miou"],
            },
        ]
    return builds + [
        {
            "source": "regime_knobs_classroom.json: chosen regime, end_to_end",
            "avss_miou": seed0(knobs["chosen regime (coarse visual + fine audio stand-ins)"]["per_seed"])[
                "end_to_end"
            ],
        },
        {
            "source": (
                "regime_knobs_classroom.json: stage 1 2x longer, end_to_end (stage-1 steps do not enter it)"
            ),
            "avss_miou": seed0(knobs["stage 1 trained 2x longer (3000 steps)"]["per_seed"])["end_to_end"],
        },
    ]


def study_rebuild(results: str | Path | None = None) -> dict | None:
    """The whole study built twice: per arm and seed, the current build's number minus the earlier build's
    (AVSS mIoU; stage-1 binary mIoU for the stage-1 arms), grouped by what the run holds. ``None`` when the
    earlier build is not kept."""
    results = Path(results) if results is not None else project_root() / "results"
    if not (results / EARLIER_BUILD).is_file():
        return None
    now = json.loads((results / STUDY).read_text())["arms"]
    before = json.loads((results / EARLIER_BUILD).read_text())["arms"]
    rows = []
    for arm in sorted(set(now) & set(before)):
        key = "avss_miou" if "avss_miou" in now[arm]["mean"] else "stage1_miou"
        group = (
            "stage 1 (stage-1 binary mIoU)"
            if key == "stage1_miou"
            else "end-to-end runs (no stage 1 in them)"
            if arm in NO_STAGE1_ARMS
            else "stage-2 runs (read a stage 1)"
        )
        earlier = {r["seed"]: r[key] for r in before[arm]["per_seed"]}
        for r in now[arm]["per_seed"]:
            if r["seed"] in earlier:
                diff = r[key] - earlier[r["seed"]]
                rows.append({"group": group, "arm": arm, "seed": r["seed"], "metric": key, "diff": diff})
    groups = {}
    for group in sorted({r["group"] for r in rows}):
        sel = sorted((r for r in rows if r["group"] == group), key=lambda r: abs(r["diff"]))
        groups[group] = {
            "runs": len(sel),
            "median_abs": statistics.median(abs(r["diff"]) for r in sel),
            "max_abs": abs(sel[-1]["diff"]),
            "max_at": f"{sel[-1]['arm']} seed {sel[-1]['seed']}",
        }
    gap = {
        name: per_seed_diff({"arms": arms}, "two_stage", "end_to_end")
        for name, arms in (("current", now), ("earlier", before))
    }
    return {"earlier": EARLIER_BUILD, "rows": rows, "groups": groups, "gap_per_seed": gap}


def build(threads: int) -> dict:
    """The course's seed-0 end-to-end run trained under ``threads`` CPU threads, scored on test."""
    profile = pipeline.prepare_profile(resolve_profile("classroom"))
    root = pipeline.ensure_dataset(profile)

    def train(folder):
        pipeline.train_end_to_end(profile, folder, data_root=root, seed=SEED, progress=False)

    before = torch.get_num_threads()
    torch.set_num_threads(threads)  # for the build and for the marker, which records it
    try:
        run = ensure_artifact(
            "noise/end_to_end",
            train,
            {"profile": profile.key_dict(), "data": str(root), "seed": SEED, "threads": threads},
        )
    finally:
        torch.set_num_threads(before)
    metrics = pipeline.evaluate_checkpoint(run / "best.pt", "test", data_root=root)
    marker = read_marker(run)
    return {
        "threads": marker["threads"],
        "avss_miou": metrics["miou_benchmark"],
        "binary_miou": metrics["binary_miou"],
        "build_seconds": marker["wall_seconds"],
    }


def markdown(payload: dict) -> str:
    lines = [
        "# One run, built again (classroom, end-to-end, seed 0)",
        "",
        f"CPU of the new builds: {payload['provenance']['cpu']}. Generated by `stepstones study noise`; "
        'every cell is a run\'s number. "Same to the last digit": the committed AVSS mIoU equals a build '
        "made here exactly (the same weights, in practice).",
        "",
        "| build | threads | AVSS mIoU (test) | binary mIoU | same to the last digit as |",
        "|---|---|---|---|---|",
    ]
    for b in payload["builds"]:
        lines.append(f"| built here | {b['threads']} | {b['avss_miou']:.3f} | {b['binary_miou']:.3f} | – |")
    for b in payload["committed"]:
        same = [
            f"the {h['threads']}-thread build here"
            for h in payload["builds"]
            if h["avss_miou"] == b["avss_miou"]
        ]
        lines.append(f"| {b['source']} | – | {b['avss_miou']:.3f} | – | {', '.join(same) or '–'} |")
    vals = [b["avss_miou"] for b in payload["builds"] + payload["committed"]]
    lines += [
        "",
        f"Spread over the {len(vals)} builds: {min(vals):.3f} to {max(vals):.3f} "
        f"(range {max(vals) - min(vals):.3f}).",
    ]
    rebuild = payload.get("study_rebuild")
    if rebuild:
        lines += [
            "",
            f"## The whole study built twice (`reproduce_classroom.json` minus `{rebuild['earlier']}`)",
            "",
            "Each run of the 3-seed study, built on two machines: the current build's number minus the"
            " earlier build's (AVSS mIoU; stage-1 binary mIoU for stage 1).",
            "",
            "| runs | how many | median abs difference | largest abs difference | where |",
            "|---|---|---|---|---|",
        ]
        for group, g in rebuild["groups"].items():
            lines.append(
                f"| {group} | {g['runs']} | {g['median_abs']:.3f} | {g['max_abs']:.3f} | {g['max_at']} |"
            )
        lines += [
            "",
            "Two-stage minus end-to-end per seed: "
            + "; ".join(
                f"{name} build " + ", ".join(f"{d:+.3f}" for d in gaps)
                for name, gaps in rebuild["gap_per_seed"].items()
            )
            + ".",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="stepstones study noise", description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args(argv)
    start = time.perf_counter()
    payload = {
        "builds": [build(n) for n in args.threads],
        "committed": committed_builds(),
        "study_rebuild": study_rebuild(),
        "provenance": provenance(command_line(["stepstones", "study", "noise"], argv), start),
    }
    out = project_root() / "results" / "build_noise_classroom"
    atomic_write_json(out.with_suffix(".json"), payload)
    atomic_write_text(out.with_suffix(".md"), markdown(payload))
    print(markdown(payload))


if __name__ == "__main__":
    main()
