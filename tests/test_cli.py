import json
import subprocess
import sys

from stepstones_lite import __version__
from stepstones_lite.cli import main


def test_version_via_console_script():
    out = subprocess.run([sys.executable, "-m", "stepstones_lite.cli", "--version"],
                         capture_output=True, text=True, check=True)
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
    import tomllib
    from pathlib import Path

    meta = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    assert meta["project"]["version"] == __version__
