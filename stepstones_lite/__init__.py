"""stepstones_lite: a runnable course on audio-visual semantic segmentation.

Built around "Stepping Stones: A Progressive Training Strategy for Audio-Visual Semantic
Segmentation" (Ma, Sun, Wang, Hu, ECCV 2024). The package holds the real pieces (model, losses,
metrics, data, trainer); the notebooks in ``notebooks/`` import them.
"""

from ._version import __version__
from .config import DataConfig, ModelConfig, Profile, TrainConfig, resolve_profile  # noqa: E402
from .notebook_setup import CourseSetup, course_setup  # noqa: E402
from .utils import (  # noqa: E402
    artifacts_dir,
    figures_dir,
    print_env,
    resolve_device,
    seed_everything,
)

__all__ = [
    "__version__",
    "DataConfig",
    "ModelConfig",
    "TrainConfig",
    "Profile",
    "resolve_profile",
    "resolve_device",
    "seed_everything",
    "print_env",
    "artifacts_dir",
    "figures_dir",
    "CourseSetup",
    "course_setup",
]
