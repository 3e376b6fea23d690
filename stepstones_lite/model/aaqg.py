"""Adaptive Audio Query Generator (AAQG), paper §3.1, Eq. 1.

    Q_a^i(t) = cos(P_audio^i, F_A(t)) * F_A(t) + Q_obj^i

per query i and frame t (official code: ``cosine_similarity(queries_embedder.weight, F_A)`` gives
[Nq, T]; each frame's queries are conditioned on that frame's 1-s audio). The prototypes P_audio double
as the query positional embedding in every attention, so the module adds no parameters besides the audio
projector. Ablation baselines (paper Tab. 3): ``repeat_audio`` adds the same F_A(t) to every query
("origin audio query"); ``none`` gives plain Mask2Former queries (no audio at all).

Initialisation (docs/feasibility.md §4): with ``nn.Embedding``'s default std 1, |Q_obj| ~ sqrt(D) (7.7 at
D = 64) while |cos * F_A| is ~0.07 at init (random prototypes give |cos| ~ 1/sqrt(D)), so audio is ~1 % of
the query. We initialise Q_obj and P_audio with std ``ModelConfig.query_init_std`` (default 0.02, the usual
transformer init): measured on the classroom model at init, |Q_obj| ~ 0.16 vs |cos * F_A| ~ 0.08, the same
order. The cosine does not depend on |P_audio|, so Eq. 1 itself is unchanged. Caveat: docs/feasibility.md §4
saw no stage-1 difference from this init at 500 steps, and its round 3 (§R3.2) found the trainable projector
grows the audio term to ~47 % of |Q_obj| by itself; the init only removes the slow start.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["audio_aware_queries", "QueryGenerator", "QUERY_MODES"]

QUERY_MODES = ("aaqg", "repeat_audio", "none")


def audio_aware_queries(
    prototypes: torch.Tensor, audio: torch.Tensor, object_queries: torch.Tensor
) -> torch.Tensor:
    """Paper Eq. 1: ``cos(P_i, F_A,t) * F_A,t + Q_obj,i`` for every frame t and query i.

    Args:
        prototypes: P_audio ``[Nq, D]``.
        audio: projected audio F_A ``[T, D]`` (one vector per frame).
        object_queries: Q_obj ``[Nq, D]``.
    Returns:
        ``[T, Nq, D]`` audio-aware queries.
    """
    sim = F.cosine_similarity(prototypes[None, :, :], audio[:, None, :], dim=-1)  # [T, Nq]
    return sim[..., None] * audio[:, None, :] + object_queries[None]  # [T, Nq, D]


class QueryGenerator(nn.Module):
    """Holds Q_obj (``query_feat``) and P_audio (``query_embed``) and builds the decoder's initial queries.

    forward(audio F_A [N, D]) -> (tgt [N, Q, D], query_pos [N, Q, D], similarity [N, Q] = cos(P, F_A))
    """

    def __init__(self, num_queries: int, dim: int, mode: str = "aaqg", init_std: float = 0.02) -> None:
        super().__init__()
        if mode not in QUERY_MODES:
            raise ValueError(f"unknown query_mode {mode!r}; choose one of {QUERY_MODES}")
        self.mode = mode
        self.query_feat = nn.Embedding(num_queries, dim)  # Q_obj
        self.query_embed = nn.Embedding(num_queries, dim)  # P_audio, also the query positional embedding
        nn.init.normal_(self.query_feat.weight, std=init_std)
        nn.init.normal_(self.query_embed.weight, std=init_std)

    def similarity(self, audio: torch.Tensor) -> torch.Tensor:
        """``cos(P_audio, F_A)``: ``[N, D] -> [N, Q]``."""
        return F.cosine_similarity(self.query_embed.weight[None], audio[:, None, :], dim=-1)  # [N, Q]

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n = audio.shape[0]
        p, q = self.query_embed.weight, self.query_feat.weight  # [Q, D]
        if self.mode == "aaqg":
            tgt = audio_aware_queries(p, audio, q)  # [N, Q, D]
        elif self.mode == "repeat_audio":
            tgt = q[None] + audio[:, None, :]  # [N, Q, D]
        else:
            tgt = q[None].expand(n, -1, -1)  # [N, Q, D]
        return tgt, p[None].expand(n, -1, -1), self.similarity(audio)
