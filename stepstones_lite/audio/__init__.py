"""Audio: the VGGish log-mel front end and the VGGish network (AVSBench / Stepping Stones audio path).

``log_mel_examples(waveform, sample_rate)`` -> [n, 1, 96, 64] reproduces the official VGGish input pipeline;
``VGGish`` maps those examples to 128-d embeddings and loads a local torchvggish ``state_dict`` with
``load_vggish_weights`` (nothing is ever downloaded).
"""

from .frontend import (
    PARAMS,
    LogMelFrontEnd,
    VGGishParams,
    fit_examples,
    log_mel_examples,
    log_mel_spectrogram,
    mel_matrix,
    num_examples_for,
    periodic_hann,
    resample,
    to_mono,
)
from .vggish import EMBEDDING_SIZE, VGGish, VGGishPostprocessor, load_vggish_pca, load_vggish_weights

__all__ = [
    "PARAMS",
    "VGGishParams",
    "LogMelFrontEnd",
    "log_mel_examples",
    "log_mel_spectrogram",
    "fit_examples",
    "num_examples_for",
    "mel_matrix",
    "periodic_hann",
    "resample",
    "to_mono",
    "VGGish",
    "VGGishPostprocessor",
    "load_vggish_weights",
    "load_vggish_pca",
    "EMBEDDING_SIZE",
]
