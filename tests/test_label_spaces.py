"""The stand-ins' label spaces (train/pretrain.py): coarse super-classes, sound families, fine classes."""

from __future__ import annotations

import pytest

from stepstones_lite.data.synthetic.catalogue import DEFAULT_CLASSES
from stepstones_lite.train.pretrain import SOUND_FAMILIES, _LabelSpace, family_of, pretrain_encoders


def test_every_sound_family_of_the_default_classes_has_two_or_three_members():
    """A one-member family would name its class, and the family regime would be the fine one for it."""
    counts: dict[str, int] = {}
    for name in DEFAULT_CLASSES:
        counts[family_of(name)] = counts.get(family_of(name), 0) + 1
    assert "other" not in counts and set(counts) == set(SOUND_FAMILIES)
    assert all(2 <= n <= 3 for n in counts.values()), counts
    assert family_of("helicopter") == family_of("drum") and family_of("tree") == "other"


def test_family_label_space_ids_are_fixed_and_shared_within_a_family():
    space = _LabelSpace("family")
    assert space("dog") == space("cat") != space("horse")
    assert space.names[: len(SOUND_FAMILIES)] == list(SOUND_FAMILIES)
    fine = _LabelSpace("fine")
    assert fine("dog") != fine("cat")


def test_the_visual_stand_in_has_no_family_space(tmp_path):
    from stepstones_lite.config import resolve_profile

    with pytest.raises(ValueError, match="label_space must be 'coarse' or 'fine'"):
        pretrain_encoders(resolve_profile("smoke"), tmp_path, label_space="family")
    with pytest.raises(ValueError, match="audio_label_space must be one of"):
        pretrain_encoders(resolve_profile("smoke"), tmp_path, audio_label_space="families")
