"""Data: the AVSBench label space, datasets (S4, MS3, AVSS), validation and the synthetic benchmark."""

from .avsbench import AVSBenchObject, AVSBenchSemantic, clip_collate
from .classes import AVSS_CLASSES, NUM_AVSS_CLASSES, class_colour, class_index, label2idx, palette
from .errors import DatasetError
from .validate import ValidationReport, benchmark_classes, validate_dataset

__all__ = [
    "AVSS_CLASSES",
    "NUM_AVSS_CLASSES",
    "class_colour",
    "class_index",
    "label2idx",
    "palette",
    "DatasetError",
    "AVSBenchObject",
    "AVSBenchSemantic",
    "clip_collate",
    "validate_dataset",
    "benchmark_classes",
    "ValidationReport",
]
