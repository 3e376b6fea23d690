"""AVSBench readers: the metadata tables into :class:`ClipFiles`, and the per-file helpers of the datasets.

Layouts and rules follow ``docs/avsbench.md`` §1; the path rules are those of the official loaders
(OpenNLPLab/AVSBench ``avs_scripts/{avs_s4,avs_ms3}/dataloader.py``, ``avs_scripts/avss/color_dataloader.py``)
and of Stepping Stones ``avss/dataset.py`` (ideas from them; own code).

* metadata: ``metadata.csv`` of AVSBench-semantic (v1s, v1m, v2) and ``{s4,ms3}_meta_data.csv`` of
  AVSBench-object, parsed into :class:`ClipFiles` plus a list of problems (nothing is raised for a bad row);
* audio: VGGish log-mel examples of a wav, fitted to the clip's frames;
* images: resizing as AVSBench (bilinear frames, nearest labels) and aligning label-like maps to the frames.

The datasets that read clips through these helpers are in :mod:`.avsbench`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .classes import label2idx
from .errors import DatasetError
from .io import inside_root, read_csv_rows, read_json, read_wav, safe_component

__all__ = [
    "AVSS_COLUMNS",
    "AVSS_SUBSETS",
    "SPLITS",
    "ClipFiles",
    "check_label2idx",
    "check_objects",
    "log_mel_from_wav",
    "odd_frames",
    "read_avss_metadata",
    "read_object_metadata",
    "same_aspect",
]

SPLITS = ("train", "val", "test")
AVSS_SUBSETS = {"v1s": 5, "v1m": 5, "v2": 10}  # frames per clip
AVSS_COLUMNS = ("vid", "uid", "s_min", "s_sec", "a_obj", "split", "label")
S4_COLUMNS = ("name", "start", "category", "split")
MS3_COLUMNS = ("video_id", "split")
OBJECT_FRAMES = 5


@dataclass
class ClipFiles:
    """Where one clip's files are (``None`` in ``labels`` = frame not annotated)."""

    uid: str
    subset: str
    split: str
    root: Path
    frames: list[Path]
    labels: list[Path | None]
    label_kind: str  # "colour" (labels_rgb) or "binary" (gt_masks)
    semantic: list[Path | None] = field(default_factory=list)  # labels_semantic (AVSS)
    wav: Path | None = None
    pkl: Path | None = None
    clip_dir: Path | None = None  # AVSS <root>/<subset>/<uid>
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return len(self.frames)


# --------------------------------------------------------------------------- metadata


def _int_field(value: str) -> int | None:
    try:
        out = int(value.strip())
    except ValueError:
        return None
    return out if out >= 0 else None


def check_label2idx(root: str | os.PathLike[str]) -> list[str]:
    """Problems with ``<root>/label2idx.json`` (must be the 71-class mapping in release order)."""
    path = Path(root) / "label2idx.json"
    try:
        inside_root(root, path)
        mapping = read_json(path)
    except DatasetError as err:
        return [str(err)]
    if not isinstance(mapping, dict):
        return [f"{path}: expected a JSON object, got {type(mapping).__name__}"]
    expected = label2idx()
    if list(mapping.items()) != list(expected.items()):
        return [
            f"{path}: not the 71-class AVSBench-semantic mapping (got {len(mapping)} entries; "
            "keys/values/order differ)"
        ]
    return []


def _metadata_table(
    root: Path, path: Path, columns: Sequence[str]
) -> tuple[list[str], dict[str, int], list[list[str]], list[str]]:
    """Read a metadata CSV under ``root``: ``(header, column index, rows, problems)``; empty on a problem."""
    try:
        inside_root(root, path)
        header, rows = read_csv_rows(path)
    except DatasetError as err:
        return [], {}, [], [str(err)]
    missing = [c for c in columns if c not in header]
    if missing:
        return [], {}, [], [f"{path}: missing columns {missing} (header {header}, expected {list(columns)})"]
    return header, {c: header.index(c) for c in columns}, rows, []


def _records(
    path: Path, header: list[str], col: dict[str, int], rows: list[list[str]], problems: list[str]
) -> Iterator[tuple[int, dict[str, str]]]:
    """The rows of a metadata table as ``(line, {column: stripped value})``; a row of the wrong length is a
    problem."""
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            problems.append(f"{path}:{line}: {len(row)} fields, header has {len(header)}")
            continue
        yield line, {c: row[i].strip() for c, i in col.items()}


def read_avss_metadata(root: str | os.PathLike[str]) -> tuple[list[ClipFiles], list[str]]:
    """Parse ``<root>/metadata.csv`` (header ``vid,uid,s_min,s_sec,a_obj,split,label``).

    Returns:
        ``(clips, problems)`` — one :class:`ClipFiles` per good row; every bad row / column is a problem.
    """
    root = Path(root)
    path = root / "metadata.csv"
    header, col, rows, problems = _metadata_table(root, path, AVSS_COLUMNS)
    if problems:
        return [], problems
    clips: list[ClipFiles] = []
    seen: dict[str, int] = {}
    for line, rec in _records(path, header, col, rows, problems):
        bad = []
        if rec["split"] not in SPLITS:
            bad.append(f"unknown split {rec['split']!r}")
        if rec["label"] not in AVSS_SUBSETS:
            bad.append(f"unknown subset (label) {rec['label']!r}")
        if not safe_component(rec["uid"]):
            bad.append(f"uid {rec['uid']!r} is not a plain folder name (path separators, '..', absolute?)")
        if _int_field(rec["s_min"]) is None or _int_field(rec["s_sec"]) is None:
            bad.append(f"s_min/s_sec not non-negative integers ({rec['s_min']!r}, {rec['s_sec']!r})")
        if rec["uid"] in seen:
            bad.append(f"duplicate uid {rec['uid']!r} (first on line {seen[rec['uid']]})")
        if bad:
            problems.append(f"{path}:{line}: " + "; ".join(bad))
            continue
        seen[rec["uid"]] = line
        subset, uid, split = rec["label"], rec["uid"], rec["split"]
        t = AVSS_SUBSETS[subset]
        clip_dir = root / subset / uid
        first_only = subset == "v1s" and split == "train"
        labels = [
            clip_dir / "labels_rgb" / f"{k}.png" if (k == 0 or not first_only) else None for k in range(t)
        ]
        semantic = [
            clip_dir / "labels_semantic" / f"{k}.png" if (k == 0 or not first_only) else None
            for k in range(t)
        ]
        clips.append(
            ClipFiles(
                uid=uid,
                subset=subset,
                split=split,
                root=root,
                frames=[clip_dir / "frames" / f"{k}.jpg" for k in range(t)],
                labels=labels,
                label_kind="colour",
                semantic=semantic,
                wav=clip_dir / "audio.wav",
                clip_dir=clip_dir,
                info={
                    "vid": rec["vid"],
                    "a_obj": rec["a_obj"],
                    "s_min": int(rec["s_min"]),
                    "s_sec": int(rec["s_sec"]),
                },
            )
        )
    return clips, problems


def read_object_metadata(root: str | os.PathLike[str], variant: str) -> tuple[list[ClipFiles], list[str]]:
    """Parse ``s4_meta_data.csv`` (``name,start,category,split``) or ``ms3_meta_data.csv``
    (``video_id,split``).

    Returns:
        ``(clips, problems)`` in the exact release layout (MS3 frames ``{id}.mp4_{k}.png`` without a split
        level).
    """
    root = Path(root)
    if variant not in ("s4", "ms3"):
        raise ValueError(f"variant must be 's4' or 'ms3', got {variant!r}")
    path = root / f"{variant}_meta_data.csv"
    columns = S4_COLUMNS if variant == "s4" else MS3_COLUMNS
    header, col, rows, problems = _metadata_table(root, path, columns)
    if problems:
        return [], problems
    data = root / f"{variant}_data"
    clips: list[ClipFiles] = []
    seen: dict[str, int] = {}
    for line, rec in _records(path, header, col, rows, problems):
        uid = rec["name"] if variant == "s4" else rec["video_id"]
        bad = []
        if rec["split"] not in SPLITS:
            bad.append(f"unknown split {rec['split']!r}")
        if not safe_component(uid):
            bad.append(f"id {uid!r} is not a plain file name (path separators, '..', absolute?)")
        if variant == "s4":
            if not safe_component(rec["category"]):
                bad.append(f"category {rec['category']!r} is not a plain folder name")
            if _int_field(rec["start"]) is None:
                bad.append(f"start {rec['start']!r} is not a non-negative integer")
        if uid in seen:
            bad.append(f"duplicate id {uid!r} (first on line {seen[uid]})")
        if bad:
            problems.append(f"{path}:{line}: " + "; ".join(bad))
            continue
        seen[uid] = line
        split = rec["split"]
        ks = range(1, OBJECT_FRAMES + 1)
        if variant == "s4":
            rel = Path(split) / rec["category"]
            frame_dir = data / "visual_frames" / rel / uid
            frames = [frame_dir / f"{uid}_{k}.png" for k in ks]
            mask_dir = data / "gt_masks" / rel / uid
            labels = [mask_dir / f"{uid}_{k}.png" if (k == 1 or split != "train") else None for k in ks]
            info = {"category": rec["category"], "start": int(rec["start"])}
        else:
            rel = Path(split)
            frames = [data / "visual_frames" / uid / f"{uid}.mp4_{k}.png" for k in ks]
            labels = [data / "gt_masks" / rel / uid / f"{uid}_{k}.png" for k in ks]
            info = {}
        clips.append(
            ClipFiles(
                uid=uid,
                subset=variant,
                split=split,
                root=root,
                frames=frames,
                labels=labels,
                label_kind="binary",
                wav=data / "audio_wav" / rel / f"{uid}.wav",
                pkl=data / "audio_log_mel" / rel / f"{uid}.pkl",
                info=info,
            )
        )
    return clips, problems


# --------------------------------------------------------------------------- objects.json sidecar


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _object_problem(entry: Any, num_frames: int) -> str | None:
    """What is wrong with one ``"objects"`` entry (``{"id": int >= 1, "sounding": [bool] * T}``), or None."""
    if not isinstance(entry, dict):
        return f'an entry of "objects" is {type(entry).__name__}, expected an object'
    if not _is_int(entry.get("id")) or entry["id"] < 1:
        return f"object id {entry.get('id')!r} is not an integer >= 1"
    sounding = entry.get("sounding")
    if not isinstance(sounding, list) or not all(isinstance(s, bool) for s in sounding):
        return f'object {entry["id"]}: "sounding" is not a list of booleans'
    if len(sounding) != num_frames:
        return f'object {entry["id"]}: "sounding" has {len(sounding)} entries for {num_frames} frames'
    return None


def check_objects(objects: Any, num_frames: int) -> list[str]:
    """Problems with a parsed ``objects.json`` (the synthetic generator's schema, :mod:`.synthetic`).

    It must be a JSON object whose ``"objects"`` is a list of ``{"id": int >= 1, "sounding": [bool] * T}``
    (more keys allowed; unique ids) and whose optional ``"off_screen"`` is a list of ``{"seconds": [int]}``.
    The problems do not name the file: the caller does.
    """
    if not isinstance(objects, dict):
        return [f'expected a JSON object with an "objects" list, got {type(objects).__name__}']
    entries = objects.get("objects")
    if not isinstance(entries, list):
        return [f'"objects" is {type(entries).__name__}, expected a list']
    problems = [p for p in (_object_problem(e, num_frames) for e in entries) if p is not None]
    ids = [e["id"] for e in entries if isinstance(e, dict) and "id" in e]
    if not problems and len(set(ids)) != len(ids):
        problems.append(f"duplicate object ids {sorted(i for i in set(ids) if ids.count(i) > 1)}")
    off = objects.get("off_screen", [])
    if not isinstance(off, list) or not all(
        isinstance(o, dict)
        and isinstance(o.get("seconds", []), list)
        and all(_is_int(k) for k in o.get("seconds", []))
        for o in off
    ):
        problems.append('"off_screen" is not a list of objects with integer "seconds"')
    return problems


# --------------------------------------------------------------------------- audio


def log_mel_from_wav(path: str | os.PathLike[str]) -> torch.Tensor:
    """VGGish log-mel examples of a wav (channels averaged, resampled by the front end).

    Returns:
        ``float32 [n, 1, 96, 64]`` (``n = 0`` for audio shorter than 0.975 s); an unreadable or empty wav
        raises ``DatasetError``.
    """
    from stepstones_lite.audio import log_mel_examples

    wave, rate, _ = read_wav(path)  # [N] float32 mono
    try:
        mel = log_mel_examples(wave, rate)  # [n, 1, 96, 64]
    except Exception as err:  # noqa: BLE001 - any decoder failure becomes a DatasetError
        raise DatasetError(path, f"audio front end failed ({type(err).__name__}: {err})") from None
    if not torch.isfinite(mel).all():
        raise DatasetError(path, "log-mel of this wav is not finite")
    return mel.float()


def _fit_examples(mel: torch.Tensor, t: int, pad: str) -> torch.Tensor:
    """Truncate/pad ``[n, 1, 96, 64]`` to ``t`` examples (``pad``: ``"repeat"`` last example or
    ``"zero"``)."""
    from stepstones_lite.audio import fit_examples

    return fit_examples(mel, t, mode=pad)  # [t, 1, 96, 64]


# --------------------------------------------------------------------------- image helpers


def odd_frames(sizes: dict[int, tuple[int, ...]]) -> tuple[tuple[int, ...] | None, list[int]]:
    """``(expected size, frames that differ from it)``: the expected size is the one most frames share (ties:
    the earliest frame's), so a single odd frame is named whichever frame it is (frame 0 included)."""
    if not sizes:
        return None, []
    counts: dict[tuple[int, ...], int] = {}
    for size in sizes.values():
        counts[size] = counts.get(size, 0) + 1
    expected = max(counts, key=lambda size: counts[size])  # max keeps the first of equal counts (frame order)
    return expected, [k for k, size in sizes.items() if size != expected]


def _target_size(size: int | Sequence[int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, int):
        return (size, size)
    h, w = size
    return (int(h), int(w))


def _resize(arr: np.ndarray, size: tuple[int, int] | None, mode: str, nearest: bool) -> np.ndarray:
    """PIL resize (BILINEAR images / NEAREST labels, as AVSBench); ``mode="crop"``: short side then centre
    crop."""
    if size is None:
        return arr
    from PIL import Image

    h, w = size
    ih, iw = arr.shape[:2]
    if (ih, iw) == (h, w):
        return arr
    resample = Image.NEAREST if nearest else Image.BILINEAR
    img = Image.fromarray(arr)
    if mode == "stretch":
        return np.asarray(img.resize((w, h), resample))
    scale = max(h / ih, w / iw)
    sh, sw = max(h, round(ih * scale)), max(w, round(iw * scale))
    img = img.resize((sw, sh), resample)
    top, left = (sh - h) // 2, (sw - w) // 2
    return np.asarray(img.crop((left, top, left + w, top + h)))


def same_aspect(a: Sequence[int], b: Sequence[int], tol: float = 0.02) -> bool:
    """True if ``[H, W]`` sizes ``a`` and ``b`` differ only by a scale (aspect ratios within ``tol``)."""
    return abs((a[1] / a[0]) / (b[1] / b[0]) - 1.0) <= tol


def _match_frame(arr: np.ndarray, native: tuple[int, int], path: Path | None) -> np.ndarray:
    """A label-like map (uint8 / int32) at the clip's frame size.

    Equal size: returned as is. Same aspect ratio at another resolution: resized NEAREST to the frame size
    (as AVSBench, which resizes frames and labels independently). Another aspect ratio cannot be aligned with
    the frame: ``DatasetError`` naming ``path``.
    """
    if tuple(arr.shape[:2]) == tuple(native):
        return arr
    if not same_aspect(arr.shape[:2], native):
        raise DatasetError(
            path, f"size {tuple(arr.shape[:2])} does not match the clip's frames {tuple(native)}"
        )
    return _resize(arr, native, "stretch", nearest=True)


def _labels_to_uint8(labels: np.ndarray) -> np.ndarray:
    return labels.astype(np.uint8) if labels.max(initial=0) < 256 else labels.astype(np.int32)
