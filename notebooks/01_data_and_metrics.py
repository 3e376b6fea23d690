# %% [markdown]
# # 01 · Data and metrics
#
# > What an AVSS clip looks like on disk and on screen, why pixels alone cannot tell which object sounds,
# > and the exact AVSBench metrics worked out by hand.
#
# > **Time on 2 CPU cores** (first run, empty artifacts): smoke 11 s, classroom 25 s.

# %% [markdown]
# ## What you will learn
#
# - how to build (or point to) the benchmark and **validate** it before training;
# - the **AVSBench-semantic layout**: `metadata.csv`, `label2idx.json`, `<subset>/<uid>/frames|labels_rgb|
#   labels_semantic|audio.wav`, plus the synthetic set's sidecar `objects.json` + `instances/`;
# - how to look at clips: frame strips with **sounding masks**, silent distractors, **log-mel** examples and
#   the sound itself, and a small clip browser;
# - why **vision alone cannot know** which object sounds;
# - the AVSBench metrics **by hand**: binary IoU (with the empty-GT rule), the F-measure (β² = 0.3, max
#   over thresholds per batch), the AVSS per-class mIoU over 71 classes — and why the binary mIoU can hide
#   whether a model listens at all;
# - the statistics of the dataset you will train on.

# %% tags=["parameters"]
profile: str = "auto"  # smoke | classroom | paper | auto (reads $STEPSTONES_PROFILE, default classroom)
device: str = "auto"  # auto | cpu | cuda | mps (nothing here needs an accelerator)
seed: int = 0  # random seed for everything
data_root: "Optional[str]" = None  # dataset folder; None -> $STEPSTONES_DATA or the synthetic set
artifacts_dir: "Optional[str]" = None  # the synthetic set; None -> $STEPSTONES_ARTIFACTS or ./artifacts
num_clips: "Optional[int]" = None  # override the profile's number of synthetic clips (None: the profile's)

# %% [markdown]
# ## Setup
#
# The same start as every notebook: resolve the profile, seed, print the environment.

# %%
import io
import json
import math
import os
from collections import Counter

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Audio, display
from PIL import Image

import stepstones_lite
from stepstones_lite import metrics, viz
from stepstones_lite.audio import log_mel_examples
from stepstones_lite.data import (
    AVSS_CLASSES,
    NUM_AVSS_CLASSES,
    class_index,
    label2idx,
    palette,
    validate_dataset,
)
from stepstones_lite.data.io import read_wav
from stepstones_lite.train import pipeline

if artifacts_dir is not None:
    os.environ["STEPSTONES_ARTIFACTS"] = artifacts_dir
cfg = stepstones_lite.resolve_profile(profile, data__num_clips=num_clips, train__device=device)
stepstones_lite.seed_everything(seed)
env = stepstones_lite.print_env()
viz.set_style()
print(f"profile: {cfg.name} - {cfg.description}")
print(f"data: {cfg.data.num_clips} synthetic clips, {cfg.data.num_frames} frames of {cfg.data.image_size} px")

# %% [markdown]
# ## 1 · Build and validate the benchmark
#
# `pipeline.ensure_dataset` returns the dataset root. If `data_root` (or `$STEPSTONES_DATA`) points to a
# real AVSBench-semantic copy, that copy is used. Otherwise the profile's **synthetic** benchmark is
# generated once into the artifacts folder and reused by every later notebook. It is made from real
# sprites and real sounds: animals, instruments and people, some sounding and some silent, plus
# off-screen sounds.
#
# Before any training, `validate_dataset` decodes **every** file and reports all problems at once, each
# naming its file. A broken file found at step 900 of a training run costs much more.

# %%
root = pipeline.ensure_dataset(cfg, data_root)
report = validate_dataset(root)
print(report)
synthetic = (root / "dataset.json").is_file()  # our generator's marker; a real AVSBench copy has none
assert report.layout == "avss" and report.num_clips > 0

# %% [markdown]
# ## 2 · The AVSBench-semantic layout
#
# ```
# root/metadata.csv                       one row per clip: vid, uid, s_min, s_sec, a_obj, split, label
# root/label2idx.json                     class name -> 1..71  (class index c = value - 1, background = 0)
# root/<label>/<uid>/frames/{k}.jpg       one RGB frame per second (5 in v1s/v1m, 10 in v2)
# root/<label>/<uid>/labels_rgb/{k}.png   the GT: palette colour of each *sounding* pixel's class
# root/<label>/<uid>/labels_semantic/{k}.png   the same as uint8 class indices
# root/<label>/<uid>/audio.wav            the soundtrack (16 kHz mono here)
# root/<label>/<uid>/objects.json         synthetic sidecar: every object, its class, when it sounds
# root/<label>/<uid>/instances/{k}.png    synthetic sidecar: object id per pixel (sounding or not)
# ```
#
# `label` is the subset (`v1s` single source, `v1m` multi source, `v2`). Only the synthetic set has the
# sidecars. They let us see the **silent** objects, which the AVSBench labels leave out (they are
# background there).

# %%
meta = pd.read_csv(root / "metadata.csv")
print(meta.columns.tolist())
display(meta.head())
print(meta["split"].value_counts().to_dict())
assert {"uid", "split", "label", "a_obj"} <= set(meta.columns)

# %%
first = meta.iloc[0]
clip_dir = root / first["label"] / first["uid"]
for path in sorted(clip_dir.rglob("*")):
    if path.is_file():
        print(f"{str(path.relative_to(root)):50s} {path.stat().st_size:8d} bytes")

# %% [markdown]
# `label2idx.json` numbers the 71 classes from 1, background included. Our class index is that value minus
# one, so background is 0, as in the tensors the loaders return. The label PNGs store each class as its
# **palette colour** (the Pascal-VOC bit-interleaved palette AVSBench uses), and loaders decode it by exact
# colour match.

# %%
l2i = json.loads((root / "label2idx.json").read_text())
assert l2i == label2idx() and len(l2i) == NUM_AVSS_CLASSES
assert all(AVSS_CLASSES[v - 1] == name for name, v in l2i.items())
print(
    "dog ->",
    l2i["dog"],
    "in label2idx.json -> class index",
    class_index("dog"),
    "-> colour",
    tuple(int(c) for c in palette()[class_index("dog")]),
)
fig = viz.palette_swatches()
viz.save_figure(fig, "01_palette")
plt.show()

# %% [markdown]
# **What you should see:** one swatch per AVSS class, background (black) first; neighbouring class indices get
# clearly different colours, which is why the PNGs can be decoded by exact colour match.

# %% [markdown]
# One label frame, read both ways: the RGB colours decode to the class indices of `labels_semantic`.

# %%
k0 = 0
rgb = np.asarray(Image.open(clip_dir / "labels_rgb" / f"{k0}.png").convert("RGB"))  # [H, W, 3]
codes = {tuple(int(v) for v in c): i for i, c in enumerate(palette())}
decoded = np.vectorize(lambda r, g, b: codes[(r, g, b)])(rgb[..., 0], rgb[..., 1], rgb[..., 2])  # [H, W]
if (clip_dir / "labels_semantic").is_dir():
    sem = np.asarray(Image.open(clip_dir / "labels_semantic" / f"{k0}.png"))
    assert (decoded == sem).all()
print("classes in frame", k0, ":", {AVSS_CLASSES[c]: int((decoded == c).sum()) for c in np.unique(decoded)})
if synthetic:
    print(json.dumps(json.loads((clip_dir / "objects.json").read_text())["objects"][0], indent=None))

# %% [markdown]
# ## 3 · Looking at clips
#
# The loader (`pipeline.avss_dataset`) gives each clip as a dict: `frames [T,3,H,W]` in [0, 1], `labels
# [T,H,W]` (class indices), `masks [T,H,W]` (binary: sounding or not), `log_mel [T,1,96,64]` (one VGGish
# example of 0.96 s per frame) and, for the synthetic set, `objects` and `instances`.

# %%
train_set = pipeline.avss_dataset(cfg, root, "train", return_instances=synthetic, preload=False)
print(len(train_set), "training clips")


def silent_outlines(item):
    """[T, H, W] bool: pixels of objects that are visible but silent in that frame (from the sidecar)."""
    if "instances" not in item:
        return None
    inst = item["instances"]  # [T, H, W] object ids
    out = torch.zeros(inst.shape, dtype=torch.bool)
    for obj in item["objects"]["objects"]:
        for k, sounding in enumerate(obj["sounding"][: inst.shape[0]]):
            if not sounding:
                out[k] |= inst[k] == obj["id"]
    return out


def clip_title(item):
    names = [
        f"{o['class']}{'' if any(o['sounding']) else ' (silent)'}"
        for o in item.get("objects", {}).get("objects", [])
    ]
    return f"{item['uid']}: " + (", ".join(names) if names else f"a_obj = {item['a_obj']}")


item = train_set[0]
print({k: tuple(v.shape) for k, v in item.items() if torch.is_tensor(v)})
assert item["frames"].shape[0] == item["labels"].shape[0] == item["log_mel"].shape[0]
assert 0.0 <= float(item["frames"].min()) and float(item["frames"].max()) <= 1.0
assert torch.equal(item["masks"].bool(), item["labels"] > 0)

# %% [markdown]
# Coloured overlay = the ground truth (sounding pixels, coloured by class). Dashed yellow outline = an object
# that is **visible but silent** in that second (from `objects.json` + `instances/`).

# %%
fig = viz.frame_strip(item["frames"], item["labels"], outlines=silent_outlines(item), title=clip_title(item))
viz.save_figure(fig, "01_clip_strip")
plt.show()

# %% [markdown]
# **What you should see:** the clip's frames, one per second; the sounding object is tinted in its class
# colour only in the seconds it sounds, and a visible but silent object has only a dashed yellow outline.

# %% [markdown]
# The audio branch never sees the waveform. It sees **log-mel examples**: 96 frames of 10 ms × 64 mel bands
# per second of video, computed exactly as VGGish does (`stepstones_lite.audio.log_mel_examples`). We
# recompute them from `audio.wav` and check they match what the loader returned.

# %%
wave, rate, channels = read_wav(train_set.clips[0].wav)
mel = log_mel_examples(wave, rate, num_examples=item["log_mel"].shape[0], pad="zero")  # [T, 1, 96, 64]
assert mel.shape == item["log_mel"].shape and torch.allclose(mel, item["log_mel"], atol=1e-4)
print(f"{len(wave) / rate:.2f} s at {rate} Hz, {channels} channel(s) -> log-mel {tuple(mel.shape)}")
fig = viz.plot_log_mel(mel, title=f"log-mel examples of {item['uid']}")
viz.save_figure(fig, "01_log_mel")
plt.show()
display(Audio(wave, rate=rate))

# %% [markdown]
# **What you should see:** one 96 × 64 log-mel panel per second (time across, mel bands up); bright bands
# where a tone or noise sounds, dark panels for quiet seconds.

# %% [markdown]
# ### A clip browser
#
# Move the slider to look at other clips: frames and masks, log-mel and sound. The widgets hold images and
# a wav, so the browser also works in a saved notebook (a static render shows the clip drawn by the
# direct call below).


# %%
def to_png(fig) -> bytes:
    """Render a figure to PNG bytes for an image widget (and close it)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


caption = widgets.Label()
strip_view, mel_view = widgets.Image(format="png"), widgets.Image(format="png")
audio_view = widgets.Audio(format="wav", autoplay=False, loop=False)


def show_clip(index: int):
    """Update the browser's widgets with clip ``index`` of the training split; return the item."""
    clip = train_set[int(index)]
    w, r, _ = read_wav(train_set.clips[int(index)].wav)
    caption.value = clip_title(clip)
    strip_view.value = to_png(
        viz.frame_strip(
            clip["frames"], clip["labels"], outlines=silent_outlines(clip), title=f"clip {int(index)}"
        )
    )
    mel_view.value = to_png(viz.plot_log_mel(clip["log_mel"], title="log-mel"))
    audio_view.value = Audio(w, rate=r).data  # wav bytes
    return clip


slider = widgets.IntSlider(value=0, min=0, max=len(train_set) - 1, description="clip")
slider.observe(lambda change: show_clip(change["new"]), names="value")
display(widgets.VBox([slider, caption, strip_view, mel_view, audio_view]))
shown = show_clip(min(1, len(train_set) - 1))  # the update function, called once directly
assert shown["uid"] == train_set.clips[min(1, len(train_set) - 1)].uid
assert strip_view.value[:4] == b"\x89PNG" and audio_view.value[:4] == b"RIFF"

# %% [markdown]
# ## 4 · Why vision alone cannot know which object sounds
#
# Two cases show it. First, a clip with a **silent distractor**: an object as visible as the sounding one,
# and often of a class that could sound. Nothing in one frame says which one is heard.


# %%
def find_clip_at(dataset, i, want):
    """Whether clip ``i``'s objects.json exists and satisfies ``want(objects)``."""
    objects_path = dataset.clips[i].clip_dir / "objects.json"
    return objects_path.is_file() and want(json.loads(objects_path.read_text())["objects"])


def find_clip(dataset, want):
    """Index of the first clip whose objects.json satisfies ``want(objects)`` (None if no clip does)."""
    return next((i for i in range(len(dataset.clips)) if find_clip_at(dataset, i, want)), None)


if synthetic:
    i_dis = find_clip(
        train_set, lambda objs: any(o["distractor"] for o in objs) and any(any(o["sounding"]) for o in objs)
    )
    if i_dis is not None:
        d_item = train_set[i_dis]
        fig = viz.frame_strip(
            d_item["frames"],
            d_item["labels"],
            outlines=silent_outlines(d_item),
            title="sounding (colour) vs silent distractor (dashed): " + clip_title(d_item),
        )
        viz.save_figure(fig, "01_distractor")
        plt.show()
        silent_px = int(silent_outlines(d_item).sum())
        print(f"{silent_px} visible-but-silent pixels (all frames) are background in the AVSBench labels")
else:
    print("real AVSBench copy: no objects.json, silent objects are not annotated")

# %% [markdown]
# **What you should see:** two objects equally visible in every frame, but only one tinted (it sounds); the
# other keeps a dashed outline: nothing in a single frame says which of the two is heard.

# %% [markdown]
# Second, the masks **change over time while the pixels barely do**: an object starts or stops sounding
# between second k and k+1. Compare the pixel difference of the two frames with the difference of their
# masks.
#
# The clip is picked by a fixed rule, not by hand. Among the first 60 training clips in which exactly one
# object switches its sound on or off, take the pair of seconds with the most flipped mask pixels whose
# colour **barely changes** (|pixel change| < 0.1), minus those whose colour does change.

# %%
QUIET = 0.1  # a pixel whose mean |change| over RGB is below this "did not change" (values in [0, 1])


def switching(item, k):
    """Objects whose sounding flag differs between seconds k and k+1 (from objects.json)."""
    return [
        o
        for o in item["objects"]["objects"]
        if len(o["sounding"]) > k + 1 and o["sounding"][k] != o["sounding"][k + 1]
    ]


def flip_vs_pixels(item, k):
    """(flipped mask pixels [H, W], |pixel change| [H, W]) between seconds k and k+1."""
    flipped = item["masks"][k + 1] != item["masks"][k]
    return flipped, (item["frames"][k + 1] - item["frames"][k]).abs().mean(0)


pair, best = None, -math.inf
if synthetic:
    one_switch = [
        i
        for i in range(len(train_set))
        if find_clip_at(
            train_set, i, lambda objs: sum(any(s) and not all(s) for s in (o["sounding"] for o in objs)) == 1
        )
    ][:60]
    for i in one_switch:
        cand = train_set[i]
        for k in range(cand["masks"].shape[0] - 1):
            if len(switching(cand, k)) != 1:
                continue
            flipped, change = flip_vs_pixels(cand, k)
            quiet = int((flipped & (change < QUIET)).sum())
            score = quiet - (int(flipped.sum()) - quiet)  # flipped and unchanged, minus flipped and changed
            if score > best:
                pair, best = (cand, k), score
print("picked:", "none" if pair is None else f"{pair[0]['uid']}, seconds {pair[1]} -> {pair[1] + 1}")

# %%
if pair is not None:
    cand, k = pair
    flipped, change = flip_vs_pixels(cand, k)
    obj = switching(cand, k)[0]
    fig = viz.mask_panels(
        {
            f"frame {k}": cand["frames"][k],
            f"frame {k + 1}": cand["frames"][k + 1],
            "|pixel difference|": change,
            "mask difference": flipped.float(),
        },
        title=f"{cand['uid']}: the {obj['class']} "
        f"{'starts' if obj['sounding'][k + 1] else 'stops'} sounding, seconds {k} -> {k + 1}",
    )
    viz.save_figure(fig, "01_pixels_vs_masks")
    plt.show()
    own = (cand["instances"][k] == obj["id"]) | (cand["instances"][k + 1] == obj["id"])  # the object's pixels
    quiet_share = float((change[flipped] < QUIET).float().mean())
    own_share = float((flipped & own).sum() / flipped.sum())
    print(
        f"{float(flipped.float().mean()):.1%} of the mask pixels flip, "
        f"{own_share:.0%} of them on the {obj['class']}; "
        f"{quiet_share:.0%} of the flipped pixels change colour by less than {QUIET} "
        f"(mean |pixel change| there {float(change[flipped].mean()):.3f})"
    )
    assert own_share > 0.9  # the flip is one object switching its sound, not motion
    assert quiet_share > 0.8  # ... and its pixels barely change: the label changed, the picture did not
else:
    print("no objects.json (a real AVSBench copy): nothing tells which object switched its sound")

# %% [markdown]
# **What you should see:** the two frames look almost the same; the mask difference is one solid patch, the
# object that starts or stops sounding, and inside that patch the pixel difference stays dark (the printed
# shares check it). Whatever is bright in the pixel difference lies elsewhere, on objects that drift a little
# and keep their sound: the label changed, the picture did not.

# %% [markdown]
# Only the sound can explain that flip. A model that segments every object it sees will have false
# positives on silent objects and in silent seconds. Section 5 shows why the usual metric barely punishes
# this.
#
# ## 5 · The AVSBench metrics by hand
#
# All numbers in the paper come from the official AVSBench evaluation code. `stepstones_lite.metrics`
# reproduces it exactly. Here we recompute each rule by hand on tiny masks and check the package agrees.
#
# ### Binary IoU on a 4×4 mask
#
# Prediction = `sigmoid(logit) > 0.5`. A 0/1 hard mask passed as "logits" maps to itself.

# %%
gt = torch.tensor([[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]])
pred = torch.tensor([[0, 0, 0, 0], [0, 1, 1, 1], [0, 1, 1, 1], [0, 0, 0, 0]])
fig = viz.mask_panels(
    {"GT": gt, "prediction": pred, "intersection": pred & gt, "union": pred | gt},
    title="IoU by counting",
    annotate=True,
    colorbar=False,
)
viz.save_figure(fig, "01_iou_by_hand")
plt.show()
inter_by_hand, union_by_hand = 4, 6  # counted on the picture
assert int((pred & gt).sum()) == inter_by_hand and int((pred | gt).sum()) == union_by_hand
iou = metrics.mask_iou(pred[None].float(), gt[None])
print(f"IoU = {inter_by_hand}/{union_by_hand} = {inter_by_hand / union_by_hand:.4f}; package: {iou:.4f}")
assert math.isclose(iou, inter_by_hand / (union_by_hand + 1e-7), rel_tol=1e-6)

# %% [markdown]
# **What you should see:** the GT is a 2 × 2 square and the prediction is one column wider; count 4 cells in
# the intersection and 6 in the union.

# %% [markdown]
# **Silent frames (empty GT).** IoU would be 0/0. AVSBench scores such a frame by its **true negatives**
# instead: the fraction of pixels predicted background. Two false-positive pixels out of 16 still score
# 14/16. The batch value is the plain mean over frames.

# %%
empty = torch.zeros(4, 4, dtype=torch.long)
fp2 = torch.zeros(4, 4, dtype=torch.long)
fp2[0, 0] = fp2[3, 3] = 1
assert math.isclose(metrics.mask_iou(fp2[None].float(), empty[None]), 14 / 16, rel_tol=1e-6)
assert math.isclose(metrics.mask_iou(empty[None].float(), empty[None]), 1.0, rel_tol=1e-6)
batch = metrics.mask_iou(torch.stack([pred, fp2]).float(), torch.stack([gt, empty]))
print(f"two-frame batch: ({inter_by_hand / union_by_hand:.4f} + {14 / 16:.4f}) / 2 = {batch:.4f}")
assert math.isclose(batch, (4 / 6 + 14 / 16) / 2, rel_tol=1e-6)

# %% [markdown]
# **Your turn (change X, expect Y).** In the student copy (`make student`) `my_pred` and `expected` start as
# `None` and the cell prints "not done yet" until you set them; then the asserts at the end check your answer.
# 1. Make `my_pred`, a 4×4 0/1 mask whose IoU with `gt` is exactly one half (IoU = overlap / union).
# 2. An "always background" model on four frames, one of them silent: write down `expected`, its batch mIoU,
#    *before* you run the cell.

# %%
### BEGIN SOLUTION
my_pred = gt.clone()
my_pred[0, :] = 1  # keep the 4 object pixels, add 4 false positives: overlap 4, union 8
expected = 1 / 4  # three sounding frames score 0, the silent one scores its true negatives, 1
### END SOLUTION
frames4 = torch.stack([gt, gt, gt, empty])
assert math.isclose(metrics.mask_iou(my_pred[None].float(), gt[None]), 1 / 2, rel_tol=1e-5)
assert math.isclose(metrics.mask_iou(torch.zeros(4, 4, 4), frames4), expected, rel_tol=1e-5)
print("both checks pass")

# %% [markdown]
# ### F-measure, β² = 0.3
#
# F uses the soft scores S = sigmoid(logit). At threshold t a pixel is positive if S ≥ t; precision
# P = TP/#positive, recall R = TP/#GT, and
# $F_\beta = \frac{(1+\beta^2)\,P R}{\beta^2 P + R}$ with β² = 0.3 (precision counts more). The official code
# tries 255 thresholds, averages the F curves of the batch's **non-empty** frames and takes the **max**.

# %%
prob = torch.tensor(
    [[0.10, 0.20, 0.10, 0.05], [0.30, 0.90, 0.80, 0.60], [0.20, 0.70, 0.40, 0.60], [0.05, 0.10, 0.30, 0.10]]
)


def f_beta(p: float, r: float, beta2: float = 0.3) -> float:
    return 0.0 if p == 0 and r == 0 else (1 + beta2) * p * r / (beta2 * p + r)


rows = []
for t in (0.3, 0.5, 0.65, 0.85):
    pos = prob >= t
    tp, npos, ngt = int((pos & (gt == 1)).sum()), int(pos.sum()), int(gt.sum())
    rows.append(
        {"t": t, "TP": tp, "#pos": npos, "P": tp / npos, "R": tp / ngt, "F": f_beta(tp / npos, tp / ngt)}
    )
display(pd.DataFrame(rows).round(3))
# t = 0.5 by hand: positives 0.9 0.8 0.6 0.7 0.6 -> 5; of these in the GT: 0.9 0.8 0.7 -> TP = 3
assert (
    rows[1]["TP"] == 3
    and rows[1]["#pos"] == 5
    and math.isclose(rows[1]["F"], 1.3 * 0.6 * 0.75 / (0.3 * 0.6 + 0.75))
)

# %%
logits = torch.logit(prob)  # the package takes logits
thresholds = torch.linspace(0, 1 - 1e-10, 255)


def f_curve(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """F at each official threshold for one frame, by brute force."""
    out = []
    for t in thresholds:
        pos = scores >= t
        tp = float((pos & (target == 1)).sum())
        out.append(f_beta(tp / max(float(pos.sum()), 1e-20), tp / float(target.sum())))
    return torch.tensor(out)


curve = f_curve(torch.sigmoid(logits), gt)
f_pkg = metrics.f_measure(logits[None], gt[None])
print(
    f"max F by brute force = {float(curve.max()):.4f} at t = {float(thresholds[curve.argmax()]):.3f}; "
    f"package: {f_pkg:.4f}"
)
assert abs(float(curve.max()) - f_pkg) < 1e-5

# %% [markdown]
# **The max is taken per batch**, after averaging the curves of the batch's frames. So a batch score is
# not the mean of the frames' best scores, and the value depends on the evaluation batch size. Frames with
# an empty GT are skipped.

# %%
gt_b = torch.zeros(4, 4, dtype=torch.long)
gt_b[0, 2:] = 1  # a second frame whose object gets low scores: its best threshold is low
prob_b = torch.full((4, 4), 0.1)
prob_b[0, 2:] = 0.35
prob_b[3, 0] = 0.3
logits_b = torch.logit(prob_b)
curve_b = f_curve(torch.sigmoid(logits_b), gt_b)
batch_f = metrics.f_measure(torch.stack([logits, logits_b]), torch.stack([gt, gt_b]))
by_hand = float(((curve + curve_b) / 2).max())
mean_of_best = (float(curve.max()) + float(curve_b.max())) / 2
print(
    f"batch F = max_t mean(F_a(t), F_b(t)) = {by_hand:.4f} (package {batch_f:.4f}); "
    f"mean of per-frame maxima = {mean_of_best:.4f}"
)
assert abs(batch_f - by_hand) < 1e-5 and batch_f <= mean_of_best + 1e-6
with_empty = metrics.f_measure(
    torch.stack([logits, logits_b, torch.logit(prob)]), torch.stack([gt, gt_b, empty])
)
assert abs(with_empty - batch_f) < 1e-6  # the empty-GT frame is skipped

# %% [markdown]
# ### AVSS: per-class IoU over 71 classes
#
# For AVSS the prediction is a class per pixel. For every frame and class c: I = pixels predicted c that
# are c, U = predicted c + labelled c − I. A frame **counts** for class c only if U > 0. Per class, IoU =
# (sum of frame IoUs) / (number of frames that count). **mIoU is the mean over all 71 classes**, background
# included. A class never seen in prediction or GT scores 0, so on a small test set the number is low.
#
# Two 4×4 frames: frame 0 has a dog and a piano; the prediction spills the dog onto 2 background pixels and
# calls one piano pixel "guitar". Frame 1 has only a dog, predicted exactly.

# %%
DOG, PIANO, GUITAR = class_index("dog"), class_index("piano"), class_index("guitar")
gt_s = torch.zeros(2, 4, 4, dtype=torch.long)
gt_s[0, :2, :2] = DOG
gt_s[0, 2:, 2:] = PIANO
gt_s[1, 1:3, 1:3] = DOG
pred_s = gt_s.clone()
pred_s[0, :2, 2] = DOG  # 2 false-positive dog pixels on background
pred_s[0, 3, 3] = GUITAR  # one piano pixel called guitar
fig = viz.mask_panels(
    {"GT frame 0": gt_s[0], "pred frame 0": pred_s[0], "GT frame 1": gt_s[1], "pred frame 1": pred_s[1]},
    title="AVSS by hand (class indices)",
    annotate=True,
    colorbar=False,
    labels=True,
)
viz.save_figure(fig, "01_avss_by_hand")
plt.show()

# by hand, frame 0: background I=6 U=8; dog I=4 U=6; piano I=3 U=4; guitar I=0 U=1 (counts, scores 0)
#          frame 1: background I=12 U=12; dog I=4 U=4; piano and guitar absent (U=0: do not count)
iou_hand = {0: (6 / 8 + 12 / 12) / 2, DOG: (4 / 6 + 4 / 4) / 2, PIANO: (3 / 4) / 1, GUITAR: 0.0 / 1}
miou_hand = sum(iou_hand.values()) / NUM_AVSS_CLASSES  # the other 67 classes add 0
meter = metrics.SemanticMeter(num_classes=NUM_AVSS_CLASSES)
meter.update(pred_s, gt_s)
res = meter.compute()
for c, v in iou_hand.items():
    assert math.isclose(float(res["iou_per_class"][c]), v, rel_tol=1e-6), AVSS_CLASSES[c]
assert res["count_per_class"][PIANO] == 1 and res["count_per_class"][GUITAR] == 1
assert math.isclose(res["miou"], miou_hand, rel_tol=1e-5)
print(f"per class: { {AVSS_CLASSES[c]: round(v, 4) for c, v in iou_hand.items()} }")
print(
    f"mIoU over 71 classes = {miou_hand:.4f} (package {res['miou']:.4f}); "
    f"over the 4 classes seen = {sum(iou_hand.values()) / 4:.4f}"
)
# F per class with beta^2 = 0.3: dog in frame 0 has P = 4/6, R = 1
assert math.isclose(float(res["f_per_class"][DOG]), (f_beta(4 / 6, 1.0) + 1.0) / 2, rel_tol=1e-5)

# %% [markdown]
# **What you should see:** class indices in each cell: in frame 0 the dog (prediction) spills onto two
# background cells and one piano cell reads guitar; frame 1 matches the GT.

# %% [markdown]
# ### What the binary mIoU hides (diagnostics)
#
# A hand-made clip of 4 seconds, 16×16 px: object A sounds in seconds 0–1 and is silent in 2–3 (those
# frames have an **empty GT**); object B is a silent distractor throughout. Compare three "models":
#
# - **every object**: a perfect *vision-only* segmenter. It outlines A and B in every frame and ignores
#   the sound.
# - **sounding object**: it listens, so it predicts A only while A sounds. Its outline is one pixel off.
# - **nothing**: it predicts background everywhere.

# %%
T, H = 4, 16
obj_a = torch.zeros(T, H, H, dtype=torch.bool)
obj_a[:, 2:5, 2:5] = True  # 9 px
obj_b = torch.zeros(T, H, H, dtype=torch.bool)
obj_b[:, 10:12, 9:12] = True  # 6 px
sounding_a = torch.tensor([True, True, False, False])
target = obj_a & sounding_a[:, None, None]  # [T, H, W] GT: A while it sounds
shifted = torch.zeros(T, H, H, dtype=torch.bool)
shifted[:2, 3:6, 2:5] = True  # A one pixel lower, only while it sounds
models = {
    "every object": obj_a | obj_b,
    "sounding object": shifted,
    "nothing": torch.zeros(T, H, H, dtype=torch.bool),
}
instances = [
    {"mask": obj_a, "sounding": sounding_a, "distractor": False},
    {"mask": obj_b, "sounding": torch.zeros(T, dtype=torch.bool), "distractor": True},
]
table = {}
for name, p in models.items():
    d = metrics.binary_diagnostics(p.float(), target.float(), instances=instances)
    table[name] = {
        "AVSBench mIoU": metrics.mask_iou(p.float(), target.float()),
        "mIoU sounding frames": d["miou_sounding"],
        "mIoU silent frames": d["miou_silent"],
        "silent frames empty": d["silent_empty_rate"],
        "distractor FP": d["distractor_fp"],
    }
    assert math.isclose(d["miou_all"], table[name]["AVSBench mIoU"], rel_tol=1e-5)
diag = pd.DataFrame(table).T
display(diag.round(3))
# by hand: every object: sounding frames 9/15, silent frames (256-15)/256; sounding object: 6/12 and 1
assert math.isclose(table["every object"]["AVSBench mIoU"], (2 * 9 / 15 + 2 * 241 / 256) / 4, rel_tol=1e-5)
assert math.isclose(table["sounding object"]["AVSBench mIoU"], (2 * 6 / 12 + 2 * 1.0) / 4, rel_tol=1e-5)
assert math.isclose(table["nothing"]["AVSBench mIoU"], 0.5, rel_tol=1e-5)
assert table["every object"]["AVSBench mIoU"] > table["sounding object"]["AVSBench mIoU"]
assert table["every object"]["distractor FP"] == 1.0 and table["sounding object"]["distractor FP"] == 0.0
fig = viz.frame_strip(
    torch.ones(T, 3, H, H),
    models["every object"].long(),
    outlines=target,
    title="'every object' (vermillion) vs GT (dashed)",
)
plt.show()

# %% [markdown]
# **What you should see:** the vermillion 'every object' prediction covers both objects in every frame, also
# in seconds 2–3 where the dashed GT is empty.

# %% [markdown]
# The vision-only model gets the **higher** AVSBench mIoU, although it ignores the sound. In silent frames
# it still scores 241/256 from true negatives, because objects are small. Even "nothing" scores 0.5 here.
# The breakdown shows the difference: the share of silent frames predicted empty, and the false-positive
# rate on distractors. This is the trap to watch for in stage 1: a model trained with audio can mostly learn
# *whether* something sounds, not *which* object, and the binary mIoU barely separates it from one trained
# without sound. Later notebooks report these diagnostics next to mIoU.
#
# ## 6 · Dataset statistics
#
# What are we training on? We count from `metadata.csv`, the label PNGs and (synthetic set) `objects.json`.

# %%
print("clips per split:", meta["split"].value_counts().to_dict())
stats, sounding_counts, silent_counts = [], Counter(), Counter()
for row in meta.itertuples():
    cdir = root / row.label / row.uid
    labels_dir = cdir / "labels_rgb"
    frames_gt = [np.asarray(Image.open(p).convert("RGB")).any() for p in sorted(labels_dir.glob("*.png"))]
    rec = {
        "uid": row.uid,
        "split": row.split,
        "frames": len(frames_gt),
        "empty_gt_frames": int(sum(not f for f in frames_gt)),
    }
    if (cdir / "objects.json").is_file():
        objs = json.loads((cdir / "objects.json").read_text())
        rec["objects"] = len(objs["objects"])
        rec["sounding"] = sum(any(o["sounding"]) for o in objs["objects"])
        rec["off_screen"] = len(objs.get("off_screen", []))
        for o in objs["objects"]:
            (sounding_counts if any(o["sounding"]) else silent_counts)[o["class"]] += 1
    else:
        for name in str(row.a_obj).split("_"):
            if name != "none":
                sounding_counts[name] += 1
    stats.append(rec)
stats = pd.DataFrame(stats)
n_frames, n_empty = int(stats["frames"].sum()), int(stats["empty_gt_frames"].sum())
print(f"{n_empty} of {n_frames} annotated frames ({n_empty / n_frames:.1%}) have an empty GT (silent frames)")
summary_cols = [c for c in ("objects", "sounding", "off_screen", "empty_gt_frames") if c in stats]
display(stats.groupby("split")[summary_cols].mean().round(2))
assert len(stats) == report.num_clips and 0 <= n_empty <= n_frames

# %%
if "objects" in stats:
    print("objects per clip:", stats["objects"].value_counts().sort_index().to_dict())
    print("sounding objects per clip:", stats["sounding"].value_counts().sort_index().to_dict())
counts = (
    {"sounding": dict(sounding_counts), "silent": dict(silent_counts)}
    if silent_counts
    else dict(sounding_counts)
)
fig = viz.class_histogram(
    counts, title="objects per class (clips where the object appears)", xlabel="objects"
)
viz.save_figure(fig, "01_class_histogram")
plt.show()
assert sum(sounding_counts.values()) > 0

# %% [markdown]
# **What you should see:** one bar per class; sounding classes come out about equally often (a uniform draw),
# hatched parts are silent appearances, and grey classes only ever appear as silent distractors.

# %% [markdown]
# Hatched parts count the clips where the object stays silent (a distractor). Grey bars are classes outside
# the 71 AVSS classes (e.g. `cow`): they only ever appear as silent distractors and are background in the
# labels.

# %% [markdown]
# ## Check your understanding
#
# 1. A test set has 20 % silent frames. A model predicts background everywhere. What binary mIoU does it
#    get, and why?
# 2. Why does AVSBench's F-score depend on the evaluation batch size, while the binary mIoU (for equal-sized
#    batches) does not?
# 3. Your AVSS model is perfect on the 12 classes in a small test set, which never contains the other 58
#    object classes. What mIoU does the 71-class mean report? What changes if you drop background?
# 4. In the pixel-vs-mask comparison, what information would a model need to predict the mask difference,
#    and which input carries it?

# %% tags=["solution"]
# 1. 0.2: every silent frame scores its true negatives, 1.0 for an all-background prediction;
#    the non-silent frames score 0. (0.2 * 1 + 0.8 * 0 = 0.2.)
# 2. F averages the per-frame F curves of a batch and then takes the max over thresholds, once per batch;
#    a different grouping of frames gives a different max. mIoU is a mean of per-frame values, and a mean
#    of batch means of equal-sized batches is the overall mean.
# 3. 13 classes (12 + background) score 1 and 58 score 0: 13 / 71 ≈ 0.183. Without background:
#    12 / 70 ≈ 0.171. Only the ratio of seen classes matters, so compare mIoU only on the same test set.
# 4. Whether the object in the patch sounds in second k and in second k+1. Its pixels barely change between
#    the two frames (the printed share of flipped pixels that change colour by less than 0.1), so the image
#    cannot say it: only the audio of those two seconds (their log-mel examples) carries it.
print("solutions above")

# %% [markdown]
# ## Summary
#
# - `pipeline.ensure_dataset` builds or finds the benchmark, and `validate_dataset` checks every file before
#   training.
# - AVSBench-semantic stores frames, palette-coloured labels (class = `label2idx` value − 1) and a wav per
#   clip. The synthetic set adds `objects.json` + `instances/`, so silent objects are visible too.
# - In a single frame the sounding object and a silent distractor look alike, and masks flip between seconds
#   while pixels hardly change. The sound is the only cue.
# - Binary IoU scores empty-GT frames by true negatives. F uses β² = 0.3 and a per-batch max over 255
#   thresholds. AVSS mIoU averages all 71 classes, with unseen classes counting 0. `stepstones_lite.metrics`
#   matches the hand computations.
# - The binary mIoU can rank a vision-only segmenter above a model that listens. Read it together with
#   silent-frame and distractor diagnostics.
#
# Next: `02_stage1_avs` trains stage 1, the model that has to learn *where* the sound is.
