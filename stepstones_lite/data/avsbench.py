"""AVSBench datasets: S4 and MS3 (AVSBench-object) and AVSS (AVSBench-semantic: v1s, v1m, v2).

Layouts and rules follow ``docs/avsbench.md`` §1; the path rules are those of the official loaders
(OpenNLPLab/AVSBench ``avs_scripts/{avs_s4,avs_ms3}/dataloader.py``, ``avs_scripts/avss/color_dataloader.py``)
and of Stepping Stones ``avss/dataset.py`` (ideas from them; own code).

Every item is a dict (``T`` = frames per clip):

* ``frames``  ``float32 [T, 3, H, W]`` — RGB resized bilinear to ``image_size``, normalised with ImageNet
  mean/std (``normalize=False``: plain [0, 1]).
* ``masks``   ``float32 [T, H, W]`` in {0, 1} — object masks (S4/MS3 ``gt_masks``); for the semantic release
  ``labels > 0`` (the binary target of stage 1).
* ``labels``  ``int64 [T, H, W]`` class ids 0..70 (semantic release only).
* ``log_mel`` ``float32 [T, 1, 96, 64]`` — one VGGish example per frame (second).
* ``valid``   ``bool [T]`` — frames whose ground truth counts (see ``valid_rule``); ``present`` ``bool [T]`` —
  real (not padded) frames.
* ``uid``, ``subset`` (``s4``/``ms3``/``v1s``/``v1m``/``v2``), ``split``, ``index``; ``category`` (S4),
  ``vid`` and ``a_obj`` (AVSS); optional ``prior`` ``float32 [T, H, W]`` {0, 1}; ``instances``
  ``int64 [T, H, W]`` (grey instance ids, 0 = none) + ``objects`` (the parsed ``objects.json``) with
  ``return_instances=True``.

Temporal rules (all switchable):

* ``single_frame`` — clips annotated on frame 0 only (S4 train, v1s train: the release has only ``0.png``).
  ``"flag"`` (default, AVSBench): all frames are loaded, frames 1.. get empty labels and
  ``valid=[1,0,0,0,0]``. ``"repeat"`` (Stepping Stones ``avss/dataset.py``): frame 0 and its label are
  repeated ``T`` times, all valid; audio stays the clip's 5 seconds.
* ``valid_rule`` — ``"annotated"`` (default): valid = a label file was loaded for that frame. ``"official"``:
  AVSBench's ``gt_temporal_mask_flag``: v1s ``[1,0,0,0,0]`` in *every* split (val/test labels 1..4 are loaded
  but flagged 0), v1m all 5, v2 all 10; S4 train frame 0, S4 val/test and MS3 all frames.
* ``pad_to`` — ``None`` (default) keeps native T (5 or 10); ``10`` pads 5-frame clips like the official AVSS
  loader (zero frames after normalisation, zero log-mel, background labels, ``valid``/``present`` False).

Labels of the semantic release: ``label_source="rgb"`` (default) decodes ``labels_rgb`` by exact palette
match, as the official loader (``labels_semantic`` is not read by it); ``"semantic"`` reads the index PNGs
(COMBO/CAVP). :func:`~stepstones_lite.data.validate_dataset` checks that both agree. Off-palette colours raise
a ``DatasetError`` when ``strict=True`` (default); the official loader silently maps them to background
(``strict=False``).

Audio: AVSS log-mels are computed from ``audio.wav`` with :func:`stepstones_lite.audio.log_mel_examples`
(channels averaged, resampled by the front end) and zero-padded to T (official AVSS). S4/MS3 read the released
``.pkl`` (restricted unpickler) when present, else the wav; short examples are padded by repeating the last
one (``preprocess_s4.py``).

Sizes: ``image_size=224`` (default) resizes directly as the official val/test loader; ``resize="crop"``
resizes the short side and centre-crops as its train loader; ``None`` keeps the stored size. Label, prior and
instance maps stored at another resolution with the frame's aspect ratio are first resized NEAREST to the
frame; another aspect ratio is a ``DatasetError``. ``preload=True`` keeps compact uint8 copies in memory (CPU
training re-reads clips).

The metadata readers (:class:`ClipFiles`) and the per-file audio/image helpers are in :mod:`.readers`; every
name is also importable from here.
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
from .readers import (
    AVSS_COLUMNS,
    AVSS_SUBSETS,
    MS3_COLUMNS,
    OBJECT_FRAMES,
    S4_COLUMNS,
    SPLITS,
    ClipFiles,
    _fit_examples,
    _int_field,
    _labels_to_uint8,
    _match_frame,
    _metadata_table,
    _resize,
    _target_size,
    check_label2idx,
    check_objects,
    log_mel_from_wav,
    odd_frames,
    read_avss_metadata,
    read_object_metadata,
    same_aspect,
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
        """Read and resize one clip into compact arrays (uint8 frames/labels: what ``preload`` keeps in
        memory)."""
        clip = self.clips[index]
        t = clip.num_frames
        annotated = [p is not None for p in clip.labels]
        repeat = self.single_frame == "repeat" and annotated.count(True) == 1 and annotated[0]
        src = [0] * t if repeat else list(range(t))  # source frame of each output frame

        # frames
        rgb = {k: read_rgb(inside_root(clip.root, clip.frames[k])) for k in sorted(set(src))}
        native, odd = odd_frames({k: arr.shape[:2] for k, arr in rgb.items()})
        if odd:
            k = odd[0]
            size_k = rgb[k].shape[:2]
            raise DatasetError(clip.frames[k], f"frame size {size_k} differs from the other frames' {native}")
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
        """Compact arrays -> the item dict (float frames, normalised; int64 labels; float masks/prior;
        padding)."""
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
        strict: masks must be 0/255 (or 0/1); ``False`` thresholds ``> 0`` like ``convert('1')`` on clean
            masks.
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
    """AVSBench-semantic (AVSS): subsets v1s, v1m, v2 under a root holding ``metadata.csv`` and
    ``label2idx.json``.

    Args:
        root: release root; ``None`` reads ``$STEPSTONES_DATA``.
        split: ``"train"``, ``"val"`` or ``"test"``.
        subsets: which of ``v1s``/``v1m``/``v2`` to include (metadata order is kept).
        label_source: ``"rgb"`` (default, official: ``labels_rgb`` by palette match) or ``"semantic"``.
        return_instances: also return ``objects`` (``<subset>/<uid>/objects.json``, parsed JSON) and
            ``instances`` ``int64 [T, H, W]`` (``instances/{k}.png``, grey instance ids, 0 = none) — synthetic
            set.
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
        objects_path = inside_root(clip.root, clip.clip_dir / "objects.json")
        objects = read_json(objects_path)
        problems = check_objects(objects, clip.num_frames)
        if problems:
            raise DatasetError(objects_path, "; ".join(problems))
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
