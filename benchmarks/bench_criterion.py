"""Batched matcher + criterion vs the same work done frame by frame (a per-frame Python loop).

Run:  python benchmarks/bench_criterion.py [--frames 5 --queries 16 --classes 71 --size 48 --layers 1]
Prints median milliseconds per call and the loop/batched ratio, forward only and forward+backward.
"""

from __future__ import annotations

import argparse

import torch
from _common import median_ms

from stepstones_lite.model.criterion import SetCriterion, targets_from_labels
from stepstones_lite.model.matcher import HungarianMatcher


def make_case(
    frames: int, queries: int, classes: int, size: int, label_size: int, layers: int, seed: int = 0
) -> tuple[dict, list[dict]]:
    """Random predictions (``layers`` of them: last + aux) and label maps with a few blob classes."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.zeros(frames, label_size, label_size, dtype=torch.int64)
    for i in range(frames):
        for c in torch.randint(1, classes, (3,), generator=gen).tolist():
            y, x = torch.randint(0, label_size // 2, (2,), generator=gen).tolist()
            labels[i, y : y + label_size // 3, x : x + label_size // 3] = c
    layer = lambda: {  # noqa: E731
        "pred_logits": torch.randn(frames, queries, classes + 1, generator=gen).requires_grad_(True),
        "pred_masks": torch.randn(frames, queries, size, size, generator=gen).requires_grad_(True),
    }
    outputs = layer()
    outputs["aux_outputs"] = [layer() for _ in range(layers - 1)]
    return outputs, targets_from_labels(labels, classes)


def frame_slice(outputs: dict, i: int) -> dict:
    out = {k: outputs[k][i : i + 1] for k in ("pred_logits", "pred_masks")}
    out["aux_outputs"] = [frame_slice(a, i) for a in outputs.get("aux_outputs", [])]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--frames", type=int, default=5)
    p.add_argument("--queries", type=int, default=16)
    p.add_argument("--classes", type=int, default=71, help="real classes; logits get one more (no-object)")
    p.add_argument("--size", type=int, default=48, help="prediction mask size")
    p.add_argument("--label-size", type=int, default=48, help="target mask size")
    p.add_argument("--layers", type=int, default=1, help="predictions scored (1 = no deep supervision)")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    a = args
    outputs, targets = make_case(a.frames, a.queries, a.classes, a.size, a.label_size, a.layers)
    print(
        f"N={a.frames} Q={a.queries} C+1={a.classes + 1} masks {a.size}² targets {a.label_size}² "
        f"layers={a.layers} threads={a.threads}; median of {a.repeats} (ms)"
    )
    for num_points in (12544, 1024, None):
        matcher = HungarianMatcher(num_points=num_points)
        crit = SetCriterion(args.classes, matcher, num_points=num_points)

        def batched_match():
            matcher(outputs, targets)

        def loop_match():
            for i in range(args.frames):
                matcher(frame_slice(outputs, i), targets[i : i + 1])

        def batched(backward: bool):
            loss = crit(outputs, targets)["loss"]
            if backward:
                loss.backward()

        def loop(backward: bool):
            for i in range(args.frames):
                loss = crit(frame_slice(outputs, i), targets[i : i + 1])["loss"]
                if backward:
                    loss.backward()

        r = a.repeats
        rows = [
            ("matcher", median_ms(batched_match, r), median_ms(loop_match, r)),
            ("criterion fwd", median_ms(lambda: batched(False), r), median_ms(lambda: loop(False), r)),
            ("criterion fwd+bwd", median_ms(lambda: batched(True), r), median_ms(lambda: loop(True), r)),
        ]
        for name, b, lp in rows:
            print(
                f"num_points={str(num_points):>5}  {name:<18} batched {b:7.2f}  per-frame loop {lp:7.2f}  "
                f"loop/batched {lp / b:4.2f}x"
            )


if __name__ == "__main__":
    main()
