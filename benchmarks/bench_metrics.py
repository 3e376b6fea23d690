"""Speed and agreement of stepstones_lite.metrics against loop references of the official AVSBench code.

The loop references (``tests/test_metrics.py``: ``ref_mask_iou``, ``ref_f_measure``, ``ref_avss``) follow the
official pseudo-code step by step (255-threshold loop, per-frame ``histc``). Prints time ratios and the
largest absolute difference; no assertion on time.

    PYTHONPATH=$PWD python benchmarks/bench_metrics.py [--threads 1] [--size 224]
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
from stepstones_lite.metrics import BinaryMeter, SemanticMeter, f_measure, mask_iou  # noqa: E402

_spec = importlib.util.spec_from_file_location("_metric_refs", ROOT / "tests" / "test_metrics.py")
_refs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_refs)
ref_avss, ref_avss_final, ref_f_measure, ref_mask_iou = (
    _refs.ref_avss,
    _refs.ref_avss_final,
    _refs.ref_f_measure,
    _refs.ref_mask_iou,
)


def timed(fn, *args, repeat=1):
    t0 = time.perf_counter()
    for _ in range(repeat):
        out = fn(*args)
    return out, (time.perf_counter() - t0) / repeat


def binary_case(n: int, size: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    gt = torch.zeros(n, size, size)
    for i in range(n):
        if i % 7 == 3:
            continue  # some silent frames
        y, x = torch.randint(0, size // 2, (2,), generator=g).tolist()
        gt[i, y : y + size // 3, x : x + size // 2] = 1
    logits = 3 * torch.randn(n, size, size, generator=g) + 4 * gt - 2
    return logits, gt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batches", type=int, default=6)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    s = args.size

    # --- binary: one official batch of 4 clips x 5 frames
    lg, gt = binary_case(20, s, 0)
    (ours_i, t_oi), (ref_i, t_ri) = timed(mask_iou, lg, gt, repeat=3), timed(ref_mask_iou, lg, gt, repeat=3)
    (ours_f, t_of), (ref_f, t_rf) = timed(f_measure, lg, gt), timed(ref_f_measure, lg, gt)
    print(
        f"mask_iou  [20,{s},{s}]: ours {t_oi * 1e3:7.1f} ms  loop-ref {t_ri * 1e3:7.1f} ms  "
        f"ratio {t_ri / t_oi:5.1f}x  |diff| {abs(ours_i - ref_i):.2e}"
    )
    print(
        f"f_measure [20,{s},{s}]: ours {t_of * 1e3:7.1f} ms  loop-ref {t_rf * 1e3:7.1f} ms  "
        f"ratio {t_rf / t_of:5.1f}x  |diff| {abs(ours_f - ref_f):.2e}"
    )

    # --- BinaryMeter over several batches vs AverageMeter over loop-reference batch values
    meter, mi_acc, f_acc = BinaryMeter(batch_videos=4), None, 0.0
    for b in range(args.batches):
        lg, gt = binary_case(20, s, 100 + b)
        meter.update(lg.view(4, 5, s, s), gt.view(4, 5, s, s))
        v = torch.tensor(ref_mask_iou(lg, gt), dtype=torch.float32)
        mi_acc = v if mi_acc is None else mi_acc + v
        f_acc += ref_f_measure(lg, gt)
    out = meter.compute()
    d_miou = abs(out["miou"] - (mi_acc / args.batches).item())
    d_f = abs(out["fscore"] - f_acc / args.batches)
    print(f"BinaryMeter ({args.batches} batches of 4 clips): |diff| miou {d_miou:.2e}  fscore {d_f:.2e}")

    # --- semantic: batches of 10 frames x 71 classes
    g = torch.Generator().manual_seed(1)
    sm, sums, t_o, t_r = SemanticMeter(num_classes=71), [torch.zeros(71) for _ in range(3)], 0.0, 0.0
    for b in range(args.batches // 2 or 1):
        labels = torch.zeros(10, s, s, dtype=torch.long)
        for i in range(10):
            for c in torch.randint(1, 71, (3,), generator=g).tolist():
                y, x = torch.randint(0, s // 2, (2,), generator=g).tolist()
                labels[i, y : y + s // 3, x : x + s // 3] = c
        logits = torch.randn(10, 71, s, s, generator=g)
        logits.scatter_add_(1, labels.unsqueeze(1), torch.full((10, 1, s, s), 2.5))
        _, dt = timed(sm.update, logits, labels)
        t_o += dt
        r, dt = timed(ref_avss, logits, labels, 71)
        t_r += dt
        for a, x in zip(sums, r):
            a += x
    out = sm.compute()
    rm, rf = ref_avss_final(sums)
    print(
        f"SemanticMeter [10,71,{s},{s}] x{args.batches // 2 or 1}: ours {t_o * 1e3:7.1f} ms  "
        f"loop-ref {t_r * 1e3:7.1f} ms  ratio {t_r / t_o:5.1f}x  "
        f"|diff| miou {abs(out['miou'] - rm):.2e} fscore {abs(out['fscore'] - rf):.2e}"
    )


if __name__ == "__main__":
    main()
