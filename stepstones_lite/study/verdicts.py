"""Verdicts that respect noise: a difference inside the measured build-to-build range is a tie.

One configuration built several times (classroom, end-to-end, seed 0, on two machines and two thread counts:
``stepstones study noise``) spans a few hundredths of AVSS mIoU (``results/build_noise_classroom.json``): two
builds of the *same* settings differ by that much. So a difference between two arms only counts when every
seed clears that range in the same direction; a mean inside it is a tie, and anything else is mixed (the mean
clears the range but not every seed does).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..utils import project_root

__all__ = ["build_noise_range", "call", "verdict_row", "CALL_WORDS"]

# what each call says, as a student would read it
CALL_WORDS = {
    "higher": "higher on every seed, beyond the build-to-build range",
    "lower": "lower on every seed, beyond the build-to-build range",
    "tie": "a tie: the mean difference is inside the build-to-build range",
    "spread": "mixed: the mean is beyond the build-to-build range, but not every seed is",
}


def build_noise_range(path: str | Path | None = None) -> float:
    """The range (max − min AVSS mIoU) over every build of one configuration that the noise study lists."""
    path = Path(path) if path is not None else project_root() / "results" / "build_noise_classroom.json"
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    values = [b["avss_miou"] for b in data["builds"] + data["committed"]]
    return max(values) - min(values)


def call(diffs: list[float], noise: float) -> str:
    """``"higher"`` / ``"lower"`` when every per-seed difference clears ``±noise`` the same way, ``"tie"``
    when the mean is inside ``±noise``, else ``"spread"``.

    >>> call([0.05, 0.06], 0.03), call([0.0, 0.015, 0.03], 0.03), call([-0.06, 0.15], 0.03)
    ('higher', 'tie', 'spread')
    """
    if not diffs:
        raise ValueError("no per-seed differences to judge")
    if all(d > noise for d in diffs):
        return "higher"
    if all(d < -noise for d in diffs):
        return "lower"
    return "tie" if abs(sum(diffs) / len(diffs)) <= noise else "spread"


def verdict_row(a: str, b: str, key: str, diffs: list[float], noise: float) -> dict[str, Any]:
    """One row of a verdict table: the per-seed ``a − b`` on ``key``, their mean, the call and its words."""
    c = call(diffs, noise)
    return {
        "comparison": f"{a} − {b}",
        "metric": key,
        "per seed": ", ".join(f"{d:+.3f}" for d in diffs),
        "mean": round(sum(diffs) / len(diffs), 3),
        "call": c,
        "verdict": f"{a}: {CALL_WORDS[c]}",
    }
