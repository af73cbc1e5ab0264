"""Outpainting: extend the canvas and fill the new area square by square.

The model sees one small square at a time, so a long new strip is covered by
overlapping squares filled one after another with the inpainting pipeline;
each square treats what earlier squares generated as known, and its result is
blended in through the pipeline's feathered mask, so no seam shows. The
squares of one candidate form one event stream: a ``Started`` listing every
square's stages, each square's previews (boxes in canvas coordinates), then
one ``Candidate`` per whole canvas.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from ..generation.cancel import CancelToken
from ..generation.events import Cancelled, Candidate, Event, Failed, Finished, Preview, Started
from ..generation.request import EditRequest
from ..imaging.region import Box, mask_bounds
from .inpaint import Inpainter

__all__ = ["outpaint", "plan_squares"]

MIN_SIDE = 64


def _starts(lo: int, hi: int, side: int, limit: int, stride: int) -> list[int]:
    """Square starts covering [lo, hi) with the given stride, kept inside [0, limit)."""
    first = min(max(lo, 0), max(limit - side, 0))
    starts = [first]
    while starts[-1] + side < hi:
        starts.append(min(starts[-1] + stride, max(limit - side, 0)))
        if starts[-1] == starts[-2]:
            break
    return starts


def plan_squares(mask: np.ndarray, *, side: int | None = None, overlap: float = 0.25) -> list[Box]:
    """Overlapping squares covering the mask, in the order they should be filled.

    The default side is twice the deepest extension (at least 64 px, at most
    the canvas's shorter side), so each square holds about as much known
    picture as new area. Each next square is the one with the largest share of
    known pixels, counting those filled before it.
    """
    height, width = mask.shape
    bounds = mask_bounds(mask)
    if bounds is None:
        return []
    if side is None:
        known = mask_bounds(~mask)
        depth = (
            max(height, width)
            if known is None
            else max(known.left, known.top, width - known.right, height - known.bottom)
        )
        side = max(2 * depth, MIN_SIDE)
    side = min(side, height, width)
    stride = max(1, round(side * (1 - overlap)))
    boxes = [
        Box(x, y, x + side, y + side)
        for y in _starts(bounds.top, bounds.bottom, side, height, stride)
        for x in _starts(bounds.left, bounds.right, side, width, stride)
    ]
    remaining = mask.copy()
    ordered: list[Box] = []
    pending = [b for b in boxes if remaining[b.slices].any()]
    while pending:
        best = max(pending, key=lambda b: (1 - remaining[b.slices].mean(), -b.top, -b.left))
        ordered.append(best)
        remaining[best.slices] = False
        pending = [b for b in pending if remaining[b.slices].any()]
    return ordered


def _square_seed(seed: int, square: int) -> int:
    """A seed per (candidate seed, square), so a recorded seed reproduces its whole canvas."""
    state = np.random.SeedSequence([seed, square]).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) % 2**62


def _schedule(
    inpainter: Inpainter, request: EditRequest, squares: list[Box]
) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Every square's stages and steps for one candidate, in order (a square's detail tiles
    depend on the mask still left in it when its turn comes)."""
    stages: tuple[str, ...] = ()
    steps: tuple[int, ...] = ()
    remaining = np.array(request.mask, copy=True)
    for square in squares:
        part = request.with_changes(
            image=request.image[square.slices],
            mask=remaining[square.slices],
            sketch=None if request.sketch is None else request.sketch[square.slices],
            candidates=1,
        )
        more_stages, more_steps = inpainter.schedule(part)
        stages, steps = stages + more_stages, steps + more_steps
        remaining[square.slices] = False
    return stages, steps


def outpaint(
    inpainter: Inpainter, request: EditRequest, *, cancel: CancelToken | None = None, side: int | None = None
) -> Iterator[Event]:
    """Fill ``request.mask`` (the new area of an extended canvas) square by square.

    Build the request from :func:`extend_canvas`; every other setting (prompt,
    samplers, guidance, candidates, seed) applies to each square.
    """
    start = time.perf_counter()
    squares = plan_squares(request.mask, side=side)
    stages, steps = _schedule(inpainter, request, squares)
    yield Started(
        stages=stages * request.candidates,
        steps=steps * request.candidates,
        seeds=request.seeds,
        box=mask_bounds(request.mask) or Box(0, 0, 0, 0),
    )
    done: list[Candidate] = []
    height, width = request.mask.shape
    for index, seed in enumerate(request.seeds):
        canvas = np.array(request.image, copy=True)
        remaining = np.array(request.mask, copy=True)
        for n, square in enumerate(squares):
            part = request.with_changes(
                image=canvas[square.slices],
                mask=remaining[square.slices],
                sketch=None if request.sketch is None else request.sketch[square.slices],
                candidates=1,
                seed=_square_seed(seed, n),
            )
            result = None
            for event in inpainter.run(part, cancel=cancel):
                if isinstance(event, Preview):
                    yield Preview(
                        stage=event.stage,
                        step=event.step,
                        total=event.total,
                        box=_shifted(event.box, square),
                        images=event.images,
                        first=index,
                    )
                elif isinstance(event, Cancelled):
                    yield Cancelled(candidates=tuple(done), seconds=time.perf_counter() - start)
                    return
                elif isinstance(event, Failed):
                    yield event
                    return
                elif isinstance(event, Finished):
                    result = event.candidates[0].image
            assert result is not None
            canvas[square.slices] = result
            remaining[square.slices] = False
        box = Box(0, 0, width, height)
        candidate = Candidate(index=index, seed=seed, box=box, patch=canvas, original=request.image)
        done.append(candidate)
        yield candidate
    yield Finished(candidates=tuple(done), seconds=time.perf_counter() - start)


def _shifted(box: Box, square: Box) -> Box:
    return Box(box.left + square.left, box.top + square.top, box.right + square.left, box.bottom + square.top)
