"""``glide-studio inpaint``: edit an image from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from glide_studio.commands.flow import Job, Keep, add_backend_arguments, add_sampling_arguments, run_job


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", type=Path, help="the picture to edit (PNG, JPEG, WebP, ...)")
    parser.add_argument("--mask", type=Path, required=True, help="white = regenerate, black = keep")
    add_sampling_arguments(parser)
    parser.add_argument(
        "--sketch", type=Path, default=None, help="colour sketch, the picture's size, to start from"
    )
    parser.add_argument(
        "--strength", type=float, default=0.75, help="with --sketch: 0 keeps the sketch, 1 ignores it (0.75)"
    )
    add_backend_arguments(parser)


def run(args: argparse.Namespace) -> int:
    def make(_info: object) -> Job:
        import sys

        from glide_studio.core.imaging.files import ImageError, load_image, load_mask

        source = load_image(args.image)
        if source.frames > 1:
            print(f"note: {args.image} has {source.frames} frames; only the first is edited", file=sys.stderr)
        sketch = None
        if args.sketch is not None:
            sketch = load_image(args.sketch).rgb
            if sketch.shape != source.rgb.shape:
                raise ImageError(
                    f"{args.sketch}: the sketch is {sketch.shape[1]}x{sketch.shape[0]}, but the picture is "
                    f"{source.size[0]}x{source.size[1]}; draw it over a copy of the picture"
                )
        return Job(
            canvas=source.rgb,
            mask=load_mask(args.mask, size=source.size),
            keep=Keep.of(source),
            sketch=sketch,
            strength=args.strength,
        )

    return run_job(args, make, inputs=(args.image,))
