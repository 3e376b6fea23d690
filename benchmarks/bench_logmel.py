"""Real-time factor of the VGGish log-mel front end on one CPU thread, next to librosa.

Usage:  python benchmarks/bench_logmel.py [--seconds 60] [--repeats 7] [--threads 1]

Prints, for the same audio: seconds per call (median of ``--repeats``), real-time factor (audio seconds per
compute second) for ``log_mel_examples`` (16 kHz, and 44.1 kHz input which adds resampling), the batched
``LogMelFrontEnd`` on 8 clips, a straight numpy float64 version of the official algorithm, and
``librosa.feature.melspectrogram`` with VGGish settings (n_fft 512, win 400, hop 160, no centring, 64 HTK mels
125-7500 Hz, magnitude) + log(x + 0.01).
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch
from _common import sample_times

from stepstones_lite.audio import LogMelFrontEnd, log_mel_examples, mel_matrix


def _median_time(fn, repeats: int) -> tuple[float, float]:
    """Median and fastest seconds per call of ``fn`` over ``repeats`` timed calls."""
    times = sample_times(fn, repeats)
    return statistics.median(times), min(times)


def _numpy_official(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    frames = np.lib.stride_tricks.sliding_window_view(x, 400)[::160]  # [F, 400]
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)
    return np.log(np.abs(np.fft.rfft(frames * hann, 512)) @ w + 0.01)  # [F, 64]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import librosa  # imported after set_num_threads so its numba/numpy pools start with the same limits

    sr, dur = 16000, args.seconds
    rng = np.random.default_rng(0)
    t = np.arange(int(dur * sr)) / sr
    x = (0.5 * np.sin(2 * np.pi * 440 * t) + 0.1 * rng.standard_normal(t.size)).astype(np.float32)
    x44 = (0.5 * np.sin(2 * np.pi * 440 * np.arange(int(dur * 44100)) / 44100)).astype(np.float32)
    fe = LogMelFrontEnd()
    batch = torch.from_numpy(np.stack([x] * 8))  # [8, L]
    w = mel_matrix().numpy()

    def run_librosa() -> np.ndarray:
        m = librosa.feature.melspectrogram(
            y=x,
            sr=sr,
            n_fft=512,
            win_length=400,
            hop_length=160,
            center=False,
            window="hann",
            power=1.0,
            n_mels=64,
            fmin=125.0,
            fmax=7500.0,
            htk=True,
            norm=None,
        )
        return np.log(m + 0.01)

    rows = [
        ("log_mel_examples (16 kHz)", lambda: log_mel_examples(x, sr), dur),
        ("log_mel_examples (44.1 kHz, resampled)", lambda: log_mel_examples(x44, 44100), dur),
        ("LogMelFrontEnd batch of 8 clips", lambda: fe(batch), 8 * dur),
        ("numpy float64 official algorithm", lambda: _numpy_official(x.astype(np.float64), w), dur),
        ("librosa melspectrogram + log", run_librosa, dur),
    ]
    print(f"audio {dur:.0f} s, torch threads {torch.get_num_threads()}, median of {args.repeats} runs")
    results = {}
    for name, fn, audio_s in rows:
        s, best = _median_time(fn, args.repeats)
        results[name] = s / audio_s * dur
        print(
            f"{name:42s} {s * 1e3:8.1f} ms (min {best * 1e3:7.1f})   real-time factor {audio_s / s:6.0f}x "
            f"(best {audio_s / best:6.0f}x)"
        )
    lib = results["librosa melspectrogram + log"]
    ours = results["log_mel_examples (16 kHz)"]
    print(f"ratio librosa time / log_mel_examples time (same 16-kHz audio): {lib / ours:.2f}")


if __name__ == "__main__":
    main()
