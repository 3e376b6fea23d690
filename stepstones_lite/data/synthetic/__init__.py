"""Synthetic AVSBench-semantic benchmark from real, pip-installable material (``docs/data_sources.md``).

Public API: :class:`SynthConfig` (every knob), :func:`generate_dataset` (seeded, parallel, resumable) and
:func:`available_classes` / :func:`inventory` (what this machine can render).

On-disk layout (AVSBench-semantic, ``docs/avsbench.md`` §1.3)::

    root/label2idx.json                      full 71-class mapping, values 1..71 (background = 1)
    root/metadata.csv                        vid,uid,s_min,s_sec,a_obj,split,label  (label = v1m)
    root/dataset.json                        config, generator version, materials found
    root/LICENSES.md                         credits of every material source used
    root/v1m/<uid>/frames/{0..T-1}.jpg       RGB, JPEG q90, S x S
    root/v1m/<uid>/labels_rgb/{k}.png        palette colours of the *sounding* visible objects (RGB)
    root/v1m/<uid>/labels_semantic/{k}.png   uint8 class index ('L'), 0 = background
    root/v1m/<uid>/audio.wav                 16 kHz mono PCM-16, 1 s per frame
    root/v1m/<uid>/instances/{k}.png         sidecar: uint8 object id (1..n) of the visible object, 0 = none
    root/v1m/<uid>/objects.json              sidecar, schema below

``uid`` = ``{vid}_{startms}_{endms}`` = ``synth000123_0_5000``; ``a_obj`` = classes of the visible objects
that sound at some time, joined by ``_`` (``none`` if no visible object sounds; off-screen sounds are not
listed).

``objects.json`` schema::

    {"uid": str, "size": int, "num_frames": int, "split": "train"|"val"|"test", "a_obj": str,
     "background": "procedural" | "skimage:<file>" | "tux:<file>",
     "objects": [{"id": int (value in instances/*.png), "class": str,
                  "class_index": int | null (AVSBench index; null for non-AVSBench silent objects, e.g. cow),
                  "sounding": [bool] * num_frames, "distractor": bool (never sounds in this clip),
                  "silent_only": bool (the class can never sound), "style": "twemoji"|"openmoji"|"noto"|"tux",
                  "sound_source": str | null (e.g. "ovos:dog.mp3", "gm:TimGM6mb:40", "speech:en-us+m3",
                                              "siren:wail"; "#head"/"#tail" = time-split source holdout)}],
     "off_screen": [{"class": str, "seconds": [int], "sound_source": str}]}

``metadata.csv`` is written last: its presence marks a complete dataset (``dataset.json`` is written first).

Examples (the same flags on ``data_scripts/make_synthetic_avss.py``)::

    stepstones make-data --profile classroom --out data/synthetic            # 1000 clips, 112 px, seed 0
    stepstones make-data --objects-per-clip 1-1 --sounding-probs 0,1 --off-screen-prob 0   # easiest
    stepstones make-data --num-objects-probs 0,.3,.4,.3 --sounding-probs .1,.4,.3,.2 \
        --same-family-prob 1 --partial-sounding-prob .7 --off-screen-prob .5 --noise-std .006,.06  # harder
    stepstones make-data --classes all --class-distribution zipf --zipf-exponent 1 --clips-per-class 200
    stepstones make-data --holdout style --out data/synthetic_style    # test split: OpenMoji sprites only

Environment: ``$STEPSTONES_CACHE`` (speech bank cache, default ``~/.cache/stepstones_lite``),
``$STEPSTONES_APT_ROOT`` (where the optional apt layer lives, default ``/``; a ``dpkg -x`` folder works).

Invariant: ``labels_semantic[k] > 0`` exactly where ``instances[k]`` holds an object that sounds in second
``k``, and then equals that object's ``class_index``. Holdout test sets: see :mod:`.generator`.
"""

from .config import GENERATOR_VERSION, GeneratorKnobs, SynthConfig, default_root, profile_overrides
from .generator import METADATA_COLUMNS, clip_schedule, generate_dataset
from .materials import DEFAULT_CLASSES, SILENT_ONLY, available_classes, inventory

__all__ = [
    "SynthConfig",
    "GeneratorKnobs",
    "default_root",
    "profile_overrides",
    "generate_dataset",
    "clip_schedule",
    "available_classes",
    "inventory",
    "DEFAULT_CLASSES",
    "SILENT_ONLY",
    "METADATA_COLUMNS",
    "GENERATOR_VERSION",
]
