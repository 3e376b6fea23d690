import numpy as np
import pytest

from stepstones_lite.data import AVSS_CLASSES, DatasetError, class_colour, class_index, label2idx, palette


def test_71_classes_in_release_order():
    assert len(AVSS_CLASSES) == 71 and len(set(AVSS_CLASSES)) == 71
    assert AVSS_CLASSES[0] == "background" and AVSS_CLASSES[-1] == "woman"
    mapping = label2idx()
    assert mapping["background"] == 1 and mapping["accordion"] == 2 and mapping["woman"] == 71
    assert list(mapping) == list(AVSS_CLASSES)


@pytest.mark.parametrize(
    "index, colour",
    [
        (0, (0, 0, 0)),
        (1, (128, 0, 0)),
        (2, (0, 128, 0)),
        (3, (128, 128, 0)),
        (4, (0, 0, 128)),
        (8, (64, 0, 0)),
        (70, (32, 128, 128)),
    ],
)
def test_palette_matches_avsbench_examples(index, colour):
    assert class_colour(index) == colour


def test_data_options_class_table_colours():
    # docs/data_sources.md §3.1: dog idx 17 -> (128,64,0), piano 47 -> (192,128,192), woman 70 -> (32,128,128)
    assert class_index("dog") == 17 and class_colour(17) == (128, 64, 0)
    assert class_index("piano") == 47 and class_colour(47) == (192, 128, 192)
    assert class_index("violin") == 68 and class_colour(68) == (32, 0, 128)


def test_palette_colours_distinct_and_readonly():
    table = palette()
    assert table.shape == (71, 3) and table.dtype == np.uint8
    assert len({tuple(row) for row in table}) == 71
    with pytest.raises(ValueError):
        table[0, 0] = 1


def test_unknown_class_and_error_message(tmp_path):
    with pytest.raises(KeyError, match="'unicorn' is not"):
        class_index("unicorn")
    err = DatasetError(tmp_path / "a.wav", "corrupt wav", ["x", "y"])
    assert isinstance(err, ValueError)
    assert "a.wav: corrupt wav" in str(err) and "  - y" in str(err)
