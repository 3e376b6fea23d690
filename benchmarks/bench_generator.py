"""Throughput of the synthetic AVSS generator: clips/s with 1 and 2 worker processes.

    PYTHONPATH=$PWD python benchmarks/bench_generator.py --num-clips 200 --size 112

Prints clips/s (wall clock, including process start-up and cache warm-up), CPU ms per clip (less sensitive to
other processes on a shared machine: cores / CPU-time is the rate an idle machine would reach) and the ratio
2 / 1 workers. The machine may be shared: the load average is printed next to every number.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from stepstones_lite.data.synthetic import SynthConfig, generate_dataset


def _du(path: Path) -> int:
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0]) * 1024


def _cpu() -> float:
    """User + system CPU seconds of this process and its finished children (the worker processes)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _load() -> str:
    try:
        return open("/proc/loadavg").read().split()[0]
    except OSError:
        return "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num-clips", type=int, default=200)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    cfg = SynthConfig(num_clips=args.num_clips, size=args.size)
    rates = {}
    for w in args.workers:
        tmp = Path(tempfile.mkdtemp(prefix="bench_synth_"))
        try:
            c0 = _cpu()
            t0 = time.perf_counter()
            generate_dataset(tmp / "ds", cfg, workers=w, progress=False)
            dt = time.perf_counter() - t0
            cpu = _cpu() - c0
            rates[w] = args.num_clips / dt
            disk = _du(tmp / "ds")
            print(
                f"workers={w}: {args.num_clips} clips at {args.size} px in {dt:.1f} s -> "
                f"{rates[w]:.1f} clips/s (CPU {1000 * cpu / args.num_clips:.1f} ms/clip incl. start-up; "
                f"load avg {_load()}); "
                f"disk {disk / 1e6:.1f} MB ({disk / args.num_clips / 1e3:.0f} kB/clip)"
            )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if 1 in rates and len(rates) > 1:
        for w, r in rates.items():
            if w != 1:
                print(f"speed-up {w} vs 1 workers: {r / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
