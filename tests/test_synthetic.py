"""Synthetic AVSS generator: AVSBench-semantic layout, label consistency, audio, determinism, resume, CLI."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import re
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stepstones_lite.data import AVSS_CLASSES, class_index, palette
from stepstones_lite.data.errors import DatasetError
from stepstones_lite.data.synthetic import SynthConfig, clip_schedule, generate_dataset

CFG = SynthConfig(num_clips=10, size=64, seed=3, off_screen_prob=0.5, partial_sounding_prob=0.6)


@pytest.fixture(scope="session", autouse=True)
def _speech_cache(tmp_path_factory):
    """Keep the speech bank cache inside the test session."""
    old = os.environ.get("STEPSTONES_CACHE")
    os.environ["STEPSTONES_CACHE"] = str(tmp_path_factory.mktemp("synth_cache"))
    yield
    if old is None:
        os.environ.pop("STEPSTONES_CACHE", None)
    else:
        os.environ["STEPSTONES_CACHE"] = old


@pytest.fixture(scope="module")
def ds(tmp_path_factory) -> Path:
    return generate_dataset(tmp_path_factory.mktemp("synth") / "ds", CFG, workers=1, progress=False)


def _rows(root: Path) -> list[dict]:
    with open(root / "metadata.csv", newline="") as f:
        return list(csv.DictReader(f))


def _clips(root: Path):
    for row in _rows(root):
        d = root / row["label"] / row["uid"]
        yield row, d, json.loads((d / "objects.json").read_text())


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_layout_and_metadata(ds):
    assert sorted(p.name for p in ds.iterdir()) == [
        "LICENSES.md",
        "dataset.json",
        "label2idx.json",
        "metadata.csv",
        "v1m",
    ]
    text = (ds / "metadata.csv").read_text()
    assert text.splitlines()[0] == "vid,uid,s_min,s_sec,a_obj,split,label"
    assert not text.endswith("\n")  # like the release
    rows = _rows(ds)
    assert len(rows) == CFG.num_clips
    assert sorted(p.name for p in (ds / "v1m").iterdir()) == sorted(r["uid"] for r in rows)
    for row, d, obj in _clips(ds):
        assert re.fullmatch(r"synth\d{6}_0_5000", row["uid"]) and row["vid"] == row["uid"].rsplit("_", 2)[0]
        assert (row["s_min"], row["s_sec"], row["label"]) == ("0", "0", "v1m")
        assert row["split"] in ("train", "val", "test") and row["split"] == obj["split"]
        sounding = [o["class"] for o in obj["objects"] if any(o["sounding"])]
        assert row["a_obj"] == ("_".join(sounding) if sounding else "none")
        names = {str(p.relative_to(d)) for p in d.rglob("*") if p.is_file()}
        expected = {"audio.wav", "objects.json"} | {
            f"{sub}/{k}.{ext}"
            for k in range(5)
            for sub, ext in (
                ("frames", "jpg"),
                ("labels_rgb", "png"),
                ("labels_semantic", "png"),
                ("instances", "png"),
            )
        }
        assert names == expected
        assert obj["uid"] == row["uid"] and obj["size"] == 64 and obj["num_frames"] == 5
    assert [s for s, _ in clip_schedule(CFG)] == [r["split"] for r in rows]
    licences = (ds / "LICENSES.md").read_text()
    assert "Twemoji" in licences and "CC0" in licences
    info = json.loads((ds / "dataset.json").read_text())
    assert info["config"]["seed"] == 3 and "version" in info


def test_label2idx_is_the_full_avsbench_mapping(ds):
    text = (ds / "label2idx.json").read_text()
    mapping = json.loads(text)
    assert list(mapping) == list(AVSS_CLASSES) and len(mapping) == 71
    assert list(mapping.values()) == list(range(1, 72))
    assert mapping["background"] == 1 and mapping["woman"] == 71 and '\n    "accordion": 2' in text


def test_frames_and_label_pngs(ds):
    pal = palette()
    for _, d, obj in _clips(ds):
        for k in range(5):
            fr = Image.open(d / "frames" / f"{k}.jpg")
            assert fr.format == "JPEG" and fr.mode == "RGB" and fr.size == (64, 64)
            rgb_im = Image.open(d / "labels_rgb" / f"{k}.png")
            sem_im = Image.open(d / "labels_semantic" / f"{k}.png")
            assert rgb_im.mode == "RGB" and sem_im.mode == "L" and rgb_im.size == sem_im.size == (64, 64)
            rgb, sem = np.asarray(rgb_im), np.asarray(sem_im)
            # every colour is a palette colour, and decoding it gives labels_semantic
            match = (rgb[:, :, None, :] == pal[None, None]).all(-1)  # [H, W, 71]
            assert match.any(-1).all()
            assert np.array_equal(match.argmax(-1), sem)


def test_labels_are_the_sounding_visible_objects(ds):
    n_sounding = n_silent = n_off = 0
    for _, d, obj in _clips(ds):
        by_id = {o["id"]: o for o in obj["objects"]}
        for o in obj["objects"]:
            assert len(o["sounding"]) == 5
            if o["distractor"] or o["silent_only"]:
                assert not any(o["sounding"]) and o["sound_source"] is None
            else:
                assert any(o["sounding"]) and o["sound_source"]
                assert o["class_index"] == class_index(o["class"])
                on = [k for k, s in enumerate(o["sounding"]) if s]
                assert on == list(range(on[0], on[-1] + 1))  # one contiguous interval
        n_off += len(obj["off_screen"])
        for off in obj["off_screen"]:
            assert off["class"] not in {o["class"] for o in obj["objects"]}
        for k in range(5):
            inst = np.asarray(Image.open(d / "instances" / f"{k}.png"))
            sem = np.asarray(Image.open(d / "labels_semantic" / f"{k}.png"))
            assert set(np.unique(inst)) <= {0, *by_id}
            loud = [i for i, o in by_id.items() if o["sounding"][k]]
            # union of the sounding instances at frame k == labels_semantic > 0
            assert np.array_equal(np.isin(inst, loud), sem > 0)
            for i, o in by_id.items():
                vis = inst == i
                if o["sounding"][k]:
                    n_sounding += 1
                    assert (sem[vis] == o["class_index"]).all() and vis.any()
                else:
                    n_silent += int(vis.any())
                    assert (sem[vis] == 0).all()
    assert n_sounding and n_silent and n_off  # the fixture exercises all three cases


def test_audio_is_16k_mono_pcm16_and_silent_seconds_are_quiet(ds):
    for _, d, obj in _clips(ds):
        with wave.open(str(d / "audio.wav")) as w:
            fmt = (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes())
            assert fmt == (1, 2, 16000, 80000)
            x = np.frombuffer(w.readframes(80000), "<i2").astype(np.float32) / 32768
        active = set()
        for o in obj["objects"]:
            active |= {k for k, s in enumerate(o["sounding"]) if s}
        for off in obj["off_screen"]:
            active |= set(off["seconds"])
        rms = np.sqrt((x.reshape(5, 16000) ** 2).mean(1))
        for k in range(5):
            if k not in active:
                assert rms[k] < 0.03, (d, k, rms)  # noise only (sigma <= 0.02)
        if active:
            assert max(rms[k] for k in active) > 0.03


def test_same_seed_same_bytes_any_workers_other_seed_differs(ds, tmp_path):
    again = generate_dataset(tmp_path / "w2", CFG, workers=2, progress=False)
    assert _tree(again) == _tree(ds)
    other = generate_dataset(tmp_path / "s4", dataclasses.replace(CFG, seed=4), workers=1, progress=False)
    a, b = _tree(other), _tree(ds)
    assert a.keys() == b.keys() and sum(a[k] != b[k] for k in a) > 0.9 * len(a) - 5


def test_resume_rebuilds_only_missing_clips(tmp_path):
    cfg = dataclasses.replace(CFG, num_clips=6)
    root = generate_dataset(tmp_path / "r", cfg, workers=1, progress=False)
    before = _tree(root)
    clips = sorted((root / "v1m").iterdir())
    victim = clips[2]
    shutil.rmtree(victim)
    (root / "metadata.csv").unlink()
    mtimes = {p: p.stat().st_mtime_ns for c in clips if c != victim for p in c.rglob("*")}
    (root / "v1m" / f".tmp-{victim.name}-999").mkdir()  # a stale temp dir of an interrupted run
    generate_dataset(root, cfg, workers=1, progress=False)
    assert _tree(root) == before
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    with pytest.raises(DatasetError, match="another config"):
        generate_dataset(root, dataclasses.replace(cfg, seed=9), workers=1, progress=False)


def test_schedule_class_distribution_and_splits():
    cls = ("dog", "cat", "piano", "man")
    cfg = SynthConfig(classes=cls, clips_per_class=12, split_fractions=(0.5, 0.25, 0.25))
    sched = clip_schedule(cfg)
    assert [sum(p == c for _, p in sched) for c in cls] == [12, 12, 12, 12]
    assert [sum(s == x for s, _ in sched) for x in ("train", "val", "test")] == [24, 12, 12]
    zipf = clip_schedule(dataclasses.replace(cfg, class_distribution="zipf", zipf_exponent=1.0))
    assert [sum(p == c for _, p in zipf) for c in cls] == [12, 6, 4, 3]  # 12 / r
    fixed = clip_schedule(
        SynthConfig(classes=cls, num_clips=25, class_distribution="zipf", zipf_exponent=2.0)
    )
    counts = [sum(p == c for _, p in fixed) for c in cls]  # 25 * [1, 1/4, 1/9, 1/16] / 1.4236
    assert counts == [18, 4, 2, 1] and len(fixed) == 25
    with pytest.raises(ValueError, match="not AVSBench"):
        SynthConfig(classes=("dog", "cow")).validate()


def test_frame_count_follows_the_avsbench_subset():
    """v1s/v1m clips have 5 frames, v2 clips 10 (the reader reads each subset at its count): a 10-frame v1m
    set would be written but then read wrongly, so it is refused up front."""
    SynthConfig(num_frames=10, label="v2").validate()
    SynthConfig().validate()
    with pytest.raises(ValueError, match="'v1m' has 5 frames per clip, got num_frames=10"):
        SynthConfig(num_frames=10).validate()
    with pytest.raises(ValueError, match="'v2' has 10 frames"):
        SynthConfig(label="v2").validate()


def test_knobs_objects_sounding_and_holdouts(tmp_path):
    cfg = SynthConfig(
        num_clips=8,
        size=48,
        seed=1,
        num_objects_probs=(0, 0, 1),
        num_sounding_probs=(0, 1),
        off_screen_prob=0.0,
        partial_sounding_prob=0.0,
        silent_only_prob=0.0,
        same_family_prob=1.0,
        classes=("dog", "cat", "pig", "sheep", "piano", "guitar", "violin", "trumpet"),
        split_fractions=(0.5, 0.0, 0.5),
        holdout="style",
    )
    root = generate_dataset(tmp_path / "k", cfg, workers=1, progress=False)
    from stepstones_lite.data.synthetic.materials import FAMILY

    for row, _, obj in _clips(root):
        objs = obj["objects"]
        assert len(objs) == 3 and sum(any(o["sounding"]) for o in objs) == 1 and not obj["off_screen"]
        assert all(all(o["sounding"]) for o in objs if not o["distractor"])  # no partial-time sounding
        assert not any(o["silent_only"] for o in objs)
        loud = next(o for o in objs if not o["distractor"])
        assert all(FAMILY[o["class"]] == FAMILY[loud["class"]] for o in objs)  # same-family distractors
        styles = {o["style"] for o in objs}
        assert styles == {"openmoji"} if row["split"] == "test" else "openmoji" not in styles
    src = generate_dataset(
        tmp_path / "s",
        dataclasses.replace(cfg, holdout="source", classes=("dog", "man")),
        workers=1,
        progress=False,
    )
    from stepstones_lite.data.synthetic import inventory

    seen = {"train": set(), "test": set()}
    for row, _, obj in _clips(src):
        seen[row["split"]] |= {(o["class"], o["sound_source"]) for o in obj["objects"] if o["sound_source"]}
    assert seen["train"] and seen["test"] and not seen["train"] & seen["test"]
    for split, pairs in seen.items():
        for cls, source in pairs:
            all_sources = inventory().sources(cls)
            base, _, seg = source.partition("#")
            if len(all_sources) == 1:  # one recording: split in time
                assert seg == ("tail" if split == "test" else "head")
            else:  # the second half of the sources is held out for test (man: voices m5-m7)
                held = all_sources.index(base) >= (len(all_sources) + 1) // 2
                assert not seg and held == (split == "test")


def test_cli_make_data(tmp_path, capsys, project_script):
    from stepstones_lite.cli import main

    out = tmp_path / "cli"
    assert (
        main(
            [
                "make-data",
                "--profile",
                "smoke",
                "--num-clips",
                "3",
                "--size",
                "48",
                "--seed",
                "5",
                "--workers",
                "1",
                "--out",
                str(out),
                "--no-progress",
                "--objects-per-clip",
                "2-2",
                "--classes",
                "dog,piano",
            ]
        )
        == 0
    )
    assert str(out) in capsys.readouterr().out
    rows = _rows(out)
    assert len(rows) == 3
    for _, _, obj in _clips(out):
        assert len(obj["objects"]) == 2
    info = json.loads((out / "dataset.json").read_text())["config"]
    assert info["size"] == 48 and info["seed"] == 5 and info["classes"] == ["dog", "piano"]
    assert info["off_screen_prob"] == 0.2  # from the smoke profile's DataConfig
    mod = project_script("data_scripts/make_synthetic_avss.py")
    assert (
        mod.main(
            [
                "--profile",
                "smoke",
                "--num-clips",
                "3",
                "--size",
                "48",
                "--seed",
                "5",
                "--workers",
                "1",
                "--out",
                str(tmp_path / "script"),
                "--no-progress",
                "--objects-per-clip",
                "2-2",
                "--classes",
                "dog,piano",
            ]
        )
        == 0
    )
    assert _tree(tmp_path / "script") == _tree(out)


def test_optional_apt_layer_styles(tmp_path):
    """Runs only where the apt layer is found (/usr/share or $STEPSTONES_APT_ROOT, e.g. a `dpkg -x`
    folder)."""
    from stepstones_lite.data.synthetic import inventory

    extra = tuple(s for s in ("noto", "tux") if s in inventory().styles())
    if not extra:
        pytest.skip("no apt layer (Noto Color Emoji / Tux Paint stamps) on this machine")
    cfg = SynthConfig(num_clips=6, size=48, seed=2, styles=extra, classes=("dog", "cat", "bird", "violin"))
    root = generate_dataset(tmp_path / "apt", cfg, workers=1, progress=False)
    styles = {o["style"] for _, _, obj in _clips(root) for o in obj["objects"]}
    assert styles and styles <= set(extra) | {"twemoji", "openmoji"} and styles & set(extra)
    licences = (root / "LICENSES.md").read_text()
    assert ("Noto" in licences) == ("noto" in styles) and ("Tux Paint" in licences) == ("tux" in styles)


def test_make_data_takes_profile_overrides_and_flags_on_top():
    """``stepstones make-data --set data__synth__...`` writes the folder a Course of that profile reads."""
    from stepstones_lite.cli import build_parser
    from stepstones_lite.config import resolve_profile
    from stepstones_lite.data.synthetic import default_root
    from stepstones_lite.data.synthetic.cli import config_from_args

    args = build_parser().parse_args(
        [
            "make-data",
            "--profile",
            "smoke",
            "--set",
            "data__synth__label=v2",
            "--set",
            "data__num_frames=10",
            "--same-family-prob",
            "0.5",
        ]
    )
    cfg, out = config_from_args(args)
    assert (cfg.label, cfg.num_frames, cfg.same_family_prob) == ("v2", 10, 0.5)
    prof = resolve_profile(
        "smoke", data__synth__label="v2", data__num_frames=10, data__synth__same_family_prob=0.5
    )
    assert out == default_root("smoke", SynthConfig.from_data_config(prof.data))
