"""Test-session environment (tests/ and the nbval notebook runs): the smoke profile and throw-away artifacts.

nbval starts notebook kernels from this process, so the variables set here reach the notebooks too.
``STEPSTONES_TEST_PROFILE`` may name another profile for a deliberate longer run.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent

os.environ["STEPSTONES_PROFILE"] = os.environ.get("STEPSTONES_TEST_PROFILE", "smoke")
os.environ.setdefault("STEPSTONES_ARTIFACTS", str(ROOT / "build" / "test-artifacts"))
os.environ.setdefault("STEPSTONES_FIGURES", str(ROOT / "build" / "test-figures"))
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("STEPSTONES_CHECK_FIGURES", "1")  # viz.save_figure checks every figure (viz/check.py)
