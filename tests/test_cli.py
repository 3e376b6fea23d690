import errno
import json
import subprocess
import sys

import pytest

from stepstones_lite import __version__, cli
from stepstones_lite.cli import main
from stepstones_lite.data.errors import DatasetError
from stepstones_lite.train import CheckpointError


def test_version_via_console_script():
    out = subprocess.run(
        [sys.executable, "-m", "stepstones_lite.cli", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"stepstones_lite {__version__}"


def test_env_json(capsys):
    assert main(["env", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["stepstones_lite"] == __version__ and "torch" in info


def test_profile_prints_resolved_json(capsys):
    assert main(["profile", "--profile", "smoke"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "smoke"


def test_package_version_is_the_pyproject_version():
    """One version: ``stepstones_lite/_version.py`` agrees with ``pyproject.toml`` (what pip installs)."""
    from pathlib import Path

    import tomllib

    meta = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    assert meta["project"]["version"] == __version__


def _stderr_line(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


def test_missing_checkpoint_is_one_line_and_fails(tmp_path, capsys):
    path = tmp_path / "nope.pt"
    assert main(["evaluate", str(path), "--device", "cpu"]) == 1
    assert _stderr_line(capsys) == f"stepstones: error: {path}: checkpoint not found"


def test_corrupt_checkpoint_is_one_line_and_debug_gives_the_traceback(tmp_path, capsys):
    path = tmp_path / "junk.pt"
    path.write_bytes(b"not a checkpoint")
    assert main(["evaluate", str(path), "--device", "cpu"]) == 1
    assert _stderr_line(capsys).startswith(f"stepstones: error: {path}: not a readable checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):  # raised, so a traceback
        main(["--debug", "evaluate", str(path), "--device", "cpu"])


def test_debug_traceback_in_a_subprocess(tmp_path):
    path = tmp_path / "nope.pt"
    quiet = subprocess.run(
        [sys.executable, "-m", "stepstones_lite.cli", "evaluate", str(path)], capture_output=True, text=True
    )
    assert quiet.returncode == 1 and quiet.stderr.strip().splitlines() == [
        f"stepstones: error: {path}: checkpoint not found"
    ]
    loud = subprocess.run(
        [sys.executable, "-m", "stepstones_lite.cli", "--debug", "evaluate", str(path)],
        capture_output=True,
        text=True,
    )
    assert loud.returncode != 0 and "Traceback" in loud.stderr and "CheckpointError" in loud.stderr


def test_known_errors_are_one_line(tmp_path, capsys, monkeypatch):
    errors = [
        OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "last.pt")),
        DatasetError(tmp_path / "meta.csv", "2 problems", ["row 3: bad split", "row 9: no frames"]),
    ]
    for error in errors:

        def fail(args, error=error):
            raise error

        monkeypatch.setattr(cli, "_cmd_env", fail)
        assert main(["env"]) == 1
        line = _stderr_line(capsys)
        assert line.startswith(f"stepstones: error: {tmp_path}/") and ("No space" in line or "row 9" in line)
    monkeypatch.setattr(cli, "_cmd_env", lambda args: 1 / 0)  # not a known error: its traceback stays
    with pytest.raises(ZeroDivisionError):
        main(["env"])
