"""How sharp an edit of a large square is with and without the detail pass (demo models).

Held-out synthetic scenes (sharp shapes on grainy tiles, the demo models' world) are drawn
at a size where the square the model sees is 2–4× the demo's 128 px output; the object's
box is the mask and the prompt asks for another colour. Each scene is edited twice with
the same seed, detail off and on (the demo's own sampling, detail 10 steps per tile):

* sharpness: 99.9th percentile of neighbour steps (RGB levels summed) inside the hole,
  as a share of the same figure for the original picture there (its own sharp shape);
* edge width: median 10–90 % width (px) of the strongest edge across each row of the
  hole, beside the picture's own;
* seams: the mean step across each tile border of the last pass, over the hole's
  median column step (1 = a border is as strong as a typical column inside the hole),
  and the same figure at the same columns of the detail-off result (no tiles there:
  what the content alone gives);
* colour drift: mean absolute difference of the hole's mean colour, on against off;
* time per tile-step of the detail pass on this machine.

    python benchmarks/detail_quality.py [--scenes 12] [--steps 10]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from common import emit, machine

from glide_studio.core.generation.events import Finished, Preview, Started
from glide_studio.core.generation.request import EditRequest, StageSettings
from glide_studio.core.imaging.region import Region
from glide_studio.core.imaging.tiles import detail_passes
from glide_studio.core.runtime.engine import load_demo
from glide_studio.core.training.evaluation import heldout_cases

SQUARES = (256, 320, 384, 448, 512)


def _steps(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = image.astype(np.int32)
    return np.abs(np.diff(a, axis=1)).sum(-1), np.abs(np.diff(a, axis=0)).sum(-1)


def sharpness(image: np.ndarray, where: np.ndarray) -> float:
    across, down = _steps(image)
    values = np.concatenate([across[where[:, 1:] & where[:, :-1]], down[where[1:] & where[:-1]]])
    return float(np.percentile(values, 99.9))


def edge_width(image: np.ndarray, where: np.ndarray, *, window: int = 12) -> float:
    """Median 10–90 % width of the strongest edge in each row (within ``where``)."""
    level = image.astype(np.float64).sum(-1)
    widths = []
    for y in range(0, image.shape[0], 2):
        cols = np.flatnonzero(where[y])
        if cols.size < 2 * window + 2:
            continue
        row = level[y, cols[0] : cols[-1] + 1]
        steps = np.abs(np.diff(row))
        x = int(np.argmax(steps[window:-window])) + window
        part = row[x - window : x + window + 2]
        lo, hi = part.min(), part.max()
        if hi - lo < 150:
            continue
        norm = (part - lo) / (hi - lo)
        if part[0] > part[-1]:
            norm = 1 - norm
        t10 = np.argmax(norm >= 0.1)
        t90 = np.argmax(norm >= 0.9)
        widths.append(max(1, int(t90) - int(t10)))
    return float(statistics.median(widths)) if widths else float("nan")


def seam_ratio(image: np.ndarray, mask: np.ndarray, borders: list[int]) -> float:
    """Strongest tile border (columns) against the hole's median column step."""
    across, _ = _steps(image)
    rows = mask.any(axis=1)
    inside = mask[:, 1:] & mask[:, :-1]
    per_column = np.array(
        [
            across[rows, c][inside[rows, c]].mean() if inside[rows, c].any() else np.nan
            for c in range(across.shape[1])
        ]
    )
    typical = np.nanmedian(per_column)
    found = [
        per_column[x - 1] for x in borders if 0 < x <= per_column.size and not np.isnan(per_column[x - 1])
    ]
    return float(max(found) / typical) if found else float("nan")


def run(inpainter, request: EditRequest) -> tuple[np.ndarray, float, int, float]:
    start = time.perf_counter()
    detail_started = None
    detail_steps = 0
    result = None
    for event in inpainter.run(request):
        if isinstance(event, Started):
            tiles = event.stages.count("detail")
        elif isinstance(event, Preview) and event.stage == "detail":
            detail_started = detail_started or time.perf_counter()
            detail_steps += 1
        elif isinstance(event, Finished):
            result = event.candidates[0].image
    assert result is not None
    detail_seconds = time.perf_counter() - detail_started if detail_started else 0.0
    return result, time.perf_counter() - start, tiles, detail_seconds / max(detail_steps, 1)


def scene(index: int, square: int) -> tuple[np.ndarray, np.ndarray, Region, str]:
    size = square * 5 // 4
    case = heldout_cases(index + 1, image_size=size)[index]
    from glide_studio.core.training.synthetic import SyntheticScenes

    box = SyntheticScenes(image_size=size, seed=12345, split="heldout").centred(index).box
    mask = np.zeros((size, size), bool)
    left, top, right, bottom = box
    mask[max(top - 4, 0) : bottom + 4, max(left - 4, 0) : right + 4] = True
    cx, cy = (left + right) // 2, (top + bottom) // 2
    region = Region(
        left=min(max(cx - square // 2, 0), size - square),
        top=min(max(cy - square // 2, 0), size - square),
        size=square,
    )
    return case.image, mask, region, f"a {case.colour} {case.shape}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=12)
    parser.add_argument("--steps", default="10", help="detail steps per tile")
    args = parser.parse_args()
    torch.manual_seed(0)
    inpainter, _ = load_demo(device=torch.device("cpu"), precision="float32")
    rows = []
    for index in range(args.scenes):
        square = SQUARES[index % len(SQUARES)]
        image, mask, region, prompt = scene(index, square)
        request = EditRequest(
            image=image,
            mask=mask,
            prompt=prompt,
            seed=1000 + index,
            guidance_scale=3.0,
            base=StageSettings(sampler="ancestral", steps="50"),
            upsample=StageSettings(sampler="ancestral", steps="fast27"),
            region=region,
            detail_steps=args.steps,
        )
        off, off_s, _, _ = run(inpainter, request.with_changes(detail="off"))
        on, on_s, tiles, tile_step_s = run(inpainter, request.with_changes(detail="on"))
        own = sharpness(image, mask)  # the original object's own edges, in the same place
        box = request.area().box
        final = detail_passes(mask[box.slices], 128)[-1]
        borders = sorted({box.left + t.box.left for t in final.tiles if t.fade_left})
        rows.append(
            {
                "scene": index,
                "square": square,
                "enlarged": round(square / 128, 2),
                "tiles": tiles,
                "sharpness_off": round(sharpness(off, mask) / own, 3),
                "sharpness_on": round(sharpness(on, mask) / own, 3),
                "edge_width_off": edge_width(off, mask),
                "edge_width_on": edge_width(on, mask),
                "edge_width_picture": edge_width(image, mask),
                "seam_ratio": round(seam_ratio(on, mask, borders), 3),
                # The same columns without the pass: what the content alone gives there.
                "seam_ratio_off": round(seam_ratio(off, mask, borders), 3),
                "colour_drift": round(float(np.abs(on[mask].mean(0) - off[mask].mean(0)).mean()), 2),
                "seconds_off": round(off_s, 1),
                "seconds_on": round(on_s, 1),
                "tile_step_s": round(tile_step_s, 3),
                "outside_identical": bool((on[~mask] == image[~mask]).mean() > 0.99),
            }
        )
        print(rows[-1], flush=True)

    def med(key: str) -> float:
        return round(statistics.median(r[key] for r in rows if not np.isnan(r[key])), 3)

    emit(
        {
            "benchmark": "detail_quality",
            "machine": machine(),
            "scenes": len(rows),
            "median": {k: med(k) for k in rows[0] if k not in ("scene", "square", "outside_identical")},
            "worst_seam_ratio": max(r["seam_ratio"] for r in rows if not np.isnan(r["seam_ratio"])),
            "worst_seam_ratio_off": max(
                r["seam_ratio_off"] for r in rows if not np.isnan(r["seam_ratio_off"])
            ),
            "worst_colour_drift": max(r["colour_drift"] for r in rows),
            "rows": rows,
        }
    )


if __name__ == "__main__":
    main()
