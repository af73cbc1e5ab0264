"""``glide-studio outpaint``: extend a picture on any side and fill the new area."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from glide_studio.commands.flow import Job, Keep, add_backend_arguments, add_sampling_arguments, fail, run_job


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", type=Path, help="the picture to extend (PNG, JPEG, WebP, ...)")
    parser.add_argument(
        "--extend", required=True, help="pixels to add as L,T,R,B (left, top, right, bottom), e.g. 0,0,256,0"
    )
    add_sampling_arguments(parser)
    add_backend_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from glide_studio.core.generation.canvas import Extension
    from glide_studio.core.generation.request import OUTPAINT, RequestError

    try:
        extension = Extension.parse(args.extend)
    except RequestError as exc:
        return fail(str(exc), 2)

    def make(_info: object) -> Job:
        from glide_studio.core.generation.canvas import extend_canvas
        from glide_studio.core.imaging.files import load_image

        source = load_image(args.image)
        if source.alpha is not None or source.rgb16 is not None:
            print("note: the result is 8-bit RGB without transparency", file=sys.stderr)
        canvas, mask = extend_canvas(source.rgb, extension)
        # The colour profile and EXIF carry over; alpha and 16-bit data do not fit the new size.
        keep = Keep(icc_profile=source.icc_profile, exif=source.exif)
        e = extension
        return Job(
            canvas=canvas,
            mask=mask,
            keep=keep,
            kind=OUTPAINT,
            info={"extend": f"{e.left},{e.top},{e.right},{e.bottom}"},
        )

    return run_job(args, make, inputs=(args.image,))
