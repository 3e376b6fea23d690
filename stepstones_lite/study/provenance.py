"""One provenance writer for every study file in ``results/``.

Every ``stepstones study ...`` command records the same facts about the run that wrote its JSON: the command
line, the commit, the software, the processor and thread count (float results depend on both: runs are
bit-identical on one machine, not across machines) and the date. :func:`provenance` returns them;
:func:`with_command` keeps the list of every invocation that wrote to a file that accumulates records.
"""

from __future__ import annotations

import platform
import shlex
import subprocess
import sys
import time
from typing import Any, Sequence

import torch

from ..utils import cpu_model, project_root

__all__ = ["git_commit", "command_line", "provenance", "with_command"]


def git_commit() -> str:
    """The repository's HEAD commit, or ``"unknown"`` outside a git checkout."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=project_root(), capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def command_line(words: Sequence[str], argv: Sequence[str] | None, skip: int = 1) -> str:
    """The command as typed: ``words`` (e.g. ``stepstones study knobs``) and its arguments (``argv``, or
    ``sys.argv[skip:]`` when called from the command line)."""
    rest = list(sys.argv[skip:] if argv is None else argv)
    return shlex.join([*words, *rest])


def provenance(command: str, start: float | None = None, **extra: Any) -> dict[str, Any]:
    """The provenance record: command, commit, software, processor, threads, date, and ``wall_seconds`` since
    ``start`` (a ``time.perf_counter()`` value) if given; ``extra`` keys (profile, notes, ...) are added."""
    record: dict[str, Any] = {
        "command": command,
        "git_commit": git_commit(),
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "threads": torch.get_num_threads(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if start is not None:
        record["wall_seconds"] = round(time.perf_counter() - start, 1)
    return {**record, **extra}


def with_command(previous: dict[str, Any] | None, command: str) -> list[str]:
    """Every command that wrote to an accumulating file, ``command`` last (once)."""
    previous = previous or {}
    commands = previous.get("commands") or [previous.get("command")]  # files from before the list kept one
    return [c for c in commands if c and c != command] + [command]
