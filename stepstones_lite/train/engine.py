"""One training loop for every model in the course (AAVS stage 1, stage 2, end-to-end, the TPAVI baseline).

What varies between them lives in a :class:`Task` (how a batch becomes a loss, how a split is evaluated);
the :class:`Trainer` owns everything else:

- AdamW with the paper code's two-phase schedule (lr 1e-3, then 1e-4 for the last ``phase_b_fraction`` of
  the steps; docs/paper_and_code.md §2.1) after an optional linear warm-up, gradient clipping;
- one clip per step with its frames as the batch (the paper), or ``clips_per_step`` clips;
- devices only through :func:`~stepstones_lite.utils.resolve_device`; autocast on CUDA only
  (bf16 where supported, else fp16 + ``GradScaler``); optional ``torch.compile``;
- DistributedDataParallel when started by ``torchrun`` (NCCL on GPUs, gloo on CPU), each rank taking its
  share of every epoch's permutation, rank 0 alone logging and checkpointing;
- evaluation every ``eval_every`` steps with the exact metrics, best checkpoint on the validation monitor;
- checkpoints with optimizer, scheduler, scaler, RNG states and step, written atomically; ``resume=True``
  continues bit-identically on CPU (data order is a pure function of seed and epoch, and evaluation runs
  inside a forked RNG so it never shifts the training stream);
- ``tqdm.auto`` progress (one line; off under ``TQDM_DISABLE``/CI), a JSONL log per run (and TensorBoard
  scalars when ``tensorboard`` is installed) and a ``history``;
- data read inline from preloaded datasets on CPU, or by ``DataLoader`` workers (``DataConfig.num_workers``,
  pinned memory on CUDA) in the same deterministic order.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ..config import Profile
from ..utils import append_text, atomic_write_text, autocast, resolve_device, seed_everything
from .checkpoint import (
    CheckpointError,
    ConfigMismatchError,
    config_diff,
    load_checkpoint,
    load_state,
    save_checkpoint,
    set_rng_state,
)

__all__ = ["Task", "Trainer", "make_adamw", "FitResult", "DistributedContext", "collate_clips", "epoch_order"]


class Task(Protocol):
    """What a model-specific part of training provides."""

    kind: str  # checkpoint kind, e.g. "aavs-stage1"
    monitor: str  # validation metric to maximise, e.g. "miou"

    def loss(self, model: nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        """Scalar loss for one batch (already on the device) and float logs."""

    def evaluate(self, model: nn.Module, batches: Iterator[dict[str, Any]]) -> dict[str, float]:
        """Metrics over an iterator of batches (already on the device); must include ``monitor``."""


# --------------------------------------------------------------------------- data order and batching
def epoch_order(num_items: int, seed: int, epoch: int) -> list[int]:
    """The item order of one epoch: a permutation that depends only on (seed, epoch)."""
    gen = torch.Generator()
    gen.manual_seed(int(seed) * 1_000_003 + int(epoch))
    return torch.randperm(num_items, generator=gen).tolist()


def collate_clips(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack clips (equal T) along a new leading axis; tensors become ``[B, T, ...]``, others lists."""
    batch: dict[str, Any] = {}
    for key in items[0]:
        values = [item[key] for item in items]
        if isinstance(values[0], torch.Tensor):
            batch[key] = torch.stack(values)
        else:
            batch[key] = values
    return batch


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    non_blocking = device.type == "cuda"
    return {
        k: v.to(device, non_blocking=non_blocking) if isinstance(v, torch.Tensor) else v
        for k, v in batch.items()
    }


def make_adamw(params: Any, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW (β 0.9/0.999, eps 1e-8, as the paper's code) with the fused kernel where the device has one.

    The small profiles have many small parameter tensors; the per-tensor loop of the default CPU path costs
    ~15 % of a training step, the fused kernel a fraction of that.
    """
    try:
        return torch.optim.AdamW(
            params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=weight_decay, fused=True
        )
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=weight_decay)


# --------------------------------------------------------------------------- distributed
@dataclass
class DistributedContext:
    """World size and rank, from ``torchrun``'s environment (1 process when absent)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialised_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device: torch.device) -> "DistributedContext":
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        initialised_here = False
        if not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            dist.init_process_group(backend=backend)
            initialised_here = True
        return cls(rank=rank, world_size=world, local_rank=local, initialised_here=initialised_here)

    def close(self) -> None:
        if self.initialised_here and dist.is_initialized():
            dist.destroy_process_group()


def _device_for(device: str | torch.device) -> torch.device:
    """Resolve the device; under torchrun with CUDA each rank takes its LOCAL_RANK GPU."""
    if (
        str(device) in ("auto", "cuda")
        and torch.cuda.is_available()
        and int(os.environ.get("WORLD_SIZE", "1")) > 1
    ):
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return resolve_device(device, verbose=int(os.environ.get("RANK", "0")) == 0)


# --------------------------------------------------------------------------- the trainer
@dataclass
class FitResult:
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=dict)
    last_checkpoint: Path | None = None
    best_checkpoint: Path | None = None
    wall_seconds: float = 0.0
    steps_run: int = 0


def _progress_disabled() -> bool:
    return (
        bool(os.environ.get("TQDM_DISABLE"))
        or bool(os.environ.get("CI"))
        or bool(os.environ.get("PYTEST_CURRENT_TEST"))
    )


class Trainer:
    """Train ``model`` on ``train_set`` for ``steps`` steps with the schedule of ``profile.train``.

    Args:
        model: any module the ``task`` knows how to call.
        task: the :class:`Task` (loss, evaluation, checkpoint kind, monitor).
        train_set / val_set: indexable datasets of clip dicts (``val_set`` may be None).
        profile: the resolved :class:`~stepstones_lite.config.Profile` (saved with every checkpoint).
        out_dir: run folder: ``last.pt``, ``best.pt`` (+ ``.json``), ``history.jsonl``.
        steps: optimisation steps (defaults to ``profile.train.stage1_steps``).
        trainable: optional filter ``name -> bool`` choosing the parameters to optimise.
        lr_scale: optional ``name -> float`` per-parameter lr multiplier (e.g. 0.1 for a pretrained backbone).
    """

    def __init__(
        self,
        model: nn.Module,
        task: Task,
        train_set: Any,
        val_set: Any | None,
        profile: Profile,
        out_dir: str | Path,
        steps: int | None = None,
        *,
        device: str | torch.device | None = None,
        eval_every: int | None = None,
        trainable: Callable[[str], bool] | None = None,
        lr_scale: Callable[[str], float] | None = None,
        on_eval: Callable[[dict[str, Any]], None] | None = None,
        progress: bool | None = None,
        description: str = "train",
    ) -> None:
        self.profile, self.task = profile, task
        tcfg = profile.train
        self.cfg = tcfg
        self.device = _device_for(device or tcfg.device)
        self.ctx = DistributedContext.from_env(self.device)
        self.steps = int(steps if steps is not None else tcfg.stage1_steps)
        self.eval_every = int(eval_every or tcfg.eval_every or self.steps)
        self.train_set, self.val_set = train_set, val_set
        self.out_dir = Path(out_dir)
        self.on_eval = on_eval
        self.description = description
        self.show_progress = (not _progress_disabled()) if progress is None else progress
        if tcfg.num_threads:
            torch.set_num_threads(int(tcfg.num_threads))

        self.model = model.to(self.device)
        named = [
            (n, p)
            for n, p in self.model.named_parameters()
            if p.requires_grad and (trainable is None or trainable(n))
        ]
        if not named:
            raise ValueError("no trainable parameters: check the freezing switches / trainable filter")
        groups: dict[float, list[nn.Parameter]] = {}
        for name, param in named:
            groups.setdefault(float(lr_scale(name)) if lr_scale else 1.0, []).append(param)
        self.optimizer = make_adamw(
            [
                {"params": ps, "lr": tcfg.lr * scale, "initial_lr": tcfg.lr * scale}
                for scale, ps in groups.items()
            ],
            lr=tcfg.lr,
            weight_decay=tcfg.weight_decay,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.use_amp = bool(tcfg.amp) and self.device.type == "cuda"
        self.amp_dtype = (
            (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if self.use_amp else None
        )
        self.scaler = (
            torch.amp.GradScaler("cuda") if self.use_amp and self.amp_dtype == torch.float16 else None
        )
        self.train_model: nn.Module = self.model
        if tcfg.compile:
            self.train_model = torch.compile(self.train_model)  # type: ignore[assignment]
        if self.ctx.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_model = DistributedDataParallel(
                self.train_model, device_ids=ids, find_unused_parameters=True
            )
        self.step = 0
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {}

    # ----------------------------------------------------------------- schedule
    def _lr_factor(self, step: int) -> float:
        """Linear warm-up, then 1 (phase A), then lr_phase_b / lr for the last phase_b_fraction (phase B)."""
        warm = max(0, int(getattr(self.cfg, "warmup_steps", 0)))
        factor = 1.0
        if warm and step < warm:
            factor = (step + 1) / warm
        if self.cfg.phase_b_fraction > 0 and step >= int(
            math.ceil(self.steps * (1 - self.cfg.phase_b_fraction))
        ):
            factor = self.cfg.lr_phase_b / self.cfg.lr
        return factor

    # ----------------------------------------------------------------- batches
    def _epoch_batches(self, start_step: int) -> Iterator[list[list[int]]]:
        """Per epoch, the index lists of its remaining steps; a pure function of (seed, epoch, rank), so
        resume can rejoin the stream at any step."""
        n, per_step = len(self.train_set), max(1, int(self.cfg.clips_per_step))
        world, rank = self.ctx.world_size, self.ctx.rank
        per_epoch = max(1, n // (per_step * world))  # whole steps per epoch on every rank
        step = start_step
        while True:
            epoch, offset = divmod(step, per_epoch)
            shard = epoch_order(n, self.cfg.seed, epoch)[rank::world]
            yield [shard[pos * per_step : (pos + 1) * per_step] for pos in range(offset, per_epoch)]
            step += per_epoch - offset

    def _train_batches(self, start_step: int) -> Iterator[dict[str, Any]]:
        """Collated training batches from ``start_step`` on.

        With ``DataConfig.num_workers > 0`` a :class:`torch.utils.data.DataLoader` reads them in worker
        processes (pinned memory on CUDA), in the same order: it is handed the epoch's index lists as its
        ``batch_sampler``. With 0 workers (the CPU profiles, whose datasets are preloaded) clips are read
        inline.
        """
        workers = int(getattr(self.profile.data, "num_workers", 0) or 0)
        for epoch_offset, index_lists in enumerate(self._epoch_batches(start_step)):
            if workers > 0:
                # its own generator, so starting workers never draws from (and shifts) the global RNG stream
                gen = torch.Generator().manual_seed(self.cfg.seed * 7919 + start_step + epoch_offset)
                loader = torch.utils.data.DataLoader(
                    self.train_set,
                    batch_sampler=index_lists,
                    num_workers=workers,
                    collate_fn=collate_clips,
                    pin_memory=self.device.type == "cuda",
                    persistent_workers=False,
                    generator=gen,
                )
                yield from loader
            else:
                for idx in index_lists:
                    yield collate_clips([self.train_set[i] for i in idx])

    def eval_batches(self, dataset: Any) -> Iterator[dict[str, Any]]:
        """One clip at a time, in order, on the device (every rank sees the whole split)."""
        for i in range(len(dataset)):
            yield _to_device(collate_clips([dataset[i]]), self.device)

    # ----------------------------------------------------------------- checkpoints
    def _save(self, name: str) -> Path | None:
        if not self.ctx.is_main:
            return None
        return save_checkpoint(
            self.out_dir / name,
            kind=self.task.kind,
            profile=self.profile,
            model=self.model,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            scaler=self.scaler,
            step=self.step,
            extra={"history": self.history, "best": self.best, "steps": self.steps},
        )

    def _resume(self) -> bool:
        """Continue from ``last.pt`` if there is one (False if not).

        Refuses (:class:`ConfigMismatchError`) a checkpoint written with another configuration: every profile
        field except :data:`~stepstones_lite.train.checkpoint.RESUME_FREE_FIELDS` (device, threads, compile,
        workers, seeds of the study, description) and the run length must match, since a changed seed, lr or
        schedule would continue a run that is neither. ``history.jsonl`` is rewritten from the checkpoint's
        history, so records logged after the checkpoint (a kill between logging and saving) are dropped and
        never duplicated.
        """
        path = self.out_dir / "last.pt"
        if not path.is_file():
            return False
        payload = load_checkpoint(path, kind=self.task.kind, map_location=self.device)
        missing = [key for key in ("optimizer", "scheduler", "rng", "extra") if key not in payload]
        if missing:
            raise CheckpointError(f"{path}: lacks the {', '.join(missing)} state a resume needs")
        diff = config_diff(payload["profile"], self.profile)
        if payload["extra"].get("steps") != self.steps:
            diff.append(f"steps: checkpoint {payload['extra'].get('steps')!r}, now {self.steps!r}")
        if diff:
            raise ConfigMismatchError(
                f"{path}: written with another configuration, so this run cannot "
                f"resume it (same settings, or another --out): {'; '.join(diff)}"
            )
        load_state(path, self.model, payload["model"])
        load_state(path, self.optimizer, payload["optimizer"], "optimizer")
        load_state(path, self.scheduler, payload["scheduler"], "scheduler")
        if self.scaler is not None and "scaler" in payload:
            load_state(path, self.scaler, payload["scaler"], "scaler")
        self.step = int(payload["step"])
        self.history = list(payload["extra"].get("history", []))
        self.best = dict(payload["extra"].get("best", {}))
        set_rng_state(payload["rng"])
        if self.ctx.is_main:
            text = "".join(json.dumps(record) + "\n" for record in self.history)
            atomic_write_text(self.out_dir / "history.jsonl", text)
        return True

    def _log(self, record: dict[str, Any]) -> None:
        self.history.append(record)
        if self.ctx.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            append_text(self.out_dir / "history.jsonl", json.dumps(record) + "\n")
            writer = self._tensorboard()
            if writer is not None:
                for key, value in record.items():
                    if key != "step" and isinstance(value, (int, float)) and math.isfinite(value):
                        writer.add_scalar(key.replace("_", "/", 1), value, record["step"])
                writer.flush()

    def _tensorboard(self) -> Any | None:
        """A TensorBoard writer in ``<out_dir>/tb`` when ``tensorboard`` is installed (optional), else
        None."""
        if not hasattr(self, "_tb"):
            self._tb = None
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(log_dir=str(self.out_dir / "tb"))
            except ImportError:  # tensorboard is not a dependency
                pass
        return self._tb

    # ----------------------------------------------------------------- evaluation
    @contextlib.contextmanager
    def _rng_fork(self) -> Iterator[None]:
        """Run a block without disturbing any RNG stream (python, numpy, torch CPU/CUDA)."""
        py, npst = random.getstate(), np.random.get_state()
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            yield
        random.setstate(py)
        np.random.set_state(npst)

    def evaluate(self, dataset: Any | None = None) -> dict[str, float]:
        """Metrics of the task on ``dataset`` (default: the validation set), RNG streams untouched."""
        dataset = self.val_set if dataset is None else dataset
        if dataset is None:
            return {}
        was_training = self.model.training
        self.model.eval()
        try:
            with self._rng_fork(), torch.no_grad(), autocast(self.device, self.use_amp):
                return self.task.evaluate(self.model, self.eval_batches(dataset))
        finally:
            self.model.train(was_training)

    # ----------------------------------------------------------------- the loop
    def fit(self, resume: bool = False) -> FitResult:
        """Run the remaining steps; return history, best metrics and checkpoint paths."""
        start_time = time.perf_counter()
        if resume and self._resume():
            print(f"[stepstones] resumed {self.out_dir / 'last.pt'} at step {self.step}/{self.steps}")
        elif self.step == 0:
            seed_everything(self.cfg.seed + self.ctx.rank)
            if self.ctx.is_main and (self.out_dir / "history.jsonl").exists():
                (self.out_dir / "history.jsonl").unlink()
        start = self.step
        self.model.train()
        bar = None
        if self.show_progress and self.ctx.is_main:
            from tqdm.auto import tqdm

            bar = tqdm(
                total=self.steps,
                initial=start,
                desc=self.description,
                dynamic_ncols=True,
                leave=True,
                mininterval=1.0,
            )
        batches = self._train_batches(start)
        running: dict[str, float] = {}
        tic = time.perf_counter()
        last_path = best_path = None
        try:
            while self.step < self.steps:
                batch = _to_device(next(batches), self.device)
                with autocast(self.device, self.use_amp):
                    loss, logs = self.task.loss(self.train_model, batch)
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"loss is {loss.item()} at step {self.step}; lower the lr or check data"
                    )
                self.optimizer.zero_grad(set_to_none=True)
                if self.scaler is not None:
                    self.scaler.scale(loss).backward()
                    self.scaler.unscale_(self.optimizer)
                else:
                    loss.backward()
                if self.cfg.grad_clip and self.cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
                if self.scaler is not None:
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
                else:
                    self.optimizer.step()
                self.scheduler.step()
                self.step += 1
                logs = {"loss": float(loss.detach()), **logs}
                for k, v in logs.items():
                    running[k] = running.get(k, 0.0) + float(v)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{logs['loss']:.3f}", refresh=False)
                if self.step % self.eval_every == 0 or self.step == self.steps:
                    n_since = self.step - (self.history[-1]["step"] if self.history else start)
                    record: dict[str, Any] = {
                        "step": self.step,
                        "lr": self.optimizer.param_groups[0]["lr"],
                        "sec_per_step": (time.perf_counter() - tic) / max(1, n_since),
                        **{f"train_{k}": v / max(1, n_since) for k, v in running.items()},
                    }
                    running = {}
                    metrics = self.evaluate()
                    record.update({f"val_{k}": v for k, v in metrics.items()})
                    monitor = metrics.get(self.task.monitor)
                    improved = monitor is not None and (not self.best or monitor > self.best["value"])
                    if improved:
                        self.best = {
                            "step": self.step,
                            "metric": self.task.monitor,
                            "value": float(monitor),
                            "metrics": metrics,
                        }
                    self._log(record)
                    if improved:
                        best_path = self._save("best.pt") or best_path
                    last_path = self._save("last.pt") or last_path
                    if self.on_eval is not None and self.ctx.is_main:
                        self.on_eval(record)
                    tic = time.perf_counter()
        finally:
            if bar is not None:
                bar.close()
        if best_path is None and (self.out_dir / "best.pt").is_file():
            best_path = self.out_dir / "best.pt"
        if last_path is None and (self.out_dir / "last.pt").is_file():
            last_path = self.out_dir / "last.pt"
        return FitResult(
            history=self.history,
            best=self.best,
            last_checkpoint=last_path,
            best_checkpoint=best_path,
            wall_seconds=time.perf_counter() - start_time,
            steps_run=self.step - start,
        )

    def close(self) -> None:
        if getattr(self, "_tb", None) is not None:
            self._tb.close()
        self.ctx.close()
