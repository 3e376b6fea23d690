"""AVSBench datasets: S4 and MS3 (AVSBench-object) and AVSS (AVSBench-semantic: v1s, v1m, v2).

Layouts and rules follow ``avsbench.md`` §1 and ``avsbench_format_notes.md`` (which win where they differ); the
path rules are those of the official loaders (OpenNLPLab/AVSBench ``avs_scripts/{avs_s4,avs_ms3}/dataloader.py``,
``avs_scripts/avss/color_dataloader.py``) and of Stepping Stones ``avss/dataset.py`` (ideas from them; own code).

Every item is a dict (``T`` = frames per clip):

* ``frames``  ``float32 [T, 3, H, W]`` — RGB resized bilinear to ``image_size``, normalised with ImageNet mean/std
  (``normalize=False``: plain [0, 1]).
* ``masks``   ``float32 [T, H, W]`` in {0, 1} — object masks (S4/MS3 ``gt_masks``); for the semantic release
  ``labels > 0`` (the binary target of stage 1).
* ``labels``  ``int64 [T, H, W]`` class ids 0..70 (semantic release only).
* ``log_mel`` ``float32 [T, 1, 96, 64]`` — one VGGish example per frame (second).
* ``valid``   ``bool [T]`` — frames whose ground truth counts (see ``valid_rule``); ``present`` ``bool [T]`` — real
  (not padded) frames.
* ``uid``, ``subset`` (``s4``/``ms3``/``v1s``/``v1m``/``v2``), ``split``, ``index``; ``category`` (S4), ``vid`` and
  ``a_obj`` (AVSS); optional ``prior`` ``float32 [T, H, W]`` {0, 1}; ``instances`` ``int64 [T, H, W]`` (grey
  instance ids, 0 = none) + ``objects`` (the parsed ``objects.json``) with ``return_instances=True``.

Temporal rules (all switchable):

* ``single_frame`` — clips annotated on frame 0 only (S4 train, v1s train: the release has only ``0.png``).
  ``"flag"`` (default, AVSBench): all frames are loaded, frames 1.. get empty labels and ``valid=[1,0,0,0,0]``.
  ``"repeat"`` (Stepping Stones ``avss/dataset.py``): frame 0 and its label are repeated ``T`` times, all valid;
  audio stays the clip's 5 seconds.
* ``valid_rule`` — ``"annotated"`` (default): valid = a label file was loaded for that frame. ``"official"``:
  AVSBench's ``gt_temporal_mask_flag``: v1s ``[1,0,0,0,0]`` in *every* split (val/test labels 1..4 are loaded
  but flagged 0), v1m all 5, v2 all 10; S4 train frame 0, S4 val/test and MS3 all frames.
* ``pad_to`` — ``None`` (default) keeps native T (5 or 10); ``10`` pads 5-frame clips like the official AVSS loader
  (zero frames after normalisation, zero log-mel, background labels, ``valid``/``present`` False).

Labels of the semantic release: ``label_source="rgb"`` (default) decodes ``labels_rgb`` by exact palette match, as
the official loader (``labels_semantic`` is not read by it); ``"semantic"`` reads the index PNGs (COMBO/CAVP).
:func:`~stepstones_lite.data.validate_dataset` checks that both agree. Off-palette colours raise a
``DatasetError`` when ``strict=True`` (default); the official loader silently maps them to background
(``strict=False``).

Audio: AVSS log-mels are computed from ``audio.wav`` with :func:`stepstones_lite.audio.log_mel_examples` (channels
averaged, resampled by the front end) and zero-padded to T (official AVSS). S4/MS3 read the released ``.pkl``
(restricted unpickler) when present, else the wav; short examples are padded by repeating the last one
(``preprocess_s4.py``).

Sizes: ``image_size=224`` (default) resizes directly as the official val/test loader; ``resize="crop"`` resizes the
short side and centre-crops as its train loader; ``None`` keeps the stored size. Label, prior and instance maps
stored at another resolution with the frame's aspect ratio are first resized NEAREST to the frame; another aspect
ratio is a ``DatasetError``. ``preload=True`` keeps compact uint8 copies in memory (CPU training re-reads clips).
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .classes import label2idx
from .errors import DatasetError
from .io import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    inside_root,
    read_binary_mask,
    read_colour_label,
    read_csv_rows,
    read_grey,
    read_index_label,
    read_json,
    read_pickled_log_mel,
    read_rgb,
    read_wav,
    safe_component,
)

__all__ = [
    "AVSS_COLUMNS",
    "AVSS_SUBSETS",
    "SPLITS",
    "AVSBenchObject",
    "AVSBenchSemantic",
    "ClipFiles",
    "check_label2idx",
    "clip_collate",
    "log_mel_from_wav",
    "read_avss_metadata",
    "read_object_metadata",
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
            f"{path}: not the 71-class AVSBench-semantic mapping (got {len(mapping)} entries; keys/values/order differ)"
        ]
    return []


def _metadata_table(root: Path, path: Path, columns: Sequence[str]
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
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            problems.append(f"{path}:{line}: {len(row)} fields, header has {len(header)}")
            continue
        rec = {c: row[i].strip() for c, i in col.items()}
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
    """Parse ``s4_meta_data.csv`` (``name,start,category,split``) or ``ms3_meta_data.csv`` (``video_id,split``).

    Returns:
        ``(clips, problems)`` in the exact release layout (MS3 frames ``{id}.mp4_{k}.png`` without a split level).
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
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            problems.append(f"{path}:{line}: {len(row)} fields, header has {len(header)}")
            continue
        rec = {c: row[i].strip() for c, i in col.items()}
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


# --------------------------------------------------------------------------- audio


def log_mel_from_wav(path: str | os.PathLike[str]) -> torch.Tensor:
    """VGGish log-mel examples of a wav (channels averaged, resampled by the front end).

    Returns:
        ``float32 [n, 1, 96, 64]`` (``n = 0`` for audio shorter than 0.975 s); an unreadable or empty wav raises
        ``DatasetError``.
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
    """Truncate/pad ``[n, 1, 96, 64]`` to ``t`` examples (``pad``: ``"repeat"`` last example or ``"zero"``)."""
    from stepstones_lite.audio import fit_examples

    return fit_examples(mel, t, mode=pad)  # [t, 1, 96, 64]


# --------------------------------------------------------------------------- image helpers


def _target_size(size: int | Sequence[int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, int):
        return (size, size)
    h, w = size
    return (int(h), int(w))


def _resize(arr: np.ndarray, size: tuple[int, int] | None, mode: str, nearest: bool) -> np.ndarray:
    """PIL resize (BILINEAR images / NEAREST labels, as AVSBench); ``mode="crop"``: short side then centre crop."""
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


# --------------------------------------------------------------------------- datasets


class _ClipDataset(Dataset):
    """Shared loading logic of the object and semantic datasets."""

    audio_pad: str = "zero"  # log-mel padding: "zero" (official AVSS) or "repeat" (S4/MS3 preprocessing)
    label_source: str = "rgb"  # AVSS: "rgb" (labels_rgb) or "semantic" (labels_semantic)

    def __init__(
        self,
        clips: list[ClipFiles],
        *,
        image_size: int | Sequence[int] | None = 224,
        resize: str = "stretch",
        normalize: bool = True,
        single_frame: str = "flag",
        valid_rule: str = "annotated",
        pad_to: int | None = None,
        strict: bool = True,
        prior_root: str | os.PathLike[str] | None = None,
        audio: str = "auto",
        preload: bool = False,
    ) -> None:
        if resize not in ("stretch", "crop"):
            raise ValueError(f"resize must be 'stretch' or 'crop', got {resize!r}")
        if single_frame not in ("flag", "repeat"):
            raise ValueError(f"single_frame must be 'flag' or 'repeat', got {single_frame!r}")
        if valid_rule not in ("annotated", "official"):
            raise ValueError(f"valid_rule must be 'annotated' or 'official', got {valid_rule!r}")
        if audio not in ("auto", "pkl", "wav"):
            raise ValueError(f"audio must be 'auto', 'pkl' or 'wav', got {audio!r}")
        self.clips = clips
        self.image_size = _target_size(image_size)
        self.resize = resize
        self.normalize = normalize
        self.single_frame = single_frame
        self.valid_rule = valid_rule
        self.pad_to = pad_to
        self.strict = strict
        self.prior_root = None if prior_root is None else Path(prior_root)
        self.audio = audio
        self._cache: dict[int, dict[str, Any]] | None = None
        if preload:
            from tqdm.auto import tqdm

            self._cache = {i: self._decode(i) for i in tqdm(range(len(self)), desc="preload", leave=False)}

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        index %= len(self)
        if self._cache is not None:
            return self._assemble(self._cache[index])  # fresh tensors: callers may modify items in place
        return self._load(index)

    # -- per-clip pieces
    def _official_valid(self, clip: ClipFiles) -> list[bool]:
        t = clip.num_frames
        if clip.subset == "v1s" or (clip.subset == "s4" and clip.split == "train"):
            return [k == 0 for k in range(t)]
        return [True] * t

    def _log_mel(self, clip: ClipFiles) -> torch.Tensor:
        if clip.pkl is not None and self.audio in ("auto", "pkl"):
            pkl_exists = os.path.lexists(clip.pkl)
            if pkl_exists or self.audio == "pkl":
                try:
                    return read_pickled_log_mel(inside_root(clip.root, clip.pkl))
                except DatasetError as err:
                    if self.audio == "pkl" or clip.wav is None or not os.path.lexists(clip.wav):
                        raise
                    warnings.warn(f"{err}; using the wav instead", stacklevel=3)
        if clip.wav is None or (
            clip.pkl is not None and self.audio == "auto" and not os.path.lexists(clip.wav)
        ):
            raise DatasetError(clip.pkl, f"no log-mel pickle and no wav ({clip.wav})")
        return log_mel_from_wav(inside_root(clip.root, clip.wav))

    def _read_label(self, clip: ClipFiles, k: int) -> np.ndarray:
        if clip.label_kind == "binary":
            return read_binary_mask(inside_root(clip.root, clip.labels[k]), self.strict)  # [H, W] float {0,1}
        if self.label_source == "semantic":
            return read_index_label(inside_root(clip.root, clip.semantic[k]))
        return read_colour_label(inside_root(clip.root, clip.labels[k]), self.strict)  # [H, W] int64

    def _read_prior(self, clip: ClipFiles, k: int, native: tuple[int, int]) -> np.ndarray:
        assert self.prior_root is not None
        path = self.prior_root / clip.subset / clip.uid / f"{k}.png"
        prior = read_binary_mask(inside_root(self.prior_root, path), self.strict).astype(np.uint8)
        return _match_frame(prior, native, path)  # [H, W] uint8 {0, 1}

    def _extra(
        self, clip: ClipFiles, src: list[int], size: tuple[int, int], native: tuple[int, int]
    ) -> dict[str, Any]:
        return {}

    def _load(self, index: int) -> dict[str, Any]:
        return self._assemble(self._decode(index))

    def _decode(self, index: int) -> dict[str, Any]:
        """Read and resize one clip into compact arrays (uint8 frames/labels: what ``preload`` keeps in memory)."""
        clip = self.clips[index]
        t = clip.num_frames
        annotated = [p is not None for p in clip.labels]
        repeat = self.single_frame == "repeat" and annotated.count(True) == 1 and annotated[0]
        src = [0] * t if repeat else list(range(t))  # source frame of each output frame

        # frames
        rgb = {k: read_rgb(inside_root(clip.root, clip.frames[k])) for k in sorted(set(src))}
        native = rgb[src[0]].shape[:2]
        for k, arr in rgb.items():
            if arr.shape[:2] != native:
                raise DatasetError(
                    clip.frames[k], f"frame size {arr.shape[:2]} differs from frame {src[0]}'s {native}"
                )
        size = self.image_size or native
        frames = np.stack(
            [_resize(rgb[k], size, self.resize, nearest=False) for k in src]
        )  # [T, H, W, 3] uint8

        # labels: class ids (colour / index PNGs) or {0, 1} (binary masks), uint8 while < 256
        label_maps = []
        for k in src:
            if clip.labels[k] is None:
                label_maps.append(np.zeros(size, dtype=np.uint8))
                continue
            lab = _labels_to_uint8(self._read_label(clip, k))  # [H, W]
            lab = _match_frame(lab, native, clip.labels[k])
            label_maps.append(_resize(lab, size, self.resize, nearest=True))
        if repeat:
            valid = [True] * t
        elif self.valid_rule == "official":
            valid = self._official_valid(clip)
        else:
            valid = annotated

        raw: dict[str, Any] = {
            "frames": torch.from_numpy(np.ascontiguousarray(frames)),  # [T, H, W, 3] uint8
            "labels": torch.from_numpy(np.stack(label_maps)),  # [T, H, W] uint8 (int32 if ids >= 256)
            "log_mel": _fit_examples(self._log_mel(clip), t, self.audio_pad),  # [T, 1, 96, 64]
            "valid": torch.tensor(valid, dtype=torch.bool),
        }
        if self.prior_root is not None:
            priors = [_resize(self._read_prior(clip, k, native), size, self.resize, True) for k in src]
            raw["prior"] = torch.from_numpy(np.stack(priors))  # [T, H, W] uint8 {0, 1}
        raw.update(self._extra(clip, src, size, native))
        raw["meta"] = {
            "uid": clip.uid,
            "subset": clip.subset,
            "split": clip.split,
            "index": index,
            **clip.info,
        }
        raw["binary"] = clip.label_kind == "binary"
        return raw

    def _assemble(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Compact arrays -> the item dict (float frames, normalised; int64 labels; float masks/prior; padding)."""
        x = raw["frames"].permute(0, 3, 1, 2).float() / 255.0  # [T, 3, H, W]
        if self.normalize:
            mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
            std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
            x = (x - mean) / std
        item: dict[str, Any] = {"frames": x}
        if raw["binary"]:
            item["masks"] = raw["labels"].float()  # [T, H, W] {0, 1}
        else:
            item["labels"] = raw["labels"].long()  # [T, H, W] class ids
            item["masks"] = (raw["labels"] > 0).float()  # [T, H, W]
        item["log_mel"] = raw["log_mel"].clone()
        item["valid"] = raw["valid"].clone()
        item["present"] = torch.ones(len(raw["valid"]), dtype=torch.bool)
        if "prior" in raw:
            item["prior"] = raw["prior"].float()  # [T, H, W]
        if "instances" in raw:
            item["objects"] = copy.deepcopy(raw["objects"])
            item["instances"] = raw["instances"].long()  # [T, H, W]
        item.update(raw["meta"])
        if self.pad_to is not None and self.pad_to > x.shape[0]:
            item = _pad_item(item, self.pad_to)
        return item


def _pad_item(item: dict[str, Any], t: int) -> dict[str, Any]:
    """Zero-pad every ``[T, ...]`` tensor of an item to ``t`` frames (official AVSS padding to 10)."""
    out = dict(item)
    n = item["frames"].shape[0]
    for key, value in item.items():
        if torch.is_tensor(value) and value.dim() >= 1 and value.shape[0] == n:
            out[key] = torch.cat([value, value.new_zeros(t - n, *value.shape[1:])])
    return out


class AVSBenchObject(_ClipDataset):
    """AVSBench-object S4 (``Single-source/``) or MS3 (``Multi-sources/``), exact release layout.

    Args:
        root: the release's ``Single-source/`` (S4) or ``Multi-sources/`` (MS3) folder.
        variant: ``"s4"`` or ``"ms3"``.
        split: ``"train"``, ``"val"`` or ``"test"``.
        image_size: output ``(H, W)`` or side; ``None`` keeps the native size (S4/MS3 frames are 224×224).
        resize: ``"stretch"`` (direct resize, official val/test) or ``"crop"`` (short side + centre crop).
        normalize: ImageNet mean/std (default) or plain [0, 1].
        single_frame, valid_rule, pad_to: temporal rules (module docstring).
        strict: masks must be 0/255 (or 0/1); ``False`` thresholds ``> 0`` like ``convert('1')`` on clean masks.
        prior_root: optional ``<prior_root>/<variant>/<uid>/<k>.png`` (k = 0..4) 0/255 prior masks.
        audio: ``"auto"`` (``.pkl`` when present, else wav; a bad pkl falls back to the wav with a warning),
            ``"pkl"`` or ``"wav"``.
        preload: decode every clip once at construction into compact uint8 arrays (about 0.3 MB per 5-frame
            96-px clip, log-mel included) and build fresh tensors from them on each access.
    """

    audio_pad = "repeat"

    def __init__(
        self, root: str | os.PathLike[str], variant: str = "s4", split: str = "train", **kwargs: Any
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(root, "dataset root is not a folder")
        clips, problems = read_object_metadata(root, variant)
        if problems:
            raise DatasetError(
                root / f"{variant}_meta_data.csv", f"{len(problems)} metadata problems", problems
            )
        self.root, self.variant, self.split = root, variant, split
        super().__init__([c for c in clips if c.split == split], **kwargs)


class AVSBenchSemantic(_ClipDataset):
    """AVSBench-semantic (AVSS): subsets v1s, v1m, v2 under a root holding ``metadata.csv`` and ``label2idx.json``.

    Args:
        root: release root; ``None`` reads ``$STEPSTONES_DATA``.
        split: ``"train"``, ``"val"`` or ``"test"``.
        subsets: which of ``v1s``/``v1m``/``v2`` to include (metadata order is kept).
        label_source: ``"rgb"`` (default, official: ``labels_rgb`` by palette match) or ``"semantic"``.
        return_instances: also return ``objects`` (``<subset>/<uid>/objects.json``, parsed JSON) and
            ``instances`` ``int64 [T, H, W]`` (``instances/{k}.png``, grey instance ids, 0 = none) — synthetic set.
        image_size, resize, normalize, single_frame, valid_rule, pad_to, strict, prior_root, preload: as
            :class:`AVSBenchObject` (priors: ``<prior_root>/<subset>/<uid>/<k>.png``, k from 0).
    """

    audio_pad = "zero"

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        split: str = "train",
        subsets: Iterable[str] = ("v1s", "v1m", "v2"),
        *,
        label_source: str = "rgb",
        return_instances: bool = False,
        **kwargs: Any,
    ) -> None:
        if root is None:
            root = os.environ.get("STEPSTONES_DATA")
            if not root:
                raise DatasetError(None, "no dataset root given and $STEPSTONES_DATA is not set")
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        subsets = tuple(subsets)
        unknown = [s for s in subsets if s not in AVSS_SUBSETS]
        if unknown:
            raise ValueError(f"unknown subsets {unknown}; choose from {tuple(AVSS_SUBSETS)}")
        if label_source not in ("rgb", "semantic"):
            raise ValueError(f"label_source must be 'rgb' or 'semantic', got {label_source!r}")
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(root, "dataset root is not a folder")
        problems = check_label2idx(root)
        clips, meta_problems = read_avss_metadata(root)
        problems += meta_problems
        if problems:
            raise DatasetError(root, f"{len(problems)} problems in metadata.csv / label2idx.json", problems)
        self.root, self.split, self.subsets = root, split, subsets
        self.label_source = label_source
        self.return_instances = return_instances
        kwargs.setdefault("audio", "wav")
        super().__init__([c for c in clips if c.split == split and c.subset in subsets], **kwargs)

    def _extra(
        self, clip: ClipFiles, src: list[int], size: tuple[int, int], native: tuple[int, int]
    ) -> dict[str, Any]:
        if not self.return_instances:
            return {}
        assert clip.clip_dir is not None
        objects = read_json(inside_root(clip.root, clip.clip_dir / "objects.json"))
        maps = []
        for k in src:
            if clip.labels[k] is None:  # not annotated (v1s train frames 1..4): no instances either
                maps.append(np.zeros(size, dtype=np.int32))
                continue
            path = inside_root(clip.root, clip.clip_dir / "instances" / f"{k}.png")
            inst = _match_frame(_labels_to_uint8(read_grey(path)), native, path)  # [H, W] instance ids
            maps.append(_resize(inst, size, self.resize, nearest=True).astype(np.int32))
        return {"objects": objects, "instances": torch.from_numpy(np.stack(maps))}  # [T, H, W] int32


def clip_collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Collate items of equal T: tensors are stacked (``[B, T, ...]``), everything else becomes a list.

    Raises:
        ValueError: if the clips' shapes differ (mix v1 and v2 only with ``pad_to=10``).
    """
    out: dict[str, Any] = {}
    for key in batch[0]:
        values = [item[key] for item in batch]
        if torch.is_tensor(values[0]):
            shapes = {tuple(v.shape) for v in values}
            if len(shapes) > 1:
                raise ValueError(
                    f"cannot stack {key!r} of shapes {sorted(shapes)}; use pad_to=10 or batch by subset"
                )
            out[key] = torch.stack(values)
        else:
            out[key] = values
    return out
