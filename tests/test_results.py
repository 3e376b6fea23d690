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
    assert len(builds) == 4
    assert builds[0]["avss_miou"] == study["end_to_end"]["per_seed"][0]["avss_miou"]
    assert builds[1]["avss_miou"] == study["stage2_no_prior_modules"]["per_seed"][0]["avss_miou"]
    text = noise.markdown(
        {
            "builds": [{"threads": 1, "avss_miou": 0.5, "binary_miou": 0.25}],
            "committed": builds,
            "provenance": {"cpu": "test"},
        }
    )
    assert "| built here | 1 | 0.500 | 0.250 | – |" in text and "Spread over the 5 builds" in text
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
