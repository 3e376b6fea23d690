"""Sounds: CC0 recordings, General-MIDI notes, espeak-ng speech (rendered once, cached on disk) and a siren.

Every cached item depends only on its key, never on the order of requests; espeak-ng is *not* bit-reproducible
between calls, so the speech bank is kept in :func:`~.catalogue.cache_dir` (see :mod:`.materials`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from .catalogue import _RATIOS, _WORDS, SOUNDS, SR, _tux_rel, cache_dir, inventory


# --------------------------------------------------------------------------- sounds
@lru_cache(maxsize=256)
def block_energy(key: tuple) -> np.ndarray:
    """Cumulative energy of a cached sound in 50 ms blocks, ``[n_blocks + 1]`` (key: ("rec", source, step) or
    ("speech", voice, i))."""
    wav = recording(key[1], key[2]) if key[0] == "rec" else speech_bank()[key[1]][key[2]]
    step = SR // 20
    n = len(wav) // step
    e = (wav[: n * step].astype(np.float64) ** 2).reshape(n, step).sum(1)
    return np.concatenate([[0.0], np.cumsum(e)])


@lru_cache(maxsize=256)
def recording(source: str, step: int = 0) -> np.ndarray:
    """Decoded recording at 16 kHz mono, pitch-shifted by ``step`` semitones (resample_poly), cached."""
    import soundfile as sf
    from scipy.signal import resample_poly

    if step:
        up, down = _RATIOS[step]
        # higher pitch = fewer samples
        return resample_poly(recording(source, 0), down, up).astype(np.float32)
    inv = inventory()
    kind, name = source.split(":", 1)
    if kind == "ovos":
        path = inv.ovos_animals / name
    else:
        path = next(p for ps in inv.tux_sounds.values() for p in ps if _tux_rel(p) == name)
    with _quiet_stderr():  # libmpg123 prints an ID3 warning for some of the ovos mp3 files
        wav, sr = sf.read(str(path), dtype="float32", always_2d=True)
    wav = wav.mean(1)
    if sr != SR:
        g = np.gcd(int(sr), SR)
        wav = resample_poly(wav, SR // g, int(sr) // g).astype(np.float32)
    peak = float(np.abs(wav).max()) or 1.0
    return (wav / peak).astype(np.float32)


@contextlib.contextmanager
def _quiet_stderr():
    """Silence C-level writes to fd 2 (not Python's ``sys.stderr`` object) for the duration."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class _GM:
    """One tinysoundfont synth per bank; notes are rendered from silence so they depend only on their key."""

    def __init__(self) -> None:
        self.synths: dict[str, tuple[object, int]] = {}

    def synth(self, bank: str):
        if bank not in self.synths:
            import tinysoundfont

            syn = tinysoundfont.Synth(samplerate=SR)
            sfid = syn.sfload(str(inventory().soundfonts[bank]))
            self.synths[bank] = (syn, sfid)
        return self.synths[bank]


_gm = _GM()


@lru_cache(maxsize=2048)
def gm_note(bank: str, preset: int, key: int, drums: bool = False, hold: float = 1.0) -> np.ndarray:
    """One General-MIDI note (velocity 100) held ``hold`` s plus a 0.4 s release tail, 16 kHz mono float32."""
    syn, sfid = _gm.synth(bank)
    syn.program_select(0, sfid, 128 if drums else 0, preset, is_drums=drums)
    syn.noteon(0, key, 100)
    a = np.frombuffer(syn.generate(int(hold * SR)), np.float32).reshape(-1, 2).mean(1)
    syn.noteoff(0, key)
    b = np.frombuffer(syn.generate(int(0.4 * SR)), np.float32).reshape(-1, 2).mean(1)
    syn.notes_off(0)
    syn.sounds_off(0)
    syn.generate(SR // 10)  # flush to silence so the next note starts from the same state
    return np.concatenate([a, b]).astype(np.float32)


# -- speech
class _Espeak:
    def __init__(self) -> None:
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.buf: list[np.ndarray] = []
        proto = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
        self.cb = proto(self._collect)  # keep a reference: ctypes callbacks must outlive the library's use
        data = espeakng_loader.get_data_path().encode()
        self.sr = self.lib.espeak_Initialize(2, 0, data, 0)  # 2 = AUDIO_OUTPUT_SYNCHRONOUS
        self.lib.espeak_SetSynthCallback(self.cb)

    def _collect(self, wav, n, events) -> int:
        if n > 0:
            self.buf.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    def say(self, text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
        from scipy.signal import resample_poly

        self.buf.clear()
        self.lib.espeak_SetVoiceByName(voice.encode())
        self.lib.espeak_SetParameter(1, rate, 0)  # espeakRATE
        self.lib.espeak_SetParameter(3, pitch, 0)  # espeakPITCH
        b = text.encode() + b"\0"
        self.lib.espeak_Synth(b, len(b), 0, 1, 0, 1, None, None)
        self.lib.espeak_Synchronize()
        wav = np.concatenate(self.buf).astype(np.float32) / 32768 if self.buf else np.zeros(SR, np.float32)
        g = np.gcd(int(self.sr), SR)
        return resample_poly(wav, SR // g, int(self.sr) // g).astype(np.float32)


SPEECH_UTTERANCES = 3  # per voice


def _speech_spec() -> list[tuple[str, str, int, int]]:
    """The fixed list of (voice, text, rate, pitch) of the speech bank (independent of any clip seed)."""
    rng = np.random.default_rng(20240917)
    spec = []
    for cls in ("man", "woman"):
        for _, voice, plo, phi in SOUNDS[cls]:
            for _ in range(SPEECH_UTTERANCES):
                words = " ".join(rng.choice(_WORDS, size=int(rng.integers(7, 11))))
                spec.append((voice, words, int(rng.integers(140, 200)), int(rng.integers(plo, phi + 1))))
    return spec


def speech_bank_path() -> Path:
    from importlib.metadata import version

    import espeakng_loader  # noqa: F401  (version in the file name)

    key = f"speech_v1_espeakng-loader-{version('espeakng-loader')}_{SPEECH_UTTERANCES}.npz"
    return cache_dir() / key


def ensure_speech_bank() -> Path | None:
    """Render the speech bank once into the cache (atomic), return its path; None without espeak."""
    if not inventory().espeak:
        return None
    path = speech_bank_path()
    if path.is_file():
        return path
    es = _Espeak()
    arrays = {f"{i:03d}|{v}": es.say(t, v, r, p) for i, (v, t, r, p) in enumerate(_speech_spec())}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)
    return path


@lru_cache(maxsize=1)
def speech_bank() -> dict[str, tuple[np.ndarray, ...]]:
    """voice -> utterances (16 kHz float32, peak 1) from the on-disk bank."""
    path = ensure_speech_bank()
    out: dict[str, list[np.ndarray]] = {}
    with np.load(path) as z:
        for key in sorted(z.files):
            wav = z[key].astype(np.float32)
            wav /= float(np.abs(wav).max()) or 1.0
            out.setdefault(key.split("|", 1)[1], []).append(wav)
    return {k: tuple(v) for k, v in out.items()}


def siren(variant: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Procedural emergency siren ("wail" sweep or "hilo" two-tone), odd harmonics, 16 kHz."""
    t = np.arange(int(seconds * SR), dtype=np.float64) / SR
    phase0 = rng.uniform(0, 2 * np.pi)
    if variant == "wail":
        rate = rng.uniform(0.3, 0.6)
        f = 950 + 350 * np.sin(2 * np.pi * rate * t + phase0)
    else:
        period = rng.uniform(0.8, 1.4)
        f = np.where(((t + phase0) % period) < period / 2, 960.0, 770.0)
    ph = 2 * np.pi * np.cumsum(f) / SR
    wav = np.sin(ph) + np.sin(3 * ph) / 3 + np.sin(5 * ph) / 5
    return (wav / np.abs(wav).max()).astype(np.float32)
