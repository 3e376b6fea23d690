"""Mask priors: the stepping stones between stage 1 and stage 2 (paper §3.2, docs/paper_and_code.md §2.3).

A prior folder follows the AVSBench convention the official code reads: ``<root>/<subset>/<uid>/<k>.png``,
grey 0 (background) / 255 (sounding) at the label size, plus our ``manifest.json`` (what made it, from which
checkpoint, whether it finished). Three producers:

- :func:`make_priors` — the stage-1 model's predictions (argmax of background vs sounding scores);
- :func:`write_reference_priors` — ground-truth priors (the oracle), optionally degraded on purpose with
  :func:`degrade_mask` (erosion, dilation, blob noise, dropped frames) for the prior-quality study
  (paper Tab. 2 "low/high/oracle" priors, docs/feasibility.md §3.3);
- any folder a user brings (e.g. the authors' released masks), checked by :func:`check_priors`.

Every clip is written to a temporary folder and renamed into place, so an interrupted run resumes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

import torch
import torch.nn.functional as F

from ..data import DatasetError
from ..utils import atomic_write_json, file_sha256
from .checkpoint import CheckpointError
from .engine import collate_clips

__all__ = [
    "make_priors",
    "write_reference_priors",
    "check_priors",
    "priors_for_evaluation",
    "prior_source",
    "degrade_mask",
    "prior_iou",
    "DEGRADATIONS",
]

DEGRADATIONS = ("erode", "dilate", "noise", "drop")


def _show(progress: bool | None) -> bool:
    return progress if progress is not None else not (os.environ.get("TQDM_DISABLE") or os.environ.get("CI"))


def _write_clip(folder: Path, masks: torch.Tensor) -> None:
    """Write ``masks [T,H,W]`` (bool) as ``<folder>/<k>.png`` via a temporary sibling folder."""
    from ..model.aavs import export_prior_png

    tmp = folder.parent / f".tmp-{folder.name}"
    tmp.mkdir(parents=True, exist_ok=True)
    for k, frame in enumerate(masks.cpu()):
        export_prior_png(frame).save(tmp / f"{k}.png")
    tmp.rename(folder)


def _read_manifest(manifest: Path) -> dict[str, Any]:
    """A prior folder's ``manifest.json`` as a dict; bad JSON or another shape is a ``DatasetError``."""
    try:
        info = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise DatasetError(
            manifest,
            f"corrupt prior manifest ({type(err).__name__}: {err}); "
            f"delete the prior folder and make its priors again",
        ) from None
    if not isinstance(info, dict):
        raise DatasetError(
            manifest,
            f"corrupt prior manifest: a JSON {type(info).__name__}, expected an "
            f"object; delete the prior folder and make its priors again",
        )
    return info


def _start_manifest(out_dir: Path, identity: dict[str, Any]) -> Path:
    manifest = out_dir / "manifest.json"
    if manifest.is_file():
        old = _read_manifest(manifest)
        if {k: old.get(k) for k in identity} != identity:
            raise CheckpointError(
                f"{out_dir}: holds priors made differently ({ {k: old.get(k) for k in identity} }); "
                f"use a new folder or delete it"
            )
    atomic_write_json(manifest, {**identity, "complete": False})
    return manifest


def make_priors(
    checkpoint: str | Path,
    out_dir: str | Path,
    *,
    data_root: str | Path | None = None,
    splits: Iterable[str] = ("val", "test"),
    device: str | None = None,
    mute_audio: bool = False,
    progress: bool | None = None,
    offset: float = 0.0,
) -> Path:
    """Write a stage-1 model's binary predictions as prior PNGs; return the manifest path.

    A pixel is sounding where ``s_sounding - s_background > offset``: 0 is the model's own decision, a
    negative ``offset`` a recall-tuned prior (more pixels marked; e.g. the offset chosen on val by
    ``study errors``).

    ``manifest.json`` records the checkpoint's sha256: rerunning into a folder of another checkpoint raises
    instead of silently mixing priors; rerunning with the same checkpoint resumes.
    """
    from tqdm.auto import tqdm

    from .datasets import avss_dataset, ensure_dataset
    from .models import STAGE1, load_model
    from .predict import predict

    out_dir, splits = Path(out_dir), tuple(splits)
    identity = {
        "source": "stage1",
        "checkpoint_sha256": file_sha256(checkpoint),
        "mute_audio": bool(mute_audio),
    }
    if offset:
        identity["offset"] = float(offset)
    manifest = _start_manifest(out_dir, identity)
    model, profile, _ = load_model(checkpoint, kind=STAGE1, device=device or "auto")
    dev = next(model.parameters()).device
    root = ensure_dataset(profile, data_root)
    counts: dict[str, int] = {}
    for split in splits:
        dataset = avss_dataset(profile, root, split, preload=False, purpose="making priors")
        for i in tqdm(range(len(dataset)), desc=f"priors {split}", disable=not _show(progress)):
            item = dataset[i]
            folder = out_dir / item["subset"] / item["uid"]
            if not folder.is_dir():
                batch = {
                    k: v.to(dev) if isinstance(v, torch.Tensor) else v
                    for k, v in collate_clips([item]).items()
                }
                _write_clip(
                    folder, predict(model, batch, muted=mute_audio, output="logits") > offset
                )  # [T, H, W]
            counts[split] = counts.get(split, 0) + 1
    atomic_write_json(
        manifest,
        {
            **identity,
            "checkpoint": str(checkpoint),
            "splits": list(splits),
            "clips": counts,
            "complete": True,
        },
    )
    return manifest


# --------------------------------------------------------------------------- degraded / oracle priors
def degrade_mask(
    mask: torch.Tensor, kind: str, level: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A deliberately worse copy of binary masks ``[T, H, W]`` (bool).

    Args:
        kind: ``"erode"`` / ``"dilate"`` (``level`` = radius in px, square structuring element),
            ``"noise"`` (random blobs covering about ``level`` of the frame are flipped),
            ``"drop"`` (each frame's mask is emptied with probability ``level``: missed detections).
        level: strength, see ``kind``; 0 returns the mask unchanged.
        generator: RNG for the random kinds (reproducible priors).
    """
    if kind not in DEGRADATIONS:
        raise ValueError(f"unknown degradation {kind!r}; choose from {DEGRADATIONS}")
    m = mask.bool()
    if level <= 0:
        return m.clone()
    t, h, w = m.shape
    x = m.float()[:, None]  # [T, 1, H, W]
    if kind in ("erode", "dilate"):
        r = int(round(level))
        if kind == "dilate":
            return F.max_pool2d(x, 2 * r + 1, stride=1, padding=r)[:, 0] > 0.5
        return -F.max_pool2d(-x, 2 * r + 1, stride=1, padding=r)[:, 0] > 0.5
    if kind == "drop":
        keep = torch.rand(t, generator=generator) >= level  # [T]
        return m & keep[:, None, None]
    coarse = torch.rand(t, 1, max(1, h // 8), max(1, w // 8), generator=generator)  # blobs ~8 px
    field = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)[:, 0]  # [T, H, W]
    return m ^ (field < level)


def prior_iou(prior: torch.Tensor, gt: torch.Tensor) -> float:
    """Mean per-frame IoU of a prior against GT with the AVSBench empty-GT rule (true negatives)."""
    from ..metrics import mask_iou

    return float(mask_iou(torch.where(prior.bool(), 1.0, -1.0), gt.float()))


def write_reference_priors(
    profile: Any,
    out_dir: str | Path,
    *,
    data_root: str | Path | None = None,
    splits: Iterable[str] = ("val", "test"),
    degrade: str | None = None,
    level: float = 0.0,
    seed: int = 0,
    progress: bool | None = None,
) -> Path:
    """Ground-truth priors (``degrade=None``: the oracle) or degraded ones; manifest records the mean prior
    IoU."""
    from tqdm.auto import tqdm

    from .datasets import avss_dataset, ensure_dataset

    out_dir, splits = Path(out_dir), tuple(splits)
    identity = {"source": "ground_truth", "degrade": degrade, "level": level, "seed": seed}
    manifest = _start_manifest(out_dir, identity)
    root = ensure_dataset(profile, data_root)
    gen = torch.Generator().manual_seed(seed)
    ious: list[float] = []
    for split in splits:
        dataset = avss_dataset(profile, root, split, preload=False, purpose="making priors")
        for i in tqdm(range(len(dataset)), desc=f"reference priors {split}", disable=not _show(progress)):
            item = dataset[i]
            gt = item["labels"] > 0  # [T, H, W]
            prior = degrade_mask(gt, degrade, level, gen) if degrade else gt
            ious.append(prior_iou(prior[item["valid"]], gt[item["valid"]]))
            folder = out_dir / item["subset"] / item["uid"]
            if not folder.is_dir():
                _write_clip(folder, prior)
    atomic_write_json(
        manifest,
        {**identity, "splits": list(splits), "complete": True, "prior_miou": sum(ious) / max(1, len(ious))},
    )
    return manifest


def check_priors(
    prior_root: str | Path, checkpoint: str | Path | None = None, split: str | None = None
) -> dict[str, Any]:
    """The manifest of a finished prior folder; raises ``DatasetError`` (naming ``manifest.json``) if it is
    missing or corrupt, unfinished, from another checkpoint, or does not cover ``split``."""
    manifest = Path(prior_root) / "manifest.json"
    if not manifest.is_file():
        raise DatasetError(manifest, "prior folder has no manifest.json (not made by make_priors)")
    info = _read_manifest(manifest)
    if checkpoint is not None and info.get("checkpoint_sha256") != file_sha256(checkpoint):
        raise DatasetError(manifest, f"priors are stale: made from another checkpoint than {checkpoint}")
    if not info.get("complete"):
        raise DatasetError(manifest, "prior generation did not finish; rerun to resume it")
    splits = info.get("splits")
    if split is not None and (not isinstance(splits, list) or split not in splits):
        raise DatasetError(
            manifest, f"priors cover the splits {splits}, not {split!r}; make priors for {split!r}"
        )
    return info


def prior_source(info: dict[str, Any]) -> str:
    """One line saying what made a prior folder (its manifest ``info``): the stage-1 checkpoint or the GT."""
    if info.get("source") == "stage1":
        sha = str(info.get("checkpoint_sha256", "?"))[:12]
        mute = ", muted audio" if info.get("mute_audio") else ""
        return f"stage-1 checkpoint {info.get('checkpoint', '?')} (sha256 {sha}{mute})"
    if info.get("source") == "ground_truth":
        how = f"degraded: {info.get('degrade')} {info.get('level')}" if info.get("degrade") else "oracle"
        return f"ground truth ({how})"
    return f"unknown source {info.get('source')!r}"


def priors_for_evaluation(
    prior_root: str | Path, split: str, stage1: str | Path | None = None
) -> dict[str, Any] | None:
    """Check a prior folder before scoring ``split`` with it and print where its priors come from.

    A folder with a ``manifest.json`` (made by :func:`make_priors` / :func:`write_reference_priors`) must be
    complete and cover ``split`` (:func:`check_priors`); ``stage1``: the stage-1 checkpoint the priors must
    come from (its sha256 is compared with the manifest's, so priors of another stage-1 model are refused). A
    folder without a manifest (e.g. the authors' released masks) is used as it is. Returns the manifest, or
    None.
    """
    manifest = Path(prior_root) / "manifest.json"
    if not manifest.is_file():
        if stage1 is not None:
            raise DatasetError(
                Path(prior_root),
                "no manifest.json, so the stage-1 model behind these priors "
                f"cannot be checked against {stage1}",
            )
        print(f"[stepstones] priors {prior_root}: no manifest.json, source unknown")
        return None
    info = check_priors(prior_root, split=split)
    if stage1 is not None and info.get("checkpoint_sha256") != file_sha256(stage1):
        raise DatasetError(
            manifest,
            f"these priors come from {prior_source(info)}, not from the stage-1 "
            f"checkpoint {stage1} (sha256 {file_sha256(stage1)[:12]})",
        )
    print(f"[stepstones] priors {prior_root} ({split}): {prior_source(info)}")
    return info
