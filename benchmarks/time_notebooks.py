"""Wall time of every notebook in one profile, from empty artifacts, as a student meets it; and the docs that
quote it.

    PYTHONPATH=$PWD python benchmarks/time_notebooks.py --profile smoke      # measure (about 1 min)
    PYTHONPATH=$PWD python benchmarks/time_notebooks.py --profile classroom  # measure (about 10 min)
    PYTHONPATH=$PWD python benchmarks/time_notebooks.py --write-docs         # README table + notebook headers

Measuring builds the synthetic data (``stepstones make-data``) and executes notebooks 00-06 in order with
papermill, in a fresh artifacts folder and a scratch figures folder (the repository's ``artifacts/`` and
``figures/`` are left alone), so every cached run a notebook needs is built inside the notebook that first
needs it, as on a student's first ``make run``. The seconds go to ``benchmarks/notebook_times.json`` under the
profile, with the machine (CPU, cores, load average before and after: these machines are shared, so a number
measured under load says so), the commit and the date.

``--write-docs`` writes those seconds into the README's course map (smoke and classroom columns, between its
markers) and into each notebook's header line; ``tests/test_notebooks_format.py`` checks both against the
JSON, so the docs quote only measured times.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

from stepstones_lite.utils import atomic_write_json

ROOT = Path(__file__).resolve().parent.parent
TIMES = ROOT / "benchmarks" / "notebook_times.json"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PROFILES = ("smoke", "classroom")
HEADER = "# > **Time on 2 CPU cores** (first run, empty artifacts):"


def fmt(seconds: float) -> str:
    """``14 s``, ``3 min 5 s``."""
    s = round(seconds)
    return f"{s} s" if s < 60 else f"{s // 60} min {s % 60} s"


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def measure(profile: str) -> dict:
    """Build the data and run every notebook once in ``profile``; seconds per step."""
    import papermill as pm

    with tempfile.TemporaryDirectory(prefix="stepstones_times_") as scratch:
        env = {
            "STEPSTONES_PROFILE": profile,
            "STEPSTONES_ARTIFACTS": f"{scratch}/artifacts",
            "STEPSTONES_FIGURES": f"{scratch}/figures",
        }
        os.environ.update(env)
        load_before = os.getloadavg()[0]
        t = time.perf_counter()
        subprocess.run(
            [str(Path(sys.executable).parent / "stepstones"), "make-data", "--profile", profile],
            cwd=ROOT,
            check=True,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
        )
        seconds = {"make-data": time.perf_counter() - t}
        for nb in NOTEBOOKS:
            t = time.perf_counter()
            pm.execute_notebook(
                str(nb), f"{scratch}/{nb.name}", cwd=str(nb.parent), kernel_name="python3", progress_bar=False
            )
            seconds[nb.stem] = time.perf_counter() - t
            print(f"{profile}: {nb.stem} {fmt(seconds[nb.stem])}", flush=True)
    return {
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "total_seconds": round(sum(seconds.values()), 1),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "load_average_before": round(load_before, 2),
            "load_average_after": round(os.getloadavg()[0], 2),
        },
        "git_commit": _git_commit(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def header_line(times: dict, stem: str) -> str:
    cells = [
        f"{p} {fmt(times[p]['seconds'][stem])}"
        for p in PROFILES
        if stem in times.get(p, {}).get("seconds", {})
    ]
    return f"{HEADER} {', '.join(cells)}."


def readme_row(line: str, times: dict) -> str:
    """A course-map row with its last two cells (smoke, classroom) set from ``times``."""
    m = re.match(r"\| `(\d\d_\w+)` \|", line)
    if not m:
        return line
    cells = line.rstrip().rstrip("|").split("|")
    new = [
        f" {fmt(times[p]['seconds'][m[1]])} "
        if m[1] in times.get(p, {}).get("seconds", {})
        else cells[-2 + i]
        for i, p in enumerate(PROFILES)
    ]
    return "|".join(cells[:-2] + new) + "|"


NOTE_BEGIN, NOTE_END = "<!-- times: written by benchmarks/time_notebooks.py -->", "<!-- end of times -->"


def readme_note(times: dict) -> str:
    """The sentence under the course map: how the times were measured, the totals, the machine's load."""
    parts = [
        f"{p} {fmt(times[p]['total_seconds'])} (load average {times[p]['machine']['load_average_before']} -> "
        f"{times[p]['machine']['load_average_after']})"
        for p in PROFILES
        if p in times
    ]
    text = (
        "Measured by `benchmarks/time_notebooks.py` (`benchmarks/notebook_times.json`): first runs from "
        "empty artifacts on 2 CPU cores; in classroom, 02 (stand-ins, stage 1) and 04 (stage 2, end-to-end) "
        f"build the runs later notebooks reuse. In all, data included: {', '.join(parts)}."
    )
    return f"{NOTE_BEGIN}\n{textwrap.fill(text, width=110, break_on_hyphens=False)}\n{NOTE_END}"


def write_docs(times: dict) -> list[Path]:
    """README course-map times and notebook header lines from ``times``; the files that changed."""
    changed = []
    readme = ROOT / "README.md"
    text = readme.read_text()
    new = "\n".join(readme_row(line, times) for line in text.split("\n"))
    if NOTE_BEGIN in new:
        start, end = new.index(NOTE_BEGIN), new.index(NOTE_END) + len(NOTE_END)
        new = new[:start] + readme_note(times) + new[end:]
    if new != text:
        readme.write_text(new)
        changed.append(readme)
    for nb in NOTEBOOKS:
        src = nb.with_suffix(".py")
        text = src.read_text()
        line = header_line(times, nb.stem)
        if HEADER in text:
            new = re.sub(re.escape(HEADER) + r".*", lambda _: line, text, count=1)
        else:  # after the title's quote block, inside the title cell
            new = re.sub(
                r"(# # [^\n]*\n(?:#[^\n]*\n)*?# >[^\n]*\n(?:# >[^\n]*\n)*)",
                lambda m: m[1] + "#\n" + line + "\n",
                text,
                count=1,
            )
        if new != text:
            src.write_text(new)
            changed.append(src)
    return changed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", choices=PROFILES)
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()
    times = json.loads(TIMES.read_text()) if TIMES.is_file() else {}
    if args.profile:
        times[args.profile] = measure(args.profile)
        atomic_write_json(TIMES, times)
        print(f"{args.profile}: {fmt(times[args.profile]['total_seconds'])} in all -> {TIMES.name}")
    if args.write_docs:
        for path in write_docs(times):
            print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
