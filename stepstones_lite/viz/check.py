"""A figure check: what a reader would trip over, measured on the drawn figure.

:func:`check_figure` draws the canvas and returns human-readable problems (empty: fine):

* **text overlaps**: two visible, non-empty texts (titles, suptitle, axis labels, tick labels, legend entries
  and boxes, ``ax.texts``, annotations, figure texts) whose boxes overlap by more than ``TEXT_TOLERANCE_PX``
  on both axes. Rotated texts are tested as rotated rectangles, not as their axis-aligned boxes;
* **legends over data**: a legend box that covers plotted data of any axes it lies over (its own, a twin,
  a neighbour): bars and other patches drawn in data coordinates, line segments and markers, scatter points
  and error bars. Spans (``axvspan``/``axhspan``), images and heatmaps are background, not data;
* **label maps in two colours**: a class map (a 2-D image of integers, one above 1) whose value is drawn in
  one colour in one panel and in another colour in another panel (``imshow`` without a shared palette or fixed
  ``vmin``/``vmax``), and a class named with two colours in :func:`note_class_colours`;
* **overlays that vanish**: overlay regions noted with :func:`note_overlay` whose contrast against the pixels
  they cover (median CIEDE2000 ΔE) is below ``MIN_VISIBLE_DELTA_E``, or two overlay categories (hit / false
  positive / missed) drawn in colours closer than ``MIN_SEPARATION_DELTA_E`` on the same frame.

:func:`overlay_contrast` and :func:`delta_e` are the measures the drawing functions use to pick a stronger
overlay or an outline before they note the result on the figure.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.image import AxesImage
from matplotlib.legend import Legend
from matplotlib.text import Text

__all__ = [
    "check_figure",
    "assert_figure_ok",
    "checks_enabled",
    "note_class_colours",
    "note_overlay",
    "delta_e",
    "overlay_contrast",
    "FigureCheckError",
    "TEXT_TOLERANCE_PX",
    "MIN_VISIBLE_DELTA_E",
    "MIN_SEPARATION_DELTA_E",
]

TEXT_TOLERANCE_PX = 1.5  # boxes may touch or overlap by this much (glyph boxes include empty ascent/descent)
LEGEND_TOLERANCE_PX = 1.0  # a legend frame may graze data by this much
COLOUR_TOLERANCE = 2.0 / 255.0  # two RGBA colours closer than this on every channel are "the same"
MIN_VISIBLE_DELTA_E = (
    15.0  # an overlay must change the pixels it covers by at least this (CIEDE2000 ΔE, median)
)
MIN_SEPARATION_DELTA_E = 20.0  # two overlay categories on one frame must stay this far apart (ΔE of medians)

_CLASS_KEY = "_stepstones_class_colours"
_OVERLAY_KEY = "_stepstones_overlays"


class FigureCheckError(AssertionError):
    """A saved figure failed :func:`check_figure` (the message lists its problems)."""


def checks_enabled() -> str | None:
    """The figure-check mode from ``STEPSTONES_CHECK_FIGURES``: ``"raise"`` (``1``, ``true``, ``yes``,
    ``on``), ``"warn"`` (``warn``: print the problems and go on, to see every figure's in one run) or None
    (off)."""
    value = os.environ.get("STEPSTONES_CHECK_FIGURES", "").strip().lower()
    return "raise" if value in ("1", "true", "yes", "on") else "warn" if value == "warn" else None


def assert_figure_ok(fig: plt.Figure, name: str = "figure", warn_only: bool = False) -> None:
    """Raise :class:`FigureCheckError` naming ``name`` and every problem :func:`check_figure` finds
    (``warn_only``: issue a warning instead, and append it to the file ``$STEPSTONES_CHECK_LOG`` if set)."""
    problems = check_figure(fig)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        message = f"figure {name!r} failed the figure check ({len(problems)} problems):\n{lines}"
        if warn_only:
            warnings.warn(message, stacklevel=2)
            log = os.environ.get("STEPSTONES_CHECK_LOG")
            if log:  # one file for a whole run's problems
                with open(log, "a", encoding="utf-8") as fh:
                    fh.write(message + "\n")
        else:
            raise FigureCheckError(message)


def check_figure(fig: plt.Figure) -> list[str]:
    """Draw ``fig`` and return its problems (overlapping texts, legends over data, inconsistent class colours,
    overlays that vanish on the pixels they cover); an empty list means the figure is fine."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    problems: list[str] = []
    problems += _text_overlaps(fig, renderer)
    problems += _legends_over_data(fig, renderer)
    problems += _label_map_colours(fig)
    problems += _class_colour_conflicts(fig)
    problems += _overlay_problems(fig)
    return problems


# ----------------------------------------------------------------------------------------------- registries
def note_class_colours(fig: plt.Figure, colours: Mapping[Any, Sequence[float]], where: str = "") -> None:
    """Record on ``fig`` the colour each class is drawn in (``{class: rgb in [0, 1]}``); the check reports a
    class drawn in two colours anywhere in the figure."""
    registry = fig.__dict__.setdefault(_CLASS_KEY, {})
    for name, rgb in colours.items():
        registry.setdefault(str(name), []).append((tuple(float(v) for v in rgb[:3]), where))


def note_overlay(fig: plt.Figure, report: Mapping[str, Any], where: str = "") -> None:
    """Record on ``fig`` one frame's overlay report: ``{"visibility": {category: ΔE}, "separation":
    {(category, category): ΔE}}`` (as :func:`stepstones_lite.viz.stage1.overlay_report` returns)."""
    fig.__dict__.setdefault(_OVERLAY_KEY, []).append((dict(report), where))


# ----------------------------------------------------------------------------------------------- colour
def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] ``[..., 3]`` -> CIELAB (D65) ``[..., 3]``."""
    c = np.clip(np.asarray(rgb, dtype=np.float64), 0.0, 1.0)
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ]
    )
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def delta_e(rgb_a: Any, rgb_b: Any) -> np.ndarray:
    """CIEDE2000 colour difference between sRGB colours in [0, 1] (broadcasts over ``[..., 3]``): about 1 is
    just noticeable side by side, above about 10 two colours read as different at a glance."""
    l1, a1, b1 = np.moveaxis(_srgb_to_lab(rgb_a), -1, 0)
    l2, a2, b2 = np.moveaxis(_srgb_to_lab(rgb_b), -1, 0)
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_bar**7 / (c_bar**7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p, h2p = np.degrees(np.arctan2(b1, a1p)) % 360, np.degrees(np.arctan2(b2, a2p)) % 360
    dlp, dcp = l2 - l1, c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(c1p * c2p == 0, 0.0, dh)
    dhp = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh) / 2)
    lbp, cbp = (l1 + l2) / 2, (c1p + c2p) / 2
    hsum = h1p + h2p
    hbp = np.where(np.abs(h1p - h2p) > 180, np.where(hsum < 360, hsum + 360, hsum - 360), hsum) / 2
    hbp = np.where(c1p * c2p == 0, hsum, hbp)
    t = (
        1
        - 0.17 * np.cos(np.radians(hbp - 30))
        + 0.24 * np.cos(np.radians(2 * hbp))
        + 0.32 * np.cos(np.radians(3 * hbp + 6))
        - 0.20 * np.cos(np.radians(4 * hbp - 63))
    )
    sl = 1 + 0.015 * (lbp - 50) ** 2 / np.sqrt(20 + (lbp - 50) ** 2)
    sc, sh = 1 + 0.045 * cbp, 1 + 0.015 * cbp * t
    rt = (
        -2
        * np.sqrt(cbp**7 / (cbp**7 + 25.0**7))
        * np.sin(np.radians(60 * np.exp(-(((hbp - 275) / 25) ** 2))))
    )
    return np.sqrt((dlp / sl) ** 2 + (dcp / sc) ** 2 + (dhp / sh) ** 2 + rt * (dcp / sc) * (dhp / sh))


def overlay_contrast(colour: Sequence[float], covered: Any, alpha: float = 0.55) -> float:
    """How much an overlay of ``colour`` at opacity ``alpha`` changes the pixels it covers: the median ΔE
    between each covered pixel ``[N, 3]`` (RGB in [0, 1]) and its blend with ``colour`` (0 if nothing is
    covered)."""
    px = np.asarray(covered, dtype=np.float64).reshape(-1, 3)
    if not len(px):
        return 0.0
    blended = (1 - alpha) * px + alpha * np.asarray(colour, dtype=np.float64)[:3]
    return float(np.median(delta_e(px, blended)))


# ----------------------------------------------------------------------------------------------- texts
class _Box:
    """A (possibly rotated) rectangle in display pixels, with what it is for the messages."""

    def __init__(self, corners: np.ndarray, label: str, group: Any, artist: Any) -> None:
        self.corners, self.label, self.group, self.artist = corners, label, group, artist
        self.lo, self.hi = corners.min(0), corners.max(0)


def _rect_corners(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)


def _text_corners(text: Text, renderer) -> np.ndarray:
    """The corners of the text's own (rotated) rectangle, shrunk by the tolerance."""
    bb = text.get_window_extent(renderer)
    angle = text.get_rotation() % 180.0
    tol = TEXT_TOLERANCE_PX / 2
    if min(angle % 90.0, 90.0 - angle % 90.0) < 1.0:  # axis-aligned: the box is the rectangle
        return _rect_corners(bb.x0 + tol, bb.y0 + tol, bb.x1 - tol, bb.y1 - tol)
    text.set_rotation(0)
    flat = text.get_window_extent(renderer)
    text.set_rotation(angle)
    w, h = max(flat.width - 2 * tol, 0.0), max(flat.height - 2 * tol, 0.0)
    theta = np.deg2rad(angle)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    half = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
    return half @ rot.T + np.array([(bb.x0 + bb.x1) / 2, (bb.y0 + bb.y1) / 2])


def _describe_axes(fig: plt.Figure, ax: plt.Axes) -> str:
    title = ax.get_title() or ax.get_ylabel() or ax.get_xlabel()
    name = f"panel {fig.axes.index(ax)}"
    if getattr(ax, "_colorbar", None) is not None:
        name = f"colour bar {fig.axes.index(ax)}"
    return f"{name} ({title.splitlines()[0][:30]!r})" if title else name


def _shown(text: Text | None) -> bool:
    return text is not None and text.get_visible() and bool(text.get_text().strip()) and text.get_alpha() != 0


def _text_boxes(fig: plt.Figure, renderer) -> list[_Box]:
    """Every visible, non-empty text of the figure and every legend frame, as boxes."""
    boxes: list[_Box] = []
    seen: set[int] = set()

    def add(text: Text | None, what: str, group: Any = None) -> None:
        if not _shown(text) or id(text) in seen:  # the suptitle is also one of fig.texts
            return
        seen.add(id(text))
        bb = text.get_window_extent(renderer)
        if bb.width <= 0 or bb.height <= 0:
            return
        snippet = text.get_text().replace("\n", " ")
        snippet = snippet if len(snippet) <= 40 else snippet[:37] + "..."
        boxes.append(_Box(_text_corners(text, renderer), f"{what} {snippet!r}", group, text))

    for attr, what in (("_suptitle", "suptitle"), ("_supxlabel", "supxlabel"), ("_supylabel", "supylabel")):
        add(getattr(fig, attr, None), what)
    for text in fig.texts:
        add(text, "figure text")
    legends: list[tuple[Legend, str]] = [(leg, "figure legend") for leg in fig.legends]
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        where = _describe_axes(fig, ax)
        for title in (ax.title, getattr(ax, "_left_title", None), getattr(ax, "_right_title", None)):
            add(title, f"title of {where}:")
        for text in ax.texts:
            add(text, f"text in {where}:")
        if ax.axison:
            for axis, name in ((ax.xaxis, "x"), (ax.yaxis, "y")):
                if not axis.get_visible():
                    continue
                add(axis.label, f"{name} label of {where}:")
                add(axis.get_offset_text(), f"{name} offset text of {where}:")
                for tick in _drawn_ticks(axis):
                    for label in (tick.label1, tick.label2):
                        add(label, f"{name} tick label of {where}:")
        if ax.get_legend() is not None:
            legends.append((ax.get_legend(), f"legend of {where}"))
    for leg, what in legends:
        if not leg.get_visible():
            continue
        for text in [*leg.get_texts(), leg.get_title()]:
            add(text, f"{what}: entry", group=leg)
        bb = leg.get_window_extent(renderer)
        boxes.append(_Box(_rect_corners(bb.x0, bb.y0, bb.x1, bb.y1), f"{what} (box)", leg, leg))
    return boxes


def _drawn_ticks(axis) -> list:
    """The ticks matplotlib draws (inside the view interval), falling back to all major ticks."""
    try:
        return list(axis._update_ticks())
    except AttributeError:  # pragma: no cover - private API of matplotlib
        return list(axis.get_major_ticks())


def _separated(a: np.ndarray, b: np.ndarray) -> bool:
    """Separating-axis test of two convex quadrilaterals (corner arrays ``[4, 2]``)."""
    for poly in (a, b):
        for i in range(4):
            edge = poly[(i + 1) % 4] - poly[i]
            normal = np.array([-edge[1], edge[0]])
            if not normal.any():
                continue
            pa, pb = a @ normal, b @ normal
            if pa.max() <= pb.min() or pb.max() <= pa.min():
                return True
    return False


def _text_overlaps(fig: plt.Figure, renderer) -> list[str]:
    boxes = _text_boxes(fig, renderer)
    if len(boxes) < 2:
        return []
    lo = np.array([b.lo for b in boxes])
    hi = np.array([b.hi for b in boxes])
    near = (
        (lo[:, None, 0] < hi[None, :, 0])
        & (lo[None, :, 0] < hi[:, None, 0])
        & (lo[:, None, 1] < hi[None, :, 1])
        & (lo[None, :, 1] < hi[:, None, 1])
    )
    problems = []
    for i, j in zip(*np.nonzero(np.triu(near, k=1))):
        a, b = boxes[i], boxes[j]
        if a.group is not None and a.group is b.group:
            continue  # a legend's own entries sit inside its box
        if not _separated(a.corners, b.corners):
            problems.append(f"overlapping texts: {a.label} and {b.label}")
    return problems


# ----------------------------------------------------------------------------------------------- legends
def _segments_hit(segs: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> bool:
    """True if any segment ``[N, 2, 2]`` meets the rectangle (Liang-Barsky clipping, vectorised)."""
    if not len(segs):
        return False
    p, q = segs[:, 0], segs[:, 1] - segs[:, 0]
    t0, t1 = np.zeros(len(segs)), np.ones(len(segs))
    for d, start, low, high in ((q[:, 0], p[:, 0], x0, x1), (q[:, 1], p[:, 1], y0, y1)):
        with np.errstate(divide="ignore", invalid="ignore"):
            ta, tb = (low - start) / d, (high - start) / d
        flat = d == 0
        inside = (start >= low) & (start <= high)
        t_enter, t_exit = np.minimum(ta, tb), np.maximum(ta, tb)
        t0 = np.where(flat, np.where(inside, t0, 2.0), np.maximum(t0, t_enter))
        t1 = np.where(flat, np.where(inside, t1, -1.0), np.minimum(t1, t_exit))
    return bool((t0 <= t1).any())


def _finite_segments(xy: np.ndarray) -> np.ndarray:
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    segs = np.stack([xy[:-1], xy[1:]], 1) if len(xy) > 1 else np.zeros((0, 2, 2))
    return segs[np.isfinite(segs).all(axis=(1, 2))]


def _points_hit(xy: np.ndarray, radius: np.ndarray | float, x0, y0, x1, y1) -> bool:
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    r = np.broadcast_to(np.asarray(radius, dtype=float), (len(xy),))
    ok = np.isfinite(xy).all(1)
    xy, r = xy[ok], r[ok]
    dx = np.maximum(np.maximum(x0 - xy[:, 0], xy[:, 0] - x1), 0.0)
    dy = np.maximum(np.maximum(y0 - xy[:, 1], xy[:, 1] - y1), 0.0)
    return bool((np.hypot(dx, dy) < r).any())


def _data_under(ax: plt.Axes, box: tuple[float, float, float, float], renderer) -> list[str]:
    """What of ``ax``'s plotted data the rectangle ``box`` (display px) covers, by artist description."""
    x0, y0, x1, y1 = box
    pt = renderer.points_to_pixels(1.0)
    hits: list[str] = []
    for patch in ax.patches:
        if not patch.get_visible() or patch.get_data_transform() != ax.transData:
            continue  # spans (axvspan / axhspan) are background
        bb = patch.get_window_extent(renderer)
        if bb.width * bb.height < 0.5:
            continue
        if bb.x0 < x1 and x0 < bb.x1 and bb.y0 < y1 and y0 < bb.y1:
            hits.append(
                f"bar/patch {patch.get_label() if not patch.get_label().startswith('_') else ''}".strip()
            )
    for line in ax.lines:
        if not line.get_visible():
            continue
        xy = line.get_transform().transform(np.asarray(line.get_xydata(), dtype=float))
        name = line.get_label() if not str(line.get_label()).startswith("_") else "line"
        if line.get_linestyle() not in ("None", "", " ") and _segments_hit(
            _finite_segments(xy), x0, y0, x1, y1
        ):
            hits.append(f"line {name!r}")
        elif line.get_marker() not in (None, "None", "", " ") and _points_hit(
            xy, line.get_markersize() * pt / 2, x0, y0, x1, y1
        ):
            hits.append(f"markers of {name!r}")
    for coll in ax.collections:
        if not coll.get_visible():
            continue
        if isinstance(coll, PathCollection) and len(coll.get_offsets()):
            xy = coll.get_offset_transform().transform(np.asarray(coll.get_offsets(), dtype=float))
            sizes = coll.get_sizes() if len(coll.get_sizes()) else np.array([36.0])
            if _points_hit(xy, np.sqrt(np.resize(sizes, len(xy))) * pt / 2, x0, y0, x1, y1):
                hits.append("scatter points")
        elif isinstance(coll, LineCollection):
            tr = coll.get_transform()
            segs = [_finite_segments(tr.transform(np.asarray(s, dtype=float))) for s in coll.get_segments()]
            if any(_segments_hit(s, x0, y0, x1, y1) for s in segs):
                hits.append("error bars / line segments")
    return sorted(set(hits))


def _legends_over_data(fig: plt.Figure, renderer) -> list[str]:
    legends = [(leg, "figure legend") for leg in fig.legends]
    legends += [
        (ax.get_legend(), f"legend of {_describe_axes(fig, ax)}")
        for ax in fig.axes
        if ax.get_legend() is not None
    ]
    problems = []
    for leg, what in legends:
        if not leg.get_visible():
            continue
        bb = leg.get_window_extent(renderer)
        tol = LEGEND_TOLERANCE_PX
        box = (bb.x0 + tol, bb.y0 + tol, bb.x1 - tol, bb.y1 - tol)
        for ax in fig.axes:
            if getattr(ax, "_colorbar", None) is not None or not ax.get_visible():
                continue
            ab = ax.bbox
            if not (ab.x0 < box[2] and box[0] < ab.x1 and ab.y0 < box[3] and box[1] < ab.y1):
                continue
            hits = _data_under(ax, box, renderer)
            if hits:
                problems.append(f"{what} covers plotted data of {_describe_axes(fig, ax)}: {', '.join(hits)}")
    return problems


# ----------------------------------------------------------------------------------------------- colours
def _label_values(image: AxesImage) -> np.ndarray | None:
    """The distinct values of a colour-mapped class map (2-D, integers, one above 1), else None."""
    arr = image.get_array()
    if arr is None or np.ndim(arr) != 2:
        return None
    data = np.ma.compressed(np.ma.masked_invalid(arr))
    if not data.size or not np.all(data == np.round(data)) or data.max() <= 1:
        return None
    return np.unique(data)


def _hex(rgba: Iterable[float]) -> str:
    return "#" + "".join(f"{round(255 * float(v)):02x}" for v in list(rgba)[:3])


def _label_map_colours(fig: plt.Figure) -> list[str]:
    seen: dict[float, list[tuple[np.ndarray, str]]] = {}
    for ax in fig.axes:
        for image in ax.get_images():
            values = _label_values(image)
            if values is None:
                continue
            for v, rgba in zip(values, image.to_rgba(values.astype(float))):
                seen.setdefault(float(v), []).append((np.asarray(rgba, dtype=float), _describe_axes(fig, ax)))
    problems = []
    for v, uses in sorted(seen.items()):
        distinct = _distinct(uses)
        if len(distinct) > 1:
            where = ", ".join(f"{_hex(c)} in {w}" for c, w in distinct)
            problems.append(
                f"class map value {v:g} is drawn in {len(distinct)} colours ({where}): draw class maps "
                "through one palette (the AVSS palette, or fixed vmin/vmax)"
            )
    return problems


def _distinct(uses: list[tuple[Any, str]]) -> list[tuple[np.ndarray, str]]:
    out: list[tuple[np.ndarray, str]] = []
    for colour, where in uses:
        colour = np.asarray(colour, dtype=float)
        if all(np.abs(colour[:3] - c[:3]).max() > COLOUR_TOLERANCE for c, _ in out):
            out.append((colour, where))
    return out


def _class_colour_conflicts(fig: plt.Figure) -> list[str]:
    problems = []
    for name, uses in getattr(fig, _CLASS_KEY, {}).items():
        distinct = _distinct(uses)
        if len(distinct) > 1:
            where = ", ".join(f"{_hex(c)}" + (f" in {w}" if w else "") for c, w in distinct)
            problems.append(f"class {name!r} is drawn in {len(distinct)} colours ({where})")
    return problems


def _overlay_problems(fig: plt.Figure) -> list[str]:
    problems = []
    for report, where in getattr(fig, _OVERLAY_KEY, []):
        at = f" in {where}" if where else ""
        for category, value in report.get("visibility", {}).items():
            if value < MIN_VISIBLE_DELTA_E:
                problems.append(
                    f"overlay {category!r}{at} barely changes the pixels it covers (ΔE {value:.1f} < "
                    f"{MIN_VISIBLE_DELTA_E:g})"
                )
        for (a, b), value in report.get("separation", {}).items():
            if value < MIN_SEPARATION_DELTA_E:
                problems.append(
                    f"overlays {a!r} and {b!r}{at} look alike (ΔE {value:.1f} < {MIN_SEPARATION_DELTA_E:g})"
                )
    return problems
