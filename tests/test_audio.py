"""stepstones_lite.audio: VGGish front end against an independent float64 numpy reference, and the network."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
import torch

from stepstones_lite.audio import (
    fit_examples,
    log_mel_examples,
    log_mel_spectrogram,
    mel_matrix,
    num_examples_for,
)

SR = 16000


# ----------------------------------------------------------------------------- independent reference
@lru_cache(maxsize=1)
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
    frames = np.stack([x[i * 160 : i * 160 + 400] for i in range(max(n_frames, 0))]).reshape(-1, 400)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)
    spec = np.abs(np.fft.rfft(frames * hann, 512))  # [F, 257]
    log_mel = np.log(spec @ ref_mel_matrix() + 0.01)  # [F, 64]
    n_ex = 1 + (len(log_mel) - 96) // 96 if len(log_mel) >= 96 else 0
    return np.stack([log_mel[i * 96 : (i + 1) * 96] for i in range(n_ex)]).reshape(-1, 96, 64)


def _signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    t = np.arange(int(3.3 * SR)) / SR  # 3.3 s: not a multiple of 0.96 s
    sweep = 0.9 * np.sin(2 * np.pi * (50 * t + (7900 - 50) / (2 * 3.3) * t**2))
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
    [
        (0, 0),
        (239, 0),
        (399, 0),
        (400, 0),
        (15_599, 0),
        (15_600, 1),
        (30_959, 1),
        (30_960, 2),
        (5 * SR, 5),
        (10 * SR, 10),
        (int(4.7 * SR), 4),
    ],
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
    assert (got - ref)[loud].abs().max() < 1e-4
    assert (got - ref).abs().mean() < 1e-4 and (got - ref).abs().max() < 0.1
    with pytest.raises(ValueError, match="sample_rate"):
        log_mel_examples(tone(SR), 0)


def _resampy_formula(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Direct evaluation of resampy's kaiser_best band-limited interpolation (continuous filter, no table)."""
    roll, beta, zeros = 0.9173473712608761, 12.984585292873839, 50
    scale = min(1.0, sr_out / sr_in)
    n_out = len(x) * sr_out // sr_in
    tau = np.arange(n_out)[:, None] * (sr_in / sr_out) - np.arange(len(x))[None, :]  # [out, in] input periods
    t = scale * tau  # in periods of the lower rate
    inside = np.abs(t) <= zeros
    taper = np.i0(beta * np.sqrt(np.clip(1 - (t / zeros) ** 2, 0, None))) / np.i0(beta)
    weights = np.where(inside, scale * roll * np.sinc(roll * t) * taper, 0.0)
    return weights @ x


@pytest.mark.parametrize("sr_in", [44100, 8000, 48000])
def test_resample_is_resampy_kaiser_best_filter(sr_in):
    from stepstones_lite.audio import resample

    x = np.random.default_rng(4).uniform(-1, 1, 1500)
    got = resample(torch.from_numpy(x), sr_in, SR).numpy()
    ref = _resampy_formula(x, sr_in, SR)
    assert got.shape == ref.shape == (1500 * SR // sr_in,)
    np.testing.assert_allclose(got, ref, atol=1e-9)


def test_bad_input_types():
    with pytest.raises(TypeError, match="waveform"):
        log_mel_examples([0.0] * 20000, SR)
    with pytest.raises(TypeError, match="dtype"):
        log_mel_examples(np.array(["a"] * 10), SR)


# ----------------------------------------------------------------------------- network
from stepstones_lite.audio import VGGish, load_vggish_pca, load_vggish_weights  # noqa: E402

TORCHVGGISH_KEYS = [f"features.{i}.{p}" for i in (0, 3, 6, 8, 11, 13) for p in ("weight", "bias")] + [
    f"embeddings.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")
]


@pytest.fixture(scope="module")
def vggish_random():
    torch.manual_seed(0)
    return VGGish().eval()


@pytest.fixture(scope="module")
def vggish_file(vggish_random, tmp_path_factory):
    """The random model saved once as a plain torchvggish-layout state_dict (~290 MB, shared by the tests)."""
    path = tmp_path_factory.mktemp("vggish") / "vggish.pth"
    torch.save(vggish_random.state_dict(), path)
    yield path
    path.unlink()  # the module's tests are done with it; do not hold 290 MB of disk to the end of the run


def test_vggish_layout_and_forward(vggish_random):
    model = vggish_random
    sd = model.state_dict()
    assert list(sd) == TORCHVGGISH_KEYS
    assert sd["features.0.weight"].shape == (64, 1, 3, 3) and sd["embeddings.0.weight"].shape == (4096, 12288)
    assert sum(p.numel() for p in model.parameters()) == 72_141_184
    x = log_mel_examples(_signals()["noise"][: 2 * SR], SR)[:1]  # [1, 1, 96, 64]
    with torch.no_grad():
        out = model(torch.cat([x, x.flip(-1)]))
    assert out.shape == (2, 128) and out.dtype == torch.float32
    assert (out >= 0).all()  # final ReLU (torchvggish / AVSBench)
    assert not torch.allclose(out[0], out[1])
    with pytest.raises(ValueError, match=r"\[N, 1, 96, 64\]"):
        model(torch.zeros(2, 96, 64))
    wave = _signals()["noise"][: int(2.5 * SR)]
    emb = model.embed(wave, SR, num_examples=5)  # waveform -> front end -> network
    with torch.no_grad():
        direct = model(log_mel_examples(wave, SR))
    assert emb.shape == (5, 128) and torch.allclose(emb[:2], direct, atol=1e-6)
    assert torch.allclose(emb[4], emb[1], atol=1e-6)  # padded by repeating the last example


def test_vggish_flatten_is_channels_last(vggish_random):
    # the first Linear must see the conv output in TF (h, w, c) order, as torchvggish's double transpose gives
    model = vggish_random
    x = torch.randn(1, 1, 96, 64)
    with torch.no_grad():
        feat = model.features(x)  # [1, 512, 6, 4]
        manual = model.embeddings(feat.permute(0, 2, 3, 1).reshape(1, -1))
        assert torch.allclose(model(x), manual)


def test_load_vggish_weights_round_trip(vggish_file, vggish_random):
    path = vggish_file
    loaded = load_vggish_weights(path)
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    x = torch.randn(3, 1, 96, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x), vggish_random(x))
    same = load_vggish_weights(str(path), model=VGGish())
    assert torch.equal(same.embeddings[4].bias, vggish_random.embeddings[4].bias)


def test_load_vggish_weights_errors(tmp_path, vggish_random):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_vggish_weights(tmp_path / "nope.pth")
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"not a torch file at all")
    with pytest.raises(ValueError, match="corrupt.pth"):
        load_vggish_weights(corrupt)
    sd = {k: torch.zeros(1).expand(v.shape) for k, v in vggish_random.state_dict().items()}  # tiny on disk
    wrong = tmp_path / "wrong_keys.pth"
    torch.save({("vgg." + k): v for k, v in sd.items()}, wrong)
    with pytest.raises(ValueError, match=r"wrong_keys.pth.*missing \['embeddings.0.bias'"):
        load_vggish_weights(wrong)
    shape = tmp_path / "wrong_shape.pth"
    torch.save({**sd, "embeddings.4.bias": torch.zeros(64)}, shape)
    with pytest.raises(ValueError, match="wrong_shape.pth.*embeddings.4.bias"):
        load_vggish_weights(shape)
    not_dict = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], not_dict)
    with pytest.raises(ValueError, match="list.pth"):
        load_vggish_weights(not_dict)


def test_postprocess_pca_and_quantisation(tmp_path, vggish_random):
    rng = np.random.default_rng(3)
    vec, means = rng.standard_normal((128, 128)) * 0.1, rng.standard_normal(128)
    pca = tmp_path / "vggish_pca.pth"
    torch.save({"pca_eigen_vectors": vec, "pca_means": means}, pca)  # numpy arrays, like torchvggish's file
    model = VGGish(postprocess=True)
    model.load_state_dict(vggish_random.state_dict(), strict=False)
    load_vggish_pca(pca, model)
    x = torch.randn(2, 1, 96, 64)
    with torch.no_grad():
        raw = vggish_random(x).double().numpy()
        got = model(x).numpy()
    expect = np.round((np.clip((raw - means) @ vec.T, -2, 2) + 2) * (255 / 4))
    assert got.shape == (2, 128)
    np.testing.assert_allclose(got, expect, atol=1.0)  # float32 vs float64 may flip a .5 rounding
    assert (np.abs(got - expect) > 0).mean() < 0.02 and got.min() >= 0 and got.max() <= 255
    # a full state_dict with pproc.* keys round-trips through load_vggish_weights
    full = tmp_path / "full.pth"
    torch.save(
        {
            k: v.clone() if k.startswith("pproc") else torch.zeros(1).expand(v.shape)
            for k, v in model.state_dict().items()
        },
        full,
    )  # zeros stored as 1 number: small file
    model.load_state_dict(torch.load(full, weights_only=True))
    again = load_vggish_weights(full)
    assert again.postprocess and torch.equal(again(x), model(x))
    with pytest.raises(ValueError, match="postprocess"):
        load_vggish_weights(full, model=VGGish())


def test_matches_official_torchvggish_when_installed():
    """Cross-check with the real torchvggish (+ resampy) when present; skipped otherwise (not a
    dependency)."""
    pytest.importorskip("resampy")
    vggish_input = pytest.importorskip("torchvggish.vggish_input")
    for x in (_signals()["sweep"], _signals()["noise"]):
        official = vggish_input.waveform_to_examples(x, SR).detach().numpy()
        np.testing.assert_allclose(log_mel_examples(x, SR).numpy(), official, atol=1e-6, rtol=0)
    t = np.arange(int(2.5 * 44100)) / 44100
    x44 = 0.5 * np.sin(2 * np.pi * 1000 * t) + 0.05 * np.random.default_rng(5).standard_normal(t.size)
    official = vggish_input.waveform_to_examples(x44, 44100).detach().numpy()
    got = log_mel_examples(x44, 44100).numpy()
    assert got.shape == official.shape
    assert np.abs(got - official).max() < 1e-2 and np.abs(got - official).mean() < 1e-3
