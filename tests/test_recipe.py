"""study/recipe.py: the one recipe (stage 1 → priors → stage 2 → end-to-end) on a fake Course that records
calls.

The fake hands out run names instead of training, so these tests check what the studies ask the cache for
(the same keys as before the recipe was written once: a changed call would rebuild hours of cached runs) and
the comparison's arithmetic against hand-set evaluations.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stepstones_lite.study.recipe import Recipe, avss_scores, split_comparison


class FakeCourse:
    """Records every build call; ``evaluate`` reads hand-set metrics by (run, split, prior/gate)."""

    class profile:  # noqa: N801 - stands in for Course.profile
        class train:  # noqa: N801
            stage2_steps = 10

    def __init__(self, metrics: dict[tuple, dict] | None = None) -> None:
        self.calls: list[tuple] = []
        self.metrics = metrics or {}

    def stage1(self, seed):
        self.calls.append(("stage1", seed))
        return Path(f"s1-{seed}")

    def stage1_priors(self, stage1, splits=("val", "test")):
        self.calls.append(("priors", str(stage1), tuple(splits)))
        return Path(f"priors-{stage1}-{'-'.join(splits)}")

    def stage2(self, seed, priors, overrides=None, train_priors=None):
        self.calls.append(
            ("stage2", seed, str(priors), overrides, None if train_priors is None else str(train_priors))
        )
        return Path(f"s2-{seed}")

    def end_to_end(self, seed, steps=None):
        self.calls.append(("end_to_end", seed, steps))
        return Path(f"e2e-{seed}")

    def evaluate(self, run, split="test", **kwargs):
        return self.metrics[(str(run), split, str(kwargs.get("prior", kwargs.get("gate"))))]


def test_recipe_builds_lazily_in_order_with_the_paper_keys():
    course = FakeCourse()
    recipe = Recipe(course, 3)
    assert course.calls == []  # nothing is built before it is read
    assert recipe.stage1 == Path("s1-3") and course.calls == [("stage1", 3)]
    recipe.build()
    assert course.calls == [
        ("stage1", 3),
        ("priors", "s1-3", ("val", "test")),
        ("stage2", 3, "priors-s1-3-val-test", None, None),  # the paper: GT training priors, no overrides
        ("end_to_end", 3, None),  # stage 2's steps (Course's default)
    ]
    recipe.build()
    assert len(course.calls) == 4  # each run is read from the recipe once


@pytest.mark.parametrize(
    "steps, lever, overrides, train_priors",
    [
        (20, "gt", {"train__stage2_steps": 20}, None),
        (None, "mixed", {"train__stage2_train_prior": "mixed"}, "priors-s1-0-train"),
        (
            20,
            "stage1",
            {"train__stage2_steps": 20, "train__stage2_train_prior": "stage1"},
            "priors-s1-0-train",
        ),
    ],
)
def test_recipe_variants_reach_stage2_as_overrides(steps, lever, overrides, train_priors):
    course = FakeCourse()
    Recipe(course, 0, steps=steps, stage2_train_prior=lever).build()
    stage2 = [c for c in course.calls if c[0] == "stage2"]
    assert stage2 == [("stage2", 0, "priors-s1-0-val-test", overrides, train_priors)]
    assert ("end_to_end", 0, steps) in course.calls
    assert (("priors", "s1-0", ("train",)) in course.calls) == (lever != "gt")


def _avss(miou: float, binary: float, split_loss: float = 0.1, pooled: float = 0.5) -> dict:
    return {
        "miou": miou - 0.01,
        "miou_benchmark": miou,
        "binary_miou": binary,
        "split_loss": split_loss,
        "pooled_binary_miou": pooled,
    }


def test_split_comparison_by_hand():
    metrics = {
        ("s1-0", "val", "None"): {"miou": 0.70},
        ("s2-0", "val", "priors-s1-0-val-test"): _avss(0.40, 0.66, split_loss=0.02),
        ("s2-0", "val", "gt"): _avss(0.55, 0.90),
        ("s2-0", "val", "other"): _avss(0.30, 0.50),
        ("e2e-0", "val", "None"): _avss(0.35, 0.64, split_loss=0.16, pooled=0.68),
    }
    recipe = Recipe(FakeCourse(metrics), 0)
    row = split_comparison(recipe, "val")
    assert row["two_stage"] == 0.40 and row["oracle_prior"] == 0.55 and row["end_to_end"] == 0.35
    assert row["gap"] == pytest.approx(0.05)  # 0.40 - 0.35
    assert row["delta_loc"] == pytest.approx(0.06)  # stage-1 0.70 - end-to-end binary 0.64
    assert row["two_stage_split_loss"] == 0.02 and row["end_to_end_split_loss"] == 0.16
    assert row["end_to_end_pooled_binary_miou"] == 0.68
    assert split_comparison(recipe, "val", priors=Path("other"))["gap"] == pytest.approx(-0.05)


def test_avss_scores_prefers_the_benchmark_miou_and_tolerates_old_evaluations():
    assert avss_scores(_avss(0.4, 0.6))["avss_miou"] == 0.4
    old = avss_scores({"miou": 0.3, "binary_miou": 0.5})  # before the mechanism keys existed
    assert old == {"avss_miou": 0.3, "binary_miou": 0.5, "split_loss": None, "pooled_binary_miou": None}


def test_every_avss_record_gets_its_delta_loc_by_hand():
    """reproduce.add_delta_loc: each AVSS arm against the end-to-end run it is compared with."""
    from stepstones_lite.study.reproduce import add_delta_loc

    rec = {
        "two_stage": {"binary_miou": 0.66},
        "two_stage_matching_stage1": {"binary_miou": 0.67, "stage1_miou": 0.75},
        "end_to_end": {"binary_miou": 0.64},
        "end_to_end_equal_compute": {"binary_miou": 0.69},
        "tpavi_end_to_end": {"binary_miou": 0.30},
        "tpavi_two_stage": {"binary_miou": 0.60, "stage1_miou": 0.70},
        "queries_none": {"stage1_miou": 0.5},  # a stage-1 record: no Δloc
    }
    add_delta_loc(rec, 0.70)
    got = {k: round(v["delta_loc"], 6) for k, v in rec.items() if "delta_loc" in v}
    assert got == {
        "two_stage": 0.06,  # 0.70 - 0.64
        "two_stage_matching_stage1": 0.11,  # its own stage 1: 0.75 - 0.64
        "end_to_end": 0.06,
        "end_to_end_equal_compute": 0.01,  # its own localisation: 0.70 - 0.69
        "tpavi_end_to_end": 0.40,  # 0.70 - 0.30
        "tpavi_two_stage": 0.40,
    }
    partial = {"two_stage": {"binary_miou": 0.66}}  # no end-to-end run among the arms: nothing to compare
    add_delta_loc(partial, 0.70)
    assert "delta_loc" not in partial["two_stage"]
