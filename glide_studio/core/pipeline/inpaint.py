"""The whole edit: request in, event stream out.

Stage 1 runs the 64 px base inpainting model with classifier-free guidance
and the known region pasted on every x0 prediction; stage 2 runs the 256 px
inpainting upsampler on the rounded stage-1 result. Candidates are rows of
one batch, each drawing its noise from its own seeded generator, so that
any candidate can be reproduced alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..diffusion import (
    Denoiser,
    Diffusion,
    NoiseSource,
    Step,
    classifier_free_guidance,
    noise_from_tensors,
    paste_known_region,
    sample,
)
from ..generation.events import Candidate, Event, Finished, Preview, Started
from ..generation.request import EditRequest
from ..model import Conditioning, GlideModel
from ..text.tokenizer import Tokenizer
from .compositing import RegionPlan, plan_region
from .tensors import from_tensor

__all__ = ["Inpainter", "StageModel"]

BASE, UPSAMPLE = "base", "upsample"


@dataclass(frozen=True, eq=False)
class StageModel:
    """A loaded model with what is needed to sample from it."""

    model: GlideModel
    tokenizer: Tokenizer
    noise_schedule: str
    diffusion_steps: int = 1000
    name: str = ""

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


class _RowChunks:
    """Run a model over many rows in parts that fit in memory.

    Starts with all rows (or ``max_rows``) and halves the part size after a
    CUDA out-of-memory error, remembering the size that worked.
    """

    def __init__(self, model: GlideModel, cond: Conditioning, max_rows: int | None) -> None:
        self.model = model
        self.cond = cond
        self.rows = max_rows or cond.batch

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
            return self.model.denoise(x, timesteps, self.cond)
        parts = []
        for start in range(0, x.shape[0], self.rows):
            part = slice(start, start + self.rows)
            parts.append(self.model.denoise(x[part], timesteps[part], self.cond.rows(part)))
        return torch.cat(parts)


def _in_inference_mode(steps: Iterator[Step]) -> Iterator[Step]:
    """Advance a sampler under inference mode without leaking the mode to the consumer."""
    while True:
        with torch.inference_mode():
            step = next(steps, None)
        if step is None:
            return
        yield step


def _stage_noise(
    generators: list[torch.Generator], shape: tuple[int, ...], draws: int, device: torch.device
) -> tuple[Tensor, NoiseSource | None]:
    """Initial noise and all step noises for a stage, drawn per candidate on the CPU
    (identical on every device) and moved to the device in one copy."""
    stacks = [torch.randn((1 + draws, 1, *shape), generator=g) for g in generators]
    noise = torch.cat(stacks, dim=1).to(device)
    return noise[0], (noise_from_tensors(noise[1:]) if draws else None)


class Inpainter:
    """Runs edit requests on loaded models; holds no per-run state."""

    def __init__(
        self, *, base: StageModel, upsampler: StageModel | None = None, max_rows: int | None = None
    ) -> None:
        if not base.model.config.inpaint:
            raise ValueError(f"the base model {base.name!r} is not an inpainting model")
        if upsampler is not None and upsampler.model.config.variant != "upsample-inpaint":
            raise ValueError(f"the upsampler {upsampler.name!r} is not an inpainting upsampler")
        self.base = base
        self.upsampler = upsampler
        self.max_rows = max_rows

    def stages(self, request: EditRequest) -> tuple[str, ...]:
        return (BASE, UPSAMPLE) if request.use_upsampler and self.upsampler is not None else (BASE,)

    def run(self, request: EditRequest) -> Iterator[Event]:
        """Stream events for one request. Stop iterating to cancel: nothing is left behind."""
        start = time.perf_counter()
        stages = self.stages(request)
        last = self.upsampler if UPSAMPLE in stages else self.base
        assert last is not None
        plan = plan_region(request.image, request.mask, output_resolution=last.resolution)
        settings = {BASE: request.base, UPSAMPLE: request.upsample}
        models = {BASE: self.base, UPSAMPLE: last}
        diffusions = {s: models[s].diffusion(settings[s].steps) for s in stages}
        _, _, truncated = self.base.tokens([request.prompt])
        yield Started(
            stages=stages,
            steps=tuple(d.num_steps for d in diffusions.values()),
            seeds=request.seeds,
            box=plan.box,
            prompt_truncated=truncated,
        )
        generators = [torch.Generator().manual_seed(seed) for seed in request.seeds]
        result = yield from self._base_stage(request, plan, diffusions[BASE], generators)
        if UPSAMPLE in stages:
            result = yield from self._upsample_stage(request, plan, diffusions[UPSAMPLE], generators, result)
        candidates = []
        for k, seed in enumerate(request.seeds):
            image = plan.composite(request.image, result[k : k + 1])
            candidate = Candidate(index=k, seed=seed, image=image, box=plan.changed)
            candidates.append(candidate)
            yield candidate
        yield Finished(candidates=tuple(candidates), seconds=time.perf_counter() - start)

    # -- stages ---------------------------------------------------------------------

    def _base_stage(
        self, request: EditRequest, plan: RegionPlan, diffusion: Diffusion, generators: list[torch.Generator]
    ) -> Iterator[Event]:
        stage = self.base
        rows = request.candidates
        guided = request.guidance_scale != 1.0
        prompts = [request.prompt] * rows + ([""] * rows if guided else [])
        with torch.inference_mode():
            known, keep = plan.known_inputs(stage.resolution, stage.model.device)
            tokens, mask, _ = stage.tokens(prompts)
            n = len(prompts)
            cond = stage.model.condition(
                tokens=tokens,
                mask=mask,
                inpaint_image=known.expand(n, -1, -1, -1),
                inpaint_mask=keep.expand(n, -1, -1, -1),
            )
        denoiser: Denoiser = _RowChunks(stage.model, cond, self.max_rows)
        if guided:
            denoiser = classifier_free_guidance(denoiser, request.guidance_scale)
        return (
            yield from self._sample(
                stage=BASE,
                sampler=request.base.sampler,
                denoiser=denoiser,
                diffusion=diffusion,
                plan=plan,
                generators=generators,
                known=known,
                keep=keep,
                temperature=1.0,
            )
        )

    def _upsample_stage(
        self,
        request: EditRequest,
        plan: RegionPlan,
        diffusion: Diffusion,
        generators: list[torch.Generator],
        low_res: Tensor,
    ) -> Iterator[Event]:
        stage = self.upsampler
        assert stage is not None
        rows = request.candidates
        with torch.inference_mode():
            known, keep = plan.known_inputs(stage.resolution, stage.model.device)
            tokens, mask, _ = stage.tokens([request.prompt] * rows)
            # The upsampler was trained on 8-bit images: condition on the rounded result.
            rounded = ((low_res + 1) * 127.5).round() / 127.5 - 1
            cond = stage.model.condition(
                tokens=tokens,
                mask=mask,
                inpaint_image=known.expand(rows, -1, -1, -1),
                inpaint_mask=keep.expand(rows, -1, -1, -1),
                low_res=rounded,
            )
        denoiser = _RowChunks(stage.model, cond, self.max_rows)
        return (
            yield from self._sample(
                stage=UPSAMPLE,
                sampler=request.upsample.sampler,
                denoiser=denoiser,
                diffusion=diffusion,
                plan=plan,
                generators=generators,
                known=known,
                keep=keep,
                temperature=request.upsample_temperature,
            )
        )

    def _sample(
        self,
        *,
        stage: str,
        sampler: str,
        denoiser: Denoiser,
        diffusion: Diffusion,
        plan: RegionPlan,
        generators: list[torch.Generator],
        known: Tensor,
        keep: Tensor,
        temperature: float,
    ) -> Iterator[Event]:
        """Run one stage's sampler, yielding a preview per step; returns the final x."""
        resolution = known.shape[-1]
        draws = diffusion.num_steps - 1 if sampler == "ancestral" else 0
        x_T, noise = _stage_noise(generators, (3, resolution, resolution), draws, known.device)
        paste = paste_known_region(known, keep)
        steps = sample(sampler, denoiser, diffusion, x_T * temperature, noise=noise, x0_transform=paste)
        alpha = plan.preview_alpha(resolution)
        x = x_T
        for step in _in_inference_mode(steps):
            x = step.x
            rgb = from_tensor(step.pred_x0)
            images = tuple(np.dstack([rgb[k], alpha]) for k in range(rgb.shape[0]))
            yield Preview(stage=stage, step=step.index + 1, total=step.total, box=plan.box, images=images)
        return x
