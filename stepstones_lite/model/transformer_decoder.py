"""Masked-attention transformer decoder (Mask2Former, Cheng et al. CVPR 2022; paper §3.1).

Official-code structure (docs/paper_and_code.md §1.5): a query-only initial prediction, then ``L`` layers
cycling over the memories at 1/32 -> 1/16 -> 1/8 (``level = i % 3``). Each layer is masked
cross-attention -> self-attention -> FFN, post-norm, dropout 0. Every prediction (initial + each layer)
applies a LayerNorm, a class head ``Linear(D, C+1)`` and a 3-layer mask-embedding MLP whose output is
dot-multiplied with the mask features F_V^1 (deep supervision).

The attention mask of layer ``i`` comes from prediction ``i`` (the previous one): mask logits resized
bilinearly to layer ``i``'s scale, blocked where ``sigmoid < 0.5``, the same for all heads, detached;
a query row blocked everywhere is unblocked (it attends globally).
**[paper]** §3.1 says 4 stages x 3 layers; **[code]** uses 9 layers -- ``num_decoder_layers``.

Attention runs through ``F.scaled_dot_product_attention`` (fast on CPU); when the maps are requested
(``return_attn=True``) the weights are computed explicitly instead. Idea from Mask2Former's
``MultiScaleMaskedTransformerDecoder``; our own code. It matches HF ``Mask2FormerMaskedAttentionDecoder``
(+ ``class_predictor``) weight for weight: ``hf_port.state_dict_from_hf``, tests/test_hf_parity.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "Attention",
    "MLP",
    "MaskedAttentionDecoder",
    "DecoderOutput",
    "attention_mask_from_logits",
    "unblock_full_rows",
]


class Attention(nn.Module):
    """Multi-head attention with a boolean *blocked* mask (True = may not attend).

    forward(q [N, Lq, D], k [N, Lk, D], v [N, Lk, D], blocked [N, Lq, Lk] | None, need_weights)
    -> (out [N, Lq, D], weights [N, heads, Lq, Lk] or None)

    ``avs_adapt``: the official code's MLP on the output projection (``Mask2FormerAttention``, decoder
    self-attention): ``"replace"`` instead of ``out_proj`` (stage 1), ``"after"`` after it (stage 2), None
    none.
    """

    def __init__(self, dim: int, num_heads: int, avs_adapt: str | None = None) -> None:
        super().__init__()
        from .pixel_decoder import avs_adapt_mlp, check_avs_adapt

        if dim % num_heads:
            raise ValueError(f"hidden_dim {dim} is not divisible by num_heads {num_heads}")
        check_avs_adapt(avs_adapt)
        self.h = num_heads
        self.q_proj, self.k_proj, self.v_proj = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.out_proj = None if avs_adapt == "replace" else nn.Linear(dim, dim)
        self.avs_adapt = avs_adapt_mlp(dim) if avs_adapt else None

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        n, length, d = x.shape
        return x.view(n, length, self.h, d // self.h).transpose(1, 2)  # [N, h, L, d/h]

    def forward(self, q, k, v, blocked: torch.Tensor | None = None, need_weights: bool = False):
        n, lq, d = q.shape
        q, k, v = self._split(self.q_proj(q)), self._split(self.k_proj(k)), self._split(self.v_proj(v))
        allowed = None if blocked is None else ~blocked[:, None]  # [N, 1, Lq, Lk]
        weights = None
        if need_weights:
            logits = q @ k.transpose(-2, -1) / (d // self.h) ** 0.5  # [N, h, Lq, Lk]
            if allowed is not None:
                logits = logits.masked_fill(~allowed, float("-inf"))
            weights = logits.softmax(-1)  # [N, h, Lq, Lk]
            out = weights @ v  # [N, h, Lq, d/h]
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)  # [N, h, Lq, d/h]
        out = out.transpose(1, 2).reshape(n, lq, d)  # [N, Lq, D]
        if self.out_proj is not None:
            out = self.out_proj(out)
        return (out if self.avs_adapt is None else self.avs_adapt(out)), weights


class MLP(nn.Module):
    """``num_layers`` linear layers with ReLU in between (Mask2Former's mask-embedding MLP)."""

    def __init__(self, dim_in: int, dim_hidden: int, dim_out: int, num_layers: int = 3) -> None:
        super().__init__()
        dims = [dim_in] + [dim_hidden] * (num_layers - 1) + [dim_out]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else F.relu(layer(x))
        return x


class DecoderLayer(nn.Module):
    """Masked cross-attention -> self-attention -> FFN, each with residual + post-LayerNorm."""

    def __init__(self, dim: int, num_heads: int, dim_feedforward: int, avs_adapt: str | None = None) -> None:
        super().__init__()
        self.cross_attn, self.self_attn = Attention(dim, num_heads), Attention(dim, num_heads, avs_adapt)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.ffn = nn.Sequential(
            nn.Linear(dim, dim_feedforward), nn.ReLU(inplace=True), nn.Linear(dim_feedforward, dim)
        )

    def forward(self, tgt, query_pos, memory, key_pos, blocked, need_weights=False):
        """tgt/query_pos [N, Q, D]; memory/key_pos [N, L, D]; blocked [N, Q, L] (True = blocked)."""
        out, weights = self.cross_attn(tgt + query_pos, memory + key_pos, memory, blocked, need_weights)
        tgt = self.norm1(tgt + out)  # [N, Q, D]
        q = tgt + query_pos
        tgt = self.norm2(tgt + self.self_attn(q, q, tgt)[0])
        tgt = self.norm3(tgt + self.ffn(tgt))
        return tgt, weights


def attention_mask_from_logits(mask_logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Mask logits ``[N, Q, h, w]`` -> blocked ``[N, Q, H*W]`` at ``size``: bilinear, ``sigmoid < 0.5``,
    detached."""
    m = F.interpolate(mask_logits.detach(), size=size, mode="bilinear", align_corners=False)  # [N, Q, H, W]
    return (m.sigmoid() < 0.5).flatten(2)  # [N, Q, H*W]


def unblock_full_rows(blocked: torch.Tensor) -> torch.Tensor:
    """Rows blocked everywhere are opened completely (Mask2Former's rule): ``[N, Q, L] -> [N, Q, L]``."""
    full = blocked.all(dim=-1, keepdim=True)  # [N, Q, 1]
    return blocked & ~full


@dataclass
class DecoderOutput:
    """predictions: ``L + 1`` pairs (class logits [N, Q, C+1], mask logits [N, Q, h, w]), the initial one
    first;
    attn: per layer cross-attention weights ``[N, heads, Q, h_l, w_l]`` (only with ``return_attn``);
    attn_masks: per layer the blocked mask actually used ``[N, Q, h_l, w_l]`` (only with ``return_attn``)."""

    predictions: list[tuple[torch.Tensor, torch.Tensor]]
    attn: list[torch.Tensor] = field(default_factory=list)
    attn_masks: list[torch.Tensor] = field(default_factory=list)


class MaskedAttentionDecoder(nn.Module):
    """Mask2Former's multi-scale masked-attention decoder with prediction heads on every layer.

    Args:
        dim: D; num_heads; dim_feedforward; num_layers: L decoder layers; num_classes: C (no-object added);
        num_levels: memories cycled over (3); avs_adapt: the official ``avs_adapt`` MLP on every
        self-attention's output projection (None | "replace" | "after", see :class:`Attention`).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        dim_feedforward: int,
        num_layers: int,
        num_classes: int,
        num_levels: int = 3,
        avs_adapt: str | None = None,
    ) -> None:
        super().__init__()
        self.num_levels = num_levels
        self.level_embed = nn.Embedding(num_levels, dim)
        self.layers = nn.ModuleList(
            DecoderLayer(dim, num_heads, dim_feedforward, avs_adapt) for _ in range(num_layers)
        )
        self.decoder_norm = nn.LayerNorm(dim)
        self.class_embed = nn.Linear(dim, num_classes + 1)
        self.mask_embed = MLP(dim, dim, dim, 3)

    def predict(self, tgt: torch.Tensor, mask_features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Heads on queries ``[N, Q, D]``: class logits ``[N, Q, C+1]`` and mask logits ``[N, Q, h, w]``."""
        x = self.decoder_norm(tgt)
        logits = self.class_embed(x)  # [N, Q, C+1]
        masks = torch.einsum("nqd,ndhw->nqhw", self.mask_embed(x), mask_features)  # [N, Q, h, w]
        return logits, masks

    def forward(
        self,
        memories: list[torch.Tensor],
        pos: list[torch.Tensor],
        mask_features: torch.Tensor,
        tgt: torch.Tensor,
        query_pos: torch.Tensor,
        key_extra: list[torch.Tensor] | None = None,
        first_blocked: torch.Tensor | None = None,
        return_attn: bool = False,
    ) -> DecoderOutput:
        """Run the decoder.

        Args:
            memories, pos: 3 maps ``[N, D, h_l, w_l]`` (1/32, 1/16, 1/8) and their positional embeddings.
            mask_features: F_V^1 ``[N, D, H', W']`` (possibly fused with the prior).
            tgt: initial query features ``[N, Q, D]`` (AAQG output); query_pos: ``[N, Q, D]`` (P_audio).
            key_extra: optional per-level ``[N, D, h_l, w_l]`` added to the key positional embedding only
                (robust audio-aware keys).
            first_blocked: optional ``[N, Q, h_0*w_0]`` overriding layer 0's attention mask (prior init).
            return_attn: also return each layer's cross-attention weights and attention masks.
        """
        sizes = [m.shape[-2:] for m in memories]
        mem, kpos = [], []
        for lvl, (m, p) in enumerate(zip(memories, pos)):
            mem.append(m.flatten(2).transpose(1, 2) + self.level_embed.weight[lvl])  # [N, h*w, D]
            kp = p if key_extra is None or key_extra[lvl] is None else p + key_extra[lvl]
            kpos.append(kp.flatten(2).transpose(1, 2))  # [N, h*w, D]
        out = DecoderOutput(predictions=[])
        logits, masks = self.predict(tgt, mask_features)
        out.predictions.append((logits, masks))
        blocked = attention_mask_from_logits(masks, tuple(sizes[0]))  # [N, Q, h0*w0]
        if first_blocked is not None:
            blocked = first_blocked.to(torch.bool).expand_as(blocked)
        for i, layer in enumerate(self.layers):
            lvl = i % self.num_levels
            blocked = unblock_full_rows(blocked)
            tgt, weights = layer(tgt, query_pos, mem[lvl], kpos[lvl], blocked, need_weights=return_attn)
            if return_attn:
                h, w = sizes[lvl]
                out.attn.append(weights.unflatten(-1, (h, w)))  # [N, heads, Q, h, w]
                out.attn_masks.append(blocked.unflatten(-1, (h, w)))  # [N, Q, h, w]
            logits, masks = self.predict(tgt, mask_features)
            out.predictions.append((logits, masks))
            if i + 1 < len(self.layers):  # the last prediction masks nothing
                blocked = attention_mask_from_logits(masks, tuple(sizes[(i + 1) % self.num_levels]))
        return out
