"""The study's declared variants (regime knobs, stage-1 levers): typed records that run as --set overrides."""

import pytest

from stepstones_lite.config import parse_overrides, resolve_profile
from stepstones_lite.study.knobs import KNOBS
from stepstones_lite.study.stage1_levers import LEVERS
from stepstones_lite.study.variants import Variant, declare


def test_declare_keeps_order_and_refuses_a_repeated_name():
    a, b = Variant("a", {"train__stage1_steps": 3}), Variant("b", synth={"num_clips": 40})
    assert list(declare([a, b])) == ["a", "b"]
    with pytest.raises(ValueError, match="declared twice"):
        declare([a, Variant("a")])


def test_a_data_knob_becomes_a_profile_override():
    v = Variant("fewer clips, v2 labels", {"train__stage1_steps": 3}, {"num_clips": 40, "label": "v2"})
    assert v.all_overrides() == {"train__stage1_steps": 3, "data__num_clips": 40, "data__synth__label": "v2"}
    assert v.profile("smoke").data.num_clips == 40 and v.profile("smoke").data.synth.label == "v2"


@pytest.mark.parametrize("variant", [*KNOBS.values(), *LEVERS.values()], ids=lambda v: v.name[:40])
def test_every_knob_and_lever_runs_as_reproduce_set(variant):
    """`stepstones reproduce --set ...` reaches every knob: its --set items give the knob's own profile."""
    via_cli = resolve_profile("classroom", **parse_overrides(variant.set_items()))
    assert via_cli == variant.profile("classroom")
    if (
        variant.name in KNOBS and variant.all_overrides()
    ):  # a knob changes the classroom regime (a lever changes
        assert via_cli != resolve_profile(
            "classroom"
        )  # stage1_levers.REGIME, which may equal it in that field)
