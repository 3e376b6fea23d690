"""One synthetic AVSS clip: sample a plan from the clip's own RNG, render frames, masks and audio, write it.

Recipe of ``docs/data_sources.md`` §3.2: 1–3 objects of distinct classes on a photo/texture or
procedural background, each drifting and rotating a little per frame; some sound for the whole clip, some on a
contiguous sub-interval (>= 2 s), the others are silent distractors (other sounding-capable classes, the same
family, or never-sounding objects such as a cow); an optional off-screen sound that must not be segmented.
Frame ``t``'s label contains an object only while it sounds during second ``t`` and only where it is visible
after occlusion (a silent object in front writes background). This mirrors AVSBench-semantic's annotation
rule (only sounding objects are labelled; Zhou et al., "Audio-Visual Segmentation with Semantics", §3).
"""

from __future__ import annotations

import json
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..classes import class_index, palette
from . import materials as M
from .config import SynthConfig

__all__ = ["ObjectPlan", "ClipPlan", "ClipArrays", "plan_and_render", "write_clip"]

_DRUM_KEYS = (35, 36, 38, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 57)
_FADE = int(0.01 * M.SR)  # 10 ms fades at every sound boundary


@dataclass
class ObjectPlan:
    id: int  # 1..n, value in instances/{k}.png
    cls: str
    style: str
    variant: int
    sounding: list[bool]  # per frame
    distractor: bool  # never sounds in this clip
    silent_only: bool  # class can never sound
    sound_source: str | None = None


@dataclass
class ClipPlan:
    index: int
    uid: str
    split: str
    background: str
    objects: list[ObjectPlan] = field(default_factory=list)
    off_screen: list[dict] = field(default_factory=list)  # {"class", "seconds", "sound_source"}


@dataclass
class ClipArrays:
    frames: np.ndarray  # [T, S, S, 3] uint8
    instances: np.ndarray  # [T, S, S] uint8, object id of the visible object (0 = none)
    semantic: np.ndarray  # [T, S, S] uint8, class index of sounding visible objects (0 = background)
    audio: np.ndarray  # [T * SR] float32 in [-1, 1]


# --------------------------------------------------------------------------- helpers
def _pick(rng: np.random.Generator, items, weights=None):
    items = list(items)
    if weights is None:
        return items[int(rng.integers(len(items)))]
    w = np.asarray(weights, np.float64)
    return items[int(rng.choice(len(items), p=w / w.sum()))]


def _count(rng: np.random.Generator, probs) -> int:
    p = np.asarray(probs, np.float64)
    return int(rng.choice(len(p), p=p / p.sum()))


def _styles_for(cfg: SynthConfig, split: str) -> tuple[str, ...]:
    have = M.inventory().styles()
    styles = tuple(s for s in cfg.styles if s in have) or have
    if cfg.holdout == "style":
        held = tuple(s for s in styles if s in cfg.holdout_styles)
        rest = tuple(s for s in styles if s not in cfg.holdout_styles)
        styles = (held or styles) if split == "test" else (rest or styles)
    return styles


def _sources_for(cfg: SynthConfig, cls: str, split: str) -> tuple[tuple[str, str], ...]:
    """(source id, segment) pairs; segment 'all' | 'head' (first 70 %) | 'tail' (last 30 %) of a recording."""
    src = M.inventory().sources(cls)
    if cfg.holdout != "source":
        return tuple((s, "all") for s in src)
    if len(src) >= 2:
        k = (len(src) + 1) // 2
        return tuple((s, "all") for s in (src[k:] if split == "test" else src[:k]))
    return tuple((s, "tail" if split == "test" else "head") for s in src)  # one source: hold out a time range


def _timing(cfg: SynthConfig, rng: np.random.Generator) -> list[bool]:
    T = cfg.num_frames
    lo = max(1, min(cfg.min_partial_seconds, T - 1))
    if T >= 2 and rng.random() < cfg.partial_sounding_prob:
        length = int(rng.integers(lo, T))  # lo .. T-1 seconds
        start = int(rng.integers(0, T - length + 1))
        return [start <= t < start + length for t in range(T)]
    return [True] * T


# --------------------------------------------------------------------------- audio
def _energy_crop(rng: np.random.Generator, wav: np.ndarray, n: int, key: tuple, seg: str) -> np.ndarray:
    """An ``n``-sample crop of ``wav`` (restricted to segment ``seg``), start drawn with probability ∝ crop
    energy on a 50 ms grid (the sound is tiled if shorter). ``key`` names the cached energy of ``wav``."""
    step = M.SR // 20
    cut = (len(wav) * 7 // 10) // step * step
    lo, hi = (0, cut) if seg == "head" else (cut, len(wav)) if seg == "tail" else (0, len(wav))
    if hi - lo <= n:
        part = wav[lo:hi]
        part = np.tile(part, int(np.ceil(n / max(1, len(part)))) + 1)
        start = int(rng.integers(0, len(part) - n + 1))
        return part[start : start + n]
    c = M.block_energy(key)  # [n_blocks + 1]
    nb = n // step
    starts = np.arange(lo // step, (hi - n) // step + 1)
    e = c[np.minimum(starts + nb, len(c) - 1)] - c[starts] + 1e-6
    start = int(starts[rng.choice(len(starts), p=e / e.sum())]) * step
    return wav[start : start + n]


def _gm_spec(cls: str, preset: int) -> tuple[int, int]:
    for spec in M.SOUNDS[cls]:
        if spec[0] == "gm" and spec[1] == preset:
            return spec[2], spec[3]
    return 48, 84


def _source_audio(cls: str, source: str, seg: str, n_sec: int, rng: np.random.Generator) -> np.ndarray:
    """``n_sec`` seconds of class ``cls`` from ``source`` (fresh crop / notes each second), peak 1."""
    SR = M.SR
    out = np.zeros(n_sec * SR + SR, np.float32)  # one spare second for note tails
    kind = source.split(":", 1)[0]
    if kind in ("ovos", "tux"):
        step = int(rng.choice(M.PITCH_STEPS))
        wav = M.recording(source, step)
        for s in range(n_sec):
            out[s * SR : (s + 1) * SR] = _energy_crop(rng, wav, SR, ("rec", source, step), seg)
    elif kind == "speech":
        bank = M.speech_bank()[source.split(":", 1)[1]]
        for s in range(n_sec):
            u = int(rng.integers(len(bank)))
            key = ("speech", source.split(":", 1)[1], u)
            out[s * SR : (s + 1) * SR] = _energy_crop(rng, bank[u], SR, key, seg)
    elif kind == "siren":
        out[: n_sec * SR] = M.siren(source.split(":")[1], n_sec, rng)
    elif kind in ("gm", "drums", "sfx"):
        parts = source.split(":")
        bank, preset = parts[1], int(parts[2])
        for s in range(n_sec):
            if kind == "sfx":
                notes = [(0.0, 1.0, int(parts[3]) + int(rng.integers(-2, 3)), 1.0)]
            elif kind == "drums":
                notes = [
                    (rng.uniform(0, 0.9), 0.3, _pick(rng, _DRUM_KEYS), rng.uniform(0.5, 1.0))
                    for _ in range(int(rng.integers(2, 7)))
                ]
            else:
                lo, hi = _gm_spec(cls, preset)
                notes = [
                    (
                        rng.uniform(0, 0.7),
                        rng.uniform(0.2, 0.9),
                        int(rng.integers(lo, hi + 1)),
                        rng.uniform(0.5, 1.0),
                    )
                    for _ in range(int(rng.integers(1, 5)))
                ]
            for onset, dur, key, vel in notes:
                note = M.gm_note(
                    bank,
                    preset,
                    key,
                    drums=kind == "drums",
                    hold=1.0 if kind == "sfx" else (0.3 if kind == "drums" else 1.0),
                )
                keep = min(len(note), int(dur * SR) + int(0.1 * SR))
                piece = note[:keep].copy()
                fade = min(int(0.1 * SR), keep)
                piece[keep - fade :] *= np.linspace(1, 0, fade, dtype=np.float32)
                a = s * SR + int(onset * SR)
                out[a : a + keep] += vel * piece[: len(out) - a]
    else:
        raise ValueError(f"unknown sound source {source!r}")
    out = out[: n_sec * SR]
    peak = float(np.abs(out).max())
    return out / peak if peak > 0 else out


def _place(total: np.ndarray, piece: np.ndarray, seconds: list[bool], gain: float) -> None:
    """Add ``piece`` (active seconds long) into the contiguous active interval, 10 ms fades at the edges."""
    act = [t for t, on in enumerate(seconds) if on]
    if not act:
        return
    a, b = act[0] * M.SR, (act[-1] + 1) * M.SR
    piece = piece[: b - a].copy()
    ramp = np.linspace(0, 1, _FADE, dtype=np.float32)
    piece[:_FADE] *= ramp
    piece[-_FADE:] *= ramp[::-1]
    total[a : a + len(piece)] += gain * piece


# --------------------------------------------------------------------------- visuals
def _background(cfg: SynthConfig, rng: np.random.Generator) -> tuple[str, np.ndarray]:
    photos = M.background_images()
    if not photos or rng.random() < cfg.procedural_background_prob:
        return "procedural", M.procedural_background(rng, cfg.size)
    i = int(rng.integers(len(photos)))
    return photos[i][0], M.photo_background(rng, cfg.size, i)


def _paste_bounds(S: int, cx: float, cy: float, w: int, h: int):
    x0, y0 = int(round(cx - w / 2)), int(round(cy - h / 2))
    fx0, fy0, fx1, fy1 = max(0, x0), max(0, y0), min(S, x0 + w), min(S, y0 + h)
    if fx1 <= fx0 or fy1 <= fy0:
        return None
    return (fy0, fy1, fx0, fx1), (fy0 - y0, fy1 - y0, fx0 - x0, fx1 - x0)


def plan_and_render(cfg: SynthConfig, index: int, split: str, primary: str) -> tuple[ClipPlan, ClipArrays]:
    """Sample clip ``index`` from its own RNG ``(seed, index)`` and render it.

    Args:
        cfg: the generator knobs.
        index: clip index (also the vid number).
        split: "train" | "val" | "test" (decides held-out material).
        primary: the class this clip is scheduled for (first object; sounding if any object sounds).
    Returns:
        The plan (for objects.json / metadata) and the arrays.
    """
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, index]))
    S, T, SR = cfg.size, cfg.num_frames, M.SR
    inv = M.inventory()
    vid = f"synth{index:06d}"
    plan = ClipPlan(index=index, uid=f"{vid}_0_{T * 1000}", split=split, background="")
    classes = [c for c in cfg.classes if inv.sprite_styles(c) and inv.sources(c)]
    weights = _class_weights(cfg, classes)

    # --- which objects
    n_obj = 1 + _count(rng, cfg.num_objects_probs)
    n_snd = min(_count(rng, cfg.num_sounding_probs), n_obj)
    chosen = [primary]
    while len(chosen) < n_snd:
        pool = [c for c in classes if c not in chosen]
        if not pool:
            break
        chosen.append(_pick(rng, pool, [weights[classes.index(c)] for c in pool]))
    n_snd = min(n_snd, len(chosen))
    sounding_cls = chosen[:n_snd]
    distract: list[tuple[str, bool]] = []  # (class, silent_only)
    if n_snd == 0:
        distract.append((primary, False))
    n_extra = int(rng.integers(cfg.extra_distractors[0], cfg.extra_distractors[1] + 1))
    silent_pool = [c for c in cfg.silent_only_classes if inv.sprite_styles(c)]
    while len(sounding_cls) + len(distract) < n_obj + n_extra:
        used = set(sounding_cls) | {c for c, _ in distract}
        if silent_pool and rng.random() < cfg.silent_only_prob:
            pool = [c for c in silent_pool if c not in used]
            if pool:
                distract.append((_pick(rng, pool), True))
                continue
        pool = [c for c in classes if c not in used]
        fams = {M.FAMILY.get(c) for c in sounding_cls}
        fam_pool = [c for c in pool if M.FAMILY.get(c) in fams]
        if fam_pool and rng.random() < cfg.same_family_prob:
            pool = fam_pool
        if not pool:
            break
        distract.append((_pick(rng, pool, [weights[classes.index(c)] for c in pool]), False))

    styles = _styles_for(cfg, split)
    clip_style = _pick(rng, styles)
    objs: list[ObjectPlan] = []
    members = [(c, False, True) for c in sounding_cls] + [(c, s, False) for c, s in distract]
    for cls, silent_only, snd in members:
        have = inv.sprite_styles(cls)
        style = clip_style if clip_style in have else _pick(rng, [s for s in have if s in styles] or have)
        variant = int(rng.integers(M.n_variants(cls, style)))
        obj = ObjectPlan(
            id=len(objs) + 1,
            cls=cls,
            style=style,
            variant=variant,
            sounding=_timing(cfg, rng) if snd else [False] * T,
            distractor=not snd,
            silent_only=silent_only or cls not in M.SOUNDS,
        )
        if snd:
            src, seg = _pick(rng, _sources_for(cfg, cls, split))
            obj.sound_source = src if seg == "all" else f"{src}#{seg}"
        objs.append(obj)
    plan.objects = objs

    # --- visuals: sprites, per-frame transforms, placement with a visibility check
    plan.background, bg = _background(cfg, rng)
    frames_sprites = []  # per object: list over t of RGBA arrays
    for o in objs:
        q = max(2, S // 28)  # sizes on a 4 px grid at 112 px (8 at 224): fewer distinct sprites to cache
        size = max(8, q * int(round(rng.uniform(*cfg.object_size) * S / q)))
        im = M.sprite(o.cls, o.style, o.variant, size)
        if rng.random() < 0.5:
            im = im.transpose(Image.FLIP_LEFT_RIGHT)
        a0 = rng.uniform(-cfg.rotation_deg, cfg.rotation_deg)
        da = rng.uniform(-1, 1) * cfg.rotation_deg / 10
        frames_sprites.append(
            [np.asarray(im.rotate(a0 + da * t, resample=Image.BILINEAR, expand=True)) for t in range(T)]
        )
    z = list(rng.permutation(len(objs)))  # back to front
    for attempt in range(12):
        centres = [(rng.uniform(0.2, 0.8) * S, rng.uniform(0.2, 0.8) * S) for _ in objs]
        vel = [tuple(rng.normal(0, cfg.drift * S, 2)) for _ in objs]
        inst = np.zeros((T, S, S), np.uint8)
        full = np.zeros((len(objs), T), np.int64)
        for t in range(T):
            for j in z:
                spr = frames_sprites[j][t]
                cx, cy = centres[j][0] + vel[j][0] * t, centres[j][1] + vel[j][1] * t
                b = _paste_bounds(S, cx, cy, spr.shape[1], spr.shape[0])
                full[j, t] = int((spr[..., 3] > 127).sum())
                if b is None:
                    continue
                (y0, y1, x0, x1), (sy0, sy1, sx0, sx1) = b
                m = spr[sy0:sy1, sx0:sx1, 3] > 127
                inst[t, y0:y1, x0:x1][m] = objs[j].id
        vis = np.stack([(inst == o.id).reshape(T, -1).sum(1) for o in objs])  # [n, T]
        if (vis >= cfg.min_visible * np.maximum(full, 1)).all():
            break

    # --- composite RGB frames
    frames = np.repeat(bg[None].astype(np.float32), T, axis=0)  # [T, S, S, 3]
    for t in range(T):
        for j in z:
            spr = frames_sprites[j][t]
            cx, cy = centres[j][0] + vel[j][0] * t, centres[j][1] + vel[j][1] * t
            b = _paste_bounds(S, cx, cy, spr.shape[1], spr.shape[0])
            if b is None:
                continue
            (y0, y1, x0, x1), (sy0, sy1, sx0, sx1) = b
            piece = spr[sy0:sy1, sx0:sx1].astype(np.float32)
            a = piece[..., 3:] / 255.0
            region = frames[t, y0:y1, x0:x1]
            frames[t, y0:y1, x0:x1] = region * (1 - a) + piece[..., :3] * a
    frames_u8 = np.clip(np.rint(frames), 0, 255).astype(np.uint8)

    semantic = np.zeros((T, S, S), np.uint8)
    for o in objs:
        if not any(o.sounding):
            continue
        ci = class_index(o.cls)  # sounding objects are always AVSBench classes (cfg.classes)
        for t in range(T):
            if o.sounding[t]:
                semantic[t][inst[t] == o.id] = ci

    # --- audio
    total = np.zeros(T * SR, np.float32)
    for o in objs:
        if o.sound_source is None or not any(o.sounding):
            continue
        src, _, seg = o.sound_source.partition("#")
        piece = _source_audio(o.cls, src, seg or "all", sum(o.sounding), rng)
        _place(total, piece, o.sounding, rng.uniform(*cfg.gain_range))
    if rng.random() < cfg.off_screen_prob:
        visible = {o.cls for o in objs}
        pool = [c for c in classes if c not in visible]
        if pool:
            cls = _pick(rng, pool, [weights[classes.index(c)] for c in pool])
            src, seg = _pick(rng, _sources_for(cfg, cls, split))
            secs = _timing(cfg, rng)
            piece = _source_audio(cls, src, seg, sum(secs), rng)
            _place(total, piece, secs, cfg.off_screen_gain * rng.uniform(*cfg.gain_range))
            plan.off_screen.append(
                {
                    "class": cls,
                    "seconds": [t for t in range(T) if secs[t]],
                    "sound_source": src if seg == "all" else f"{src}#{seg}",
                }
            )
    peak = float(np.abs(total).max())
    if peak > 0:
        total *= 0.9 / peak
    total += rng.normal(0, rng.uniform(*cfg.noise_std), total.shape).astype(np.float32)
    total = np.clip(total, -1, 1)
    return plan, ClipArrays(frames=frames_u8, instances=inst, semantic=semantic, audio=total)


def _class_weights(cfg: SynthConfig, classes: list[str]) -> list[float]:
    """Sampling weight of every usable class (uniform, or Zipf by position in ``cfg.classes``)."""
    if cfg.class_distribution == "zipf":
        order = {c: r for r, c in enumerate(cfg.classes)}
        return [(order[c] + 1) ** -cfg.zipf_exponent for c in classes]
    return [1.0] * len(classes)


# --------------------------------------------------------------------------- writing
def a_obj(plan: ClipPlan) -> str:
    """AVSBench ``a_obj``: names of the visible objects that sound at some time, joined by ``_`` ("none")."""
    names = [o.cls for o in plan.objects if any(o.sounding)]
    return "_".join(names) if names else "none"


def objects_json(plan: ClipPlan, cfg: SynthConfig) -> dict:
    return {
        "uid": plan.uid,
        "size": cfg.size,
        "num_frames": cfg.num_frames,
        "split": plan.split,
        "a_obj": a_obj(plan),
        "background": plan.background,
        "objects": [
            {
                "id": o.id,
                "class": o.cls,
                "class_index": class_index(o.cls) if o.cls in _AVSS else None,
                "sounding": o.sounding,
                "distractor": o.distractor,
                "silent_only": o.silent_only,
                "style": o.style,
                "sound_source": o.sound_source,
            }
            for o in plan.objects
        ],
        "off_screen": plan.off_screen,
    }


def _avss_names() -> frozenset[str]:
    from ..classes import AVSS_CLASSES

    return frozenset(AVSS_CLASSES)


_AVSS = _avss_names()


def write_clip(clip_dir: Path, plan: ClipPlan, arrays: ClipArrays, cfg: SynthConfig) -> None:
    """Write one clip in the AVSBench-semantic layout plus the ``objects.json`` / ``instances`` sidecar."""
    pal = palette()
    for sub in ("frames", "labels_rgb", "labels_semantic", "instances"):
        (clip_dir / sub).mkdir(parents=True, exist_ok=True)
    for t in range(cfg.num_frames):
        frame = Image.fromarray(arrays.frames[t], "RGB")
        frame.save(clip_dir / "frames" / f"{t}.jpg", quality=cfg.jpeg_quality)
        Image.fromarray(pal[arrays.semantic[t]], "RGB").save(clip_dir / "labels_rgb" / f"{t}.png")
        Image.fromarray(arrays.semantic[t], "L").save(clip_dir / "labels_semantic" / f"{t}.png")
        Image.fromarray(arrays.instances[t], "L").save(clip_dir / "instances" / f"{t}.png")
    pcm = np.clip(np.rint(arrays.audio * 32767), -32768, 32767).astype(np.int16)
    with wave.open(str(clip_dir / "audio.wav"), "wb") as w:  # stdlib: a plain 44-byte RIFF header, no fsync
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(M.SR)
        w.writeframes(pcm.astype("<i2").tobytes())
    (clip_dir / "objects.json").write_text(json.dumps(objects_json(plan, cfg), indent=1), encoding="utf-8")
