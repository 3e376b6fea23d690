"""Artifacts: what one stage hands to the next (data, encoder stand-ins, checkpoints, priors, results).

:func:`ensure_artifact` is how notebooks chain: it returns the folder of an artifact if one was already
built *with the same key*, and otherwise builds it. A notebook run alone therefore rebuilds whatever it
needs from earlier stages (in seconds under the ``smoke`` profile) and never relies on another kernel.

Layout: ``<artifacts>/<name>/<key hash>/`` with an ``ARTIFACT.json`` marker holding the key, build time,
wall seconds and torch's CPU thread count (``threads``: float sums, and so trained weights, depend on it, and it
is not part of the key). A build happens in a temporary sibling folder that is renamed into place only when the build
function returns, so an interrupted build never leaves a half artifact that looks finished.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import torch

from .utils import artifacts_dir, atomic_write_json

__all__ = ["artifact_key", "artifact_path", "ensure_artifact", "read_marker", "is_follower_rank", "wait_for"]

MARKER = "ARTIFACT.json"


def artifact_key(key: Any) -> str:
    """A short stable hash of a JSON-able key (profile dicts, seeds, upstream artifact hashes)."""
    text = json.dumps(key, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def artifact_path(name: str, key: Any, root: str | Path | None = None) -> Path:
    """Where the artifact ``name`` with ``key`` lives (whether or not it exists yet)."""
    base = Path(root) if root is not None else artifacts_dir()
    return base / name / artifact_key(key)


def read_marker(folder: str | Path) -> dict[str, Any] | None:
    """The ``ARTIFACT.json`` of a finished artifact, or None."""
    marker = Path(folder) / MARKER
    if not marker.is_file():
        return None
    return json.loads(marker.read_text(encoding="utf-8"))


def is_follower_rank() -> bool:
    """True in every process but rank 0 of a ``torchrun`` launch (they must not build shared artifacts)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and int(os.environ.get("RANK", "0")) > 0


def wait_for(ready: Callable[[], bool], what: str, timeout: float = 4 * 3600.0, poll: float = 2.0) -> None:
    """Block until ``ready()`` (another process, rank 0, is building ``what``)."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for rank 0 to build {what}")
        time.sleep(poll)


def ensure_artifact(
    name: str,
    build: Callable[[Path], Any],
    key: Any,
    *,
    root: str | Path | None = None,
    rebuild: bool = False,
    verbose: bool = True,
) -> Path:
    """Return the folder of artifact ``name`` for ``key``, building it with ``build(folder)`` if missing.

    Args:
        name: artifact family, e.g. ``"stage1"``, ``"priors"``.
        build: writes the artifact's files into the folder it is given (a temporary folder).
        key: everything the artifact depends on (JSON-able); a different key is a different artifact.
        root: artifacts root (default ``artifacts_dir()``).
        rebuild: build again even if a finished artifact exists.
    """
    folder = artifact_path(name, key, root)
    if is_follower_rank():  # under torchrun only rank 0 builds; the others wait for its marker
        wait_for(lambda: read_marker(folder) is not None, f"{name} artifact {folder}")
        return folder
    if not rebuild and read_marker(folder) is not None:
        if verbose:
            print(f"[stepstones] using {name} artifact {folder}")
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".building-{folder.name}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    if verbose:
        print(f"[stepstones] building {name} artifact -> {folder}")
    start = time.perf_counter()
    try:
        build(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_json(tmp / MARKER, {"name": name, "key": key, "built": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                     "wall_seconds": round(time.perf_counter() - start, 2),
                                     "threads": torch.get_num_threads()})
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)
    return folder
