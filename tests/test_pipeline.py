"""End-to-end plumbing of the Stepping Stones pipeline in the smoke profile (tiny data, a few steps).

Checks that every stage runs and hands the next one what it needs; no learning is expected here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from stepstones_lite.config import resolve_profile
from stepstones_lite.data import DatasetError, benchmark_classes, class_index
from stepstones_lite.study import CORE_ARMS, run_study
from stepstones_lite.train import CheckpointError, load_checkpoint, pipeline
from stepstones_lite.train.priors import check_priors, degrade_mask, make_priors, write_reference_priors


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("pipeline")
    mp = pytest.MonkeyPatch()
    mp.setenv("STEPSTONES_ARTIFACTS", str(base / "artifacts"))
    mp.delenv("STEPSTONES_DATA", raising=False)
    profile = resolve_profile(
        "smoke",
        train__stage1_steps=4,
        train__stage2_steps=4,
        train__eval_every=4,
        train__pretrain_steps=4,
        data__num_clips=24,
        train__device="cpu",
    )
    root = pipeline.ensure_dataset(profile)
    yield {"base": base, "profile": profile, "root": root}
    mp.undo()


@pytest.fixture(scope="module")
def stage1(env):
    return pipeline.train_stage1(env["profile"], env["base"] / "s1", data_root=env["root"], progress=False)


def test_dataset_and_stand_ins_are_cached(env):
    assert (env["root"] / "metadata.csv").is_file()
    assert pipeline.ensure_dataset(env["profile"]) == env["root"]  # second call reuses the artifact
    prepared = pipeline.prepare_profile(env["profile"], env["root"])
    assert prepared.model.backbone_weights.endswith("visual.pt")
    report = json.loads(
        (env["root"].parent.parent / "encoders").glob("*/standins.json").__next__().read_text()
    )
    assert report["label_space"] == "coarse" and "visual_heldout_miou" in report
    # the course's regime (paper-like): coarse vision (ADE20k), audio that names the benchmark's sounds
    # (AudioSet)
    assert report["audio_label_space"] == "fine" and report["audio_labels"] != report["labels"]


def test_audio_stand_in_gets_its_own_label_space(env, tmp_path):
    """Coarse visual + fine audio: the audio head has one output per sounding class seen, the visual one per
    group."""
    from stepstones_lite.train.pretrain import GROUPS, load_heads, pretrain_encoders

    profile = env["profile"]
    coarse = pretrain_encoders(
        profile.replace(train__pretrain_audio_label_space="coarse"),
        tmp_path / "coarse",
        data_root=env["root"],
        visual_steps=1,
        audio_steps=1,
    )
    assert (
        coarse["audio_label_space"] == "coarse" and coarse["audio_labels"] == coarse["labels"]
    )  # the named knob
    report = pretrain_encoders(profile, tmp_path, data_root=env["root"], visual_steps=1, audio_steps=1)
    assert report["label_space"] == "coarse" and report["audio_label_space"] == "fine"
    assert report["labels"] == list(GROUPS)
    assert set(report["audio_labels"]).isdisjoint(GROUPS) and len(report["audio_labels"]) > len(GROUPS)
    vis_head, aud_head = load_heads(tmp_path)
    assert aud_head["weight"].shape[0] == len(report["audio_labels"])
    assert vis_head["out.2.weight"].shape[0] == len(GROUPS) + 1
    with pytest.raises(ValueError, match="audio_label_space"):
        pretrain_encoders(profile, tmp_path, data_root=env["root"], audio_label_space="medium")


def test_stage1_trains_and_reports_diagnostics(stage1):
    assert stage1.steps_run == 4 and stage1.best_checkpoint.is_file()
    metrics = stage1.best["metrics"]
    assert 0.0 <= metrics["miou"] <= 1.0 and 0.0 <= metrics["fscore"] <= 1.0
    assert "diag_silent_empty_rate" in metrics and "diag_miou_sounding" in metrics
    assert load_checkpoint(stage1.best_checkpoint)["kind"] == pipeline.STAGE1


def test_priors_stage2_and_evaluation(env, stage1):
    priors = env["base"] / "priors"
    manifest = make_priors(stage1.best_checkpoint, priors, data_root=env["root"], progress=False)
    info = check_priors(priors, stage1.best_checkpoint)
    assert info["complete"] and info["clips"]["test"] > 0
    pngs = sorted(priors.glob("v1m/*/*.png"))
    assert pngs and set(np.unique(np.asarray(Image.open(pngs[0]))).tolist()) <= {0, 255}
    # a second run resumes (nothing to do) and a different checkpoint is refused
    assert make_priors(stage1.best_checkpoint, priors, data_root=env["root"], progress=False) == manifest
    other = env["base"] / "other.pt"
    other.write_bytes(stage1.best_checkpoint.read_bytes() + b"x")
    with pytest.raises(CheckpointError, match="made differently"):
        make_priors(other, priors, data_root=env["root"], progress=False)
    with pytest.raises(DatasetError, match="stale"):
        check_priors(priors, other)

    s2 = pipeline.train_stage2(
        env["profile"], env["base"] / "s2", prior_root=priors, data_root=env["root"], progress=False
    )
    assert s2.best_checkpoint.is_file() and "binary_miou" in s2.best["metrics"]
    with_priors = pipeline.evaluate_checkpoint(s2.best_checkpoint, data_root=env["root"], prior=priors)
    oracle = pipeline.evaluate_checkpoint(s2.best_checkpoint, data_root=env["root"], prior="gt")
    assert {"miou", "fscore", "miou_present", "binary_miou"} <= set(with_priors) and "miou" in oracle
    # the benchmark's label space: background + the generator's classes; classes outside it never occur in the
    # GT, so their IoU is 0 and the 71-class sum equals the benchmark-class sum
    classes = benchmark_classes(env["root"])
    info = json.loads((env["root"] / "dataset.json").read_text())
    assert classes == (0, *sorted(class_index(c) for c in info["config"]["classes"]))
    for res in (with_priors, oracle):
        assert res["classes_benchmark"] == len(classes) < 71
        assert res["miou_benchmark"] * len(classes) == pytest.approx(res["miou"] * 71, abs=1e-6)
        assert res["fscore_benchmark"] * len(classes) == pytest.approx(res["fscore"] * 71, abs=1e-6)
    with pytest.raises(ValueError, match="needs prior"):
        pipeline.evaluate_checkpoint(s2.best_checkpoint, data_root=env["root"])

    degraded = write_reference_priors(
        env["profile"],
        env["base"] / "eroded",
        data_root=env["root"],
        degrade="erode",
        level=1,
        progress=False,
    )
    assert 0.0 <= json.loads(degraded.read_text())["prior_miou"] <= 1.0


def test_end_to_end_and_tpavi(env):
    e2e = pipeline.train_end_to_end(
        env["profile"], env["base"] / "e2e", data_root=env["root"], progress=False
    )
    assert load_checkpoint(e2e.best_checkpoint)["kind"] == pipeline.END_TO_END
    tp = pipeline.train_tpavi(env["profile"], env["base"] / "tpavi", data_root=env["root"], progress=False)
    metrics = pipeline.evaluate_checkpoint(tp.best_checkpoint, data_root=env["root"])
    assert 0.0 <= metrics["miou"] <= 1.0


def test_degrade_mask_rules():
    mask = torch.zeros(2, 9, 9, dtype=torch.bool)
    mask[:, 3:6, 3:6] = True
    assert degrade_mask(mask, "erode", 1).sum() == 2  # 3x3 square -> its centre
    assert degrade_mask(mask, "dilate", 1).sum() == 2 * 25
    assert torch.equal(degrade_mask(mask, "drop", 0.0), mask)
    assert degrade_mask(mask, "drop", 1.0).sum() == 0
    big = torch.zeros(4, 64, 64, dtype=torch.bool)
    big[:, 16:48, 16:48] = True
    noisy = degrade_mask(big, "noise", 0.2, torch.Generator().manual_seed(0))
    assert 0.05 < (noisy ^ big).float().mean() < 0.4  # about `level` of the pixels flipped
    with pytest.raises(ValueError, match="unknown degradation"):
        degrade_mask(mask, "blur", 1)


def test_reproduce_core_arms_plumbing(env, tmp_path):
    out = tmp_path / "reproduce_smoke.json"
    results = run_study(env["profile"], [0], out=out, arms=CORE_ARMS, data_root=env["root"], progress=False)
    saved = json.loads(out.read_text())
    assert set(saved["arms"]) == set(CORE_ARMS)
    for key in ("command", "git_commit", "profile", "device", "torch_version", "date", "wall_seconds"):
        assert key in saved["provenance"]
    spent = saved["provenance"]["compute_seconds"]  # build times of the runs the numbers come from
    assert sum(saved["provenance"]["build_threads"].values()) >= 4  # stage 1, priors, stage 2, end-to-end
    assert {"course/stage1", "course/stage2", "course/end_to_end", "encoders"} <= set(spent)
    assert spent["total"] == pytest.approx(sum(v for k, v in spent.items() if k != "total"), abs=0.2)
    two = saved["arms"]["two_stage"]
    assert two["seeds"] == [0] and {"avss_miou", "avss_fscore", "stage1_miou", "stage1_fscore"} <= set(
        two["per_seed"][0]
    )
    assert set(two["mean"]) == set(two["std"]) and "seed" not in two["mean"]
    rec = two["per_seed"][0]  # avss_miou: the benchmark's label space; avss_miou_71: all 71 AVSBench classes
    assert rec["avss_miou"] * rec["classes_benchmark"] == pytest.approx(rec["avss_miou_71"] * 71, abs=1e-6)
    assert saved["arms"]["end_to_end_equal_compute"]["steps"]["end_to_end"] == 8
    assert out.with_suffix(".md").read_text().startswith("| arm |")
    assert (tmp_path / "reproduce_smoke_core.png").stat().st_size > 10_000
    assert results["arms"]["oracle_prior"]["per_seed"][0]["prior_miou"] == 1.0
    # the mechanism in every AVSS record: split loss, pooled-foreground binary mIoU and the seed's Δloc
    e2e = saved["arms"]["end_to_end"]["per_seed"][0]
    for arm in ("two_stage", "oracle_prior", "end_to_end"):
        r = saved["arms"][arm]["per_seed"][0]
        assert {"split_loss", "pooled_binary_miou", "delta_loc"} <= set(r), arm
        assert 0.0 <= r["split_loss"] <= 1.0 and r["delta_loc"] == pytest.approx(
            rec["stage1_miou"] - e2e["binary_miou"]
        )
    # a second call with other arms merges into the same file (cached runs: only evaluation work) ...
    merged = run_study(
        env["profile"],
        [0],
        out=out,
        arms=["stage1_muted_test"],
        data_root=env["root"],
        progress=False,
        merge=True,
    )
    assert set(merged["arms"]) == set(CORE_ARMS) | {"stage1_muted_test"}
    assert merged["arms"]["two_stage"] == saved["arms"]["two_stage"]
    assert merged["provenance"]["merged"][0]["date"] == saved["provenance"]["date"]
    assert merged["provenance"]["compute_seconds"]["course/stage1"] > 0  # the reused stage 1 is accounted
    # ... but never with results of another configuration
    with pytest.raises(ValueError, match="another configuration"):
        run_study(
            env["profile"].replace(train__lr=0.5),
            [0],
            out=out,
            arms=["stage1_muted_test"],
            data_root=env["root"],
            progress=False,
            merge=True,
        )


def test_cli_train_avs_and_evaluate(env, tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "stepstones_lite.cli",
        "train-avs",
        "--profile",
        "smoke",
        "--data",
        str(env["root"]),
        "--out",
        str(tmp_path / "run"),
        "--steps",
        "2",
        "--set",
        "train__eval_every=2",
        "--set",
        "train__pretrain_steps=4",
        "--set",
        "data__num_clips=24",
        "--device",
        "cpu",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout[proc.stdout.index("{") :])["steps_run"] == 2
    before = (tmp_path / "run" / "last.pt").read_bytes()
    # the reported probe: --resume with another seed and lr is refused in one line, the run left as it was
    proc = subprocess.run(
        cmd + ["--resume", "--seed", "7", "--set", "train__lr=0.5"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith(f"stepstones: error: {tmp_path / 'run' / 'last.pt'}: written with another config")
    assert "train.lr: checkpoint 0.001, now 0.5" in line and "train.seed: checkpoint 0, now 7" in line
    assert (tmp_path / "run" / "last.pt").read_bytes() == before
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "stepstones_lite.cli",
            "evaluate",
            str(tmp_path / "run" / "best.pt"),
            "--data",
            str(env["root"]),
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "miou" in json.loads(proc.stdout[proc.stdout.index("{") :])


def test_torchrun_two_processes_train_avss(env, tmp_path):
    """The documented multi-process command works on CPU (gloo): rank 0 alone writes the run."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "stepstones_lite.cli",
        "train-avss",
        "--end-to-end",
        "--profile",
        "smoke",
        "--data",
        str(env["root"]),
        "--out",
        str(tmp_path / "ddp"),
        "--steps",
        "2",
        "--device",
        "cpu",
        "--set",
        "train__eval_every=2",
        "--set",
        "train__pretrain_steps=4",
        "--set",
        "data__num_clips=24",
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert load_checkpoint(tmp_path / "ddp" / "last.pt")["step"] == 2
    assert len((tmp_path / "ddp" / "history.jsonl").read_text().splitlines()) == 1


def test_stage1_evaluation_without_instance_sidecars(env, stage1, tmp_path):
    """Real AVSBench roots have no objects.json: scoring a stage-1 model there must not try to read them."""
    import shutil

    plain = tmp_path / "plain"
    shutil.copytree(env["root"], plain)
    for sidecar in plain.glob("*/*/objects.json"):
        sidecar.unlink()
    with_sidecars = pipeline.evaluate_checkpoint(
        stage1.best_checkpoint, "test", data_root=env["root"], device="cpu"
    )
    without = pipeline.evaluate_checkpoint(stage1.best_checkpoint, "test", data_root=plain, device="cpu")
    assert without["miou"] == pytest.approx(with_sidecars["miou"])  # same AVSBench score
    assert (
        with_sidecars["diag_n_sounding_units"] > 0 and without["diag_n_sounding_units"] == 0
    )  # no instances


def test_class_matching_stage1_uses_the_stand_ins_heads(env, tmp_path):
    """The deviation's frozen heads are the pre-training heads (not a random init), with their class
    counts."""
    from stepstones_lite.train.pretrain import HEAD_FILES, ensure_heads, load_heads

    folder = pipeline.prepare_profile(env["profile"], env["root"]).model.backbone_weights
    folder = type(tmp_path)(folder).parent
    vis, aud = load_heads(folder)
    # an older cache without heads is completed by a bit-identical re-training
    for name in HEAD_FILES:
        (folder / name).unlink()
    ensure_heads(env["profile"], folder, env["root"])
    vis2, aud2 = load_heads(folder)
    assert all(torch.equal(vis[k], vis2[k]) for k in vis) and all(torch.equal(aud[k], aud2[k]) for k in aud)
    fit = pipeline.train_stage1(
        env["profile"].replace(model__class_matching=True),
        tmp_path / "s1m",
        data_root=env["root"],
        progress=False,
    )
    model, profile, _ = pipeline.load_model(fit.best_checkpoint)
    assert (
        profile.model.matching_vis_classes == vis["out.2.weight"].shape[0]
    )  # background + the 5 super-classes
    assert profile.model.matching_aud_classes == aud["weight"].shape[0]
    assert torch.equal(model.matching.vis_head.out[2].weight, vis["out.2.weight"])
    assert torch.equal(model.matching.aud_head.weight, aud["weight"])


def test_reproduce_matching_stage1_arm(env, tmp_path):
    out = tmp_path / "r.json"
    res = run_study(
        env["profile"],
        [0],
        out=out,
        arms=["two_stage", "two_stage_matching_stage1"],
        data_root=env["root"],
        progress=False,
    )
    arm = res["arms"]["two_stage_matching_stage1"]
    assert "DEVIATION" in " ".join(arm["modules"])
    rec = arm["per_seed"][0]
    assert rec["prior_miou"] == rec["stage1_miou"] and {"avss_miou", "stage1_distractor_fp"} <= set(rec)


def test_stage1_error_split_on_reference_priors(env, tmp_path):
    """stepstones study errors --stage 1: ground-truth priors find every sounding object and nothing else;
    all-foreground priors mark every object; the split sums its units over the test clips' objects."""
    import shutil

    from stepstones_lite.study import stage1_errors as errors
    from stepstones_lite.train.priors import write_reference_priors

    gt = tmp_path / "gt"
    write_reference_priors(env["profile"], gt, data_root=env["root"], splits=("test",), progress=False)
    out = errors.error_split(env["root"], gt)
    assert out["recall_sounding"] == 1.0 and out["missed_sounding"] == 0.0 and out["n_recall_sounding"] > 0
    for key in ("fp_silent_pool", "fp_same_group", "fp_other_group", "fp_inactive", "fp_background"):
        assert out.get(key, 0.0) == 0.0
    full = tmp_path / "full"
    shutil.copytree(gt, full)
    for png in full.glob("*/*/*.png"):
        Image.fromarray(np.full_like(np.asarray(Image.open(png)), 255)).save(png)
    out = errors.error_split(env["root"], full)
    assert out["recall_sounding"] == 1.0 and out["fp_background"] == 1.0
    assert all(out[k] == 1.0 for k in out if k.startswith("fp_"))


def test_stage2_error_split_on_the_synthetic_sidecar(env, stage1, tmp_path):
    """Object outcomes on real clips: the GT labels as prediction name every sounding object and mark nothing
    silent; an all-'flute' prediction names only flutes and marks every silent object; study/stage2_errors.py
    scores a trained checkpoint into shares that sum to one."""
    from stepstones_lite.study.semantic_errors import ObjectOutcomes, object_outcomes

    data = pipeline.avss_dataset(env["profile"], env["root"], "test", return_instances=True)
    perfect, flat = ObjectOutcomes(), ObjectOutcomes()
    flute = class_index("flute")
    for i in range(len(data)):
        item = data[i]
        objs = item["objects"]["objects"]
        perfect.add(object_outcomes(item["labels"], item["instances"], objs, item["valid"]))
        flat.add(
            object_outcomes(torch.full_like(item["labels"], flute), item["instances"], objs, item["valid"])
        )
    s = perfect.summary()
    assert s["n_sounding"] > 0 and s["named"] == 1.0 and s["wrong_class"] == 0.0 and s["missed"] == 0.0
    assert sum(perfect.silent.values()) > 0 and sum(perfect.silent_marked.values()) == 0
    f = flat.summary()
    assert f["missed"] == 0.0 and f["named"] + f["wrong_class"] == pytest.approx(1.0) and f["wrong_class"] > 0
    assert all(flat.silent_marked[k] == n for k, n in flat.silent.items())

    priors = tmp_path / "priors"
    make_priors(stage1.best_checkpoint, priors, data_root=env["root"], progress=False)
    s2 = pipeline.train_stage2(
        env["profile"], tmp_path / "s2", prior_root=priors, data_root=env["root"], progress=False
    )
    from stepstones_lite.study import stage2_errors as errors

    with_prior = pipeline.avss_dataset(
        env["profile"], env["root"], "test", prior_root=priors, return_instances=True
    )
    rec = errors.score(s2.best_checkpoint, with_prior, "dataset")
    assert rec["n_sounding"] == s["n_sounding"]
    assert rec["named"] + rec["wrong_class"] + rec["missed"] == pytest.approx(1.0)


def test_stage2_trained_with_stage1_priors(env, tmp_path):
    """The stage2_train_prior DEVIATIONS: train priors of the train split are made, go with the lever (and
    only with it), and study/stage2_levers.py scores such a stage 2 beside end-to-end with its error split."""
    from stepstones_lite.train import Course

    course = Course(env["profile"], progress=False)
    s1 = course.stage1(0)
    default, train = course.stage1_priors(s1), course.stage1_priors(s1, splits=("train",))
    assert default != train and check_priors(train)["splits"] == ["train"]
    assert check_priors(default)["splits"] == ["val", "test"]
    assert {p.parent.name for p in train.glob("*/*/0.png")} == {
        item["uid"] for item in pipeline.avss_dataset(env["profile"], env["root"], "train")
    }
    lever = env["profile"].replace(train__stage2_train_prior="stage1")
    with pytest.raises(ValueError, match="train_prior_root"):
        pipeline.train_stage2(
            lever, tmp_path / "x", prior_root=default, data_root=env["root"], progress=False
        )
    with pytest.raises(ValueError, match="train_prior_root"):
        pipeline.train_stage2(
            env["profile"],
            tmp_path / "y",
            prior_root=default,
            data_root=env["root"],
            train_prior_root=train,
            progress=False,
        )
    from stepstones_lite.study import stage2_levers as levers

    rec = levers.record(course, "mixed", 0)
    assert 0.0 <= rec["stage1_train_miou"] <= 1.0
    for split in ("val", "test"):
        r = rec[split]
        assert r["gap"] == pytest.approx(r["two_stage"] - r["end_to_end"])
        assert r["delta_loc"] == pytest.approx(r["stage1_miou"] - r["end_to_end_binary_miou"])
        assert 0.0 <= r["end_to_end_split_loss"] <= 1.0 and 0.0 <= r["end_to_end_pooled_binary_miou"] <= 1.0
    e = rec["test_errors_two_stage"]
    assert e["named"] + e["wrong_class"] + e["missed"] == pytest.approx(1.0)
    assert f"| smoke | mixed | 0 | {rec['stage1_train_miou']:.3f} |" in levers.markdown(
        {"profile": "smoke", "regimes": {"smoke": [rec]}}
    )
    # every run this Course handed out was built here, so all under this process's thread count
    assert course.build_threads() == {str(torch.get_num_threads()): len(course.used)}


def test_mechanism_comparison_and_the_payoff_ladder(env):
    """study mechanism's comparison: gap, Δloc and the payoff ladder's rungs (a mask after the fact vs
    read)."""
    from stepstones_lite.study import mechanism
    from stepstones_lite.train import Course

    course = Course(env["profile"], progress=False)
    rec = mechanism.comparison(course, 0)
    e2e = course.end_to_end(0)
    priors = course.stage1_priors(course.stage1(0))
    for split in ("val", "test"):
        r = rec[split]
        assert r["gap"] == pytest.approx(r["two_stage"] - r["end_to_end"])
        assert r["delta_loc"] == pytest.approx(r["stage1_miou"] - r["end_to_end_binary_miou"])
        plain = course.evaluate(e2e, split)
        gated = course.evaluate(e2e, split, gate=priors)
        oracle_gate = course.evaluate(e2e, split, gate="gt")
        assert r["end_to_end_gated_stage1"] == gated["miou_benchmark"]
        assert r["end_to_end_gated_gt"] == oracle_gate["miou_benchmark"]
        # the GT gate only turns wrong pixels right (false-positive foreground becomes background): per frame
        # the binary IoU can only rise, and the sounding pixels the model found stay found
        assert oracle_gate["binary_miou"] >= plain["binary_miou"] - 1e-6
        assert oracle_gate["split_loss"] == pytest.approx(plain["split_loss"])
    with pytest.raises(ValueError, match="gate"):
        pipeline.evaluate_checkpoint(
            course.stage2(0, priors) / "best.pt", "test", data_root=env["root"], prior=priors, gate="gt"
        )


def test_a_moved_cache_is_reused_and_a_changed_setting_rebuilds(env, tmp_path, monkeypatch, capsys):
    """Content keys: a Course's runs are keyed by paths relative to the artifacts root, so the whole folder
    can be copied (a teacher's cache to the students) and every run is found again; a setting that matters
    rebuilds."""
    import shutil

    from stepstones_lite.train import Course

    course = Course(env["profile"], progress=False)
    s1 = course.stage1(0)
    priors = course.stage1_priors(s1)
    before = course.evaluate(s1)["miou"]
    moved = tmp_path / "copied" / "artifacts"
    shutil.copytree(env["base"] / "artifacts", moved, symlinks=True)
    monkeypatch.setenv("STEPSTONES_ARTIFACTS", str(moved))
    capsys.readouterr()
    again = Course(env["profile"], progress=False)
    s1_moved, priors_moved = again.stage1(0), again.stage1_priors(again.stage1(0))
    assert s1_moved == moved / s1.relative_to(env["base"] / "artifacts")
    assert priors_moved == moved / priors.relative_to(env["base"] / "artifacts")
    assert again.evaluate(s1_moved)["miou"] == before  # the evaluation cache too
    out = capsys.readouterr().out
    assert "building" not in out and "using course/stage1" in out, out
    other = Course(env["profile"].replace(train__stage1_steps=5), progress=False).stage1(0)
    assert other != s1_moved and "building course/stage1" in capsys.readouterr().out
