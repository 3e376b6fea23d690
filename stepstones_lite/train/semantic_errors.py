"""Moved: stage 2's object-by-object errors live in :mod:`stepstones_lite.study.semantic_errors`; this name is
kept for old imports."""

from ..study.semantic_errors import *  # noqa: F401,F403
from ..study.semantic_errors import __all__  # noqa: F401
