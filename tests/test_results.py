"""The committed results are what the scripts write: README's study table and the side-study tables."""

from __future__ import annotations

import json

import pytest

from stepstones_lite.utils import project_root

ROOT = project_root()


@pytest.fixture
def tables():
    from stepstones_lite.study import tables

    return tables


def test_readme_study_table_is_the_committed_json(tables):
    study = json.loads((ROOT / "results" / "reproduce_classroom.json").read_text())
    readme = (ROOT / "README.md").read_text()
    assert tables.readme_block(study) in readme, "README's study table is stale: run stepstones study tables"
    # the block quotes the JSON: change one number and it no longer matches
    study["arms"]["two_stage"]["mean"]["avss_miou"] += 0.01
    assert tables.readme_block(study) not in readme


def test_results_notes_regime_table_is_its_json(tables):
    data = json.loads((ROOT / "results" / "regime_knobs_classroom.json").read_text())
    assert tables.knobs_block(data) in (ROOT / "results" / "notes.md").read_text(), (
        "run stepstones study tables"
    )


def test_results_readme_is_short_and_links_what_it_summarises():
    """results/README.md is for a reader who did not run the study: at most 120 lines, and every results file
    it names exists."""
    import re

    text = (ROOT / "results" / "README.md").read_text()
    assert len(text.splitlines()) <= 120
    named = set(re.findall(r"`([\w.]+\.(?:json|md|png))`", text))
    assert named and all((ROOT / "results" / n).is_file() for n in named if "<" not in n), named


def test_side_study_tables_are_their_json(tables):
    for stem, make in (
        ("regime_knobs", tables.regime_table),
        ("stage1_levers", tables.levers_table),
        ("stage1_errors", tables.errors_table),
    ):
        data = json.loads((ROOT / "results" / f"{stem}_classroom.json").read_text())
        assert make(data) in (ROOT / "results" / f"{stem}_classroom.md").read_text(), stem


def test_notebook_prose_types_in_no_study_numbers():
    """Study numbers in the notebooks come from the committed JSON at run time, never typed into markdown.

    A two- or three-decimal number in a markdown (comment) line is allowed only where it is arithmetic the
    cell explains (VGGish's 0.96-s examples, the hand-worked metric exercises)."""
    import re

    allowed = {"0.96", "0.183", "0.171", "0.05", "0.2"}  # frame hop; 01 Q3 and 04 Q4 worked answers
    found = []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        for no, line in enumerate(path.read_text().splitlines(), 1):
            if not line.startswith("#"):
                continue
            for number in re.findall(r"(?<![\w.])0\.\d{2,3}(?![\d])", line):
                if number not in allowed:
                    found.append(f"{path.name}:{no}: {number}")
    assert not found, "typed-in numbers (read them from results/ instead):\n" + "\n".join(found)


def test_per_seed_diff_pairs_seeds_and_skips_missing_keys():
    from stepstones_lite.study import per_seed_diff

    study = {
        "arms": {
            "a": {"per_seed": [{"seed": 0, "m": 0.5}, {"seed": 1, "m": 0.25}, {"seed": 2}]},
            "b": {"per_seed": [{"seed": 1, "m": 0.5}, {"seed": 0, "m": 0.25}, {"seed": 2, "m": 0.1}]},
        }
    }
    assert per_seed_diff(study, "a", "b", "m") == [0.25, -0.25]


def _committed_numbers() -> set[str]:
    """Every number the committed results hold, as prose would quote it (3 and 2 decimals, sign dropped)."""
    import re

    known: set[str] = set()

    def walk(obj) -> None:
        if isinstance(obj, dict):
            for v in obj.values():
                walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)
        elif isinstance(obj, float):
            known.update({f"{abs(obj):.3f}", f"{abs(obj):.2f}"})

    for path in (ROOT / "results").glob("*.json"):
        walk(json.loads(path.read_text()))
    for path in (ROOT / "results").glob("*_classroom.md"):  # the tables.py tables (mean ± std cells)
        known.update(re.findall(r"\d\.\d{2,3}", path.read_text()))
    return known


def _unquoted(text: str, known: set[str]) -> list[str]:
    import re

    return [
        f"{no}: {n}"
        for no, line in enumerate(text.splitlines(), 1)
        if not line.startswith(("|", "<!--"))  # tables are written by tables.py and checked above
        for n in re.findall(r"(?<![\w.])0\.\d{3}(?![\d])", line)
        if n not in known
    ]


def test_readme_prose_quotes_only_committed_numbers():
    """A three-decimal number in README.md's or results/'s prose is one the committed results hold."""
    known = _committed_numbers()
    for name in ("README.md", "results/README.md", "results/notes.md"):
        bad = _unquoted((ROOT / name).read_text(), known)
        assert not bad, f"{name}: numbers no committed result holds (quote results/ or drop them): {bad}"
    assert _unquoted("two-stage 0.4817 is not 0.123", known) == ["1: 0.123"]  # the check can fail


def test_build_noise_quotes_the_committed_builds_of_one_configuration():
    """stepstones study noise: the seed-0 end-to-end builds it lists are the committed records, the two of the
    study that must agree among them (stage2_no_prior_modules is end_to_end's model and schedule)."""
    from stepstones_lite.study import noise

    builds = noise.committed_builds()
    study = json.loads((ROOT / "results" / "reproduce_classroom.json").read_text())["arms"]
    earlier = json.loads((ROOT / "results" / noise.EARLIER_BUILD).read_text())["arms"]
    assert len(builds) == 6  # both builds of the study, two each, and the two knob runs
    assert builds[0]["avss_miou"] == study["end_to_end"]["per_seed"][0]["avss_miou"]
    assert builds[1]["avss_miou"] == study["stage2_no_prior_modules"]["per_seed"][0]["avss_miou"]
    assert builds[2]["avss_miou"] == earlier["end_to_end"]["per_seed"][0]["avss_miou"]
    assert builds[3]["avss_miou"] == earlier["stage2_no_prior_modules"]["per_seed"][0]["avss_miou"]
    committed = json.loads((ROOT / "results" / "build_noise_classroom.json").read_text())
    assert committed["committed"] == builds, "build_noise_classroom.json is stale: run stepstones study noise"
    assert committed["study_rebuild"] == json.loads(json.dumps(noise.study_rebuild()))
    text = noise.markdown(
        {
            "builds": [{"threads": 1, "avss_miou": 0.5, "binary_miou": 0.25}],
            "committed": builds,
            "provenance": {"cpu": "test"},
        }
    )
    assert "| built here | 1 | 0.500 | 0.250 | – |" in text and "Spread over the 7 builds" in text
    same = noise.markdown(
        {
            "builds": [{"threads": 2, "avss_miou": builds[0]["avss_miou"], "binary_miou": 0.5}],
            "committed": builds,
            "provenance": {"cpu": "test"},
        }
    )
    assert (
        f"| {builds[0]['source']} | – | {builds[0]['avss_miou']:.3f} | – | the 2-thread build here |" in same
    )


def test_study_rebuild_groups_each_run_by_what_it_holds(tmp_path):
    """The whole study built twice: per arm and seed current minus earlier, grouped (end-to-end runs, stage 1,
    stage-2 runs), with median and largest absolute difference; worked by hand."""
    from stepstones_lite.study import noise

    def rec(values, key="avss_miou"):
        return {"mean": {key: 0.0}, "per_seed": [{"seed": i, key: v} for i, v in enumerate(values)]}

    def study(e2e, two, s1):
        return {
            "arms": {"end_to_end": rec(e2e), "two_stage": rec(two), "queries_aaqg": rec(s1, "stage1_miou")}
        }

    assert noise.study_rebuild(tmp_path) is None  # no earlier build kept
    (tmp_path / "reproduce_classroom.json").write_text(
        json.dumps(study([0.30, 0.40], [0.35, 0.30], [0.6, 0.7]))
    )
    (tmp_path / noise.EARLIER_BUILD).write_text(json.dumps(study([0.31, 0.38], [0.35, 0.40], [0.6, 0.6])))
    out = noise.study_rebuild(tmp_path)
    g = out["groups"]
    assert g["end-to-end runs (no stage 1 in them)"]["runs"] == 2
    assert g["end-to-end runs (no stage 1 in them)"]["median_abs"] == pytest.approx(0.015)  # |-0.01|, |+0.02|
    assert g["end-to-end runs (no stage 1 in them)"]["max_at"] == "end_to_end seed 1"
    assert g["stage-2 runs (read a stage 1)"]["max_abs"] == pytest.approx(0.10)  # 0.30 - 0.40 on seed 1
    assert g["stage 1 (stage-1 binary mIoU)"]["max_abs"] == pytest.approx(0.10)
    assert out["gap_per_seed"]["current"] == pytest.approx([0.05, -0.10])
    assert out["gap_per_seed"]["earlier"] == pytest.approx([0.04, 0.02])


def test_mechanism_verdicts_read_the_current_build_range(tmp_path):
    """The committed T1-T3 verdicts are their records read against the committed build-to-build range; a
    narrower range re-reads them (and rewrites the .md), the records untouched."""
    from stepstones_lite.study import mechanism
    from stepstones_lite.study.verdicts import build_noise_range

    src = ROOT / "results" / "mechanism_classroom.json"
    committed = json.loads(src.read_text())
    assert committed["noise_range"] == build_noise_range(), "stale verdicts: run stepstones study tables"
    for name, recs in committed["tests"].items():
        for rec in recs:
            assert rec["verdict"] == mechanism._verdict(name, rec, committed["noise_range"])
    copy = tmp_path / "mechanism_classroom.json"
    copy.write_text(src.read_text())
    assert not mechanism.reread_verdicts(copy, committed["noise_range"])
    assert mechanism.reread_verdicts(copy, 0.0)  # no range: every nonzero difference is a win or a loss
    t2 = json.loads(copy.read_text())["tests"]["T2"][0]
    assert "(tie)" not in t2["verdict"] and t2["recall_tuned"] == committed["tests"]["T2"][0]["recall_tuned"]
    assert "±0.000" in copy.with_suffix(".md").read_text()


def test_the_gap_map_is_the_committed_runs():
    """results/mechanism_map.json holds exactly what map_points/map_summary compute from the committed
    JSON."""
    from stepstones_lite.study.findings import MAP_FILE, map_points, map_summary

    committed = json.loads((ROOT / "results" / MAP_FILE).read_text())
    points = map_points()
    assert committed["points"] == points, "results/mechanism_map.json is stale: run stepstones study tables"
    assert committed["summary"] == json.loads(json.dumps(map_summary(points)))
    study = json.loads((ROOT / "results" / "reproduce_classroom.json").read_text())["arms"]
    first = next(
        p for p in points if p["source"].startswith("reproduce") and p["seed"] == 0 and not p["tpavi"]
    )
    two0 = study["two_stage"]["per_seed"][0]
    assert first["delta_loc"] == two0["stage1_miou"] - study["end_to_end"]["per_seed"][0]["binary_miou"]
    assert any(p["tpavi"] for p in points) and committed["summary"]["aavs"]["n"] == sum(
        not p["tpavi"] for p in points
    )


def test_what_we_found_quotes_the_committed_numbers():
    from stepstones_lite.study.findings import what_we_found
    from stepstones_lite.study.verdicts import CALL_WORDS

    found = what_we_found()
    study = json.loads((ROOT / "results" / "reproduce_classroom.json").read_text())["arms"]
    assert f"{study['oracle_prior']['mean']['avss_miou']:.3f}" in found[2]
    assert any(words in found[1] for words in CALL_WORDS.values())
    assert "41.8" in found[0] and "37.1" in found[0]  # the paper anchor in two rows


def test_what_we_found_names_a_stage1_that_ignores_its_audio(tmp_path):
    """Hand-built study: seed 1's stage 1 scores the same with muted test audio (it ignores the sound), seeds
    0 and 2 fall; only seed 1 is named, with its Δloc and gap; the TPAVI sentence counts the seeds the prior
    helps and calls them against the range."""
    from stepstones_lite.study.findings import what_we_found

    def arm(*recs):
        return {"mean": {"avss_miou": 0.0}, "per_seed": [{"seed": i, **r} for i, r in enumerate(recs)]}

    def avss(*values, **other):
        return arm(*({"avss_miou": v, **{k: o[i] for k, o in other.items()}} for i, v in enumerate(values)))

    study = {
        "arms": {
            "two_stage": avss(0.40, 0.30, 0.42, stage1_miou=(0.70, 0.60, 0.71)),
            "end_to_end": avss(0.38, 0.35, 0.40, binary_miou=(0.65, 0.64, 0.66)),
            "end_to_end_equal_compute": avss(0.45, 0.42, 0.44),
            "oracle_prior": avss(0.6, 0.6, 0.6),
            "stage1_muted_test": arm({"stage1_miou": 0.27}, {"stage1_miou": 0.605}, {"stage1_miou": 0.27}),
            "tpavi_two_stage": avss(0.10, 0.05, 0.09, stage1_miou=(0.70, 0.60, 0.71)),
            "tpavi_end_to_end": avss(0.06, 0.07, 0.05, binary_miou=(0.3, 0.3, 0.3)),
        }
    }
    (tmp_path / "reproduce_classroom.json").write_text(json.dumps(study))
    (tmp_path / "build_noise_classroom.json").write_text(
        json.dumps({"builds": [{"avss_miou": 0.30}], "committed": [{"avss_miou": 0.33}]})
    )
    found = what_we_found(tmp_path)
    assert "Seed 1's stage 1 scores 0.605 with its test audio muted" in found[1]
    assert "(Δloc -0.040) and its two-stage gap is -0.050" in found[1]
    assert "Seed 0's" not in found[1] and "Seed 2's" not in found[1]
    assert "gains from the prior on 2 of 3 seeds (+0.040, -0.020, +0.040: a tie" in found[3]


def test_every_avss_record_of_the_study_holds_the_mechanism():
    """Issue #26's target: every AVSS arm record of the committed study (end-to-end and every stage-2 arm)
    holds split loss, pooled-foreground binary mIoU and Δloc; the stage-1 arms are binary models (no class
    scores), so they hold stage-1 metrics instead."""
    arms = json.loads((ROOT / "results" / "reproduce_classroom.json").read_text())["arms"]
    mechanism = ("split_loss", "pooled_binary_miou", "delta_loc")
    avss = [name for name, arm in arms.items() if "avss_miou" in arm["mean"]]
    assert len(avss) == 16 and "end_to_end" in avss and "tpavi_two_stage" in avss
    for name in avss:
        for rec in arms[name]["per_seed"]:
            assert all(isinstance(rec.get(k), float) for k in mechanism), (name, rec["seed"])
    for name in set(arms) - set(avss):
        assert all("stage1_miou" in rec for rec in arms[name]["per_seed"]), name
