"""The Stepping Stones pipeline as functions: data → stage 1 → mask priors → stage 2 (and the baselines).

Each function takes a resolved :class:`~stepstones_lite.config.Profile` and an output folder, and returns
what the next step needs. The notebooks and the ``stepstones`` CLI call exactly these.

- :func:`ensure_dataset` — ``$STEPSTONES_DATA`` / ``profile.data.root`` if set, else the synthetic set of the
  profile, generated once into the artifacts folder.
- :func:`train_stage1` — AAVS on binary "sounding" masks (paper §3.1).
- :func:`~stepstones_lite.train.priors.make_priors` (in ``priors.py``) — the stage-1 predictions as prior
  PNGs.
- :func:`train_stage2` — a *fresh* AAVS with the three prior modules, trained with ground-truth priors and
  validated with stage-1 priors (paper §3.2).
- :func:`train_end_to_end` — the same model without priors on the AVSS labels (the paper's one-stage arm).
- :func:`evaluate_checkpoint` — any of the above on a split, with stage-1, oracle (GT) or degraded priors,
  or with the audio muted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import torch

from ..config import Profile
from ..data import benchmark_classes
from ..utils import resolve_device, seed_everything  # noqa: F401  (resolve_device: re-exported)
from .datasets import avss_dataset, ensure_dataset  # re-exported: the pipeline's data step
from .engine import FitResult, Trainer, collate_clips
from .models import (
    END_TO_END,
    KINDS,
    NUM_AVSS_CLASSES,
    STAGE1,
    STAGE2,
    TPAVI,  # re-exported: trained models
    TPAVI_PRIOR,
    build_criterion,
    load_model,
    new_model,
)
from .tasks import AVSSTask, AVSTask, TPAVITask

__all__ = [
    "ensure_dataset",
    "avss_dataset",
    "build_criterion",
    "prepare_profile",
    "train_stage1",
    "train_stage2",
    "train_end_to_end",
    "train_tpavi",
    "load_model",
    "convert_official",
    "evaluate_checkpoint",
    "STAGE1",
    "STAGE2",
    "END_TO_END",
]


def prepare_profile(profile: Profile, data_root: str | Path | None = None) -> Profile:
    """The profile ready to train: small profiles get their cached pre-trained stand-in encoders.

    A ``lite_cnn`` backbone without ``backbone_weights`` and with ``train.pretrain_steps > 0`` is pointed at
    the stand-ins of :func:`~stepstones_lite.train.pretrain.ensure_encoders` (built once per dataset and label
    space). Profiles with explicit weights files (the ``paper`` profile) are returned unchanged.
    """
    m = profile.model
    if m.backbone == "lite_cnn" and m.backbone_weights is None and profile.train.pretrain_steps > 0:
        from .pretrain import ensure_encoders, with_encoders

        return with_encoders(profile, ensure_encoders(profile, data_root))
    return profile


def _matching_heads(profile: Profile, data_root: str | Path | None) -> tuple[Profile, tuple[dict, dict]]:
    """For ``model.class_matching`` (a labelled deviation): the stand-ins' class heads and their class counts.

    The heads live beside the stand-in weights (``pretrain.HEAD_FILES``); the profile's
    ``matching_vis_classes`` / ``matching_aud_classes`` are set from the heads' shapes.
    """
    from .pretrain import ensure_heads, load_heads

    weights = profile.model.backbone_weights
    if weights is None:
        raise ValueError(
            "model.class_matching needs pre-trained stand-ins (backbone_weights) for its class heads"
        )
    folder = Path(weights).parent
    if profile.train.pretrain_steps > 0 and profile.model.backbone == "lite_cnn":
        ensure_heads(
            profile.replace(model__backbone_weights=None, model__audio_weights=None), folder, data_root
        )
    vis, aud = load_heads(folder)
    profile = profile.replace(
        model__matching_vis_classes=int(vis["out.2.weight"].shape[0]),
        model__matching_aud_classes=int(aud["weight"].shape[0]),
    )
    return profile, (vis, aud)


def convert_official(
    checkpoint: str | Path, stage: str, out_dir: str | Path, profile: Profile | None = None
) -> Path:
    """Convert a released Stepping Stones checkpoint into ours: ``<out_dir>/model.pt`` (+ ``model.json``
    header) and ``<out_dir>/config.json`` (the profile), both written atomically.

    ``stage`` ``"avs"`` gives an ``aavs-stage1`` checkpoint, ``"avss"`` an ``aavs-stage2`` one, so
    :func:`load_model` / ``stepstones evaluate`` / ``make-priors`` take them like trained ones. The mapping:
    :func:`stepstones_lite.model.official.load_official_checkpoint`. Returns the checkpoint path.
    """
    from ..model.official import OFFICIAL_STAGES, load_official_checkpoint
    from ..utils import atomic_write_json
    from .checkpoint import save_checkpoint

    if stage not in OFFICIAL_STAGES:
        raise ValueError(f"stage must be one of {OFFICIAL_STAGES}, got {stage!r}")
    model, prof = load_official_checkpoint(checkpoint, stage, profile)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = model.conversion_report
    extra = {
        "converted_from": str(checkpoint),
        "official_stage": stage,
        "mapped_keys": report["mapped"],
        "official_keys": report["official_keys"],
        "ignored_keys": sorted(report["ignored"]),
    }
    path = save_checkpoint(
        out / "model.pt",
        kind=STAGE1 if stage == "avs" else STAGE2,
        profile=prof,
        model=model,
        extra=extra,
        with_rng=False,
    )
    atomic_write_json(out / "config.json", json.loads(prof.to_json()))
    return path


def _run(
    profile: Profile,
    kind: str,
    task: Any,
    out_dir: str | Path,
    steps: int,
    data_root: Path,
    seed: int | None,
    resume: bool,
    device: str | None,
    prior_root: str | Path | None = None,
    progress: bool | None = None,
    on_eval: Callable[[dict[str, Any]], None] | None = None,
    description: str = "",
    train_prior_root: str | Path | None = None,
) -> FitResult:
    if seed is not None:
        profile = profile.replace(train__seed=int(seed))
    profile = prepare_profile(profile, data_root)
    heads = None
    if profile.model.class_matching and kind not in (TPAVI, TPAVI_PRIOR):
        profile, heads = _matching_heads(profile, data_root)
    seed_everything(profile.train.seed)
    model = new_model(profile, kind)
    if heads is not None:  # the deviation's frozen class heads come from the stand-ins' pre-training
        model.matching.load_heads(*heads)
    train_set = avss_dataset(profile, data_root, "train", prior_root=train_prior_root)
    val_set = avss_dataset(profile, data_root, "val", prior_root=prior_root)
    trainer = Trainer(
        model,
        task,
        train_set,
        val_set,
        profile,
        out_dir,
        steps=steps,
        device=device,
        progress=progress,
        on_eval=on_eval,
        description=description or kind,
    )
    try:
        return trainer.fit(resume=resume)
    finally:
        trainer.close()


def _train_avss(
    profile: Profile,
    kind: str,
    out_dir: str | Path,
    root: Path,
    steps: int | None,
    run: dict[str, Any],
    description: str,
    prior_root: str | Path | None = None,
    train_prior_root: str | Path | None = None,
    **task_options: Any,
) -> FitResult:
    """Stage 2 or end-to-end AVSS: an :class:`AVSSTask` on the 71 classes, trained by :func:`_run`.

    ``steps`` defaults to ``train.stage2_steps`` (the paper trains both arms as long); ``run`` holds the
    caller's ``seed``, ``resume``, ``device``, ``progress`` and ``on_eval``; ``task_options`` the task's prior
    settings.
    """
    task = AVSSTask(
        build_criterion(profile, NUM_AVSS_CLASSES),
        kind=kind,
        class_set=benchmark_classes(root),
        **task_options,
    )
    return _run(
        profile,
        kind,
        task,
        out_dir,
        steps or profile.train.stage2_steps,
        root,
        **run,
        prior_root=prior_root,
        description=description,
        train_prior_root=train_prior_root,
    )


# --------------------------------------------------------------------------- the stages
def train_stage1(
    profile: Profile,
    out_dir: str | Path,
    *,
    data_root: str | Path | None = None,
    seed: int | None = None,
    steps: int | None = None,
    mute_audio: bool = False,
    resume: bool = False,
    device: str | None = None,
    progress: bool | None = None,
    on_eval: Callable[[dict[str, Any]], None] | None = None,
) -> FitResult:
    """Stage 1 (AVS): AAVS with 2 classes {background, sounding} on binary masks; best on val mIoU."""
    root = ensure_dataset(profile, data_root)
    task = AVSTask(build_criterion(profile, 2), mute_audio=mute_audio, eval_mute_audio=mute_audio)
    return _run(
        profile,
        STAGE1,
        task,
        out_dir,
        steps or profile.train.stage1_steps,
        root,
        seed,
        resume,
        device,
        progress=progress,
        on_eval=on_eval,
        description="stage 1 (AVS)",
    )


def train_stage2(
    profile: Profile,
    out_dir: str | Path,
    *,
    prior_root: str | Path | None,
    data_root: str | Path | None = None,
    seed: int | None = None,
    steps: int | None = None,
    resume: bool = False,
    device: str | None = None,
    progress: bool | None = None,
    on_eval: Callable[[dict[str, Any]], None] | None = None,
    train_prior_root: str | Path | None = None,
) -> FitResult:
    """Stage 2 (AVSS): a fresh AAVS with priors; GT priors in training, ``prior_root`` priors for validation.

    ``prior_root=None`` validates with oracle (GT) priors. With ``train.stage2_train_prior`` ``"stage1"`` or
    ``"mixed"`` (DEVIATIONS) the training priors come from ``train_prior_root`` (stage-1 priors of the train
    split).
    """
    root = ensure_dataset(profile, data_root)
    train_prior = profile.train.stage2_train_prior
    if (train_prior != "gt") != (train_prior_root is not None):
        raise ValueError(
            f"train.stage2_train_prior={train_prior!r} goes with "
            f"{'a' if train_prior != 'gt' else 'no'} train_prior_root (got {train_prior_root!r})"
        )
    run = dict(seed=seed, resume=resume, device=device, progress=progress, on_eval=on_eval)
    return _train_avss(
        profile,
        STAGE2,
        out_dir,
        root,
        steps,
        run,
        "stage 2 (AVSS)",
        prior_root=prior_root,
        train_prior_root=train_prior_root,
        use_prior=True,
        eval_prior="dataset" if prior_root is not None else "gt",
        train_prior=train_prior,
    )


def train_end_to_end(
    profile: Profile,
    out_dir: str | Path,
    *,
    data_root: str | Path | None = None,
    seed: int | None = None,
    steps: int | None = None,
    resume: bool = False,
    device: str | None = None,
    progress: bool | None = None,
    on_eval: Callable[[dict[str, Any]], None] | None = None,
) -> FitResult:
    """End-to-end AVSS: the same model without prior modules, trained directly on the semantic labels."""
    root = ensure_dataset(profile, data_root)
    run = dict(seed=seed, resume=resume, device=device, progress=progress, on_eval=on_eval)
    return _train_avss(profile, END_TO_END, out_dir, root, steps, run, "end-to-end AVSS", use_prior=False)


def train_tpavi(
    profile: Profile,
    out_dir: str | Path,
    *,
    prior_root: str | Path | None = None,
    data_root: str | Path | None = None,
    seed: int | None = None,
    steps: int | None = None,
    resume: bool = False,
    device: str | None = None,
    progress: bool | None = None,
    on_eval: Callable[[dict[str, Any]], None] | None = None,
) -> FitResult:
    """The TPAVI-style baseline: end to end (``prior_root=None``) or with a stage-1 prior (paper Tab. 2).

    With a prior it trains on ground-truth masks and validates with the ``prior_root`` priors, like stage 2.
    """
    root = ensure_dataset(profile, data_root)
    kind = TPAVI if prior_root is None else TPAVI_PRIOR
    task = TPAVITask(
        use_prior=prior_root is not None, eval_prior="dataset", kind=kind, class_set=benchmark_classes(root)
    )
    return _run(
        profile,
        kind,
        task,
        out_dir,
        steps or profile.train.stage2_steps,
        root,
        seed,
        resume,
        device,
        prior_root=prior_root,
        progress=progress,
        on_eval=on_eval,
        description=f"{kind} baseline",
    )


# --------------------------------------------------------------------------- evaluation
def evaluate_checkpoint(
    checkpoint: str | Path,
    split: str = "test",
    *,
    data_root: str | Path | None = None,
    prior: str | Path | None = None,
    mute_audio: bool = False,
    device: str | None = None,
    return_instances: bool = True,
    stage1: str | Path | None = None,
    gate: str | Path | None = None,
) -> dict[str, float]:
    """Score a checkpoint on ``split``.

    Args:
        prior: stage-2 models only — a prior folder (stage-1 or degraded priors) or ``"gt"`` (oracle). A
            folder with a ``manifest.json`` must be complete and cover ``split``; its source is printed.
        mute_audio: stage-1 models only — feed silence instead of the soundtrack.
        gate: models that take no prior only (end-to-end, TPAVI) — a prior folder or ``"gt"`` applied after
            the fact: every pixel outside the mask is scored as background (the payoff ladder's middle rungs).
    """
    model, profile, payload = load_model(checkpoint, device=device or "auto")
    root = ensure_dataset(profile, data_root)
    kind = payload["kind"]
    dev = next(model.parameters()).device
    if kind == STAGE1:
        task: Any = AVSTask(criterion=None, eval_mute_audio=mute_audio)  # scoring needs no criterion
        # instance sidecars (objects.json) exist only in the synthetic set; real AVSBench has none
        sidecars = return_instances and next(Path(root).glob("*/*/objects.json"), None) is not None
        dataset = avss_dataset(
            profile, root, split, return_instances=sidecars, preload=False, purpose="evaluation"
        )
    else:
        use_prior = KINDS[kind][1]
        if use_prior and prior is None:
            raise ValueError(f"a {kind} model needs prior=<prior folder> or prior='gt'")
        if gate is not None:
            if use_prior:
                raise ValueError(
                    f"gate= is for models that take no prior; a {kind} model reads its prior itself"
                )
            prior = gate  # the mask comes from the same place a prior would
        oracle = isinstance(prior, str) and prior == "gt"
        gate_mode = None if gate is None else ("gt" if oracle else "dataset")
        if kind in (TPAVI, TPAVI_PRIOR):
            task = TPAVITask(
                use_prior=use_prior,
                eval_prior="gt" if oracle else "dataset",
                kind=kind,
                class_set=benchmark_classes(root),
                gate=gate_mode,
            )
        else:
            task = AVSSTask(
                criterion=None,
                use_prior=use_prior,
                eval_prior="gt" if oracle else "dataset",
                kind=kind,
                class_set=benchmark_classes(root),
                gate=gate_mode,
            )
        prior_root = None if (oracle or not (use_prior or gate_mode)) else prior
        if prior_root is not None:
            from .priors import priors_for_evaluation

            priors_for_evaluation(
                prior_root, split, stage1
            )  # manifest: complete, covers the split, from stage1
        dataset = avss_dataset(
            profile, root, split, prior_root=prior_root, preload=False, purpose="evaluation"
        )

    def batches():
        for i in range(len(dataset)):
            yield {
                k: v.to(dev) if isinstance(v, torch.Tensor) else v
                for k, v in collate_clips([dataset[i]]).items()
            }

    with torch.no_grad():
        return task.evaluate(model, batches())
