"""Rough CPU speed of the AAVS model: one training step of the lite model, and a paper-profile forward.

Run: ``PYTHONPATH=. python benchmarks/bench_model.py [--threads 2] [--profile classroom] [--no-paper]``

Prints ms/step for forward + a simple loss + backward + AdamW step on one 5-frame clip, the FLOPs of
that step (``torch.utils.flop_counter.FlopCounterMode``, matmul/conv FLOPs only) and the achieved FLOP/s
as a fraction of an fp32 matmul peak measured in the same run (20 x 1024^2 matmuls after warm-up).
The CPU may be shared with other jobs: treat the numbers as rough.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from stepstones_lite.config import resolve_profile
from stepstones_lite.model import build_model, count_parameters


def matmul_peak(n: int = 1024, reps: int = 20) -> float:
    """fp32 matmul FLOP/s on this CPU with the current thread count."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t)


def simple_loss(out: dict, num_classes: int) -> torch.Tensor:
    """Stand-in for the criterion: CE on every query's logits + BCE on every mask (all predictions)."""
    loss = 0.0
    for o in [out, *out["aux_outputs"]]:
        lg, mk = o["pred_logits"], o["pred_masks"]
        target = torch.full(lg.shape[:2], num_classes, dtype=torch.long)
        target[:, 0] = 0
        loss = loss + F.cross_entropy(lg.flatten(0, 1), target.flatten())
        loss = loss + F.binary_cross_entropy_with_logits(mk, (torch.rand_like(mk) > 0.8).float())
    return loss


def bench_train_step(profile: str, frames: int, steps: int) -> dict:
    prof = resolve_profile(profile)
    size = prof.data.image_size
    torch.manual_seed(0)
    model = build_model(prof.model, num_classes=2).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.05)
    x, a = torch.rand(frames, 3, size, size), torch.randn(frames, 1, 96, 64)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = simple_loss(model(x, a), 2)
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    with FlopCounterMode(display=False) as fc:
        step()
    flops = fc.get_total_flops()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    ms = statistics.median(times) * 1000
    return {"profile": profile, "size": size, "frames": frames, "params": count_parameters(model),
            "ms_per_step": ms, "ms_min": min(times) * 1000, "flops_per_step": flops, "flops_per_s": flops / (ms / 1000)}


def bench_paper_forward(frames: int = 5, size: int = 384) -> dict:
    prof = resolve_profile("paper", model__backbone_img_size=size)
    try:
        from stepstones_lite.audio import VGGish  # noqa: F401
    except ImportError:
        prof = resolve_profile(prof, model__audio_encoder="lite_cnn")
    model = build_model(prof.model, num_classes=71, use_prior=True).eval()
    x, a = torch.rand(frames, 3, size, size), torch.randn(frames, 1, 96, 64)
    prior = (torch.rand(frames, size, size) > 0.5).float()
    with torch.no_grad():
        model(x[:1], a[:1], prior[:1])  # warm-up
        t = time.perf_counter()
        model(x, a, prior)
        sec = time.perf_counter() - t
    return {"frames": frames, "size": size, "params": count_parameters(model), "s_per_clip": sec}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--profile", default="classroom")
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--no-paper", action="store_true", help="skip the paper-profile forward")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    peak = matmul_peak()
    r = bench_train_step(args.profile, args.frames, args.steps)
    peak = max(peak, matmul_peak())  # measured before and after; take the better
    print(f"threads {args.threads}; fp32 matmul peak (20 x 1024^2): {peak / 1e9:.1f} GFLOP/s")
    print(f"{r['profile']} training step, {r['frames']} frames at {r['size']} px, "
          f"{r['params']['total']:,} params ({r['params']['trainable']:,} trainable): "
          f"{r['ms_per_step']:.0f} ms/step (median of {args.steps}; min {r['ms_min']:.0f})")
    print(f"  {r['flops_per_step'] / 1e9:.2f} GFLOP/step -> {r['flops_per_s'] / 1e9:.2f} GFLOP/s "
          f"= {r['flops_per_s'] / peak:.1%} of the matmul peak")
    if not args.no_paper:
        p = bench_paper_forward()
        print(f"paper profile forward (no grad), {p['frames']} frames at {p['size']} px, "
              f"{p['params']['total']:,} params: {p['s_per_clip']:.1f} s/clip")


if __name__ == "__main__":
    main()
