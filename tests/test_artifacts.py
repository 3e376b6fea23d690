import pytest

from stepstones_lite.artifacts import artifact_key, artifact_path, ensure_artifact, read_marker


def test_builds_once_then_reuses(tmp_path):
    calls = []

    def build(folder):
        calls.append(folder)
        (folder / "x.txt").write_text("hello")

    a = ensure_artifact("stage1", build, {"seed": 0}, root=tmp_path, verbose=False)
    b = ensure_artifact("stage1", build, {"seed": 0}, root=tmp_path, verbose=False)
    assert a == b and len(calls) == 1 and (a / "x.txt").read_text() == "hello"
    assert read_marker(a)["key"] == {"seed": 0}
    c = ensure_artifact("stage1", build, {"seed": 1}, root=tmp_path, verbose=False)
    assert c != a and len(calls) == 2
    ensure_artifact("stage1", build, {"seed": 0}, root=tmp_path, rebuild=True, verbose=False)
    assert len(calls) == 3


def test_failed_build_leaves_nothing_that_looks_finished(tmp_path):
    def bad(folder):
        (folder / "half.txt").write_text("x")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        ensure_artifact("priors", bad, {"k": 1}, root=tmp_path, verbose=False)
    path = artifact_path("priors", {"k": 1}, tmp_path)
    assert not path.exists() and read_marker(path) is None
    assert [p.name for p in (tmp_path / "priors").iterdir()] == [f".{path.name}.lock"]  # the lock file only


def test_key_is_order_independent_and_sensitive():
    assert artifact_key({"a": 1, "b": 2}) == artifact_key({"b": 2, "a": 1})
    assert artifact_key({"a": 1}) != artifact_key({"a": 2})


def test_follower_ranks_wait_for_rank0(tmp_path, monkeypatch):
    import threading

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    built = []

    def rank0_builds_later():
        import time

        time.sleep(0.3)
        folder = artifact_path("x", {"k": 1}, tmp_path)
        folder.mkdir(parents=True)
        (folder / "ARTIFACT.json").write_text("{}")

    threading.Thread(target=rank0_builds_later).start()
    out = ensure_artifact("x", lambda f: built.append(f), {"k": 1}, root=tmp_path, verbose=False)
    assert out == artifact_path("x", {"k": 1}, tmp_path) and built == []  # rank 1 never builds


def test_marker_records_the_thread_count_the_build_ran_with(tmp_path):
    """Trained weights depend on torch's CPU thread count, which is not in the key: the marker says which it
    was."""
    import torch

    before = torch.get_num_threads()
    try:

        def build(folder):
            torch.set_num_threads(1)  # as TrainConfig.num_threads does inside a build
            (folder / "x.txt").write_text("w")

        torch.set_num_threads(2)
        path = ensure_artifact("stage1", build, {"seed": 0}, root=tmp_path, verbose=False)
        assert read_marker(path)["threads"] == 1
    finally:
        torch.set_num_threads(before)


# --------------------------------------------------------------------------- concurrent builders
# A builder script run as a real process: it builds the artifact ``race`` slowly (five files, one every
# ``pause`` seconds), logging each call of its build function to ``calls.log``; prints the folder it got.
_BUILDER = r"""
import os, sys, time
from pathlib import Path
from stepstones_lite.artifacts import ensure_artifact

root, pause = Path(sys.argv[1]), float(sys.argv[2])

def build(folder):
    with open(root / "calls.log", "a") as log:
        log.write(f"{os.getpid()}\n")
    for k in range(5):
        (folder / f"part{k}.txt").write_text(f"{k} by {os.getpid()}")
        time.sleep(pause)

out = ensure_artifact("race", build, {"k": 1}, root=root / "artifacts", verbose=False)
print(out)
"""


def _start_builder(tmp_path, pause: float):
    import subprocess
    import sys

    script = tmp_path / "builder.py"
    script.write_text(_BUILDER)
    return subprocess.Popen(
        [sys.executable, str(script), str(tmp_path), str(pause)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _assert_whole(folder):
    parts = sorted(p.name for p in folder.iterdir())
    assert parts == ["ARTIFACT.json"] + [f"part{k}.txt" for k in range(5)], parts
    builders = {(folder / f"part{k}.txt").read_text().split(" by ")[1] for k in range(5)}
    assert len(builders) == 1, f"files of two builders mixed in one artifact: {builders}"


@pytest.mark.parametrize("stagger", [0.0, 0.6], ids=["together", "second-starts-mid-build"])
def test_two_processes_racing_on_one_key_build_once_and_leave_a_whole_artifact(tmp_path, stagger):
    """Two (here three) real processes ask for one artifact: one builds, the others wait and reuse it (issue:
    two ``Course.stage1`` builds a few seconds apart both exited 0 and the artifact lacked files)."""
    import time

    procs = [_start_builder(tmp_path, 0.15)]
    time.sleep(stagger)
    procs += [_start_builder(tmp_path, 0.15), _start_builder(tmp_path, 0.15)]
    outs = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        outs.append(stdout.strip())
    folder = artifact_path("race", {"k": 1}, tmp_path / "artifacts")
    assert outs == [str(folder)] * 3
    assert len((tmp_path / "calls.log").read_text().split()) == 1, "built more than once"
    _assert_whole(folder)
    leftovers = [p.name for p in folder.parent.iterdir() if p.name.startswith((".building", ".replaced"))]
    assert leftovers == []


def test_a_killed_builder_neither_blocks_nor_pollutes_the_next(tmp_path):
    """SIGKILL mid-build: the OS drops the lock, the next builder clears the dead one's temp folder and
    builds."""
    import signal
    import time

    proc = _start_builder(tmp_path, 2.0)
    folder = artifact_path("race", {"k": 1}, tmp_path / "artifacts")
    deadline = time.monotonic() + 60
    while not list(folder.parent.glob(".building-*/part0.txt")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(folder.parent.glob(".building-*")), "the builder never started"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert read_marker(folder) is None

    def build(out):
        for k in range(5):
            (out / f"part{k}.txt").write_text(f"{k} by me")

    assert ensure_artifact("race", build, {"k": 1}, root=tmp_path / "artifacts", verbose=False) == folder
    _assert_whole(folder)
    assert not list(folder.parent.glob(".building-*"))


def test_rebuild_replaces_the_artifact_in_one_rename(tmp_path):
    def build(text):
        def write(out):
            (out / "w.txt").write_text(text)

        return write

    a = ensure_artifact("x", build("old"), {"k": 1}, root=tmp_path, verbose=False)
    b = ensure_artifact("x", build("new"), {"k": 1}, root=tmp_path, rebuild=True, verbose=False)
    assert a == b and (b / "w.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.joinpath("x").iterdir()) == [f".{a.name}.lock", a.name]


def test_file_lock_excludes_other_holders(tmp_path):
    """Threads open the lock file anew, as processes do: their critical sections never overlap."""
    import threading
    import time

    from stepstones_lite.artifacts import file_lock

    inside, overlaps = [], []

    def work():
        for _ in range(5):
            with file_lock(tmp_path / ".x.lock", verbose=False, poll=0.01):
                inside.append(1)
                if len(inside) > 1:
                    overlaps.append(1)
                time.sleep(0.01)
                inside.pop()

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == []


@pytest.mark.parametrize("text", ["{not json", "[1, 2]"])
def test_a_corrupt_marker_is_reported_and_the_artifact_rebuilt(tmp_path, text):
    """A corrupt ARTIFACT.json once raised a bare JSONDecodeError on every later build; now it is named in a
    warning and the artifact, read as unfinished, is rebuilt in place."""
    calls = []

    def build(folder):
        calls.append(folder)
        (folder / "x.txt").write_text(f"build {len(calls)}")

    path = ensure_artifact("stage1", build, {"seed": 0}, root=tmp_path, verbose=False)
    (path / "ARTIFACT.json").write_text(text)
    with pytest.warns(RuntimeWarning, match=r"ARTIFACT.json: corrupt artifact marker") as seen:
        assert read_marker(path) is None
    assert str(path / "ARTIFACT.json") in str(seen[0].message) and "\n" not in str(seen[0].message)
    with pytest.warns(RuntimeWarning, match="treating the artifact as unfinished"):
        again = ensure_artifact("stage1", build, {"seed": 0}, root=tmp_path, verbose=False)
    assert again == path and len(calls) == 2 and (path / "x.txt").read_text() == "build 2"
    assert read_marker(path)["key"] == {"seed": 0}
    assert sorted(p.name for p in (tmp_path / "stage1").iterdir()) == [f".{path.name}.lock", path.name]


def test_keys_are_portable_across_artifacts_roots(tmp_path):
    """Paths inside the root count relative to it (so a copied cache keeps its keys); outside paths stay."""
    from stepstones_lite.artifacts import ROOT_TOKEN, portable

    a, b = tmp_path / "a", tmp_path / "b"
    key_a = {"data": str(a / "data" / "d1"), "runs": [a / "x" / "1"], "own": "/elsewhere/avsbench", "n": 3}
    key_b = {"data": str(b / "data" / "d1"), "runs": [b / "x" / "1"], "own": "/elsewhere/avsbench", "n": 3}
    assert (
        portable(key_a, a)
        == portable(key_b, b)
        == {
            "data": f"{ROOT_TOKEN}/data/d1",
            "runs": [f"{ROOT_TOKEN}/x/1"],
            "own": "/elsewhere/avsbench",
            "n": 3,
        }
    )
    assert portable(str(tmp_path / "ab" / "c"), a) == str(tmp_path / "ab" / "c")  # a sibling, not inside
    assert artifact_path("y", key_a, a).name == artifact_path("y", key_b, b).name
    assert artifact_path("y", {**key_a, "n": 4}, a).name != artifact_path("y", key_a, a).name
