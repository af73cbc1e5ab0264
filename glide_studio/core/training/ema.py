"""An exponential moving average of a model's weights.

Diffusion models sample noticeably better from averaged weights; the average
is what gets exported. Early on the decay is ramped up from zero so that the
average is not dominated by the random initialisation.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["Ema", "ema_decay"]


def ema_decay(step: int, *, target: float) -> float:
    """min(target, (1 + step) / (10 + step)): short memory early, ``target`` later."""
    return min(target, (1 + step) / (10 + step))


class Ema:
    """Holds an averaged copy of a model (never trained directly, no gradients)."""

    def __init__(self, model: nn.Module, *, decay: float) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, *, step: int) -> None:
        """Blend in the model's current weights (buffers are copied as they are)."""
        weight = 1.0 - ema_decay(step, target=self.decay)
        averaged = list(self.model.parameters())
        current = [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(averaged, current, weight)
        for mine, theirs in zip(self.model.buffers(), model.buffers(), strict=True):
            mine.copy_(theirs)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state, strict=True)
