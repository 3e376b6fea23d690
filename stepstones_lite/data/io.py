"""Safe readers for AVSBench files: every failure becomes one :class:`DatasetError` naming the file.

What AVSBench's loaders do and where we differ (``docs/avsbench.md`` §1):

* Colour labels (``labels_rgb``) are decoded by exact RGB match against the 71-colour palette, as the official
  ``color_mask_to_label``. The official code silently maps an off-palette colour to background; here
  ``strict=True`` (the default) raises instead, ``strict=False`` reproduces the official mapping.
* Binary masks (S4/MS3 ``gt_masks``, prior PNGs) are stored as 0/255 grey; AVSBench reads them with
  ``convert('1')`` / ``convert('P')`` + ``ToTensor``. We read the raw values and accept {0,255} or {0,1}
  (``value > 0``); other grey levels are an error when strict (``convert('1')`` would dither them).
* S4/MS3 log-mel ``.pkl`` files are stdlib pickles of a torch tensor (``pickle.dump`` in
  ``preprocess_s4.py``). Unpickling runs code, so :func:`read_pickled_log_mel` uses a restricted
  ``pickle.Unpickler`` that only resolves torch's tensor-rebuild globals and re-loads the embedded storage
  with ``weights_only=True`` (idea from ``torch.serialization``'s weights-only unpickler).
* Paths are confined to the dataset root: :func:`inside_root` resolves symlinks and rejects anything that
  ends up outside it.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .classes import palette
from .errors import DatasetError

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "decode_colour_label",
    "inside_root",
    "read_binary_mask",
    "read_colour_label",
    "read_csv_rows",
    "read_grey",
    "read_index_label",
    "read_json",
    "read_pickled_log_mel",
    "read_rgb",
    "read_wav",
    "safe_component",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MAX_PIXELS = 4096 * 4096  # refuse decompression bombs long before PIL's own (warning-only) limit


def safe_component(value: str) -> bool:
    """True if ``value`` is usable as one path component (no separators, ``..``, NUL or absolute path)."""
    return (
        bool(value)
        and value not in (".", "..")
        and "/" not in value
        and "\\" not in value
        and "\x00" not in value
        and not os.path.isabs(value)
        and value == value.strip()
        and len(value.encode("utf-8", "surrogatepass")) <= 200
    )


def inside_root(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """Return ``path`` if it (after resolving symlinks) lies inside ``root``; else raise ``DatasetError``."""
    path = Path(path)
    try:
        real_root = os.path.realpath(root)
        real = os.path.realpath(path)
    except (OSError, ValueError) as err:  # ValueError: embedded NUL
        raise DatasetError(path, f"cannot resolve path ({err})") from None
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise DatasetError(path, f"resolves to {real}, outside the dataset root {real_root}")
    return path


def _require_file(path: Path) -> None:
    if not os.path.lexists(path):  # os.path never raises (unlike Path.exists on ENAMETOOLONG)
        raise DatasetError(path, "missing file")
    if not os.path.isfile(path):
        raise DatasetError(path, "not a regular file (or a broken link)")


def _open_image(path: Path) -> Any:
    """PIL image, fully decoded; any decoder failure is a ``DatasetError``."""
    from PIL import Image

    _require_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
            if img.width * img.height > MAX_PIXELS or img.width < 1 or img.height < 1:
                raise DatasetError(path, f"implausible image size {img.width}x{img.height}")
            img.load()
    except DatasetError:
        raise
    except Exception as err:  # noqa: BLE001 - PIL raises OSError, SyntaxError, ValueError, struct.error, ...
        raise DatasetError(path, f"unreadable image ({type(err).__name__}: {err})") from None
    return img


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image as RGB. Returns: ``uint8 [H, W, 3]``."""
    img = _open_image(Path(path))
    try:
        return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except Exception as err:  # noqa: BLE001 - any decoder failure becomes a DatasetError
        raise DatasetError(path, f"cannot convert image to RGB ({err})") from None


def read_grey(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a single-channel image's raw values ('L', 'P' indices, '1', 'I'). Returns: ``int64 [H, W]``."""
    img = _open_image(Path(path))
    try:
        if img.mode in ("RGB", "RGBA", "LA", "CMYK", "YCbCr"):
            arr = np.asarray(img.convert("L"))
        else:
            arr = np.asarray(img)
        if arr.ndim != 2:
            raise ValueError(f"expected one channel, got shape {arr.shape}")
        return arr.astype(np.int64)
    except Exception as err:  # noqa: BLE001 - any decoder failure becomes a DatasetError
        raise DatasetError(path, f"cannot read single-channel image ({err})") from None


def _codes(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def decode_colour_label(
    rgb: np.ndarray, path: str | os.PathLike[str] | None = None, strict: bool = True
) -> np.ndarray:
    """Map palette colours to class ids by exact match (AVSBench ``color_mask_to_label``).

    Args:
        rgb: ``uint8 [H, W, 3]`` colour label.
        path: file name used in the error message.
        strict: raise on off-palette colours (official behaviour, ``strict=False``: map them to 0).
    Returns:
        ``int64 [H, W]`` class ids in 0..70.
    """
    table = _codes(palette())  # [71]
    order = np.argsort(table)
    sorted_codes = table[order]
    codes = _codes(rgb)  # [H, W]
    pos = np.clip(np.searchsorted(sorted_codes, codes), 0, len(table) - 1)
    hit = sorted_codes[pos] == codes  # [H, W]
    labels = np.where(hit, order[pos], 0).astype(np.int64)
    if strict and not hit.all():
        bad = np.unique(codes[~hit])
        shown = ", ".join(f"({c >> 16},{(c >> 8) & 255},{c & 255})" for c in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise DatasetError(
            path, f"{int((~hit).sum())} pixels have colours outside the 71-class palette: {shown}{more}"
        )
    return labels


def read_colour_label(path: str | os.PathLike[str], strict: bool = True) -> np.ndarray:
    """Read a ``labels_rgb`` PNG. Returns: ``int64 [H, W]`` class ids."""
    return decode_colour_label(read_rgb(path), path, strict)


def read_index_label(path: str | os.PathLike[str], num_classes: int = 71) -> np.ndarray:
    """Read a ``labels_semantic`` index PNG. Returns: ``int64 [H, W]`` class ids (checked < num_classes)."""
    arr = read_grey(path)
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        raise DatasetError(path, f"class index {int(arr.max())} outside 0..{num_classes - 1}")
    return arr


def read_binary_mask(path: str | os.PathLike[str], strict: bool = True) -> np.ndarray:
    """Read a 0/255 (or 0/1) mask PNG. Returns: ``float32 [H, W]`` in {0, 1}."""
    arr = read_grey(path)
    values = np.unique(arr)
    if strict and not (set(values.tolist()) <= {0, 255} or set(values.tolist()) <= {0, 1}):
        raise DatasetError(path, f"mask is not binary: values {values[:6].tolist()} (expected 0/255)")
    return (arr > (127 if values.max(initial=0) > 1 else 0)).astype(np.float32)


MIN_WAV_RATE, MAX_WAV_RATE = 8000, 192000  # sane audio rates; others are refused before decoding


def read_wav(path: str | os.PathLike[str]) -> tuple[np.ndarray, int, int]:
    """Read a wav with soundfile, channels averaged (AVSBench / VGGish convention).

    A sample rate outside 8..192 kHz is refused from the header, before decoding: resampling such a file to
    16 kHz would take gigabytes and seconds (400009 Hz: ~4 GB for a 4 MB wav).

    Returns:
        ``(waveform float32 [N] in [-1, 1), sample_rate, channels)``.
    """
    import soundfile as sf

    path = Path(path)
    _require_file(path)
    try:
        rate = sf.info(str(path)).samplerate  # header only: refuse absurd rates before decoding/resampling
        if not MIN_WAV_RATE <= rate <= MAX_WAV_RATE:
            raise DatasetError(path, f"sample rate {rate} Hz is outside {MIN_WAV_RATE}..{MAX_WAV_RATE} Hz")
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)  # [N, C]
    except DatasetError:
        raise
    except Exception as err:  # noqa: BLE001 - soundfile raises LibsndfileError / RuntimeError / ValueError
        raise DatasetError(path, f"unreadable wav ({type(err).__name__}: {err})") from None
    if data.shape[0] == 0:
        raise DatasetError(path, "wav has no samples")
    if rate <= 0:
        raise DatasetError(path, f"bad sample rate {rate}")
    if not np.isfinite(data).all():
        raise DatasetError(path, "wav contains NaN/inf samples")
    return data.mean(axis=1).astype(np.float32), int(rate), int(data.shape[1])


def _weights_only_storage(data: bytes) -> Any:
    """Stand-in for ``torch.storage._load_from_bytes`` that never runs pickled code."""
    return torch.load(io.BytesIO(data), weights_only=True)


_ALLOWED_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
    ("torch.storage", "_load_from_bytes"): _weights_only_storage,
    ("collections", "OrderedDict"): collections.OrderedDict,
}


class _TensorUnpickler(pickle.Unpickler):
    """Unpickler that resolves only torch tensor-rebuild globals (no arbitrary callables)."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"global {module}.{name} is not allowed in a log-mel pickle"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed")


def read_pickled_log_mel(path: str | os.PathLike[str]) -> torch.Tensor:
    """Read an S4/MS3 ``audio_log_mel/*.pkl`` safely. Returns: ``float32 [n, 1, 96, 64]`` (detached)."""
    path = Path(path)
    _require_file(path)
    try:
        with open(path, "rb") as fh:
            obj = _TensorUnpickler(fh).load()
    except Exception as err:  # noqa: BLE001 - any decoder failure becomes a DatasetError
        raise DatasetError(path, f"unreadable log-mel pickle ({type(err).__name__}: {err})") from None
    if not isinstance(obj, torch.Tensor):
        raise DatasetError(path, f"log-mel pickle holds {type(obj).__name__}, expected a tensor")
    if obj.dim() != 4 or tuple(obj.shape[1:]) != (1, 96, 64) or obj.shape[0] < 1:
        raise DatasetError(path, f"log-mel has shape {tuple(obj.shape)}, expected [n, 1, 96, 64]")
    if not obj.is_floating_point() or not torch.isfinite(obj).all():
        raise DatasetError(path, "log-mel is not a finite float tensor")
    return obj.detach().to(torch.float32).contiguous()


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON file; any failure is a ``DatasetError``."""
    import json

    path = Path(path)
    _require_file(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except Exception as err:  # noqa: BLE001 - any decoder failure becomes a DatasetError
        raise DatasetError(path, f"invalid JSON ({type(err).__name__}: {err})") from None


def read_csv_rows(path: str | os.PathLike[str]) -> tuple[list[str], list[list[str]]]:
    """Read a comma CSV (header + rows) with the stdlib. Returns: ``(header, rows)``."""
    import csv

    path = Path(path)
    _require_file(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except Exception as err:  # noqa: BLE001 - any decoder failure becomes a DatasetError
        raise DatasetError(path, f"unreadable CSV ({type(err).__name__}: {err})") from None
    rows = [r for r in rows if r]  # blank lines
    if not rows:
        raise DatasetError(path, "empty CSV (no header)")
    return [h.strip() for h in rows[0]], rows[1:]
