"""The VGGish front end: waveform -> log-mel examples [n, 1, 96, 64], batched in torch.

Follows the official VGGish input pipeline (Hershey et al. 2017; tensorflow/models
``research/audioset/vggish``, ported to PyTorch as harritaylor/torchvggish and vendored by AVSBench in
``avs_scripts/*/torchvggish/{vggish_params,vggish_input,mel_features}.py``). Ideas and constants are taken
from those files; the code here is our own, vectorised for torch. Step by step (official behaviour in
brackets):

1. **Mono**: a 2-D input is averaged over its channel axis [official: ``np.mean(data, axis=1)``, i.e. it
   assumes soundfile's ``[L, C]`` layout]. We accept ``[C, L]`` too: the channel axis is the *shorter* axis;
   a square input follows the official ``[L, C]`` reading. Integer PCM is scaled by ``2**(bits-1)``
   (int16 / 32768 as ``wavfile_to_examples`` does).
2. **Resample to 16 kHz** [official: ``resampy.resample``, filter "kaiser_best"]. We apply the same
   windowed-sinc filter (50 zero crossings, rolloff 0.9173, Kaiser beta 12.98) exactly with scipy's polyphase
   ``resample_poly`` and keep resampy's output length ``floor(L * 16000 / sr)``. resampy reads its filter from
   an interpolated table, so non-16-kHz inputs can differ very slightly from the official numbers (see
   :func:`resample`); 16-kHz input skips this step (and matched torchvggish 0.2 bit for bit in our checks).
3. **STFT**: frames of 400 samples (25 ms) every 160 samples (10 ms), *no padding or centring*, so
   ``F = 1 + floor((N - 400) / 160)`` frames; periodic Hann window ``0.5 - 0.5 cos(2 pi k / 400)``; FFT length
   512 (next power of two; the frame is zero-padded at its end); magnitude ``|rfft|`` -> 257 bins.
   (``torch.stft`` would centre the 400-sample window inside the 512-sample frame and shift the frame grid,
   so we frame with ``unfold`` and call ``torch.fft.rfft`` instead.)
4. **Mel**: ``M = S @ W`` with ``W`` [257, 64] from ``spectrogram_to_mel_matrix``: HTK mel
   ``1127 ln(1 + f/700)``, 64 triangles whose 66 edges are equally spaced in mel between 125 and 7500 Hz,
   bin frequencies ``linspace(0, 8000, 257)``, each weight ``max(0, min(lower_slope, upper_slope))`` in the
   *mel* domain, no area normalisation, and the DC row forced to zero (HTK excludes the DC bin).
5. ``log(M + 0.01)`` (natural log).
6. **Examples**: non-overlapping windows of 96 frames (0.96 s, hop 96): ``n = 1 + floor((F - 96) / 96)``; the
   tail that does not fill 96 frames is dropped. Fewer than 96 frames (less than 15,600 samples = 0.975 s at
   16 kHz) gives ``n = 0`` and an empty ``[0, 1, 96, 64]`` tensor (the official code returns the same for
   ``240 <= N < 15600`` and raises for ``N < 240``; we return 0 examples for every short input).

The arithmetic runs in float64 (as numpy does in the official code) and the result is cast to float32: the
difference to the official output is at float32 rounding (measured <= 2.4e-7), whereas float32 arithmetic
gives ~1e-3 in quiet bands next to a loud tone or sweep (FFT round-off divided by the 0.01 log offset).

**Fitting to T examples** (:func:`fit_examples`): AVSBench S4/MS3 preprocessing pads clips with fewer than 5
examples by **repeating the last example** (``mode="repeat"``); the AVSS loader **zero-pads** to 10
(``mode="zero"``). Both only ever pad; for a clip with more than T examples we keep the first T (our choice,
the official code never meets that case for its clip lengths: 5 s -> 5 examples, 10 s -> 10).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import torch
from torch import nn

__all__ = [
    "VGGishParams",
    "PARAMS",
    "periodic_hann",
    "mel_matrix",
    "to_mono",
    "resample",
    "LogMelFrontEnd",
    "log_mel_spectrogram",
    "log_mel_examples",
    "fit_examples",
    "num_examples_for",
]


@dataclass(frozen=True)
class VGGishParams:
    """The VGGish front-end constants (``vggish_params.py``)."""

    sample_rate: int = 16000
    window_samples: int = 400  # 25 ms
    hop_samples: int = 160  # 10 ms
    fft_length: int = 512  # next power of two above 400
    num_mel_bins: int = 64
    mel_min_hz: float = 125.0
    mel_max_hz: float = 7500.0
    log_offset: float = 0.01
    example_frames: int = 96  # 0.96 s
    example_hop_frames: int = 96  # non-overlapping


PARAMS = VGGishParams()


def periodic_hann(window_length: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Periodic Hann window ``0.5 - 0.5 cos(2 pi k / N)``, k = 0..N-1 (Matlab's "periodic"). Returns [N]."""
    return torch.hann_window(window_length, periodic=True, dtype=dtype)


@lru_cache(maxsize=8)
def _mel_matrix_np(
    num_mel_bins: int, num_spectrogram_bins: int, sample_rate: int, lower_hz: float, upper_hz: float
) -> np.ndarray:
    nyquist = sample_rate / 2.0
    if not 0.0 <= lower_hz < upper_hz <= nyquist:
        raise ValueError(
            f"mel edges must satisfy 0 <= lower ({lower_hz}) < upper ({upper_hz}) <= Nyquist ({nyquist})"
        )

    def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
        return 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)  # HTK mel

    bins_mel = hz_to_mel(np.linspace(0.0, nyquist, num_spectrogram_bins))[:, None]  # [S, 1]
    edges = np.linspace(hz_to_mel(lower_hz), hz_to_mel(upper_hz), num_mel_bins + 2)  # [M+2]
    lo, mid, hi = edges[:-2][None], edges[1:-1][None], edges[2:][None]  # [1, M] each
    rising = (bins_mel - lo) / (mid - lo)  # [S, M]
    falling = (hi - bins_mel) / (hi - mid)  # [S, M]
    weights = np.maximum(0.0, np.minimum(rising, falling))  # [S, M]
    weights[0, :] = 0.0  # HTK quirk kept by VGGish: the DC bin never contributes
    weights.setflags(write=False)
    return weights


def mel_matrix(
    num_mel_bins: int = 64,
    num_spectrogram_bins: int = 257,
    sample_rate: int = 16000,
    lower_hz: float = 125.0,
    upper_hz: float = 7500.0,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """VGGish's ``spectrogram_to_mel_matrix`` (HTK mel triangles, DC row zeroed, no normalisation).

    Returns:
        W [num_spectrogram_bins, num_mel_bins] so that ``mel = magnitude @ W``.
    """
    w = _mel_matrix_np(num_mel_bins, num_spectrogram_bins, int(sample_rate), float(lower_hz), float(upper_hz))
    return torch.tensor(w, dtype=dtype)


def _as_float_tensor(waveform: torch.Tensor | np.ndarray) -> torch.Tensor:
    """numpy/torch, float or integer PCM -> float64 tensor (integers scaled to [-1, 1))."""
    if isinstance(waveform, np.ndarray):
        if waveform.dtype.kind in "iu":
            bits = waveform.dtype.itemsize * 8
            scale = float(2 ** (bits - 1))
            if waveform.dtype.kind == "u":  # unsigned PCM (8-bit WAV) is offset binary
                waveform = waveform.astype(np.float64) - scale
            return torch.from_numpy(np.ascontiguousarray(waveform, dtype=np.float64) / scale)
        if waveform.dtype.kind != "f":
            raise TypeError(f"waveform must be float or integer PCM, got numpy dtype {waveform.dtype}")
        return torch.from_numpy(np.ascontiguousarray(waveform, dtype=np.float64))
    if isinstance(waveform, torch.Tensor):
        if waveform.is_complex() or waveform.dtype == torch.bool:
            raise TypeError(f"waveform must be real float or integer PCM, got torch dtype {waveform.dtype}")
        if not waveform.is_floating_point():
            if waveform.dtype == torch.uint8:
                return (waveform.double() - 128.0) / 128.0
            bits = torch.iinfo(waveform.dtype).bits
            return waveform.double() / float(2 ** (bits - 1))
        return waveform.double() if waveform.device.type != "mps" else waveform.float()
    raise TypeError(f"waveform must be a torch.Tensor or numpy.ndarray, got {type(waveform).__name__}")


def to_mono(waveform: torch.Tensor) -> torch.Tensor:
    """[L] stays; [L, C] or [C, L] -> [L] by averaging the channel axis (the shorter; square = [L, C])."""
    if waveform.ndim == 1:
        return waveform
    if waveform.ndim != 2:
        raise ValueError(f"waveform must be [L], [L, C] or [C, L]; got shape {tuple(waveform.shape)}")
    channel_axis = 0 if waveform.shape[0] < waveform.shape[1] else 1
    return waveform.mean(dim=channel_axis)  # [L]


# resampy's "kaiser_best" filter, the one the official VGGish code gets from ``resampy.resample``: a windowed
# sinc h(t) = rolloff * sinc(rolloff * t) * kaiser(t / 50, beta), |t| <= 50 low-rate sample periods.
_RESAMPY_ROLLOFF = 0.9173473712608761
_RESAMPY_BETA = 12.984585292873839  # fitted to resampy's stored table (max error 3e-11)
_RESAMPY_ZEROS = 50


@lru_cache(maxsize=8)
def _resampy_like_filter(up: int, down: int) -> np.ndarray:
    """FIR at the up-sampled rate ``orig * up`` reproducing resampy kaiser_best, unit DC gain. [100P + 1]"""
    period = max(up, down)  # up-sampled samples per period of the lower of the two rates
    n = np.arange(-_RESAMPY_ZEROS * period, _RESAMPY_ZEROS * period + 1)
    taper = np.kaiser(n.size, _RESAMPY_BETA)
    return (_RESAMPY_ROLLOFF / period) * np.sinc(_RESAMPY_ROLLOFF * n / period) * taper


def resample(waveform: torch.Tensor, orig_sr: int, target_sr: int = 16000) -> torch.Tensor:
    """Resample a [..., L] waveform like ``resampy.resample(x, orig_sr, target_sr)`` (filter "kaiser_best").

    Idea from resampy (windowed-sinc band-limited interpolation); here the same filter is applied exactly with
    scipy's polyphase ``resample_poly``, and the output keeps resampy's length ``floor(L * target / orig)``.
    resampy reads its filter from a linearly interpolated table and, when down-sampling, steps through it with
    a rounded stride, so results are not bit-identical. Measured against resampy 0.4.3 + torchvggish on 4-s
    tones, sweeps and noise: waveform max |diff| ~3e-7 for 8/11.025/32 kHz and 1e-5..1e-3 for 22.05/44.1/48
    kHz; log-mel max |diff| <= 5e-3 in bands above the log floor (mean <= 3e-3), up to ~0.1 in near-silent
    bands.
    Same device/dtype back; computed in float64 on the CPU (about 100x real time for 44.1 kHz on one core).
    """
    from scipy.signal import resample_poly

    if isinstance(orig_sr, bool) or int(orig_sr) != orig_sr or orig_sr <= 0:
        raise ValueError(f"sample_rate must be a positive integer, got {orig_sr!r}")
    orig_sr, target_sr = int(orig_sr), int(target_sr)
    if orig_sr == target_sr:
        return waveform
    g = math.gcd(orig_sr, target_sr)
    up, down = target_sr // g, orig_sr // g
    n_out = waveform.shape[-1] * target_sr // orig_sr  # resampy's length (floor)
    x = waveform.detach().cpu().double().numpy()
    if x.shape[-1] == 0 or n_out == 0:
        out = np.zeros((*x.shape[:-1], n_out))
    else:
        out = resample_poly(x, up, down, axis=-1, window=_resampy_like_filter(up, down))[..., :n_out]
    return torch.from_numpy(np.ascontiguousarray(out)).to(device=waveform.device, dtype=waveform.dtype)


def num_examples_for(num_samples: int, params: VGGishParams = PARAMS) -> int:
    """How many 0.96-s examples a 16-kHz waveform of ``num_samples`` gives (0 when too short)."""
    if num_samples < params.window_samples:
        return 0
    frames = 1 + (num_samples - params.window_samples) // params.hop_samples
    if frames < params.example_frames:
        return 0
    return 1 + (frames - params.example_frames) // params.example_hop_frames


class LogMelFrontEnd(nn.Module):
    """Batched VGGish log-mel front end for 16-kHz waveforms; buffers hold the window and mel matrix.

    ``forward(wave [B, L])`` -> examples [B, n, 1, 96, 64] float32 (use :func:`log_mel_examples` for one clip
    with any sample rate / channel layout).
    """

    def __init__(self, params: VGGishParams = PARAMS) -> None:
        super().__init__()
        self.params = params
        n_bins = params.fft_length // 2 + 1
        self.register_buffer("window", periodic_hann(params.window_samples), persistent=False)  # [400]
        mel = mel_matrix(
            params.num_mel_bins, n_bins, params.sample_rate, params.mel_min_hz, params.mel_max_hz
        )  # [257, 64]
        used = torch.nonzero(mel.sum(dim=1) > 0).flatten()  # FFT bins inside 125..7500 Hz (5..239 at 16 kHz)
        self.bin_lo, self.bin_hi = int(used[0]), int(used[-1]) + 1
        self.register_buffer("mel", mel, persistent=False)  # [257, 64]
        # transposed, only the bins with a non-zero weight: [64, K] @ [K, F] is the fast BLAS orientation
        mel_t = mel[self.bin_lo : self.bin_hi].T.contiguous()  # [64, K]
        self.register_buffer("mel_t", mel_t, persistent=False)

    def spectrogram(self, wave: torch.Tensor) -> torch.Tensor:
        """Log-mel spectrogram of [..., L] 16-kHz audio -> [..., F, 64] in the compute dtype."""
        p = self.params
        dtype = torch.float32 if wave.device.type == "mps" else torch.float64  # MPS has no float64
        wave = wave.to(dtype)
        if wave.shape[-1] < p.window_samples:  # not one full STFT frame
            return wave.new_zeros(*wave.shape[:-1], 0, p.num_mel_bins)
        frames = wave.unfold(-1, p.window_samples, p.hop_samples)  # [..., F, 400] (no copy)
        window = self.window.to(device=wave.device, dtype=dtype)
        padded = wave.new_zeros(*frames.shape[:-1], p.fft_length)  # [..., F, 512], zero tail = FFT padding
        torch.mul(frames, window, out=padded[..., : p.window_samples])  # windowed frames, no extra pad copy
        spec = torch.fft.rfft(padded)[..., self.bin_lo : self.bin_hi].abs()  # [..., F, K] magnitudes
        mel_t = self.mel_t.to(device=wave.device, dtype=dtype)  # [64, K]
        mel = torch.matmul(mel_t, spec.transpose(-1, -2)).transpose(-1, -2)  # [..., F, 64] = |rfft| @ W
        return torch.log(mel + p.log_offset)  # [..., F, 64]

    def frame_examples(self, log_mel: torch.Tensor) -> torch.Tensor:
        """[..., F, 64] -> [..., n, 96, 64]: non-overlapping 96-frame examples, tail dropped."""
        p = self.params
        if log_mel.shape[-2] < p.example_frames:
            return log_mel.new_zeros(*log_mel.shape[:-2], 0, p.example_frames, log_mel.shape[-1])
        ex = log_mel.unfold(-2, p.example_frames, p.example_hop_frames)  # [..., n, 64, 96]
        return ex.transpose(-1, -2)  # [..., n, 96, 64]

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """wave [B, L] (16 kHz, float in [-1, 1]) -> examples [B, n, 1, 96, 64] float32."""
        ex = self.frame_examples(self.spectrogram(wave))  # [B, n, 96, 64]
        return ex.unsqueeze(-3).to(torch.float32).contiguous()  # [B, n, 1, 96, 64]


@lru_cache(maxsize=1)
def _default_front_end() -> LogMelFrontEnd:
    return LogMelFrontEnd()


def log_mel_spectrogram(waveform: torch.Tensor | np.ndarray, sample_rate: int = 16000) -> torch.Tensor:
    """The full-length VGGish log-mel spectrogram (before framing into examples).

    Args:
        waveform: mono [L] or multi-channel [L, C] / [C, L] audio, float in [-1, 1] or integer PCM.
        sample_rate: its rate in Hz (resampled to 16 kHz when different).
    Returns:
        [F, 64] float32 with ``F = 1 + floor((N16k - 400) / 160)`` (0 rows when shorter than 400 samples).
    """
    wave = _prepare(waveform, sample_rate)  # [L16k]
    return _default_front_end().spectrogram(wave).to(torch.float32)  # [F, 64]


def _prepare(waveform: torch.Tensor | np.ndarray, sample_rate: int) -> torch.Tensor:
    wave = to_mono(_as_float_tensor(waveform))  # [L]
    return resample(wave, sample_rate, PARAMS.sample_rate)  # [L16k]


def fit_examples(
    examples: torch.Tensor, num_examples: int, mode: Literal["repeat", "zero"] = "repeat"
) -> torch.Tensor:
    """Pad or trim examples [n, ...] to exactly ``num_examples`` rows, as AVSBench does.

    Args:
        examples: [n, 1, 96, 64] (any trailing shape works).
        num_examples: wanted T (5 for S4/MS3 and v1s/v1m, 10 for v2 / AVSS batches).
        mode: ``"repeat"`` repeats the last example (AVSBench S4/MS3 ``.pkl`` preprocessing, Stepping Stones'
            v1s padding); ``"zero"`` appends zeros (AVSBench AVSS on-the-fly path). With ``n == 0`` there is
            no last example, so ``"repeat"`` falls back to zeros.
    Returns:
        [num_examples, ...]; the first ``num_examples`` rows are kept when ``n > num_examples``.
    """
    if num_examples < 0:
        raise ValueError(f"num_examples must be >= 0, got {num_examples}")
    if mode not in ("repeat", "zero"):
        raise ValueError(f"mode must be 'repeat' or 'zero', got {mode!r}")
    n = examples.shape[0]
    if n >= num_examples:
        return examples[:num_examples]
    missing = num_examples - n
    if mode == "repeat" and n > 0:
        pad = examples[-1:].expand(missing, *examples.shape[1:])  # [missing, ...]
    else:
        pad = examples.new_zeros(missing, *examples.shape[1:])  # [missing, ...]
    return torch.cat([examples, pad], dim=0)  # [T, ...]


def log_mel_examples(
    waveform: torch.Tensor | np.ndarray,
    sample_rate: int = 16000,
    num_examples: int | None = None,
    pad: Literal["repeat", "zero"] = "repeat",
) -> torch.Tensor:
    """VGGish input examples of one clip, equal to the official ``waveform_to_examples`` (float32 rounding).

    Args:
        waveform: mono [L], or multi-channel [L, C] / [C, L] (channels averaged; the channel axis is the
            shorter one, a square array is read as [L, C] like the official code); float in [-1, 1] or
            integer PCM (int16 divided by 32768). numpy or torch (the result lands on the tensor's device).
        sample_rate: rate of ``waveform`` in Hz; anything but 16000 is resampled (resampy's kaiser_best
            filter, applied with scipy's polyphase resampler).
        num_examples: if given, pad/trim to this many examples with :func:`fit_examples`.
        pad: padding rule for ``num_examples`` (``"repeat"`` = AVSBench S4/MS3, ``"zero"`` = AVSBench AVSS).
    Returns:
        [n, 1, 96, 64] float32 log-mel examples, ``n = floor((F - 96) / 96) + 1`` (0 for clips < 0.975 s).
    """
    wave = _prepare(waveform, sample_rate)  # [L16k]
    examples = _default_front_end()(wave[None])[0]  # [n, 1, 96, 64]
    if num_examples is not None:
        examples = fit_examples(examples, num_examples, mode=pad)
    return examples
