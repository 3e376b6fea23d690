"""Throughput of the AVSS loader from disk vs the in-memory cache (``preload=True``), and of validate_dataset.

Usage:  python benchmarks/bench_loaders.py [--clips 48] [--size 112] [--image-size 96] [--threads 1]

Builds a throw-away AVSBench-semantic tree (v1m clips: 5 JPEG frames, colour + index labels, 5 s 16 kHz mono
wav) in a temporary folder, then prints clips/s for ``validate_dataset``, one pass over ``AVSBenchSemantic``
reading from disk (decode + resize + log-mel), the ``preload`` construction, a pass served from the cache, and
the ratio cache/disk and the cache's memory per clip — what a CPU classroom gains by caching small clips that
an epoch loop re-reads many times.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from PIL import Image

from stepstones_lite.data import AVSBenchSemantic, label2idx, palette, validate_dataset


def build_tree(root: Path, clips: int, size: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    (root / "label2idx.json").write_text(json.dumps(label2idx(), indent=4))
    rows = ["vid,uid,s_min,s_sec,a_obj,split,label"]
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(clips):
        uid = f"bench{i:05d}_0_5000"
        rows.append(f"bench{i:05d},{uid},0,0,dog,train,v1m")
        clip = root / "v1m" / uid
        for sub in ("frames", "labels_rgb", "labels_semantic"):
            (clip / sub).mkdir(parents=True)
        cls = int(rng.integers(1, 71))
        for k in range(5):
            rgb = np.stack(
                [(xx * 3 + k * 9) % 256, (yy * 5 + i) % 256, rng.integers(0, 256, (size, size))], -1
            )
            Image.fromarray(rgb.astype(np.uint8)).save(clip / "frames" / f"{k}.jpg", quality=90)
            lab = np.zeros((size, size), np.uint8)
            lab[size // 4 : size // 2, k : k + size // 3] = cls
            Image.fromarray(palette()[lab]).save(clip / "labels_rgb" / f"{k}.png")
            Image.fromarray(lab, mode="L").save(clip / "labels_semantic" / f"{k}.png")
        wave = (0.2 * rng.standard_normal(5 * 16000)).astype(np.float32)
        sf.write(clip / "audio.wav", wave, 16000, subtype="PCM_16")
    (root / "metadata.csv").write_text("\n".join(rows))
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=48)
    ap.add_argument("--size", type=int, default=112, help="stored frame side (px)")
    ap.add_argument("--image-size", type=int, default=96, help="loader output side (px)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = build_tree(Path(tmp) / "avss", args.clips, args.size)
        n = args.clips

        t0 = time.perf_counter()
        validate_dataset(root)
        t_val = time.perf_counter() - t0

        ds = AVSBenchSemantic(root, split="train", image_size=args.image_size)
        ds[0]  # warm-up (front-end caches)
        t0 = time.perf_counter()
        for item in ds:
            pass
        t_disk = time.perf_counter() - t0

        t0 = time.perf_counter()
        cached = AVSBenchSemantic(root, split="train", image_size=args.image_size, preload=True)
        t_pre = time.perf_counter() - t0
        t0 = time.perf_counter()
        for item in cached:
            pass
        t_cache = time.perf_counter() - t0
        cache_bytes = sum(
            v.nbytes for raw in cached._cache.values() for v in raw.values() if torch.is_tensor(v)
        )

    print(f"{n} v1m clips, stored {args.size}px -> {args.image_size}px, {args.threads} thread(s)")
    print(f"validate_dataset        {n / t_val:8.1f} clips/s")
    print(f"dataset pass from disk  {n / t_disk:8.1f} clips/s")
    print(f"preload construction    {n / t_pre:8.1f} clips/s")
    print(f"dataset pass from cache {n / t_cache:8.1f} clips/s")
    print(f"cache / disk speed-up   {t_disk / t_cache:8.1f}x")
    print(f"cache memory            {cache_bytes / n / 2**20:8.2f} MB/clip")


if __name__ == "__main__":
    main()
