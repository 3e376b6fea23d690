"""Pixel decoder: backbone features -> decoder memories (1/32, 1/16, 1/8) and mask features F_V^1.

Paper §3 calls it "FPN as pixel decoder"; the official code uses Mask2Former's pixel decoder
(a 6-layer multi-scale deformable-attention encoder over 1/8..1/32 plus an FPN lateral path from
1/4 that feeds a 1x1 ``mask_projection``; docs/paper_and_code.md §1.4). Two variants share one interface:

* ``fpn`` (:class:`FPNPixelDecoder`): a plain top-down FPN (idea from detectron2's ``BasePixelDecoder``).
* ``msdeform`` (:class:`MSDeformPixelDecoder`): deformable-attention encoder layers over the 3 coarse
  levels, then the same FPN to the mask stride (idea from Mask2Former's ``MSDeformAttnPixelDecoder``).

``mask_stride`` 2 adds one more FPN level (from the backbone's stride-2 map if it has one, else an
upsampled stride-4 map): at 96 px input the 1/4 mask features are only 24x24 (docs/feasibility.md §8).
Sine positional embeddings follow DETR/Mask2Former (``normalize=True``, scale 2 pi); the learned level
embeddings are added to the memories in the transformer decoder, as in Mask2Former's code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "sine_position_embedding",
    "PixelDecoderOutput",
    "FPNPixelDecoder",
    "MSDeformPixelDecoder",
    "build_pixel_decoder",
]


def sine_position_embedding(
    n: int, h: int, w: int, dim: int, device=None, dtype=torch.float32, temperature: float = 10000.0
) -> torch.Tensor:
    """DETR's normalised 2-D sine embedding: ``[n, dim, h, w]`` (first half y, second half x)."""
    num_feats = dim // 2
    y = torch.arange(1, h + 1, device=device, dtype=dtype)[:, None].expand(h, w)
    x = torch.arange(1, w + 1, device=device, dtype=dtype)[None, :].expand(h, w)
    eps, scale = 1e-6, 2 * math.pi
    y = y / (h + eps) * scale  # [h, w]
    x = x / (w + eps) * scale
    dim_t = torch.arange(num_feats, device=device, dtype=dtype)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / num_feats)  # [F]
    px, py = x[..., None] / dim_t, y[..., None] / dim_t  # [h, w, F]
    px = torch.stack((px[..., 0::2].sin(), px[..., 1::2].cos()), dim=3).flatten(2)
    py = torch.stack((py[..., 0::2].sin(), py[..., 1::2].cos()), dim=3).flatten(2)
    pos = torch.cat((py, px), dim=2).permute(2, 0, 1)  # [dim', h, w]
    if pos.shape[0] < dim:  # odd dim: pad
        pos = F.pad(pos, (0, 0, 0, 0, 0, dim - pos.shape[0]))
    return pos.unsqueeze(0).expand(n, -1, -1, -1)  # [n, dim, h, w]


@dataclass
class PixelDecoderOutput:
    """memories: 3 maps ``[N, D, h_l, w_l]`` ordered 1/32, 1/16, 1/8 (decoder keys/values);
    pos: their sine embeddings (same shapes); mask_features: F_V^1 ``[N, D, H/s, W/s]``."""

    memories: list[torch.Tensor]
    pos: list[torch.Tensor]
    mask_features: torch.Tensor


def _conv_gn(
    cin: int, cout: int, k: int = 3, relu: bool = True, bias: bool = False, groups: int | None = None
) -> nn.Sequential:
    """Conv + GroupNorm (+ ReLU); ``groups`` None: :func:`_groups` (>= 2 channels a group), else that many."""
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias),
        nn.GroupNorm(groups or _groups(cout), cout),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _groups(c: int) -> int:
    for g in (32, 16, 8, 4, 2):
        if c % g == 0 and c // g >= 2:
            return g
    return 1


class _TopDown(nn.Module):
    """FPN top-down path from a coarse map to the mask stride, plus the 1x1 mask projection.

    ``upsample``: how the coarser map is resized onto each lateral: ``"nearest"`` (detectron2's FPN) or
    ``"bilinear"`` (HF Mask2Former's pixel decoder, ``align_corners=False``).
    """

    def __init__(
        self,
        channels: dict[str, int],
        dim: int,
        keys: list[str],
        mask_stride: int,
        upsample: str = "nearest",
        norm_groups: int | None = None,
    ) -> None:
        super().__init__()
        self.upsample = upsample
        self.keys = keys  # finer levels, coarse to fine, e.g. ["res2"] or ["res2", "res1"]
        self.lateral = nn.ModuleDict(
            {k: _conv_gn(channels[k], dim, 1, relu=False, groups=norm_groups) for k in keys if k in channels}
        )
        self.output = nn.ModuleDict({k: _conv_gn(dim, dim, 3, groups=norm_groups) for k in keys})
        self.mask_stride = mask_stride
        self.mask_projection = nn.Conv2d(dim, dim, 1)

    def forward(
        self, y: torch.Tensor, feats: dict[str, torch.Tensor], image_hw: tuple[int, int]
    ) -> torch.Tensor:
        for key in self.keys:
            if key in self.lateral:
                lat = self.lateral[key](feats[key])  # [N, D, h, w]
                y = lat + self._resize(y, lat.shape[-2:])
            else:  # no backbone map at this stride: upsample the coarser map 2x
                y = self._resize(y, (2 * y.shape[-2], 2 * y.shape[-1]))
            y = self.output[key](y)
        return self.mask_projection(y)  # [N, D, H/s, W/s]

    def _resize(self, y: torch.Tensor, size) -> torch.Tensor:
        if self.upsample == "nearest":
            return F.interpolate(y, size=tuple(size), mode="nearest")
        return F.interpolate(y, size=tuple(size), mode="bilinear", align_corners=False)  # [N, D, h, w]


class FPNPixelDecoder(nn.Module):
    """Top-down FPN: memories at 1/32, 1/16, 1/8 and mask features at ``mask_stride`` (4 or 2).

    Args:
        channels: backbone widths by key (``res1``..``res5``).
        dim: D.
        mask_stride: stride of F_V^1.
    """

    def __init__(self, channels: dict[str, int], dim: int, mask_stride: int = 4) -> None:
        super().__init__()
        if mask_stride not in (2, 4):
            raise ValueError(f"mask_stride must be 2 or 4, got {mask_stride}")
        self.dim = dim
        self.coarse = ["res5", "res4", "res3"]
        self.lateral = nn.ModuleDict({k: _conv_gn(channels[k], dim, 1, relu=False) for k in self.coarse[1:]})
        self.lateral["res5"] = _conv_gn(channels["res5"], dim, 3)  # detectron2: the top level gets a 3x3
        self.output = nn.ModuleDict({k: _conv_gn(dim, dim, 3) for k in self.coarse[1:]})
        fine = ["res2"] + (["res1"] if mask_stride == 2 else [])
        self.top_down = _TopDown(channels, dim, fine, mask_stride)

    def forward(self, feats: dict[str, torch.Tensor]) -> PixelDecoderOutput:
        y = self.lateral["res5"](feats["res5"])  # [N, D, H/32, W/32]
        memories = [y]
        for key in self.coarse[1:]:
            lat = self.lateral[key](feats[key])  # [N, D, h, w]
            y = self.output[key](lat + F.interpolate(y, size=lat.shape[-2:], mode="nearest"))
            memories.append(y)
        mask_features = self.top_down(y, feats, feats["res2"].shape[-2:])  # [N, D, H/s, W/s]
        pos = [
            sine_position_embedding(m.shape[0], m.shape[2], m.shape[3], self.dim, m.device, m.dtype)
            for m in memories
        ]
        return PixelDecoderOutput(memories, pos, mask_features)


AVS_ADAPT_MODES = (None, "replace", "after")


def avs_adapt_mlp(dim: int) -> nn.Sequential:
    """The official code's ``avs_adapt`` bottleneck: ``Linear(D, D/4), ReLU, Linear(D/4, D)``, not residual
    (``avs|avss/transformers/models/mask2former/modeling_mask2former.py``; docs/paper_and_code.md §1.4)."""
    return nn.Sequential(nn.Linear(dim, dim // 4), nn.ReLU(), nn.Linear(dim // 4, dim))


def check_avs_adapt(mode: str | None) -> None:
    if mode not in AVS_ADAPT_MODES:
        raise ValueError(
            f"unknown avs_adapt {mode!r}; choose None, 'replace' (official stage 1) or 'after' (stage 2)"
        )


def build_pixel_decoder(
    name: str,
    channels: dict[str, int],
    dim: int,
    mask_stride: int = 4,
    num_encoder_layers: int = 0,
    num_heads: int = 4,
    dim_feedforward: int = 256,
    avs_adapt: str | None = None,
    norm_groups: int | None = None,
) -> nn.Module:
    """``ModelConfig.pixel_decoder``: ``"fpn"`` or ``"msdeform"`` (same output); ``avs_adapt`` and
    ``norm_groups`` (GroupNorm groups, None: ours; HF Mask2Former: 32) are msdeform-only."""
    check_avs_adapt(avs_adapt)
    if name == "fpn":
        if avs_adapt is not None or norm_groups is not None:
            raise ValueError("avs_adapt / norm_groups are options of pixel_decoder='msdeform'")
        return FPNPixelDecoder(channels, dim, mask_stride)
    if name == "msdeform":
        return MSDeformPixelDecoder(
            channels,
            dim,
            mask_stride,
            num_layers=max(1, num_encoder_layers),
            num_heads=num_heads,
            dim_feedforward=dim_feedforward,
            avs_adapt=avs_adapt,
            norm_groups=norm_groups,
        )
    raise ValueError(f"unknown pixel_decoder {name!r}; choose 'fpn' or 'msdeform'")


def ms_deform_attn_core(
    value: torch.Tensor, shapes: list[tuple[int, int]], locations: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Pure-PyTorch multi-scale deformable attention (``grid_sample``), as HF Mask2Former runs it.

    Args:
        value: ``[N, S, H, d]`` (S = sum of h_l*w_l); shapes: per-level ``(h_l, w_l)``;
        locations: sampling points in [0, 1] ``[N, Lq, H, L, P, 2]`` (x, y);
        weights: attention weights ``[N, Lq, H, L, P]`` (softmax over L*P).
    Returns ``[N, Lq, H*d]``.
    """
    n, _, nh, d = value.shape
    _, lq, _, nl, npt, _ = locations.shape
    grids = (2 * locations - 1).permute(
        0, 2, 3, 4, 1, 5
    )  # grid_sample coordinates in [-1, 1]: [N, H, L, P, Lq, 2]
    w = weights.permute(0, 2, 3, 4, 1).reshape(n * nh, nl, npt, lq)  # [N*H, L, P, Lq]
    out, start = None, 0
    for lvl, (h, w_) in enumerate(shapes):  # weighted sums level by level: no [N*H, d, L, P, Lq] stack
        v = value[:, start : start + h * w_].permute(0, 2, 3, 1).reshape(n * nh, d, h, w_)  # [N*H, d, h, w]
        start += h * w_
        g = grids[:, :, lvl].reshape(
            n * nh, npt, lq, 2
        )  # [N*H, P, Lq, 2]: points as rows, so Lq is contiguous
        sampled = F.grid_sample(
            v, g, mode="bilinear", padding_mode="zeros", align_corners=False
        )  # [N*H,d,P,Lq]
        for p in range(
            npt
        ):  # sum_p w_p * sample_p as fused multiply-adds along Lq (2-3x faster than mul+sum)
            if out is None:
                out = sampled[:, :, p] * w[:, None, lvl, p]  # [N*H, d, Lq]
            else:
                out.addcmul_(sampled[:, :, p], w[:, None, lvl, p])
    return out.view(n, nh * d, lq).transpose(1, 2)  # [N, Lq, H*d]


class MSDeformAttn(nn.Module):
    """Multi-scale deformable attention (Zhu et al., Deformable DETR, ICLR 2021), pure PyTorch.

    forward(query [N, Lq, D], reference [N, Lq, 2] in [0, 1], value [N, S, D], shapes) -> [N, Lq, D]

    ``avs_adapt`` (official code, ``Mask2FormerPixelDecoderEncoderMultiscaleDeformableAttention``):
    ``"replace"`` swaps ``output_proj`` for the ``avs_adapt`` MLP (stage 1, ``avs/``), ``"after"`` applies it
    after ``output_proj`` (stage 2, ``avss/``), None has no MLP.
    """

    def __init__(
        self,
        dim: int,
        num_levels: int = 3,
        num_heads: int = 4,
        num_points: int = 4,
        avs_adapt: str | None = None,
    ) -> None:
        super().__init__()
        self.h, self.l, self.p = num_heads, num_levels, num_points
        self.sampling_offsets = nn.Linear(dim, num_heads * num_levels * num_points * 2)
        self.attention_weights = nn.Linear(dim, num_heads * num_levels * num_points)
        self.value_proj, self.output_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)
        # Deformable DETR init: offsets start on a ring of head directions, 1..P pixels away
        nn.init.zeros_(self.sampling_offsets.weight)
        theta = torch.arange(num_heads, dtype=torch.float32) * (2 * math.pi / num_heads)
        grid = torch.stack([theta.cos(), theta.sin()], -1)
        grid = grid / grid.abs().max(-1, keepdim=True)[0]
        grid = grid.view(num_heads, 1, 1, 2).repeat(1, num_levels, num_points, 1)
        grid = grid * torch.arange(1, num_points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.flatten())
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        for lin in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)
        check_avs_adapt(avs_adapt)
        if avs_adapt == "replace":
            self.output_proj = None
        self.avs_adapt = avs_adapt_mlp(dim) if avs_adapt else None

    def forward(self, query, reference, value, shapes):
        n, lq, d = query.shape
        v = self.value_proj(value).view(n, -1, self.h, d // self.h)  # [N, S, H, d/H]
        off = self.sampling_offsets(query).view(n, lq, self.h, self.l, self.p, 2)
        att = self.attention_weights(query).view(n, lq, self.h, self.l * self.p).softmax(-1)
        att = att.view(n, lq, self.h, self.l, self.p)
        norm = torch.tensor([[w, h] for h, w in shapes], dtype=query.dtype, device=query.device)  # [L, 2]
        loc = (
            reference[:, :, None, None, None, :] + off / norm[None, None, None, :, None, :]
        )  # [N,Lq,H,L,P,2]
        out = ms_deform_attn_core(v, shapes, loc, att)  # [N, Lq, D]
        if self.output_proj is not None:
            out = self.output_proj(out)
        return out if self.avs_adapt is None else self.avs_adapt(out)


class _DeformEncoderLayer(nn.Module):
    """Deformable self-attention over all levels' tokens + FFN, post-norm (Deformable DETR encoder)."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        dim_feedforward: int,
        num_levels: int = 3,
        avs_adapt: str | None = None,
    ) -> None:
        super().__init__()
        self.attn = MSDeformAttn(dim, num_levels, num_heads, avs_adapt=avs_adapt)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.ffn = nn.Sequential(
            nn.Linear(dim, dim_feedforward), nn.ReLU(inplace=True), nn.Linear(dim_feedforward, dim)
        )

    def forward(self, src, pos, reference, shapes):
        src = self.norm1(src + self.attn(src + pos, reference, src, shapes))  # [N, S, D]
        return self.norm2(src + self.ffn(src))


class MSDeformPixelDecoder(nn.Module):
    """Mask2Former's pixel decoder: deformable encoder over 1/32, 1/16, 1/8, then FPN to the mask stride.

    Same output as :class:`FPNPixelDecoder`. Matches HF ``Mask2FormerPixelDecoder`` (transformers 4.35..5.x)
    weight for weight (``hf_port.state_dict_from_hf``; tests/test_hf_parity.py): biased 1x1 input
    projections + GroupNorm, sine positions + a learned level embedding added to the encoder's queries,
    reference points at pixel centres, bilinear upsampling in the FPN path. The official code's
    ``avs_adapt`` MLPs inside each deformable block (docs/paper_and_code.md §1.4) are off by default (our
    encoder is trained, not frozen); ``avs_adapt="replace"|"after"`` builds them exactly as the official
    stage-1 / stage-2 code (``stepstones_lite.model.official`` converts the released checkpoints).
    ``norm_groups``: GroupNorm groups; None keeps >= 2 channels a group (the same as HF's 32 groups for
    D >= 64), 32 is HF's rule at any D (the official code at a reduced D, tests/test_official_parity.py).
    """

    def __init__(
        self,
        channels: dict[str, int],
        dim: int,
        mask_stride: int = 4,
        num_layers: int = 6,
        num_heads: int = 8,
        dim_feedforward: int = 1024,
        avs_adapt: str | None = None,
        norm_groups: int | None = None,
    ) -> None:
        super().__init__()
        if mask_stride not in (2, 4):
            raise ValueError(f"mask_stride must be 2 or 4, got {mask_stride}")
        self.dim = dim
        self.coarse = ["res5", "res4", "res3"]  # 1/32, 1/16, 1/8
        self.input_proj = nn.ModuleDict(
            {
                k: _conv_gn(
                    channels[k],
                    dim,
                    1,
                    relu=False,
                    bias=True,  # HF: biased
                    groups=norm_groups,
                )
                for k in self.coarse
            }
        )
        self.level_embed = nn.Embedding(len(self.coarse), dim)
        self.layers = nn.ModuleList(
            _DeformEncoderLayer(dim, num_heads, dim_feedforward, len(self.coarse), avs_adapt=avs_adapt)
            for _ in range(num_layers)
        )
        fine = ["res2"] + (["res1"] if mask_stride == 2 else [])
        self.top_down = _TopDown(
            channels, dim, fine, mask_stride, upsample="bilinear", norm_groups=norm_groups
        )

    def forward(self, feats: dict[str, torch.Tensor]) -> PixelDecoderOutput:
        maps = [self.input_proj[k](feats[k]) for k in self.coarse]  # [N, D, h_l, w_l]
        n = maps[0].shape[0]
        shapes = [tuple(m.shape[-2:]) for m in maps]
        pos = [
            sine_position_embedding(n, h, w, self.dim, m.device, m.dtype) for m, (h, w) in zip(maps, shapes)
        ]
        src = torch.cat([m.flatten(2).transpose(1, 2) for m in maps], 1)  # [N, S, D]
        lpos = torch.cat(
            [p.flatten(2).transpose(1, 2) + self.level_embed.weight[i] for i, p in enumerate(pos)], 1
        )
        refs = []
        for h, w in shapes:  # pixel centres in [0, 1]
            ys, xs = torch.meshgrid(
                torch.arange(h, device=src.device, dtype=src.dtype),
                torch.arange(w, device=src.device, dtype=src.dtype),
                indexing="ij",
            )
            refs.append(torch.stack([(xs.flatten() + 0.5) / w, (ys.flatten() + 0.5) / h], -1))
        reference = torch.cat(refs, 0)[None].expand(n, -1, -1)  # [N, S, 2]
        for layer in self.layers:
            src = layer(src, lpos, reference, shapes)
        memories, start = [], 0
        for h, w in shapes:
            memories.append(src[:, start : start + h * w].transpose(1, 2).reshape(n, self.dim, h, w))
            start += h * w
        mask_features = self.top_down(memories[-1], feats, feats["res2"].shape[-2:])  # [N, D, H/s, W/s]
        return PixelDecoderOutput(memories, pos, mask_features)
