import json
from pathlib import Path

import numpy as np
import pytest
import torch

from stepstones_lite import utils


def test_resolve_device_auto_and_cpu(capsys):
    dev = utils.resolve_device("auto")
    assert dev.type in ("cpu", "cuda", "mps")
    assert "device:" in capsys.readouterr().out
    assert utils.resolve_device("cpu", verbose=False) == torch.device("cpu")
    assert utils.resolve_device(torch.device("cpu"), verbose=False).type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error when CUDA is absent")
def test_resolve_device_cuda_without_gpu_is_clear():
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        utils.resolve_device("cuda", verbose=False)


def test_autocast_is_noop_on_cpu():
    with utils.autocast(torch.device("cpu")):
        y = torch.ones(2, 2) @ torch.ones(2, 2)
    assert y.dtype == torch.float32


def test_seed_everything_repeats_all_generators():
    g1 = utils.seed_everything(123)
    a = (np.random.rand(), torch.rand(3), torch.rand(2, generator=g1))
    g2 = utils.seed_everything(123)
    b = (np.random.rand(), torch.rand(3), torch.rand(2, generator=g2))
    assert a[0] == b[0]
    assert torch.equal(a[1], b[1]) and torch.equal(a[2], b[2])
    utils.seed_everything(124)
    assert not torch.equal(torch.rand(3), a[1])


def test_artifacts_and_figures_dirs_follow_env(tmp_path, monkeypatch):
    monkeypatch.setenv("STEPSTONES_ARTIFACTS", str(tmp_path / "art"))
    monkeypatch.setenv("STEPSTONES_FIGURES", str(tmp_path / "fig"))
    assert utils.artifacts_dir() == (tmp_path / "art").resolve()
    assert utils.figures_dir() == (tmp_path / "fig").resolve()
    assert (tmp_path / "art").is_dir() and (tmp_path / "fig").is_dir()
    monkeypatch.delenv("STEPSTONES_ARTIFACTS")
    assert utils.artifacts_dir(create=False) == utils.project_root() / "artifacts"


def test_project_root_finds_checkout(tmp_path):
    root = utils.project_root(Path(__file__).parent)
    assert (root / "pyproject.toml").is_file() and (root / "stepstones_lite").is_dir()


def test_atomic_write_replaces_and_keeps_old_on_error(tmp_path):
    target = tmp_path / "sub" / "f.json"
    utils.atomic_write_json(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    with pytest.raises(ZeroDivisionError):
        with utils.atomic_write(target, "w") as fh:
            fh.write("half")
            1 / 0
    assert json.loads(target.read_text()) == {"a": 1}  # old content survives
    assert [p.name for p in target.parent.iterdir()] == ["f.json"]  # no temp file left behind


def test_atomic_write_names_the_target_when_the_disk_is_full(tmp_path, monkeypatch):
    import errno
    import os

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")  # as a real write/fsync does: no filename

    target = tmp_path / "f.json"
    target.write_text("old")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as info:
        utils.atomic_write_text(target, "new")
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_append_text_names_the_file_when_the_disk_is_full(tmp_path, monkeypatch):
    import builtins
    import errno

    class Full:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(builtins, "open", lambda *a, **k: Full())
    with pytest.raises(OSError) as info:
        utils.append_text(tmp_path / "history.jsonl", "{}\n")
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(tmp_path / "history.jsonl")


def test_atomic_write_gives_usual_permissions(tmp_path, monkeypatch):
    monkeypatch.setattr(utils, "_UMASK", 0o022)
    path = utils.atomic_write_text(tmp_path / "r.json", "{}")
    assert path.stat().st_mode & 0o777 == 0o644  # the umask's permissions, not mkstemp's 0600


def test_atomic_torch_save_round_trip(tmp_path):
    state = {"w": torch.arange(4.0)}
    path = utils.atomic_torch_save(state, tmp_path / "ck.pt")
    loaded = torch.load(path, weights_only=True)
    assert torch.equal(loaded["w"], state["w"])
    assert len(utils.file_sha256(path)) == 64


def test_print_env_reports_versions(capsys):
    info = utils.print_env()
    out = capsys.readouterr().out
    assert torch.__version__ in out and "python" in out
    assert info["torch"] == torch.__version__ and info["device"]
    assert info["threads"] >= 1
