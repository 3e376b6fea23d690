"""Audio encoder and projector: log-mel examples -> F_A (paper §3, "VGGish ... and a linear projector").

The paper encodes each 0.96-s log-mel example ``[96 frames x 64 mel bands]`` with VGGish (AudioSet
pre-trained, frozen: the official code runs it inside the data loader) into a 128-d vector, then
projects it with ``audio_proj`` = Linear(128, 512), ReLU, Linear(512, 256) [code]; the paper calls
it "a linear projector". Here the projector is ``audio_dim -> 2D -> D``.

``lite_cnn`` is a small trainable/pre-trainable log-mel CNN, the CPU stand-in for VGGish
(docs/feasibility.md §1, "4-conv CNN -> 128-d"). ``vggish`` uses ``stepstones_lite.audio.VGGish`` with
weights from ``stepstones_lite.audio.load_vggish_weights`` (imported lazily, so this module works without it).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .backbone import _load_local

__all__ = ["LiteAudioCNN", "PrecomputedAudio", "AudioProjector", "AudioEncoder", "build_audio_encoder"]


class LiteAudioCNN(nn.Module):
    """Four conv-BN-ReLU blocks with 2x2 pooling, global average pool, linear to ``out_dim``.

    Input ``[N, 1, 96, 64]`` log-mel (VGGish front end), output ``[N, out_dim]``.
    The first BatchNorm over the single input channel standardises log-mel values.
    """

    def __init__(self, out_dim: int = 128, widths: tuple[int, ...] = (16, 32, 64, 128)) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.BatchNorm2d(1)]
        cin = 1
        for w in widths:
            layers += [
                nn.Conv2d(cin, w, 3, padding=1, bias=False),
                nn.BatchNorm2d(w),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            cin = w
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, out_dim)
        self.out_dim = out_dim

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        x = self.features(log_mel)  # [N, w, 6, 4]
        return self.fc(x.mean(dim=(2, 3)))  # [N, out_dim]


class PrecomputedAudio(nn.Module):
    """``audio_encoder="precomputed"``: the input already is the ``[N, audio_dim]`` embedding (identity).

    The official code runs towhee's VGGish inside its data loader and feeds the model 128-d vectors
    (``avs|avss/dataset.py``, ``feat_aud``); this encoder lets a converted official model take those directly.
    """

    def __init__(self, audio_dim: int) -> None:
        super().__init__()
        self.out_dim = audio_dim

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        if emb.dim() != 2 or emb.shape[1] != self.out_dim:
            raise ValueError(
                f"precomputed audio embeddings must be [N, {self.out_dim}], got {tuple(emb.shape)}"
            )
        return emb


class AudioProjector(nn.Module):
    """``audio_proj`` of the official code: Linear(a, 2D), ReLU, Linear(2D, D) (paper: 128 -> 512 -> 256)."""

    def __init__(self, audio_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(audio_dim, 2 * hidden_dim), nn.ReLU(inplace=True), nn.Linear(2 * hidden_dim, hidden_dim)
        )

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return self.net(emb)  # [N, D]


class AudioEncoder(nn.Module):
    """Encoder (lite CNN or VGGish) + projector: ``[N, 1, 96, 64] -> F_A [N, D]``.

    With ``freeze=True`` the encoder's parameters are frozen and its BatchNorm stays in eval mode;
    the projector is always trainable.
    """

    def __init__(self, encoder: nn.Module, audio_dim: int, hidden_dim: int, freeze: bool = True) -> None:
        super().__init__()
        self.encoder = encoder
        self.projector = AudioProjector(audio_dim, hidden_dim)
        self.frozen = freeze
        self.audio_dim = audio_dim
        for p in encoder.parameters():
            p.requires_grad_(not freeze)

    def train(self, mode: bool = True) -> "AudioEncoder":
        super().train(mode)
        if self.frozen:
            self.encoder.eval()  # BatchNorm statistics (and any dropout) stay fixed
        return self

    @property
    def precomputed(self) -> bool:
        """True when the input is the embedding itself (``audio_encoder="precomputed"``)."""
        return isinstance(self.encoder, PrecomputedAudio)

    def embed(self, log_mel: torch.Tensor) -> torch.Tensor:
        """The encoder's embedding ``[N, audio_dim]`` (no projector); precomputed: the input
        ``[N, audio_dim]``."""
        if self.precomputed:
            return self.encoder(log_mel)
        if log_mel.dim() != 4 or log_mel.shape[1] != 1:
            raise ValueError(f"log_mel must be [N, 1, 96, 64], got {tuple(log_mel.shape)}")
        return self.encoder(log_mel)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        return self.projector(self.embed(log_mel))  # [N, D]


def build_audio_encoder(
    name: str = "lite_cnn",
    audio_dim: int = 128,
    hidden_dim: int = 64,
    weights: str | None = None,
    freeze: bool = True,
) -> AudioEncoder:
    """Build ``ModelConfig.audio_encoder``; encoder weights (state_dict) from a local file only."""
    if name == "lite_cnn":
        encoder: nn.Module = LiteAudioCNN(audio_dim)
    elif name == "precomputed":
        if weights:
            raise ValueError("audio_encoder='precomputed' has no weights; audio_weights must be None")
        return AudioEncoder(PrecomputedAudio(audio_dim), audio_dim, hidden_dim, freeze)
    elif name == "vggish":
        try:
            from stepstones_lite.audio import VGGish, load_vggish_weights  # lazy: the audio package
        except ImportError as err:
            raise ImportError(f"audio_encoder='vggish' needs stepstones_lite.audio.VGGish: {err}") from None
        if audio_dim != 128:
            raise ValueError(f"VGGish gives 128-d embeddings; ModelConfig.audio_dim is {audio_dim}")
        # torchvggish key layout, optional PCA post-processing; the audio package checks the file
        return AudioEncoder(
            load_vggish_weights(weights) if weights else VGGish(), audio_dim, hidden_dim, freeze
        )
    else:
        raise ValueError(f"unknown audio_encoder {name!r}; choose 'lite_cnn', 'vggish' or 'precomputed'")
    _load_local(encoder, weights, f"audio encoder {name!r}")
    return AudioEncoder(encoder, audio_dim, hidden_dim, freeze=freeze)
