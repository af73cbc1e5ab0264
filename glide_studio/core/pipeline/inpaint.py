"""The whole edit: request in, event stream out.

Stage 1 runs the 64 px base inpainting model with classifier-free guidance
and the known region pasted on every x0 prediction; stage 2 runs the 256 px
inpainting upsampler on the rounded stage-1 result. Candidates are rows of
one batch (or made one after the other: ``in_turn``), each drawing its noise
from its own seeded generator, so that any candidate can be reproduced alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from ..diffusion import (
    Denoiser,
    Diffusion,
    classifier_free_guidance,
    paste_known_region,
    sample,
)
from ..generation.cancel import CancelToken, RunCancelled
from ..generation.events import Cancelled, Candidate, Event, Finished, Preview, Started
from ..generation.request import EditRequest, RequestError
from ..imaging.region import covers_square
from ..imaging.tiles import detail_runs
from .compositing import RegionPlan, plan_region
from .detail import DETAIL, DetailRun, plan_detail
from .sampling import RowChunks, check, guided, in_inference_mode, stage_noise
from .sketch import noised_sketch, sketch_diffusion, sketch_tensor
from .stage import StageModel
from .tensors import from_tensor, round_to_8bit

__all__ = ["Inpainter", "StageModel"]

if TYPE_CHECKING:
    from .clip_guidance import ClipGuide

BASE, UPSAMPLE = "base", "upsample"


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
        auto_detail: bool = False,
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
        self.auto_detail = auto_detail
        """Whether ``detail="auto"`` runs the detail pass (``imaging.tiles.detail_runs``)."""
        inpainting_upsampler = upsampler is not None and upsampler.model.config.variant == "upsample-inpaint"
        self.detail_model: StageModel | None = upsampler if inpainting_upsampler else None
        """The inpainting upsampler the detail pass runs (text-to-image borrows the editor's)."""

    def stages(self, request: EditRequest) -> tuple[str, ...]:
        """The model stages a request runs (the detail pass's tiles not included)."""
        if self.text2im is not None and covers_square(request.mask, request.area().box):
            return self.text2im.stages(request)
        return (BASE, UPSAMPLE) if request.use_upsampler and self.upsampler is not None else (BASE,)

    def schedule(self, request: EditRequest) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """Every stage a request runs, detail tiles included, with its sampling steps."""
        if self.text2im is not None and covers_square(request.mask, request.area().box):
            return self._drawing_whole().schedule(request)
        _, stages, diffusions, detail = self._setup(request)
        steps = tuple(d.num_steps for d in diffusions.values())
        if detail is not None:
            return stages + (DETAIL,) * detail.tiles, steps + (detail.diffusion.num_steps,) * detail.tiles
        return stages, steps

    def _drawing_whole(self) -> Inpainter:
        """The text-to-image models, lent this one's inpainting upsampler for the detail pass
        (touched only now: they may load on first use)."""
        text2im = self.text2im
        assert text2im is not None
        text2im.lend_detail(self.detail_model, auto=self.auto_detail)  # a method: reaches a LoadOnUse's model
        return text2im

    def lend_detail(self, model: StageModel | None, *, auto: bool) -> None:
        """Run the detail pass with another pipeline's inpainting upsampler (text-to-image has none)."""
        if self.detail_model is None:
            self.detail_model, self.auto_detail = model, auto

    def _setup(
        self, request: EditRequest
    ) -> tuple[RegionPlan, tuple[str, ...], dict[str, Diffusion], DetailRun | None]:
        """The square, the stages with their processes, and the detail pass if it runs."""
        stages = self.stages(request)
        last = self.upsampler if UPSAMPLE in stages else self.base
        assert last is not None
        plan = plan_region(
            request.image, request.mask, output_resolution=last.resolution, box=request.area().box
        )
        settings = {BASE: request.base, UPSAMPLE: request.upsample}
        models = {BASE: self.base, UPSAMPLE: last}
        diffusions = {s: models[s].diffusion(settings[s].steps) for s in stages}
        if request.sketch is not None:
            diffusions[BASE] = sketch_diffusion(diffusions[BASE], request.strength)
        return plan, stages, diffusions, self._detail(request, plan, last)

    def _detail(self, request: EditRequest, plan: RegionPlan, last: StageModel) -> DetailRun | None:
        if not detail_runs(request.detail, plan.side / last.resolution, auto=self.auto_detail):
            return None
        model = self.detail_model
        if model is None:
            if request.detail == "on":
                raise RequestError(
                    "the detail pass needs the inpainting upsampler (upsample-inpaint), which is not loaded"
                )
            return None
        passes = plan_detail(plan, request.mask, model.resolution)
        if not passes:
            return None
        return DetailRun(model, plan, passes, model.diffusion(request.detail_steps), self.max_rows)

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
        prompts = [prompt, ""] if guided(guidance_scale, clip_guidance) else [prompt]
        candidates = 1 if self.in_turn else candidates
        stages = [(BASE, self.base, prompts, candidates * len(prompts))]
        if use_upsampler and self.upsampler is not None:
            stages.append((UPSAMPLE, self.upsampler, [prompt], candidates))
        step_seconds = {}
        for name, stage, texts, rows in stages:
            check(cancel)
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
        if self.text2im is not None and covers_square(request.mask, request.area().box):
            yield from self._drawing_whole()._run(request, cancel, finished)
            return
        if request.clip_guidance and self.clip is None:
            raise RequestError(
                "CLIP guidance needs the noised CLIP models (clip-image-enc, clip-text-enc), which are "
                "not loaded: fetch them with `glide-studio download --models clip`"
            )
        plan, stages, diffusions, detail = self._setup(request)
        _, _, truncated = self.base.tokens([request.prompt])
        tiles = detail.tiles if detail is not None else 0
        yield Started(
            stages=stages + (DETAIL,) * tiles,
            steps=tuple(d.num_steps for d in diffusions.values())
            + (detail.diffusion.num_steps if detail is not None else 0,) * tiles,
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
        canvases = None
        if detail is not None:
            canvases = yield from detail.run(request, result, cancel)
        for k, seed in enumerate(request.seeds):
            check(cancel)
            if canvases is None:
                patch = plan.composite_patch(request.image, result[k : k + 1])
            else:
                patch = plan.composite_canvas(request.image, canvases[k])
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
        with_guidance = guided(request.guidance_scale, request.clip_guidance)
        prompts = [request.prompt] * rows + ([""] * rows if with_guidance else [])
        with torch.inference_mode():
            known, keep = plan.known_inputs(stage.resolution, stage.model.device)
            n = len(prompts)
            cond = stage.model.condition(
                text=stage.encode(prompts),
                inpaint_image=known.expand(n, -1, -1, -1),
                inpaint_mask=keep.expand(n, -1, -1, -1),
            )
        denoiser: Denoiser = RowChunks(stage.model, cond, self.max_rows, cancel)
        if with_guidance:
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
                box=plan.box,
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
        denoiser = RowChunks(stage.model, cond, self.max_rows, cancel)
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
        check(cancel)
        resolution = known.shape[-1]
        draws = diffusion.num_steps - 1 if sampler == "ancestral" else 0
        x_T, noise = stage_noise(generators, (3, resolution, resolution), draws, known.device)
        paste = paste_known_region(known, keep)
        x_init = x_T * temperature if start is None else noised_sketch(diffusion, start, x_T)
        steps = sample(
            sampler, denoiser, diffusion, x_init, noise=noise, x0_transform=paste, mean_shift=mean_shift
        )
        alpha = plan.preview_alpha(resolution)
        x = x_T
        for step in in_inference_mode(steps):
            x = step.x
            rgb = from_tensor(step.pred_x0)
            images = tuple(np.dstack([rgb[k], alpha]) for k in range(rgb.shape[0]))
            yield Preview(stage=stage, step=step.index + 1, total=step.total, box=plan.box, images=images)
            check(cancel)
        return x
