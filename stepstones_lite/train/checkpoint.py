"""Checkpoints: plain ``state_dict`` tensors + a JSON header, written atomically, loaded with
``weights_only``.

Layout of one checkpoint file (a ``torch.save`` dict of tensors and plain containers only):

    {"format": 1, "kind": "aavs-stage1", "profile": <Profile JSON str>, "model": state_dict,
     "optimizer": ..., "scheduler": ..., "step": int, "rng": {...}, "extra": {...}}

and ``<stem>.json`` next to it holds the same header in readable form plus the SHA-256 of the ``.pt`` file's
bytes (``sha256``; ``previous_sha256`` is the file it replaces, which a kill between the two renames leaves in
place). Loading checks the hash (a sidecar without one, from older versions, is not checked), the ``kind`` and
the model config, so a corrupt checkpoint or one of the wrong model or profile fails with one clear
:class:`CheckpointError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import Profile
from ..utils import atomic_write, atomic_write_json, file_sha256

__all__ = [
    "CheckpointError",
    "ConfigMismatchError",
    "save_checkpoint",
    "load_checkpoint",
    "load_state",
    "config_diff",
    "rng_state",
    "set_rng_state",
    "RESUME_FREE_FIELDS",
]

FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, or of another model/profile (message: ``<file>: <reason>``)."""


class ConfigMismatchError(CheckpointError):
    """Resuming a run with a configuration other than the one its checkpoint was written with."""


# fields that only say how a run is executed, not what it computes: they may differ between a run and its
# resume. Everything else in the profile (model, data, train incl. seed, lr, schedule, eval_every) must match.
RESUME_FREE_FIELDS = frozenset(
    {
        "description",  # free text
        "train.device",  # CPU / GPU choice (bit-identity is only promised on the same device anyway)
        "train.num_threads",  # CPU threads
        "train.compile",  # torch.compile: the same model, compiled or not
        "train.seeds",  # the seeds of the reproduce study, not of this run
        "data.num_workers",  # DataLoader workers read the same items in the same order
    }
)


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """The fields of a config dataclass (nested sections such as ``data.synth`` included) by dotted name, each
    value in its JSON form (a tuple as the list it is saved as)."""
    flat: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            flat.update(_flatten(value, f"{prefix}{f.name}."))
        else:
            flat[f"{prefix}{f.name}"] = json.loads(json.dumps(value))
    return flat


def config_diff(saved: Profile, now: Profile, ignore: frozenset[str] = RESUME_FREE_FIELDS) -> list[str]:
    """``"section.field: checkpoint <saved>, now <now>"`` for every field that differs (dotted names;
    ``ignore`` leaves fields out). Values compare in their JSON form: a tuple equals its saved list."""
    old, new = _flatten(saved), _flatten(now)
    names = sorted(set(old) | set(new))
    return [
        f"{name}: checkpoint {old.get(name)!r}, now {new.get(name)!r}"
        for name in names
        if name not in ignore and old.get(name) != new.get(name)
    ]


def rng_state() -> dict[str, Any]:
    """Every RNG the training loop touches (python, numpy, torch CPU, CUDA if present), as tensors/lists."""
    np_state = np.random.get_state()
    state = {
        "python": list(random.getstate()[1])
        + [random.getstate()[2] if random.getstate()[2] is not None else -1],
        "python_version": random.getstate()[0],
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`rng_state`."""
    py = list(state["python"])
    gauss = py.pop()
    random.setstate((state["python_version"], tuple(int(v) for v in py), None if gauss == -1 else gauss))
    npst = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            npst["keys"].numpy().astype(np.uint32),
            npst["pos"],
            npst["has_gauss"],
            npst["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    path: str | Path,
    *,
    kind: str,
    profile: Profile,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    scaler: Any | None = None,
    step: int = 0,
    extra: dict[str, Any] | None = None,
    with_rng: bool = True,
) -> Path:
    """Write ``path`` (tmp file + rename) and ``<path stem>.json`` beside it (with the file's SHA-256).

    Returns ``path``.
    """
    path = Path(path)
    module = getattr(model, "module", model)  # unwrap DDP
    payload: dict[str, Any] = {
        "format": FORMAT,
        "kind": kind,
        "profile": profile.to_json(),
        "model": module.state_dict(),
        "step": int(step),
        "extra": dict(extra or {}),
    }
    if optimizer is not None:
        payload["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        payload["scheduler"] = scheduler.state_dict()
    if scaler is not None:
        payload["scaler"] = scaler.state_dict()
    if with_rng:
        payload["rng"] = rng_state()
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    header = {
        "format": FORMAT,
        "kind": kind,
        "step": int(step),
        "profile": json.loads(profile.to_json()),
        "extra": payload["extra"],
        "file": path.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "previous_sha256": file_sha256(path) if path.is_file() else None,
    }
    # the header first: a kill before the .pt's rename leaves the old file, vouched for by previous_sha256
    atomic_write_json(path.with_suffix(".json"), header)
    with atomic_write(path, "wb") as handle:
        handle.write(data)
    return path


def _recorded_hashes(path: Path) -> tuple[Path, set[str]]:
    """The sidecar of ``path`` and the SHA-256 values it vouches for (empty: no sidecar or an old one)."""
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return sidecar, set()
    try:
        header = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{sidecar}: the header of {path.name} is not readable JSON ({err})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{sidecar}: the header of {path.name} is not a JSON object")
    if header.get("file", path.name) != path.name:
        return sidecar, set()  # the header of another file (a copied or renamed checkpoint): nothing to check
    return sidecar, {h for h in (header.get("sha256"), header.get("previous_sha256")) if isinstance(h, str)}


def _read_verified(path: Path) -> bytes:
    """The bytes of ``path``, checked against the SHA-256 its sidecar records (when it records one)."""
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    data = path.read_bytes()
    sidecar, hashes = _recorded_hashes(path)
    if hashes and hashlib.sha256(data).hexdigest() not in hashes:
        raise CheckpointError(
            f"{path}: contents do not match the sha256 recorded in {sidecar.name} "
            "(the file is corrupt or was changed after it was written)"
        )
    return data


def _unpickling_problem(path: Path, err: Exception) -> CheckpointError:
    """Our message for a file ``torch.load(weights_only=True)`` refused (never torch's advice to load it
    unsafely)."""
    text = str(err)
    if "Unsupported global" in text:
        found = text.split("GLOBAL", 1)[-1].split()[0] if "GLOBAL" in text else "a Python object"
        return CheckpointError(
            f"{path}: not a plain-tensor checkpoint: it holds {found}, and such objects "
            "are never unpickled (code could run); only stepstones_lite checkpoints load"
        )
    reason = text.split("WeightsUnpickler error:", 1)[-1].strip().splitlines()
    return CheckpointError(
        f"{path}: not a readable checkpoint ({type(err).__name__}: "
        f"{(reason[0] if reason else 'unreadable')[:160]})"
    )


def _parse_profile(path: Path, raw: Any) -> Profile:
    try:
        if not isinstance(raw, str):
            raise TypeError(f"a JSON string expected, found {type(raw).__name__}")
        return Profile.from_json(raw)
    except (KeyError, TypeError, ValueError) as err:  # JSONDecodeError is a ValueError
        raise CheckpointError(f"{path}: bad 'profile' header ({type(err).__name__}: {err})") from None


def load_checkpoint(
    path: str | Path,
    *,
    kind: str | None = None,
    profile: Profile | None = None,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``.

    Checks the file against the SHA-256 in its ``.json`` sidecar (when recorded), the ``kind`` (e.g.
    ``"aavs-stage1"``) and, when ``profile`` is given, that its model config equals the checkpoint's. Returns
    the payload with ``payload["profile"]`` parsed into a :class:`Profile`. Every problem is a
    :class:`CheckpointError` naming ``path``.
    """
    path = Path(path)
    data = _read_verified(path)
    try:
        payload = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling problem is a corrupt file to the user
        raise _unpickling_problem(path, err) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or "model" not in payload:
        raise CheckpointError(f"{path}: not a stepstones_lite checkpoint (format {FORMAT} expected)")
    if kind is not None and payload.get("kind") != kind:
        raise CheckpointError(
            f"{path}: holds a {payload.get('kind')!r} model, but a {kind!r} model was asked for"
        )
    saved = _parse_profile(path, payload.get("profile"))
    if profile is not None and saved.model != profile.model:
        diff = {
            k: (getattr(saved.model, k), getattr(profile.model, k))
            for k in vars(saved.model)
            if getattr(saved.model, k) != getattr(profile.model, k)
        }
        raise CheckpointError(
            f"{path}: model config differs from the requested profile {profile.name!r} "
            f"(checkpoint {saved.name!r}); differing fields (saved, requested): {diff}"
        )
    payload["profile"] = saved
    return payload


def load_state(path: str | Path, target: Any, state: Any, what: str = "model") -> None:
    """``target.load_state_dict(state)`` (a module, optimizer, scheduler or scaler); a mismatch (missing or
    unexpected keys, other shapes, other parameter groups) is a :class:`CheckpointError` naming ``path``."""
    try:
        target.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as err:
        reason = " ".join(str(err).split())[:300]
        raise CheckpointError(f"{path}: its {what} state does not fit this {what} ({reason})") from None
