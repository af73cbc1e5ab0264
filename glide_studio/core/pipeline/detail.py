"""The detail pass: the upsampler again, tile by tile, up to the photo's own resolution.

The last model stage makes a small square (256 px for GLIDE); a square that covers
1200 photo pixels would be enlarged 4.7× and look soft beside the photo. Each pass
enlarges the previous result about 4× with the inpainting upsampler, one tile of its
output size at a time. A tile's low-resolution input is the previous result under it;
its known image and known mask are the photo's own pixels at the pass's size (at the
last pass: the photo's full-resolution pixels), so new detail meets the untouched
photo at the photo's sharpness. Every prediction keeps the previous result's coarse
content (``_follow_low_res``), so tiles agree in colour and shape, and overlapping
tiles are cross-faded (the seam measurements are in the README).

Canvases are 8-bit per candidate; only one tile is a float tensor at a time, so a
large square costs its pixels in bytes, not the whole enlarged square in floats.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..diffusion import Diffusion, paste_known_region, sample
from ..diffusion.gaussian import X0Transform
from ..generation.cancel import CancelToken
from ..generation.events import Event, Preview
from ..generation.request import EditRequest
from ..imaging.region import Box
from ..imaging.tiles import DetailPass, DetailTile, detail_passes, pool_any
from .compositing import RegionPlan
from .sampling import RowChunks, check, in_inference_mode, stage_noise
from .stage import StageModel
from .tensors import from_tensor, resize, round_to_8bit, to_tensor

__all__ = ["DETAIL", "DetailRun", "detail_seed", "plan_detail"]

DETAIL = "detail"
PREVIEW_SIDE = 512
"""The detail stage's previews show the whole square at most this large."""


def detail_seed(seed: int, pass_index: int, tile: int) -> int:
    """A seed per (candidate seed, pass, tile), so a candidate's detail is the same alone or
    beside others, and any tile can be reproduced."""
    state = np.random.SeedSequence([seed, 0xDE7A11, pass_index, tile]).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) % 2**62


def plan_detail(plan: RegionPlan, mask: np.ndarray, output: int) -> list[DetailPass]:
    """Every pass and tile for ``plan``'s square (none when it is not larger than ``output``)."""
    return detail_passes(plan.inside(mask), output)


@dataclass(frozen=True, eq=False)
class DetailRun:
    """The detail stage of one run: which model, the square, its passes, the sampling."""

    model: StageModel
    """The upsample-inpaint model."""
    plan: RegionPlan
    passes: list[DetailPass]
    diffusion: Diffusion
    max_rows: int | None = None

    @property
    def tiles(self) -> int:
        return sum(len(p.tiles) for p in self.passes)

    def run(self, request: EditRequest, result: Tensor, cancel: CancelToken | None) -> Iterator[Event]:
        """Stream previews; returns one (S, S, 3) uint8 canvas per candidate."""
        stage = self.model
        crop = self.plan.crop_pixels(request.image)
        inside = self.plan.inside(request.mask)
        previous = from_tensor(round_to_8bit(result.float()).clamp(-1, 1))  # (N, R, R, 3)
        preview = _Preview.start(previous, self.plan)
        done = 0
        for index, detail_pass in enumerate(self.passes):
            canvas = _initial_canvas(crop, detail_pass.size, rows=previous.shape[0])
            generate = pool_any(inside, detail_pass.size)
            written = np.zeros_like(generate)
            for tile in detail_pass.tiles:
                done += 1
                out = yield from self._tile(
                    request, stage, previous, canvas, generate, tile.box, index, done, preview, cancel
                )
                _blend(canvas, out, tile, generate, written)
            previous = canvas
        return previous

    def _tile(
        self,
        request: EditRequest,
        stage: StageModel,
        previous: np.ndarray,
        canvas: np.ndarray,
        generate: np.ndarray,
        tile: Box,
        pass_index: int,
        number: int,
        preview: _Preview,
        cancel: CancelToken | None,
    ) -> Iterator[Event]:
        """Sample one tile for every candidate; returns its pixels (N, R, R, 3) uint8."""
        check(cancel)
        model = stage.model
        device = model.device
        rows = canvas.shape[0]
        size = canvas.shape[1]
        resolution = tile.width
        with torch.inference_mode():
            low_res = _low_res(previous, tile, size, resolution // 4).to(device)
            # A pass of less than 4× has more of the previous result under a tile than the
            # model's input holds: the predictions follow all of it, not only the input.
            native = max(resolution // 4, round(resolution * previous.shape[1] / size))
            guide = (
                low_res if native == resolution // 4 else _low_res(previous, tile, size, native).to(device)
            )
            known = torch.cat([to_tensor(canvas[k][tile.slices]) for k in range(rows)]).to(device)
            keep = torch.from_numpy(~generate[tile.slices]).float()[None, None].to(device)
            cond = model.condition(
                text=stage.encode([request.prompt] * rows),
                inpaint_image=known,
                inpaint_mask=keep.expand(rows, -1, -1, -1),
                low_res=low_res,
            )
        denoiser = RowChunks(model, cond, self.max_rows, cancel)
        seeds = [detail_seed(seed, pass_index, number) for seed in request.seeds[:rows]]
        generators = [torch.Generator().manual_seed(s) for s in seeds]
        diffusion = self.diffusion
        sampler = request.upsample.sampler
        draws = diffusion.num_steps - 1 if sampler == "ancestral" else 0
        x_T, noise = stage_noise(generators, (3, resolution, resolution), draws, device)
        steps = sample(
            sampler,
            denoiser,
            diffusion,
            x_T * request.upsample_temperature,
            noise=noise,
            x0_transform=_follow_low_res(guide, paste_known_region(known, keep)),
        )
        x = x_T
        scale = preview.side / size
        for step in in_inference_mode(steps):
            x = step.x
            images = preview.show(from_tensor(step.pred_x0), tile, scale)
            yield Preview(
                stage=DETAIL, step=step.index + 1, total=step.total, box=self.plan.box, images=images
            )
            check(cancel)
        return from_tensor(x)


def _follow_low_res(low_res: Tensor, then: X0Transform) -> X0Transform:
    """Give every x0 prediction the previous result's coarse content (``low_res``, at its own
    scale), keeping the model's finer detail (as ILVR, Choi et al. 2021, does for x_t), then
    paste the known pixels.

    The upsampler is trained to follow its low-resolution input but does so loosely (the
    demo one hardly at all inside a large flat shape): without this a tile drifts in colour
    from the result it refines, and neighbouring tiles drift apart, which shows as seams.
    """
    size = low_res.shape[-1]

    def transform(x0: Tensor) -> Tensor:
        side = x0.shape[-1]
        coarse = resize(low_res.to(x0.dtype), side) - resize(resize(x0, size), side)
        return then(x0 + coarse)

    return transform


def _blend(
    canvas: np.ndarray, out: np.ndarray, tile: DetailTile, generate: np.ndarray, written: np.ndarray
) -> None:
    """Put a tile's result into every candidate's canvas: its mask pixels only, cross-faded
    with earlier tiles where they overlap (8-bit canvases, one float tile at a time)."""
    where = tile.box.slices
    weight = np.where(written[where], tile.weight(), 1.0)[..., None]
    inside = generate[where]
    for k in range(canvas.shape[0]):
        part = canvas[k][where]
        mixed = part + weight * (out[k].astype(np.float32) - part)
        part[inside] = np.clip(np.round(mixed[inside]), 0, 255).astype(np.uint8)
    written[where] |= inside


def _initial_canvas(crop: np.ndarray, size: int, *, rows: int) -> np.ndarray:
    """The photo's square at a pass's size, once per candidate (tiles then replace the mask)."""
    if crop.shape[0] != size:
        crop = from_tensor(resize(to_tensor(crop), size).clamp(-1, 1))[0]
    return np.repeat(crop[None], rows, axis=0)


def _low_res(previous: np.ndarray, tile: Box, size: int, resolution: int) -> Tensor:
    """The previous result under ``tile`` (in a canvas of ``size``), at ``resolution``, as 8-bit
    levels: what the upsampler is conditioned on."""
    scale = previous.shape[1] / size
    lo_x, hi_x = tile.left * scale, tile.right * scale
    lo_y, hi_y = tile.top * scale, tile.bottom * scale
    x0, y0 = int(np.floor(lo_x)), int(np.floor(lo_y))
    x1, y1 = int(np.ceil(hi_x)), int(np.ceil(hi_y))
    part = torch.from_numpy(np.ascontiguousarray(previous[:, y0:y1, x0:x1])).permute(0, 3, 1, 2).float()
    part = part / 127.5 - 1
    ratio = resolution / (hi_x - lo_x)
    big = (max(1, round((y1 - y0) * ratio)), max(1, round((x1 - x0) * ratio)))
    part = resize(part, big)
    top, left = round((lo_y - y0) * ratio), round((lo_x - x0) * ratio)
    part = part[:, :, top : top + resolution, left : left + resolution]
    if part.shape[-1] != resolution or part.shape[-2] != resolution:
        part = resize(part, resolution)
    return round_to_8bit(part.clamp(-1, 1))


@dataclass
class _Preview:
    """The whole square at preview size per candidate, tiles drawn in as they progress."""

    canvas: np.ndarray
    """(N, P, P, 3) uint8."""
    alpha: np.ndarray

    @property
    def side(self) -> int:
        return self.canvas.shape[1]

    @classmethod
    def start(cls, result: np.ndarray, plan: RegionPlan) -> _Preview:
        side = min(PREVIEW_SIDE, plan.side)
        canvas = from_tensor(resize(to_tensor_batch(result), side).clamp(-1, 1))
        return cls(canvas=canvas, alpha=plan.preview_alpha(side))

    def show(self, tile_rgb: np.ndarray, tile: Box, scale: float) -> tuple[np.ndarray, ...]:
        """Draw the tiles' current prediction in; the RGBA previews of every candidate."""
        left, top = round(tile.left * scale), round(tile.top * scale)
        right = min(self.side, max(left + 1, round(tile.right * scale)))
        bottom = min(self.side, max(top + 1, round(tile.bottom * scale)))
        small = from_tensor(resize(to_tensor_batch(tile_rgb), (bottom - top, right - left)).clamp(-1, 1))
        self.canvas[:, top:bottom, left:right] = small
        return tuple(np.dstack([self.canvas[k], self.alpha]) for k in range(self.canvas.shape[0]))


def to_tensor_batch(rgb: np.ndarray) -> Tensor:
    """uint8 (N, H, W, 3) → float (N, 3, H, W) in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(0, 3, 1, 2).float() / 127.5 - 1
