"""Fixtures shared by several test modules (the session environment is set in the root ``conftest.py``)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


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
