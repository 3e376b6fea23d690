# %% [markdown]
# # 03 · Mask priors: the stepping stones
#
# > Turn the stage-1 model's predictions into mask priors, measure how good they are, and break them on
# > purpose to prepare the prior-quality experiment.
#
# > **Time on 2 CPU cores** (first run, empty artifacts): smoke 9 s, classroom 49 s.

# %% [markdown]
# ## What you will learn
#
# - how stage-1 predictions become **mask priors** on disk (the AVSBench convention: 0/255 grey PNGs at label
#   size, `<subset>/<uid>/<k>.png`) and what `manifest.json` records;
# - how to measure **prior quality** with the exact AVSBench binary IoU rule, and what good and bad priors
#   look like;
# - how to **degrade** priors on purpose (erosion, dilation, noise, dropped frames) and how fast quality
#   falls;
# - what a prior made with the **audio muted** looks like;
# - **teacher forcing** (ground-truth priors in stage-2 training, predicted ones at test) and the paper's
#   "dangerous stepping stones" (Tab. 2).

# %% tags=["parameters"]
profile: str = "auto"  # smoke | classroom | paper | auto (reads $STEPSTONES_PROFILE, default classroom)
device: str = "auto"  # auto | cpu | cuda | mps
seed: int = 0  # random seed for everything
data_root: "Optional[str]" = None  # dataset folder; None -> $STEPSTONES_DATA or the synthetic set
artifacts_dir: "Optional[str]" = None  # checkpoints/priors; None -> $STEPSTONES_ARTIFACTS or ./artifacts
stage1_steps: "Optional[int]" = None  # override the profile's stage-1 training steps (None: the profile's)

# %% [markdown]
# ## Setup
#
# The same profile and overrides as notebook 02 give the same cached stage-1 run; run alone, this notebook
# trains it first.

# %%
import json

import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image

import stepstones_lite
from stepstones_lite import viz
from stepstones_lite.metrics import BinaryMeter, frame_iou
from stepstones_lite.study import PRIOR_LEVELS
from stepstones_lite.train import pipeline
from stepstones_lite.train.priors import DEGRADATIONS, check_priors, degrade_mask, prior_iou
from stepstones_lite.utils import file_sha256

setup = stepstones_lite.course_setup(
    profile,
    device=device,
    seed=seed,
    artifacts_dir=artifacts_dir,
    data_root=data_root,
    train__stage1_steps=stage1_steps,
)
cfg, dev, env = setup.profile, setup.device, setup.env
print(f"profile: {cfg.name} - {cfg.description}")

# %% [markdown]
# ## From stage-1 predictions to prior files
#
# `course.stage1_priors(run)` runs the stage-1 checkpoint on the **val** and **test** splits and writes its
# binary decision (sounding score > background score) per frame. Training needs no priors: stage 2 trains
# with the ground truth (see teacher forcing below).

# %%
course = setup.course
run = course.stage1(seed)
priors = course.stage1_priors(run)
manifest = json.loads((priors / "manifest.json").read_text())
print(json.dumps(manifest, indent=2))

# %%
assert manifest["complete"] and manifest["source"] == "stage1" and not manifest["mute_audio"]
assert manifest["checkpoint_sha256"] == file_sha256(run / "best.pt")  # priors know which model made them
check_priors(priors, run / "best.pt")  # raises if unfinished or made by another checkpoint
val_set = pipeline.avss_dataset(course.profile, course.root, "val", prior_root=priors)
test_set = pipeline.avss_dataset(course.profile, course.root, "test", prior_root=priors)
assert manifest["clips"] == {"val": len(val_set), "test": len(test_set)}

# %% [markdown]
# The layout is the one the official stage-2 code reads: `<root>/<subset>/<uid>/<k>.png`, one grey PNG per
# frame, **0 = background, 255 = sounding**, at the label size.

# %%
item = test_set[0]
clip_dir = priors / item["subset"] / item["uid"]
pngs = sorted(clip_dir.glob("*.png"), key=lambda p: int(p.stem))
print("clip folder:", clip_dir.relative_to(priors), "->", [p.name for p in pngs])
arrays = [np.asarray(Image.open(p)) for p in pngs]
print(
    "dtype",
    arrays[0].dtype,
    "| shape",
    arrays[0].shape,
    "| values",
    sorted(set(np.unique(np.stack(arrays)).tolist())),
)

# %%
assert [p.stem for p in pngs] == [str(k) for k in range(item["frames"].shape[0])]
for arr in arrays:
    assert arr.dtype == np.uint8 and arr.shape == tuple(item["masks"].shape[-2:])
    assert set(np.unique(arr).tolist()) <= {0, 255}
# the dataset reads them back as {0, 1} floats: prior = png / 255
assert torch.equal(item["prior"].float(), torch.from_numpy(np.stack(arrays) / 255.0).float())

# %% [markdown]
# ## Prior quality
#
# A prior's quality is its binary IoU against the ground truth, with the AVSBench rule for empty-GT (silent)
# frames: there the IoU is the share of pixels predicted background, so an empty prior on a silent frame is
# perfect. `prior_iou` gives the mean over a clip's frames; only annotated frames (`valid`) count.

# %%
per_clip = []
meter = BinaryMeter(batch_videos=1)
for i in range(len(test_set)):
    it = test_set[i]
    valid = it["valid"]
    prior, gt = it["prior"][valid] > 0.5, it["masks"][valid] > 0.5  # [T', H, W]
    per_clip.append(prior_iou(prior, gt))
    meter.update(torch.where(prior, 1.0, -1.0), gt.float())
prior_miou = meter.compute()["miou"]
print(
    f"stage-1 prior mIoU on test: {prior_miou:.3f} over {len(per_clip)} clips "
    f"(per clip: min {min(per_clip):.3f}, max {max(per_clip):.3f})"
)

# %% [markdown]
# The priors *are* the stage-1 predictions, so their mIoU must equal the stage-1 model's test mIoU from
# `course.evaluate` (same protocol: one clip per evaluation batch):

# %%
stage1_test = course.evaluate(run)
print(f"course.evaluate(stage 1) mIoU {stage1_test['miou']:.4f} | prior mIoU {prior_miou:.4f}")
assert abs(stage1_test["miou"] - prior_miou) < 1e-3
assert np.isclose(np.mean(per_clip), prior_miou, atol=1e-5)  # one clip per batch: mean of per-clip means

# %% [markdown]
# ### Good and bad priors
#
# Sort the test clips **in which something sounds** by prior IoU and look at the best and the worst, each at
# its worst frame (a silent clip is left out: an empty prior on it scores a perfect 1.0 and shows nothing).
# Yellow is a hit, vermillion a false positive (the prior marks something that does not sound), blue a miss
# (Okabe-Ito colours, told apart with any colour vision).

# %%
order = [int(i) for i in np.argsort(per_clip) if bool(test_set[int(i)]["masks"].any())]
n_each = min(4, len(order) // 2) or 1
chosen = list(order[-n_each:][::-1]) + list(order[:n_each])
frames, gts, prs, caps, silent_share = [], [], [], [], []
for rank, ci in enumerate(chosen):
    it = test_set[int(ci)]
    ious = frame_iou(torch.where(it["prior"] > 0.5, 1.0, -1.0), it["masks"].float())  # [T]
    ious[~it["valid"]] = float("inf")
    t = int(ious.argmin())
    silent_share.append(
        float((~it["masks"][it["valid"]].flatten(1).any(1)).float().mean())
    )  # empty-GT frames
    frames.append(it["frames"][t])
    gts.append(it["masks"][t])
    prs.append(it["prior"][t])
    caps.append(
        f"{'best' if rank < n_each else 'worst'}: clip IoU {per_clip[ci]:.2f}\n"
        f"t={t} frame IoU {float(ious[t]):.2f}"
    )
fig = viz.prior_gallery(
    frames, gts, prs, caps, title="Stage-1 priors, best and worst test clips", ncols=n_each
)
viz.save_figure(fig, "03_prior_gallery")
plt.show()
hit = [float((p > 0.5)[g > 0.5].float().mean()) if g.any() else float("nan") for g, p in zip(gts, prs)]
for name, part in (("best", slice(0, n_each)), ("worst", slice(n_each, None))):
    print(
        f"{name}: share of the sounding object covered at the shown frame {np.nanmean(hit[part]):.0%}; "
        f"share of silent frames in these clips {np.mean(silent_share[part]):.0%}"
    )

# %% [markdown]
# **What you should see:** the best clips on top, the worst below, each at its worst frame. Yellow is the part
# of the sounding object the prior covers (the printed share), blue the part it misses, vermillion a silent
# object or background it marks. How much yellow there is depends on the run: a stage 1 that has learned
# little (`smoke`) shows mostly blue everywhere.

# %% [markdown]
# Look at *why* the best clips score well. Silent clips were left out above, but a clip in which something
# sounds can still have silent seconds, and there an empty prior scores a perfect 1.0 by the AVSBench rule:
# the printed share of silent frames says how much of the best clips' score may come from them rather than
# from a segmented object. Typical failure modes to look for: a silent distractor marked as sounding
# (vermillion on an object), the sounding object missed (blue), a silent frame that is not empty, blobby
# boundaries at the mask-feature resolution. Every one of them is handed to stage 2 as "this is where the
# sound is".
#
# ## Degrading priors on purpose
#
# To ask "how good must a prior be to help?", the course makes priors of *controlled* quality from the ground
# truth with `degrade_mask`:
#
# - `erode` / `dilate` (level = radius in px): too small / too large masks, boundary errors;
# - `noise` (level ≈ share of the frame flipped in blobs): scattered false positives and holes;
# - `drop` (level = probability of emptying a frame): missed detections.


# %%
def sounds_per_frame(i: int) -> torch.Tensor:
    return test_set[i]["masks"].flatten(1).any(1)  # [T] which frames have a sounding object


# the fixed rule: the first test clip with sounding *and* silent frames (the exercise below needs both)
demo_idx = next(
    i for i in range(len(test_set)) if sounds_per_frame(i).any() and not sounds_per_frame(i).all()
)
demo = test_set[demo_idx]
t_demo = int(demo["masks"].flatten(1).sum(1).argmax())
gt_clip = demo["masks"] > 0.5  # [T, H, W]
demo_levels = {"erode": 2, "dilate": 2, "noise": 0.1, "drop": 0.5}
gen = torch.Generator().manual_seed(seed)
degraded = {kind: degrade_mask(gt_clip, kind, lvl, gen) for kind, lvl in demo_levels.items()}
fig = viz.prior_gallery(
    [demo["frames"][t_demo]] * 5,
    [gt_clip[t_demo]] * 5,
    [gt_clip[t_demo]] + [d[t_demo] for d in degraded.values()],
    ["ground truth (oracle)"]
    + [f"{k} {v}: IoU {prior_iou(degraded[k], gt_clip):.2f}" for k, v in demo_levels.items()],
    title=f"Degraded priors of clip {demo['uid']}",
    ncols=5,
)
viz.save_figure(fig, "03_degraded_priors")
plt.show()

# %% [markdown]
# **What you should see:** the same frame five times: the oracle exact, `erode` thinner, `dilate` fatter,
# `noise` with scattered blobs and holes, `drop` possibly empty; each caption gives the prior's IoU.

# %%
assert torch.equal(degrade_mask(gt_clip, "noise", 0.0), gt_clip)  # level 0 = the oracle
assert not (degraded["erode"] & ~gt_clip).any()  # erosion only removes pixels
assert not (gt_clip & ~degraded["dilate"]).any()  # dilation only adds pixels
for t in range(gt_clip.shape[0]):  # a dropped frame is empty, a kept one unchanged
    assert torch.equal(degraded["drop"][t], gt_clip[t]) or not degraded["drop"][t].any()

# %% [markdown]
# **Your turn (change X, expect Y).** Drop *every* frame's mask (`"drop"` at level 1). Before running, write
# `expected`: the prior mIoU of that all-empty prior on this clip. (Hint: which frames still score 1? This
# clip has sounding and silent frames.)

# %%
### BEGIN SOLUTION
silent = ~gt_clip.flatten(1).any(1)  # frames whose GT is empty
expected = float(silent.float().mean())  # they score 1 (all true negatives); every sounding frame scores 0
### END SOLUTION
all_dropped = degrade_mask(gt_clip, "drop", 1.0, torch.Generator().manual_seed(0))
assert not all_dropped.any()
assert abs(prior_iou(all_dropped, gt_clip) - expected) < 1e-5, (prior_iou(all_dropped, gt_clip), expected)
assert 0.0 < expected < 1.0  # the demo clip has silent and sounding frames: neither 0 nor 1 is the answer
print(f"all-empty prior: mIoU {prior_iou(all_dropped, gt_clip):.3f} = your {expected:.3f}")

# %% [markdown]
# ### Prior mIoU vs degradation level
#
# Sweep each kind over a few levels on the test clips and compare with the stage-1 prior. This curve is the
# x-axis of the prior-quality experiment (notebook 06 / `stepstones reproduce`): stage 2 is tested with each
# degraded prior, and where its AVSS mIoU falls below the end-to-end model is where the stepping stones turn
# dangerous.

# %%
SWEEP = {
    "erode": [0, 1, 2, 3, 4],
    "dilate": [0, 1, 2, 3, 4],
    "noise": [0.0, 0.02, 0.05, 0.1, 0.2],
    "drop": [0.0, 0.1, 0.3, 0.5, 0.7],
}
assert set(SWEEP) == set(DEGRADATIONS)
test_gt = [
    (test_set[i]["masks"] > 0.5)[test_set[i]["valid"]] for i in range(len(test_set))
]  # [T', H, W] each
sweep_iou = {}
for kind, levels in SWEEP.items():
    gen = torch.Generator().manual_seed(seed)
    sweep_iou[kind] = [
        float(np.mean([prior_iou(degrade_mask(g, kind, lvl, gen), g) for g in test_gt])) for lvl in levels
    ]
    print(f"{kind:>6}: " + "  ".join(f"{lvl}->{v:.3f}" for lvl, v in zip(levels, sweep_iou[kind])))

# %%
for kind in SWEEP:
    assert abs(sweep_iou[kind][0] - 1.0) < 1e-4  # undegraded GT is a perfect prior
    assert all(0.0 <= v <= 1.0 + 1e-6 for v in sweep_iou[kind])
for kind in ("erode", "dilate"):  # nested masks: quality can only fall with the radius
    assert all(a >= b - 1e-6 for a, b in zip(sweep_iou[kind], sweep_iou[kind][1:]))

# %% [markdown]
# ### Priors fed silence
#
# What does the stage-1 model mark when it hears nothing? `course.stage1_priors(run, mute=True)` writes
# priors from the same checkpoint with the log-mel of silence. A model that listens should mark (almost)
# nothing; a model that segments "likely sound makers" from the image alone gives the same priors as before.

# %%
muted = course.stage1_priors(run, mute=True)
assert json.loads((muted / "manifest.json").read_text())["mute_audio"] is True
muted_set = pipeline.avss_dataset(course.profile, course.root, "test", prior_root=muted)
muted_meter = BinaryMeter(batch_videos=1)
changed = []
for i in range(len(muted_set)):
    it_m, it = muted_set[i], test_set[i]
    valid = it_m["valid"]
    muted_meter.update(torch.where(it_m["prior"][valid] > 0.5, 1.0, -1.0), it_m["masks"][valid].float())
    changed.append(float((it_m["prior"][valid] != it["prior"][valid]).float().mean()))
muted_miou = muted_meter.compute()["miou"]
print(
    f"prior mIoU: with audio {prior_miou:.3f} | audio muted {muted_miou:.3f} | "
    f"share of pixels that changed {np.mean(changed):.3f}"
)
fig = viz.prior_gallery(
    [demo["frames"][t_demo]] * 2,
    [demo["masks"][t_demo]] * 2,
    [test_set[demo_idx]["prior"][t_demo], muted_set[demo_idx]["prior"][t_demo]],
    [f"with audio (t={t_demo})", f"audio muted (t={t_demo})"],
    title=f"Stage-1 prior of {demo['uid']}, real vs silent audio",
    ncols=2,
)
viz.save_figure(fig, "03_muted_prior")
plt.show()
assert 0.0 <= muted_miou <= 1.0

# %% [markdown]
# **What you should see:** left the prior with the real audio, right with silence; a stage 1 that listens
# marks much less on the right.

# %%
fig = viz.plot_prior_quality(
    SWEEP,
    sweep_iou,
    reference={"stage-1 prior": prior_miou, "stage-1, muted": muted_miou},
    title="Prior mIoU (test) vs degradation level",
)
viz.save_figure(fig, "03_prior_quality")
plt.show()

# %% [markdown]
# **What you should see:** each degradation's prior mIoU falls as its level rises, with horizontal lines for
# the stage-1 prior and for the muted stage-1 prior.

# %% [markdown]
# ### Reference prior folders for the experiment
#
# The prior-quality experiment needs the degraded priors *on disk*, like stage-1 priors, for val and test.
# `course.reference_priors(kind, level)` writes them (cached; `kind=None` is the oracle, the ground truth
# itself) and records their mean prior IoU in the manifest. We build the levels the study uses
# (`reproduce.PRIOR_LEVELS`), so the experiment finds them ready:

# %%
reference = {"oracle": course.reference_priors(None)}
for kind, level in PRIOR_LEVELS:
    reference[f"{kind} {level}"] = course.reference_priors(kind, level, seed=seed)
for name, folder in reference.items():
    info = json.loads((folder / "manifest.json").read_text())
    print(f"{name:>12}: prior mIoU (val+test) {info['prior_miou']:.3f}  -> {folder}")

# %%
# erosion is deterministic: the manifest's number is the mean over val and test clips of prior_iou
by_hand = []
erode_level = next((lvl for kind, lvl in PRIOR_LEVELS if kind == "erode"), 2)
for ds in (pipeline.avss_dataset(course.profile, course.root, s) for s in ("val", "test")):
    for i in range(len(ds)):
        g = ds[i]["labels"] > 0
        by_hand.append(prior_iou(degrade_mask(g, "erode", erode_level)[ds[i]["valid"]], g[ds[i]["valid"]]))
erode_info = json.loads(
    (course.reference_priors("erode", erode_level, seed=seed) / "manifest.json").read_text()
)
assert abs(np.mean(by_hand) - erode_info["prior_miou"]) < 1e-6
oracle_info = json.loads((reference["oracle"] / "manifest.json").read_text())
assert abs(oracle_info["prior_miou"] - 1.0) < 1e-4
assert (reference["oracle"] / item["subset"] / item["uid"] / "0.png").is_file()

# %% [markdown]
# ## Teacher forcing and dangerous stepping stones
#
# Stage 2 is trained with **teacher forcing** (paper §3.2): during training its prior is the **ground-truth**
# binary mask (perfect, IoU 1), at test time it is the **stage-1 prediction** (the folder above). The model
# therefore never sees a wrong prior while it learns, and meets the stage-1 errors only at test: a
# train/test mismatch. The robust audio-aware keys (E_silent / E_uncertain / E_sounding) are the paper's
# hedge against it, but they only see the prior's *edges* as uncertain.
#
# The paper's Tab. 2 shows what that means for earlier AVSS methods: fusing a **low-quality** stage-1 prior
# (mean IoU 77.1 over S4/MS3/V2) *lowers* their AVSS mIoU (AVSBench 29.8 → 27.3, AVSegFormer 36.7 → 35.4),
# while a **high-quality** one (83.65) raises it (31.5, 39.4) and the oracle raises it most (36.4, 46.3).
# Stepping stones help only if they are solid enough: "dangerous stepping stones". Our curve above places the
# stage-1 prior among the degraded ones; the experiment (notebook 06) measures where on that curve stage 2
# stops beating the end-to-end model.
#
# ## Check your understanding
#
# 1. Why does an empty prior on a silent frame count as a perfect prior, and what does that do to the prior
#    mIoU of a model that always predicts "nothing"?
# 2. Stage 2 trains with ground-truth priors. Which of the four degradations do you expect to hurt it most
#    at test time, and why?
# 3. Why must the prior folder record which checkpoint made it?
# 4. The muted prior: what would you conclude if it were nearly identical to the prior with audio?

# %% tags=["solution"]
# Solutions (hidden in the student version):
# 1. AVSBench scores an empty-GT frame by the share of pixels predicted background, so empty = 1.0. An
#    "always empty" model gets 1.0 on every silent frame and 0 on sounding ones: its mIoU equals the share of
#    silent frames -- look at the per-frame-type numbers, not only the mean.
# 2. The committed study decides (the cell below reads its prior arms): per point of prior mIoU lost, blob
#    noise costs stage 2 the most AVSS mIoU -- confident false positives that stage 2, trained on clean
#    ground-truth masks, never saw and cannot tell from an object; dropped frames, erosion and dilation cost
#    it about as much AVSS as they cost prior quality. In absolute terms erosion hurts most at the levels
#    used, because it removes most of a small object's mask (the lowest prior mIoU of the four).
# 3. Priors from another (older) stage-1 model would silently mix two models' errors into the stage-2
#    results; the manifest's sha256 lets check_priors refuse stale folders.
# 4. The model does not use the audio to decide what sounds: its priors mark "likely sound makers" from the
#    image alone, so distractors leak into stage 2.

# %% tags=["solution"]
# Q2, measured: the committed study's degraded-prior arms (3 seeds), against the oracle prior.
from stepstones_lite.utils import project_root

study = json.loads((project_root() / "results" / "reproduce_classroom.json").read_text())["arms"]
oracle = study["oracle_prior"]["mean"]["avss_miou"]
for arm in ("prior_erode_2", "prior_dilate_2", "prior_noise_0.05", "prior_drop_0.3"):
    m = study[arm]["mean"]
    lost_prior, lost_avss = 1 - m["prior_miou"], oracle - m["avss_miou"]
    print(
        f"{arm:18s} prior mIoU {m['prior_miou']:.3f}  AVSS mIoU {m['avss_miou']:.3f}  "
        f"AVSS lost per prior point lost {lost_avss / lost_prior:.2f}"
    )

# %% [markdown]
# ## Summary
#
# - Priors are the stage-1 predictions on val/test, saved as 0/255 PNGs at label size in
#   `<subset>/<uid>/<k>.png`, with a manifest naming the checkpoint.
# - Prior quality = AVSBench binary mIoU vs GT; for stage-1 priors it equals the stage-1 test mIoU.
# - `degrade_mask` and `course.reference_priors(kind, level)` make priors of controlled quality; the sweep
#   shows how fast each kind of error lowers the prior mIoU.
# - Stage 2 learns with ground-truth priors and is tested with predicted ones; a poor prior can make the
#   two-stage model worse than no prior at all (paper Tab. 2).
#
# Next: `04_stage2_avss` trains stage 2 with these priors.
