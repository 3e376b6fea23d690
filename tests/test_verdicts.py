"""Noise-aware verdicts (study/verdicts.py): a difference inside the build-to-build range is a tie."""

from __future__ import annotations

import json

import pytest

from stepstones_lite.study.verdicts import CALL_WORDS, build_noise_range, call, verdict_row


@pytest.mark.parametrize(
    "diffs, expected",
    [
        ([0.05, 0.06, 0.04], "higher"),  # every seed clears +0.03
        ([-0.05, -0.04], "lower"),
        ([-0.000, 0.015, 0.030], "tie"),  # the study's first build: positive on two seeds, mean +0.015 < 0.03
        ([0.04, 0.01], "tie"),  # mean inside the range although one seed clears it
        ([-0.06, 0.15], "spread"),  # seeds disagree and the mean is outside the range
        ([-0.02, -0.05, -0.11], "spread"),  # one sign, mean outside the range, one seed inside it: mixed
    ],
)
def test_call(diffs, expected):
    assert call(diffs, 0.03) == expected


def test_verdict_row_reads_like_the_call():
    row = verdict_row("two_stage", "end_to_end", "avss_miou", [0.0, 0.015, 0.03], 0.03)
    assert (
        row["call"] == "tie" and row["verdict"] == f"two_stage: {CALL_WORDS['tie']}" and row["mean"] == 0.015
    )
    with pytest.raises(ValueError):
        call([], 0.03)


def test_build_noise_range_is_max_minus_min_of_every_listed_build(tmp_path):
    path = tmp_path / "noise.json"
    path.write_text(
        json.dumps(
            {
                "builds": [{"avss_miou": 0.36}, {"avss_miou": 0.34}],
                "committed": [{"avss_miou": 0.333}, {"avss_miou": 0.35}],
            }
        )
    )
    assert build_noise_range(path) == pytest.approx(0.027)
    assert 0.02 < build_noise_range() < 0.05  # the committed builds': a few hundredths
