"""The paper-size AAVS forward vs Hugging Face Mask2Former (same configuration), on CPU, one run.

    PYTHONPATH=$PWD python benchmarks/bench_paper_vs_hf.py
        [--arch released|paper --repeats 3 --threads 2 --frames 5]

``--arch released`` (default): the released stage-2 checkpoints' architecture exactly
(``stepstones_lite.model.official.released_profile("avss")``: Swin-B with adapters, ``avs_adapt`` MLPs after
the attention output projections, mask fusion + prior attention mask + robust keys, 100 queries), fed as the
official code feeds it: 384-px frames, 128-d VGGish embeddings computed beforehand (``audio_encoder=
"precomputed"``) and a stage-1 prior. ``--arch paper``: the ``paper`` profile (no adapters' ``avs_adapt``, no
prior; the VGGish network runs inside the forward on log-mel input).

Both models: Swin-B (embed 128, depths 2-2-18-2, window 12) at 384 px, 100 queries, 9 masked-attention
layers (HF ``decoder_layers=10``), D 256, 8 heads, 6 deformable encoder layers, 71 labels, random init
(nothing is downloaded), inference mode, one 5-frame clip as the batch. Ours is the full AAVS forward
(ImageNet normalisation, timm Swin-B with adapters, VGGish audio + AAQG queries, msdeform pixel decoder,
masked-attention decoder); HF's is ``Mask2FormerForUniversalSegmentation`` on the normalised pixels.
The two are timed alternately (one warm-up each, counted with ``FlopCounterMode``, then ``--repeats``
rounds); the medians, their ratio (HF / ours: > 1 means ours is faster), FLOPs, achieved GFLOP/s and the
fraction of an fp32 matmul peak measured in the same run (20 x 1024^2 matmuls) are printed, with the
load average (the machine may be shared: compare ratios, not absolute times). Process CPU seconds per
forward are printed too: they depend less on other processes than wall time does.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from stepstones_lite.config import resolve_profile
from stepstones_lite.model import build_model, count_parameters
from stepstones_lite.model.official import OFFICIAL_INPUT_SIZE, build_official_model, released_profile


def matmul_peak(n: int = 1024, reps: int = 20) -> float:
    """fp32 GFLOP/s of ``reps`` square ``n x n`` matmuls (after one warm-up)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e9


def hf_model(size: int, classes: int, queries: int, layers: int):
    from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation, SwinConfig

    swin = SwinConfig(
        image_size=size,
        embed_dim=128,
        depths=[2, 2, 18, 2],
        num_heads=[4, 8, 16, 32],
        window_size=12,
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    cfg = Mask2FormerConfig(
        backbone_config=swin,
        use_pretrained_backbone=False,
        num_labels=classes,
        num_queries=queries,
        decoder_layers=layers + 1,
    )
    return Mask2FormerForUniversalSegmentation(cfg).eval()


def timed(fn) -> tuple[float, float]:
    """(wall s, process CPU s) of one call."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def flops_of(fn) -> int:
    """FLOPs of one call (under ``no_grad``: FlopCounterMode's module hooks fail in inference mode)."""
    with FlopCounterMode(display=False) as counter:
        fn(torch.no_grad)
    return counter.get_total_flops()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--arch",
        choices=("released", "paper"),
        default="released",
        help="released: the released AVSS checkpoints' architecture; paper: the paper profile",
    )
    ap.add_argument("--repeats", type=int, default=3, help="timed rounds after the warm-up (median)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=OFFICIAL_INPUT_SIZE)
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--classes", type=int, default=71)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    frames = torch.rand(args.frames, 3, args.size, args.size)
    if args.arch == "released":
        prof = released_profile("avss").replace(
            model={
                "audio_encoder": "precomputed",
                "backbone_img_size": args.size,
                "num_classes": args.classes,
            }
        )
        ours = build_official_model(prof, "avss").eval()
        inputs = (
            frames,
            torch.randn(args.frames, prof.model.audio_dim),
            torch.rand(args.frames, args.size, args.size),
        )
    else:
        prof = resolve_profile("paper", model__backbone_img_size=args.size)
        ours = build_model(prof.model, num_classes=args.classes).eval()
        inputs = (frames, torch.randn(args.frames, 1, 96, 64))
    queries, layers = prof.model.num_queries, prof.model.num_decoder_layers
    theirs = hf_model(args.size, args.classes, queries, layers)
    for model in (ours, theirs):  # inference only (FlopCounterMode's module hooks trip on grad-less views)
        model.requires_grad_(False)
    pixels = (
        frames - ours.pixel_mean
    ) / ours.pixel_std  # HF takes normalised pixels (its image processor's job)

    def run_ours(mode=torch.inference_mode):
        with mode():
            return ours(*inputs)

    def run_hf(mode=torch.inference_mode):
        with mode():
            return theirs(pixel_values=pixels)

    print(
        f"arch {args.arch}: {queries} queries, {layers} layers, avs_adapt {prof.model.avs_adapt}, "
        f"audio {prof.model.audio_encoder}, prior {'yes' if len(inputs) == 3 else 'no'}"
    )
    print(
        f"torch {torch.__version__}, threads {args.threads}, clip {args.frames} x 3 x {args.size}^2, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"params: ours {count_parameters(ours)['total'] / 1e6:.1f} M (audio "
        f"{count_parameters(ours.audio_encoder)['total'] / 1e6:.1f} M), "
        f"HF {count_parameters(theirs)['total'] / 1e6:.1f} M"
    )
    peak0 = matmul_peak()
    flops = {"ours": flops_of(run_ours), "hf": flops_of(run_hf)}  # doubles as the warm-up
    times: dict[str, list[tuple[float, float]]] = {"ours": [], "hf": []}
    for r in range(args.repeats):
        for name, fn in (
            (("ours", run_ours), ("hf", run_hf)) if r % 2 == 0 else (("hf", run_hf), ("ours", run_ours))
        ):
            times[name].append(timed(fn))
    peak = max(peak0, matmul_peak())
    print(f"fp32 matmul peak: {peak:.1f} GFLOP/s (best of two 20 x 1024^2 runs)")
    med = {}
    for name in ("ours", "hf"):
        wall = statistics.median(t[0] for t in times[name])
        cpu = statistics.median(t[1] for t in times[name])
        med[name] = (wall, cpu)
        rate = flops[name] / wall / 1e9
        print(
            f"{name:>5}: {wall:7.2f} s/clip wall (runs {', '.join(f'{t[0]:.2f}' for t in times[name])}), "
            f"{cpu:7.2f} s CPU, {flops[name] / 1e9:7.1f} GFLOP, {rate:5.1f} GFLOP/s = "
            f"{rate / peak:.0%} of peak"
        )
    print(
        f"ratio HF / ours: {med['hf'][0] / med['ours'][0]:.2f}x wall, "
        f"{med['hf'][1] / med['ours'][1]:.2f}x CPU "
        f"(> 1: ours faster); FLOP ratio HF / ours {flops['hf'] / flops['ours']:.2f}; "
        f"load average now {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
