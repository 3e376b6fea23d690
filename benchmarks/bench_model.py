"""Rough CPU speed of the AAVS model: one training step of the lite model, and a paper-profile forward.

Run:
``PYTHONPATH=. python benchmarks/bench_model.py [--threads 2] [--profile classroom] [--no-paper] [--compile]``

Prints ms/step for forward + a simple loss + backward + the trainer's AdamW step on one 5-frame clip, the
FLOPs of that step (``torch.utils.flop_counter.FlopCounterMode``, matmul/conv FLOPs only) and the achieved
FLOP/s as a fraction of an fp32 matmul peak measured in the same run (20 x 1024^2 matmuls after warm-up).
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
from stepstones_lite.train.engine import make_adamw


def matmul_peak(n: int = 1024, reps: int = 20) -> float:
    """fp32 matmul FLOP/s on this CPU with the current thread count."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t)


def simple_targets(out: dict, num_classes: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Fixed random targets for :func:`simple_loss`, made once so no step pays for random numbers."""
    gen = torch.Generator().manual_seed(0)
    targets = []
    for o in [out, *out["aux_outputs"]]:
        lg, mk = o["pred_logits"], o["pred_masks"]
        cls = torch.full(lg.shape[:2], num_classes, dtype=torch.long)
        cls[:, 0] = 0
        targets.append((cls, (torch.rand(mk.shape, generator=gen) > 0.8).float()))
    return targets


def simple_loss(out: dict, targets: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """Stand-in for the criterion: CE on every query's logits + BCE on every mask (all predictions)."""
    loss = 0.0
    for o, (cls, masks) in zip([out, *out["aux_outputs"]], targets):
        loss = loss + F.cross_entropy(o["pred_logits"].flatten(0, 1), cls.flatten())
        loss = loss + F.binary_cross_entropy_with_logits(o["pred_masks"], masks)
    return loss


def bench_train_step(profile: str, frames: int, steps: int, compiled: bool = False) -> dict:
    """ms per training step; with ``compiled`` also the ``torch.compile`` model (``train.compile=True``),
    timed step for step alternately with the eager one so both see the same machine load."""
    prof = resolve_profile(profile)
    size = prof.data.image_size
    torch.manual_seed(0)
    model = build_model(prof.model, num_classes=2).train()
    # the trainer's optimizer (fused AdamW where available), so the step is the one training runs
    opt = make_adamw([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.05)
    x, a = torch.rand(frames, 3, size, size), torch.randn(frames, 1, 96, 64)
    with torch.no_grad():
        targets = simple_targets(model(x, a), 2)
    variants = {"eager": model}
    if compiled:
        variants["compiled"] = torch.compile(model)

    def step(m: torch.nn.Module) -> None:
        opt.zero_grad(set_to_none=True)
        loss = simple_loss(m(x, a), targets)
        loss.backward()
        opt.step()

    compile_s = 0.0
    for name, m in variants.items():
        t = time.perf_counter()
        for _ in range(2):
            step(m)
        if name == "compiled":
            compile_s = time.perf_counter() - t
    with FlopCounterMode(display=False) as fc:
        step(model)
    flops = fc.get_total_flops()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(steps):
        for name, m in variants.items():
            t = time.perf_counter()
            step(m)
            times[name].append(time.perf_counter() - t)
    out = {
        "profile": profile,
        "size": size,
        "frames": frames,
        "params": count_parameters(model),
        "flops_per_step": flops,
        "compile_s": compile_s,
    }
    for name, ts in times.items():
        ms = statistics.median(ts) * 1000
        out[name] = {"ms_per_step": ms, "ms_min": min(ts) * 1000, "flops_per_s": flops / (ms / 1000)}
    return out


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
    ap.add_argument("--compile", action="store_true", help="also time the torch.compile model side by side")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    peak = matmul_peak()
    r = bench_train_step(args.profile, args.frames, args.steps, compiled=args.compile)
    peak = max(peak, matmul_peak())  # measured before and after; take the better
    print(f"threads {args.threads}; fp32 matmul peak (20 x 1024^2): {peak / 1e9:.1f} GFLOP/s")
    print(
        f"{r['profile']} training step, {r['frames']} frames at {r['size']} px, "
        f"{r['params']['total']:,} params ({r['params']['trainable']:,} trainable), "
        f"{r['flops_per_step'] / 1e9:.2f} GFLOP/step:"
    )
    for name in ("eager", "compiled"):
        if name in r:
            v = r[name]
            print(
                f"  {name:<9}{v['ms_per_step']:6.0f} ms/step (median of {args.steps}; "
                f"min {v['ms_min']:.0f}) -> "
                f"{v['flops_per_s'] / 1e9:.2f} GFLOP/s = {v['flops_per_s'] / peak:.1%} of the matmul peak"
            )
    if "compiled" in r:
        print(
            f"  compiled / eager speed: {r['eager']['ms_per_step'] / r['compiled']['ms_per_step']:.2f}x "
            f"(compilation took {r['compile_s']:.0f} s, paid once per run)"
        )
    if not args.no_paper:
        p = bench_paper_forward()
        print(
            f"paper profile forward (no grad), {p['frames']} frames at {p['size']} px, "
            f"{p['params']['total']:,} params: {p['s_per_clip']:.1f} s/clip"
        )


if __name__ == "__main__":
    main()
