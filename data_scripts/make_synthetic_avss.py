#!/usr/bin/env python
"""Generate the synthetic AVSBench-semantic benchmark (thin wrapper; same flags as ``stepstones make-data``).

python data_scripts/make_synthetic_avss.py --profile classroom --out data/synthetic --workers 2
"""

from __future__ import annotations

import argparse
import sys

from stepstones_lite.cli import run_command
from stepstones_lite.data.synthetic.cli import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    args = parser.parse_args(argv)
    return run_command(run, args, debug=args.debug, prog="make_synthetic_avss")


if __name__ == "__main__":
    sys.exit(main())
