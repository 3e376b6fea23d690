"""Training: one device-agnostic loop (CPU, CUDA + AMP, DDP via torchrun), checkpoints, the pipeline stages."""
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .engine import DistributedContext, FitResult, Task, Trainer, collate_clips, epoch_order

__all__ = [
    "CheckpointError",
    "load_checkpoint",
    "save_checkpoint",
    "DistributedContext",
    "FitResult",
    "Task",
    "Trainer",
    "collate_clips",
    "epoch_order",
]
