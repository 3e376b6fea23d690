"""Training: one device-agnostic loop (CPU, CUDA + AMP, DDP via torchrun), checkpoints, the pipeline
stages."""

from .checkpoint import CheckpointError, ConfigMismatchError, load_checkpoint, save_checkpoint
from .engine import DistributedContext, FitResult, Task, Trainer, collate_clips, epoch_order


def __getattr__(name: str):  # lazy: the course pulls in model, data and metrics
    if name == "Course":
        from .course import Course

        return Course
    raise AttributeError(name)


__all__ = [
    "CheckpointError",
    "ConfigMismatchError",
    "Course",
    "load_checkpoint",
    "save_checkpoint",
    "DistributedContext",
    "FitResult",
    "Task",
    "Trainer",
    "collate_clips",
    "epoch_order",
]
