"""The VGGish network: log-mel examples [N, 1, 96, 64] -> 128-d embeddings [N, 128].

Architecture of Hershey et al. (2017) "CNN architectures for large-scale audio classification", as ported to
PyTorch by harritaylor/torchvggish and vendored by AVSBench (``avs_scripts/*/torchvggish/vggish.py``); the
Stepping Stones code reaches the same network through towhee's ``audio_embedding.vggish`` (float output, no
PCA). Idea and parameter layout from torchvggish; the code is our own.

* ``features``: conv3x3(1->64) ReLU, max-pool 2, conv(64->128) ReLU, pool, conv(128->256) ReLU, conv(256->256)
  ReLU, pool, conv(256->512) ReLU, conv(512->512) ReLU, pool  ->  [N, 512, 6, 4].
* Flatten in TensorFlow's channels-last order ``(h, w, c)`` (torchvggish transposes before ``view``), so the
  ported weights of the first linear layer line up.
* ``embeddings``: Linear(12288, 4096) ReLU, Linear(4096, 4096) ReLU, Linear(4096, 128) ReLU. The final ReLU
  is in torchvggish / AVSBench, so raw embeddings are >= 0.
* Optional ``pproc`` (AudioSet release format): PCA with whitening ``(E - mean) @ V^T`` then clip to
  [-2, 2] and quantise to 0..255 (float). Off by default (AVSBench ``POSTPROCESS_LOG_MEL_WITH_PCA=False``;
  towhee's float output used by Stepping Stones is not quantised).

``state_dict`` keys equal torchvggish's: ``features.{0,3,6,8,11,13}.{weight,bias}``,
``embeddings.{0,2,4}.{weight,bias}`` and, with post-processing, ``pproc.pca_eigen_vectors`` [128, 128] and
``pproc.pca_means`` [128, 1]. 72,141,184 parameters without ``pproc``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from einops import rearrange
from torch import nn

__all__ = ["VGGish", "VGGishPostprocessor", "load_vggish_weights", "load_vggish_pca", "EMBEDDING_SIZE"]

EMBEDDING_SIZE = 128
QUANTIZE_MIN_VAL, QUANTIZE_MAX_VAL = -2.0, 2.0
_CONV_PLAN = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M")


def _make_features() -> nn.Sequential:
    layers: list[nn.Module] = []
    in_ch = 1
    for v in _CONV_PLAN:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(in_ch, int(v), kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            in_ch = int(v)
    return nn.Sequential(*layers)


class VGGishPostprocessor(nn.Module):
    """PCA (+ whitening) and 8-bit quantisation of raw embeddings, as the AudioSet release (torchvggish)."""

    def __init__(self) -> None:
        super().__init__()
        self.pca_eigen_vectors = nn.Parameter(torch.eye(EMBEDDING_SIZE), requires_grad=False)  # [128, 128]
        self.pca_means = nn.Parameter(torch.zeros(EMBEDDING_SIZE, 1), requires_grad=False)  # [128, 1]

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        """emb [N, 128] -> quantised [N, 128] floats in {0..255} (kept 2-D, unlike torchvggish's squeeze)."""
        pca = (emb - self.pca_means.T) @ self.pca_eigen_vectors.T  # [N, 128]
        clipped = pca.clamp(QUANTIZE_MIN_VAL, QUANTIZE_MAX_VAL)  # [N, 128]
        return torch.round((clipped - QUANTIZE_MIN_VAL) * (255.0 / (QUANTIZE_MAX_VAL - QUANTIZE_MIN_VAL)))


class VGGish(nn.Module):
    """VGGish embedding network with torchvggish's parameter names.

    Args:
        postprocess: add the ``pproc`` PCA + quantisation stage (its parameters must then be loaded, see
            :func:`load_vggish_pca`; identity PCA until then). Default off: raw 128-d float embeddings.
    """

    def __init__(self, postprocess: bool = False) -> None:
        super().__init__()
        self.features = _make_features()
        self.embeddings = nn.Sequential(
            nn.Linear(512 * 6 * 4, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, EMBEDDING_SIZE),
            nn.ReLU(inplace=True),
        )
        self.postprocess = postprocess
        if postprocess:
            self.pproc = VGGishPostprocessor()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, 1, 96, 64] log-mel examples -> [N, 128] embeddings."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 96, 64):
            raise ValueError(f"VGGish expects log-mel examples [N, 1, 96, 64], got {tuple(x.shape)}")
        h = self.features(x)  # [N, 512, 6, 4]
        h = rearrange(h, "n c h w -> n (h w c)")  # [N, 12288], TF channels-last order
        emb = self.embeddings(h)  # [N, 128]
        if self.postprocess:
            emb = self.pproc(emb)  # [N, 128] quantised
        return emb

    @torch.no_grad()
    def embed(
        self, waveform: torch.Tensor | np.ndarray, sample_rate: int = 16000, num_examples: int | None = None
    ) -> torch.Tensor:
        """Waveform -> [n, 128] embeddings via :func:`~stepstones_lite.audio.log_mel_examples` (eval mode)."""
        from .frontend import log_mel_examples

        ex = log_mel_examples(waveform, sample_rate, num_examples=num_examples)  # [n, 1, 96, 64]
        param = next(self.parameters())
        return self(ex.to(device=param.device, dtype=param.dtype))  # [n, 128]


def _load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """torch.load with weights_only=True (numpy arrays allowed, as torchvggish's PCA file stores them)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"VGGish weights file {str(path)!r} not found. Nothing is downloaded: put the torchvggish "
            "state_dict (e.g. vggish-10086976.pth) there yourself, or use the course's small audio encoder."
        )
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, truncated, not a torch file, or holds arbitrary objects
        raise ValueError(
            f"VGGish weights file {str(path)!r} could not be read as a state_dict: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from exc
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
        raise ValueError(f"VGGish weights file {str(path)!r} holds a {type(obj).__name__}, not a state_dict")
    out: dict[str, torch.Tensor] = {}
    for k, v in obj.items():
        if isinstance(v, np.ndarray):
            v = torch.from_numpy(np.asarray(v, dtype=np.float32))
        if not isinstance(v, torch.Tensor):
            raise ValueError(
                f"VGGish weights file {str(path)!r}: entry {k!r} is a {type(v).__name__}, not a tensor"
            )
        out[k] = v
    return out


def _numpy_safe_globals() -> list:
    """The few numpy names a pickled float ndarray needs (for the torchvggish PCA file)."""
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    return [_reconstruct, np.ndarray, np.dtype, type(np.dtype(np.float32)), type(np.dtype(np.float64))]


def load_vggish_weights(path: str | Path, model: VGGish | None = None) -> VGGish:
    """Load a local torchvggish ``state_dict`` (``features.*``, ``embeddings.*``, optional ``pproc.*``).

    Args:
        path: the ``.pth`` file, e.g. torchvggish's ``vggish-10086976.pth`` (never downloaded here).
        model: a model to fill; default a new :class:`VGGish` (with ``pproc`` when the file carries it).
    Returns:
        the model, in eval mode, all parameters frozen (``requires_grad=False``) as AVSBench keeps it.
    Raises:
        FileNotFoundError for a missing file; ValueError naming the file for a corrupt file or mismatched keys
        or shapes.
    """
    state = _load_state_dict_file(path)
    has_pproc = any(k.startswith("pproc.") for k in state)
    if model is None:
        model = VGGish(postprocess=has_pproc)
    elif has_pproc and not model.postprocess:
        raise ValueError(
            f"VGGish weights file {str(path)!r} has pproc.* (PCA) keys but the model was built "
            "with postprocess=False"
        )
    expected = model.state_dict()
    wanted = {k for k in expected if has_pproc or not k.startswith("pproc.")}
    missing, unexpected = sorted(wanted - state.keys()), sorted(state.keys() - expected.keys())
    if missing or unexpected:
        raise ValueError(
            f"VGGish weights file {str(path)!r} does not match the torchvggish key layout: "
            f"missing {missing[:6]}{'...' if len(missing) > 6 else ''}, "
            f"unexpected {unexpected[:6]}{'...' if len(unexpected) > 6 else ''}"
        )
    bad = [
        f"{k}: file {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
        for k, v in state.items()
        if tuple(v.shape) != tuple(expected[k].shape)
    ]
    if bad:
        raise ValueError(f"VGGish weights file {str(path)!r} has wrong shapes: {bad[:4]}")
    model.load_state_dict(state, strict=False)
    return _freeze(model)


def load_vggish_pca(path: str | Path, model: VGGish) -> VGGish:
    """Load torchvggish's PCA file (keys ``pca_eigen_vectors`` [128, 128], ``pca_means`` [128] or [128, 1]).

    ``model`` must be built with ``postprocess=True``. Returns the model, frozen and in eval mode.
    """
    if not getattr(model, "postprocess", False):
        raise ValueError("load_vggish_pca needs a VGGish(postprocess=True) model")
    state = _load_state_dict_file(path)
    keys = {"pca_eigen_vectors", "pca_means"}
    if set(state) != keys:
        raise ValueError(
            f"VGGish PCA file {str(path)!r} must hold exactly {sorted(keys)}, got {sorted(state)}"
        )
    vec, means = state["pca_eigen_vectors"].float(), state["pca_means"].float().reshape(-1, 1)
    if vec.shape != (EMBEDDING_SIZE, EMBEDDING_SIZE) or means.shape != (EMBEDDING_SIZE, 1):
        raise ValueError(
            f"VGGish PCA file {str(path)!r} has wrong shapes {tuple(vec.shape)}, {tuple(means.shape)}"
        )
    model.pproc.load_state_dict({"pca_eigen_vectors": vec, "pca_means": means})
    return _freeze(model)


def _freeze(model: VGGish) -> VGGish:
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()
