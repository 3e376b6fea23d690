"""CUDA check for a GPU machine: the smoke pipeline on the GPU (AMP on) and one paper-size training step.

Run (on a machine with CUDA; the synthetic generator's extras need not be there, a dataset can be carried):
``STEPSTONES_ARTIFACTS=/tmp/art python benchmarks/gpu_check.py --data <smoke dataset root>
--out gpu_check.json``

1. ``Course`` on the ``smoke`` profile with ``device="auto"`` (must resolve to CUDA): stand-ins, stage 1,
   priors, stage 2, end to end, evaluation; every loss in the histories must be finite. Autocast is bf16 where
   supported.
2. The ``paper`` profile's AAVS (Swin-B + 6 deformable encoder layers + 9 masked-attention layers, 100
   queries, 384 px, random weights: nothing is downloaded) through ``AVSTask.loss``: forward + backward +
   AdamW step under autocast, one clip of 5 frames, timed after warm-up, with the peak GPU memory.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from stepstones_lite.config import resolve_profile
from stepstones_lite.train import Course
from stepstones_lite.train.pipeline import STAGE1, _new_model, build_criterion
from stepstones_lite.train.tasks import AVSTask
from stepstones_lite.utils import autocast, resolve_device, seed_everything


def smoke_pipeline(data: str, steps: int) -> dict:
    profile = resolve_profile(
        "smoke",
        train__device="auto",
        train__stage1_steps=steps,
        train__stage2_steps=steps,
        train__eval_every=max(1, steps // 2),
    )
    runs = Course(profile, data_root=data, progress=False)
    out: dict = {}

    def timed(name: str, build, **evaluate) -> Path:
        t = time.perf_counter()
        run = build()
        out[f"{name}_seconds"] = round(time.perf_counter() - t, 1)
        history = Course.history(run)
        losses = [r["train_loss"] for r in history if "train_loss" in r]
        out[f"{name}_losses_finite"] = bool(losses) and all(math.isfinite(x) for x in losses)
        out[f"{name}_sec_per_step"] = history[-1].get("sec_per_step") if history else None
        out[f"{name}_metrics"] = runs.evaluate(run, **evaluate)
        return run

    s1 = timed("stage1", lambda: runs.stage1(0))
    timed("stage2", lambda: runs.stage2(0, runs.stage1_priors(s1)), prior="gt")
    timed("end_to_end", lambda: runs.end_to_end(0))
    return out


def paper_step(steps: int = 5) -> dict:
    profile = resolve_profile("paper", train__device="auto")
    device = resolve_device("auto")
    seed_everything(0)
    model = _new_model(profile, STAGE1).to(device)
    task = AVSTask(build_criterion(profile, 2))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, fused=True)
    t_frames, side = profile.data.num_frames, profile.data.image_size
    masks = torch.zeros(1, t_frames, side, side, device=device)
    masks[..., side // 4 : side // 2, side // 4 : side // 2] = 1.0
    batch = {
        "frames": torch.rand(1, t_frames, 3, side, side, device=device),
        "log_mel": torch.randn(1, t_frames, 1, 96, 64, device=device),
        "valid": torch.ones(1, t_frames, dtype=torch.bool, device=device),
        "masks": masks,
    }
    model.train()
    times = []
    torch.cuda.reset_peak_memory_stats()
    for i in range(steps + 2):
        torch.cuda.synchronize()
        t = time.perf_counter()
        with autocast(device, True):
            loss, _ = task.loss(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        torch.cuda.synchronize()
        if i >= 2:  # two warm-up steps
            times.append(time.perf_counter() - t)
    return {
        "paper_step_ms": round(1000 * sum(times) / len(times), 1),
        "paper_loss_finite": math.isfinite(float(loss.detach())),
        "paper_peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
        "trainable_params_m": round(sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--out", default="gpu_check.json")
    args = ap.parse_args()
    device = resolve_device("auto")
    rec = {
        "device": str(device),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if device.type == "cuda" else None,
        "bf16": bool(device.type == "cuda" and torch.cuda.is_bf16_supported()),
    }
    print(rec, flush=True)
    if device.type != "cuda":
        raise SystemExit("no CUDA device: this check is for a GPU machine")
    for part in (lambda: smoke_pipeline(args.data, args.steps), paper_step):
        try:
            rec.update(part())
        except Exception as exc:  # report and go on: one failing part must not hide the other's result
            import traceback

            rec.setdefault("errors", []).append(traceback.format_exc())
            print(f"FAILED: {exc!r}", flush=True)
        print(json.dumps(rec, indent=1, default=str)[:4000], flush=True)
    with open(args.out, "w") as f:
        json.dump(rec, f, indent=1, default=str)


if __name__ == "__main__":
    main()
