"""A loaded model with what sampling from it needs: tokenizer, noise schedule, prompt cache."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..diffusion import Diffusion
from ..generation.cancel import CancelToken
from ..model import GlideModel, TextEncoding
from ..text.tokenizer import Tokenizer
from .prompt_cache import PromptCache
from .sampling import checker

__all__ = ["StageModel"]


@dataclass(frozen=True, eq=False)
class StageModel:
    """A loaded model with what is needed to sample from it."""

    model: GlideModel
    tokenizer: Tokenizer
    noise_schedule: str
    diffusion_steps: int = 1000
    name: str = ""
    prompts: PromptCache = field(default_factory=PromptCache, repr=False)
    """Recent prompts' encodings (the empty prompt of every guided run among them)."""
    warmed: dict[int, float] = field(default_factory=dict, repr=False)
    """Batch sizes the model has run at already (``warm_up``), with the seconds that
    first step took (one-off costs included: a hint for progress estimates)."""

    @property
    def resolution(self) -> int:
        return self.model.config.image_size

    def diffusion(self, respacing: str) -> Diffusion:
        return Diffusion(noise_schedule=self.noise_schedule, steps=self.diffusion_steps, respacing=respacing)

    def tokens(self, prompts: list[str]) -> tuple[Tensor, Tensor, bool]:
        """Token and mask rows for the prompts, and whether any prompt was cut short."""
        ctx = self.model.config.text_ctx
        padded = [self.tokenizer.padded(p, ctx) for p in prompts]
        device = self.model.device
        tokens = torch.tensor([p.tokens for p in padded], dtype=torch.long, device=device)
        mask = torch.tensor([p.mask for p in padded], dtype=torch.bool, device=device)
        return tokens, mask, any(p.truncated for p in padded)

    def encode(self, prompts: list[str]) -> TextEncoding:
        """The prompts as the model reads them, through the cache of recent prompts."""
        tokens, mask, _ = self.tokens(prompts)
        return self.prompts.encode(tokens, mask, self.model.encode_text)

    def warm_up(self, rows: int, *, cancel: CancelToken | None = None) -> float | None:
        """Run one step's forward at a batch of ``rows`` unless it ran at that size before;
        the seconds that first step took (now or before).

        The first call at a shape pays one-off costs that would otherwise delay a run's
        first preview: cuDNN's algorithm search and CUDA's kernel loading on a GPU,
        oneDNN's kernel generation on a CPU (README, Performance, has the figures).
        None when it ran out of GPU memory (the run then splits its batch).
        """
        if rows in self.warmed:
            return self.warmed[rows]
        size = self.resolution
        device = self.model.device
        with torch.inference_mode():
            low_res = torch.zeros(rows, 3, size // 4, size // 4, device=device)
            cond = self.model.condition(
                text=self.encode([""] * rows), low_res=low_res if self.model.config.super_res else None
            )
            x = torch.zeros(rows, 3, size, size, device=device)
            t = torch.full((rows,), self.diffusion_steps - 1, device=device)
            start = time.perf_counter()
            try:
                self.model.denoise(x, t, cond, between_blocks=checker(cancel))
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
            except torch.OutOfMemoryError:
                torch.cuda.empty_cache()
                return None
        self.warmed[rows] = time.perf_counter() - start
        return self.warmed[rows]
