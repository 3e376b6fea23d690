"""Check a whole AVSBench tree before training and report every problem at once.

``validate_dataset(root)`` recognises the release by its metadata file — ``metadata.csv`` (AVSBench-semantic /
our synthetic set), ``s4_meta_data.csv`` (``Single-source/``) or ``ms3_meta_data.csv`` (``Multi-sources/``) —
walks every clip the loaders would read (same path rules: :mod:`stepstones_lite.data.avsbench`) and decodes
every file. If anything is wrong it raises a single :class:`DatasetError` whose ``.problems`` lists each file
and what is wrong.

Rules (``docs/avsbench.md`` §1):

* metadata: the release header columns must be present; split ∈ train/val/test, subset ∈ v1s/v1m/v2, uids
  plain folder names (no ``/``, ``..``, absolute paths), unique; ``label2idx.json`` must be the 71-class
  mapping.
* every path (after resolving symlinks) must stay inside the root (or ``prior_root`` for priors).
* frames decode and share one size per clip; labels exist where the release has them (v1s train: ``0.png``
  only), decode by exact palette match (off-palette colours are an error here, while AVSBench's loader maps
  them to background), have the frame size (or its aspect ratio: noted, resized NEAREST at load);
  ``labels_semantic`` (if present) equals the decoded ``labels_rgb``; S4/MS3 masks are 0/255 (or 0/1).
* audio: wavs must decode and be non-empty with at least one 0.96 s example. Sample rate / channels: the AVSS
  layout written by our generator (``dataset.json`` with ``"generator": "stepstones_lite.data.synthetic"``, or
  a ``synthetic.json`` marker) or ``audio_rule="strict"`` must be 16 kHz
  mono; real releases (S4/MS3 wavs are stereo per moviepy) are accepted and *noted* — the front end averages
  channels and resamples. S4/MS3 ``.pkl`` log-mels are read with the restricted unpickler and must be
  ``[n, 1, 96, 64]``; a clip needs a pkl or a wav.
* optional: ``objects.json`` + ``instances/{k}.png`` (synthetic set: ``objects.json`` a JSON object whose
  ``"objects"`` list holds ``{"id": int, "sounding": [bool] * T, ...}``; grey instance ids, each declared as
  an ``"id"`` in ``objects.json``) and prior PNGs under ``prior_root``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .avsbench import (
    ClipFiles,
    check_label2idx,
    check_objects,
    odd_frames,
    read_avss_metadata,
    read_object_metadata,
    same_aspect,
)
from .errors import DatasetError
from .io import (
    inside_root,
    read_binary_mask,
    read_colour_label,
    read_grey,
    read_index_label,
    read_json,
    read_pickled_log_mel,
    read_rgb,
    read_wav,
)

__all__ = ["ValidationReport", "benchmark_classes", "detect_layout", "validate_dataset"]

MIN_SAMPLES_16K = 15600  # 0.975 s: one VGGish example (400-sample window + 95 hops of 160)


@dataclass
class ValidationReport:
    """What :func:`validate_dataset` checked (only returned when no problem was found)."""

    root: Path
    layout: str  # "avss", "s4" or "ms3"
    num_clips: int
    counts: dict[str, int]  # clips per "<subset>/<split>"
    files_checked: int
    notes: list[str] = field(default_factory=list)  # accepted oddities (e.g. stereo 44.1 kHz wavs)

    def __str__(self) -> str:
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(self.counts.items()))
        lines = [
            f"{self.root} ({self.layout}): {self.num_clips} clips OK, "
            f"{self.files_checked} files checked [{counts}]"
        ]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def detect_layout(root: str | os.PathLike[str]) -> str:
    """``"avss"``, ``"s4"`` or ``"ms3"`` from the metadata file present in ``root``."""
    root = Path(root)
    for name, layout in (("metadata.csv", "avss"), ("s4_meta_data.csv", "s4"), ("ms3_meta_data.csv", "ms3")):
        if os.path.lexists(root / name):
            return layout
    raise DatasetError(root, "no metadata.csv, s4_meta_data.csv or ms3_meta_data.csv: not an AVSBench root")


class _Checker:
    """Collects problems instead of stopping at the first one."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.files = 0

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        self.files += 1
        try:
            return fn(*args)
        except DatasetError as err:
            self.problems.append(str(err))
            return None


def _check_size(
    chk: _Checker, path: Path, shape: tuple[int, ...], frame: tuple[int, int], rescaled: list
) -> None:
    """Label-like maps must have their frame's size, or its aspect ratio (then rescaled at load, and
    noted)."""
    if tuple(shape[:2]) == tuple(frame):
        return
    if same_aspect(shape[:2], frame):
        rescaled.append(path)
    else:
        chk.problems.append(f"{path}: size {tuple(shape[:2])} does not match its frame {tuple(frame)}")


def _check_clip(
    clip: ClipFiles,
    chk: _Checker,
    strict_audio: bool,
    prior_root: Path | None,
    wav_stats: Counter,
    notes: list[str],
    rescaled: list[Path],
) -> None:
    root = clip.root
    if clip.clip_dir is not None:
        if chk.run(inside_root, root, clip.clip_dir) is None:
            return
        if not os.path.isdir(clip.clip_dir):
            chk.problems.append(
                f"{clip.clip_dir}: clip folder missing (uid {clip.uid!r}, subset {clip.subset})"
            )
            return

    def guarded(reader: Callable[..., Any], path: Path, *args: Any) -> Any:
        return chk.run(lambda: reader(inside_root(root, path), *args))

    # frames
    sizes: dict[int, tuple[int, int]] = {}
    for k, path in enumerate(clip.frames):
        rgb = guarded(read_rgb, path)
        if rgb is not None:
            sizes[k] = rgb.shape[:2]
    ref, odd = odd_frames(sizes)
    for k in odd:
        chk.problems.append(f"{clip.frames[k]}: frame size {sizes[k]} differs from the other frames' {ref}")

    # labels (+ labels_semantic agreement)
    for k, path in enumerate(clip.labels):
        if path is None:
            continue
        if clip.label_kind == "binary":
            lab = guarded(read_binary_mask, path, True)
        else:
            lab = guarded(read_colour_label, path, True)
        if lab is None:
            continue
        if k in sizes:
            _check_size(chk, path, lab.shape, sizes[k], rescaled)
        sem_path = clip.semantic[k] if clip.semantic else None
        if sem_path is not None and os.path.isdir(sem_path.parent):
            sem = guarded(read_index_label, sem_path)
            if sem is not None:
                if sem.shape != lab.shape:
                    chk.problems.append(f"{sem_path}: size {sem.shape} differs from labels_rgb {lab.shape}")
                elif not np.array_equal(sem, lab):
                    n = int((sem != lab).sum())
                    chk.problems.append(f"{sem_path}: disagrees with {path} on {n} pixels")

    # audio
    has_pkl = clip.pkl is not None and os.path.lexists(clip.pkl)
    has_wav = clip.wav is not None and os.path.lexists(clip.wav)
    if has_pkl:
        mel = guarded(read_pickled_log_mel, clip.pkl)
        if mel is not None and mel.shape[0] != clip.num_frames:
            notes.append(
                f"{clip.pkl}: {mel.shape[0]} log-mel examples for {clip.num_frames} frames (padded/trimmed)"
            )
    if has_wav or clip.pkl is None:
        audio = guarded(read_wav, clip.wav)
        if audio is not None:
            wave, rate, channels = audio
            wav_stats[(rate, channels)] += 1
            if strict_audio and (rate != 16000 or channels != 1):
                chk.problems.append(
                    f"{clip.wav}: {rate} Hz, {channels} channel(s); this dataset requires 16 kHz mono"
                )
            if len(wave) * 16000 / rate < MIN_SAMPLES_16K:
                chk.problems.append(
                    f"{clip.wav}: {len(wave) / rate:.3f} s is shorter than one 0.96 s VGGish example"
                )
    elif not has_pkl:
        chk.problems.append(f"{clip.pkl}: no log-mel pickle and no wav ({clip.wav})")

    # synthetic instances
    if clip.clip_dir is not None and os.path.lexists(clip.clip_dir / "objects.json"):
        objects_path = clip.clip_dir / "objects.json"
        parsed = guarded(lambda path: (read_json(path),), objects_path)  # None: unreadable, a problem already
        bad = ["unreadable"] if parsed is None else check_objects(parsed[0], clip.num_frames)
        chk.problems += [f"{objects_path}: {p}" for p in bad[:3] if parsed is not None]
        ids = None if bad else _object_ids(parsed[0])
        for k, path in enumerate(clip.labels):
            if path is None:
                continue
            inst = guarded(read_grey, clip.clip_dir / "instances" / f"{k}.png")
            if inst is None:
                continue
            if k in sizes:
                _check_size(chk, clip.clip_dir / "instances" / f"{k}.png", inst.shape, sizes[k], rescaled)
            unknown = sorted(set(np.unique(inst).tolist()) - {0} - (ids or set())) if ids is not None else []
            if unknown:
                chk.problems.append(
                    f"{clip.clip_dir / 'instances' / f'{k}.png'}: instance ids {unknown[:5]} "
                    "not in objects.json"
                )

    # priors
    if prior_root is not None:
        for k in range(clip.num_frames):
            path = prior_root / clip.subset / clip.uid / f"{k}.png"
            prior = chk.run(lambda p=path: read_binary_mask(inside_root(prior_root, p), True))
            if prior is not None and k in sizes:
                _check_size(chk, path, prior.shape, sizes[k], rescaled)


def _is_synthetic(root: Path, problems: list[str]) -> bool:
    """True for our generator's output: ``dataset.json`` with
    ``"generator": "stepstones_lite.data.synthetic"`` (or a bare ``synthetic.json`` marker)."""
    if os.path.lexists(root / "synthetic.json"):
        return True
    if not os.path.lexists(root / "dataset.json"):
        return False
    try:
        info = read_json(inside_root(root, root / "dataset.json"))
    except DatasetError as err:
        problems.append(str(err))
        return False
    return isinstance(info, dict) and str(info.get("generator", "")).startswith(
        "stepstones_lite.data.synthetic"
    )


def benchmark_classes(root: str | os.PathLike[str]) -> tuple[int, ...]:
    """The class indices a benchmark can contain: its label space, background (0) included.

    AVSBench-semantic's label space is all 71 classes, so the official mIoU averages over all of them (a class
    that never occurs scores 0 and stays in the denominator, docs/avsbench.md §3.3). Our synthetic set
    declares the sounding classes it draws from in ``dataset.json`` (``config.classes``); never-sounding props
    are unlabelled (background). Averaging over *that* label space is the same formula on the benchmark's own
    classes — the number the CPU prototypes (docs/feasibility.md) call "AVSS mIoU" — while the 71-class
    mean of a 17-class benchmark is capped at 18/71. Unknown or unreadable metadata falls back to all 71
    classes.
    """
    from .classes import NUM_AVSS_CLASSES, class_index

    root = Path(root)
    everything = tuple(range(NUM_AVSS_CLASSES))
    if not _is_synthetic(root, []) or not os.path.lexists(root / "dataset.json"):
        return everything
    try:
        info = read_json(inside_root(root, root / "dataset.json"))
        names = info["config"]["classes"]
        indices = sorted({class_index(str(n)) for n in names} - {0})
    except (DatasetError, KeyError, TypeError):
        return everything
    return (0, *indices) if indices else everything


def _object_ids(objects: dict[str, Any]) -> set[int]:
    """Instance ids declared in a well-formed ``objects.json`` (see :func:`~.readers.check_objects`)."""
    return {int(o["id"]) for o in objects["objects"]}


def validate_dataset(
    root: str | os.PathLike[str] | None = None,
    *,
    prior_root: str | os.PathLike[str] | None = None,
    audio_rule: str = "auto",
    progress: bool = False,
) -> ValidationReport:
    """Check every file of an AVSBench(-style) tree; raise one ``DatasetError`` listing all problems.

    Args:
        root: AVSS root (``metadata.csv``), ``Single-source/`` or ``Multi-sources/``; ``None``:
            ``$STEPSTONES_DATA``.
        prior_root: also check ``<prior_root>/<subset>/<uid>/<k>.png`` for every clip and frame.
        audio_rule: ``"strict"`` (16 kHz mono required), ``"note"`` (accept, list rates/channels in the notes)
            or ``"auto"``: strict for our synthetic set (``dataset.json`` generator marker), else note.
        progress: show a tqdm bar over clips.
    Returns:
        :class:`ValidationReport` (counts and notes) when nothing is wrong.
    Raises:
        DatasetError: with ``.problems`` = one line per bad file / row.
    """
    if audio_rule not in ("auto", "strict", "note"):
        raise ValueError(f"audio_rule must be 'auto', 'strict' or 'note', got {audio_rule!r}")
    if root is None:
        root = os.environ.get("STEPSTONES_DATA")
        if not root:
            raise DatasetError(None, "no dataset root given and $STEPSTONES_DATA is not set")
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(root, "dataset root is not a folder")
    layout = detect_layout(root)
    problems: list[str] = []
    if layout == "avss":
        problems += check_label2idx(root)
        clips, meta_problems = read_avss_metadata(root)
        strict_audio = audio_rule == "strict" or (audio_rule == "auto" and _is_synthetic(root, problems))
    else:
        clips, meta_problems = read_object_metadata(root, layout)
        strict_audio = audio_rule == "strict"
    problems += meta_problems
    if not clips and not meta_problems:
        name = "metadata.csv" if layout == "avss" else f"{layout}_meta_data.csv"
        problems.append(f"{root / name}: no clip rows (header only): no split has anything to train or score")
    if prior_root is not None and not Path(prior_root).is_dir():
        problems.append(f"{prior_root}: prior folder missing")
        prior_root = None

    chk = _Checker()
    chk.problems = problems
    wav_stats: Counter = Counter()
    notes: list[str] = []
    rescaled: list[Path] = []
    from tqdm.auto import tqdm

    prior = None if prior_root is None else Path(prior_root)
    for clip in tqdm(clips, desc=f"validate {root.name}", disable=not progress, leave=False):
        _check_clip(clip, chk, strict_audio, prior, wav_stats, notes, rescaled)
    if problems:
        raise DatasetError(root, f"{len(problems)} problem(s) found", problems)

    if wav_stats and set(wav_stats) != {(16000, 1)}:
        desc = ", ".join(f"{n}× {rate} Hz/{ch} ch" for (rate, ch), n in sorted(wav_stats.items()))
        notes.append(f"wavs: {desc}; channels are averaged and audio resampled to 16 kHz at load")
    if rescaled:
        notes.append(
            f"{len(rescaled)} label/instance/prior maps are stored at another resolution than their frames "
            f"(same aspect; resized NEAREST at load), e.g. {rescaled[0]}"
        )
    counts = Counter(f"{c.subset}/{c.split}" for c in clips)
    return ValidationReport(root, layout, len(clips), dict(counts), chk.files, notes)
