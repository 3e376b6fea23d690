"""Tiny AVSBench trees in the exact release layouts, for the dataset / validation / fuzz tests.

Frames are small (H×W = 24×32) and labels are hand-placed rectangles, so tests can check decoded values
exactly.
Layouts: ``docs/avsbench.md`` §1 (v1s train clips carry only ``0.png``; MS3 frames ``{id}.mp4_{k}.png`` with
no split level; S4/MS3 ``.pkl`` log-mels are stdlib pickles of a torch tensor with ``requires_grad=True``).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from PIL import Image

from stepstones_lite.data import label2idx, palette

H, W = 24, 32
SR = 16000

# (subset, uid, split, class ids present) — v1s train has a single label file
AVSS_CLIPS = [
    ("v1s", "-abcDEF_123_4000_9000", "train", (17,)),  # dog; uid starts with '-' like real ids
    ("v1s", "xyz_0_5000", "val", (48,)),  # piano
    ("v1m", "_19NVGk6Zt8_0", "train", (28, 41)),  # guitar + man
    ("v2", "vid2_60000_70000", "test", (70, 1)),  # woman + accordion
]
FRAMES = {"v1s": 5, "v1m": 5, "v2": 10}


def label_map(class_ids: tuple[int, ...], k: int) -> np.ndarray:
    """Hand-made label of frame ``k``: class ``class_ids[j]`` fills a rectangle that moves with k.
    ``int64 [H, W]``."""
    lab = np.zeros((H, W), dtype=np.int64)
    for j, c in enumerate(class_ids):
        top, left = 2 + 10 * j, (2 + k) % (W - 10)
        lab[top : top + 8, left : left + 9] = c
    return lab


def frame_image(k: int, seed: int) -> np.ndarray:
    """A smooth RGB frame (JPEG-friendly). ``uint8 [H, W, 3]``."""
    yy, xx = np.mgrid[0:H, 0:W]
    rgb = np.stack(
        [(xx * 7 + 20 * k + seed) % 256, (yy * 9 + seed * 3) % 256, np.full((H, W), 40 * k % 256)], -1
    )
    return rgb.astype(np.uint8)


def tone(seconds: float, freq: float = 440.0, sr: int = SR, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    wave = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return wave if channels == 1 else np.stack([wave] * channels, -1)


def write_colour_label(path: Path, lab: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(palette()[lab]).save(path)


def write_grey(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8), mode="L").save(path)


def write_frame(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, quality=90) if path.suffix == ".jpg" else Image.fromarray(rgb).save(path)


def make_avss_tree(root: Path, instances: bool = True) -> Path:
    """AVSBench-semantic tree: metadata.csv, label2idx.json, v1s (train clip with only 0.png), v1m, v2 (10
    frames)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "label2idx.json").write_text(json.dumps(label2idx(), indent=4))
    rows = ["vid,uid,s_min,s_sec,a_obj,split,label"]
    for n, (subset, uid, split, classes) in enumerate(AVSS_CLIPS):
        vid = uid if subset == "v1m" else uid.rsplit("_", 2)[0]
        rows.append(f"{vid},{uid},0,0,{'_'.join(str(c) for c in classes)},{split},{subset}")
        clip = root / subset / uid
        t = FRAMES[subset]
        for k in range(t):
            write_frame(clip / "frames" / f"{k}.jpg", frame_image(k, n * 31))
            if subset == "v1s" and split == "train" and k > 0:
                continue
            lab = label_map(classes, k)
            write_colour_label(clip / "labels_rgb" / f"{k}.png", lab)
            write_grey(clip / "labels_semantic" / f"{k}.png", lab)
            if instances:
                inst = np.zeros((H, W), dtype=np.uint8)
                for j, c in enumerate(classes):
                    inst[lab == c] = j + 1
                write_grey(clip / "instances" / f"{k}.png", inst)
        if instances:
            objs = [
                {"id": j + 1, "class": c, "sounding": [True] * t}  # like the generator's sidecar
                for j, c in enumerate(classes)
            ]
            (clip / "objects.json").write_text(json.dumps({"uid": uid, "num_frames": t, "objects": objs}))
        sf.write(clip / "audio.wav", tone(t, 300 + 100 * n), SR, subtype="PCM_16")
    (root / "metadata.csv").write_text("\n".join(rows))  # no final newline, like the release
    return root


def prior_map(k: int) -> np.ndarray:
    """0/255 prior of frame k. ``uint8 [H, W]``."""
    arr = np.zeros((H, W), dtype=np.uint8)
    arr[k : k + 5, :6] = 255
    return arr


def make_priors(prior_root: Path, clips: list[tuple[str, str, int]]) -> Path:
    """``<prior_root>/<subset>/<uid>/<k>.png`` for (subset, uid, T) triples."""
    for subset, uid, t in clips:
        for k in range(t):
            write_grey(prior_root / subset / uid / f"{k}.png", prior_map(k))
    return prior_root


def binary_mask(k: int, j: int) -> np.ndarray:
    """0/1 object mask of frame k of clip j. ``uint8 [H, W]``."""
    arr = np.zeros((H, W), dtype=np.uint8)
    arr[3 + j : 10 + j, 4 + k : 14 + k] = 1
    return arr


def pkl_log_mel(j: int) -> torch.Tensor:
    """A recognisable [5, 1, 96, 64] log-mel, built like ``preprocess_s4.py``
    (requires_grad leaf, [:, None])."""
    x = np.full((5, 96, 64), float(j) + 0.5, dtype=np.float32) + np.arange(5, dtype=np.float32)[:, None, None]
    return torch.tensor(x, requires_grad=True)[:, None].float()


S4_CLIPS = [
    ("-dogclip", 3, "dog_barking", "train"),
    ("_piano1", 0, "playing_piano", "val"),
    ("car9", 5, "race_car", "test"),
]
MS3_CLIPS = [("_19NVGk6Zt8_0", "train"), ("jlhuZfcw61w", "val"), ("abcdefghijk_2", "test")]


def make_s4_tree(root: Path, stereo: bool = True) -> Path:
    """``Single-source/``: s4_meta_data.csv + s4_data/{visual_frames,gt_masks,audio_wav,audio_log_mel}.

    The val clip has no ``.pkl`` (exercises the wav fallback); train has mask ``_1`` only.
    """
    data = root / "s4_data"
    rows = ["name,start,category,split"]
    for j, (name, start, cat, split) in enumerate(S4_CLIPS):
        rows.append(f"{name},{start},{cat},{split}")
        for k in range(1, 6):
            write_frame(data / "visual_frames" / split / cat / name / f"{name}_{k}.png", frame_image(k, j))
            if split != "train" or k == 1:
                write_grey(
                    data / "gt_masks" / split / cat / name / f"{name}_{k}.png", binary_mask(k, j) * 255
                )
        wav = data / "audio_wav" / split / cat / f"{name}.wav"
        wav.parent.mkdir(parents=True, exist_ok=True)
        sf.write(wav, tone(5, 500 + 50 * j, channels=2 if stereo else 1), SR, subtype="PCM_16")
        if split != "val":
            pkl = data / "audio_log_mel" / split / cat / f"{name}.pkl"
            pkl.parent.mkdir(parents=True, exist_ok=True)
            with open(pkl, "wb") as fh:
                pickle.dump(pkl_log_mel(j), fh)
    (root / "s4_meta_data.csv").write_text("\n".join(rows) + "\n")
    return root


def make_ms3_tree(root: Path) -> Path:
    """``Multi-sources/``: ms3_meta_data.csv + ms3_data (frames ``{id}/{id}.mp4_{k}.png`` without split
    level)."""
    data = root / "ms3_data"
    rows = ["video_id,split"]
    for j, (vid, split) in enumerate(MS3_CLIPS):
        rows.append(f"{vid},{split}")
        for k in range(1, 6):
            write_frame(data / "visual_frames" / vid / f"{vid}.mp4_{k}.png", frame_image(k, 7 * j))
            write_grey(data / "gt_masks" / split / vid / f"{vid}_{k}.png", binary_mask(k, j) * 255)
        wav = data / "audio_wav" / split / f"{vid}.wav"
        wav.parent.mkdir(parents=True, exist_ok=True)
        sf.write(wav, tone(5, 700, channels=2), 44100, subtype="PCM_16")  # not 16 kHz: resampled at load
        pkl = data / "audio_log_mel" / split / f"{vid}.pkl"
        pkl.parent.mkdir(parents=True, exist_ok=True)
        with open(pkl, "wb") as fh:
            pickle.dump(pkl_log_mel(10 + j), fh)
    (root / "ms3_meta_data.csv").write_text("\n".join(rows) + "\n")
    return root
