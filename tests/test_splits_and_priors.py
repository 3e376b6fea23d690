"""The pipeline names what is wrong with its inputs: a split a step needs but metadata.csv lacks, and a
prior folder whose manifest.json is corrupt, unfinished or made for other splits (evaluation prints its
source)."""

from __future__ import annotations

import json

import pytest
import torch
from data_fixtures import make_avss_tree

from stepstones_lite.config import resolve_profile
from stepstones_lite.data import DatasetError
from stepstones_lite.train import pipeline
from stepstones_lite.train.priors import check_priors, priors_for_evaluation, write_reference_priors

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return make_avss_tree(tmp_path_factory.mktemp("splits") / "avss")


@pytest.fixture(scope="module")
def profile():
    return resolve_profile("smoke", train__device="cpu")


def keep_rows(tree, tmp_path, keep):
    """A copy of ``tree`` whose metadata.csv keeps the header and the rows ``keep(row)`` accepts."""
    import shutil

    root = shutil.copytree(tree, tmp_path / "avss")
    header, *rows = (root / "metadata.csv").read_text().split("\n")
    (root / "metadata.csv").write_text("\n".join([header] + [r for r in rows if keep(r)]))
    return root


@pytest.mark.parametrize(
    "split, need", [("train", "training"), ("val", "validation"), ("test", "evaluation")]
)
def test_header_only_metadata_names_the_split_a_step_needs(tree, tmp_path, profile, split, need):
    root = keep_rows(tree, tmp_path, lambda row: False)
    with pytest.raises(DatasetError, match=rf"metadata.csv: no rows of split '{split}'; {need} needs them"):
        pipeline.avss_dataset(profile, root, split)


def test_no_val_rows_stops_training_before_it_starts(tree, tmp_path, profile):
    root = keep_rows(tree, tmp_path, lambda row: ",val," not in row)
    assert len(pipeline.avss_dataset(profile, root, "train")) == 2  # the other splits still open
    with pytest.raises(DatasetError, match=r"metadata.csv: no rows of split 'val'; validation needs them"):
        pipeline.avss_dataset(profile, root, "val")


def test_evaluating_a_split_without_rows_names_it(tree, tmp_path, profile, monkeypatch):
    """evaluate_checkpoint once ended in 'BinaryMeter.compute: no clips were added'."""
    root = keep_rows(tree, tmp_path, lambda row: ",val," not in row)
    fake = (torch.nn.Linear(1, 1), profile, {"kind": pipeline.STAGE1})
    monkeypatch.setattr(pipeline, "load_model", lambda *a, **k: fake)
    with pytest.raises(DatasetError, match=r"metadata.csv: no rows of split 'val'; evaluation needs them"):
        pipeline.evaluate_checkpoint("model.pt", "val", data_root=root)


def write_manifest(folder, text):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(text if isinstance(text, str) else json.dumps(text))
    return folder


STAGE1_MANIFEST = {
    "source": "stage1",
    "checkpoint_sha256": "ab" * 32,
    "mute_audio": False,
    "checkpoint": "runs/s1/best.pt",
    "splits": ["val", "test"],
    "complete": True,
}


@pytest.mark.parametrize("text", ["{broken", "null"])
def test_a_corrupt_prior_manifest_is_named(tmp_path, profile, text):
    folder = write_manifest(tmp_path / "priors", text)
    with pytest.raises(DatasetError, match=r"priors/manifest.json: corrupt prior manifest"):
        check_priors(folder)
    # resuming into the folder
    with pytest.raises(DatasetError, match=r"priors/manifest.json: corrupt prior manifest"):
        write_reference_priors(profile, folder, data_root=tmp_path / "never-read")
    with pytest.raises(DatasetError, match=r"priors/manifest.json: corrupt prior manifest"):
        priors_for_evaluation(folder, "test")


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"splits": ["val"]}, r"priors cover the splits \['val'\], not 'test'"),
        ({"complete": False}, "prior generation did not finish"),
    ],
)
def test_evaluation_checks_the_prior_manifest(tree, tmp_path, profile, monkeypatch, change, problem):
    """evaluate --priors once ignored manifest.json: priors of another split or unfinished ones passed."""
    folder = write_manifest(tmp_path / "priors", {**STAGE1_MANIFEST, **change})
    with pytest.raises(DatasetError, match=rf"priors/manifest.json: {problem}"):
        priors_for_evaluation(folder, "test")
    fake = (torch.nn.Linear(1, 1), profile, {"kind": pipeline.STAGE2})
    monkeypatch.setattr(pipeline, "load_model", lambda *a, **k: fake)
    with pytest.raises(DatasetError, match=rf"priors/manifest.json: {problem}"):
        pipeline.evaluate_checkpoint("model.pt", "test", data_root=tree, prior=folder)


def test_evaluation_prints_the_stage1_source_of_its_priors(tmp_path, capsys):
    folder = write_manifest(tmp_path / "priors", STAGE1_MANIFEST)
    assert priors_for_evaluation(folder, "test")["checkpoint"] == "runs/s1/best.pt"
    out = capsys.readouterr().out
    assert "stage-1 checkpoint runs/s1/best.pt (sha256 abababababab)" in out and str(folder) in out
    assert priors_for_evaluation(tmp_path, "test") is None  # no manifest (e.g. released masks): used as is
    assert "no manifest.json, source unknown" in capsys.readouterr().out


def test_priors_of_another_stage1_model_are_refused(tmp_path):
    """evaluate --priors P --stage1 CKPT: the manifest's checkpoint sha256 must be CKPT's."""
    import hashlib

    ours, other = tmp_path / "ours.pt", tmp_path / "other.pt"
    ours.write_bytes(b"stage 1 weights")
    other.write_bytes(b"another stage 1")
    folder = write_manifest(
        tmp_path / "priors",
        {**STAGE1_MANIFEST, "checkpoint_sha256": hashlib.sha256(b"stage 1 weights").hexdigest()},
    )
    assert priors_for_evaluation(folder, "test", stage1=ours)["source"] == "stage1"
    with pytest.raises(
        DatasetError, match=r"priors/manifest.json: these priors come from .*not from the stage-1"
    ):
        priors_for_evaluation(folder, "test", stage1=other)
    with pytest.raises(DatasetError, match="no manifest.json"):
        priors_for_evaluation(tmp_path, "test", stage1=ours)
