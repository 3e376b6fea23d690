"""A compact TPAVI baseline (AVSBench, Zhou et al. ECCV 2022; docs/avsbench.md §6), same inputs as AAVS.

The AVSBench baseline is a per-pixel segmentation network, not a query-based one:

* encoder stages (strides 4/8/16/32) -> a 3x3 conv to D channels each (the official code uses an
  ASPP-like sum of four dilated 3x3 convs, 35 M parameters at ResNet-50 scale; one conv here);
* **TPAVI** at every stage: a non-local block in "dot" mode over the clip volume ``[B, D, T, h, w]``;
  audio ``a_t`` (projected to D) is broadcast over its frame; ``theta(x)``, ``phi(a)``, ``g(x)`` are 1x1
  projections to D/2, the affinity is ``theta^T phi / (T h w)`` (no softmax), ``y = f g``, and
  ``z = x + W_z(y)`` (W_z zero-initialised, so the block starts as the identity), then LayerNorm over
  channels. Because there is no softmax, ``y = theta (phi^T g) / (T h w)`` is computed right to left,
  so the (T h w)^2 affinity (about 1 GB per clip in the official code) is never formed;
* a DPT-style top-down decoder (residual conv units, x2 bilinear upsampling) and a head
  conv3x3 D -> D/2, x2, conv3x3 -> 32, ReLU, conv1x1 -> C.

Output convention (for the trainer): ``forward(...)["sem_logits"]`` is ``[N, C, H, W]`` per-pixel class
logits at the input resolution, background included as class 0 (stage 1: C = 2 {background, sounding},
train with softmax cross-entropy and predict ``argmax``; AVSS: C = 71). AVSBench itself uses one sigmoid
channel for S4/MS3; two softmax channels are equivalent and share the AAVS label convention.

Optional prior (paper Tab. 2, "w/ SS": the stage-1 mask fused into the prediction head): with
``use_prior`` the prior ``[N, H, W]`` is resized bilinearly and added to every channel of the head's input.
Frames are grouped into clips of ``num_frames`` consecutive frames (N must be a multiple of it).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import ModelConfig
from .aavs import IMAGENET_MEAN, IMAGENET_STD
from .audio_encoder import AudioEncoder, build_audio_encoder
from .backbone import FEATURE_KEYS, Backbone, build_backbone
from .prior import fuse_prior

__all__ = ["TPAVI", "TPAVIModel", "build_tpavi"]


class TPAVI(nn.Module):
    """Temporal pixel-wise audio-visual interaction (non-local "dot" mode), one feature level.

    forward(x [B, D, T, h, w], audio [B, T, D]) -> [B, D, T, h, w]
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        inner = max(1, dim // 2)
        self.theta, self.g = nn.Conv3d(dim, inner, 1), nn.Conv3d(dim, inner, 1)
        self.phi = nn.Linear(dim, inner)
        self.w_z = nn.Sequential(nn.Conv3d(inner, dim, 1), nn.BatchNorm3d(dim))
        nn.init.zeros_(self.w_z[1].weight)
        nn.init.zeros_(self.w_z[1].bias)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        b, d, t, h, w = x.shape
        theta = self.theta(x).flatten(2)  # [B, d', L]  with L = T h w
        g = self.g(x).flatten(2)  # [B, d', L]
        phi = self.phi(audio)  # [B, T, d'], broadcast over each frame's h w
        g_t = g.view(b, -1, t, h * w).sum(-1)  # [B, d', T]: sum_hw g
        phi_g = torch.einsum("btc,bet->bce", phi, g_t)  # [B, d', d'] = sum_L phi_l g_l^T
        y = torch.einsum("bcl,bce->bel", theta, phi_g) / (t * h * w)  # [B, d', L]
        z = x + self.w_z(y.view(b, -1, t, h, w))  # [B, D, T, h, w]
        return self.norm(z.movedim(1, -1)).movedim(-1, 1)


class _ResidualConvUnit(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(dim, dim, 3, padding=1), nn.Conv2d(dim, dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.c2(F.relu(self.c1(F.relu(x))))


class _FusionBlock(nn.Module):
    """DPT feature fusion: (coarse + RCU(skip)) -> RCU -> x2 bilinear."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.rcu1, self.rcu2 = _ResidualConvUnit(dim), _ResidualConvUnit(dim)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if skip is not None:
            x = x + self.rcu1(skip)
        return F.interpolate(self.rcu2(x), scale_factor=2.0, mode="bilinear", align_corners=True)


class TPAVIModel(nn.Module):
    """The AVSBench baseline at our sizes. See the module docstring for the output convention."""

    def __init__(
        self,
        backbone: Backbone,
        audio_encoder: AudioEncoder,
        dim: int,
        num_classes: int,
        num_frames: int,
        use_prior: bool = False,
    ) -> None:
        super().__init__()
        self.backbone, self.audio_encoder = backbone, audio_encoder
        self.num_frames, self.use_prior, self.num_classes = num_frames, use_prior, num_classes
        ch = backbone.feature_channels
        self.reduce = nn.ModuleDict({k: nn.Conv2d(ch[k], dim, 3, padding=1) for k in FEATURE_KEYS})
        self.tpavi = nn.ModuleDict({k: TPAVI(dim) for k in FEATURE_KEYS})
        self.fuse = nn.ModuleDict({k: _FusionBlock(dim) for k in FEATURE_KEYS})
        self.head = nn.Sequential(
            nn.Conv2d(dim, dim // 2, 3, padding=1),
            nn.Upsample(scale_factor=2.0, mode="bilinear"),
            nn.Conv2d(dim // 2, 32, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, num_classes, 1),
        )
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(
        self,
        frames: torch.Tensor,
        log_mel: torch.Tensor,
        prior: torch.Tensor | None = None,
        return_attn: bool = False,
    ) -> dict[str, Any]:
        """frames ``[N,3,H,W]`` in [0,1], log_mel ``[N,1,96,64]``, prior ``[N,H,W]`` ->
        ``{"sem_logits": [N,C,H,W]}``."""
        n = frames.shape[0]
        t = self.num_frames if n % self.num_frames == 0 else n
        if (prior is None) == self.use_prior:
            raise ValueError("pass a prior exactly when the model was built with use_prior=True")
        x = (frames - self.pixel_mean) / self.pixel_std
        feats = self.backbone(x)
        audio = self.audio_encoder(log_mel).view(n // t, t, -1)  # [B, T, D]
        levels = {}
        for k in FEATURE_KEYS:
            v = self.reduce[k](feats[k])  # [N, D, h, w]
            vol = v.view(n // t, t, *v.shape[1:]).transpose(1, 2)  # [B, D, T, h, w]
            levels[k] = self.tpavi[k](vol, audio).transpose(1, 2).reshape_as(v)  # [N, D, h, w]
        y = self.fuse["res5"](levels["res5"])  # stride 16
        for k in ("res4", "res3", "res2"):
            y = self.fuse[k](
                y,
                F.interpolate(levels[k], size=y.shape[-2:], mode="bilinear", align_corners=False)
                if levels[k].shape[-2:] != y.shape[-2:]
                else levels[k],
            )
        # y: [N, D, H/2, W/2]
        if prior is not None:
            y = fuse_prior(y, prior)
        logits = self.head(y)  # [N, C, H, W]
        if logits.shape[-2:] != frames.shape[-2:]:
            logits = F.interpolate(logits, size=frames.shape[-2:], mode="bilinear", align_corners=False)
        return {"sem_logits": logits}


def build_tpavi(
    cfg: ModelConfig, *, num_classes: int, num_frames: int = 5, use_prior: bool = False
) -> TPAVIModel:
    """The TPAVI baseline with the same backbone / audio encoder settings as AAVS (``cfg``)."""
    backbone = build_backbone(
        cfg.backbone,
        cfg.backbone_channels,
        cfg.backbone_weights,
        cfg.freeze_backbone,
        cfg.adapters,
        img_size=cfg.backbone_img_size,
        adapter_placement=cfg.adapter_placement,
        adapter_reduction=cfg.adapter_reduction,
    )
    audio = build_audio_encoder(
        cfg.audio_encoder, cfg.audio_dim, cfg.hidden_dim, cfg.audio_weights, cfg.freeze_audio
    )
    return TPAVIModel(backbone, audio, cfg.hidden_dim, num_classes, num_frames, use_prior)
