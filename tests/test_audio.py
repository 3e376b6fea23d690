"""stepstones_lite.audio: VGGish front end against an independent float64 numpy reference, and the network."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from stepstones_lite.audio import fit_examples, log_mel_examples, log_mel_spectrogram, mel_matrix, num_examples_for

SR = 16000


# ----------------------------------------------------------------------------- independent reference
def ref_mel_matrix() -> np.ndarray:
    """VGGish spectrogram_to_mel_matrix, written as the documented per-band loop (64 bands, 257 bins)."""
    mel = lambda f: 1127.0 * np.log(1.0 + f / 700.0)  # noqa: E731  HTK
    bins = mel(np.arange(257) * (8000.0 / 256))
    edges = np.linspace(mel(125.0), mel(7500.0), 66)
    w = np.zeros((257, 64))
    for b in range(64):
        lo, c, hi = edges[b], edges[b + 1], edges[b + 2]
        for k in range(1, 257):  # k = 0 (DC) stays zero
            w[k, b] = max(0.0, min((bins[k] - lo) / (c - lo), (hi - bins[k]) / (hi - c)))
    return w


def ref_examples(x: np.ndarray) -> np.ndarray:
    """Official VGGish waveform_to_examples for 16-kHz mono float64 input -> [n, 96, 64]."""
    n_frames = 1 + (len(x) - 400) // 160
    frames = np.stack([x[i * 160:i * 160 + 400] for i in range(max(n_frames, 0))]).reshape(-1, 400)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)
    spec = np.abs(np.fft.rfft(frames * hann, 512))  # [F, 257]
    log_mel = np.log(spec @ ref_mel_matrix() + 0.01)  # [F, 64]
    n_ex = 1 + (len(log_mel) - 96) // 96 if len(log_mel) >= 96 else 0
    return np.stack([log_mel[i * 96:(i + 1) * 96] for i in range(n_ex)]).reshape(-1, 96, 64)


def _signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    t = np.arange(int(3.3 * SR)) / SR  # 3.3 s: not a multiple of 0.96 s
    sweep = 0.9 * np.sin(2 * np.pi * (50 * t + (7900 - 50) / (2 * 3.3) * t ** 2))
    return {
        "sweep": sweep,
        "noise": 0.3 * rng.standard_normal(5 * SR),
        "silence": np.zeros(2 * SR),
        "tone_plus_quiet": np.sin(2 * np.pi * 440 * t) + 1e-4 * rng.standard_normal(t.size),
        "int16_like": np.round(rng.uniform(-1, 1, 31_234) * 32767) / 32768,
    }


# ----------------------------------------------------------------------------- front end
def test_mel_matrix_matches_reference_and_quirks():
    w = mel_matrix().numpy()
    ref = ref_mel_matrix()
    assert w.shape == (257, 64)
    np.testing.assert_allclose(w, ref, atol=1e-12)
    assert np.all(w[0] == 0)  # DC bin zeroed
    assert w.max() <= 1.0 and np.all(w.sum(0) > 0)  # unnormalised triangles, every band non-empty


@pytest.mark.parametrize("name", list(_signals()))
def test_log_mel_examples_match_reference(name):
    x = _signals()[name]
    got = log_mel_examples(x, SR)
    ref = ref_examples(x)
    assert got.dtype == torch.float32 and got.shape == (ref.shape[0], 1, 96, 64)
    assert got.shape[0] > 0
    np.testing.assert_allclose(got[:, 0].numpy(), ref, atol=1e-4, rtol=0)
    if name == "silence":
        assert torch.allclose(got, torch.full_like(got, np.log(0.01)))


def test_torch_float32_and_int16_inputs():
    x = _signals()["noise"]
    ref = ref_examples(x)
    got = log_mel_examples(torch.tensor(x, dtype=torch.float32), SR)
    np.testing.assert_allclose(got[:, 0].numpy(), ref, atol=2e-4, rtol=0)  # input already rounded to float32
    pcm = np.round(x.clip(-1, 1) * 32767).astype(np.int16)
    got16 = log_mel_examples(pcm, SR)
    np.testing.assert_allclose(got16[:, 0].numpy(), ref_examples(pcm / 32768.0), atol=1e-4, rtol=0)


@pytest.mark.parametrize(
    "n_samples, n_expected",
    [(0, 0), (239, 0), (399, 0), (400, 0), (15_599, 0), (15_600, 1), (30_959, 1), (30_960, 2),
     (5 * SR, 5), (10 * SR, 10), (int(4.7 * SR), 4)],
)
def test_example_count_rule(n_samples, n_expected):
    # F = 1 + (N - 400) // 160 frames; n = 1 + (F - 96) // 96 examples, tail dropped, 0 when F < 96
    x = np.random.default_rng(1).uniform(-0.5, 0.5, n_samples)
    assert num_examples_for(n_samples) == n_expected
    assert log_mel_examples(x, SR).shape == (n_expected, 1, 96, 64)


def test_log_mel_spectrogram_frames():
    x = _signals()["noise"][:4000]
    spec = log_mel_spectrogram(x, SR)
    assert spec.shape == (1 + (4000 - 400) // 160, 64)
    assert log_mel_spectrogram(x[:399], SR).shape == (0, 64)


def test_fit_examples_rules():
    ex = torch.arange(3.0).view(3, 1, 1, 1).expand(3, 1, 96, 64)
    rep = fit_examples(ex, 5)  # AVSBench S4/MS3: repeat the last example
    assert rep.shape == (5, 1, 96, 64) and rep[:, 0, 0, 0].tolist() == [0, 1, 2, 2, 2]
    zero = fit_examples(ex, 5, mode="zero")  # AVSBench AVSS: zero padding
    assert zero[:, 0, 0, 0].tolist() == [0, 1, 2, 0, 0]
    assert fit_examples(ex, 2)[:, 0, 0, 0].tolist() == [0, 1]  # more than T: keep the first T
    assert fit_examples(ex[:0], 2).abs().sum() == 0  # nothing to repeat: zeros
    x = _signals()["noise"][: int(3.5 * SR)]
    got = log_mel_examples(x, SR, num_examples=5)
    assert got.shape == (5, 1, 96, 64) and torch.equal(got[3], got[2]) and torch.equal(got[4], got[2])
    with pytest.raises(ValueError, match="mode"):
        fit_examples(ex, 5, mode="edge")


def test_multichannel_is_channel_mean_in_both_layouts():
    rng = np.random.default_rng(2)
    left, right = rng.uniform(-0.5, 0.5, 2 * SR), 0.3 * np.sin(np.arange(2 * SR) * 0.05)
    ref = ref_examples((left + right) / 2)
    for stereo in (np.stack([left, right], axis=1), np.stack([left, right], axis=0)):  # [L, C] and [C, L]
        got = log_mel_examples(stereo, SR)
        np.testing.assert_allclose(got[:, 0].numpy(), ref, atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="shape"):
        log_mel_examples(np.zeros((2, 2, SR)), SR)


def test_resampling_44k1_matches_16k_tone():
    dur = 3.0
    tone = lambda sr: 0.5 * np.sin(2 * np.pi * 1000.0 * np.arange(int(dur * sr)) / sr)  # noqa: E731
    ref = log_mel_examples(tone(SR), SR)
    got = log_mel_examples(tone(44100), 44100)
    assert got.shape == ref.shape == (3, 1, 96, 64)
    # the bands that carry the tone agree closely; far bands see only filter leakage (log floor 0.01)
    loud = ref > np.log(0.01) + 1.0
    assert loud.any()
    assert (got - ref)[loud].abs().max() < 0.02
    assert (got - ref).abs().mean() < 0.02
    with pytest.raises(ValueError, match="sample_rate"):
        log_mel_examples(tone(SR), 0)


def test_bad_input_types():
    with pytest.raises(TypeError, match="waveform"):
        log_mel_examples([0.0] * 20000, SR)
    with pytest.raises(TypeError, match="dtype"):
        log_mel_examples(np.array(["a"] * 10), SR)
