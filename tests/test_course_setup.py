"""stepstones_lite.course_setup: the notebooks' setup cell as one call (cheap; the Course is made lazily)."""

from pathlib import Path

import torch

import stepstones_lite as ssl_
from stepstones_lite.train import course as course_module


def test_overrides_and_device_reach_the_profile():
    s = ssl_.course_setup(
        "smoke", device="cpu", seed=0, verbose=False, train__stage1_steps=7, train__stage2_steps=None
    )
    assert s.profile.name == "smoke"
    assert s.profile.train.stage1_steps == 7
    assert s.profile.train.stage2_steps == ssl_.resolve_profile("smoke").train.stage2_steps  # None keeps it
    assert s.profile.train.device == "cpu"
    assert s.device == torch.device("cpu")


def test_auto_profile_reads_the_environment(monkeypatch):
    monkeypatch.setenv("STEPSTONES_PROFILE", "paper")
    assert ssl_.course_setup(device="cpu", verbose=False).profile.name == "paper"
    monkeypatch.setenv("STEPSTONES_PROFILE", "smoke")
    assert ssl_.course_setup("auto", device="cpu", verbose=False).profile.name == "smoke"


def test_seed_is_applied():
    ssl_.course_setup("smoke", device="cpu", seed=123, verbose=False)
    a = torch.rand(4)
    s = ssl_.course_setup("smoke", device="cpu", seed=123, verbose=False)
    assert s.seed == 123
    assert torch.equal(a, torch.rand(4))
    assert (
        ssl_.course_setup("smoke", device="cpu", verbose=False).seed
        == ssl_.resolve_profile("smoke").train.seed
    )


def test_artifacts_dir_sets_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("STEPSTONES_ARTIFACTS", str(tmp_path / "before"))
    s = ssl_.course_setup("smoke", device="cpu", artifacts_dir=tmp_path / "art", verbose=False)
    assert s.artifacts_dir == tmp_path / "art"
    assert Path(ssl_.artifacts_dir(create=False)) == tmp_path / "art"
    assert not (tmp_path / "art").exists()  # nothing is written on setup


def test_course_is_made_once_on_first_use(monkeypatch, tmp_path):
    made = []

    class FakeCourse:
        def __init__(self, profile, data_root=None):
            made.append((profile.name, data_root))

    monkeypatch.setattr(course_module, "Course", FakeCourse)
    s = ssl_.course_setup("smoke", device="cpu", data_root=tmp_path, verbose=False)
    assert made == []  # lazy: no data built, nothing trained on call
    first = s.course
    assert isinstance(first, FakeCourse) and s.course is first
    assert made == [("smoke", tmp_path)]


def test_verbose_prints_the_environment(capsys):
    s = ssl_.course_setup("smoke", device="cpu", verbose=True)
    out = capsys.readouterr().out
    assert "torch" in out and s.env["torch"] == torch.__version__
