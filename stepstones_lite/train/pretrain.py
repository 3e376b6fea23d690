"""Pre-trained encoder stand-ins for the small profiles (the paper's ADE20k Swin-B and AudioSet VGGish).

Nothing can be downloaded, and encoders trained from scratch do not learn classes in classroom time
(docs/feasibility.md §4). So the small profiles pre-train two stand-ins once, cache them as artifacts, and
then freeze them (with adapters on the backbone, as the paper freezes Swin; docs/feasibility.md §R3, lever 1):

- **visual**: the lite CNN backbone + a light FPN head trained as a *dense* segmenter of every visible object
  (the ADE20k stand-in: ADE labels every object, sounding or not);
- **audio**: the lite log-mel CNN trained as a multi-label classifier of what sounds in each second
  (on-screen sounding objects and off-screen sounds: the AudioSet stand-in).

Both are trained on the **training split only** (frames, instance masks and sound labels from the synthetic
set's ``objects.json`` sidecar; never val/test material).

The label space matters (docs/feasibility.md §R3.8): with stand-ins trained on exactly the benchmark's
classes, semantics come nearly free and end-to-end training has no "mashup" to suffer from. The paper's
encoders are trained on label spaces that do not align with AVSBench's. ``label_space="coarse"`` (the default)
therefore trains on super-classes (animal, instrument, vehicle, person, object); ``"fine"`` on the exact
classes; the audio stand-in may also learn sound *families* (``"family"``: voice, pets, livestock, birds,
strings and keys, winds, percussion), so the sound names the family and vision must name the member.
The audio stand-in may get its own label space (``TrainConfig.pretrain_audio_label_space``): AudioSet's 527
classes name most of AVSBench's sound classes (dog bark, violin, ...) while ADE20k's 150 do not name most of
its sounding objects, so "coarse visual, fine audio" mirrors the paper's pair more closely than one shared
space.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Profile
from ..utils import atomic_torch_save, atomic_write_json, resolve_device, seed_everything

__all__ = [
    "SUPER_CLASSES",
    "SOUND_FAMILIES",
    "LABEL_SPACES",
    "group_of",
    "family_of",
    "pretrain_encoders",
    "ensure_encoders",
    "with_encoders",
    "DenseHead",
    "HEAD_FILES",
    "ensure_heads",
    "load_heads",
]

HEAD_FILES = ("visual_head.pt", "audio_head.pt")  # the stand-ins' class heads, beside visual.pt / audio.pt

# super-classes of the coarse label space (classes not listed fall into "object")
SUPER_CLASSES: dict[str, tuple[str, ...]] = {
    "animal": (
        "dog",
        "cat",
        "horse",
        "pig",
        "sheep",
        "duck",
        "hen",
        "bird",
        "cow",
        "lion",
        "elephant",
        "donkey",
        "goose",
        "squirrel",
        "tiger",
        "wolf",
        "leopard",
        "parrot",
    ),
    "instrument": (
        "piano",
        "guitar",
        "violin",
        "trumpet",
        "drum",
        "flute",
        "saxophone",
        "accordion",
        "cello",
        "tabla",
        "trombone",
        "tuba",
        "clarinet",
        "harp",
        "marimba",
        "sitar",
        "bassoon",
        "ukulele",
        "erhu",
        "guzheng",
        "pipa",
        "sorna",
        "handpan",
        "harmonica",
        "keyboard",
        "bell",
    ),
    "vehicle": (
        "helicopter",
        "emergency-car",
        "car",
        "bus",
        "truck",
        "train",
        "airplane",
        "motorcycle",
        "boat",
        "tractor",
        "tank",
        "utv",
        "bicycle",
        "missile-rocket",
        "mower",
    ),
    "person": ("man", "woman", "boy", "girl", "baby"),
}
GROUPS = tuple(SUPER_CLASSES) + ("object",)

# sound families of the "family" audio label space: the sound says which family, vision must say which member,
# as VGGish's generic AudioSet embedding against AVSBench's confusable groups (five person classes, ~25
# instruments, ~12 vehicles). Every family of the 17 default classes has two or three members (a one-member
# family would name its class): the helicopter's rotor, a periodic thump, joins the percussion. Classes not
# listed: "other".
SOUND_FAMILIES: dict[str, tuple[str, ...]] = {
    "voice": ("man", "woman", "boy", "girl", "baby"),
    "pets": ("dog", "cat"),
    "livestock": ("horse", "pig", "sheep", "cow", "donkey"),
    "birds": ("duck", "hen", "bird", "goose", "parrot"),
    "strings and keys": ("piano", "guitar", "violin", "cello", "harp", "ukulele", "keyboard"),
    "winds": (
        "trumpet",
        "flute",
        "saxophone",
        "accordion",
        "clarinet",
        "trombone",
        "tuba",
        "bassoon",
        "harmonica",
    ),
    "percussion": ("drum", "helicopter", "bell", "emergency-car", "tabla", "marimba"),
}
LABEL_SPACES = ("coarse", "family", "fine")


def group_of(name: str) -> str:
    """The super-class of a class name (``"object"`` when not listed)."""
    for group, members in SUPER_CLASSES.items():
        if name in members:
            return group
    return "object"


def family_of(name: str) -> str:
    """The sound family of a class name (:data:`SOUND_FAMILIES`; ``"other"`` when not listed)."""
    for family, members in SOUND_FAMILIES.items():
        if name in members:
            return family
    return "other"


class DenseHead(nn.Module):
    """A light FPN head over the backbone's strides 4-32 giving per-pixel logits (the pre-training head)."""

    def __init__(self, channels: dict[str, int], num_classes: int, dim: int = 48) -> None:
        super().__init__()
        self.keys = ("res2", "res3", "res4", "res5")
        self.lateral = nn.ModuleDict({k: nn.Conv2d(channels[k], dim, 1) for k in self.keys})
        self.out = nn.Sequential(
            nn.Conv2d(dim, dim, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(dim, num_classes, 1)
        )

    def forward(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        y = self.lateral["res5"](feats["res5"])  # [N, dim, H/32, W/32]
        for k in ("res4", "res3", "res2"):
            lat = self.lateral[k](feats[k])
            y = lat + F.interpolate(y, size=lat.shape[-2:], mode="nearest")  # [N, dim, H/s, W/s]
        return self.out(y)  # [N, C, H/4, W/4]


# --------------------------------------------------------------------------- training material
class _LabelSpace:
    """Class name -> label id (1-based; 0 is background) in the ``"coarse"``, ``"family"`` or ``"fine"``
    space."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        fixed = {"coarse": list(GROUPS), "family": [*SOUND_FAMILIES, "other"]}
        self.names: list[str] = fixed.get(kind, [])  # "fine": filled in order of appearance
        self.index = {n: i + 1 for i, n in enumerate(self.names)}

    def __call__(self, cls: str) -> int:
        key = {"coarse": group_of, "family": family_of}.get(self.kind, str)(cls)
        if key not in self.index:
            self.names.append(key)
            self.index[key] = len(self.names)
        return self.index[key]


def _collect(
    profile: Profile, root: Path, label_space: str, audio_label_space: str | None = None
) -> dict[str, Any]:
    """Train-split frames (uint8), dense group/class maps and per-second sound labels, in memory.

    ``names`` is the visual label space, ``audio_names`` the audio one (the same list unless
    ``audio_label_space`` differs from ``label_space``).
    """
    from .datasets import avss_dataset

    dataset = avss_dataset(profile, root, "train", return_instances=True, preload=False)
    label = _LabelSpace(label_space)
    audio_label = label if audio_label_space in (None, label_space) else _LabelSpace(audio_label_space)

    frames, dense, mels, sounds = [], [], [], []
    for i in range(len(dataset)):
        item = dataset[i]
        objects = item["objects"]
        ids = item["instances"]  # [T, H, W] object id, 0 = none
        lut = torch.zeros(int(ids.max()) + 1 if ids.numel() else 1, dtype=torch.int64)
        t = ids.shape[0]
        snd: list[set[int]] = [set() for _ in range(t)]
        for obj in objects.get("objects", []):
            if int(obj["id"]) < len(lut):
                lut[int(obj["id"])] = label(obj["class"])
            for k, on in enumerate(obj["sounding"][:t]):
                if on:
                    snd[k].add(audio_label(obj["class"]))
        for off in objects.get("off_screen", []):
            for k in off.get("seconds", []):
                if 0 <= int(k) < t:
                    snd[int(k)].add(audio_label(off["class"]))
        frames.append((item["frames"].clamp(0, 1) * 255).round().to(torch.uint8))  # [T, 3, H, W]
        dense.append(lut[ids])  # [T, H, W]
        mels.append(item["log_mel"])  # [T, 1, 96, 64]
        sounds.append(snd)
    n_cls = len(audio_label.names)
    multi_hot = torch.zeros(sum(len(s) for s in sounds), n_cls)
    row = 0
    for clip in sounds:
        for labels in clip:
            for c in labels:
                multi_hot[row, c - 1] = 1.0
            row += 1
    return {
        "frames": torch.cat(frames),
        "dense": torch.cat(dense),
        "log_mel": torch.cat(mels),
        "sound": multi_hot,
        "names": label.names,
        "audio_names": audio_label.names,
    }


def _steps(steps: int, desc: str) -> Any:
    """``range(steps)`` with a ``tqdm.auto`` bar (off under CI / pytest / ``TQDM_DISABLE``, like the
    Trainer's)."""
    from tqdm.auto import tqdm

    from .engine import _progress_disabled

    return tqdm(range(steps), desc=desc, disable=_progress_disabled(), dynamic_ncols=True)


def _split_holdout(n: int, gen: torch.Generator, share: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    perm = torch.randperm(n, generator=gen)
    k = max(1, int(n * share))
    return perm[k:], perm[:k]


def _train_visual(
    profile: Profile,
    data: dict[str, Any],
    steps: int,
    device: torch.device,
    gen: torch.Generator,
    batch: int = 32,
) -> tuple[nn.Module, nn.Module, dict[str, float]]:
    from ..model.backbone import LiteCNN

    body = LiteCNN(tuple(profile.model.backbone_channels)).to(device)
    head = DenseHead(body.feature_channels, len(data["names"]) + 1).to(device)
    params = list(body.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=max(1, steps), pct_start=0.1)
    train_idx, held_idx = _split_holdout(len(data["frames"]), gen)
    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1)

    def forward(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = data["frames"][idx].to(device).float() / 255.0  # [B, 3, H, W]
        if torch.rand(1, generator=gen).item() < 0.5:
            x, y = x.flip(-1), data["dense"][idx].flip(-1)
        else:
            y = data["dense"][idx]
        logits = head(body((x - mean) / std))  # [B, C, H/4, W/4]
        return F.interpolate(logits, size=y.shape[-2:], mode="bilinear", align_corners=False), y.to(device)

    body.train(), head.train()
    for _ in _steps(steps, "visual stand-in (pre-training)"):
        idx = train_idx[torch.randint(len(train_idx), (batch,), generator=gen)]
        logits, y = forward(idx)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    body.eval(), head.eval()
    inter = torch.zeros(len(data["names"]) + 1)
    union = torch.zeros_like(inter)
    with torch.no_grad():
        for chunk in held_idx.split(64):
            x = data["frames"][chunk].to(device).float() / 255.0
            logits = head(body((x - mean) / std))
            pred = (
                F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False).argmax(1).cpu()
            )
            y = data["dense"][chunk]
            for c in range(len(inter)):
                inter[c] += ((pred == c) & (y == c)).sum()
                union[c] += ((pred == c) | (y == c)).sum()
    present = union > 0
    report = {
        "visual_heldout_miou": float((inter[present] / union[present]).mean()),
        "visual_final_loss": float(loss.detach()),
    }
    return body, head, report


def _train_audio(
    profile: Profile,
    data: dict[str, Any],
    steps: int,
    device: torch.device,
    gen: torch.Generator,
    batch: int = 64,
) -> tuple[nn.Module, nn.Module, dict[str, float]]:
    from ..model.audio_encoder import LiteAudioCNN

    enc = LiteAudioCNN(profile.model.audio_dim).to(device)
    head = nn.Linear(profile.model.audio_dim, len(data["audio_names"])).to(device)
    opt = torch.optim.AdamW(list(enc.parameters()) + list(head.parameters()), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=max(1, steps), pct_start=0.1)
    train_idx, held_idx = _split_holdout(len(data["log_mel"]), gen)
    enc.train(), head.train()
    for _ in _steps(steps, "audio stand-in (pre-training)"):
        idx = train_idx[torch.randint(len(train_idx), (batch,), generator=gen)]
        x = data["log_mel"][idx].to(device).clone()  # [B, 1, 96, 64]
        # SpecAugment-style masks: one time band and one frequency band per example
        t0 = torch.randint(0, 96 - 12, (1,), generator=gen).item()
        f0 = torch.randint(0, 64 - 8, (1,), generator=gen).item()
        x[:, :, t0 : t0 + 12] = x.mean()
        x[:, :, :, f0 : f0 + 8] = x.mean()
        loss = F.binary_cross_entropy_with_logits(head(enc(x)), data["sound"][idx].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    enc.eval(), head.eval()
    with torch.no_grad():
        probs = torch.sigmoid(head(enc(data["log_mel"][held_idx].to(device)))).cpu()
    exact = ((probs > 0.5).float() == data["sound"][held_idx]).all(1).float().mean()
    return enc, head, {"audio_heldout_exact_set": float(exact), "audio_final_loss": float(loss.detach())}


# --------------------------------------------------------------------------- entry points
def pretrain_encoders(
    profile: Profile,
    out_dir: str | Path,
    *,
    data_root: str | Path | None = None,
    label_space: str | None = None,
    visual_steps: int | None = None,
    audio_steps: int | None = None,
    device: str | None = None,
    audio_label_space: str | None = None,
) -> dict[str, Any]:
    """Train both stand-ins into ``out_dir`` (``visual.pt``, ``audio.pt``, ``standins.json``); return the
    report.

    ``label_space`` (default ``profile.train.pretrain_label_space``) is the visual stand-in's,
    ``audio_label_space`` (default ``profile.train.pretrain_audio_label_space``, falling back to
    ``label_space``) the audio one's.
    """
    from .datasets import ensure_dataset

    label_space = label_space or profile.train.pretrain_label_space
    audio_label_space = audio_label_space or profile.train.pretrain_audio_label_space or label_space
    if label_space not in (
        "coarse",
        "fine",
    ):  # the visual stand-in segments objects, it has no sound families
        raise ValueError(f"label_space must be 'coarse' or 'fine', got {label_space!r}")
    if audio_label_space not in LABEL_SPACES:
        raise ValueError(f"audio_label_space must be one of {LABEL_SPACES}, got {audio_label_space!r}")
    out_dir = Path(out_dir)
    dev = resolve_device(device or profile.train.device, verbose=False)
    # one set of stand-ins serves every training seed (as one set of ADE/AudioSet weights serves the paper)
    seed_everything(profile.data.seed)
    gen = torch.Generator().manual_seed(profile.data.seed)
    start = time.perf_counter()
    data = _collect(profile, ensure_dataset(profile, data_root), label_space, audio_label_space)
    collect_s = time.perf_counter() - start
    steps = profile.train.pretrain_steps
    vis_steps = visual_steps if visual_steps is not None else steps
    body, vis_head, vis_report = _train_visual(profile, data, vis_steps, dev, gen)
    vis_s = time.perf_counter() - start - collect_s
    enc, aud_head, aud_report = _train_audio(
        profile, data, audio_steps if audio_steps is not None else steps, dev, gen
    )
    atomic_torch_save(body.cpu().state_dict(), out_dir / "visual.pt")
    atomic_torch_save(enc.cpu().state_dict(), out_dir / "audio.pt")
    # the class heads: only the class-matching deviation (model/class_matching.py) reads them
    atomic_torch_save(vis_head.cpu().state_dict(), out_dir / HEAD_FILES[0])
    atomic_torch_save(aud_head.cpu().state_dict(), out_dir / HEAD_FILES[1])
    report = {
        "label_space": label_space,
        "labels": data["names"],
        "audio_label_space": audio_label_space,
        "audio_labels": data["audio_names"],
        **vis_report,
        **aud_report,
        "train_frames": int(len(data["frames"])),
        "seconds": {
            "collect": round(collect_s, 1),
            "visual": round(vis_s, 1),
            "total": round(time.perf_counter() - start, 1),
        },
    }
    atomic_write_json(out_dir / "standins.json", report)
    return report


def ensure_encoders(profile: Profile, data_root: str | Path | None = None) -> Path:
    """The cached stand-ins for ``profile`` (built once by :func:`pretrain_encoders`)."""
    from ..artifacts import ensure_artifact
    from .datasets import ensure_dataset

    root = ensure_dataset(profile, data_root)
    key = {
        "data": str(root),
        "channels": list(profile.model.backbone_channels),
        "audio_dim": profile.model.audio_dim,
        "steps": profile.train.pretrain_steps,
        "label_space": profile.train.pretrain_label_space,
    }
    audio_space = profile.train.pretrain_audio_label_space
    if audio_space not in (None, profile.train.pretrain_label_space):
        key["audio_label_space"] = audio_space  # only when it differs: earlier caches keep their keys
    return ensure_artifact("encoders", lambda folder: pretrain_encoders(profile, folder, data_root=root), key)


def with_encoders(profile: Profile, folder: str | Path) -> Profile:
    """The profile with its model pointing at pre-trained stand-ins in ``folder``."""
    folder = Path(folder)
    return profile.replace(
        model__backbone_weights=str(folder / "visual.pt"), model__audio_weights=str(folder / "audio.pt")
    )


def ensure_heads(profile: Profile, folder: str | Path, data_root: str | Path | None = None) -> Path:
    """Make sure the stand-ins in ``folder`` have their class heads (``HEAD_FILES``); return ``folder``.

    Stand-ins cached by an older version lack the heads. They are re-trained into a scratch folder (same seed,
    so the same weights) and the heads are copied in only if the re-trained ``visual.pt`` and ``audio.pt``
    equal the cached ones bit for bit; otherwise a clear error asks to delete the cached folder.
    """
    import shutil
    import tempfile

    folder = Path(folder)
    if all((folder / f).is_file() for f in HEAD_FILES):
        return folder
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".heads-") as tmp:
        pretrain_encoders(profile, tmp, data_root=data_root)
        for name in ("visual.pt", "audio.pt"):
            old = torch.load(folder / name, map_location="cpu", weights_only=True)
            new = torch.load(Path(tmp) / name, map_location="cpu", weights_only=True)
            if old.keys() != new.keys() or any(not torch.equal(old[k], new[k]) for k in old):
                raise RuntimeError(
                    f"{folder}: cached stand-ins have no class heads and re-training did not reproduce "
                    f"{name}; delete {folder} so both are rebuilt together"
                )
        for name in HEAD_FILES:
            shutil.copy2(Path(tmp) / name, folder / name)
    return folder


def load_heads(folder: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The visual (dense) and audio class heads of the stand-ins in ``folder`` (``weights_only`` load)."""
    folder = Path(folder)
    missing = [f for f in HEAD_FILES if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder}: no stand-in class heads {missing} (needed by model.class_matching); "
            "build them with stepstones_lite.train.pretrain.ensure_heads"
        )
    vis, aud = (torch.load(folder / f, map_location="cpu", weights_only=True) for f in HEAD_FILES)
    return vis, aud
