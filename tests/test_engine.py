import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from toy_task import (  # the test folder is on sys.path (pytest rootdir; a script's own folder)
    ToyClips,
    ToyModel,
    ToyTask,
)

from stepstones_lite.config import resolve_profile
from stepstones_lite.train import (
    CheckpointError,
    ConfigMismatchError,
    Trainer,
    epoch_order,
    load_checkpoint,
    save_checkpoint,
)
from stepstones_lite.train.checkpoint import load_state
from stepstones_lite.utils import seed_everything

STEPS = 12


def _profile(**kw):
    return resolve_profile("smoke", train__lr=1e-2, train__eval_every=4, train__device="cpu", **kw)


def _trainer(out, steps=STEPS, profile=None, **kw):
    seed_everything(0)
    model = ToyModel()
    return Trainer(
        model,
        ToyTask(),
        ToyClips(),
        ToyClips(8, seed=1),
        profile or _profile(),
        out,
        steps=steps,
        progress=False,
        **kw,
    )


class Interrupt(Exception):
    pass


def test_fit_improves_and_writes_checkpoints(tmp_path):
    trainer = _trainer(tmp_path, steps=40)
    first = trainer.evaluate()["neg_mse"]
    result = trainer.fit()
    assert result.steps_run == 40 and result.history[-1]["step"] == 40
    assert result.best["value"] > first  # it learned
    assert (tmp_path / "best.pt").is_file() and (tmp_path / "last.pt").is_file()
    header = json.loads((tmp_path / "last.json").read_text())
    assert header["kind"] == "toy" and header["step"] == 40
    lines = (tmp_path / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [4 * i for i in range(1, 11)]
    assert {"train_loss", "val_neg_mse", "lr", "sec_per_step"} <= set(result.history[0])


def test_two_phase_learning_rate(tmp_path):
    prof = _profile(train__lr_phase_b=1e-3, train__phase_b_fraction=0.25)
    trainer = _trainer(tmp_path, steps=8, profile=prof)
    trainer.fit()
    lrs = [r["lr"] for r in trainer.history]  # evaluated after steps 4 and 8
    assert lrs[0] == pytest.approx(1e-2) and lrs[1] == pytest.approx(1e-3)


def test_resume_is_bit_identical(tmp_path):
    full = _trainer(tmp_path / "full")
    full.fit()

    def stop_at_8(record):
        if record["step"] == 8:
            raise Interrupt

    part = _trainer(tmp_path / "part", on_eval=stop_at_8)
    with pytest.raises(Interrupt):
        part.fit()
    assert load_checkpoint(tmp_path / "part" / "last.pt", kind="toy")["step"] == 8
    seed_everything(123)  # a fresh process would start from other RNG states
    resumed = _trainer(tmp_path / "part")
    torch.manual_seed(999)
    result = resumed.fit(resume=True)
    assert result.steps_run == STEPS - 8
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    assert [r["step"] for r in resumed.history] == [4, 8, 12]
    assert resumed.history[-1]["val_neg_mse"] == full.history[-1]["val_neg_mse"]


def test_resume_rejects_other_run_length(tmp_path):
    _trainer(tmp_path, steps=4).fit()
    with pytest.raises(CheckpointError, match="steps: checkpoint 4, now 8"):
        _trainer(tmp_path, steps=8).fit(resume=True)


def _toy_checkpoint(path, step=0):
    return save_checkpoint(path, kind="toy", profile=resolve_profile("smoke"), model=ToyModel(), step=step)


def _stopped_at_8(out):
    """A run of STEPS steps killed right after its step-8 checkpoint."""

    def stop_at_8(record):
        if record["step"] == 8:
            raise Interrupt

    with pytest.raises(Interrupt):
        _trainer(out, on_eval=stop_at_8).fit()


def test_resume_refuses_a_changed_lr_and_seed(tmp_path):
    _stopped_at_8(tmp_path)
    before = (tmp_path / "last.pt").read_bytes()
    changed = _trainer(tmp_path, profile=_profile().replace(train__lr=0.5, train__seed=7))
    with pytest.raises(ConfigMismatchError) as info:
        changed.fit(resume=True)
    message = str(info.value)
    assert str(tmp_path / "last.pt") in message and "\n" not in message
    assert "train.lr: checkpoint 0.01, now 0.5" in message and "train.seed: checkpoint 0, now 7" in message
    assert (tmp_path / "last.pt").read_bytes() == before  # nothing trained, nothing overwritten
    assert json.loads((tmp_path / "last.json").read_text())["profile"]["train"]["seed"] == 0


def test_resume_accepts_a_changed_device(tmp_path):
    _stopped_at_8(tmp_path)
    free = _profile().replace(train__device="auto", description="x")  # how the run executes, not what
    result = _trainer(tmp_path, profile=free).fit(resume=True)
    assert result.steps_run == STEPS - 8


def test_resume_never_duplicates_a_history_record(tmp_path):
    """A kill between writing a history record and saving its checkpoint: the resumed run logs that step
    again, and history.jsonl must hold it once (the checkpoint's history is the truth)."""
    full = _trainer(tmp_path / "full")
    full.fit()
    part = _trainer(tmp_path / "part")
    save = part._save

    def killed_before_last_at_8(name):
        if name == "last.pt" and part.step == 8:
            raise Interrupt
        return save(name)

    part._save = killed_before_last_at_8
    with pytest.raises(Interrupt):
        part.fit()
    lines = (tmp_path / "part" / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [4, 8]  # logged, but last.pt is at step 4
    resumed = _trainer(tmp_path / "part")
    resumed.fit(resume=True)
    lines = (tmp_path / "part" / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [4, 8, 12]
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("bad", ["{not json", '{"no_name": 1}', 5, '{"name": "x", "train": {"lr_typo": 1}}'])
def test_bad_profile_header_is_a_checkpoint_error(tmp_path, bad):
    path = _toy_checkpoint(tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    payload["profile"] = bad
    torch.save(payload, tmp_path / "bad.pt")  # no sidecar: no hash to check
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'bad.pt'}: bad 'profile' header"):
        load_checkpoint(tmp_path / "bad.pt")


def test_bit_flipped_checkpoint_is_refused(tmp_path):
    path = _toy_checkpoint(tmp_path / "m.pt")
    assert json.loads((tmp_path / "m.json").read_text())["sha256"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1  # torch.load itself would not notice (tensor bytes are not checksummed)
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=f"{path}: contents do not match the sha256 recorded in m.json"):
        load_checkpoint(path)


def test_checkpoint_without_a_recorded_hash_still_loads(tmp_path):
    path = _toy_checkpoint(tmp_path / "m.pt", step=3)
    header = json.loads((tmp_path / "m.json").read_text())
    del header["sha256"], header["previous_sha256"]  # as written before hashes were recorded
    (tmp_path / "m.json").write_text(json.dumps(header))
    assert load_checkpoint(path)["step"] == 3
    (tmp_path / "m.json").unlink()
    assert load_checkpoint(path)["step"] == 3


def test_kill_between_header_and_checkpoint_keeps_the_old_one_loadable(tmp_path, monkeypatch):
    from stepstones_lite.train import checkpoint

    path = _toy_checkpoint(tmp_path / "m.pt", step=1)

    def killed(*args, **kwargs):
        raise Interrupt

    monkeypatch.setattr(checkpoint, "atomic_write", killed)
    with pytest.raises(Interrupt):
        _toy_checkpoint(path, step=2)
    assert json.loads((tmp_path / "m.json").read_text())["step"] == 2  # the new header, the old file
    assert load_checkpoint(path)["step"] == 1


def test_unsafe_pickle_gets_our_message(tmp_path):
    import pathlib

    torch.save({"format": 1, "model": {}, "x": pathlib.PurePosixPath("a")}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="not a plain-tensor checkpoint") as info:
        load_checkpoint(tmp_path / "evil.pt")
    assert str(tmp_path / "evil.pt") in str(info.value) and "weights_only" not in str(info.value)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint") as info:
        load_checkpoint(tmp_path / "junk.pt")
    assert "weights_only" not in str(info.value)


def test_resume_from_a_weights_only_checkpoint_is_refused(tmp_path):
    save_checkpoint(tmp_path / "last.pt", kind="toy", profile=_profile(), model=ToyModel(), with_rng=False)
    with pytest.raises(CheckpointError, match="last.pt: lacks the optimizer, scheduler, rng state"):
        _trainer(tmp_path).fit(resume=True)


def test_state_dict_mismatch_names_the_file(tmp_path):
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'm.pt'}: its model state does not fit"):
        load_state(tmp_path / "m.pt", torch.nn.Linear(2, 2), ToyModel().state_dict())


def test_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not a stepstones_lite checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")
    path = save_checkpoint(
        tmp_path / "m.pt", kind="aavs-stage1", profile=resolve_profile("smoke"), model=ToyModel()
    )
    with pytest.raises(CheckpointError, match="'aavs-stage1' model, but a 'aavs-stage2'"):
        load_checkpoint(path, kind="aavs-stage2")
    with pytest.raises(CheckpointError, match="model config differs"):
        load_checkpoint(path, kind="aavs-stage1", profile=resolve_profile("classroom"))
    payload = load_checkpoint(path, kind="aavs-stage1", profile=resolve_profile("smoke"))
    assert payload["profile"].name == "smoke"


def test_epoch_order_is_a_pure_function():
    assert epoch_order(10, 0, 1) == epoch_order(10, 0, 1)
    assert sorted(epoch_order(10, 0, 1)) == list(range(10))
    assert epoch_order(10, 0, 1) != epoch_order(10, 0, 2)


def test_no_trainable_parameters_is_clear(tmp_path):
    with pytest.raises(ValueError, match="no trainable parameters"):
        _trainer(tmp_path, trainable=lambda name: False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CPU-only check")
def test_amp_is_off_without_cuda(tmp_path):
    trainer = _trainer(tmp_path, profile=_profile(train__amp=True))
    assert trainer.use_amp is False and trainer.scaler is None


def test_ddp_two_processes_gloo(tmp_path):
    script = Path(__file__).parent / "ddp_toy.py"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parent.parent)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(script),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    params = [torch.load(tmp_path / f"params_rank{r}.pt", weights_only=True) for r in (0, 1)]
    for a, b in zip(params[0].values(), params[1].values()):
        assert torch.equal(a, b)  # DDP kept the replicas identical
    assert (tmp_path / "run" / "last.pt").is_file()
    lines = (tmp_path / "run" / "history.jsonl").read_text().splitlines()
    assert len(lines) == 2  # only rank 0 logged (eval after steps 4 and 8)


def test_dataloader_workers_give_the_same_run(tmp_path):
    """num_workers > 0 reads batches in worker processes in exactly the inline order (same final weights)."""
    inline = _trainer(tmp_path / "inline", steps=6)
    inline.fit()
    workers = _trainer(tmp_path / "workers", steps=6, profile=_profile(data__num_workers=2))
    workers.fit()
    for a, b in zip(inline.model.state_dict().values(), workers.model.state_dict().values()):
        assert torch.equal(a, b)


def test_epoch_batches_rejoin_mid_epoch(tmp_path):
    trainer = _trainer(tmp_path, steps=4, profile=_profile(train__clips_per_step=2))
    stream = trainer._epoch_batches(0)
    first, second = next(stream), next(stream)
    assert len(first) == len(ToyClips()) // 2 and sorted(i for b in first for i in b) == list(
        range(len(ToyClips()))
    )
    assert next(trainer._epoch_batches(3)) == first[3:]  # resuming at step 3 continues the same epoch
    assert next(trainer._epoch_batches(len(first))) == second
