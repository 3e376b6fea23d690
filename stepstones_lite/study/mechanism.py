"""When do stepping stones pay? The localisation mechanism, measured, and three ways to falsify it.

Run: ``stepstones study mechanism [--tests T1 T2 T3] [--seeds 0] [--threads 2]``
-> ``results/mechanism_<profile>.json`` (+ ``.md``); each call adds or replaces its (test, seed) records.

The paper's Fig. 4 argument is that a one-stage model localises worse because semantic supervision "mashes up"
localisation, and stage 1's mask hands stage 2 the localisation it lacks. Here that is three numbers per run
(:mod:`stepstones_lite.metrics.mechanism`): Δloc (stage-1 binary mIoU − end-to-end collapsed binary mIoU), the
end-to-end model's *split loss* (ground-truth sounding pixels given to background although the summed sounding
classes beat it) and its pooled-foreground binary mIoU (foreground read as Σ_{c≥1} s_c > s_bg). The tests:

``T1``  the coarse-audio regime (neither stand-in knows the classes), where the committed gap is largest: how
        much of its larger Δloc is split loss (``delta_loc`` vs ``delta_loc_pooled``)?
``T2``  the cached stage 2 tested with a recall-tuned stage-1 prior (decision offset chosen on val) and, as a
        diagnostic, with the union of the stage-1 mask and the end-to-end model's pooled foreground;
``T3``  stage 2 and end-to-end both trained 2× and 4× longer on the same stage 1 and priors (the paper trains
        30 epochs; the course about 2).

Every run is a cached :class:`~stepstones_lite.train.Course` artifact; the chosen regime's seed-0 runs are the
baseline of T2 and T3 and are rebuilt on this machine if missing. Verdicts use the build-to-build range of
:mod:`.verdicts` (one seed: a difference inside it is a tie).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from ..artifacts import ensure_artifact
from ..config import resolve_profile
from ..train import Course
from ..utils import atomic_write_json, atomic_write_text, project_root
from .provenance import command_line, provenance
from .recipe import Recipe, split_comparison
from .verdicts import build_noise_range, call

__all__ = ["TESTS", "comparison", "union_priors", "run_test", "markdown", "main"]

COARSE_AUDIO = {"train__pretrain_audio_label_space": "coarse"}
TESTS = {
    "T1": "the coarse-audio regime: how much of its Δloc is split loss?",
    "T2": (
        "the cached stage 2 with a recall-tuned stage-1 prior, and with stage-1 ∪ end-to-end pooled "
        "foreground"
    ),
    "T3": "stage 2 and end-to-end trained 2x and 4x longer on the same stage 1 and priors",
}


def comparison(
    course: Course, seed: int, priors: Path | None = None, steps: int | None = None
) -> dict[str, Any]:
    """Stage 1, two-stage, oracle and end-to-end of one seed on val and test, with the mechanism's numbers
    (:func:`~stepstones_lite.study.recipe.split_comparison`).

    ``priors``: test the stage-2 model with these instead of the stage-1 run's own; ``steps``: stage 2 and
    end-to-end both trained for this many steps (default: the profile's ``stage2_steps``).

    The payoff ladder rides along: the end-to-end model with the same mask applied *after the fact*
    (``end_to_end_gated_stage1``: every pixel outside the stage-1 prior set to background;
    ``end_to_end_gated_gt``: outside the ground-truth foreground), beside stage 2 trained to *read* that mask
    (``two_stage``, ``oracle_prior``). The rung between them is what training with the prior adds.
    """
    recipe = Recipe(course, seed, steps=steps)
    rec: dict[str, Any] = {"seed": seed, "stage2_steps": steps or course.profile.train.stage2_steps}
    for split in ("val", "test"):
        row = split_comparison(recipe, split, priors)
        row["delta_loc_pooled"] = row["stage1_miou"] - row["end_to_end_pooled_binary_miou"]
        for name, gate in (
            ("end_to_end_gated_stage1", priors or recipe.priors),
            ("end_to_end_gated_gt", "gt"),
        ):
            row[name] = recipe.scores(recipe.end_to_end, split, gate=gate)["avss_miou"]
        rec[split] = row
    return rec


def union_priors(course: Course, stage1_priors: Path, e2e: Path) -> Path:
    """A prior folder (val, test): the stage-1 mask OR the end-to-end model's pooled foreground (a diagnostic:
    how much could a prior that also holds what end-to-end localises give?)."""
    from ..metrics import pooled_foreground
    from ..train.engine import collate_clips
    from ..train.pipeline import avss_dataset, load_model
    from ..train.priors import _write_clip
    from ..train.tasks import AVSSTask

    def build(folder: Path) -> None:
        model, profile, _ = load_model(e2e / "best.pt", device="cpu")
        task = AVSSTask(criterion=None, use_prior=False)  # scores only
        counts = {}
        for split in ("val", "test"):
            data = avss_dataset(profile, course.root, split, prior_root=stage1_priors, preload=False)
            for i in range(len(data)):
                item = data[i]
                batch = collate_clips([item])
                with torch.no_grad():
                    fg = pooled_foreground(task.scores(model, batch))  # [T, H, W]
                _write_clip(folder / item["subset"] / item["uid"], fg | (batch["prior"][0] > 0.5))
            counts[split] = len(data)
        atomic_write_json(
            folder / "manifest.json",
            {
                "source": "stage1 | end-to-end pooled foreground",
                "stage1_priors": str(stage1_priors),
                "end_to_end": str(e2e),
                "splits": ["val", "test"],
                "clips": counts,
                "complete": True,
            },
        )

    return ensure_artifact(
        "course/priors_union", build, {"stage1_priors": str(stage1_priors), "end_to_end": str(e2e)}
    )


def run_test(
    name: str, seed: int, profile_name: str = "classroom", factors: tuple[int, ...] = (2, 4)
) -> dict[str, Any]:
    """One test's record for one seed (see the module docstring); ``factors``: T3's longer schedules."""
    chosen = Course(resolve_profile(profile_name), progress=False)
    if name == "T1":
        coarse = Course(resolve_profile(profile_name, **COARSE_AUDIO), progress=False)
        return {"chosen": comparison(chosen, seed), "coarse_audio": comparison(coarse, seed)}
    if name == "T2":
        from .stage1_errors import decision_offset

        s1 = chosen.stage1(seed)
        offset = decision_offset(s1, chosen.root)
        tuned = chosen.stage1_priors(s1, offset=offset["offset_chosen_on_val"])
        union = union_priors(chosen, chosen.stage1_priors(s1), chosen.end_to_end(seed))
        return {
            "offset": offset,
            "baseline": comparison(chosen, seed),
            "recall_tuned": comparison(chosen, seed, tuned),
            "union": comparison(chosen, seed, union),
        }
    if name == "T3":
        base = chosen.profile.train.stage2_steps
        return {f"{k}x": comparison(chosen, seed, steps=k * base if k > 1 else None) for k in (1, *factors)}
    raise ValueError(f"unknown test {name!r}; known: {sorted(TESTS)}")


def _verdict(name: str, rec: dict[str, Any], noise: float) -> str:
    """The test's one-line verdict, computed from its record (one seed: inside ±noise is a tie)."""
    if name == "T1":
        c, k = rec["chosen"]["test"], rec["coarse_audio"]["test"]
        split = k["end_to_end_pooled_binary_miou"] - k["end_to_end_binary_miou"]
        share = split / k["delta_loc"] if k["delta_loc"] > 0 else float("nan")
        return (
            f"coarse audio: gap {k['gap']:+.3f} ({call([k['gap']], noise)}) vs chosen {c['gap']:+.3f}; Δloc "
            f"{k['delta_loc']:+.3f} vs {c['delta_loc']:+.3f}; forgiving split loss moves end-to-end's binary "
            f"mIoU by {split:+.3f} ({share:.0%} of its Δloc); Δloc with pooled foreground "
            f"{k['delta_loc_pooled']:+.3f}"
        )
    if name == "T2":
        b, t, u = (rec[k]["test"] for k in ("baseline", "recall_tuned", "union"))
        off = rec["offset"]["offset_chosen_on_val"]
        return (
            f"recall-tuned prior (offset {off:+.1f} chosen on val): two-stage {t['two_stage']:.3f} vs "
            f"{b['two_stage']:.3f} ({call([t['two_stage'] - b['two_stage']], noise)}); stage-1 ∪ end-to-end "
            f"pooled: {u['two_stage']:.3f} ({call([u['two_stage'] - b['two_stage']], noise)}); oracle "
            f"{b['oracle_prior']:.3f}"
        )
    runs = [k for k in rec if k.endswith("x") and isinstance(rec[k], dict)]
    gaps = {k: rec[k]["test"]["gap"] for k in runs}
    vals = {k: rec[k]["val"]["gap"] for k in runs}
    longest = runs[-1]
    return (
        "longer training, gap test "
        + ", ".join(f"{k} {g:+.3f}" for k, g in gaps.items())
        + "; val "
        + ", ".join(f"{k} {g:+.3f}" for k, g in vals.items())
        + f"; {longest} vs 1x: {call([gaps[longest] - gaps['1x']], noise)} on test, "
        + f"{call([vals[longest] - vals['1x']], noise)} on val"
    )


def markdown(payload: dict[str, Any]) -> str:
    noise = payload["noise_range"]
    lines = [
        f"# When do stepping stones pay? The mechanism tests ({payload['profile']})",
        "",
        "Generated by `stepstones study mechanism`; every number is a run's. Verdicts read one-seed "
        f"differences against the build-to-build range ±{noise:.3f} AVSS mIoU (a difference inside it is a "
        "tie).",
        "",
        "| test | seed | arm | split | stage 1 | two-stage | oracle | end-to-end | gap | Δloc | Δloc pooled "
        "| e2e split loss | e2e pooled binary |",
        "|---|---|---|---|" + "---|" * 9,
    ]
    for name in sorted(payload["tests"]):
        for rec in payload["tests"][name]:
            for arm, comp in rec.items():
                if not isinstance(comp, dict) or "test" not in comp:
                    continue
                for split in ("test", "val"):
                    r = comp[split]
                    lines.append(
                        f"| {name} | {rec['seed']} | {arm} | {split} | {r['stage1_miou']:.3f} | "
                        f"{r['two_stage']:.3f} | {r['oracle_prior']:.3f} | {r['end_to_end']:.3f} | "
                        f"{r['gap']:+.3f} | {r['delta_loc']:+.3f} | {r['delta_loc_pooled']:+.3f} | "
                        f"{r['end_to_end_split_loss']:.3f} | {r['end_to_end_pooled_binary_miou']:.3f} |"
                    )
    ladder = [
        (name, rec["seed"], arm, comp["test"])
        for name in sorted(payload["tests"])
        for rec in payload["tests"][name]
        for arm, comp in rec.items()
        if isinstance(comp, dict) and "end_to_end_gated_gt" in comp.get("test", {})
    ]
    if ladder:  # what a mask gives applied after the fact, against stage 2 trained to read it
        lines += [
            "",
            "The payoff ladder (test): end-to-end; the mask applied after the fact; stage 2 reading it.",
            "",
            "| test | seed | arm | end-to-end | stage-1 mask after the fact | stage 2 reads it | "
            "GT mask after the fact | stage 2 reads it (oracle) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, seed, arm, r in ladder:
            lines.append(
                f"| {name} | {seed} | {arm} | {r['end_to_end']:.3f} | {r['end_to_end_gated_stage1']:.3f} | "
                f"{r['two_stage']:.3f} | {r['end_to_end_gated_gt']:.3f} | {r['oracle_prior']:.3f} |"
            )
    lines += ["", "Verdicts:", ""]
    for name in sorted(payload["tests"]):
        for rec in payload["tests"][name]:
            lines.append(f"- **{name}** (seed {rec['seed']}): {rec['verdict']}")
    return "\n".join(lines) + "\n"


def reread_verdicts(path: str | Path, noise: float | None = None) -> bool:
    """Re-read every committed test's verdict against the current build-to-build range (``noise``; default
    :func:`.verdicts.build_noise_range`) and rewrite the JSON and its ``.md`` beside it. The records are not
    touched: a verdict is a view of a record and the range. True if anything changed."""
    path = Path(path)
    payload = json.loads(path.read_text())
    noise = build_noise_range() if noise is None else noise
    before = json.dumps(payload, sort_keys=True)
    payload["noise_range"] = noise
    for name, recs in payload["tests"].items():
        for rec in recs:
            rec["verdict"] = _verdict(name, rec, noise)
    changed = json.dumps(payload, sort_keys=True) != before
    if changed:
        atomic_write_json(path, payload)
        atomic_write_text(path.with_suffix(".md"), markdown(payload))
    return changed


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="stepstones study mechanism", description=__doc__.splitlines()[0])
    ap.add_argument("--tests", nargs="+", default=list(TESTS), choices=list(TESTS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--profile", default="classroom")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (weights depend on it)")
    ap.add_argument(
        "--factors", type=int, nargs="+", default=[2, 4], help="T3: stage-2 schedules, x stage2_steps"
    )
    ap.add_argument(
        "--out", default=None, help="JSON file (default results/mechanism_<profile>.json; .md beside)"
    )
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = (
        Path(args.out).with_suffix("")
        if args.out
        else project_root() / "results" / f"mechanism_{args.profile}"
    )
    path = out.with_suffix(".json")
    payload = (
        json.loads(path.read_text())
        if path.is_file()
        else {"profile": args.profile, "tests": {}, "provenance": {"commands": []}}
    )
    payload["noise_range"] = build_noise_range()
    command = command_line(["stepstones", "study", "mechanism"], argv, skip=2)
    for name in args.tests:
        for seed in args.seeds:
            start = time.perf_counter()
            rec = {"seed": seed, **run_test(name, seed, args.profile, tuple(args.factors))}
            rec["verdict"] = _verdict(name, rec, payload["noise_range"])
            rec["wall_seconds"] = round(time.perf_counter() - start, 1)
            payload["tests"][name] = [r for r in payload["tests"].get(name, []) if r["seed"] != seed] + [rec]
            payload["provenance"].update({k: v for k, v in provenance(command).items() if k != "command"})
            atomic_write_json(path, payload)
            print(f"{name} seed {seed}: {rec['verdict']} [{rec['wall_seconds']:.0f} s]", flush=True)
    payload["provenance"]["commands"] = [c for c in payload["provenance"]["commands"] if c != command] + [
        command
    ]
    atomic_write_json(path, payload)
    atomic_write_text(out.with_suffix(".md"), markdown(payload))
    print(markdown(payload))
