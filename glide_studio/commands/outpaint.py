"""``glide-studio outpaint``: extend a picture on any side and fill the new area."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from glide_studio.commands.generate import inherit_sampling_options, run_and_save


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", type=Path, help="the picture to extend (PNG, JPEG, WebP, ...)")
    parser.add_argument(
        "--extend", required=True, help="pixels to add as L,T,R,B (left, top, right, bottom), e.g. 0,0,256,0"
    )
    inherit_sampling_options(parser, skip=("image", "mask", "sketch", "strength", "server", "token"))


class _Extended:
    """The source's colour profile and EXIF carry over; alpha and 16-bit data do not fit the new size."""

    def __init__(self, source: Any) -> None:
        self.rgb16 = self.alpha = self.alpha16 = None
        self.icc_profile, self.exif = source.icc_profile, source.exif


def run(args: argparse.Namespace) -> int:
    from glide_studio.commands.inpaint import _fail
    from glide_studio.core.generation.request import RequestError
    from glide_studio.core.imaging.files import load_image
    from glide_studio.core.pipeline.outpaint import Extension, extend_canvas, outpaint

    try:
        extension = Extension.parse(args.extend)
    except RequestError as exc:
        return _fail(str(exc), 2)

    def load(engine: Any) -> tuple[Any, Any, Any]:
        source = load_image(args.image)
        if source.alpha is not None or source.rgb16 is not None:
            print("note: the result is 8-bit RGB without transparency", file=sys.stderr)
        canvas, mask = extend_canvas(source.rgb, extension)
        return canvas, mask, _Extended(source)

    e = extension
    return run_and_save(
        args,
        load=load,
        events=lambda engine, request: outpaint(engine.inpainter, request),
        extra_info={"mode": "outpaint", "extend": f"{e.left},{e.top},{e.right},{e.bottom}"},
    )
