"""Run by test_engine.py under torchrun (2 processes, gloo): train the toy task with DDP."""

import os
import sys
from pathlib import Path

import torch
from toy_task import (  # the test folder is on sys.path (pytest rootdir; a script's own folder)
    ToyClips,
    ToyModel,
    ToyTask,
)

from stepstones_lite.config import resolve_profile  # noqa: E402
from stepstones_lite.train import Trainer  # noqa: E402
from stepstones_lite.utils import seed_everything  # noqa: E402

out = Path(sys.argv[1])
seed_everything(0)
prof = resolve_profile("smoke", train__lr=1e-2, train__eval_every=4, train__device="cpu")
trainer = Trainer(
    ToyModel(), ToyTask(), ToyClips(), ToyClips(8, seed=1), prof, out / "run", steps=8, progress=False
)
assert trainer.ctx.world_size == 2
trainer.fit()
rank = int(os.environ["RANK"])
torch.save(trainer.model.state_dict(), out / f"params_rank{rank}.pt")
trainer.close()
