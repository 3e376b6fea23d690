#!/usr/bin/env python
"""Generate the synthetic AVSBench-semantic benchmark (thin wrapper; same flags as ``stepstones make-data``).

    python data_scripts/make_synthetic_avss.py --profile classroom --out data/synthetic --workers 2
"""
from __future__ import annotations

import argparse
import sys

from stepstones_lite.data.synthetic.cli import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
