"""The course's runs as cached artifacts: what notebooks and ``stepstones reproduce`` share.

``Course(profile)`` gives every pipeline step as a method that returns a run folder, building it only if no
run with the same key exists (:func:`~stepstones_lite.artifacts.ensure_artifact`). The key is the whole
profile, the dataset, the seed and the variant, so

- a notebook run alone rebuilds what it needs from earlier stages (seconds in ``smoke``), never relying on
  another kernel's state;
- notebooks 02–06 and the study reuse each other's runs (notebook 06's live comparison costs nothing when
  02–04 ran before it);
- changing any setting makes a new run instead of silently reusing a stale one.

>>> course = Course(resolve_profile("smoke"))  # doctest: +SKIP
>>> s1 = course.stage1(seed=0)                 # doctest: +SKIP  (artifacts/course/stage1/<key>/best.pt)
>>> priors = course.stage1_priors(s1)          # doctest: +SKIP
>>> s2 = course.stage2(seed=0, priors=priors)  # doctest: +SKIP
>>> course.evaluate(s2, prior=priors)["miou"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from ..artifacts import ensure_artifact, file_lock, lock_path, portable, read_marker
from ..config import Profile
from ..utils import atomic_write_json
from . import pipeline
from .priors import make_priors, write_reference_priors

__all__ = ["Course"]

# 3: split_loss, pooled_binary_miou (metrics/mechanism.py); bump when evaluation adds or changes keys: cached
# evaluations are then recomputed
_METRICS_VERSION = 3

OnEval = Callable[[dict[str, Any]], None] | None


class Course:
    """Cached pipeline runs for one profile and dataset.

    Args:
        profile: the resolved profile (the stand-in encoders are attached automatically).
        data_root: dataset root (default: ``$STEPSTONES_DATA`` or the profile's synthetic set).
        progress: show progress bars (default: on, except under CI/nbval).
    """

    def __init__(
        self, profile: Profile, data_root: str | Path | None = None, progress: bool | None = None
    ) -> None:
        self.root = pipeline.ensure_dataset(profile, data_root)
        self.profile = pipeline.prepare_profile(profile, self.root)
        self.progress = progress
        self.base_key = {"profile": self.profile.key_dict(), "data": str(self.root)}
        self.used: list[Path] = []  # every artifact this Course handed out (for the study's compute account)

    def _ensure(self, name: str, build: Callable[[Path], None], key: dict[str, Any]) -> Path:
        path = ensure_artifact(name, build, key)
        if path not in self.used:
            self.used.append(path)
        return path

    def compute_seconds(self) -> dict[str, float]:
        """Wall seconds each artifact handed out so far took to build (whenever it was built), by kind."""
        totals: dict[str, float] = {}
        weights = self.profile.model.backbone_weights
        folders = list(self.used) + ([Path(weights).parent] if weights else [])
        for folder in folders:
            info = read_marker(folder)
            if info is not None:
                kind = str(info.get("name", Path(folder).parent.name))
                totals[kind] = round(totals.get(kind, 0.0) + float(info.get("wall_seconds", 0.0)), 1)
        return totals

    def build_threads(self) -> dict[str, int]:
        """How many artifacts handed out so far were built with each CPU thread count (``"unknown"``: built
        before markers recorded it). Trained weights depend on the thread count, which is not in the cache
        key, so one configuration built under two counts (a notebook on 2 threads, a study on 1) gives two
        results."""
        counts: dict[str, int] = {}
        for folder in self.used:
            info = read_marker(folder)
            if info is not None:
                threads = str(info.get("threads", "unknown"))
                counts[threads] = counts.get(threads, 0) + 1
        return counts

    def _key(self, name: str, seed: int, **extra: Any) -> dict[str, Any]:
        return {**self.base_key, "run": name, "seed": seed, **extra}

    def _variant(self, overrides: dict[str, Any] | None) -> Profile:
        return self.profile.replace(**overrides) if overrides else self.profile

    def _train(
        self,
        run: str,
        train: Callable[..., Any],
        seed: int,
        key: dict[str, Any],
        overrides: dict[str, Any] | None = None,
        **options: Any,
    ) -> Path:
        """A training run's cached folder ``course/<run>``: ``train`` (a :mod:`.pipeline` function) on this
        course's data with its progress setting, ``seed``, the profile varied by ``overrides`` and
        ``options``; the cache key is :meth:`_key` of ``run`` and ``seed`` plus ``key``."""

        def build(folder: Path) -> None:
            train(
                self._variant(overrides),
                folder,
                data_root=self.root,
                seed=seed,
                progress=self.progress,
                **options,
            )

        return self._ensure(f"course/{run}", build, self._key(run, seed, **key))

    # ----------------------------------------------------------------- training runs
    def stage1(
        self,
        seed: int = 0,
        overrides: dict[str, Any] | None = None,
        mute: bool = False,
        on_eval: OnEval = None,
    ) -> Path:
        """Stage 1 (AVS) run folder (``best.pt``, ``last.pt``, ``history.jsonl``)."""
        overrides = overrides or {}
        key = {"overrides": overrides, "mute": mute}
        return self._train(
            "stage1", pipeline.train_stage1, seed, key, overrides, mute_audio=mute, on_eval=on_eval
        )

    def stage2(
        self,
        seed: int = 0,
        priors: Path | None = None,
        overrides: dict[str, Any] | None = None,
        on_eval: OnEval = None,
        train_priors: Path | None = None,
    ) -> Path:
        """Stage 2 (AVSS with priors) run folder; validated with ``priors`` (stage-1 priors) or GT if None.

        ``train_priors``: the stage-1 priors of the train split (:meth:`stage1_priors` with
        ``splits=("train",)``), needed by the ``train.stage2_train_prior`` DEVIATIONS ``"stage1"`` /
        ``"mixed"``.
        """
        overrides = overrides or {}
        extra = {"train_priors": str(train_priors)} if train_priors is not None else {}
        key = {"overrides": overrides, "priors": str(priors), **extra}
        return self._train(
            "stage2",
            pipeline.train_stage2,
            seed,
            key,
            overrides,
            prior_root=priors,
            on_eval=on_eval,
            train_prior_root=train_priors,
        )

    def end_to_end(self, seed: int = 0, steps: int | None = None, on_eval: OnEval = None) -> Path:
        """End-to-end AVSS run folder (default steps: stage 2's, the paper's protocol)."""
        steps = steps or self.profile.train.stage2_steps
        key = {"steps": steps}
        return self._train("end_to_end", pipeline.train_end_to_end, seed, key, steps=steps, on_eval=on_eval)

    def tpavi(self, seed: int = 0, priors: Path | None = None, on_eval: OnEval = None) -> Path:
        """TPAVI-style baseline run folder, end to end (``priors=None``) or with stage-1 priors."""
        key = {"priors": str(priors)}
        return self._train("tpavi", pipeline.train_tpavi, seed, key, prior_root=priors, on_eval=on_eval)

    # ----------------------------------------------------------------- priors
    def stage1_priors(
        self, stage1: Path, mute: bool = False, splits: tuple[str, ...] = ("val", "test"), offset: float = 0.0
    ) -> Path:
        """Prior folder with the predictions of the stage-1 run ``stage1`` on ``splits`` (default val and
        test); ``offset``: the decision threshold on ``s_sounding - s_background`` (negative: a recall-tuned
        prior)."""
        splits = tuple(splits)

        def build(folder: Path) -> None:
            make_priors(
                stage1 / "best.pt",
                folder,
                data_root=self.root,
                splits=splits,
                mute_audio=mute,
                progress=self.progress,
                offset=offset,
            )

        extra: dict[str, Any] = {"splits": list(splits)} if splits != ("val", "test") else {}
        if offset:
            extra["offset"] = float(offset)
        return self._ensure("course/priors", build, {"stage1": str(stage1), "mute": mute, **extra})

    def reference_priors(self, kind: str | None = None, level: float = 0.0, seed: int = 0) -> Path:
        """Ground-truth priors on val and test (``kind=None``), or degraded ones (erode/dilate/noise/drop)."""

        def build(folder: Path) -> None:
            write_reference_priors(
                self.profile,
                folder,
                data_root=self.root,
                splits=("val", "test"),
                degrade=kind,
                level=level,
                seed=seed,
                progress=self.progress,
            )

        return self._ensure(
            "course/reference_priors", build, {**self.base_key, "kind": kind, "level": level, "seed": seed}
        )

    # ----------------------------------------------------------------- evaluation (cached as JSON)
    def evaluate(self, run: Path, split: str = "test", **kwargs: Any) -> dict[str, float]:
        """Metrics of ``run/best.pt`` on ``split`` (kwargs: ``prior=<folder>|"gt"``, ``mute_audio=True``);
        cached."""
        tag = json.dumps(
            {
                "split": split,
                "metrics": _METRICS_VERSION,
                **{k: portable(str(v)) for k, v in sorted(kwargs.items())},
            },
            sort_keys=True,
        )
        cache = Path(run) / "evaluations.json"
        known = json.loads(cache.read_text()) if cache.is_file() else {}
        if tag in known:
            return known[tag]
        with file_lock(
            lock_path(cache), f"an evaluation of {run}"
        ):  # two processes: neither loses the other's entry
            known = json.loads(cache.read_text()) if cache.is_file() else {}
            if tag not in known:
                known[tag] = pipeline.evaluate_checkpoint(
                    Path(run) / "best.pt", split, data_root=self.root, **kwargs
                )
                atomic_write_json(cache, known)
        return known[tag]

    @staticmethod
    def history(run: Path) -> list[dict[str, Any]]:
        """The evaluation records of a run (``history.jsonl``), for plotting."""
        path = Path(run) / "history.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
