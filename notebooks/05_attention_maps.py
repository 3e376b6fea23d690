# %% [markdown]
# # 05 · Attention maps: where do the audio queries look?
#
# > Open the trained stage-2 decoder: per-layer cross-attention of each query over the frames, the
# > audio-prototype similarity over time, the robust-key maps, and a number for "attention follows the sound".
#
# > **Time on 2 CPU cores** (first run, empty artifacts): smoke 12 s, classroom 26 s.

# %% [markdown]
# ## What you will learn
#
# - what `model(..., return_attn=True)` returns: per layer the cross-attention `[N, heads, Q, h_l, w_l]` at
#   the layer's scale (1/32 → 1/16 → 1/8, cycling), the attention masks actually used, the audio-prototype
#   similarity `cos(P_audio, F_A)` `[N, Q]` and the robust-key states;
# - how to read attention grids (layers × frames, layers × heads) over the frames, and how masked attention
#   makes each layer look only where the previous prediction put the mask;
# - how each query's audio term `cos(P_audio^i, F_A(t))` (AAQG, Eq. 1) moves over a clip's seconds;
# - how to **measure** whether attention follows the sounding object: the share of a query's attention mass
#   inside the sounding mask against the mask's share of the image, per layer, and what happens in the
#   seconds when a sound switches off;
# - how to build a small interactive explorer with `ipywidgets`.

# %% tags=["parameters"]
profile: str = "auto"  # smoke | classroom | paper | auto (reads $STEPSTONES_PROFILE, default classroom)
device: str = "auto"  # auto | cpu | cuda | mps
seed: int = 0  # random seed for everything
data_root: "Optional[str]" = None  # dataset folder; None -> $STEPSTONES_DATA or the synthetic set
artifacts_dir: "Optional[str]" = None  # checkpoints/priors; None -> $STEPSTONES_ARTIFACTS or ./artifacts
stage1_steps: "Optional[int]" = None  # stage-1 training steps; None -> the profile's
stage2_steps: "Optional[int]" = None  # stage-2 training steps; None -> the profile's
max_clips: "Optional[int]" = None  # test clips used for the statistics; None -> all
official_checkpoint: "Optional[str]" = None  # a released avss/f_miou_best.pth; None: skip this section
official_audio_weights: "Optional[str]" = None  # its torchvggish weights; None: a random VGGish (plumbing)

# %% [markdown]
# ## Setup
#
# The trained models come from the `Course` cache (notebooks 02–04 built them with the same profile); run
# alone, this notebook trains what it needs first.

# %%
from functools import lru_cache

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pandas as pd
import torch
import torch.nn.functional as F
from IPython.display import display

import stepstones_lite
from stepstones_lite import viz
from stepstones_lite.data import AVSS_CLASSES
from stepstones_lite.model.prior import UNCERTAIN
from stepstones_lite.train import pipeline

setup = stepstones_lite.course_setup(
    profile,
    device=device,
    seed=seed,
    artifacts_dir=artifacts_dir,
    data_root=data_root,
    train__stage1_steps=stage1_steps,
    train__stage2_steps=stage2_steps,
)
cfg, dev, course = setup.profile, setup.device, setup.course
s1 = course.stage1(seed)
priors = course.stage1_priors(s1)
s2 = course.stage2(seed, priors=priors)
stage2, _, _ = pipeline.load_model(s2 / "best.pt", device=dev)
stage1, _, _ = pipeline.load_model(s1 / "best.pt", device=dev)
test_set = pipeline.avss_dataset(
    course.profile, course.root, "test", prior_root=priors, return_instances=True
)
n_clips = len(test_set) if max_clips is None else min(max_clips, len(test_set))
L = len(stage2.decoder.layers)
print(
    f"profile {cfg.name}: {L} decoder layers, {stage2.queries.query_feat.num_embeddings} queries, "
    f"{stage2.decoder.layers[0].cross_attn.h} heads; {n_clips} test clips"
)

# %% [markdown]
# ## What `return_attn=True` gives
#
# We run stage 2 as at test time: each clip with its **stage-1 prior**. Everything is per frame (`N = T`).


# %%
@lru_cache(maxsize=None)
def run_clip(i: int) -> dict:
    """Stage-2 outputs with attention for test clip ``i`` (stage-1 prior), moved to the CPU."""
    item = test_set[i]
    with torch.no_grad():
        out = stage2(item["frames"].to(dev), item["log_mel"].to(dev), item["prior"].to(dev), return_attn=True)
    keep = ("pred_logits", "pred_masks", "attn", "attn_masks", "audio_similarity", "robust_keys")
    return {
        k: [x.cpu() for x in out[k]] if isinstance(out[k], list) else out[k].cpu() for k in keep if k in out
    }


def sounding_clip_index() -> int:
    """A clip with sounding and silent frames if there is one, else one with any sound."""

    def score(i):
        s = (test_set[i]["labels"] > 0).flatten(1).any(1)
        return (bool(s.any() and (~s).any()), bool(s.any()), -i)  # a silent clip never beats a sounding one

    return max(range(n_clips), key=score)


ci = sounding_clip_index()
clip, out = test_set[ci], run_clip(ci)
T = clip["frames"].shape[0]
for layer, (a, m) in enumerate(zip(out["attn"], out["attn_masks"])):
    scale = clip["frames"].shape[-1] // a.shape[-1]
    print(f"layer {layer}: attn {tuple(a.shape)}  mask {tuple(m.shape)}  scale 1/{scale}")
print(
    "audio_similarity",
    tuple(out["audio_similarity"].shape),
    "| robust_keys",
    [tuple(s.shape) for s in out["robust_keys"]],
)

# %% [markdown]
# Two invariants of masked attention: each query's weights over the pixels sum to 1, and blocked pixels get
# exactly 0 (a fully blocked row was opened before the softmax, so it is never all-blocked here).

# %%
for a, m in zip(out["attn"], out["attn_masks"]):
    assert a.shape[:1] == (T,) and a.shape[2:] == m.shape[1:] and m.shape[0] == T
    assert torch.allclose(a.flatten(-2).sum(-1), torch.ones(a.shape[:3]), atol=1e-4)
    assert float(a.masked_fill(~m[:, None], 0.0).abs().sum()) == 0.0  # blocked pixels get no weight
    assert not m.flatten(-2).all(-1).any()  # no fully blocked row was used
sizes = [tuple(a.shape[-2:]) for a in out["attn"]]
assert all(sizes[i] == sizes[i % 3] for i in range(L))  # scales cycle 1/32 -> 1/16 -> 1/8

# %% [markdown]
# ## Which queries to look at
#
# Mask2Former's semantic map sums, over queries, each query's class probabilities times its mask. A query's
# **foreground contribution** in a frame is its probability of a non-background class times its mean mask
# probability; we follow the queries that contribute most on this clip.


# %%
def foreground_contribution(o: dict) -> torch.Tensor:
    """``[T, Q]``: P(class != background, != no-object) * mean sigmoid(mask) per query and frame."""
    probs = o["pred_logits"].softmax(-1)[..., 1:-1].sum(-1)  # [T, Q]
    return probs * o["pred_masks"].sigmoid().mean(dim=(-2, -1))  # [T, Q]


contrib = foreground_contribution(out)  # [T, Q]
queries = contrib.sum(0).topk(2).indices.tolist()
sounding = (clip["labels"] > 0).flatten(1).any(1)  # [T]
print(f"clip {clip['uid']}: sounding frames {sounding.int().tolist()}; followed queries {queries}")
print("objects:", [(o["class"], o["sounding"]) for o in clip["objects"]["objects"]])

# %% [markdown]
# ## Attention over frames, layer by layer
#
# Rows are decoder layers (their scale in brackets), columns are frames; each map is the chosen query's
# attention averaged over heads, drawn over the frame, with the sounding ground truth outlined in white.
# Layer 0's mask is the stage-1 prior; every later layer is masked by the previous layer's predicted mask.

# %%
q = queries[0]
grid = [[out["attn"][layer][t, :, q].mean(0) for t in range(T)] for layer in range(L)]
row_labels = [f"layer {layer} ({sizes[layer][0]}x{sizes[layer][1]})" for layer in range(L)]
fig = viz.attention_grid(
    grid,
    frames=clip["frames"],
    row_labels=row_labels,
    masks=(clip["labels"] > 0),
    col_labels=[f"t={t}" + ("" if sounding[t] else " (silent)") for t in range(T)],
    title=f"query {q}: cross-attention per layer and frame (head mean)",
)
viz.save_figure(fig, "05_attention_layers_frames")
plt.show()

# %% [markdown]
# **What you should see:** layer 0 confined to the stage-1 prior (everywhere in a silent frame); in a trained
# model the later layers concentrate on the white-outlined sounding object (in `smoke` the untrained maps are
# diffuse).

# %% [markdown]
# The same query in one frame, head by head: heads share the mask but not the weights.

# %%
t0 = int(sounding.nonzero()[0]) if sounding.any() else 0
heads = stage2.decoder.layers[0].cross_attn.h
grid = [[out["attn"][layer][t0, h, q] for h in range(heads)] for layer in range(L)]
fig = viz.attention_grid(
    grid,
    frames=clip["frames"][t0 : t0 + 1].expand(heads, -1, -1, -1),
    row_labels=row_labels,
    col_labels=[f"head {h}" for h in range(heads)],
    masks=(clip["labels"][t0 : t0 + 1] > 0).expand(heads, -1, -1),
    title=f"query {q}, frame {t0}: cross-attention per layer and head",
)
viz.save_figure(fig, "05_attention_layers_heads")
plt.show()
plt.close("all")

# %% [markdown]
# **What you should see:** the heads of one layer attend inside the same mask but weigh it differently.

# %% [markdown]
# ## The audio prototypes over time
#
# AAQG (Eq. 1) adds `cos(P_audio^i, F_A(t)) · F_A(t)` to query i in second t. The cosine says how strongly
# each query's prototype "listens" to that second's sound. Shaded frames have an on-screen sounding object.
# Stage 1 and stage 2 are separate models with their own prototypes.

# %%
assert out["audio_similarity"].shape == (T, contrib.shape[1])
assert float(out["audio_similarity"].abs().max()) <= 1.0 + 1e-5
fig = viz.similarity_over_time(
    out["audio_similarity"], sounding=sounding, title=f"stage 2: cos(P_audio, F_A) over clip {clip['uid']}"
)
viz.save_figure(fig, "05_similarity_stage2")
plt.show()
with torch.no_grad():
    sim1 = stage1(clip["frames"].to(dev), clip["log_mel"].to(dev), return_attn=True)["audio_similarity"].cpu()
fig = viz.similarity_over_time(sim1, sounding=sounding, title="stage 1: cos(P_audio, F_A) over the same clip")
viz.save_figure(fig, "05_similarity_stage1")
plt.show()
plt.close("all")

# %% [markdown]
# **What you should see:** one line per query over the clip's seconds (shaded: a sounding object on screen);
# the cell below prints how much each line moves. A flat line does **not** mean the query ignores the audio:
# by Eq. 1 it adds `cos · F_A(t)`, and `F_A(t)` is the audio of second t, so a steady non-zero cosine passes
# every change of the sound on at a fixed dose. Only a cosine near 0 adds nothing. A query that *tells* sounds
# apart is one whose cosine rises in some seconds and drops in others.

# %%
sim2 = out["audio_similarity"]  # [T, Q]
with torch.no_grad():
    F_A = stage2.audio_encoder.projector(stage2.audio_encoder.embed(clip["log_mel"].to(dev))).cpu()  # [T, D]
spread = sim2.max(0).values - sim2.min(0).values  # [Q] how far each line moves over the clip
dose = sim2.abs().mean(0)  # [Q] how much audio each query takes in on average
term = sim2[..., None] * F_A[:, None]  # [T, Q, D] the audio term of Eq. 1
term_moves = (term[1:] - term[:-1]).norm(dim=-1).mean(0) / term.norm(dim=-1).mean(0).clamp_min(1e-12)  # [Q]
audio_moves = float((F_A[1:] - F_A[:-1]).norm(dim=-1).mean() / F_A.norm(dim=-1).mean())
print("per-query range of the cosine over the clip:", [round(v, 3) for v in spread.tolist()])
print("per-query mean |cosine| (the dose):       ", [round(v, 3) for v in dose.tolist()])
print(
    f"F_A moves by {audio_moves:.0%} of its length from one second to the next; the audio term of the query "
    f"with the flattest line (query {int(spread.argmin())}) moves by {float(term_moves[spread.argmin()]):.0%}"
)
flat = spread < 0.5 * dose  # lines that move less than half their own level
print(f"{int(flat.sum())} of {len(flat)} lines are flat in this sense (range < half the mean |cosine|)")
q_flat = int(spread.argmin())
P_audio = stage2.queries.query_embed.weight.cpu()  # [Q, D] the prototypes
assert torch.allclose(
    F.cosine_similarity(P_audio[None], F_A[:, None], dim=-1), sim2, atol=1e-5
)  # the plotted cosine
if (
    dose[q_flat] > 0.05 and audio_moves > 0.01
):  # a flat line with a real dose still carries the changing audio
    assert float(term_moves[q_flat]) > 0.5 * audio_moves

# %% [markdown]
# ## Robust-key maps of the test prior
#
# The states the keys received at each scale (0 silent, 1 uncertain, 2 sounding), from the stage-1 prior.

# %%
t_show = t0
fig = viz.robust_key_maps(
    [s[t_show] for s in out["robust_keys"][:3]],
    prior=clip["prior"][t_show],
    titles=["1/32", "1/16", "1/8"],
    title=f"robust-key states (stage-1 prior), frame {t_show}",
)
viz.save_figure(fig, "05_robust_keys")
plt.show()
print("uncertain pixels per scale:", [int((s == UNCERTAIN).sum()) for s in out["robust_keys"]])

# %% [markdown]
# **What you should see:** the stage-1 prior's states at 1/32, 1/16 and 1/8: sounding on the predicted object,
# silent elsewhere, and few or no uncertain pixels (the count is printed below; 04 explains why).

# %% [markdown]
# ## Explorer
#
# Pick a clip, frame, layer and query; the heatmap is the head-mean attention over the frame. (In a static
# copy of the notebook the widgets do nothing; the call below the widgets draws one view directly.)


# %%
def show_attention(clip_i: int = 0, frame: int = 0, layer: int = 0, query: int = 0) -> plt.Figure:
    """Head-mean attention of ``query`` in ``layer`` over frame ``frame`` of test clip ``clip_i``."""
    item, o = test_set[clip_i], run_clip(clip_i)
    frame, layer = min(frame, item["frames"].shape[0] - 1), min(layer, L - 1)
    amap = o["attn"][layer][frame, :, query].mean(0)  # [h, w]
    top = AVSS_CLASSES[int(o["pred_logits"][frame, query, :-1].argmax())]
    fig = viz.attention_grid(
        [[amap]],
        frames=item["frames"][frame : frame + 1],
        masks=(item["labels"][frame : frame + 1] > 0),
        col_labels=[f"clip {clip_i} t={frame}"],
        row_labels=[f"layer {layer}"],
        title=f"query {query} (top class: {top})",
    )
    plt.show()
    return fig


controls = {
    "clip_i": widgets.IntSlider(value=ci, min=0, max=n_clips - 1, description="clip"),
    "frame": widgets.IntSlider(value=t0, min=0, max=test_set[ci]["frames"].shape[0] - 1, description="frame"),
    "layer": widgets.IntSlider(value=0, min=0, max=L - 1, description="layer"),
    "query": widgets.IntSlider(value=q, min=0, max=contrib.shape[1] - 1, description="query"),
}


def fit_frame_slider(change: dict) -> None:
    """Size the frame slider to the chosen clip (AVSBench mixes 5- and 10-frame clips)."""
    last = test_set[change["new"]]["frames"].shape[0] - 1
    controls["frame"].value = min(controls["frame"].value, last)
    controls["frame"].max = last


controls["clip_i"].observe(fit_frame_slider, names="value")
display(widgets.HBox(list(controls.values())), widgets.interactive_output(show_attention, controls))
fig = show_attention(ci, t0, L - 1, q)  # one view drawn directly (papermill / nbval / static copies)
assert len(fig.axes) >= 1
other = (ci + 1) % n_clips  # switching clips re-sizes the frame slider to that clip's frames
controls["clip_i"].value = other
assert controls["frame"].max == test_set[other]["frames"].shape[0] - 1
controls["clip_i"].value = ci
plt.close("all")

# %% [markdown]
# **What you should see:** one heatmap: the chosen query's head-mean attention on the chosen frame, titled
# with the class it predicts; moving the clip slider re-sizes the frame slider to that clip.

# %% [markdown]
# ## Does attention follow the sounding object?
#
# For every annotated frame with a sounding object we resize the ground-truth sounding mask to each layer's
# scale (area average) and measure
#
# - **mass in** — the share of a query's attention (head mean) that falls inside the mask;
# - **area** — the mask's share of the image, what *uniform* attention would put inside;
# - **lift** = mass in / area: 1 means no preference, above 1 means attention concentrates on the sound.
#
# We report it for the frame's top foreground query and for the mean over all queries. Layer 0 is masked
# by the stage-1 prior, so its number mostly measures the prior; later layers show what the model does.
# In `smoke` nothing is trained, so expect lifts near what the masks alone give.


# %%
def mass_inside(o: dict, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Attention mass inside ``mask [T, H, W]`` ``[L, T, Q]``, top query ``[T]``, mask area ``[L, T]``."""
    masses, areas = [], []
    for a in o["attn"]:
        m = F.adaptive_avg_pool2d(mask[:, None].float(), a.shape[-2:])[:, 0]  # [T, h, w] area fractions
        masses.append((a.mean(1) * m[:, None]).sum(dim=(-2, -1)))  # [T, Q]
        areas.append(m.mean(dim=(-2, -1)))  # [T]
    return torch.stack(masses), foreground_contribution(o).argmax(1), torch.stack(areas)


records = []
for i in range(n_clips):
    item, o = test_set[i], run_clip(i)
    gt = item["labels"] > 0  # [T, H, W]
    mass, top, area = mass_inside(o, gt)
    for t in range(gt.shape[0]):
        if not (item["valid"][t] and gt[t].any()):
            continue
        for layer in range(L):
            records.append(
                {
                    "layer": layer,
                    "mass_top": float(mass[layer, t, top[t]]),
                    "mass_mean": float(mass[layer, t].mean()),
                    "area": float(area[layer, t]),
                }
            )
assert all(0.0 <= r["mass_top"] <= 1.0 + 1e-5 and 0.0 < r["area"] <= 1.0 for r in records)
stats = pd.DataFrame(records).groupby("layer").mean()
stats["lift_top"] = stats["mass_top"] / stats["area"]
stats["lift_mean"] = stats["mass_mean"] / stats["area"]
stats.index = [f"layer {layer} (1/{clip['frames'].shape[-1] // sizes[layer][0]})" for layer in stats.index]
print(f"{len(records) // L} sounding frames")
display(stats.round(3))
# shares (0-1) and lifts (ratios around 1) on their own scales: one colour bar would wash out the shares
fig = viz.share_and_lift_heatmaps(
    stats[["mass_top", "mass_mean", "area"]].values,
    stats[["lift_top", "lift_mean"]].values,
    list(stats.index),
    ["mass in (top q)", "mass in (mean q)", "area"],
    ["lift (top q)", "lift (mean q)"],
    title="attention mass inside the sounding mask, per layer",
)
viz.save_figure(fig, "05_attention_mass")
plt.show()

# %% [markdown]
# **What you should see:** left, shares on a fixed 0–1 scale (mass inside the mask and the mask's area);
# right, lifts centred on 1 (white): red cells above 1 mean attention concentrates on the sounding object.

# %% [markdown]
# **Your turn (change X, expect Y).** Replace every layer's attention by **uniform** attention (each pixel
# gets `1 / (h·w)`). Before running, write `expected_lift`: the lift of the top query in a sounding frame.

# %%
### BEGIN SOLUTION
expected_lift = 1.0  # uniform attention puts exactly the mask's area share inside the mask
### END SOLUTION
uniform = {
    **out,
    "attn": [torch.full_like(a, 1.0 / (a.shape[-2] * a.shape[-1])) for a in out["attn"]],
}  # change X
u_mass, u_top, u_area = mass_inside(uniform, clip["labels"] > 0)
u_frames = [t for t in range(T) if bool(clip["labels"][t].any())]
u_lifts = [float(u_mass[layer, t, u_top[t]] / u_area[layer, t]) for layer in range(L) for t in u_frames]
print(f"uniform attention: lift {min(u_lifts):.4f} .. {max(u_lifts):.4f} over {len(u_lifts)} layer-frames")
assert u_lifts and all(abs(v - expected_lift) < 1e-4 for v in u_lifts)

# %% [markdown]
# ### When the sound switches off
#
# The synthetic set has **partial-time** sounders: objects whose `sounding` flags in `objects.json` are on
# for some seconds and off for others. In an off second the object is still visible but the ground truth is
# empty. Does the model's attention leave the object when its sound stops? We measure the mass inside the
# object's *instance* mask (visible whether or not it sounds) in on and off seconds.


# %%
def partial_clips(dataset, limit: int) -> list[tuple[int, dict]]:
    """(clip index, object) pairs whose object sounds in some frames and is silent in others."""
    found = []
    for i in range(limit):
        for obj in dataset[i]["objects"]["objects"]:
            flags = [bool(s) for s in obj["sounding"]]
            if any(flags) and not all(flags):
                found.append((i, obj))
    return found


pairs = partial_clips(test_set, n_clips)
rows = []
for i, obj in pairs:
    item, o = test_set[i], run_clip(i)
    inst = item["instances"] == int(obj["id"])  # [T, H, W]
    mass, top, area = mass_inside(o, inst)
    for t, on in enumerate(obj["sounding"]):
        if not inst[t].any():
            continue  # the object is hidden in this frame
        for layer in range(L):
            rows.append(
                {
                    "layer": layer,
                    "sound": "on" if on else "off",
                    "mass_top": float(mass[layer, t, top[t]]),
                    "mass_mean": float(mass[layer, t].mean()),
                    "area": float(area[layer, t]),
                }
            )
print(f"{len(pairs)} partial-time sounding objects in {len({i for i, _ in pairs})} test clips")
if rows:
    switch = pd.DataFrame(rows).groupby(["layer", "sound"]).mean().unstack("sound")
    display(switch.round(3))
    lift = (switch["mass_top"] / switch["area"]).reindex(columns=["on", "off"])
    fig = viz.annotated_heatmap(
        lift.values,
        [f"layer {layer}" for layer in lift.index],
        list(lift.columns),
        title="lift of the top query on a partial-time object: sound on vs off",
        cbar_label="mass in / area",
    )
    viz.save_figure(fig, "05_attention_on_off")
    plt.show()
    i, obj = pairs[0]
    fig = viz.similarity_over_time(
        run_clip(i)["audio_similarity"],
        sounding=torch.tensor(obj["sounding"]),
        title=f"clip {test_set[i]['uid']}: cos(P_audio, F_A); shaded: {obj['class']} sounds",
    )
    plt.show()
else:
    print("no partial-time sounders in these test clips: raise max_clips or use a larger profile")
plt.close("all")

# %% [markdown]
# **What you should see:** the lift of the top query in each layer in on and off seconds (lower in off seconds
# if attention follows the sound), then the queries' cosines over the clip with the object's sounding seconds
# shaded.

# %% [markdown]
# How to read the two tables: a lift well above 1 in the later layers means the queries concentrate on the
# sounding object; if the lift on a partial-time object drops in its *off* seconds, attention follows the
# sound rather than the object's appearance. Layer 0 follows whatever the stage-1 prior says, so a stage-1
# model that misses silences passes that error on. Compare the `smoke` numbers with a `classroom` run:
# only a trained model can show an effect, and with few clips the averages are noisy.

# %% [markdown]
# ## Optional: the paper's released model
#
# The authors released their trained stage-2 model (`avss/f_miou_best.pth`, AVSS mIoU 48.50 / F 53.20 on
# AVSBench in their README). `stepstones_lite` converts it into this course's AAVS weight for weight
# (`pipeline.convert_official`; `tests/test_official_parity.py` checks the outputs against the official code
# to 1e-4), so everything above works on it too. Give the file as the parameter `official_checkpoint` (and a
# local torchvggish weights file as `official_audio_weights`: the checkpoint does not hold the VGGish), e.g.
#
# ```
# papermill 05_attention_maps.ipynb out.ipynb -p official_checkpoint ~/ckpt/avss/f_miou_best.pth \
#     -p official_audio_weights ~/ckpt/vggish.pth -p data_root $STEPSTONES_DATA
# ```
#
# The cell converts it, scores it on the test split of this notebook's data with the stage-1 priors above, and
# draws its first query's attention layer by layer on the clip used above. It runs the paper-size model
# (Swin-B at 384 px): minutes per clip on a laptop CPU, seconds on a GPU. On the synthetic set its numbers
# mean little (it never saw these emoji); with `data_root` set to a real AVSBench copy they are the paper's
# test. Without a checkpoint the cell says where to get one and skips.

# %%
if official_checkpoint is None:
    print(
        "No released checkpoint given (parameter official_checkpoint): skipped. The checkpoints are linked "
        "from the README of https://github.com/GeWu-Lab/Stepping-Stones (avs/ = stage 1, avss/ = stage 2); "
        "the README section 'Use the released checkpoints' has the commands."
    )
else:
    from stepstones_lite.config import resolve_profile
    from stepstones_lite.utils import artifacts_dir

    base = resolve_profile("paper", model__audio_weights=official_audio_weights)
    converted = pipeline.convert_official(
        official_checkpoint, "avss", artifacts_dir() / "official_avss", base
    )
    released, released_profile, _ = pipeline.load_model(converted, device=dev)
    scores = pipeline.evaluate_checkpoint(converted, "test", data_root=course.root, prior=priors, device=dev)
    print(
        f"released model, test split with the stage-1 priors: AVSS mIoU {scores['miou']:.3f}, "
        f"F {scores['fscore']:.3f}"
    )
    released_set = pipeline.avss_dataset(released_profile, course.root, "test", prior_root=priors)
    r_item = released_set[ci]  # the clip used above, at the released model's input size
    with torch.no_grad():
        r_out = released(
            r_item["frames"].to(dev), r_item["log_mel"].to(dev), r_item["prior"].to(dev), return_attn=True
        )
    r_attn = [a.cpu() for a in r_out["attn"]]
    r_sizes = [tuple(a.shape[-2:]) for a in r_attn]
    grid = [[r_attn[layer][t, :, 0].mean(0) for t in range(T)] for layer in range(len(r_attn))]
    fig = viz.attention_grid(
        grid,
        frames=r_item["frames"],
        masks=(r_item["labels"] > 0),
        row_labels=[f"layer {layer} {r_sizes[layer]}" for layer in range(len(r_attn))],
        col_labels=[f"t={t}" for t in range(T)],
        title="released stage-2 model: query 0's cross-attention per layer and frame",
    )
    viz.save_figure(fig, "05_official_attention")
    plt.show()
    assert 0.0 <= scores["miou"] <= 1.0 and len(r_attn) == released_profile.model.num_decoder_layers

# %% [markdown]
# **What you should see:** without a checkpoint, one line saying where to get it. With one: the released
# model's test scores and its query-0 attention, rows = its 9 decoder layers (12, 24, 48 px at 384 px input),
# columns = the clip's frames; layer 0 is held to the prior like ours.

# %% [markdown]
# ## Check your understanding
#
# 1. Why do the attention maps of layers 0, 3, 6, … have the same size, and why are they the coarsest?
# 2. A query's attention in layer 2 is zero on most pixels. Which earlier output decided that?
# 3. `lift_top` is 1.0 in some layer. What does the attention look like there?
# 4. Why is layer 0's mass inside the sounding mask not evidence that the *decoder* learned to listen?
# 5. An object is visible in all five seconds but sounds only in seconds 3–4. Which two numbers would show
#    that attention follows the sound rather than the object?

# %% tags=["solution"]
# Solutions (hidden in the student version):
# 1. Layers cycle over the memories 1/32 -> 1/16 -> 1/8 (level = layer % 3); layers 0, 3, 6 use 1/32.
# 2. Layer 1's prediction: its mask logits, resized to layer 2's scale, blocked where sigmoid < 0.5.
# 3. Attention mass inside the mask equals the mask's area share: no preference (e.g. uniform attention).
# 4. Layer 0's attention mask *is* the stage-1 prior (resized, < 0.5 blocked): its mass comes from stage 1.
# 5. The lift on the object's instance mask in "on" seconds vs "off" seconds (off clearly lower).

# %% [markdown]
# ## Summary
#
# - `return_attn=True` exposes per-layer cross-attention `[N, heads, Q, h_l, w_l]`, the masks used, the
#   audio-prototype similarity and the robust-key states.
# - Masked attention confines each layer to the previous prediction (layer 0: the prior); rows sum to 1 and
#   blocked pixels get 0.
# - The lift (attention mass inside the sounding mask / its area) turns "attention follows the sound" into a
#   number per layer, and partial-time sounders test whether it leaves an object when its sound stops.
#
# Next: `06_reproduce_paper` runs the study over seeds and compares it with the paper's tables.
