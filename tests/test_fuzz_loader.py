"""Fuzz: corrupt small AVSBench trees hundreds of ways (seeded); validation and loading raise only
DatasetError.

Each case copies one tree (AVSS with priors and instances, S4 or MS3), applies 1–3 random corruptions
(truncate / zero / garbage / bit-flipped bytes in wav, jpg, png, csv, json, pkl; deleted files and folders;
off-palette or swapped palette colours; other sample rates / channels; resized frames; ``../`` and absolute
uids, duplicate rows, bad columns; symlinks out of the root, dangling and looping links; malicious pickles)
and then checks that

* ``validate_dataset`` and constructing + iterating every split either succeed or raise ``DatasetError``;
* whenever validation passes, every split loads (validation is at least as strict as the loaders);
* the original trees, the files symlinks point to, and a canary for the malicious pickles are untouched.

``FUZZ_CASES`` (env ``STEPSTONES_FUZZ_CASES``) sets the count; 300 cases take ~25–35 s on the shared 2-core
machine (tmpfs scratch).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import random
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from data_fixtures import AVSS_CLIPS, FRAMES, make_avss_tree, make_ms3_tree, make_priors, make_s4_tree, tone
from PIL import Image

from stepstones_lite.data import AVSBenchObject, AVSBenchSemantic, DatasetError, palette, validate_dataset

torch.set_num_threads(1)
FUZZ_CASES = int(os.environ.get("STEPSTONES_FUZZ_CASES", "300"))
SEED = 20240925


def tree_hashes(*roots: Path) -> dict[str, str]:
    out = {}
    for root in roots:
        for p in sorted(root.rglob("*")):
            if p.is_file() and not p.is_symlink():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    base = tmp_path_factory.mktemp("fuzz_base")
    avss = make_avss_tree(base / "avss" / "data")
    make_priors(base / "avss" / "priors", [(s, u, FRAMES[s]) for s, u, _, _ in AVSS_CLIPS])
    make_s4_tree(base / "s4" / "data")
    make_ms3_tree(base / "ms3" / "data")
    secret = base / "secret"
    secret.mkdir()
    (secret / "passwd").write_text("root:x:0:0\n")
    shutil.copy(min(avss.rglob("0.jpg")), secret / "frame.jpg")
    return base


class Mutator:
    """Random corruptions of one case folder; never writes outside it (symlinks are not followed for
    writes)."""

    def __init__(self, rng: random.Random, case: Path, secret: Path, canary: Path) -> None:
        self.rng, self.case, self.secret, self.canary = rng, case, secret, canary
        self.real_case = os.path.realpath(case)

    def _own(self, p: Path) -> bool:
        """Not a symlink and, resolved, inside the case folder."""
        return not p.is_symlink() and os.path.realpath(p).startswith(self.real_case + os.sep)

    def files(self, suffixes: tuple[str, ...] | None = None) -> list[Path]:
        out = [p for p in sorted(self.case.rglob("*")) if p.is_file() and self._own(p)]
        return [p for p in out if suffixes is None or p.suffix in suffixes] or out

    def pick(self, *suffixes: str) -> Path:
        return self.rng.choice(self.files(suffixes or None))

    def pick_dir(self) -> Path:
        return self.rng.choice([d for d in sorted(self.case.rglob("*")) if d.is_dir() and self._own(d)])

    # byte-level
    def truncate(self) -> str:
        p = self.pick()
        data = p.read_bytes()
        p.write_bytes(data[: self.rng.randrange(len(data) + 1)])
        return f"truncate {p.name}"

    def zero(self) -> str:
        p = self.pick()
        p.write_bytes(bytes(p.stat().st_size))
        return f"zero {p.name}"

    def garbage(self) -> str:
        p = self.pick()
        p.write_bytes(self.rng.randbytes(self.rng.choice([0, 1, 7, 44, 300, 5000])))
        return f"garbage {p.name}"

    def flip(self) -> str:
        p = self.pick(".wav", ".jpg", ".png", ".pkl", ".csv", ".json")
        data = bytearray(p.read_bytes())
        for _ in range(self.rng.choice([1, 3, 20])):
            if data:
                i = self.rng.randrange(min(len(data), self.rng.choice([64, len(data)])))
                data[i] ^= 1 << self.rng.randrange(8)
        p.write_bytes(bytes(data))
        return f"flip {p.name}"

    def delete(self) -> str:
        p = self.pick()
        p.unlink()
        return f"delete {p.relative_to(self.case)}"

    def delete_dir(self) -> str:
        d = self.pick_dir()
        shutil.rmtree(d)
        return f"rmtree {d.relative_to(self.case)}"

    def file_to_dir(self) -> str:
        p = self.pick()
        p.unlink()
        p.mkdir()
        return f"dir instead of {p.name}"

    # images
    def palette_swap(self) -> str:
        p = self.pick(".png")
        arr = np.asarray(Image.open(p).convert("RGB")).copy()
        y, x = self.rng.randrange(arr.shape[0]), self.rng.randrange(arr.shape[1])
        if self.rng.random() < 0.5:
            arr[y : y + 3, x : x + 3] = palette()[self.rng.randrange(71)]  # valid colour, wrong class
        else:
            arr[y : y + 3, x : x + 3] = (self.rng.randrange(256), 1, 3)  # off palette
        Image.fromarray(arr).save(p)
        return f"palette {p.name}"

    def resize_image(self) -> str:
        p = self.pick(".jpg", ".png")
        img = Image.open(p)
        img.resize((self.rng.randrange(1, 40), self.rng.randrange(1, 40))).save(p, format=img.format)
        return f"resize {p.name}"

    def image_mode(self) -> str:
        p = self.pick(".png")
        arr = np.asarray(Image.open(p).convert("L")).astype(np.uint16) * 257
        mode = self.rng.choice(["I;16", "RGBA", "P", "1"])
        img = Image.fromarray(arr) if mode == "I;16" else Image.open(p).convert(mode)  # uint16 -> I;16
        img.save(p, format="PNG")
        return f"mode {mode} {p.name}"

    # audio
    def resample_wav(self) -> str:
        p = self.pick(".wav")
        rate = self.rng.choice([8000, 16000, 22050, 44100, 1])
        channels = self.rng.choice([1, 2, 6])
        seconds = self.rng.choice([0.0, 0.01, 0.5, 5, 11])
        wave = tone(seconds, sr=max(rate, 100), channels=channels)
        subtype = self.rng.choice(["PCM_16", "FLOAT", "PCM_U8", "ULAW"])
        try:
            sf.write(
                p, wave[: int(seconds * rate)] if rate > 1 else wave[:5], rate, subtype=subtype, format="WAV"
            )
        except Exception:  # noqa: BLE001 - some rate/subtype pairs cannot be written
            sf.write(p, wave, max(rate, 100), subtype="PCM_16", format="WAV")
        if self.rng.random() < 0.1:
            data, r = sf.read(p, always_2d=True)
            data[:10] = np.nan
            sf.write(p, data, r, subtype="FLOAT")
        return f"audio {rate} Hz {channels} ch {seconds} s {p.name}"

    # tables / json
    def metadata(self) -> str:
        p = self.pick(".csv")
        lines = p.read_text(encoding="utf-8", errors="replace").split("\n")
        choice = self.rng.randrange(9)
        row = self.rng.randrange(1, max(2, len(lines)))
        fields = lines[min(row, len(lines) - 1)].split(",")
        col = self.rng.randrange(len(fields))
        if choice == 0:
            fields[col] = "../" * self.rng.randint(1, 4) + "etc"
        elif choice == 1:
            fields[col] = "/etc/passwd"
        elif choice == 2:
            fields[col] = self.rng.choice(["dev", "v3", "", "-1", "x" * 300, "a\x00b", "1e9"])
        elif choice == 3:
            fields = fields[:-1]
        elif choice == 4:
            fields.append("extra")
        if choice <= 4:
            lines[min(row, len(lines) - 1)] = ",".join(fields)
        elif choice == 5:
            lines.append(lines[row % len(lines)])  # duplicate row
        elif choice == 6:
            lines[0] = ",".join(reversed(lines[0].split(",")))  # columns renamed/reordered
        elif choice == 7:
            lines.insert(1, '"unterminated,quote')
        else:
            p.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode() + self.rng.randbytes(20))
            return f"csv bytes {p.name}"
        p.write_text("\n".join(lines), encoding="utf-8")
        return f"csv {choice} {p.name}"

    def json(self) -> str:
        p = self.pick(".json")
        p.write_text(
            self.rng.choice(['{"background": 1}', "[]", "null", '{"a": ', "1" * 50, '{"background": 0}'])
        )
        return f"json {p.name}"

    # pickles
    def pickle(self) -> str:
        p = self.pick(".pkl")
        kind = self.rng.randrange(5)
        if kind == 0:
            payload = pickle.dumps(_Evil(str(self.canary)))
        elif kind == 1:
            payload = pickle.dumps({"x": 1})
        elif kind == 2:
            payload = pickle.dumps(torch.zeros(self.rng.choice([0, 3, 7]), 1, 96, 64))
        elif kind == 3:
            payload = pickle.dumps(torch.full((5, 1, 96, 64), float("nan")))
        else:
            payload = pickle.dumps(torch.zeros(5, 96, 64, dtype=torch.int64))
        p.write_bytes(payload)
        return f"pickle {kind} {p.name}"

    # links
    def symlink_out(self) -> str:
        p = self.pick()
        p.unlink()
        target = self.rng.choice(
            [
                self.secret / "frame.jpg",
                self.secret / "passwd",
                Path("/etc/hostname"),
                Path("../" * 12 + "etc/hostname"),
                self.secret / "missing",
                p,
            ]
        )
        p.symlink_to(target)  # target == p: a loop
        return f"symlink {p.name} -> {target}"

    def symlink_dir_out(self) -> str:
        d = self.pick_dir()
        outside = self.case.parent / f"{self.case.name}_outside"
        shutil.rmtree(outside, ignore_errors=True)
        shutil.move(d, outside)
        d.symlink_to(outside)
        return f"symlinked dir {d.relative_to(self.case)}"

    def all(self) -> list:
        return [
            self.truncate,
            self.zero,
            self.garbage,
            self.flip,
            self.delete,
            self.delete_dir,
            self.file_to_dir,
            self.palette_swap,
            self.palette_swap,
            self.resize_image,
            self.image_mode,
            self.resample_wav,
            self.resample_wav,
            self.metadata,
            self.metadata,
            self.metadata,
            self.json,
            self.pickle,
            self.symlink_out,
            self.symlink_out,
            self.symlink_dir_out,
        ]


class _Evil:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def run_loaders(layout: str, data: Path, priors: Path | None, size: int | None, **extra) -> int:
    """Construct and iterate every split; returns the number of items loaded."""
    n = 0
    for split in ("train", "val", "test"):
        if layout == "avss":
            ds = AVSBenchSemantic(data, split=split, image_size=size, prior_root=priors, **extra)
        else:
            ds = AVSBenchObject(data, layout, split, image_size=size, **extra)
        for item in ds:
            t, _, h, w = item["frames"].shape
            assert (h, w) == ((16, 16) if size else (24, 32)) and item["log_mel"].shape == (t, 1, 96, 64)
            assert (
                set(item["masks"].unique().tolist()) <= {0.0, 1.0} and torch.isfinite(item["log_mel"]).all()
            )
            if layout == "avss":
                assert 0 <= int(item["labels"].min()) and int(item["labels"].max()) <= 70
            n += 1
    return n


@pytest.fixture
def workdir(tmp_path):
    """Scratch folder for the cases: tmpfs when available (copying ~130 small files per case is 4× faster)."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        path = Path(tempfile.mkdtemp(prefix="stepstones_fuzz_", dir=shm))
        yield path
        shutil.rmtree(path, ignore_errors=True)
    else:
        yield tmp_path


@pytest.mark.filterwarnings("ignore:.*using the wav instead")
def test_fuzz_only_dataset_errors(originals, workdir):
    tmp_path = workdir
    before = tree_hashes(originals)
    canary = tmp_path / "canary_pwned"
    outcomes = {"valid": 0, "invalid": 0, "load_error": 0}
    failures = []
    kinds: Counter = Counter()
    start = time.perf_counter()
    for i in range(FUZZ_CASES):
        rng = random.Random(SEED + i)
        layout = rng.choice(["avss", "avss", "s4", "ms3"])
        case = tmp_path / f"case{i}"
        shutil.copytree(originals / layout, case, symlinks=True)
        mut = Mutator(rng, case, originals / "secret", canary)
        done = []
        for _ in range(rng.choice([1, 1, 2, 3])):
            try:
                done.append(rng.choice(mut.all())())
            except (IndexError, FileNotFoundError, NotADirectoryError, IsADirectoryError, OSError):
                done.append("skipped")  # the picked target no longer exists after an earlier corruption
        kinds.update(d.split()[0] for d in done)
        data, priors = case / "data", (case / "priors" if layout == "avss" else None)
        try:
            try:
                validate_dataset(data, prior_root=priors)
                ok = True
            except DatasetError:
                ok = False
            size = 16 if i % 2 else None
            try:
                run_loaders(layout, data, priors, size)
                loaded = True
            except DatasetError:
                loaded = False
            # other reading paths: instances + labels_semantic (AVSS), pkl-only / wav-only audio (S4, MS3)
            try:
                extra = (
                    {"return_instances": True, "label_source": "semantic"}
                    if layout == "avss"
                    else {"audio": rng.choice(["pkl", "wav"])}
                )
                run_loaders(layout, data, priors, size, **extra)
            except DatasetError:
                pass
            if ok and not loaded:
                failures.append(
                    f"case {i} {layout} {done}: validation passed but loading raised DatasetError"
                )
            outcomes["valid" if ok else "invalid"] += 1
            outcomes["load_error"] += not loaded
        except Exception as err:  # noqa: BLE001 - the point of the test
            failures.append(f"case {i} {layout} {done}: {type(err).__name__}: {err}")
        shutil.rmtree(case, ignore_errors=True)
        shutil.rmtree(tmp_path / f"case{i}_outside", ignore_errors=True)
    print(
        f"\nfuzz: {FUZZ_CASES} cases in {time.perf_counter() - start:.1f} s, {outcomes}\n"
        f"corruptions: {dict(kinds)}"
    )
    assert not failures, "\n".join(failures[:20])
    assert not canary.exists(), "a pickled payload ran"
    assert tree_hashes(originals) == before, "original files changed"
    assert (
        outcomes["invalid"] > FUZZ_CASES // 2 and outcomes["valid"] > 0
    )  # corruptions bite, some are harmless
