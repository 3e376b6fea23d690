"""Where stage 1's false positives sit: never-sounding objects split by what could tell them apart (seed 0).

Run: ``stepstones study errors --stage 1 [--seed 0] [--levers ...]`` ->
``results/stage1_errors_classroom.json``.

Reads the test-split priors (stage-1 predictions, 0/255 PNGs) of the stage-1 levers of ``stage1_levers.py``
(cached ``Course`` runs, built if missing) and the synthetic set's sidecar (``objects.json`` +
``instances/``), and reports, as the share of an object's visible area predicted "sounding" (mean over
object-frames):

- ``fp_silent_pool``: distractors from the never-sounding pool (tree, cow, ...): no sound in the whole
  dataset, so vision alone could learn to skip them;
- ``fp_same_group`` / ``fp_other_group``: distractors of a sounding-capable class whose coarse super-class
  (``pretrain.group_of``) equals / differs from the super-class of an object sounding in that frame: the
  coarse stand-ins cannot tell a silent cat from a barking dog by label, only by what their features keep;
- ``fp_inactive``: sounding objects in the frames where they are silent (timing errors);
- ``recall_sounding``: sounding objects in their sounding frames (``recall_single`` / ``recall_multi``: in
  frames with one / several sounding objects); ``missed_sounding``: share of those object-frames with under
  20 % of the area found (whole objects missed rather than under-segmented);
- ``fp_background``: share of the pixels of no object predicted "sounding", over frames where something
  sounds.
Frames where no object sounds are left out of the distractor splits (nothing to match there).

It also tries one more lever, a decision offset: stage 1 calls a pixel "sounding" where
``s_sounding - s_background > offset`` (0 in the model); the offset is chosen on val (binary mIoU) and the
test mIoU at that offset is reported beside the one at 0.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from ..config import resolve_profile
from ..train import Course
from ..train.pretrain import group_of
from ..utils import atomic_write_json, project_root
from .provenance import command_line, provenance
from .stage1_levers import LEVERS, REGIME, lever_stage1  # the same variants, the same cached runs

DEFAULT = list(LEVERS)  # every lever of stage1_levers.py


def _load(path: Path, size: int) -> np.ndarray:
    img = Image.open(path)
    if img.size != (size, size):
        img = img.resize((size, size), Image.NEAREST)
    return np.asarray(img)


def error_split(root: Path, priors: Path, split: str = "test") -> dict[str, float]:
    """The shares described in the module docstring for one priors folder."""
    meta = pd.read_csv(root / "metadata.csv")
    units: dict[str, list[float]] = defaultdict(list)
    for row in meta[meta["split"] == split].itertuples():
        clip = root / row.label / row.uid
        info = json.loads((clip / "objects.json").read_text())
        for k in range(int(info["num_frames"])):
            ids = _load(clip / "instances" / f"{k}.png", int(info["size"]))
            pred = _load(priors / row.label / row.uid / f"{k}.png", int(info["size"])) > 127
            visible = []  # (object, its mask) for the objects visible in this frame
            for obj in info["objects"]:
                mask = ids == int(obj["id"])
                if mask.any():
                    visible.append((obj, mask))
            sounding_groups = {group_of(o["class"]) for o in info["objects"] if o["sounding"][k]}
            n_sounding = sum(bool(obj["sounding"][k]) for obj, _ in visible)
            if n_sounding:
                units["fp_background"].append(float(pred[ids == 0].mean()))
            for obj, mask in visible:
                share = float(pred[mask].mean())
                if obj["sounding"][k]:
                    units["recall_sounding"].append(share)
                    units["recall_single" if n_sounding == 1 else "recall_multi"].append(share)
                    units["missed_sounding"].append(float(share < 0.2))
                elif not obj["distractor"]:
                    units["fp_inactive"].append(share)
                elif sounding_groups:
                    if obj.get("silent_only"):
                        units["fp_silent_pool"].append(share)
                    elif group_of(obj["class"]) in sounding_groups:
                        units["fp_same_group"].append(share)
                    else:
                        units["fp_other_group"].append(share)
    out: dict[str, float] = {}
    for name, vals in sorted(units.items()):
        out[name] = float(np.mean(vals))
        out[f"n_{name}"] = len(vals)
    return out


OFFSETS = (-0.8, -0.7, -0.6, -0.5, -0.4, -0.3, -0.2, -0.1, 0.0, 0.1, 0.2)


def decision_offset(run: Path, data_root: Path) -> dict[str, float]:
    """Binary mIoU of stage-1 run ``run`` on val and test for each offset in ``OFFSETS``; the val-chosen
    one."""
    from ..metrics import BinaryMeter
    from ..train.engine import collate_clips
    from ..train.pipeline import avss_dataset, load_model
    from ..train.predict import predict

    model, profile, _ = load_model(run / "best.pt", device="cpu")
    miou: dict[str, dict[float, float]] = {}
    for split in ("val", "test"):
        dataset = avss_dataset(profile, data_root, split, preload=False)
        scores, targets = [], []
        with torch.no_grad():
            for i in range(len(dataset)):
                batch = collate_clips([dataset[i]])
                valid = batch["valid"].flatten(0, 1)  # [T] annotated frames
                scores.append(
                    predict(model, batch, output="logits")[valid]
                )  # [T', H, W]: s_sounding - s_background
                targets.append(batch["masks"].flatten(0, 1)[valid])
        s, t = torch.cat(scores), torch.cat(targets)
        miou[split] = {}
        for off in OFFSETS:
            meter = BinaryMeter()
            meter.update(s - off, t)
            miou[split][off] = float(meter.compute()["miou"])
    best = max(OFFSETS, key=lambda o: miou["val"][o])
    return {
        "offset_chosen_on_val": best,
        "val_miou_offset_0": miou["val"][0.0],
        "val_miou_chosen": miou["val"][best],
        "test_miou_offset_0": miou["test"][0.0],
        "test_miou_chosen": miou["test"][best],
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="stepstones study errors --stage 1", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--levers", nargs="+", default=DEFAULT, choices=list(LEVERS))
    args = ap.parse_args(argv)
    start = time.perf_counter()
    runs = Course(resolve_profile("classroom", **REGIME), progress=False)
    rows = {}
    for name in args.levers:
        own, s1 = lever_stage1(runs, name, args.seed)
        rows[name] = {
            "overrides": LEVERS[name].overrides,
            "seed": args.seed,
            **error_split(own.root, own.stage1_priors(s1)),
            **decision_offset(s1, own.root),
        }
        r = rows[name]
        print(
            f"{name}: silent pool {r['fp_silent_pool']:.2f} | same group {r['fp_same_group']:.2f} | "
            f"other group {r['fp_other_group']:.2f} | inactive {r['fp_inactive']:.2f} | "
            f"background {r['fp_background']:.3f} | recall {r['recall_sounding']:.2f} "
            f"(single {r['recall_single']:.2f}, multi {r['recall_multi']:.2f}; "
            f"missed {r['missed_sounding']:.2f}) | offset {r['offset_chosen_on_val']:+.1f} (val): test mIoU "
            f"{r['test_miou_offset_0']:.3f} -> {r['test_miou_chosen']:.3f}",
            flush=True,
        )
    atomic_write_json(
        project_root() / "results" / "stage1_errors_classroom.json",
        {
            "provenance": provenance(
                command_line(["stepstones", "study", "errors", "--stage", "1"], argv),
                start,
                profile="classroom",
                split="test",
            ),
            "levers": rows,
        },
    )


if __name__ == "__main__":
    main()
