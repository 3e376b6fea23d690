# %% [markdown]
# # 00 · Welcome to Stepping Stones
#
# > A runnable course on audio-visual semantic segmentation, built around
# > *Stepping Stones: A Progressive Training Strategy for Audio-Visual Semantic Segmentation*
# > (Ma, Sun, Wang, Hu, ECCV 2024).
#
# > **Time on 2 CPU cores** (first run, empty artifacts): smoke 5 s, classroom 6 s.

# %% [markdown]
# ## What you will learn
#
# - what **AVS** (audio-visual segmentation: *where* is the sound?) and **AVSS** (audio-visual semantic
#   segmentation: *what* is sounding, pixel by pixel?) ask of a model;
# - the paper's idea: train AVSS in **two stages**, localisation first, then semantics, with the stage-1
#   masks as *stepping stones* for stage 2;
# - how this course is organised (notebooks → package → artifacts) and how to check your environment;
# - how to switch **profiles** (`smoke`, `classroom`, `paper`) and rerun any notebook with **papermill**.

# %% tags=["parameters"]
profile: str = "auto"  # smoke | classroom | paper | auto (reads $STEPSTONES_PROFILE, default classroom)
device: str = "auto"  # auto | cpu | cuda | mps
seed: int = 0  # random seed for everything
data_root: "Optional[str]" = None  # dataset folder; None -> $STEPSTONES_DATA or the synthetic set
artifacts_dir: "Optional[str]" = None  # checkpoints/priors; None -> $STEPSTONES_ARTIFACTS or ./artifacts

# %% [markdown]
# ## Setup
#
# Every notebook starts the same way: import the package, resolve the profile, seed everything and
# print the environment. The notebooks never define the model; they import it from `stepstones_lite`.

# %%
import os

import stepstones_lite
from stepstones_lite import viz

if artifacts_dir is not None:
    os.environ["STEPSTONES_ARTIFACTS"] = artifacts_dir
cfg = stepstones_lite.resolve_profile(profile)
stepstones_lite.seed_everything(seed)
env = stepstones_lite.print_env()
dev = stepstones_lite.resolve_device(device)
viz.set_style()
print(f"profile: {cfg.name} - {cfg.description}")

# %% [markdown]
# ## The task in one picture
#
# A clip is a few video frames (one per second) and its soundtrack. **AVS** asks for a binary mask of the
# objects that make sound in each frame. **AVSS** asks for a class per pixel (dog, piano, man, ...; 70
# classes plus background in AVSBench). Vision alone cannot solve either: a frame with a silent dog and a
# playing piano looks the same as one where the dog barks and the piano is silent.
#
# The paper observes that end-to-end AVSS models struggle with this "mashup" of *where* and *what*. Its
# answer, **Stepping Stones**, is a two-stage curriculum:

# %%
fig = viz.plot_pipeline()
path = viz.save_figure(fig, "00_pipeline")
print("saved", path.name)

# %% [markdown]
# **What you should see:** five boxes from left to right (clips, stage 1 = *where*, mask priors, stage 2 =
# *what*, evaluation); the priors that stage 1 writes are what stage 2 reads.

# %% [markdown]
# - **Stage 1 (AVS)** trains the AAVS model (a Mask2Former whose queries are generated from the audio) on
#   binary "sounding" masks.
# - Its predictions are saved as **mask priors** in the AVSBench PNG convention.
# - **Stage 2 (AVSS)** trains a *fresh* model that receives the prior in three places (mask fusion, the
#   first masked-attention mask, robust audio-aware keys). It trains with ground-truth masks and is tested
#   with stage-1 predictions.
#
# ## Profiles: one switch for every size
#
# All sizes, steps and switches live in one dataclass config per profile, never in a notebook.

# %%
for name in ("smoke", "classroom", "paper"):
    p = stepstones_lite.resolve_profile(name)
    print(
        f"{name:9s} | {p.data.image_size:3d} px | D={p.model.hidden_dim:3d} | "
        f"{p.model.num_decoder_layers} decoder layers | {p.model.num_queries:3d} queries | "
        f"stage-1 steps {p.train.stage1_steps}"
    )

# %% [markdown]
# Overrides are keywords `section__field`; a typo is an error, not a silent no-op:

# %%
small = stepstones_lite.resolve_profile("classroom", train__stage1_steps=10, model={"hidden_dim": 32})
assert small.train.stage1_steps == 10 and small.model.hidden_dim == 32
try:
    stepstones_lite.resolve_profile("classroom", train__stage1_stpes=10)
except KeyError as err:
    print("caught:", err)
assert stepstones_lite.resolve_profile(small.name).to_json() != small.to_json()
assert stepstones_lite.Profile.from_json(small.to_json()) == small  # configs round-trip through JSON

# %% [markdown]
# ## Rerunning with papermill
#
# The cell above tagged `parameters` holds this notebook's knobs. Papermill injects new values right after
# it, so any notebook can be rerun from a shell with other settings:
#
# ```bash
# papermill notebooks/00_welcome.ipynb build/00_welcome.out.ipynb -p profile smoke -p seed 1
# papermill --help-notebook notebooks/00_welcome.ipynb   # lists the documented parameters
# ```
#
# `make run` executes every notebook this way in the `classroom` profile; `make test` runs them in the
# `smoke` profile under nbval.
#
# **Teachers:** build the cache before class (`make run`, or
# `stepstones reproduce --profile classroom --seeds 0`). Every training step is a cached run under
# `artifacts/`, so in class notebooks 02 and 04 reuse the trained models and open in seconds; without the
# cache they train (minutes each on a laptop CPU, with progress bars).

# %%
assert cfg.name in ("smoke", "classroom", "paper")
assert dev.type in ("cpu", "cuda", "mps")

# %% [markdown]
# ## References
#
# The papers this course builds on (the code credits each idea where it uses it):
#
# - Ma, Sun, Wang, Hu. *Stepping Stones: A Progressive Training Strategy for Audio-Visual Semantic
#   Segmentation.* ECCV 2024 (arXiv 2407.11820). The course's subject: stage 1 (AVS) → mask priors →
#   stage 2 (AVSS), the AAVS model.
# - Zhou et al. *Audio-Visual Segmentation.* ECCV 2022, and *Audio-Visual Segmentation with Semantics.*
#   IJCV 2024 (arXiv 2301.13190): the AVSBench benchmark (S4, MS3, AVSS), its metrics and the **TPAVI**
#   baseline (temporal pixel-wise audio-visual interaction: every pixel of the visual features attends to the
#   audio of each frame).
# - Cheng et al. *Masked-attention Mask Transformer for Universal Image Segmentation* (Mask2Former).
#   CVPR 2022: the pixel decoder, the masked-attention decoder and the Hungarian-matched mask losses AAVS is
#   built on.
# - Liu et al. *Swin Transformer.* ICCV 2021: the paper's visual backbone (here a small CNN stand-in).
# - Hershey et al. *CNN Architectures for Large-Scale Audio Classification* (VGGish). ICASSP 2017: the
#   paper's audio encoder and the log-mel front end the course reproduces.
# - Gemmeke et al. *Audio Set.* ICASSP 2017, and Zhou et al. *Scene Parsing through ADE20K.* CVPR 2017: the
#   data the paper's encoders were pre-trained on, which the stand-ins imitate.

# %% [markdown]
# ## Check your understanding
#
# 1. Why can a model that only sees the frames not solve AVS?
# 2. During stage-2 *training* the prior is the ground-truth mask; at *test* time it is the stage-1
#    prediction. What problem does this mismatch create, and which stage-2 module is meant to soften it?
# 3. Which profile would you use to check that a notebook runs at all, and which to see real results?

# %% tags=["solution"]
# Solutions (hidden in the student version):
# 1. The same pixels can be silent or sounding; only the audio says which object makes the sound, and when.
# 2. Test priors have errors the model never saw in training; the robust audio-aware keys give pixels near
#    the prior's edges an "uncertain" embedding so stage 2 does not trust the prior blindly.
# 3. `smoke` for "does it run" (seconds), `classroom` for results on a laptop (minutes).

# %% [markdown]
# ## Summary
#
# - AVS = *where* the sound is; AVSS = *what* is sounding, per pixel.
# - Stepping Stones splits AVSS into stage 1 (localise) and stage 2 (recognise, given the stage-1 mask).
# - Profiles keep sizes out of notebooks; papermill reruns any notebook with new parameters.
#
# Next: `01_data_and_metrics` builds the synthetic benchmark and works the AVSBench metrics by hand.
