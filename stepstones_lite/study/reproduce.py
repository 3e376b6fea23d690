"""The reproduction study: the paper's claims as arms × seeds, written to
``results/reproduce_<profile>.json``.

Arms (each over the seeds; names are the JSON contract):

``two_stage``                 stage 1 → stage-1 priors → stage 2 (the paper's Stepping Stones)
``end_to_end``                the same model without priors, trained with stage 2's schedule (paper protocol)
``end_to_end_equal_compute``  the same, trained for stage-1 + stage-2 steps (our stricter protocol)
``oracle_prior``              the stage-2 model tested with ground-truth priors (paper Tab. 4 "Oracle")
``prior_<kind>_<level>``      the stage-2 model tested with degraded priors (prior-quality study, Tab. 2)
``prior_muted_stage1``        ... tested with priors from the stage-1 model fed silence
``stage2_no_fusion`` / ``stage2_no_prior_attention`` / ``stage2_no_robust_keys`` / ``stage2_no_prior_modules``
                              stage-2 ablations (Tab. 4, E3), tested with the stage-1 priors
``queries_aaqg`` / ``queries_repeat_audio`` / ``queries_none``  stage 1 with each query generator (Tab. 3)
``stage1_muted_train``        stage 1 trained and tested with silence; ``stage1_muted_test``: the AAQG stage 1
                              fed silence at test time
``tpavi_end_to_end`` / ``tpavi_two_stage``  the TPAVI-style baseline without / with the stage-1 prior (Tab. 2)
``two_stage_matching_stage1`` a stage 1 with the class-matching DEVIATION (``model/class_matching.py``) in
                              front of the same paper-faithful stage-2 model: the "extra modules in stage 1"
                              arm, never the headline

Every run is an artifact keyed by (profile, seed, variant), so arms share runs (e.g. ``oracle_prior`` reuses
the ``two_stage`` stage-2 model) and an interrupted study resumes. Per-seed records carry ``avss_miou`` /
``avss_fscore`` — the official AVSBench formula averaged over the benchmark's label space
(:func:`~stepstones_lite.data.benchmark_classes`: all 71 classes on AVSBench, background + the 17 sounding
classes on the synthetic set, as the feasibility prototypes report it) — plus ``avss_miou_71`` /
``avss_fscore_71`` (the same per-class scores averaged over all 71 AVSBench classes, which caps a 17-class
benchmark at 18/71), the collapsed binary ``binary_miou`` of AVSS models (how well the semantic model
localises), and ``stage1_miou`` / ``stage1_fscore`` plus diagnostics where a stage 1 ran.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

from ..config import Profile
from ..model.prior import PRIOR_MODULES, ablation_arms
from ..train import pipeline
from ..train.course import Course
from ..utils import atomic_write_json, atomic_write_text, cpu_model
from .provenance import provenance
from .recipe import Recipe

__all__ = [
    "ALL_ARMS",
    "ARM_GROUPS",
    "CORE_ARMS",
    "PAPER_NUMBERS",
    "run_study",
    "summarise",
    "markdown_table",
    "per_seed_diff",
    "write_figures",
    "stage1_metrics",
    "MECHANISM_KEYS",
    "add_delta_loc",
]

CORE_ARMS = ("two_stage", "end_to_end", "end_to_end_equal_compute", "oracle_prior")
PRIOR_LEVELS = (("erode", 2), ("dilate", 2), ("noise", 0.05), ("drop", 0.3))
ABLATIONS = (
    ablation_arms()
)  # stage2_no_fusion / _prior_attention / _robust_keys / _prior_modules (model/prior.py)
QUERY_ARMS = {"queries_repeat_audio": "repeat_audio", "queries_none": "none"}
ALL_ARMS = (
    CORE_ARMS
    + tuple(f"prior_{k}_{lvl}" for k, lvl in PRIOR_LEVELS)
    + ("prior_muted_stage1",)
    + tuple(ABLATIONS)
    + ("queries_aaqg",)
    + tuple(QUERY_ARMS)
    + ("stage1_muted_train", "stage1_muted_test")
    + ("tpavi_end_to_end", "tpavi_two_stage", "two_stage_matching_stage1")
)
# a labelled deviation (model/class_matching.py) in stage 1 only, in front of the same paper-faithful stage 2
MATCHING_STAGE1 = {"model__class_matching": True}
# the localisation mechanism in every AVSS record: split loss, pooled-foreground binary mIoU, and Δloc (see
# metrics/mechanism.py and add_delta_loc)
MECHANISM_KEYS = ("split_loss", "pooled_binary_miou", "delta_loc")
STAGE1_KEYS = (
    "stage1_miou",
    "stage1_fscore",
    "stage1_miou_sounding",
    "stage1_distractor_fp",
    "stage1_silent_empty_rate",
    "stage1_sounding_recall",
)
# figure groups beside the core figure: (arms, metric, title); written when >= 2 of the arms ran
ARM_GROUPS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "ablations": (
        ("two_stage",) + tuple(ABLATIONS),
        "avss_miou",
        "Stage-2 ablations (tested with stage-1 priors)",
    ),
    "queries": (
        ("queries_aaqg",) + tuple(QUERY_ARMS) + ("stage1_muted_train", "stage1_muted_test"),
        "stage1_miou",
        "Stage 1: query generators and muted audio",
    ),
    "generalisation": (
        ("end_to_end", "two_stage", "tpavi_end_to_end", "tpavi_two_stage", "two_stage_matching_stage1"),
        "avss_miou",
        "Stepping stones with other models: TPAVI, a class-matching stage 1",
    ),
}


def _avss(metrics: dict[str, float], prefix: str = "avss") -> dict[str, float]:
    out = {
        f"{prefix}_miou": metrics.get("miou_benchmark", metrics["miou"]),
        f"{prefix}_fscore": metrics.get("fscore_benchmark", metrics["fscore"]),
        f"{prefix}_miou_71": metrics["miou"],
        f"{prefix}_fscore_71": metrics["fscore"],
    }
    if "classes_benchmark" in metrics:
        out["classes_benchmark"] = metrics["classes_benchmark"]
    for key in ("miou_present", "fscore_present", "miou_nb", "binary_miou"):
        if key in metrics:
            out[f"{prefix}_{key}" if not key.startswith("binary") else key] = metrics[key]
    for key in MECHANISM_KEYS[:2]:  # the mechanism (metrics/mechanism.py), kept under its own names
        if key in metrics:
            out[key] = metrics[key]
    return out


def add_delta_loc(records: dict[str, dict[str, Any]], stage1_miou: float) -> None:
    """Δloc = stage-1 binary mIoU − end-to-end collapsed binary mIoU of one seed, written as ``delta_loc``
    into every AVSS record (those with a ``binary_miou``), each against the end-to-end run it is compared
    with: ``end_to_end`` for itself and every stage-2 record; its own run for ``end_to_end_equal_compute``;
    ``tpavi_end_to_end`` for both TPAVI-style arms. The stage-1 term is the arm's own stage 1 where it has one
    (e.g. the class-matching arm), else ``stage1_miou``; an arm whose end-to-end run is missing gets none. The
    paper's Fig. 4 mechanism: the larger Δloc, the more a stage-1 prior can give stage 2."""
    e2e = records.get("end_to_end", {}).get("binary_miou")
    tpavi = records.get("tpavi_end_to_end", {}).get("binary_miou")
    for name, rec in records.items():
        if "binary_miou" not in rec:
            continue  # a stage-1 record
        if name.startswith("tpavi"):
            ref = tpavi
        elif name == "end_to_end_equal_compute":
            ref = rec["binary_miou"]
        else:
            ref = e2e
        if ref is not None:
            rec["delta_loc"] = rec.get("stage1_miou", stage1_miou) - ref


def stage1_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """A stage-1 evaluation as ``stage1_miou`` / ``stage1_fscore`` / ``stage1_<diagnostic>`` (NaN diagnostics
    dropped)."""
    out = {"stage1_miou": metrics["miou"], "stage1_fscore": metrics["fscore"]}
    for key in ("diag_miou_sounding", "diag_silent_empty_rate", "diag_distractor_fp", "diag_sounding_recall"):
        if key in metrics and not (isinstance(metrics[key], float) and math.isnan(metrics[key])):
            out[f"stage1_{key[5:]}"] = metrics[key]
    return out


def _seed_records(runs: Course, seed: int, arms: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Every requested arm's record for one seed."""
    p = runs.profile
    want = set(arms)
    rec: dict[str, dict[str, Any]] = {}
    recipe = Recipe(runs, seed)  # each run built when an arm first reads it
    s1 = recipe.stage1
    s1_test = runs.evaluate(s1)
    s1_metrics = stage1_metrics(s1_test)
    priors = recipe.priors
    needs_s2 = want & (
        {"two_stage", "oracle_prior", "prior_muted_stage1", "two_stage_matching_stage1"}
        | {f"prior_{k}_{lvl}" for k, lvl in PRIOR_LEVELS}
    )
    if needs_s2:
        s2 = recipe.stage2
        if "two_stage" in want:
            rec["two_stage"] = {
                **_avss(runs.evaluate(s2, prior=priors)),
                **s1_metrics,
                "prior_miou": s1_metrics["stage1_miou"],
            }
        if "oracle_prior" in want:
            rec["oracle_prior"] = {**_avss(runs.evaluate(s2, prior="gt")), "prior_miou": 1.0}
        for kind, level in PRIOR_LEVELS:
            name = f"prior_{kind}_{level}"
            if name in want:
                ref = runs.reference_priors(kind, level, seed)
                info = json.loads((ref / "manifest.json").read_text())
                rec[name] = {**_avss(runs.evaluate(s2, prior=ref)), "prior_miou": info["prior_miou"]}
        if "prior_muted_stage1" in want:
            muted_priors = runs.stage1_priors(s1, mute=True)
            muted_eval = runs.evaluate(s1, mute_audio=True)
            rec["prior_muted_stage1"] = {
                **_avss(runs.evaluate(s2, prior=muted_priors)),
                "prior_miou": muted_eval["miou"],
            }
        if "two_stage_matching_stage1" in want:  # a better stage 1 in front of the same stage-2 model
            s1m = runs.stage1(seed, MATCHING_STAGE1)
            s1m_metrics = stage1_metrics(runs.evaluate(s1m))
            rec["two_stage_matching_stage1"] = {
                **_avss(runs.evaluate(s2, prior=runs.stage1_priors(s1m))),
                **s1m_metrics,
                "prior_miou": s1m_metrics["stage1_miou"],
            }
    if "end_to_end" in want:
        rec["end_to_end"] = _avss(runs.evaluate(recipe.end_to_end))
    if "end_to_end_equal_compute" in want:
        steps = p.train.stage1_steps + p.train.stage2_steps
        rec["end_to_end_equal_compute"] = _avss(runs.evaluate(runs.end_to_end(seed, steps)))
    for name, overrides in ABLATIONS.items():
        if name in want:
            rec[name] = _avss(runs.evaluate(runs.stage2(seed, priors, overrides), prior=priors))
    for name, mode in QUERY_ARMS.items():
        if name in want:
            rec[name] = stage1_metrics(runs.evaluate(runs.stage1(seed, {"model__query_mode": mode})))
    if "stage1_muted_train" in want:
        muted = runs.stage1(seed, mute=True)
        rec["stage1_muted_train"] = stage1_metrics(runs.evaluate(muted, mute_audio=True))
    if "stage1_muted_test" in want:
        rec["stage1_muted_test"] = stage1_metrics(runs.evaluate(s1, mute_audio=True))
    if "tpavi_end_to_end" in want:
        rec["tpavi_end_to_end"] = _avss(runs.evaluate(runs.tpavi(seed, None)))
    if "tpavi_two_stage" in want:
        rec["tpavi_two_stage"] = {
            **_avss(runs.evaluate(runs.tpavi(seed, priors), prior=priors)),
            **s1_metrics,
        }
    if "queries_aaqg" in want:
        rec["queries_aaqg"] = s1_metrics
    add_delta_loc(rec, s1_metrics["stage1_miou"])
    return rec


# The paper's numbers (AVSS mIoU / F-score ×100 on AVSBench-semantic unless noted), keyed like our arms so
# notebooks can print them side by side, each with the recipe it comes from (docs/paper_and_code.md §3.7). The
# paper's +11.4 (48.5 vs 37.1) compares two recipes: 37.1 is Tab. 3's one-stage AAVS of the query ablation,
# "with the visual backbone frozen". In the recipe of 48.5, the model in which no module reads the prior
# (Supp. Tab. E3, "origin" attention initialisation, no fusion, no robust keys) scores 41.8: the prior's own
# effect is +6.7 points (+16 %). Our "end_to_end" and "stage2_no_prior_modules" are that model (no prior
# module, stage 2's recipe), so they carry 41.8; Tab. 3's 37.1 is kept as "end_to_end_tab3" for quoting beside
# it. The paper has no arm equal to our "stage2_no_prior_attention" (Tab. 4's 43.4 drops fusion and keys but
# keeps the prior attention).
PAPER_NUMBERS: dict[str, dict[str, float]] = {
    "two_stage": {"avss_miou": 48.5, "avss_fscore": 53.2},
    "end_to_end": {"avss_miou": 41.8, "avss_fscore": 47.2},  # Supp. Tab. E3: no module reads the prior
    "end_to_end_tab3": {
        "avss_miou": 37.1,
        "avss_fscore": 41.7,
    },  # Tab. 3: one-stage AAVS, visual backbone frozen
    "oracle_prior": {"avss_miou": 64.9, "avss_fscore": 67.0},
    "stage2_no_fusion": {"avss_miou": 45.2, "avss_fscore": 49.6},
    "stage2_no_robust_keys": {"avss_miou": 46.4, "avss_fscore": 51.4},
    "stage2_no_prior_modules": {
        "avss_miou": 41.8,
        "avss_fscore": 47.2,
    },  # Supp. Tab. E3 (Tab. 4's 43.4 keeps the
    # prior attention)
    "queries_aaqg": {"stage1_miou": 82.5, "stage1_fscore": 91.3},  # S4, Tab. 3
    "queries_repeat_audio": {"stage1_miou": 80.7, "stage1_fscore": 88.4},  # S4, Tab. 3
    "tpavi_end_to_end": {"avss_miou": 29.8, "avss_fscore": 35.2},  # AVSBench baseline, Tab. 2
    "tpavi_two_stage": {"avss_miou": 31.5, "avss_fscore": 34.9},  # Tab. 2, "high" prior
}

_STAGE2 = "stage2: AAVS + " + " + ".join(
    m.title for m in PRIOR_MODULES
)  # "... + mask fusion + prior attention ..."
_ARM_MODULES = {
    "two_stage": ["stage1: AAVS (AAQG)", _STAGE2],
    "end_to_end": ["AAVS (AAQG), no prior modules"],
    "end_to_end_equal_compute": ["AAVS (AAQG), no prior modules"],
    "oracle_prior": [_STAGE2, "prior: ground truth"],
    "tpavi_end_to_end": ["TPAVI-style baseline"],
    "tpavi_two_stage": ["stage1: AAVS (AAQG)", "TPAVI-style baseline + prior"],
    "two_stage_matching_stage1": [
        "stage1: AAVS (AAQG) + class matching (DEVIATION, model/class_matching.py)",
        f"{_STAGE2} (the two_stage model)",
    ],
}


def summarise(
    per_seed: dict[str, list[dict[str, Any]]], seeds: list[int], profile: Profile
) -> dict[str, Any]:
    """``arms`` section of the results JSON: per-seed records with mean and std of every numeric key."""
    arms: dict[str, Any] = {}
    t = profile.train
    for name, records in per_seed.items():
        keys = sorted(
            {k for r in records for k, v in r.items() if isinstance(v, (int, float)) and k != "seed"}
        )
        values = {
            k: torch.tensor([float(r[k]) for r in records if k in r], dtype=torch.float64) for k in keys
        }
        steps = {"stage1": t.stage1_steps, "stage2": t.stage2_steps}
        if name == "end_to_end":
            steps = {"end_to_end": t.stage2_steps}
        elif name == "end_to_end_equal_compute":
            steps = {"end_to_end": t.stage1_steps + t.stage2_steps}
        arms[name] = {
            "seeds": [int(r["seed"]) for r in records]
            if all("seed" in r for r in records)
            else seeds[: len(records)],
            "modules": _ARM_MODULES.get(name, []),
            "steps": steps,
            "per_seed": records,
            "mean": {k: float(v.mean()) for k, v in values.items()},
            "std": {k: float(v.std(unbiased=True)) if len(v) > 1 else 0.0 for k, v in values.items()},
        }
    return arms


def per_seed_diff(results: dict[str, Any], a: str, b: str, key: str = "avss_miou") -> list[float]:
    """``a - b`` on ``key`` for every seed both arms of a study record hold, in ``a``'s seed order."""
    recs = {
        name: {r["seed"]: r[key] for r in results["arms"][name]["per_seed"] if key in r} for name in (a, b)
    }
    return [recs[a][s] - recs[b][s] for s in recs[a] if s in recs[b]]


def markdown_table(results: dict[str, Any], key: str = "avss_miou") -> str:
    """A markdown table of mean ± std per arm (the ``key`` column plus stage-1 and prior quality if
    present)."""
    lines = [
        "| arm | seeds | " + key + " | avss_fscore | binary_miou | stage1_miou | prior_miou |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, arm in results["arms"].items():

        def cell(k: str) -> str:
            if k not in arm["mean"]:
                return "–"
            return f"{arm['mean'][k]:.3f} ± {arm['std'][k]:.3f}"

        lines.append(
            f"| {name} | {len(arm['per_seed'])} | {cell(key)} | {cell('avss_fscore')} | "
            f"{cell('binary_miou')} | {cell('stage1_miou')} | {cell('prior_miou')} |"
        )
    stage1 = {name: arm for name, arm in results["arms"].items() if "stage1_miou" in arm["mean"]}
    if stage1:  # the stage 1 behind each arm, with the diagnostics that show whether it uses the sound
        lines += [
            "",
            "| arm (its stage 1) | seeds | " + " | ".join(STAGE1_KEYS) + " |",
            "|---|---|" + "---|" * len(STAGE1_KEYS),
        ]
        for name, arm in stage1.items():
            cells = [
                f"{arm['mean'][k]:.3f} ± {arm['std'][k]:.3f}" if k in arm["mean"] else "–"
                for k in STAGE1_KEYS
            ]
            lines.append(f"| {name} | {len(arm['per_seed'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_figures(results: dict[str, Any], stem: str | Path) -> list[Path]:
    """The study's figures beside its JSON: ``<stem>_core.png`` (two-stage vs end-to-end vs oracle, mean ± std
    with single seeds as dots, the paper's values beside), when prior arms ran, ``<stem>_priors.png`` (AVSS
    mIoU of the same stage-2 models against the quality of the prior they were tested with), and one
    ``<stem>_<group>.png`` per :data:`ARM_GROUPS` entry that has at least two arms."""
    import matplotlib.pyplot as plt  # figures are saved and closed, never shown

    from .. import viz

    stem = Path(stem)
    arms = results["arms"]
    written = []
    viz.set_style()
    fig = viz.plot_study(
        results,
        CORE_ARMS,
        paper=PAPER_NUMBERS,
        title=f"Two-stage vs end-to-end ({results['provenance']['profile']}, "
        f"{len(results['provenance']['seeds'])} seeds)",
    )
    written.append(viz.save_figure(fig, f"{stem.name}_core", stem.parent))
    plt.close(fig)
    prior_arms = [a for a in arms if "prior_miou" in arms[a]["mean"] and "avss_miou" in arms[a]["mean"]]
    if len(prior_arms) > 2:
        points = [(arms[a]["mean"]["prior_miou"], arms[a]["mean"]["avss_miou"]) for a in prior_arms]
        ref = arms.get("end_to_end", {}).get("mean", {}).get("avss_miou")
        fig = viz.plot_prior_sweep(
            points,
            reference=ref,
            reference_label="end-to-end (paper protocol)",
            title="Stage-2 AVSS mIoU vs prior quality (means over seeds)",
        )
        equal = arms.get("end_to_end_equal_compute", {}).get("mean", {}).get("avss_miou")
        if equal is not None:
            fig.axes[0].axhline(equal, color="#8172b3", ls=":", label="end-to-end (equal total compute)")
            fig.axes[0].legend(fontsize=8)
        written.append(viz.save_figure(fig, f"{stem.name}_priors", stem.parent))
        plt.close(fig)
    for group, (names, key, title) in ARM_GROUPS.items():
        ran = [a for a in names if a in arms and key in arms[a]["mean"]]
        if len(ran) >= 2:
            fig = viz.plot_study(results, ran, key=key, paper=PAPER_NUMBERS, title=title)
            written.append(viz.save_figure(fig, f"{stem.name}_{group}", stem.parent))
            plt.close(fig)
    return written


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``new`` plus the arms of ``old`` that ``new`` lacks (the caller checked both share one
    configuration)."""
    earlier = [{k: v for k, v in old["provenance"].items() if k not in ("config", "merged")}]
    earlier += old["provenance"].get("merged", [])
    kept = {name: arm for name, arm in old["arms"].items() if name not in new["arms"]}
    return {"provenance": {**new["provenance"], "merged": earlier}, "arms": {**new["arms"], **kept}}


def run_study(
    profile: Profile,
    seeds: Iterable[int],
    *,
    out: str | Path | None = None,
    arms: Iterable[str] = ALL_ARMS,
    data_root: str | Path | None = None,
    progress: bool | None = None,
    command: str | None = None,
    on_seed: Callable[[int, dict[str, Any]], None] | None = None,
    merge: bool = False,
) -> dict[str, Any]:
    """Run (or resume) the study and write ``<out>`` JSON + a markdown table and figures beside it.

    ``merge=True`` keeps the arms of an existing ``<out>`` that this call does not compute (e.g. ablations run
    over fewer seeds than the core arms); their provenance is kept under ``provenance["merged"]``. Merging
    results of another profile configuration is refused.
    """
    seeds = [int(s) for s in seeds]
    arms = tuple(arms)
    unknown = [a for a in arms if a not in ALL_ARMS]
    if unknown:
        raise ValueError(f"unknown arms {unknown}; known: {ALL_ARMS}")
    start = time.perf_counter()
    runs = Course(profile, data_root, progress)
    profile = runs.profile
    old = json.loads(Path(out).read_text()) if merge and out is not None and Path(out).is_file() else None
    if old is not None and old.get("provenance", {}).get("config") != json.loads(profile.to_json()):
        raise ValueError(
            f"{out} was made with another configuration; write to another --out instead of merging"
        )
    per_seed: dict[str, list[dict[str, Any]]] = {}
    for seed in seeds:
        records = _seed_records(runs, seed, arms)
        for name in arms:
            if name in records:
                per_seed.setdefault(name, []).append({"seed": seed, **records[name]})
        if on_seed is not None:
            on_seed(seed, records)
    threads = runs.build_threads()
    if len(set(threads) - {"unknown"}) > 1:  # one configuration built under two counts is two different runs
        print(
            f"[stepstones] warning: the study's runs were built under different CPU thread counts {threads}; "
            "weights depend on it (it is not in the cache key), so compare such arms by mean ± std only"
        )
    results = {
        "provenance": provenance(
            command or " ".join(sys.argv),
            start,
            profile=profile.name,
            device=str(pipeline.resolve_device(profile.train.device, verbose=False)),
            # float results depend on the CPU's kernels: runs are bit-identical on one machine, not across
            # machines (this file's format keeps model and threads together)
            cpu={"model": cpu_model(), "threads": torch.get_num_threads()},
            # ... and on the thread count of the process that built each run (not in the cache key): runs by
            # count
            build_threads=threads,
            # the runs may come from an earlier (interrupted or partial) invocation: their own build times
            compute_seconds={**(cs := runs.compute_seconds()), "total": round(sum(cs.values()), 1)},
            seeds=seeds,
            config=json.loads(profile.to_json()),
        ),
        "arms": summarise(per_seed, seeds, profile),
    }
    if out is not None:
        out = Path(out)
        if old is not None:
            results = _merge(old, results)
        atomic_write_json(out, results)
        atomic_write_text(out.with_suffix(".md"), markdown_table(results))
        write_figures(results, out.with_suffix(""))
    return results
