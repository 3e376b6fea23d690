"""The one error type bad data raises."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DatasetError"]


class DatasetError(ValueError):
    """A problem with a dataset file, named with its path: ``DatasetError(path, "what is wrong")``.

    Loaders and :func:`stepstones_lite.data.validate_dataset` raise only this for bad input (corrupt or
    empty wav, wrong sample rate, missing/unreadable frame, off-palette mask colour, bad metadata, a path
    escaping the root), never a traceback from deep inside a library.
    """

    def __init__(self, path: str | Path | None, problem: str, problems: list[str] | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        self.problems = list(problems or [])
        where = f"{self.path}: " if self.path is not None else ""
        message = f"{where}{problem}"
        if self.problems:
            message += "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(message)
