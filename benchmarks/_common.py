"""Helpers shared by the bench scripts (imported as ``_common``: each script runs from this folder)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def sample_times(fn: Callable[[], Any], repeats: int) -> list[float]:
    """Seconds of ``repeats`` calls of ``fn``, each timed alone, after one untimed warm-up call."""
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def median_ms(fn: Callable[[], Any], repeats: int) -> float:
    """Median milliseconds per call of ``fn`` over ``repeats`` timed calls (see :func:`sample_times`)."""
    return 1000 * statistics.median(sample_times(fn, repeats))
