"""Checkpoints: plain ``state_dict`` tensors + a JSON header, written atomically, loaded with ``weights_only``.

Layout of one checkpoint file (a ``torch.save`` dict of tensors and plain containers only):

    {"format": 1, "kind": "aavs-stage1", "profile": <Profile JSON str>, "model": state_dict,
     "optimizer": ..., "scheduler": ..., "step": int, "rng": {...}, "extra": {...}}

and ``config.json`` next to it holds the same header in readable form. Loading checks ``kind`` and the
model config so a checkpoint of the wrong model or profile fails with one clear message.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import Profile
from ..utils import atomic_torch_save, atomic_write_json

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "rng_state", "set_rng_state"]

FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, or belongs to another model/profile."""


def rng_state() -> dict[str, Any]:
    """Every RNG the training loop touches (python, numpy, torch CPU, CUDA if present), as tensors/lists."""
    np_state = np.random.get_state()
    state = {
        "python": list(random.getstate()[1]) + [random.getstate()[2] if random.getstate()[2] is not None else -1],
        "python_version": random.getstate()[0],
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
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
    np.random.set_state(("MT19937", npst["keys"].numpy().astype(np.uint32), npst["pos"], npst["has_gauss"],
                         npst["cached_gaussian"]))
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
    """Write ``path`` (tmp file + rename) and ``<path stem>.json`` beside it; return ``path``."""
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
    atomic_torch_save(payload, path)
    header = {"format": FORMAT, "kind": kind, "step": int(step), "profile": json.loads(profile.to_json()),
              "extra": payload["extra"], "file": path.name}
    atomic_write_json(path.with_suffix(".json"), header)
    return path


def load_checkpoint(
    path: str | Path,
    *,
    kind: str | None = None,
    profile: Profile | None = None,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``.

    Checks the ``kind`` (e.g. ``"aavs-stage1"``) and, when ``profile`` is given, that its model config equals
    the checkpoint's. Returns the payload with ``payload["profile"]`` parsed into a :class:`Profile`.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling problem is a corrupt file to the user
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or "model" not in payload:
        raise CheckpointError(f"{path}: not a stepstones_lite checkpoint (format {FORMAT} expected)")
    if kind is not None and payload.get("kind") != kind:
        raise CheckpointError(f"{path}: holds a {payload.get('kind')!r} model, but a {kind!r} model was asked for")
    saved = Profile.from_json(payload["profile"])
    if profile is not None and saved.model != profile.model:
        diff = {k: (getattr(saved.model, k), getattr(profile.model, k)) for k in vars(saved.model)
                if getattr(saved.model, k) != getattr(profile.model, k)}
        raise CheckpointError(
            f"{path}: model config differs from the requested profile {profile.name!r} "
            f"(checkpoint {saved.name!r}); differing fields (saved, requested): {diff}"
        )
    payload["profile"] = saved
    return payload
