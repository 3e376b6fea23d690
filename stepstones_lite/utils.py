"""Small helpers every other module uses: devices, seeds, paths, atomic writes, environment report.

There is exactly one device helper, :func:`resolve_device`; nothing in the project hard-codes a CUDA
device or moves tensors with a CUDA-only call.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from ._version import __version__

__all__ = [
    "resolve_device",
    "seed_everything",
    "print_env",
    "env_info",
    "cpu_model",
    "project_root",
    "artifacts_dir",
    "figures_dir",
    "atomic_write",
    "atomic_write_text",
    "append_text",
    "atomic_write_json",
    "atomic_torch_save",
    "file_sha256",
    "file_lock",
    "autocast",
]

ARTIFACTS_ENV = "STEPSTONES_ARTIFACTS"
FIGURES_ENV = "STEPSTONES_FIGURES"


# --------------------------------------------------------------------------- devices
def resolve_device(device: str | torch.device = "auto", verbose: bool = True) -> torch.device:
    """Pick the compute device: ``"auto"`` tries CUDA, then Apple MPS, then CPU; prints its choice.

    Any explicit torch device string (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``) is checked for
    availability and returned as a :class:`torch.device`.
    """
    if isinstance(device, torch.device):
        chosen = device
    elif device in (None, "", "auto"):
        if torch.cuda.is_available():
            chosen = torch.device("cuda", torch.cuda.current_device())
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            chosen = torch.device("mps")
        else:
            chosen = torch.device("cpu")
    else:
        chosen = torch.device(device)
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {str(device)!r} asked for, but CUDA is not available here; use 'auto' or 'cpu'"
        )
    if chosen.type == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise RuntimeError(f"device {str(device)!r} asked for, but MPS is not available here")
    if verbose:
        detail = (
            torch.cuda.get_device_name(chosen) if chosen.type == "cuda" else platform.processor() or "cpu"
        )
        print(f"[stepstones] device: {chosen} ({detail})")
    return chosen


def autocast(device: torch.device, enabled: bool = True) -> contextlib.AbstractContextManager[Any]:
    """Mixed precision on CUDA only (bf16 where supported, else fp16); a no-op context elsewhere."""
    if enabled and device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast(device_type="cuda", dtype=dtype)
    return contextlib.nullcontext()


# --------------------------------------------------------------------------- seeds
def seed_everything(seed: int, deterministic: bool = False) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a CPU ``torch.Generator`` seeded the same.

    ``deterministic=True`` also asks cuDNN/torch for deterministic kernels (slower on GPU).
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


# --------------------------------------------------------------------------- paths
def project_root(start: str | os.PathLike[str] | None = None) -> Path:
    """The checkout's root (the folder with our ``pyproject.toml``), searching upwards from ``start``/cwd.

    Falls back to the current directory when the package runs outside a checkout.
    """
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and 'name = "stepstones_lite"' in candidate.read_text(encoding="utf-8"):
            return folder
    package_parent = Path(__file__).resolve().parent.parent
    if (package_parent / "pyproject.toml").is_file():
        return package_parent
    return here


def _env_or_root_dir(env_var: str, default_name: str, create: bool) -> Path:
    """``$env_var`` (``~`` expanded) if not blank, else ``<root>/default_name``; made if ``create``."""
    env = os.environ.get(env_var, "").strip()
    path = Path(env).expanduser() if env else project_root() / default_name
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def artifacts_dir(create: bool = True) -> Path:
    """Where checkpoints, priors and generated data go: ``$STEPSTONES_ARTIFACTS`` or ``<root>/artifacts``."""
    return _env_or_root_dir(ARTIFACTS_ENV, "artifacts", create)


def figures_dir(create: bool = True) -> Path:
    """Where notebooks save figures: ``$STEPSTONES_FIGURES`` or ``<root>/figures``."""
    return _env_or_root_dir(FIGURES_ENV, "figures", create)


# --------------------------------------------------------------------------- atomic writes
_UMASK = os.umask(0)
os.umask(_UMASK)  # read once (os.umask can only be read by setting it)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[Any]:
    """Open a temporary file beside ``path``; on success rename it over ``path`` (never a half file).

    On any exception the temporary file is removed and ``path`` keeps its old content. An ``OSError`` that
    names no file or only the temporary one (disk full while writing, permission denied) is raised again
    naming ``path``, so the user learns which file could not be written.
    """
    target = Path(path)
    tmp_name = ""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp_name, target)
    except BaseException as err:
        if tmp_name:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
        if isinstance(err, OSError) and _names_no_target(err, tmp_name):
            raise type(err)(err.errno, err.strerror or str(err), str(target)) from err
        raise


def _names_no_target(err: OSError, tmp_name: str) -> bool:
    """True if ``err`` names no file, the temporary file or the mkstemp pattern (not a folder)."""
    if err.errno is None:
        return False
    name = "" if err.filename is None else os.fspath(err.filename)
    return not name or name == tmp_name or (os.path.basename(name).startswith(".") and name.endswith(".tmp"))


def append_text(path: str | os.PathLike[str], text: str) -> Path:
    """Append ``text`` to ``path`` (created if missing); an ``OSError`` without a file name (disk full) is
    raised again naming ``path``."""
    target = Path(path)
    try:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as err:
        if err.filename is None and err.errno is not None:
            raise type(err)(err.errno, err.strerror or str(err), str(target)) from err
        raise
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    with atomic_write(path, "w") as handle:
        handle.write(text)
    return Path(path)


def atomic_write_json(path: str | os.PathLike[str], payload: Any, indent: int = 2) -> Path:
    return atomic_write_text(path, json.dumps(payload, indent=indent, sort_keys=True) + "\n")


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save`` through :func:`atomic_write` (tmp file + rename)."""
    with atomic_write(path, "wb") as handle:
        torch.save(obj, handle)
    return Path(path)


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- locks
def _try_lock(handle: Any) -> bool:
    """Take an exclusive lock on the open file ``handle`` without waiting; False if another process holds
    it."""
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(handle: Any) -> None:
    if sys.platform == "win32":  # pragma: no cover
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def file_lock(path: str | Path, what: str = "", verbose: bool = True, poll: float = 0.5) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created if missing) for the ``with`` block.

    Other processes (and other threads, which open the file anew) that ask for the same lock wait until it is
    released; the operating system releases it when the holder exits or is killed, so a crashed builder never
    blocks the next one. ``what`` names the guarded thing in the one "waiting" line printed when it is busy.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        if not _try_lock(handle):
            if verbose:
                print(f"[stepstones] waiting: another process is working on {what or path} ...")
            while not _try_lock(handle):
                time.sleep(poll)
        try:
            yield
        finally:
            _unlock(handle)


# --------------------------------------------------------------------------- environment
_REPORTED_PACKAGES = (
    "numpy",
    "scipy",
    "timm",
    "einops",
    "librosa",
    "soundfile",
    "matplotlib",
    "seaborn",
    "papermill",
    "nbval",
)


def cpu_model() -> str:
    """The processor's name (``/proc/cpuinfo`` "model name"; else what :mod:`platform` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def env_info() -> dict[str, Any]:
    """Versions, device and threads as a dict (what :func:`print_env` prints)."""
    versions = {}
    for name in _REPORTED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    cuda = torch.cuda.is_available()
    return {
        "stepstones_lite": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_cuda_build": torch.version.cuda,
        "cuda_available": cuda,
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "profile_env": os.environ.get("STEPSTONES_PROFILE"),
        "artifacts": str(artifacts_dir(create=False)),
        "packages": versions,
    }


def print_env() -> dict[str, Any]:
    """Print python/torch/CUDA versions, the device ``auto`` picks, threads and package versions."""
    info = env_info()
    print(
        f"stepstones_lite {info['stepstones_lite']} | python {info['python']} | torch {info['torch']}"
        f" (CUDA build {info['torch_cuda_build']}, available: {info['cuda_available']})"
    )
    if info["gpus"]:
        print(f"GPUs: {', '.join(info['gpus'])}")
    print(
        f"CPU threads used by torch: {info['threads']} of {info['cpu_count']} | platform {info['platform']}"
    )
    print("packages: " + ", ".join(f"{k} {v}" for k, v in info["packages"].items() if v))
    print(f"profile env: {info['profile_env'] or '(unset -> classroom)'} | artifacts: {info['artifacts']}")
    info["device"] = str(resolve_device("auto"))
    return info
