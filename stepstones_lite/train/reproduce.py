"""Moved: the study lives in :mod:`stepstones_lite.study` (``study/reproduce.py``); this name is kept for old
imports."""

from ..study.reproduce import *  # noqa: F401,F403
from ..study.reproduce import __all__  # noqa: F401
