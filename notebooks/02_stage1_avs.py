# %% [markdown]
# # 02 · Stage 1: audio-visual segmentation (AVS)
#
# > The AAVS model piece by piece (attention, masked attention, audio-aware queries), then stage-1 training
# > on binary "sounding" masks and what the trained model does with and without its audio.
#
# > **Time on 2 CPU cores** (first run, empty artifacts): smoke 19 s, classroom 5 min 54 s.

# %% [markdown]
# ## What you will learn
#
# - why the paper starts from **pretrained, frozen encoders** plus small adapters, and what our cached
#   CPU stand-ins for them know (and do not know);
# - **scaled-dot-product attention** and Mask2Former's **masked attention** by hand, checked against PyTorch
#   and against the package's decoder;
# - the **Adaptive Audio Query Generator** (AAQG, paper Eq. 1) by hand, checked against the package;
# - what one forward pass of the stage-1 model returns, and how many of its parameters are trained;
# - how to train stage 1 with a live plot, score it with the exact AVSBench binary mIoU / F-score, and
#   read the diagnostics: silent frames, distractors, frame types, and **muted audio**.

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
# The profile decides every size; `Course` gives the cached runs (data, stand-in encoders, stage 1) so this
# notebook rebuilds only what is missing and notebook 03 reuses what it trains.

# %%
import dataclasses
import json
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import torch
import torch.nn.functional as F
from IPython.display import display

import stepstones_lite
from stepstones_lite import viz
from stepstones_lite.model import audio_aware_queries, build_model, count_parameters, model_summary
from stepstones_lite.model.transformer_decoder import Attention, attention_mask_from_logits, unblock_full_rows
from stepstones_lite.study.semantic_errors import first_sounding_clips
from stepstones_lite.train import pipeline
from stepstones_lite.train.course import Course

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
print(f"stage-1 steps: {cfg.train.stage1_steps}, eval every {cfg.train.eval_every}")

# %% [markdown]
# ## Why pretrained encoders matter
#
# The paper never trains its encoders from scratch: the visual backbone is a Swin-B pretrained for
# segmentation on ADE20k, the audio encoder is VGGish pretrained on AudioSet. Both stay **frozen**, and so
# does most of the decoder: the official code starts from an ADE20k-*pretrained* Mask2Former and trains
# only the queries, the class head, the audio projector, small `avs_adapt` MLPs in the attention layers and
# (in a second phase) residual adapters in the Swin blocks. The encoders bring "what things look and sound
# like"; AVS training only has to learn *which* visible thing matches the sound.
#
# **Deviation (labelled):** no pretrained Mask2Former exists for our small stand-ins, so here the pixel
# decoder and the transformer decoder are trained from scratch; only the encoders are frozen (with adapters
# on the backbone).
#
# We cannot download those weights, and from-scratch encoders learn no classes in classroom time. So the
# course pre-trains two small **stand-ins** once on the training split and caches them: a dense segmenter of
# every visible object (the ADE20k stand-in) and a multi-label "what sounds in this second" classifier (the
# AudioSet stand-in). `Course(cfg)` builds or finds them and points the profile at their weight files:

# %%
course = setup.course
weights = course.profile.model.backbone_weights
print("visual weights:", weights)
print("audio weights: ", course.profile.model.audio_weights)
print(
    "frozen backbone:",
    course.profile.model.freeze_backbone,
    "| adapters:",
    course.profile.model.adapters,
    "| frozen audio:",
    course.profile.model.freeze_audio,
)
standins = {}
if weights is not None and (Path(weights).parent / "standins.json").is_file():
    standins = json.loads((Path(weights).parent / "standins.json").read_text())
    print(json.dumps(standins, indent=2))
else:
    print("this profile brings its own encoder weights (no stand-ins were trained)")

# %% [markdown]
# Read `labels` and `audio_labels`: the two stand-ins were pre-trained on **different label spaces**, as the
# paper's encoders were. The visual stand-in knows only **coarse super-classes** (animal, instrument, vehicle,
# ...), like the paper's Swin-B whose segmentation head was trained on ADE20k's 150 classes, few of which are
# AVSBench's sounding objects. The audio stand-in knows the **benchmark's own sound classes** (flute, violin,
# dog, ...), like VGGish, whose AudioSet labels (527) name most AVSBench sounds. So the sound can say *what*
# sounds, but no encoder was ever taught to draw *where* a flute is — that is what stage 1 and stage 2 learn.
# (`train__pretrain_audio_label_space="coarse"` gives the other lesson, "neither encoder knows the classes";
# `results/regime_knobs_classroom.md` measures both.) The held-out numbers say how good the stand-ins are in
# this profile (`visual_heldout_miou` over the coarse classes, `audio_heldout_exact_set` = share of seconds
# whose set of sounding classes in the audio stand-in's label space is predicted exactly). In `smoke` they are
# trained for a few steps only, so expect them to be weak.

# %%
if standins:
    assert standins["label_space"] in ("coarse", "fine")
    assert (
        standins["audio_label_space"] == course.profile.train.pretrain_audio_label_space
        or course.profile.train.pretrain_audio_label_space is None
    )
    assert 0.0 <= standins["visual_heldout_miou"] <= 1.0 and 0.0 <= standins["audio_heldout_exact_set"] <= 1.0
    assert Path(course.profile.model.audio_weights).is_file()

# %% [markdown]
# ## Attention by hand
#
# Every attention in the transformer decoder is scaled dot-product attention: queries `q [Lq, d]` look at
# keys `k [Lk, d]` and average the values `v [Lk, d]`:
#
# $$\mathrm{Attn}(q, k, v) = \mathrm{softmax}\!\left(\frac{q k^\top}{\sqrt d}\right) v$$
#
# Three queries, five keys, `d = 4`:

# %%
g = torch.Generator().manual_seed(seed)
q = torch.randn(1, 3, 4, generator=g)  # [N, Lq, d]
k = torch.randn(1, 5, 4, generator=g)  # [N, Lk, d]
v = torch.randn(1, 5, 4, generator=g)  # [N, Lk, d]

scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5  # [N, Lq, Lk]
weights_by_hand = scores.softmax(dim=-1)  # [N, Lq, Lk], each row sums to 1
out_by_hand = weights_by_hand @ v  # [N, Lq, d]

assert torch.allclose(weights_by_hand.sum(-1), torch.ones(1, 3))
assert torch.allclose(out_by_hand, F.scaled_dot_product_attention(q, k, v), atol=1e-6)
print(weights_by_hand[0])

# %% [markdown]
# ### Masked attention
#
# Mask2Former lets query *i* attend only where its **own previous mask prediction** is foreground: a boolean
# *blocked* matrix (True = may not attend) sets those scores to −∞ before the softmax. A query whose mask is
# empty would have a row blocked everywhere, and a softmax over only −∞ is `nan`. Mask2Former's rule: such a
# row is **unblocked** completely (the query attends globally). Query 2 below is fully blocked:

# %%
blocked = torch.tensor(
    [[[False, False, True, True, True], [True, False, False, True, False], [True, True, True, True, True]]]
)  # [N, Lq, Lk]
naive = scores.masked_fill(blocked, float("-inf")).softmax(-1)
print("fully blocked row without the rule:", naive[0, 2])
assert torch.isnan(naive[0, 2]).all()

opened = unblock_full_rows(blocked)  # the package's rule
assert not opened[0, 2].any() and torch.equal(opened[0, :2], blocked[0, :2])
masked_weights = scores.masked_fill(opened, float("-inf")).softmax(-1)  # [N, Lq, Lk]
masked_out = masked_weights @ v  # [N, Lq, d]
assert (masked_weights[opened] == 0).all()
# PyTorch's fused kernel takes the *allowed* mask (True = may attend)
assert torch.allclose(masked_out, F.scaled_dot_product_attention(q, k, v, attn_mask=~opened), atol=1e-6)

fig = viz.plot_attention_matrix(masked_weights[0], opened[0], title="Masked attention (x = blocked)")
viz.save_figure(fig, "02_masked_attention")
plt.show()

# %% [markdown]
# **What you should see:** a 3 × 5 weight matrix: cells marked x carry zero weight, and query 2's row (fully
# blocked, so unblocked by the rule) spreads its weight over every key.

# %% [markdown]
# The package's decoder does exactly this in `stepstones_lite.model.transformer_decoder.Attention` (with
# learned projections of q, k, v and an output projection, split into heads). With one head and identity
# projections it must reproduce our hand computation, both through the fused kernel and through the
# explicit path it uses when the maps are requested (`need_weights=True`):

# %%
attn = Attention(dim=4, num_heads=1)
with torch.no_grad():
    for lin in (attn.q_proj, attn.k_proj, attn.v_proj, attn.out_proj):
        lin.weight.copy_(torch.eye(4))
        lin.bias.zero_()
    fused, _ = attn(q, k, v, opened)
    explicit, w = attn(q, k, v, opened, need_weights=True)
assert torch.allclose(fused, masked_out, atol=1e-6)
assert torch.allclose(explicit, masked_out, atol=1e-6)
assert torch.allclose(w[:, 0], masked_weights, atol=1e-6)  # [N, heads, Lq, Lk]
print("package Attention == hand-written masked attention")

# %% [markdown]
# Where does `blocked` come from in the model? From the previous layer's mask logits, resized to the
# layer's scale: blocked where `sigmoid(logit) < 0.5` (`attention_mask_from_logits`). A 2×2 toy:

# %%
toy_logits = torch.tensor([[[[3.0, -2.0], [0.5, -0.1]]]])  # [N=1, Q=1, h=2, w=2]
toy_blocked = attention_mask_from_logits(toy_logits, (2, 2))  # [N, Q, h*w]
assert toy_blocked.tolist() == [[[False, True, False, True]]]
print("blocked:", toy_blocked.tolist())

# %% [markdown]
# ## Audio-aware queries (AAQG, paper Eq. 1)
#
# Plain Mask2Former queries are learned constants. AAVS makes them depend on the audio of each second:
# for query *i* and frame *t*,
#
# $$Q_a^i(t) = \cos\!\big(P_{audio}^i, F_A(t)\big)\, F_A(t) + Q_{obj}^i$$
#
# with `P_audio` learned prototypes (also the query positional embedding), `F_A(t)` the projected audio
# embedding of second *t* and `Q_obj` learned object queries. A query whose prototype points the same way as
# the audio gets a large dose of it; an orthogonal one gets none. By hand on tiny tensors:

# %%
T, Nq, D = 3, 4, 6
P = torch.randn(Nq, D, generator=g)  # P_audio [Nq, D]
FA = torch.randn(T, D, generator=g)  # F_A [T, D]
Qobj = torch.randn(Nq, D, generator=g)  # Q_obj [Nq, D]

cos = (FA @ P.T) / (FA.norm(dim=-1, keepdim=True) * P.norm(dim=-1)[None])  # [T, Nq]
Qa = cos[..., None] * FA[:, None, :] + Qobj[None]  # [T, Nq, D]
assert torch.allclose(Qa, audio_aware_queries(P, FA, Qobj), atol=1e-6)
print("cos(P, F_A):\n", cos)

# %% [markdown]
# The model's `QueryGenerator` holds `Q_obj` (`query_feat`) and `P_audio` (`query_embed`) and applies
# exactly this to the projected audio. Build the stage-1 model (2 classes: background, sounding; it has
# fewer queries than the semantic model, `stage1_num_queries`) and check it on a few test clips' audio:

# %%
s1_model_cfg = course.profile.model
if s1_model_cfg.stage1_num_queries:
    s1_model_cfg = dataclasses.replace(s1_model_cfg, num_queries=s1_model_cfg.stage1_num_queries)
stepstones_lite.seed_everything(seed)
model = build_model(s1_model_cfg, num_classes=2).to(dev).eval()

sidecars = next(course.root.glob("*/*/objects.json"), None) is not None  # synthetic set: who sounds when
test_set = pipeline.avss_dataset(course.profile, course.root, "test", return_instances=sidecars)
clips = [
    test_set[i] for i in first_sounding_clips(test_set, 3)
]  # the course's rule: first clips with a sound
n_show = len(clips)
log_mel = torch.cat([c["log_mel"] for c in clips]).to(dev)  # [n_show*T, 1, 96, 64]
with torch.no_grad():
    F_A = model.audio_encoder.projector(model.audio_encoder.embed(log_mel))  # [N, D]
    tgt, query_pos, sim = model.queries(F_A)  # [N, Q, D], [N, Q, D], [N, Q]
P_model, Q_model = model.queries.query_embed.weight, model.queries.query_feat.weight
cos_model = F.cosine_similarity(P_model[None], F_A[:, None], dim=-1)  # [N, Q]
assert torch.allclose(tgt, cos_model[..., None] * F_A[:, None] + Q_model[None], atol=1e-5)
assert torch.allclose(sim, cos_model, atol=1e-6)

rows = [f"{c['uid'][:14]} t={t}" for c in clips for t in range(c["log_mel"].shape[0])]
fig = viz.plot_query_similarity(sim.cpu(), rows, title="AAQG at initialisation: cos(P_audio, F_A)")
viz.save_figure(fig, "02_aaqg_similarity_init")
plt.show()

# %% [markdown]
# **What you should see:** a queries × seconds heatmap of small cosines, in **stripes**: within a clip each
# query (column) keeps nearly the same colour from second to second, and the colours differ between queries.
# That is not something learned: the prototypes P_audio are random, and the untrained audio branch maps every
# second to similar directions (printed below), so each random prototype gets an almost fixed cosine. The cell
# checks it.

# %%
fa = F.normalize(F_A, dim=-1)  # [N, D] unit audio embeddings
per_clip = sim.cpu().split([c["log_mel"].shape[0] for c in clips])  # one [T, Q] block per clip
within = float(torch.stack([b.std(0) for b in per_clip]).mean())  # a query over a clip's seconds
between = float(sim.std(1).mean())  # the queries of one second
print(
    f"largest |cos| {float(sim.abs().max()):.2f}; mean cosine between two seconds' audio embeddings "
    f"{float((fa @ fa.T).mean()):.2f}"
)
print(
    f"spread of one query over a clip's seconds {within:.3f} vs spread across queries in one second "
    f"{between:.3f}"
)
assert within < between  # stripes: each column keeps its colour down a clip

# %% [markdown]
# **Your turn (change X, expect Y).** Flip the sign of query 0's audio prototype `P_audio^0`. Before running,
# write `expected_q0` `[N, D]`: query 0's content for every second after the flip, from `Q_model`, `cos_model`
# and `F_A` (Eq. 1). (Hint: what happens to a cosine when one vector turns around?)

# %%
### BEGIN SOLUTION
expected_q0 = Q_model[0][None] - cos_model[:, 0:1] * F_A  # cos flips sign, so the audio term is subtracted
### END SOLUTION
with torch.no_grad():
    saved = model.queries.query_embed.weight[0].clone()
    model.queries.query_embed.weight[0].neg_()  # change X
    flipped, _, _ = model.queries(F_A)  # [N, Q, D]
    model.queries.query_embed.weight[0].copy_(saved)  # put the model back as it was
assert torch.allclose(flipped[:, 0], expected_q0, atol=1e-5)
assert torch.allclose(flipped[:, 1:], tgt[:, 1:], atol=1e-6)  # the other queries do not move
print(
    "query 0 after the flip = your expected_q0 (max diff "
    f"{(flipped[:, 0] - expected_q0).abs().max().item():.1e})"
)

# %% [markdown]
# Before training the prototypes are random, so the pattern says little. After training you can redraw it
# (exercise below) and look for queries that respond to some sounds and not to others, and for rows of
# silent seconds.
#
# ## One forward pass
#
# The model works per frame: a clip's `T` frames form the batch, and frame *t* is paired with audio
# second *t*. Mask2Former's output convention: class logits per query (2 classes + "no object"), mask logits
# per query at the mask-feature resolution, and the same pair for the initial prediction and every decoder
# layer but the last (`aux_outputs`, for deep supervision).

# %%
clip = clips[0]
with torch.no_grad():
    out = model(clip["frames"].to(dev), clip["log_mel"].to(dev))
print("frames      ", tuple(clip["frames"].shape), "  log_mel", tuple(clip["log_mel"].shape))
print("pred_logits ", tuple(out["pred_logits"].shape), "  [T, Q, classes + no-object]")
print("pred_masks  ", tuple(out["pred_masks"].shape), "  [T, Q, H/stride, W/stride]")
print(
    "aux_outputs ",
    len(out["aux_outputs"]),
    "x",
    {k: tuple(x.shape) for k, x in out["aux_outputs"][0].items()},
)
n_frames = clip["frames"].shape[0]
assert out["pred_logits"].shape == (n_frames, s1_model_cfg.num_queries, 3)
assert out["pred_masks"].shape[:2] == (n_frames, s1_model_cfg.num_queries)
assert len(out["aux_outputs"]) == s1_model_cfg.num_decoder_layers

# %% [markdown]
# Parameters per part (the `stepstones model-info` view). The frozen encoders do not train (compare `params`
# and `trainable` for the backbone and the audio encoder), but the decoders do (the deviation above), so
# about half of all parameters are trainable here, far more than in the official code.

# %%
print(model_summary(model))
counts = count_parameters(model)
assert 0 < counts["trainable"] < counts["total"]
print(f"trainable share: {counts['trainable'] / counts['total']:.1%}")
body = [p for n, p in model.named_parameters() if n.startswith("backbone.body.")]
assert body and not any(
    p.requires_grad for p in body
)  # the pretrained backbone is frozen; its adapters train

# %% [markdown]
# ## Train stage 1
#
# `course.stage1(seed, on_eval=...)` trains the stage-1 model on binary masks (or finds the cached run) and
# calls `on_eval` with every evaluation record, which we use to redraw a live plot of the training loss and
# the validation mIoU. If the run is already cached (another notebook or an earlier run trained it), nothing
# is trained and we plot the stored history instead.

# %%
records: list[dict] = []
handle = None
LIVE_KEYS = ("train_loss", "val_miou", "val_fscore")


def live_plot(record: dict) -> None:
    """Redraw the history figure in place after every evaluation."""
    global handle
    records.append(record)
    fig = viz.plot_history(records, LIVE_KEYS, title=f"Stage 1 (live), step {record['step']}")
    if handle is None:
        handle = display(fig, display_id=True)
    else:
        handle.update(fig)
    plt.close(fig)


run = course.stage1(seed, on_eval=live_plot)
history = Course.history(run)
print("run folder:", run)
print("trained now" if records else "cached run: plotted from its history", f"({len(history)} evaluations)")
fig = viz.plot_history(history, LIVE_KEYS, title="Stage 1 (AVS) training history")
viz.save_figure(fig, "02_stage1_history")
plt.show()

# %% [markdown]
# **What you should see:** the training loss falls steeply at first and flattens after the learning-rate drop
# at half the steps, while the validation mIoU rises and levels off (in `smoke` the 20 steps show little).

# %%
assert (run / "best.pt").is_file() and len(history) >= 1
assert history[-1]["step"] == course.profile.train.stage1_steps
assert all(0.0 <= r["val_miou"] <= 1.0 for r in history)

# %% [markdown]
# ## Predictions vs ground truth
#
# Rebuild the best checkpoint and look at the same test clips as above: the first three of the test split in
# which something sounds (a fixed rule; no clip is picked by hand or by how well it comes out). The binary
# decision is Mask2Former's semantic inference with two classes: a pixel is sounding where the "sounding"
# score beats the "background" score. Top row: the ground truth; then the prediction with the real audio and
# with the audio **muted** (the log-mel of digital silence).

# %%
from stepstones_lite.train.predict import predict as run_model  # noqa: E402  (one way to run a trained model)

trained, _, _ = pipeline.load_model(run / "best.pt", device=dev)


def predict(item: dict, muted: bool = False) -> torch.Tensor:
    """Binary masks ``[T, H, W]`` of the trained stage-1 model at the label size."""
    return (run_model(trained, item, muted=muted, output="logits") > 0).cpu()  # sounding wins


def captions(item: dict) -> list[str]:
    """Per-frame captions: which objects sound in that second."""
    objs = item.get("objects", {}).get("objects", [])
    out = []
    for t in range(item["frames"].shape[0]):
        names = [o["class"] for o in objs if t < len(o["sounding"]) and o["sounding"][t]]
        out.append(f"t={t}: " + (", ".join(names) if names else "silent"))
    return out


for i, item in enumerate(clips):
    pred, pred_muted = predict(item), predict(item, muted=True)
    assert pred.shape == item["masks"].shape and pred.dtype == torch.bool
    fig = viz.prediction_grid(
        item["frames"],
        item["masks"],
        {"with audio": pred, "audio muted": pred_muted},
        title=f"Test clip {item['uid']}",
        captions=captions(item),
    )
    viz.save_figure(fig, f"02_predictions_{i}")
    plt.show()

# %% [markdown]
# **What you should see:** for each clip the ground truth, then the model with audio and muted. Which objects
# come out yellow (found), blue (missed) or vermillion (a silent object marked) depends on the run, so the
# cell below measures it: per object, the share of its pixels the model marks in the seconds it sounds and in
# the seconds it is silent. A model that listens marks a sounding object and leaves a silent one; with the
# audio muted it marks less. A muted row that looks like the audio row means the model segments from the image
# alone.


# %%
def marked_shares(item: dict, pred: torch.Tensor) -> list[dict]:
    """Per object of a synthetic clip: share of its visible pixels marked while it sounds and while it is
    silent."""
    rows = []
    for obj in item["objects"]["objects"]:
        own = item["instances"] == obj["id"]  # [T, H, W] where the object is visible
        on = torch.tensor([bool(s) for s in obj["sounding"][: own.shape[0]]])  # [T]
        row = {
            "clip": item["uid"],
            "object": obj["class"],
            "sounds in": "".join("x" if s else "." for s in on),
        }
        for state, sel in (("sounding", on), ("silent", ~on)):
            px = own[sel]
            row[state] = float((pred[sel] & px).sum() / px.sum()) if px.any() else float("nan")
        rows.append(row)
    return rows


if sidecars:
    table = {
        name: pd.DataFrame([r for item in clips for r in marked_shares(item, predict(item, muted=muted))])
        for name, muted in (("with audio", False), ("audio muted", True))
    }
    shares = table["with audio"].join(table["audio muted"][["sounding", "silent"]].add_suffix(" (muted)"))
    display(shares.round(2))
    for name, t in table.items():
        print(
            f"{name}: sounding objects {t['sounding'].mean():.0%} marked, "
            f"silent ones {t['silent'].mean():.0%}"
        )
    if cfg.name == "classroom":  # a trained model listens at least this much; in smoke nothing has learned
        assert (
            table["audio muted"][["sounding", "silent"]].sum().sum()
            < table["with audio"][["sounding", "silent"]].sum().sum()
        )

# %% [markdown]
# ## The exact AVSBench metrics and the diagnostics
#
# `course.evaluate(run)` scores the test split with the exact AVSBench binary protocol (per-frame IoU with
# the empty-GT rule, mean over frames of each evaluation batch, then over batches; max F-score with
# β² = 0.3 over 255 thresholds) and adds diagnostics the benchmark does not report:
#
# - `diag_silent_empty_rate`: share of silent frames (empty GT) predicted completely empty;
# - `diag_distractor_fp`: share of a never-sounding object's area marked as sounding;
# - `diag_miou_silent` / `_sounding` / `_single` / `_multi`: mIoU per frame type;
# - `diag_sounding_recall`: share of sounding objects' area found.
#
# Then the same model is scored with the audio muted at test time. A model that *uses* the audio should
# change its answer when the audio disappears; one that segments "likely sound makers" from the image alone
# should not.

# %%
results = {"with audio": course.evaluate(run), "audio muted": course.evaluate(run, mute_audio=True)}
KEYS = [
    "miou",
    "fscore",
    "diag_miou_silent",
    "diag_miou_sounding",
    "diag_miou_single",
    "diag_miou_multi",
    "diag_silent_empty_rate",
    "diag_silent_fp_area",
    "diag_distractor_fp",
    "diag_silent_instance_fp",
    "diag_sounding_recall",
]
print(f"{'metric':<26}{'with audio':>12}{'audio muted':>13}")
for key in KEYS:
    print(f"{key:<26}{results['with audio'][key]:>12.3f}{results['audio muted'][key]:>13.3f}")
print(
    f"test frames: {int(results['with audio']['num_frames'])} "
    f"({int(results['with audio']['diag_n_silent'])} silent)"
)
LOWER = [
    "diag_silent_fp_area",
    "diag_distractor_fp",
    "diag_silent_instance_fp",
]  # false positives: lower is better
fig = viz.compare_bars(
    results, KEYS, title="Stage 1 on the test split: real vs muted audio", lower_is_better=LOWER
)
viz.save_figure(fig, "02_stage1_diagnostics")
plt.show()

# %% [markdown]
# **What you should see:** paired bars per metric, real vs muted audio, in two panels: scores where higher is
# better (↑) on the left, false-positive rates where lower is better (↓) on the right. A model that listens
# loses sounding recall and gains empty silent frames when the audio is muted; the line printed below says
# what this run does.

# %%
recall, empty = (
    tuple(results[c][k] for c in results) for k in ("diag_sounding_recall", "diag_silent_empty_rate")
)
print(
    f"muting the audio: sounding recall {recall[0]:.3f} -> {recall[1]:.3f}, "
    f"empty silent frames {empty[0]:.3f} -> {empty[1]:.3f}"
)
if cfg.name == "classroom":
    assert recall[1] < recall[0] and empty[1] >= empty[0]

# %% [markdown]
# The benchmark's mIoU is the mean of per-frame IoUs; check that against our own predictions clip by clip
# (the Stepping Stones protocol scores one clip per evaluation batch, and every annotated frame counts):

# %%
from stepstones_lite.metrics import BinaryMeter  # noqa: E402

meter = BinaryMeter(batch_videos=1)
for i in range(len(test_set)):
    item = test_set[i]
    valid = item["valid"]
    meter.update(predict(item)[valid], item["masks"][valid])
by_hand = meter.compute()["miou"]
print(f"mIoU from our predictions {by_hand:.4f} | course.evaluate {results['with audio']['miou']:.4f}")
assert abs(by_hand - results["with audio"]["miou"]) < 1e-3
for res in results.values():
    assert 0.0 <= res["miou"] <= 1.0 and 0.0 <= res["fscore"] <= 1.0

# %% [markdown]
# How to read the table (the numbers depend on the profile and steps, so compare them yourself):
#
# - If **muted mIoU drops** and silent frames stay empty, the model uses the audio to decide *whether* and
#   *what* sounds. If the muted numbers are about the same as with audio, the model has learned a
#   vision-only prior ("instruments and animals sound"): typically high distractor false positives.
# - A high `diag_miou_silent` can hide a model that outputs nothing at all: check `diag_miou_sounding` and
#   `diag_sounding_recall` next to it. In `smoke` (a few steps) such degenerate models are common.
# - The committed study measures this in the classroom profile over three seeds: the arms
#   `stage1_muted_test` (this stage 1 fed silence) and `stage1_muted_train` (a stage 1 trained on silence) in
#   `results/reproduce_classroom.md`, printed in notebook 06.
# - *Which* silent objects it marks (`results/stage1_errors_classroom.md`, measured in the coarse regime where
#   both stand-ins knew only super-classes): the paper-faithful stage 1 marks
#   most of a silent distractor's area whatever its super-class, i.e. it segments "things that can sound"
#   while something is audible. The class-matching deviation removes the distractors of *another* super-class
#   but not those of the *same* one: stand-ins trained on super-classes cannot tell a silent cat from a
#   barking dog, which is also what keeps the course's stage 1 well below the paper's.
#
# ## Check your understanding
#
# 1. In masked attention, why does a fully blocked row have to be unblocked, and what does the query then
#    attend to?
# 2. In Eq. 1, what happens to query *i* if its prototype `P_audio^i` is orthogonal to the audio of second
#    *t*? What if the second is silent (the same `F_A` for every silent second)?
# 3. Why can an AVS model score a decent mIoU while ignoring the audio completely? Which diagnostic exposes
#    it?
# 4. Redraw the AAQG similarity heatmap with the *trained* model (`trained.queries`). What changed?

# %% tags=["solution"]
# Solutions (hidden in the student version):
# 1. softmax over a row of -inf is nan (0/0); unblocking lets the query attend to every key (global
#    attention), which is what Mask2Former does when a query's previous mask is empty.
# 2. cos = 0: the query is just Q_obj^i, it ignores the audio of that second. A silent second gives one fixed
#    F_A, so every silent frame gets the same queries -- the model can learn to predict "nothing" for it.
# 3. Many frames have one obvious sound-maker; a vision-only "segment instruments/animals" model gets them
#    right. The muted-audio score, the silent-frame empty rate and the distractor false positives expose it.
# 4. Code:
#    with torch.no_grad():
#        F_A2 = trained.audio_encoder.projector(trained.audio_encoder.embed(log_mel))
#        sim2 = trained.queries(F_A2)[2]
#    viz.plot_query_similarity(sim2.cpu(), rows, title="AAQG after training"); plt.show()

# %% [markdown]
# ## Summary
#
# - AAVS = frozen pretrained encoders (+ adapters) → pixel decoder → masked-attention transformer decoder
#   with audio-aware queries; stage 1 predicts binary "sounding" masks.
# - Masked attention is scaled-dot-product attention with −∞ where a query's previous mask is background;
#   fully blocked rows attend globally.
# - AAQG adds `cos(P_audio, F_A) · F_A` to each learned query: each query takes as much of the audio as its
#   prototype agrees with.
# - Score AVS with the exact AVSBench mIoU / F, and always check the muted-audio and silent-frame diagnostics.
#
# Next: `03_mask_priors` turns this run's predictions into the mask priors ("stepping stones") of stage 2.
