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
    assert list((tmp_path / "priors").iterdir()) == []


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
    """Trained weights depend on torch's CPU thread count, which is not in the key: the marker says which it was."""
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
