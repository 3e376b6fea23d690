"""Object-level stage-2 diagnostics (study/semantic_errors.py) against hand-worked cases."""

from __future__ import annotations

import pytest
import torch

from stepstones_lite.study.semantic_errors import (
    ObjectOutcomes,
    confusion,
    first_sounding_clips,
    object_outcomes,
)

# one 4x4 frame, four objects: 1 = flute (class 5, sounding), 2 = violin (class 7, sounding),
# 3 = a silent dog (class 9, a distractor), 4 = a tree from the never-sounding pool
INSTANCES = torch.tensor([[[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 0, 4], [3, 3, 0, 4]]])
OBJECTS = [
    {"id": 1, "class_index": 5, "sounding": [True]},
    {"id": 2, "class_index": 7, "sounding": [True]},
    {"id": 3, "class_index": 9, "sounding": [False]},
    {"id": 4, "class_index": None, "sounding": [False], "silent_only": True},
]


def test_outcomes_by_hand():
    pred = torch.tensor(
        [
            [
                [5, 5, 5, 5],  # flute: 2 of 4 pixels flute -> named (share 0.5)
                [0, 0, 5, 5],  # violin: all 4 predicted flute -> wrong class (flute)
                [9, 9, 0, 0],  # dog: 3 of 4 predicted -> marked (area 0.75)
                [9, 0, 0, 0],
            ]
        ]
    )  # tree: nothing -> not marked
    out = object_outcomes(pred, INSTANCES, OBJECTS)
    assert out.sounding == {"named": 1, "wrong_class": 1}
    assert out.confused_with == {(7, 5): 1}
    s = out.summary()
    assert s["named"] == 0.5 and s["wrong_class"] == 0.5 and s["missed"] == 0.0 and s["n_sounding"] == 2
    assert s["marked_distractor"] == 1.0 and s["area_distractor"] == pytest.approx(0.75)
    assert s["marked_pool"] == 0.0 and s["area_pool"] == 0.0 and s["n_pool"] == 1
    # flute and violin sound together: both object-frames are multi-source, none single
    assert s["n_sounding_multi"] == 2 and s["n_sounding_single"] == 0 and s["wrong_class_multi"] == 0.5


def test_missed_inactive_and_valid_frames():
    inst = torch.ones(2, 2, 2, dtype=torch.long)
    objs = [{"id": 1, "class_index": 5, "sounding": [True, False]}]
    pred = torch.tensor([[[0, 0], [0, 5]], [[5, 5], [0, 0]]])  # frame 0: 1/4 found; frame 1: half marked
    out = object_outcomes(pred, inst, objs)
    assert (
        out.sounding == {"missed": 1}
        and out.silent == {"inactive": 1}
        and out.silent_marked == {"inactive": 1}
    )
    assert out.summary()["missed_single"] == 1.0 and out.summary()["n_sounding_multi"] == 0
    only_first = object_outcomes(pred, inst, objs, valid=torch.tensor([True, False]))
    assert only_first.silent == {} and only_first.sounding == {"missed": 1}
    total = ObjectOutcomes().add(out).add(only_first)
    assert total.sounding == {"missed": 2} and total.summary()["marked_inactive"] == 1.0


def test_confusion_counts_pixels():
    labels = torch.tensor([[0, 1], [1, 2]])
    pred = torch.tensor([[0, 2], [1, 2]])
    c = confusion(pred, labels, num_classes=3)
    assert c.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]] and int(c.sum()) == 4
    with pytest.raises(ValueError, match="differ in shape"):
        confusion(pred[:1], labels)


def test_first_sounding_clips_is_a_fixed_rule():
    silent, sounding = {"labels": torch.zeros(2, 3, 3)}, {"labels": torch.ones(2, 3, 3)}
    data = [silent, sounding, silent, sounding, sounding]
    assert first_sounding_clips(data, 2) == [1, 3]
    assert first_sounding_clips(data, 10) == [1, 3, 4]
