"""Visual backbones: multi-scale features at strides 4/8/16/32 (paper §3, §4.1).

The paper uses the Swin-B encoder of an ADE20k-pretrained Mask2Former, frozen, with residual
bottleneck adapters (Houlsby et al.) in every Swin block (official code: after the attention output
projection and after the MLP output). Two families are offered here:

* ``lite_cnn`` -- a small conv net (:class:`LiteCNN`), the CPU stand-in that the course pre-trains
  as an object classifier before freezing it (docs/feasibility.md §R3, lever 1: "frozen class-aware
  stand-in").
* any timm model with ``features_only=True`` (e.g. ``resnet18``, ``resnet50``,
  ``swin_base_patch4_window12_384``), random init or weights from a *local* file only.

When frozen, BatchNorm layers stay in eval mode even after ``model.train()`` (docs/feasibility.md §5.5)
and adapters (d -> d/4 -> d, ReLU, zero-initialised last layer, so they start as the identity) are the
trainable part. For Swin the adapters sit inside every block as in the official code; for CNNs one
adapter follows each output stage (docs/feasibility.md §R3.2, "adapt" regime).
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["Adapter", "LiteCNN", "TimmBackbone", "Backbone", "build_backbone", "FEATURE_KEYS"]

#: keys of the backbone output, Mask2Former naming: res1 (stride 2, optional), res2..res5 (4..32)
FEATURE_KEYS = ("res2", "res3", "res4", "res5")


class Adapter(nn.Module):
    """Residual bottleneck adapter ``x + W2 relu(W1 x)`` over the channel axis (d -> d/4 -> d).

    The last layer is zero-initialised, so a fresh adapter is the identity.
    Works on ``[..., d]`` (channels last) or, with ``channels_first=True``, on ``[N, d, H, W]``.
    """

    def __init__(self, dim: int, reduction: int = 4, channels_first: bool = False) -> None:
        super().__init__()
        hidden = max(1, dim // reduction)
        self.channels_first = channels_first
        self.down = nn.Linear(dim, hidden)
        self.up = nn.Linear(hidden, dim)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_first:
            y = x.movedim(1, -1)  # [N, H, W, d]
            return x + self.up(F.relu(self.down(y))).movedim(-1, 1)
        return x + self.up(F.relu(self.down(x)))


def _conv_bn(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class LiteCNN(nn.Module):
    """A small VGG-style CNN: a stride-2 stem, then 4 stages at strides 4/8/16/32.

    Args:
        channels: widths of the 4 stages (``ModelConfig.backbone_channels``).
    Returns (forward): dict ``res1`` [N, c0/2.., H/2, W/2], ``res2..res5`` [N, c_i, H/s, W/s].
    ``feature_channels`` maps each key to its width (for a classification head in pre-training).
    """

    def __init__(self, channels: tuple[int, int, int, int] = (24, 48, 96, 160)) -> None:
        super().__init__()
        stem = max(8, channels[0] // 2)
        self.stem = _conv_bn(3, stem, 2)  # stride 2
        stages, cin = [], stem
        for cout in channels:
            stages.append(nn.Sequential(_conv_bn(cin, cout, 2), _conv_bn(cout, cout, 1)))
            cin = cout
        self.stages = nn.ModuleList(stages)
        self.feature_channels = {"res1": stem, **{k: c for k, c in zip(FEATURE_KEYS, channels)}}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.stem(x)  # [N, c_stem, H/2, W/2]
        out = {"res1": x}
        for key, stage in zip(FEATURE_KEYS, self.stages):
            x = stage(x)  # [N, c_i, H/s, W/s]
            out[key] = x
        return out


@functools.lru_cache(maxsize=None)
def _window_attention_class(base: type) -> type:
    """timm's Swin ``WindowAttention`` with the SDPA float mask built once per window instead of per image.

    timm adds the shift mask ``[nW, N, N]`` to the relative-position bias ``[1, heads, N, N]`` after expanding
    the mask to every image (``[B*nW, heads, N, N]``: an expand, a copy and an add of that size in every
    shifted block). Adding first at ``[nW, heads, N, N]`` and expanding the sum gives the same mask, bit for
    bit, with one copy (benchmarks/bench_paper_vs_hf.py). Everything else is timm's forward.
    """

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b_, n, _ = x.shape  # [B*nW, N, C]
        qkv = (
            self.qkv(x).reshape(b_, n, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        )  # [3, B*nW, heads, N, d]
        q, k, v = qkv.unbind(0)
        bias = self._get_rel_pos_bias()  # [1, heads, N, N]
        if mask is not None:
            nw = mask.shape[0]
            bias = (bias + mask[:, None]).expand(b_ // nw, -1, -1, -1, -1).reshape(b_, self.num_heads, n, n)
        x = F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias, dropout_p=self.attn_drop.p if self.training else 0.0
        )  # [B*nW, h, N, d]
        x = x.transpose(1, 2).reshape(b_, n, -1)  # [B*nW, N, C]
        return self.proj_drop(self.proj(x))

    return type(base.__name__, (base,), {"forward": forward, "__doc__": _window_attention_class.__doc__})


class TimmBackbone(nn.Module):
    """A timm model with ``features_only=True`` (never downloads: ``pretrained=False``).

    Channels-last outputs (Swin) get one LayerNorm per output stage, as Mask2Former's Swin has
    (detectron2 ``D2SwinTransformer.norm{i}``, HF ``SwinBackbone.hidden_states_norms``; so an HF
    Mask2Former checkpoint's backbone maps on, ``hf_port``), then are permuted to ``[N, C, H, W]``.
    A stride-2 level, if the model has one (ResNets), is exposed as ``res1``.

    Args:
        name: timm model name; img_size: Swin input side; model_kwargs: more ``timm.create_model`` arguments
            (e.g. a small Swin for tests: ``embed_dim``, ``depths``, ``num_heads``, ``window_size``).
    """

    def __init__(self, name: str, img_size: int | None = None, **model_kwargs) -> None:
        super().__init__()
        import timm

        kwargs = {"img_size": img_size} if (img_size and "swin" in name) else {}
        kwargs.update(model_kwargs)
        try:
            self.body = timm.create_model(name, features_only=True, pretrained=False, **kwargs)
        except Exception as err:  # unknown name, or a model without features_only support
            raise ValueError(
                f"timm backbone {name!r} cannot be built with features_only=True: {err}"
            ) from None
        # timm gates Swin's fused window attention (SDPA with the relative-position bias and shift mask as its
        # float mask) as "experimental"; it is the same math (max |diff| 3e-6 on Swin-B features at 384 px)
        # and ~30 % faster on CPU (benchmarks/bench_paper_vs_hf.py), as HF's Swin, which uses SDPA too
        for m in self.body.modules():
            if type(m).__name__ == "WindowAttention" and hasattr(m, "fused_attn"):
                m.fused_attn = True
                m.__class__ = _window_attention_class(type(m))
        info = self.body.feature_info
        self.reductions = list(info.reduction())
        self.channels_last = str(getattr(self.body, "output_fmt", "NCHW")).endswith("NHWC")
        self.keys = []
        for r in self.reductions:
            self.keys.append({2: "res1", 4: "res2", 8: "res3", 16: "res4", 32: "res5"}.get(r, f"stride{r}"))
        missing = [k for k in FEATURE_KEYS if k not in self.keys]
        if missing:
            raise ValueError(f"timm backbone {name!r} lacks strides 4/8/16/32 (has {self.reductions})")
        self.feature_channels = {k: c for k, c in zip(self.keys, info.channels())}
        self.out_norms = nn.ModuleDict(
            {k: nn.LayerNorm(c) for k, c in self.feature_channels.items()} if self.channels_last else {}
        )

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {}
        for key, f in zip(self.keys, self.body(x)):
            if self.channels_last:  # [N, h, w, C]
                f = self.out_norms[key](f).permute(0, 3, 1, 2).contiguous()
            out[key] = f  # [N, C, h, w]
        return out


class Backbone(nn.Module):
    """A body (lite CNN or timm) plus optional freezing and adapters.

    Args:
        body: :class:`LiteCNN` or :class:`TimmBackbone`.
        freeze: freeze the body's parameters and keep its BatchNorm in eval mode.
        adapters: add residual bottleneck adapters (trainable even when the body is frozen).
        placement: where a lite CNN's adapters sit: ``"stage"``, one after each output stage; ``"block"``,
            one after every conv block, as the paper has them inside every Swin block (more capacity; Swin
            always gets its in-block placement).
        reduction: the adapters' bottleneck ``d -> d/reduction -> d`` (the paper code: 4).
    """

    def __init__(
        self,
        body: nn.Module,
        freeze: bool = False,
        adapters: bool = False,
        placement: str = "stage",
        reduction: int = 4,
    ) -> None:
        super().__init__()
        if placement not in ("stage", "block"):
            raise ValueError(f"adapter placement must be 'stage' or 'block', got {placement!r}")
        if reduction < 1:
            raise ValueError(f"adapter reduction must be >= 1, got {reduction}")
        self.body = body
        self.frozen = freeze
        self.feature_channels: dict[str, int] = dict(body.feature_channels)
        self.stage_adapters = nn.ModuleDict()
        self.num_block_adapters = 0
        if freeze:
            for p in body.parameters():
                p.requires_grad_(False)
        if adapters and not self._insert_swin_adapters(reduction):
            if placement == "block":
                if not isinstance(body, LiteCNN):
                    raise ValueError(
                        "adapter placement 'block' needs the lite CNN or a Swin body, not "
                        f"{type(body).__name__}"
                    )
                self._insert_cnn_block_adapters(reduction)
            else:
                for key in FEATURE_KEYS:
                    self.stage_adapters[key] = Adapter(self.feature_channels[key], reduction, True)

    def _insert_swin_adapters(self, reduction: int = 4) -> bool:
        """Official-code placement for Swin: an adapter after ``attn.proj`` and after ``mlp.fc2`` of each
        block."""
        done = 0
        for module in self.body.modules():
            if type(module).__name__ == "SwinTransformerBlock":
                dim = module.attn.proj.out_features
                module.attn.proj = nn.Sequential(module.attn.proj, Adapter(dim, reduction))
                module.mlp.fc2 = nn.Sequential(module.mlp.fc2, Adapter(dim, reduction))
                done += 2
        self.num_block_adapters = done
        return done > 0

    def _insert_cnn_block_adapters(self, reduction: int) -> None:
        """The Swin placement carried to the lite CNN: an adapter after every conv block of every stage, so
        the frozen convolutions that follow read adapted features (inserted after the weights are loaded and
        the body frozen, so the adapters alone train)."""
        for stage in self.body.stages:
            for i, block in enumerate(stage):
                width = block[0].out_channels  # the block's conv
                stage[i] = nn.Sequential(block, Adapter(width, reduction, channels_first=True))
                self.num_block_adapters += 1

    def train(self, mode: bool = True) -> "Backbone":
        super().train(mode)
        if self.frozen:
            for m in self.body.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.body(x)
        for key, adapter in self.stage_adapters.items():
            feats[key] = adapter(feats[key])
        return feats


def _load_local(module: nn.Module, path: str | None, what: str) -> None:
    """Load a local state_dict file (never a download); strict on shapes, tolerant of extra keys (a
    pre-training head) and of a common prefix (``backbone.``, ``body.``, ``encoder.``, ``module.``)."""
    if not path:
        return
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what} weights file {p} does not exist (weights are never downloaded)")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{what} weights file {p} is not a readable torch state_dict: {err}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{what} weights file {p} does not hold a state_dict")
    own = set(module.state_dict())
    best, best_missing = state, own - set(state)
    for prefix in ("module.", "backbone.", "body.", "encoder.", "backbone.body.", "audio_encoder.encoder."):
        stripped = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        missing = own - set(stripped)
        if len(missing) < len(best_missing):
            best, best_missing = stripped, missing
    if best_missing:
        raise ValueError(
            f"{what} weights file {p} lacks {len(best_missing)} keys, e.g. {sorted(best_missing)[:3]}"
        )
    try:
        module.load_state_dict(best, strict=False)
    except RuntimeError as err:
        raise ValueError(f"{what} weights file {p} does not fit the model: {err}") from None


def build_backbone(
    name: str = "lite_cnn",
    channels: tuple[int, int, int, int] = (24, 48, 96, 160),
    weights: str | None = None,
    freeze: bool = False,
    adapters: bool = False,
    img_size: int | None = None,
    backbone_kwargs: dict | None = None,
    adapter_placement: str = "stage",
    adapter_reduction: int = 4,
) -> Backbone:
    """Build the visual backbone named in ``ModelConfig.backbone``; weights come from a local file only.

    The weights file holds the *body's* state_dict (``LiteCNN`` keys, or the timm ``features_only``
    model's keys); extra keys (e.g. a classification head from pre-training) are ignored.
    ``backbone_kwargs`` (``ModelConfig.backbone_kwargs``) go to ``timm.create_model`` (timm backbones only).
    """
    if name == "lite_cnn":
        if backbone_kwargs:
            raise ValueError(f"backbone_kwargs {backbone_kwargs} are for timm backbones, not lite_cnn")
        body: nn.Module = LiteCNN(tuple(channels))
    else:
        body = TimmBackbone(name, img_size=img_size, **dict(backbone_kwargs or {}))
    _load_local(body.body if isinstance(body, TimmBackbone) else body, weights, f"backbone {name!r}")
    return Backbone(
        body, freeze=freeze, adapters=adapters, placement=adapter_placement, reduction=adapter_reduction
    )
