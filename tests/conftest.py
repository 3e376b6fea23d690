"""Fixtures shared by several test modules (the session environment is set in the root ``conftest.py``)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest


@pytest.fixture(scope="session")
def project_script() -> Callable[[str], ModuleType]:
    """Loads a script of the repository that is not a package module, by its path from the repository root:
    ``project_script("benchmarks/time_notebooks.py")`` (benchmarks/, data_scripts/)."""
    root = Path(__file__).resolve().parent.parent

    def load(relpath: str) -> ModuleType:
        path = root / relpath
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture
def figures_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``STEPSTONES_FIGURES`` is the test's ``tmp_path`` (yielded); all pyplot figures are closed after.

    Viz modules take it with ``pytestmark = pytest.mark.usefixtures("figures_in_tmp")`` after choosing the
    Agg backend; pyplot is imported here only when the fixture runs, so other tests never load matplotlib.
    """
    import matplotlib.pyplot as plt

    monkeypatch.setenv("STEPSTONES_FIGURES", str(tmp_path))
    yield tmp_path
    plt.close("all")
