"""A tiny regression task with the engine's interfaces (used by the engine tests and the DDP script)."""

from __future__ import annotations

import torch
from torch import nn


class ToyClips(torch.utils.data.Dataset):
    """Clips of T=3 'frames' of 4 features with a linear target."""

    def __init__(self, n: int = 24, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 3, 4, generator=g)
        w = torch.tensor([1.0, -2.0, 0.5, 3.0])
        self.y = self.x @ w

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        return {"x": self.x[i], "y": self.y[i], "uid": f"clip{i}"}


class ToyModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


class ToyTask:
    kind = "toy"
    monitor = "neg_mse"

    def loss(self, model, batch):
        x, y = batch["x"].flatten(0, 1), batch["y"].flatten(0, 1)  # frames as the batch
        noise = 0.01 * torch.randn_like(y)  # consumes the global RNG like point sampling does
        loss = ((model(x) - y - noise) ** 2).mean()
        return loss, {"mse": float(loss.detach())}

    def evaluate(self, model, batches):
        errs = [((model(b["x"].flatten(0, 1)) - b["y"].flatten(0, 1)) ** 2).mean() for b in batches]
        torch.rand(5)  # evaluation consuming RNG must not shift training (the trainer forks the RNG)
        return {"neg_mse": -float(torch.stack(errs).mean())}
