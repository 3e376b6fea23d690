"""The study's recipe, written once: stage 1 → priors → stage 2 → end-to-end, and the scores read from them.

Every study (``reproduce``, ``knobs``, ``levers``, ``errors``, ``mechanism``) compares the paper's two-stage
recipe (§3.1 stage 1 trains binary AVS; its masks are the priors; §3.2 stage 2 trains AVSS reading them) with
end-to-end AVSS of the same seed. :class:`Recipe` holds those runs for one seed; each is a cached
:class:`~stepstones_lite.train.Course` artifact, built (or found) the first time it is read, so a study that
needs only stage 1 never trains stage 2. :func:`avss_scores` and :func:`split_comparison` are the numbers
every study record carries about them.

A new variant of the recipe (another stage-2 training prior, a longer schedule) is an argument here, not a
fifth copy of the recipe in a study module.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from ..train import Course

__all__ = ["Recipe", "avss_scores", "split_comparison"]


class Recipe:
    """The two-stage and end-to-end runs of one seed, built through ``course`` when first read.

    Args:
        course: the profile's cached runs (a regime is a ``Course`` of an overridden profile).
        seed: the training seed of every run.
        steps: stage 2 *and* end-to-end trained for this many steps (default: the profile's ``stage2_steps``,
            the paper's protocol: end-to-end gets stage 2's schedule).
        stage2_train_prior: what stage 2 trains with: ``"gt"`` (the paper, §3.2) or a DEVIATION of
            ``TrainConfig.stage2_train_prior`` (``"stage1"``, ``"mixed"``) that reads the stage-1 priors of
            the train split.
    """

    def __init__(
        self, course: Course, seed: int, steps: int | None = None, stage2_train_prior: str = "gt"
    ) -> None:
        self.course, self.seed, self.steps, self.stage2_train_prior = course, seed, steps, stage2_train_prior

    @cached_property
    def stage1(self) -> Path:
        """Stage 1 (AVS) run folder."""
        return self.course.stage1(self.seed)

    @cached_property
    def priors(self) -> Path:
        """Stage 1's masks on val and test: the priors stage 2 is tested with."""
        return self.course.stage1_priors(self.stage1)

    @cached_property
    def train_priors(self) -> Path | None:
        """Stage 1's masks on the train split, for a stage 2 that trains with them (``None`` for ``"gt"``)."""
        if self.stage2_train_prior == "gt":
            return None
        return self.course.stage1_priors(self.stage1, splits=("train",))

    @cached_property
    def stage2(self) -> Path:
        """Stage 2 (AVSS reading the prior) run folder, validated with :attr:`priors`."""
        overrides: dict[str, Any] = {}
        if self.steps:
            overrides["train__stage2_steps"] = self.steps
        if self.stage2_train_prior != "gt":
            overrides["train__stage2_train_prior"] = self.stage2_train_prior
        return self.course.stage2(
            self.seed, self.priors, overrides=overrides or None, train_priors=self.train_priors
        )

    @cached_property
    def end_to_end(self) -> Path:
        """End-to-end AVSS run folder (no prior), trained for stage 2's steps."""
        return self.course.end_to_end(self.seed, self.steps)

    def build(self) -> "Recipe":
        """Build (or find) every run of the recipe now, in its order: stage 1, priors, stage 2, end-to-end."""
        _ = self.stage2, self.end_to_end
        return self

    def stage1_miou(self, split: str = "test") -> float:
        """Stage 1's binary mIoU on ``split`` (Δloc's first term)."""
        return self.course.evaluate(self.stage1, split)["miou"]

    def scores(self, run: Path, split: str = "test", **kwargs: Any) -> dict[str, float | None]:
        """:func:`avss_scores` of ``run`` on ``split`` (kwargs: ``prior=``, ``gate=`` of
        ``Course.evaluate``)."""
        return avss_scores(self.course.evaluate(run, split, **kwargs))


def avss_scores(metrics: dict[str, Any]) -> dict[str, float | None]:
    """The AVSS numbers a study record carries about one evaluation: the benchmark mIoU, the collapsed binary
    mIoU, and the mechanism (:mod:`stepstones_lite.metrics.mechanism`: split loss, pooled-foreground binary
    mIoU; ``None`` in an evaluation made before they existed)."""
    return {
        "avss_miou": metrics.get("miou_benchmark", metrics["miou"]),
        "binary_miou": metrics["binary_miou"],
        "split_loss": metrics.get("split_loss"),
        "pooled_binary_miou": metrics.get("pooled_binary_miou"),
    }


def split_comparison(recipe: Recipe, split: str, priors: Path | None = None) -> dict[str, float | None]:
    """Stage 1, two-stage, oracle and end-to-end of one seed on ``split``, with the mechanism's numbers.

    ``priors``: test the stage-2 model with these instead of the recipe's own stage-1 priors. ``gap`` is
    two-stage − end-to-end (AVSS mIoU); ``delta_loc`` = stage-1 binary mIoU − end-to-end collapsed binary mIoU
    (the paper's Fig. 4 mechanism).
    """
    stage1 = recipe.stage1_miou(split)
    two = recipe.scores(recipe.stage2, split, prior=priors or recipe.priors)
    oracle = recipe.scores(recipe.stage2, split, prior="gt")
    end = recipe.scores(recipe.end_to_end, split)
    return {
        "stage1_miou": stage1,
        "two_stage": two["avss_miou"],
        "two_stage_binary_miou": two["binary_miou"],
        "two_stage_split_loss": two["split_loss"],
        "oracle_prior": oracle["avss_miou"],
        "end_to_end": end["avss_miou"],
        "end_to_end_binary_miou": end["binary_miou"],
        "end_to_end_split_loss": end["split_loss"],
        "end_to_end_pooled_binary_miou": end["pooled_binary_miou"],
        "gap": two["avss_miou"] - end["avss_miou"],
        "delta_loc": stage1 - end["binary_miou"],
    }
