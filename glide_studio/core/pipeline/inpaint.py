"""The whole edit: request in, event stream out.

Stage 1 runs the 64 px base inpainting model with classifier-free guidance
and the known region pasted on every x0 prediction; stage 2 runs the 256 px
inpainting upsampler on the rounded stage-1 result. Candidates are rows of
one batch (or made one after the other: ``in_turn``), each drawing its noise
from its own seeded generator, so that any candidate can be reproduced alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

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
from ..generation.cancel import CancelToken, RunCancelled
from ..generation.events import Cancelled, Candidate, Event, Finished, Preview, Started
from ..generation.request import EditRequest, RequestError
from ..imaging.region import covers_square
from ..model import Conditioning, GlideModel, TextEncoding
from ..text.tokenizer import Tokenizer
from .compositing import RegionPlan, plan_region
from .prompt_cache import PromptCache
from .sketch import noised_sketch, sketch_diffusion, sketch_tensor
from .tensors import from_tensor, round_to_8bit

__all__ = ["Inpainter", "StageModel"]

if TYPE_CHECKING:
    from .clip_guidance import ClipGuide

BASE, UPSAMPLE = "base", "upsample"


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
                self.model.denoise(x, t, cond, between_blocks=_checker(cancel))
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
            except torch.OutOfMemoryError:
                torch.cuda.empty_cache()
                return None
        self.warmed[rows] = time.perf_counter() - start
        return self.warmed[rows]


class _RowChunks:
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
        self.check = _checker(cancel)

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

    BASE_VARIANTS: tuple[str, ...] = ("base-inpaint",)
    UPSAMPLER_VARIANTS: tuple[str, ...] = ("upsample-inpaint",)

    def __init__(
        self,
        *,
        base: StageModel,
        upsampler: StageModel | None = None,
        max_rows: int | None = None,
        text2im: Inpainter | None = None,
        clip: ClipGuide | None = None,
        in_turn: bool = False,
    ) -> None:
        """``text2im`` (a ``TextToImage``) draws requests whose whole square is masked;
        ``clip`` enables requests with CLIP guidance. ``in_turn``: make a request's
        candidates one after the other instead of as rows of one batch. For large
        models on a CPU a batch costs about what its rows cost one by one, while
        the first preview and the first candidate come as soon as one candidate's step
        is done instead of all of theirs (README, Performance)."""
        if base.model.config.variant not in self.BASE_VARIANTS:
            raise ValueError(f"the base model {base.name!r} is not a {' or '.join(self.BASE_VARIANTS)} model")
        if upsampler is not None and upsampler.model.config.variant not in self.UPSAMPLER_VARIANTS:
            raise ValueError(
                f"the upsampler {upsampler.name!r} is not a {' or '.join(self.UPSAMPLER_VARIANTS)} model"
            )
        self.base = base
        self.upsampler = upsampler
        self.max_rows = max_rows
        self.text2im = text2im
        self.clip = clip
        self.in_turn = in_turn

    def stages(self, request: EditRequest) -> tuple[str, ...]:
        if self.text2im is not None and covers_square(request.mask):
            return self.text2im.stages(request)
        return (BASE, UPSAMPLE) if request.use_upsampler and self.upsampler is not None else (BASE,)

    def prepare(
        self,
        *,
        prompt: str,
        candidates: int = 1,
        guidance_scale: float = 5.0,
        clip_guidance: float = 0.0,
        use_upsampler: bool = True,
        cancel: CancelToken | None = None,
    ) -> dict[str, float]:
        """Do ahead of time what a run with these settings would do before its first
        preview: encode the prompt (and the empty prompt of guidance) and run each
        stage once at the run's batch size (``StageModel.warm_up``). The studio calls
        it while the user types; a run's result does not depend on whether it ran.
        Returns the seconds each stage's first step took (a progress-estimate hint).
        Raises ``RunCancelled`` when ``cancel`` is set (a run is about to start).
        """
        prompts = [prompt, ""] if _guided(guidance_scale, clip_guidance) else [prompt]
        candidates = 1 if self.in_turn else candidates
        stages = [(BASE, self.base, prompts, candidates * len(prompts))]
        if use_upsampler and self.upsampler is not None:
            stages.append((UPSAMPLE, self.upsampler, [prompt], candidates))
        step_seconds = {}
        for name, stage, texts, rows in stages:
            _check(cancel)
            stage.encode(texts)
            seconds = stage.warm_up(self._chunk(rows), cancel=cancel)
            if seconds is not None:
                step_seconds[name] = seconds
        return step_seconds

    def _chunk(self, rows: int) -> int:
        """The batch size the model runs at for ``rows`` rows (``max_rows`` splits them)."""
        return min(rows, self.max_rows) if self.max_rows else rows

    def run(self, request: EditRequest, *, cancel: CancelToken | None = None) -> Iterator[Event]:
        """Stream events for one request.

        Setting ``cancel`` stops the run inside the current model step (between
        its blocks) or between steps; the stream then ends with ``Cancelled``
        holding only the candidates already complete. Stopping the iteration
        also cancels: nothing is left behind either way.
        """
        start = time.perf_counter()
        finished: list[Candidate] = []
        try:
            if self.in_turn and request.candidates > 1:
                yield from self._run_in_turn(request, cancel, finished)
            else:
                yield from self._run(request, cancel, finished)
        except RunCancelled:
            yield Cancelled(candidates=tuple(finished), seconds=time.perf_counter() - start)
            return
        yield Finished(candidates=tuple(finished), seconds=time.perf_counter() - start)

    def _run_in_turn(
        self, request: EditRequest, cancel: CancelToken | None, finished: list[Candidate]
    ) -> Iterator[Event]:
        """The candidates one after the other, each exactly as it would run alone."""
        count = request.candidates
        for k, seed in enumerate(request.seeds):
            alone: list[Candidate] = []
            for event in self._run(request.with_changes(seed=seed, candidates=1), cancel, alone):
                if isinstance(event, Started):
                    if k == 0:
                        yield replace(
                            event, stages=event.stages * count, steps=event.steps * count, seeds=request.seeds
                        )
                elif isinstance(event, Preview):
                    yield replace(event, first=k)
                elif isinstance(event, Candidate):
                    candidate = Candidate(
                        index=k, seed=seed, box=event.box, patch=event.patch, original=request.image
                    )
                    finished.append(candidate)
                    yield candidate

    def _run(
        self, request: EditRequest, cancel: CancelToken | None, finished: list[Candidate]
    ) -> Iterator[Event]:
        """Every event but the last; complete candidates are appended to ``finished``."""
        if self.text2im is not None and covers_square(request.mask):
            yield from self.text2im._run(request, cancel, finished)
            return
        if request.clip_guidance and self.clip is None:
            raise RequestError(
                "CLIP guidance needs the noised CLIP models (clip-image-enc, clip-text-enc), which are "
                "not loaded: fetch them with `glide-studio download --models clip`"
            )
        stages = self.stages(request)
        last = self.upsampler if UPSAMPLE in stages else self.base
        assert last is not None
        plan = plan_region(request.image, request.mask, output_resolution=last.resolution)
        settings = {BASE: request.base, UPSAMPLE: request.upsample}
        models = {BASE: self.base, UPSAMPLE: last}
        diffusions = {s: models[s].diffusion(settings[s].steps) for s in stages}
        if request.sketch is not None:
            diffusions[BASE] = sketch_diffusion(diffusions[BASE], request.strength)
        _, _, truncated = self.base.tokens([request.prompt])
        yield Started(
            stages=stages,
            steps=tuple(d.num_steps for d in diffusions.values()),
            seeds=request.seeds,
            box=plan.box,
            prompt_truncated=truncated,
        )
        generators = [torch.Generator().manual_seed(seed) for seed in request.seeds]
        result = yield from self._base_stage(request, plan, diffusions[BASE], generators, cancel)
        if UPSAMPLE in stages:
            result = yield from self._upsample_stage(
                request, plan, diffusions[UPSAMPLE], generators, result, cancel
            )
        for k, seed in enumerate(request.seeds):
            _check(cancel)
            patch = plan.composite_patch(request.image, result[k : k + 1])
            candidate = Candidate(index=k, seed=seed, box=plan.changed, patch=patch, original=request.image)
            finished.append(candidate)
            yield candidate

    # -- stages ---------------------------------------------------------------------

    def _base_stage(
        self,
        request: EditRequest,
        plan: RegionPlan,
        diffusion: Diffusion,
        generators: list[torch.Generator],
        cancel: CancelToken | None,
    ) -> Iterator[Event]:
        stage = self.base
        rows = request.candidates
        guided = _guided(request.guidance_scale, request.clip_guidance)
        prompts = [request.prompt] * rows + ([""] * rows if guided else [])
        with torch.inference_mode():
            known, keep = plan.known_inputs(stage.resolution, stage.model.device)
            n = len(prompts)
            cond = stage.model.condition(
                text=stage.encode(prompts),
                inpaint_image=known.expand(n, -1, -1, -1),
                inpaint_mask=keep.expand(n, -1, -1, -1),
            )
        denoiser: Denoiser = _RowChunks(stage.model, cond, self.max_rows, cancel)
        if guided:
            denoiser = classifier_free_guidance(denoiser, request.guidance_scale)
        start = None
        if request.sketch is not None:
            output = self.upsampler.resolution if self.upsampler is not None else stage.resolution
            start = sketch_tensor(
                request.sketch,
                request.mask,
                resolution=stage.resolution,
                output_resolution=output,
                device=stage.model.device,
            )
        shift = self.clip.mean_shift(request.prompt, request.clip_guidance) if request.clip_guidance else None
        return (
            yield from self._sample(
                stage=BASE,
                start=start,
                mean_shift=shift,
                sampler=request.base.sampler,
                denoiser=denoiser,
                diffusion=diffusion,
                plan=plan,
                generators=generators,
                known=known,
                keep=keep,
                temperature=1.0,
                cancel=cancel,
            )
        )

    def _upsample_stage(
        self,
        request: EditRequest,
        plan: RegionPlan,
        diffusion: Diffusion,
        generators: list[torch.Generator],
        low_res: Tensor,
        cancel: CancelToken | None,
    ) -> Iterator[Event]:
        stage = self.upsampler
        assert stage is not None
        rows = request.candidates
        with torch.inference_mode():
            known, keep = plan.known_inputs(stage.resolution, stage.model.device)
            # The upsampler was trained on 8-bit images: condition on the rounded result.
            rounded = round_to_8bit(low_res)
            cond = stage.model.condition(
                text=stage.encode([request.prompt] * rows),
                inpaint_image=known.expand(rows, -1, -1, -1),
                inpaint_mask=keep.expand(rows, -1, -1, -1),
                low_res=rounded,
            )
        denoiser = _RowChunks(stage.model, cond, self.max_rows, cancel)
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
                cancel=cancel,
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
        cancel: CancelToken | None,
        start: Tensor | None = None,
        mean_shift: Denoiser | None = None,
    ) -> Iterator[Event]:
        """Run one stage's sampler, yielding a preview per step; returns the final x.

        ``start``: a sketch to noise to the first step's level instead of pure noise.
        """
        _check(cancel)
        resolution = known.shape[-1]
        draws = diffusion.num_steps - 1 if sampler == "ancestral" else 0
        x_T, noise = _stage_noise(generators, (3, resolution, resolution), draws, known.device)
        paste = paste_known_region(known, keep)
        x_init = x_T * temperature if start is None else noised_sketch(diffusion, start, x_T)
        steps = sample(
            sampler, denoiser, diffusion, x_init, noise=noise, x0_transform=paste, mean_shift=mean_shift
        )
        alpha = plan.preview_alpha(resolution)
        x = x_T
        for step in _in_inference_mode(steps):
            x = step.x
            rgb = from_tensor(step.pred_x0)
            images = tuple(np.dstack([rgb[k], alpha]) for k in range(rgb.shape[0]))
            yield Preview(stage=stage, step=step.index + 1, total=step.total, box=plan.box, images=images)
            _check(cancel)
        return x


def _guided(guidance_scale: float, clip_guidance: float) -> bool:
    """Whether the base stage runs classifier-free guidance (an unconditional row per candidate)."""
    return guidance_scale != 1.0 and not clip_guidance


def _check(cancel: CancelToken | None) -> None:
    if cancel is not None:
        cancel.raise_if_cancelled()


def _checker(cancel: CancelToken | None) -> Callable[[], None] | None:
    """What the model calls between its blocks: the token's check, so a slow step stops inside."""
    return cancel.raise_if_cancelled if cancel is not None else None
