"""Sprites (Twemoji / OpenMoji SVG, Noto, Tux Paint stamps; alpha = exact mask) and backgrounds, cached per
process."""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .catalogue import EMOJI, SKIMAGE_BACKGROUNDS, inventory


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
    ramp = np.cos(ang) * t[None, :] + np.sin(ang) * t[:, None]
    ramp = (ramp - ramp.min()) / max(1e-6, float(np.ptp(ramp)))
    img = c0 * (1 - ramp[..., None]) + c1 * ramp[..., None]  # [S, S, 3]
    blobs = rng.uniform(-40, 40, (8, 8, 3)).astype(np.float32)
    blobs = (
        np.asarray(
            Image.fromarray(((blobs + 40) * 255 / 80).astype(np.uint8)).resize((size, size), Image.BICUBIC),
            np.float32,
        )
        * 80
        / 255
        - 40
    )
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
