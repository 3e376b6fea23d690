"""Artifacts: what one stage hands to the next (data, encoder stand-ins, checkpoints, priors, results).

:func:`ensure_artifact` is how notebooks chain: it returns the folder of an artifact if one was already
built *with the same key*, and otherwise builds it. A notebook run alone therefore rebuilds whatever it
needs from earlier stages (in seconds under the ``smoke`` profile) and never relies on another kernel.

Layout: ``<artifacts>/<name>/<key hash>/`` with an ``ARTIFACT.json`` marker holding the key (paths inside the
artifacts root written relative to it, :func:`portable`: a copied or moved cache is reused), build time,
wall seconds and torch's CPU thread count (``threads``: float sums, and so trained weights, depend on it, and
it is not part of the key). A build happens in a temporary sibling folder that is renamed into place only when
the build function returns, so an interrupted build never leaves a half artifact that looks finished.

Concurrency (two notebooks open at once, ``stepstones reproduce`` beside a notebook): each builder holds an
exclusive lock on ``<artifacts>/<name>/.<key hash>.lock`` while it builds and writes into a temporary folder
of its own; a second builder of the same key waits for the lock, then finds the finished artifact and reuses
it. The rename of the finished folder is the only publish step, so a reader sees either no artifact or a whole
one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

from .utils import _UMASK, artifacts_dir, atomic_write_json, file_lock

__all__ = [
    "artifact_key",
    "artifact_path",
    "portable",
    "ROOT_TOKEN",
    "ensure_artifact",
    "read_marker",
    "is_follower_rank",
    "wait_for",
    "file_lock",
    "lock_path",
]

MARKER = "ARTIFACT.json"


ROOT_TOKEN = "@artifacts"  # what a path inside the artifacts root becomes in a key


def artifact_key(key: Any) -> str:
    """A short stable hash of a JSON-able key (profile dicts, seeds, upstream artifact hashes)."""
    text = json.dumps(key, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def portable(key: Any, root: str | Path | None = None) -> Any:
    """``key`` with every path inside the artifacts ``root`` written relative to it (``@artifacts/<rel>``).

    Keys name their inputs by path (the dataset root, an upstream run, the stand-in weights in a profile);
    made portable, a whole artifacts folder can be copied or moved (a teacher's cache to the students) and
    every run in it keeps its key, so it is reused. Paths outside the root (a user's own AVSBench copy) stay
    absolute.
    """
    base = str(Path(root) if root is not None else artifacts_dir(create=False))
    if isinstance(key, dict):
        return {k: portable(v, base) for k, v in key.items()}
    if isinstance(key, (list, tuple)):
        return [portable(v, base) for v in key]
    if isinstance(key, Path):
        key = str(key)
    if isinstance(key, str) and (key == base or key.startswith(base + os.sep)):
        return ROOT_TOKEN + key[len(base) :]
    return key


def artifact_path(name: str, key: Any, root: str | Path | None = None) -> Path:
    """Where the artifact ``name`` with ``key`` lives (whether or not it exists yet); the key counts in its
    :func:`portable` form, so the same settings find the same folder wherever the artifacts root sits."""
    base = Path(root) if root is not None else artifacts_dir()
    return base / name / artifact_key(portable(key, base))


def read_marker(folder: str | Path) -> dict[str, Any] | None:
    """The ``ARTIFACT.json`` of a finished artifact, or None.

    A corrupt marker (not a JSON object) is reported in a one-line warning naming it and read as None: the
    artifact counts as unfinished, so :func:`ensure_artifact` rebuilds it.
    """
    marker = Path(folder) / MARKER
    if not marker.is_file():
        return None
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        info, why = None, f"{type(err).__name__}: {err}"
    else:
        why = f"a JSON {type(info).__name__}, expected an object"
    if isinstance(info, dict):
        return info
    warnings.warn(
        f"{marker}: corrupt artifact marker ({why}); treating the artifact as unfinished",
        RuntimeWarning,
        stacklevel=2,
    )
    return None


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


def lock_path(folder: str | Path) -> Path:
    """The lock file that guards building ``folder``: a hidden sibling ``.<folder name>.lock``."""
    folder = Path(folder)
    return folder.parent / f".{folder.name}.lock"


def _publish(tmp: Path, folder: Path) -> None:
    """Rename the finished ``tmp`` to ``folder``; an existing ``folder`` (a rebuild) is moved aside first."""
    old = None
    if folder.exists():
        old = folder.parent / f".replaced-{folder.name}-{os.getpid()}"
        if old.exists():
            shutil.rmtree(old)
        folder.rename(old)
    tmp.rename(folder)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


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

    Safe when several processes ask for the same artifact at once: one builds (under :func:`file_lock`), the
    others wait and then reuse what it built.

    Args:
        name: artifact family, e.g. ``"stage1"``, ``"priors"``.
        build: writes the artifact's files into the folder it is given (a temporary folder of this builder's
            own).
        key: everything the artifact depends on (JSON-able); a different key is a different artifact.
        root: artifacts root (default ``artifacts_dir()``).
        rebuild: build again even if a finished artifact exists (unless another process rebuilt it while this
            one waited for the lock).
    """
    base = Path(root) if root is not None else artifacts_dir()
    folder = artifact_path(name, key, base)
    if is_follower_rank():  # under torchrun only rank 0 builds; the others wait for its marker
        wait_for(lambda: read_marker(folder) is not None, f"{name} artifact {folder}")
        return folder
    seen = read_marker(folder)
    if not rebuild and seen is not None:
        if verbose:
            print(f"[stepstones] using {name} artifact {folder}")
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(lock_path(folder), f"the {name} artifact {folder.name}", verbose=verbose):
        now = read_marker(folder)
        if now is not None and (
            not rebuild or now != seen
        ):  # finished (or rebuilt) by another process meanwhile
            if verbose:
                print(f"[stepstones] using {name} artifact {folder} (built by another process meanwhile)")
            return folder
        for stale in folder.parent.glob(f".building-{folder.name}*"):  # left by a builder that was killed
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".building-{folder.name}-", dir=folder.parent))
        os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp makes 0700; give the folder the usual permissions
        if verbose:
            print(f"[stepstones] building {name} artifact -> {folder}")
        start = time.perf_counter()
        try:
            build(tmp)
            atomic_write_json(
                tmp / MARKER,
                {
                    "name": name,
                    "key": portable(key, base),
                    "built": time.strftime("%Y-%m-%dT%H:%M:%S"),
                    "wall_seconds": round(time.perf_counter() - start, 2),
                    "threads": torch.get_num_threads(),
                },
            )
            _publish(tmp, folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return folder
