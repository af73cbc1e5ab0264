"""Sampling helpers shared by the pipeline's stages: batches that fit in memory, per-candidate
noise, cancel checks, and the guidance rule."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from ..diffusion import NoiseSource, Step, noise_from_tensors
from ..generation.cancel import CancelToken
from ..model import Conditioning, GlideModel

__all__ = ["RowChunks", "check", "checker", "guided", "in_inference_mode", "stage_noise"]


class RowChunks:
    """Run a model over many rows in parts that fit in memory.

    Starts with all rows (or ``max_rows``) and halves the part size after a
    CUDA out-of-memory error, remembering the size that worked.
    """

    def __init__(
        self, model: GlideModel, cond: Conditioning, max_rows: int | None, cancel: CancelToken | None
    ) -> None:
        self.model = model
        self.cond = cond
        self.rows = max_rows or cond.batch
        self.check = checker(cancel)

    def __call__(self, x: Tensor, timesteps: Tensor) -> Tensor:
        while True:
            try:
                return self._run(x, timesteps)
            except torch.OutOfMemoryError:
                if self.rows == 1:
                    raise
                self.rows = max(1, self.rows // 2)
                torch.cuda.empty_cache()

    def _run(self, x: Tensor, timesteps: Tensor) -> Tensor:
        if self.rows >= x.shape[0]:
            return self.model.denoise(x, timesteps, self.cond, between_blocks=self.check)
        parts = []
        for start in range(0, x.shape[0], self.rows):
            part = slice(start, start + self.rows)
            parts.append(
                self.model.denoise(x[part], timesteps[part], self.cond.rows(part), between_blocks=self.check)
            )
        return torch.cat(parts)


def in_inference_mode(steps: Iterator[Step]) -> Iterator[Step]:
    """Advance a sampler under inference mode without leaking the mode to the consumer."""
    while True:
        with torch.inference_mode():
            step = next(steps, None)
        if step is None:
            return
        yield step


def stage_noise(
    generators: list[torch.Generator], shape: tuple[int, ...], draws: int, device: torch.device
) -> tuple[Tensor, NoiseSource | None]:
    """Initial noise and all step noises for a stage, drawn per candidate on the CPU
    (identical on every device) and moved to the device in one copy."""
    stacks = [torch.randn((1 + draws, 1, *shape), generator=g) for g in generators]
    noise = torch.cat(stacks, dim=1).to(device)
    return noise[0], (noise_from_tensors(noise[1:]) if draws else None)


def guided(guidance_scale: float, clip_guidance: float) -> bool:
    """Whether the base stage runs classifier-free guidance (an unconditional row per candidate)."""
    return guidance_scale != 1.0 and not clip_guidance


def check(cancel: CancelToken | None) -> None:
    if cancel is not None:
        cancel.raise_if_cancelled()


def checker(cancel: CancelToken | None) -> Callable[[], None] | None:
    """What the model calls between its blocks: the token's check, so a slow step stops inside."""
    return cancel.raise_if_cancelled if cancel is not None else None
