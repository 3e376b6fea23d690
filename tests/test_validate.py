"""validate_dataset: a clean tree passes with notes; each kind of bad input is one listed problem naming the
file."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
from data_fixtures import (
    AVSS_CLIPS,
    FRAMES,
    MS3_CLIPS,
    S4_CLIPS,
    make_avss_tree,
    make_ms3_tree,
    make_priors,
    make_s4_tree,
    tone,
)
from PIL import Image

from stepstones_lite.data import AVSBenchObject, AVSBenchSemantic, DatasetError, label2idx, validate_dataset

torch.set_num_threads(1)
V1S_TRAIN, V1S_VAL, V1M, V2 = (f"{s}/{u}" for s, u, _, _ in AVSS_CLIPS)
S4_TRAIN = f"s4_data/visual_frames/train/{S4_CLIPS[0][2]}/{S4_CLIPS[0][0]}"
MS3_ID = MS3_CLIPS[0][0]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    b = tmp_path_factory.mktemp("base")
    return {"avss": make_avss_tree(b / "avss"), "s4": make_s4_tree(b / "s4"), "ms3": make_ms3_tree(b / "ms3")}


def test_clean_trees_pass_with_notes(base, tmp_path):
    rep = validate_dataset(
        base["avss"], prior_root=make_priors(tmp_path / "p", [(s, u, FRAMES[s]) for s, u, _, _ in AVSS_CLIPS])
    )
    assert rep.layout == "avss" and rep.num_clips == 4 and rep.notes == []
    assert rep.counts == {"v1s/train": 1, "v1s/val": 1, "v1m/train": 1, "v2/test": 1}
    s4 = validate_dataset(base["s4"])
    assert s4.layout == "s4" and s4.num_clips == 3 and "3× 16000 Hz/2 ch" in s4.notes[0]
    ms3 = validate_dataset(base["ms3"])
    assert ms3.layout == "ms3" and "44100 Hz/2 ch" in ms3.notes[0]
    assert "3 clips OK" in str(ms3)


def garbage(path, data=b"\x00\x01garbage" * 3):
    path.write_bytes(data)


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def set_pixel(path, colour):
    arr = np.asarray(Image.open(path)).copy()
    arr[0, 0] = colour
    Image.fromarray(arr).save(path)


def rewrite_metadata(root, fn):
    lines = (root / "metadata.csv").read_text().split("\n")
    (root / "metadata.csv").write_text("\n".join(fn(lines)))


def swap_label2idx(root):
    items = list(label2idx().items())
    items[1], items[2] = items[2], items[1]
    (root / "label2idx.json").write_text(json.dumps(dict(items)))


def link_outside(path, outside):
    target = outside / path.name
    shutil.copy(path, target)
    path.unlink()
    path.symlink_to(target)


def synthetic_wav(marker, text, rate=16000, channels=1):
    """A corruption: a ``marker`` file makes the tree our generator's (16 kHz mono required), then the v1m
    clip gets a 5 s tone at ``rate`` Hz with ``channels`` channels."""

    def corrupt(root, outside):
        (root / marker).write_text(text)
        sf.write(root / V1M / "audio.wav", tone(5, sr=rate, channels=channels), rate)

    return corrupt


# (layout, corruption(root, outside), text expected in one problem, split for the loader or None)
CASES = {
    "corrupt_wav": (
        "avss",
        lambda r, o: garbage(r / V1M / "audio.wav"),
        f"{V1M}/audio.wav: unreadable wav",
        "train",
    ),
    "empty_wav": (
        "avss",
        lambda r, o: garbage(r / V2 / "audio.wav", b""),
        f"{V2}/audio.wav: unreadable wav",
        "test",
    ),
    "no_samples_wav": (
        "avss",
        lambda r, o: sf.write(r / V2 / "audio.wav", np.zeros(0, np.float32), 16000),
        f"{V2}/audio.wav: wav has no samples",
        "test",
    ),
    "short_wav": (
        "avss",
        lambda r, o: sf.write(r / V2 / "audio.wav", tone(0.5), 16000),
        "shorter than one 0.96 s",
        None,
    ),
    "rate_synthetic": (
        "avss",
        synthetic_wav("synthetic.json", "{}", rate=22050),
        f"{V1M}/audio.wav: 22050 Hz, 1 channel(s); this dataset requires 16 kHz mono",
        None,
    ),
    "stereo_synthetic": (
        "avss",
        synthetic_wav("dataset.json", '{"generator": "stepstones_lite.data.synthetic"}', channels=2),
        "16000 Hz, 2 channel(s); this dataset requires 16 kHz mono",
        None,
    ),
    "missing_frame": (
        "avss",
        lambda r, o: (r / V2 / "frames" / "3.jpg").unlink(),
        f"{V2}/frames/3.jpg: missing file",
        "test",
    ),
    "truncated_frame": (
        "avss",
        lambda r, o: truncate(r / V1M / "frames" / "2.jpg"),
        f"{V1M}/frames/2.jpg: unreadable image",
        "train",
    ),
    "missing_label": (
        "avss",
        lambda r, o: (r / V1M / "labels_rgb" / "4.png").unlink(),
        f"{V1M}/labels_rgb/4.png: missing file",
        "train",
    ),
    "missing_v1s_label0": (
        "avss",
        lambda r, o: (r / V1S_TRAIN / "labels_rgb" / "0.png").unlink(),
        f"{V1S_TRAIN}/labels_rgb/0.png: missing file",
        "train",
    ),
    "off_palette": (
        "avss",
        lambda r, o: set_pixel(r / V1S_VAL / "labels_rgb" / "3.png", (7, 7, 7)),
        f"{V1S_VAL}/labels_rgb/3.png: 1 pixels have colours outside the 71-class palette: (7,7,7)",
        "val",
    ),
    "rgb_vs_semantic": (
        "avss",
        lambda r, o: set_pixel(r / V2 / "labels_semantic" / "1.png", 5),
        f"{V2}/labels_semantic/1.png: disagrees with",
        None,
    ),
    "semantic_out_of_range": (
        "avss",
        lambda r, o: set_pixel(r / V2 / "labels_semantic" / "1.png", 71),
        "labels_semantic/1.png: class index 71 outside 0..70",
        None,
    ),
    "wrong_columns": (
        "avss",
        lambda r, o: rewrite_metadata(r, lambda ls: ["vid,uid,split,label"] + ls[1:]),
        "metadata.csv: missing columns ['s_min', 's_sec', 'a_obj']",
        "train",
    ),
    "unknown_split": (
        "avss",
        lambda r, o: rewrite_metadata(r, lambda ls: ls[:2] + [ls[2].replace(",val,", ",dev,")] + ls[3:]),
        "metadata.csv:3: unknown split 'dev'",
        "train",
    ),
    "unknown_subset": (
        "avss",
        lambda r, o: rewrite_metadata(r, lambda ls: ls[:4] + [ls[4].replace(",v2", ",v3")]),
        "metadata.csv:5: unknown subset (label) 'v3'",
        "test",
    ),
    "bad_s_min": (
        "avss",
        lambda r, o: rewrite_metadata(r, lambda ls: ls[:1] + [ls[1].replace(",0,0,", ",-1,0,")] + ls[2:]),
        "metadata.csv:2: s_min/s_sec not non-negative integers",
        "train",
    ),
    "duplicate_uid": (
        "avss",
        lambda r, o: rewrite_metadata(r, lambda ls: ls + [ls[3]]),
        "metadata.csv:6: duplicate uid",
        "train",
    ),
    "dotdot_uid": (
        "avss",
        lambda r, o: rewrite_metadata(r, lambda ls: ls + ["x,../../etc,0,0,a,train,v1m"]),
        "uid '../../etc' is not a plain folder name",
        "train",
    ),
    "absolute_uid": (
        "avss",
        lambda r, o: rewrite_metadata(r, lambda ls: ls + ["x,/etc,0,0,a,train,v1m"]),
        "uid '/etc' is not a plain folder name",
        "train",
    ),
    "unknown_instance": (
        "avss",
        lambda r, o: set_pixel(r / V1M / "instances" / "2.png", 9),
        f"{V1M}/instances/2.png: instance ids [9] not in objects.json",
        None,
    ),
    "bad_dataset_json": (
        "avss",
        lambda r, o: garbage(r / "dataset.json"),
        "dataset.json: invalid JSON",
        None,
    ),
    "label_aspect": (
        "avss",
        lambda r, o: Image.fromarray(np.zeros((24, 24, 3), np.uint8)).save(r / V2 / "labels_rgb" / "5.png"),
        f"{V2}/labels_rgb/5.png: size (24, 24) does not match its frame (24, 32)",
        "test",
    ),
    "symlinked_frame": (
        "avss",
        lambda r, o: link_outside(r / V1M / "frames" / "1.jpg", o),
        f"{V1M}/frames/1.jpg: resolves to",
        "train",
    ),
    "symlinked_clip": (
        "avss",
        lambda r, o: (shutil.move(r / V2, o / "clip"), (r / V2).symlink_to(o / "clip")),
        f"{V2}: resolves to",
        "test",
    ),
    "label2idx_70": (
        "avss",
        lambda r, o: (r / "label2idx.json").write_text(json.dumps(dict(list(label2idx().items())[:70]))),
        "label2idx.json: not the 71-class AVSBench-semantic mapping (got 70 entries",
        "train",
    ),
    "label2idx_order": ("avss", lambda r, o: swap_label2idx(r), "label2idx.json: not the 71-class", "train"),
    "label2idx_garbage": (
        "avss",
        lambda r, o: garbage(r / "label2idx.json"),
        "label2idx.json: invalid JSON",
        "train",
    ),
    "metadata_binary": (
        "avss",
        lambda r, o: garbage(r / "metadata.csv", b"\xff\xfe\x00bad"),
        "metadata.csv: unreadable CSV",
        "train",
    ),
    "s4_grey_mask": (
        "s4",
        lambda r, o: set_pixel(
            r / S4_TRAIN.replace("visual_frames", "gt_masks") / f"{S4_CLIPS[0][0]}_1.png", 128
        ),
        "_1.png: mask is not binary",
        "train",
    ),
    "s4_no_audio": (
        "s4",
        lambda r, o: [p.unlink() for p in (r / "s4_data").rglob("_piano1.*") if p.suffix in (".wav", ".pkl")],
        "_piano1.pkl: no log-mel pickle and no wav",
        "val",
    ),
    "s4_bad_pkl": (
        "s4",
        lambda r, o: garbage(next((r / "s4_data" / "audio_log_mel").rglob("car9.pkl"))),
        "car9.pkl: unreadable log-mel pickle",
        None,
    ),
    "s4_wrong_columns": (
        "s4",
        lambda r, o: (r / "s4_meta_data.csv").write_text("name,split\na,train\n"),
        "s4_meta_data.csv: missing columns ['start', 'category']",
        "train",
    ),
    "s4_category_escape": (
        "s4",
        lambda r, o: (r / "s4_meta_data.csv").write_text("name,start,category,split\na,0,..,train\n"),
        "category '..' is not a plain folder name",
        "train",
    ),
    "ms3_missing_mp4_frame": (
        "ms3",
        lambda r, o: (r / "ms3_data" / "visual_frames" / MS3_ID / f"{MS3_ID}.mp4_4.png").unlink(),
        f"{MS3_ID}.mp4_4.png: missing file",
        "train",
    ),
    "metadata_header_only": (
        "avss",
        lambda r, o: rewrite_metadata(r, lambda ls: ls[:1]),
        "metadata.csv: no clip rows (header only)",
        None,
    ),
    "objects_null": (
        "avss",
        lambda r, o: (r / V1M / "objects.json").write_text("null"),
        f'{V1M}/objects.json: expected a JSON object with an "objects" list, got NoneType',
        None,
    ),
    "objects_list": (
        "avss",
        lambda r, o: (r / V1M / "objects.json").write_text('["a"]'),
        f'{V1M}/objects.json: expected a JSON object with an "objects" list, got list',
        None,
    ),
    "objects_no_sounding": (
        "avss",
        lambda r, o: (r / V1M / "objects.json").write_text('{"objects": [{"id": 1, "class": "dog"}]}'),
        f'{V1M}/objects.json: object 1: "sounding" is not a list of booleans',
        None,
    ),
    "rate_400009": (
        "avss",
        lambda r, o: sf.write(r / V1M / "audio.wav", tone(1, sr=400009), 400009),
        f"{V1M}/audio.wav: sample rate 400009 Hz is outside 8000..192000 Hz",
        "train",
    ),
    "odd_frame_0": (
        "avss",
        lambda r, o: Image.fromarray(np.zeros((24, 30, 3), np.uint8)).save(r / V1M / "frames" / "0.jpg"),
        f"{V1M}/frames/0.jpg: frame size (24, 30) differs from the other frames' (24, 32)",
        "train",
    ),
    "ms3_duplicate": (
        "ms3",
        lambda r, o: (r / "ms3_meta_data.csv").write_text(f"video_id,split\n{MS3_ID},train\n{MS3_ID},val\n"),
        "duplicate id",
        "train",
    ),
}


def make_case(base, tmp_path, layout, corrupt):
    root = shutil.copytree(base[layout], tmp_path / layout, symlinks=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    corrupt(root, outside)
    return root


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_named_problem(base, tmp_path, name):
    layout, corrupt, expected, split = CASES[name]
    root = make_case(base, tmp_path, layout, corrupt)
    with pytest.raises(DatasetError) as info:
        validate_dataset(root)
    problems = info.value.problems
    assert any(expected in p for p in problems), problems
    assert all(str(root) in p for p in problems), problems  # every problem names a file of this tree
    if split is None:
        return
    # the loaders raise DatasetError naming the same file (while constructing or in __getitem__)
    with pytest.raises(DatasetError) as info:
        ds = (
            AVSBenchSemantic(root, split=split, image_size=None)
            if layout == "avss"
            else AVSBenchObject(root, layout, split, image_size=None)
        )
        for _ in ds:
            pass
    assert expected.split(":")[0].split("/")[-1] in str(info.value)


def test_every_problem_reported_at_once(base, tmp_path):
    def corrupt(r, o):
        garbage(r / V1M / "audio.wav")
        (r / V2 / "frames" / "9.jpg").unlink()
        set_pixel(r / V1S_VAL / "labels_rgb" / "0.png", (1, 1, 1))
        rewrite_metadata(r, lambda ls: ls + [ls[1]])

    root = make_case(base, tmp_path, "avss", corrupt)
    with pytest.raises(DatasetError) as info:
        validate_dataset(root)
    text = "\n".join(info.value.problems)
    assert len(info.value.problems) == 4, text
    for piece in (
        "audio.wav: unreadable wav",
        "frames/9.jpg: missing file",
        "labels_rgb/0.png: 1 pixels",
        "duplicate uid",
    ):
        assert piece in text
    assert "4 problem(s) found" in str(info.value)


def test_priors_checked(base, tmp_path):
    priors = make_priors(tmp_path / "p", [(s, u, FRAMES[s]) for s, u, _, _ in AVSS_CLIPS])
    (priors / V2 / "6.png").unlink()
    set_pixel(priors / V1M / "0.png", 77)
    with pytest.raises(DatasetError) as info:
        validate_dataset(base["avss"], prior_root=priors)
    text = "\n".join(info.value.problems)
    assert f"{V2}/6.png: missing file" in text and f"{V1M}/0.png: mask is not binary" in text


def test_not_a_root(tmp_path):
    with pytest.raises(DatasetError, match="not an AVSBench root"):
        validate_dataset(tmp_path)
    with pytest.raises(DatasetError, match="not a folder"):
        validate_dataset(tmp_path / "nope")


def test_real_release_audio_is_noted_not_rejected(base, tmp_path):
    root = make_case(
        base,
        tmp_path,
        "avss",
        lambda r, o: sf.write(r / V1M / "audio.wav", tone(5, channels=2, sr=44100), 44100),
    )
    rep = validate_dataset(root)
    assert any("44100 Hz/2 ch" in n for n in rep.notes)
    with pytest.raises(DatasetError, match="requires 16 kHz mono"):
        validate_dataset(root, audio_rule="strict")
    assert os.path.exists(root / V1M / "audio.wav")


def test_benchmark_classes_label_space(tmp_path):
    """Synthetic metadata names the label space; anything else (AVSBench, missing or broken metadata) is all
    71."""
    from stepstones_lite.data import benchmark_classes, class_index

    assert benchmark_classes(tmp_path) == tuple(range(71))  # no dataset.json: AVSBench's 71 classes
    info = {"generator": "stepstones_lite.data.synthetic", "config": {"classes": ["violin", "dog", "dog"]}}
    (tmp_path / "dataset.json").write_text(json.dumps(info))
    assert benchmark_classes(tmp_path) == (0, class_index("dog"), class_index("violin"))
    info["generator"] = "someone else"
    (tmp_path / "dataset.json").write_text(json.dumps(info))
    assert benchmark_classes(tmp_path) == tuple(range(71))
    (tmp_path / "dataset.json").write_text("{not json")
    assert benchmark_classes(tmp_path) == tuple(range(71))
    info = {"generator": "stepstones_lite.data.synthetic", "config": {"classes": ["no-such-class"]}}
    (tmp_path / "dataset.json").write_text(json.dumps(info))
    assert benchmark_classes(tmp_path) == tuple(range(71))


@pytest.mark.parametrize("text", ["null", '["a"]', '{"objects": [{"id": 1, "class": "dog"}]}'])
def test_loader_rejects_a_malformed_objects_json(base, tmp_path, text):
    """The instance reader (what evaluation's diagnostics consume) names objects.json, not a later crash."""
    root = make_case(base, tmp_path, "avss", lambda r, o: (r / V1M / "objects.json").write_text(text))
    ds = AVSBenchSemantic(root, split="train", subsets=("v1m",), image_size=None, return_instances=True)
    with pytest.raises(DatasetError, match=f"{V1M}/objects.json: "):
        ds[0]


def test_absurd_sample_rate_is_refused_before_decoding(tmp_path):
    """A 4 MB wav at 400009 Hz once took ~4 GB and 10 s to resample; now its header alone refuses it."""
    import time

    from stepstones_lite.data.readers import log_mel_from_wav

    path = tmp_path / "fast.wav"
    sf.write(path, tone(5, sr=400009), 400009, subtype="PCM_16")  # ~4 MB
    start = time.perf_counter()
    with pytest.raises(DatasetError, match=r"fast.wav: sample rate 400009 Hz is outside"):
        log_mel_from_wav(path)
    assert time.perf_counter() - start < 1.0
