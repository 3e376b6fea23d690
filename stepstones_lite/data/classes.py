"""The AVSBench-semantic label space: 71 classes (background + 70 objects) and their palette colours.

Order = ``label2idx.json`` of the release (class index ``c`` = json value − 1, background = 0), see
``docs/avsbench.md`` §1.3. Colours follow the Pascal-VOC bit-interleaved palette that AVSBench's
``get_v2_pallete`` builds: for i = 0, 1, 2, … take the bits of ``c`` three at a time and set
R |= bit0 << (7−i), G |= bit1 << (7−i), B |= bit2 << (7−i).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = [
    "AVSS_CLASSES",
    "NUM_AVSS_CLASSES",
    "BACKGROUND",
    "class_index",
    "class_colour",
    "palette",
    "label2idx",
]

AVSS_CLASSES: tuple[str, ...] = (
    "background",
    "accordion",
    "airplane",
    "axe",
    "baby",
    "bassoon",
    "bell",
    "bird",
    "boat",
    "boy",
    "bus",
    "car",
    "cat",
    "cello",
    "clarinet",
    "clipper",
    "clock",
    "dog",
    "donkey",
    "drum",
    "duck",
    "elephant",
    "emergency-car",
    "erhu",
    "flute",
    "frying-food",
    "girl",
    "goose",
    "guitar",
    "gun",
    "guzheng",
    "hair-dryer",
    "handpan",
    "harmonica",
    "harp",
    "helicopter",
    "hen",
    "horse",
    "keyboard",
    "leopard",
    "lion",
    "man",
    "marimba",
    "missile-rocket",
    "motorcycle",
    "mower",
    "parrot",
    "piano",
    "pig",
    "pipa",
    "saw",
    "saxophone",
    "sheep",
    "sitar",
    "sorna",
    "squirrel",
    "tabla",
    "tank",
    "tiger",
    "tractor",
    "train",
    "trombone",
    "truck",
    "trumpet",
    "tuba",
    "ukulele",
    "utv",
    "vacuum-cleaner",
    "violin",
    "wolf",
    "woman",
)
NUM_AVSS_CLASSES = len(AVSS_CLASSES)  # 71
BACKGROUND = 0
_INDEX = {name: i for i, name in enumerate(AVSS_CLASSES)}


def class_index(name: str) -> int:
    """0-based class index (background = 0); raises ``KeyError`` naming the unknown class."""
    try:
        return _INDEX[name]
    except KeyError:
        raise KeyError(f"{name!r} is not an AVSBench-semantic class") from None


def class_colour(index: int) -> tuple[int, int, int]:
    """The ``labels_rgb`` colour of class ``index`` (AVSBench / VOC bit-interleaved palette)."""
    if not 0 <= index < 256:
        raise ValueError(f"class index {index} out of range")
    r = g = b = 0
    i, c = 0, index
    while c:
        r |= (c & 1) << (7 - i)
        g |= ((c >> 1) & 1) << (7 - i)
        b |= ((c >> 2) & 1) << (7 - i)
        i += 1
        c >>= 3
    return r, g, b


@lru_cache(maxsize=None)
def palette(num_classes: int = NUM_AVSS_CLASSES) -> np.ndarray:
    """``uint8 [num_classes, 3]`` colours, row ``c`` = colour of class ``c`` (read-only)."""
    table = np.array([class_colour(c) for c in range(num_classes)], dtype=np.uint8)
    table.setflags(write=False)
    return table


def label2idx() -> dict[str, int]:
    """The release's ``label2idx.json`` mapping (1-based values, key order = class order)."""
    return {name: i + 1 for i, name in enumerate(AVSS_CLASSES)}
