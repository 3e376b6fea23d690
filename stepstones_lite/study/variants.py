"""The study's variants as declared data: one typed record per regime knob or lever.

A :class:`Variant` is a change to the classroom recipe: ``overrides`` are profile overrides
(``section__field``, the generator's data knobs included as ``data__synth__<knob>``), so every variant also
runs as ``stepstones reproduce --profile classroom --set section__field=value ...``. ``name`` is the variant's
key in the committed JSON (and its row in the tables); ``mirrors`` says which AVSBench situation it stands
for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..config import Profile, resolve_profile
from ..data.synthetic import profile_overrides

__all__ = ["Variant", "declare"]


@dataclass(frozen=True)
class Variant:
    """One regime knob or lever: its JSON key, its profile overrides, its data overrides, what it mirrors."""

    name: str
    overrides: dict[str, Any] = field(default_factory=dict)
    synth: dict[str, Any] | None = None  # SynthConfig fields (become data__synth__<field> overrides)
    mirrors: str = ""

    def all_overrides(self) -> dict[str, Any]:
        """Profile and data overrides together, as ``section__field`` keys."""
        return {**self.overrides, **profile_overrides(self.synth)}

    def profile(self, base: str = "classroom") -> Profile:
        """The profile this variant runs in."""
        return resolve_profile(base, **self.all_overrides())

    def set_items(self) -> list[str]:
        """The ``--set SECTION__FIELD=VALUE`` items that run this variant through ``stepstones reproduce``
        (values as JSON, which :func:`~stepstones_lite.config.parse_overrides` reads back)."""
        return [f"{k}={json.dumps(v)}" for k, v in self.all_overrides().items()]


def declare(variants: Iterable[Variant]) -> dict[str, Variant]:
    """``{name: variant}`` in declaration order (the tables' row order); a repeated name is an error."""
    out: dict[str, Variant] = {}
    for v in variants:
        if v.name in out:
            raise ValueError(f"variant {v.name!r} declared twice")
        out[v.name] = v
    return out
