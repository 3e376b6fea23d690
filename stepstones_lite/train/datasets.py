"""The pipeline's data step: the dataset root of a profile and an AVSS split shaped for it.

:func:`ensure_dataset` returns a given AVSBench-semantic root or the profile's synthetic set (generated once);
:func:`avss_dataset` opens one split of it. Both :mod:`.pipeline` (which re-exports them) and :mod:`.pretrain`
import them from here, so neither of the two imports the other for its data.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..artifacts import is_follower_rank, wait_for
from ..config import Profile
from ..data import DatasetError

__all__ = ["ensure_dataset", "avss_dataset"]


def ensure_dataset(profile: Profile, root: str | Path | None = None) -> Path:
    """The dataset root: ``root`` / ``profile.data.root`` / ``$STEPSTONES_DATA``, else the synthetic set.

    The synthetic set of a profile (its ``data`` section, generator knobs ``data.synth`` included) lives in
    ``<artifacts>/data/synthetic_<profile>_<config hash>`` (the folder
    ``stepstones make-data --profile <profile>`` writes); it is generated on first use. The generator is
    resumable, so an interrupted build continues where it stopped.
    """
    explicit = root or profile.data.root or os.environ.get("STEPSTONES_DATA", "").strip()
    if explicit:
        path = Path(explicit).expanduser()
        if not (path / "metadata.csv").is_file():
            raise DatasetError(path, "no metadata.csv here: not an AVSBench-semantic root")
        return path
    from ..data.synthetic import SynthConfig, default_root, generate_dataset

    synth = SynthConfig.from_data_config(profile.data)
    path = default_root(profile.name, synth)
    if is_follower_rank():  # under torchrun rank 0 generates, the others wait
        wait_for(lambda: (path / "metadata.csv").is_file(), f"the synthetic dataset {path}")
    if not (path / "metadata.csv").is_file():
        print(f"[stepstones] generating the {profile.name} synthetic dataset -> {path}")
        generate_dataset(path, synth, progress=not _quiet())
    return path


def _quiet() -> bool:
    return bool(os.environ.get("TQDM_DISABLE") or os.environ.get("CI"))


_PURPOSE = {"train": "training", "val": "validation", "test": "evaluation"}


def avss_dataset(
    profile: Profile,
    root: str | Path,
    split: str,
    *,
    prior_root: str | Path | None = None,
    return_instances: bool = False,
    preload: bool = True,
    purpose: str | None = None,
) -> Any:
    """An :class:`~stepstones_lite.data.AVSBenchSemantic` split shaped for the profile (frames in [0, 1]).

    Every step that opens a split needs its clips: a split without rows in ``metadata.csv`` raises a
    ``DatasetError`` naming the file, the split and ``purpose`` (default: training/validation/evaluation).
    """
    from ..data import AVSBenchSemantic

    dataset = AVSBenchSemantic(
        root,
        split=split,
        image_size=profile.data.image_size,
        normalize=False,
        prior_root=prior_root,
        return_instances=return_instances,
        preload=preload,
    )
    if len(dataset) == 0:
        need = purpose or _PURPOSE.get(split, "this step")
        raise DatasetError(Path(root) / "metadata.csv", f"no rows of split {split!r}; {need} needs them")
    return dataset
