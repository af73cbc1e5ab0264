"""``glide-studio generate``: a picture from a prompt alone (text-to-image).

Uses the released text-to-image models (``base.pt``, ``upsample.pt``) when
they are in the weights folder; otherwise the inpainting models draw the
whole square with nothing known (the demo model offline). Takes the inpaint
command's sampling options.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from glide_studio.commands import inpaint as _inpaint

MAX_SIZE = 4096
TEXT2IM_HINT = (
    "The text-to-image models (base.pt, upsample.pt) are not in the weights folder: the inpainting "
    "model draws the whole picture. Fetch them with `glide-studio download --models text2im`."
)


def inherit_sampling_options(parser: argparse.ArgumentParser, *, skip: tuple[str, ...]) -> None:
    """Every option of ``glide-studio inpaint`` except ``skip`` (destinations), so the
    commands never drift apart."""
    donor = argparse.ArgumentParser(add_help=False)
    _inpaint.add_arguments(donor)
    for action in donor._actions:
        if action.dest not in skip:
            parser._add_action(action)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", default="256", help="the picture's size: N or WxH pixels (default 256)")
    inherit_sampling_options(parser, skip=("image", "mask", "sketch", "strength"))


def parse_size(text: str) -> tuple[int, int]:
    """``"256"`` or ``"384x256"`` → (width, height)."""
    parts = text.lower().split("x")
    if len(parts) not in (1, 2) or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"--size {text!r} must be N or WxH in pixels, e.g. 256 or 384x256")
    width, height = int(parts[0]), int(parts[-1])
    if not (16 <= width <= MAX_SIZE and 16 <= height <= MAX_SIZE):
        raise ValueError(f"--size {text!r}: each side must be from 16 to {MAX_SIZE} pixels")
    return width, height


class _Blank:
    """What ``inpaint._save_result`` reads of a source picture: a new canvas has none of it."""

    rgb16 = alpha = alpha16 = icc_profile = exif = None


def run_and_save(
    args: argparse.Namespace,
    *,
    load: Callable[[Any], tuple[Any, Any, Any]],
    events: Callable[[Any, Any], Iterator[Any]],
    extra_info: dict[str, str],
) -> int:
    """The shared command flow: check outputs, load models, build the request, stream, save.

    ``load(engine)`` gives (canvas RGB, mask, source picture); ``events(engine,
    request)`` runs the request.
    """
    if args.output.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
        return _inpaint._fail(f"{args.output}: unsupported output type; use .png, .jpg or .webp", 2)
    problem = _inpaint._check_before_loading(args)
    if problem:
        return _inpaint._fail(problem)
    try:
        engine = _inpaint.open_engine(args)
        canvas, mask, source = load(engine)
        request = _inpaint._build_request(args, engine, canvas, mask)
        finished = _inpaint.stream_events(events(engine, request))
    except (*_inpaint.user_errors(), ValueError) as exc:
        return _inpaint._fail(str(exc))
    except KeyboardInterrupt:
        return _inpaint._fail("cancelled", 130)
    return _inpaint.save_results(args, engine, request, finished, source, extra_info)


def run(args: argparse.Namespace) -> int:
    from glide_studio.core.pipeline.text2im import blank_canvas

    try:
        width, height = parse_size(args.size)
    except ValueError as exc:
        return _inpaint._fail(str(exc), 2)
    args.image = Path(os.devnull)  # no input picture that an output could overwrite

    def load(engine: Any) -> tuple[Any, Any, Any]:
        if getattr(engine.inpainter, "text2im", False) is None and not engine.is_demo:
            print(TEXT2IM_HINT, file=sys.stderr)
        canvas, mask = blank_canvas(width, height)
        return canvas, mask, _Blank()

    return run_and_save(
        args,
        load=load,
        events=lambda engine, request: engine.inpainter.run(request),
        extra_info={"mode": "text-to-image"},
    )
