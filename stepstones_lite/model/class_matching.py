"""Class-aware audio-visual matching ("clsim"), a labelled DEVIATION (docs/feasibility.md §R3.2).

Not in Stepping Stones / AAVS. docs/feasibility.md §R3 found that a paper-faithful stage 1 at classroom cost
does not learn *which* object the audio matches from binary masks (FP on silent objects); matching the
frozen pretrained stand-ins' class posteriors fixes most of it (+0.11 binary mIoU at 1200 steps). It only
works because the visual and audio stand-ins are trained on the same label space, which VGGish/AudioSet
and ADE20k-Swin are not -- hence a deviation, off by default (``ModelConfig.class_matching``).

Per pixel: ``s = cos(theta(P_vis(c | pixel)), phi(P_aud(c)))`` with learned ``theta: Cv -> k`` (1x1 conv) and
``phi: Ca -> k``; ``s * e_l`` (learned ``e_l`` in R^D, zero-initialised so the switch starts as the
paper-faithful model) is added to each decoder memory (1/32, 1/16, 1/8) and to the mask features.
P_vis comes from :class:`DenseClassHead` on the frozen backbone features and P_aud = sigmoid of a linear
audio head on the frozen audio embedding; both heads are frozen (load them from the pre-training weights
with :meth:`ClassMatching.load_heads`). Differences from the r3 prototype: the map is added to the pixel
decoder's outputs rather than its 4 laterals, and P_aud is not concatenated to the projector input.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .backbone import FEATURE_KEYS

__all__ = ["DenseClassHead", "ClassMatching"]


class DenseClassHead(nn.Module):
    """A light FPN head: backbone features (res2..res5) -> class logits ``[N, C, H/4, W/4]``.

    The same layout as ``stepstones_lite.train.pretrain.DenseHead`` (keys ``lateral.res2..res5``, ``out.0``,
    ``out.2``; width 48, nearest upsampling), so the pre-training head's state_dict loads into it.
    """

    def __init__(self, channels: dict[str, int], num_classes: int, width: int = 48) -> None:
        super().__init__()
        self.lateral = nn.ModuleDict({k: nn.Conv2d(channels[k], width, 1) for k in FEATURE_KEYS})
        self.out = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(width, num_classes, 1)
        )

    def forward(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        y = self.lateral["res5"](feats["res5"])
        for k in ("res4", "res3", "res2"):
            lat = self.lateral[k](feats[k])  # [N, w, h, w]
            y = lat + F.interpolate(y, size=lat.shape[-2:], mode="nearest")
        return self.out(y)  # [N, C, H/4, W/4]


class ClassMatching(nn.Module):
    """clsim (deviation): per-pixel cosine between visual and audio class posteriors, written into features.

    forward(feats, audio_emb [N, A], memories, mask_features) -> (memories, mask_features, sim [N, H/4, W/4])
    """

    def __init__(
        self,
        channels: dict[str, int],
        audio_dim: int,
        dim: int,
        vis_classes: int,
        aud_classes: int,
        inner: int = 32,
        num_levels: int = 3,
    ) -> None:
        super().__init__()
        self.vis_head = DenseClassHead(channels, vis_classes)
        self.aud_head = nn.Linear(audio_dim, aud_classes)
        for p in list(self.vis_head.parameters()) + list(self.aud_head.parameters()):
            p.requires_grad_(False)
        self.theta = nn.Conv2d(vis_classes, inner, 1)
        self.phi = nn.Linear(aud_classes, inner)
        self.e = nn.Parameter(torch.zeros(num_levels + 1, dim))  # per memory level + mask features

    def load_heads(self, vis_head_state: dict, aud_head_state: dict) -> None:
        """Load the frozen heads from the encoders' pre-training (state_dicts of the two heads)."""
        self.vis_head.load_state_dict(vis_head_state)
        self.aud_head.load_state_dict(aud_head_state)

    def similarity(self, feats: dict[str, torch.Tensor], audio_emb: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            p_vis = self.vis_head(feats).softmax(1)  # [N, Cv, H/4, W/4]
            p_aud = self.aud_head(audio_emb).sigmoid()  # [N, Ca]
        v = self.theta(p_vis)  # [N, k, H/4, W/4]
        a = self.phi(p_aud)[:, :, None, None]  # [N, k, 1, 1]
        return F.cosine_similarity(v, a.expand_as(v), dim=1)  # [N, H/4, W/4]

    def forward(self, feats, audio_emb, memories, mask_features):
        sim = self.similarity(feats, audio_emb)[:, None]  # [N, 1, H/4, W/4]
        targets = list(memories) + [mask_features]
        out = []
        for i, x in enumerate(targets):
            s = F.interpolate(sim, size=x.shape[-2:], mode="bilinear", align_corners=False)  # [N, 1, h, w]
            out.append(x + s * self.e[i][None, :, None, None])
        return out[:-1], out[-1], sim[:, 0]
