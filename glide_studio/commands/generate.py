"""``glide-studio generate``: a picture from a prompt alone (text-to-image).

Uses the released text-to-image models (``base.pt``, ``upsample.pt``) when
they are in the weights folder; otherwise the inpainting models draw the
whole square with nothing known (the demo model offline). Takes the inpaint
command's sampling options.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from glide_studio.commands.flow import Job, add_backend_arguments, add_sampling_arguments, fail, run_job

if TYPE_CHECKING:
    from glide_studio.core.generation.backend import BackendInfo

MAX_SIZE = 4096
TEXT2IM_HINT = (
    "The text-to-image models (base.pt, upsample.pt) are not in the weights folder: the inpainting "
    "model draws the whole picture. Fetch them with `glide-studio download --models text2im`."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", default="256", help="the picture's size: N or WxH pixels (default 256)")
    add_sampling_arguments(parser)
    add_backend_arguments(parser)


def parse_size(text: str) -> tuple[int, int]:
    """``"256"`` or ``"384x256"`` → (width, height)."""
    parts = text.lower().split("x")
    if len(parts) not in (1, 2) or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"--size {text!r} must be N or WxH in pixels, e.g. 256 or 384x256")
    width, height = int(parts[0]), int(parts[-1])
    if not (16 <= width <= MAX_SIZE and 16 <= height <= MAX_SIZE):
        raise ValueError(f"--size {text!r}: each side must be from 16 to {MAX_SIZE} pixels")
    return width, height


def run(args: argparse.Namespace) -> int:
    try:
        width, height = parse_size(args.size)
    except ValueError as exc:
        return fail(str(exc), 2)

    def make(info: BackendInfo) -> Job:
        from glide_studio.core.generation.canvas import blank_canvas

        if not info.capabilities.text2im and not info.is_demo:
            print(TEXT2IM_HINT, file=sys.stderr)
        canvas, mask = blank_canvas(width, height)
        return Job(canvas=canvas, mask=mask, info={"mode": "text-to-image"})

    return run_job(args, make)
