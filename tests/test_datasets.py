"""AVSBench datasets on tiny release-layout trees: shapes, values, temporal rules, priors, palette, audio."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch
from data_fixtures import (
    AVSS_CLIPS,
    FRAMES,
    MS3_CLIPS,
    S4_CLIPS,
    H,
    W,
    binary_mask,
    label_map,
    make_avss_tree,
    make_ms3_tree,
    make_priors,
    make_s4_tree,
    pkl_log_mel,
    prior_map,
)
from PIL import Image
from torch.utils.data import DataLoader

from stepstones_lite.audio import fit_examples, log_mel_examples
from stepstones_lite.data import AVSBenchObject, AVSBenchSemantic, DatasetError, clip_collate, palette
from stepstones_lite.data.io import IMAGENET_MEAN, IMAGENET_STD, read_pickled_log_mel

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    base = tmp_path_factory.mktemp("trees")
    return {
        "avss": make_avss_tree(base / "avss"),
        "s4": make_s4_tree(base / "Single-source"),
        "ms3": make_ms3_tree(base / "Multi-sources"),
        "priors": make_priors(base / "priors", [(s, u, FRAMES[s]) for s, u, _, _ in AVSS_CLIPS]),
    }


def by_uid(ds):
    return {item["uid"]: item for item in ds}


def jpg_frames(path, t):
    return np.stack([np.asarray(Image.open(path / "frames" / f"{k}.jpg").convert("RGB")) for k in range(t)])


def test_avss_items_shapes_dtypes_and_labels(trees):
    root = trees["avss"]
    for subset, uid, split, classes in AVSS_CLIPS:
        item = by_uid(AVSBenchSemantic(root, split=split, subsets=(subset,), image_size=None))[uid]
        t = FRAMES[subset]
        assert item["frames"].shape == (t, 3, H, W) and item["frames"].dtype == torch.float32
        assert item["labels"].shape == (t, H, W) and item["labels"].dtype == torch.int64
        assert item["masks"].dtype == torch.float32 and item["log_mel"].shape == (t, 1, 96, 64)
        assert item["valid"].dtype == torch.bool and item["subset"] == subset and item["split"] == split
        annotated = [0] if (subset, split) == ("v1s", "train") else range(t)
        for k in range(t):
            want = label_map(classes, k) if k in annotated else np.zeros((H, W), np.int64)
            np.testing.assert_array_equal(item["labels"][k].numpy(), want)
        assert torch.equal(item["masks"], (item["labels"] > 0).float())
        # frames: ImageNet normalisation of the decoded JPEG
        raw = torch.from_numpy(jpg_frames(root / subset / uid, t)).permute(0, 3, 1, 2).float() / 255
        mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        torch.testing.assert_close(item["frames"], (raw - mean) / std)
        # audio = front end of audio.wav, zero-padded to T
        wave, rate = sf.read(root / subset / uid / "audio.wav", dtype="float32")
        torch.testing.assert_close(
            item["log_mel"], fit_examples(log_mel_examples(wave, rate), t, mode="zero")
        )


def test_normalize_off_gives_unit_range(trees):
    item = AVSBenchSemantic(trees["avss"], split="test", image_size=None, normalize=False)[0]
    raw = jpg_frames(trees["avss"] / "v2" / AVSS_CLIPS[3][1], 10)
    torch.testing.assert_close(item["frames"], torch.from_numpy(raw).permute(0, 3, 1, 2).float() / 255)


def test_v1s_train_single_label_flag_vs_repeat(trees):
    uid = AVSS_CLIPS[0][1]
    flag = by_uid(AVSBenchSemantic(trees["avss"], split="train", subsets=("v1s",), image_size=None))[uid]
    assert flag["valid"].tolist() == [True, False, False, False, False]
    assert not torch.equal(flag["frames"][0], flag["frames"][3])  # all five real frames
    rep = by_uid(
        AVSBenchSemantic(
            trees["avss"], split="train", subsets=("v1s",), image_size=None, single_frame="repeat"
        )
    )[uid]
    assert rep["valid"].tolist() == [True] * 5
    for k in range(5):  # Stepping Stones: frame 0 and its label repeated
        assert torch.equal(rep["frames"][k], flag["frames"][0])
        assert torch.equal(rep["labels"][k], flag["labels"][0])
    assert torch.equal(rep["log_mel"], flag["log_mel"])  # audio keeps its 5 seconds


def test_official_valid_flags(trees):
    ds = AVSBenchSemantic(trees["avss"], split="val", image_size=None, valid_rule="official")
    assert ds[0]["subset"] == "v1s" and ds[0]["valid"].tolist() == [True, False, False, False, False]
    assert AVSBenchSemantic(trees["avss"], split="val", image_size=None)[0]["valid"].tolist() == [True] * 5
    v1m = AVSBenchSemantic(
        trees["avss"], split="train", subsets=("v1m",), image_size=None, valid_rule="official"
    )[0]
    assert v1m["valid"].tolist() == [True] * 5
    v2 = AVSBenchSemantic(trees["avss"], split="test", image_size=None, valid_rule="official")[0]
    assert v2["valid"].tolist() == [True] * 10


def test_pad_to_10_and_collate(trees):
    ds = AVSBenchSemantic(trees["avss"], split="train", image_size=16, pad_to=10)
    items = list(ds)
    v1m = next(i for i in items if i["subset"] == "v1m")
    assert v1m["frames"].shape == (10, 3, 16, 16)
    assert (
        v1m["present"].tolist() == [True] * 5 + [False] * 5
        and v1m["valid"].tolist() == [True] * 5 + [False] * 5
    )
    assert (
        v1m["frames"][5:].abs().sum() == 0
        and v1m["log_mel"][5:].abs().sum() == 0
        and v1m["labels"][5:].sum() == 0
    )
    batch = clip_collate(items)
    assert batch["frames"].shape == (2, 10, 3, 16, 16) and batch["uid"] == [i["uid"] for i in items]
    mixed = [
        AVSBenchSemantic(trees["avss"], split=s, image_size=16)[0] for s in ("val", "test")
    ]  # T=5 and T=10
    with pytest.raises(ValueError, match="pad_to"):
        clip_collate(mixed)
    loader = DataLoader(
        AVSBenchSemantic(trees["avss"], split="train", image_size=16), batch_size=2, collate_fn=clip_collate
    )
    (batch,) = list(loader)
    assert batch["labels"].shape == (2, 5, 16, 16) and batch["log_mel"].shape == (2, 5, 1, 96, 64)


def test_resize_bilinear_frames_nearest_labels(trees):
    item = AVSBenchSemantic(trees["avss"], split="test", image_size=(48, 40))[0]
    assert item["frames"].shape == (10, 3, 48, 40) and item["labels"].shape == (10, 48, 40)
    assert set(item["labels"].unique().tolist()) == {0, 1, 70}  # nearest: no blended class ids
    want = np.asarray(Image.fromarray(label_map((70, 1), 0).astype(np.uint8)).resize((40, 48), Image.NEAREST))
    np.testing.assert_array_equal(item["labels"][0].numpy(), want)
    crop = AVSBenchSemantic(trees["avss"], split="test", image_size=12, resize="crop")[0]
    assert crop["frames"].shape == (10, 3, 12, 12)


def test_priors_and_missing_prior(trees, tmp_path):
    ds = AVSBenchSemantic(trees["avss"], split="test", image_size=None, prior_root=trees["priors"])
    item = ds[0]
    assert item["prior"].shape == (10, H, W) and item["prior"].dtype == torch.float32
    for k in range(10):
        np.testing.assert_array_equal(item["prior"][k].numpy(), prior_map(k) / 255)
    partial = make_priors(tmp_path / "pri", [("v2", AVSS_CLIPS[3][1], 9)])  # frame 9 missing
    with pytest.raises(DatasetError, match="9.png: missing file"):
        AVSBenchSemantic(trees["avss"], split="test", image_size=None, prior_root=partial)[0]


def test_instances(trees):
    item = AVSBenchSemantic(
        trees["avss"], split="train", subsets=("v1m",), image_size=None, return_instances=True
    )[0]
    assert [(o["id"], o["class"]) for o in item["objects"]["objects"]] == [(1, 28), (2, 41)]
    lab = label_map((28, 41), 3)
    want = np.where(lab == 28, 1, np.where(lab == 41, 2, 0))
    np.testing.assert_array_equal(item["instances"][3].numpy(), want)
    ds = AVSBenchSemantic(trees["avss"], split="train", image_size=8, return_instances=True)
    (batch,) = DataLoader(
        ds, batch_size=2, num_workers=1, collate_fn=clip_collate
    )  # items pickle across workers
    assert batch["instances"].shape == (2, 5, 8, 8) and len(batch["objects"]) == 2


def test_palette_strict_and_lenient(trees, tmp_path):
    import shutil

    root = shutil.copytree(trees["avss"], tmp_path / "avss")
    uid = AVSS_CLIPS[2][1]
    png = root / "v1m" / uid / "labels_rgb" / "1.png"
    rgb = np.asarray(Image.open(png).convert("RGB")).copy()
    rgb[0, 0] = (1, 2, 3)  # not a palette colour
    Image.fromarray(rgb).save(png)
    ds = AVSBenchSemantic(root, split="train", subsets=("v1m",), image_size=None)
    with pytest.raises(DatasetError, match=r"labels_rgb/1.png: 1 pixels have colours outside"):
        ds[0]
    lenient = AVSBenchSemantic(root, split="train", subsets=("v1m",), image_size=None, strict=False)[0]
    want = label_map((28, 41), 1)
    want[0, 0] = 0  # official behaviour: unmatched colour -> background
    np.testing.assert_array_equal(lenient["labels"][1].numpy(), want)
    sem = AVSBenchSemantic(root, split="train", subsets=("v1m",), image_size=None, label_source="semantic")[0]
    np.testing.assert_array_equal(sem["labels"][1].numpy(), label_map((28, 41), 1))


def test_palette_decodes_every_class(tmp_path):
    from stepstones_lite.data.io import read_colour_label

    lab = np.arange(71).reshape(1, 71).repeat(2, 0)
    Image.fromarray(palette()[lab]).save(tmp_path / "all.png")
    np.testing.assert_array_equal(read_colour_label(tmp_path / "all.png"), lab)


def test_stepstones_data_default(trees, monkeypatch):
    monkeypatch.setenv("STEPSTONES_DATA", str(trees["avss"]))
    ds = AVSBenchSemantic(split="test", image_size=None)
    assert ds.root == trees["avss"] and len(ds) == 1
    monkeypatch.delenv("STEPSTONES_DATA")
    with pytest.raises(DatasetError, match="STEPSTONES_DATA"):
        AVSBenchSemantic(split="test")


def test_s4_items(trees):
    root = trees["s4"]
    for j, (name, start, cat, split) in enumerate(S4_CLIPS):
        item = by_uid(AVSBenchObject(root, "s4", split, image_size=None))[name]
        assert item["frames"].shape == (5, 3, H, W) and item["masks"].shape == (5, H, W)
        assert item["category"] == cat and item["start"] == start and item["subset"] == "s4"
        for k in range(5):
            want = binary_mask(k + 1, j) if (split != "train" or k == 0) else np.zeros((H, W))
            np.testing.assert_array_equal(item["masks"][k].numpy(), want)
        assert item["valid"].tolist() == ([True] + [False] * 4 if split == "train" else [True] * 5)
        if split == "val":  # no pkl: computed from the stereo wav (channels averaged)
            wave, rate = sf.read(
                root / "s4_data" / "audio_wav" / split / cat / f"{name}.wav", dtype="float32"
            )
            torch.testing.assert_close(item["log_mel"], fit_examples(log_mel_examples(wave.mean(1), rate), 5))
        else:
            torch.testing.assert_close(item["log_mel"], pkl_log_mel(j).detach())
            assert not item["log_mel"].requires_grad


def test_ms3_items_and_wav_resampling(trees):
    root = trees["ms3"]
    for j, (vid, split) in enumerate(MS3_CLIPS):
        item = AVSBenchObject(root, "ms3", split, image_size=None)[0]
        assert item["uid"] == vid and item["valid"].tolist() == [True] * 5
        frame0 = np.asarray(Image.open(root / "ms3_data" / "visual_frames" / vid / f"{vid}.mp4_1.png"))
        raw = item["frames"][0] * torch.tensor(IMAGENET_STD).view(3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(
            3, 1, 1
        )
        np.testing.assert_allclose(raw.permute(1, 2, 0).numpy() * 255, frame0, atol=1e-3)
        np.testing.assert_array_equal(item["masks"][4].numpy(), binary_mask(5, j))
        torch.testing.assert_close(item["log_mel"], pkl_log_mel(10 + j).detach())
    wav_item = AVSBenchObject(root, "ms3", "train", image_size=None, audio="wav")[0]  # 44.1 kHz stereo
    wave, rate = sf.read(
        root / "ms3_data" / "audio_wav" / "train" / f"{MS3_CLIPS[0][0]}.wav", dtype="float32"
    )
    torch.testing.assert_close(wav_item["log_mel"], fit_examples(log_mel_examples(wave.mean(1), rate), 5))


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_malicious_pickle_never_runs(trees, tmp_path):
    import shutil

    root = shutil.copytree(trees["s4"], tmp_path / "s4")
    name, _, cat, split = S4_CLIPS[0]
    pkl = root / "s4_data" / "audio_log_mel" / split / cat / f"{name}.pkl"
    target = tmp_path / "pwned.txt"
    pkl.write_bytes(pickle.dumps(_Evil(str(target))))
    with pytest.raises(DatasetError, match="open is not allowed"):
        read_pickled_log_mel(pkl)
    with pytest.raises(DatasetError, match=f"{name}.pkl"):
        AVSBenchObject(root, "s4", split, image_size=None, audio="pkl")[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        item = AVSBenchObject(root, "s4", split, image_size=None)[0]  # falls back to the wav
    assert any("using the wav instead" in str(w.message) for w in caught)
    assert item["log_mel"].shape == (5, 1, 96, 64) and not target.exists()


def test_preload_serves_copies(trees):
    plain = AVSBenchSemantic(trees["avss"], split="train", image_size=None)
    cached = AVSBenchSemantic(trees["avss"], split="train", image_size=None, preload=True)
    for a, b in zip(plain, cached):
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]) if torch.is_tensor(a[key]) else a[key] == b[key]
    cached[0]["labels"].fill_(5)
    assert torch.equal(cached[0]["labels"], plain[0]["labels"])


def test_getitem_errors_name_the_file(trees, tmp_path):
    import shutil

    root = shutil.copytree(trees["avss"], tmp_path / "avss")
    clip = root / "v2" / AVSS_CLIPS[3][1]
    (clip / "frames" / "7.jpg").unlink()
    (clip / "audio.wav").write_bytes(b"RIFF\x00\x00garbage")
    ds = AVSBenchSemantic(root, split="test", image_size=None)
    with pytest.raises(DatasetError, match="frames/7.jpg: missing file"):
        ds[0]
    (clip / "frames" / "7.jpg").symlink_to(trees["avss"] / "v2" / AVSS_CLIPS[3][1] / "frames" / "7.jpg")
    with pytest.raises(DatasetError, match="7.jpg: resolves to .* outside the dataset root"):
        ds[0]
    shutil.copy(trees["avss"] / "v2" / AVSS_CLIPS[3][1] / "frames" / "7.jpg", tmp_path / "x.jpg")
    (clip / "frames" / "7.jpg").unlink()
    shutil.copy(tmp_path / "x.jpg", clip / "frames" / "7.jpg")
    with pytest.raises(DatasetError, match="audio.wav: unreadable wav"):
        ds[0]


def test_labels_at_another_resolution_are_rescaled(trees, tmp_path):
    import shutil

    from stepstones_lite.data import validate_dataset

    root = shutil.copytree(trees["avss"], tmp_path / "avss")
    clip = root / "v1m" / AVSS_CLIPS[2][1]
    big = label_map((28, 41), 2).repeat(2, 0).repeat(2, 1)  # same aspect, 2x resolution
    Image.fromarray(palette()[big]).save(clip / "labels_rgb" / "2.png")
    Image.fromarray(big.astype(np.uint8), mode="L").save(clip / "labels_semantic" / "2.png")
    rep = validate_dataset(root)
    assert any("1 label/instance/prior maps are stored at another resolution" in n for n in rep.notes)
    item = AVSBenchSemantic(root, split="train", subsets=("v1m",), image_size=None)[0]
    np.testing.assert_array_equal(item["labels"][2].numpy(), label_map((28, 41), 2))
    Image.fromarray(palette()[big[:, :40]]).save(clip / "labels_rgb" / "2.png")  # another aspect ratio
    with pytest.raises(DatasetError, match=r"labels_rgb/2.png: size \(48, 40\) does not match"):
        AVSBenchSemantic(root, split="train", subsets=("v1m",), image_size=None)[0]
