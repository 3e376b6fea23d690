"""Stage-2 use of the stage-1 mask prior M ("stepping stones"), paper §3.2; official ``avss/`` code.

Three mechanisms, each behind its own ``ModelConfig`` switch (paper Tab. 4 / Supp. Tab. E3 ablations),
declared once in :data:`PRIOR_MODULES` (the study's ablation arms derive from it):

1. :func:`fuse_prior` (``mask_fusion``) -- M resized bilinearly to the mask-feature size and **added to
   every channel** of F_V^1 before the mask predictor.
2. :func:`prior_attention_mask` (``prior_attention``) -- the first decoder layer's attention mask is
   replaced by M resized bilinearly to the 1/32 scale, blocked where ``< 0.5``; the same for all queries
   and heads (an empty prior blocks everything, and the fully-blocked-row rule then opens it).
3. :class:`RobustKeys` (``robust_keys``, Eq. 4) -- learnable E_silent / E_uncertain / E_sounding; at
   each decoder scale every pixel of the resized M picks E_silent if ``M <= tau_silent``, E_sounding if
   ``M >= tau_sounding``, else E_uncertain, and the embedding is added to the **key** positional embedding
   (not the values). **[paper]** writes strict ``< tau_1`` / ``> tau_2`` and gives no values; **[code]**
   uses inclusive 0.4 / 0.6, which we follow.

M is ``[N, H, W]`` in [0, 1] (GT binary masks in training, stage-1 predictions at test).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "resize_prior",
    "fuse_prior",
    "prior_attention_mask",
    "RobustKeys",
    "SILENT",
    "UNCERTAIN",
    "SOUNDING",
    "PriorModule",
    "PRIOR_MODULES",
    "ablation_arms",
]

SILENT, UNCERTAIN, SOUNDING = 0, 1, 2


@dataclass(frozen=True)
class PriorModule:
    """One stage-2 prior module, declared once: its ``ModelConfig`` switch, the name of its ablation arm
    (``stage2_no_<arm>`` in the study), its name in words and where the paper has it."""

    switch: str
    arm: str
    title: str
    paper: str


# the stage-2 prior modules, in the paper's order; the study's ablation arms, tables and README derive from it
PRIOR_MODULES: tuple[PriorModule, ...] = (
    PriorModule("mask_fusion", "fusion", "mask fusion", "§3.2, Tab. 4"),
    PriorModule("prior_attention", "prior_attention", "prior attention", "§3.2, Supp. Tab. E3"),
    PriorModule("robust_keys", "robust_keys", "robust keys", "§3.2 Eq. 4, Tab. 4"),
)


def ablation_arms() -> dict[str, dict[str, bool]]:
    """The study's stage-2 ablations as profile overrides: each module off alone, then all of them off
    (``stage2_no_prior_modules``: the stage-2 model that reads no prior, end-to-end's model and schedule)."""
    arms = {f"stage2_no_{m.arm}": {f"model__{m.switch}": False} for m in PRIOR_MODULES}
    arms["stage2_no_prior_modules"] = {f"model__{m.switch}": False for m in PRIOR_MODULES}
    return arms


def resize_prior(prior: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize (``align_corners=False``): ``[N, H, W] -> [N, h, w]``."""
    if prior.dim() != 3:
        raise ValueError(f"prior must be [N, H, W], got {tuple(prior.shape)}")
    return F.interpolate(prior[:, None].float(), size=tuple(size), mode="bilinear", align_corners=False)[:, 0]


def fuse_prior(mask_features: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """Mask fusion: ``F_V^1 [N, D, h, w] + resize(M) [N, 1, h, w]`` (added to all D channels)."""
    m = resize_prior(prior, mask_features.shape[-2:]).to(mask_features.dtype)  # [N, h, w]
    return mask_features + m[:, None]  # [N, D, h, w]


def prior_attention_mask(prior: torch.Tensor, size: tuple[int, int], num_queries: int) -> torch.Tensor:
    """Layer-0 attention mask from M: ``[N, H, W] -> blocked [N, Q, h*w]`` (True where ``resize(M) < 0.5``).

    The same for every query (and head); fully blocked rows are unblocked later by the decoder.
    """
    m = resize_prior(prior, size)  # [N, h, w]
    blocked = (m < 0.5).flatten(1)  # [N, h*w]
    return blocked[:, None, :].expand(-1, num_queries, -1)  # [N, Q, h*w]


class RobustKeys(nn.Module):
    """Robust audio-aware key generator (Eq. 4): per-pixel E_silent / E_uncertain / E_sounding.

    forward(prior [N, H, W], sizes [(h_l, w_l)]) -> (embeddings: list of [N, D, h_l, w_l],
    states: list of [N, h_l, w_l] long in {SILENT=0, UNCERTAIN=1, SOUNDING=2}).
    """

    def __init__(self, dim: int, tau_silent: float = 0.4, tau_sounding: float = 0.6) -> None:
        super().__init__()
        if not 0.0 <= tau_silent < tau_sounding <= 1.0:
            raise ValueError(f"need 0 <= tau_silent < tau_sounding <= 1, got {tau_silent}, {tau_sounding}")
        self.embed = nn.Embedding(3, dim)  # rows: E_silent, E_uncertain, E_sounding
        self.tau_silent, self.tau_sounding = tau_silent, tau_sounding

    def states(self, prior_resized: torch.Tensor) -> torch.Tensor:
        """``[N, h, w]`` prior values -> state ids (inclusive thresholds, as the code)."""
        s = torch.full_like(prior_resized, UNCERTAIN, dtype=torch.long)
        s[prior_resized <= self.tau_silent] = SILENT
        s[prior_resized >= self.tau_sounding] = SOUNDING
        return s  # [N, h, w]

    def forward(self, prior: torch.Tensor, sizes: list[tuple[int, int]]):
        embeds, states = [], []
        for size in sizes:
            s = self.states(resize_prior(prior, size))  # [N, h, w]
            states.append(s)
            embeds.append(self.embed(s).permute(0, 3, 1, 2))  # [N, D, h, w]
        return embeds, states
