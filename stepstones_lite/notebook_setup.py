"""The setup cell of the training notebooks (02-05) as one call: :func:`course_setup`.

It does what those cells did by hand, in the same order: point ``$STEPSTONES_ARTIFACTS`` at ``artifacts_dir``
if given, resolve the profile (``"auto"`` reads ``$STEPSTONES_PROFILE``) with the notebook's overrides and its
device, print the environment, seed everything, pick the device and apply the house style. It is cheap: the
:class:`~stepstones_lite.train.course.Course` (which finds or builds the dataset and the stand-in encoders) is
made on first use of :attr:`CourseSetup.course`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .config import Profile, resolve_profile
from .utils import (
    ARTIFACTS_ENV,
    env_info,
    print_env,
    resolve_device,
    seed_everything,
)
from .utils import (
    artifacts_dir as _artifacts_dir,
)

if TYPE_CHECKING:
    from .train.course import Course

__all__ = ["CourseSetup", "course_setup"]


@dataclass
class CourseSetup:
    """What a notebook's setup cell resolves: profile, device, seed, artifacts folder and (lazily) the
    Course."""

    profile: Profile
    device: torch.device
    seed: int
    artifacts_dir: Path
    data_root: str | Path | None = None
    env: dict[str, Any] = field(default_factory=dict, repr=False)
    _course: Any = field(default=None, repr=False, compare=False)

    @property
    def course(self) -> Course:
        """The :class:`~stepstones_lite.train.course.Course` of this profile, made on first access."""
        if self._course is None:
            from .train import course as _course_module

            self._course = _course_module.Course(self.profile, data_root=self.data_root)
        return self._course


def course_setup(
    profile: str | Profile = "auto",
    device: str = "auto",
    seed: int | None = None,
    artifacts_dir: str | os.PathLike[str] | None = None,
    *,
    data_root: str | Path | None = None,
    verbose: bool = True,
    **overrides: Any,
) -> CourseSetup:
    """Resolve a notebook's parameters into a :class:`CourseSetup` (nothing is built or trained here).

    Args:
        profile: profile name (``"auto"``: ``$STEPSTONES_PROFILE``, default classroom) or a :class:`Profile`.
        device: ``auto`` | ``cpu`` | ``cuda`` | ``mps``; also set as the profile's ``train.device``.
        seed: seeds Python, NumPy and torch; ``None``: the profile's ``train.seed``.
        artifacts_dir: sets ``$STEPSTONES_ARTIFACTS`` (``None``: leave it, default ``<root>/artifacts``).
        data_root: dataset folder for the Course (``None``: ``$STEPSTONES_DATA`` or the synthetic set).
        verbose: print the environment (``env`` holds it either way) and the device choice.
        **overrides: profile overrides ``section__field=value`` (``None`` values keep the profile's).
    """
    if artifacts_dir is not None:
        os.environ[ARTIFACTS_ENV] = str(artifacts_dir)
    cfg = resolve_profile(profile, train__device=device, **overrides)
    env = print_env() if verbose else env_info()
    chosen_seed = cfg.train.seed if seed is None else int(seed)
    seed_everything(chosen_seed)
    dev = resolve_device(device, verbose=verbose)
    from . import viz

    viz.set_style()
    return CourseSetup(
        profile=cfg,
        device=dev,
        seed=chosen_seed,
        artifacts_dir=_artifacts_dir(create=False),
        data_root=data_root,
        env=env,
    )
