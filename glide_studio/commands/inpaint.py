"""``glide-studio inpaint``: edit an image from the command line."""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path
from typing import Any

from glide_studio.core.generation.presets import DEFAULT_PRESET, PRESETS
from glide_studio.core.runtime.precision import PRECISIONS as PRECISION_CHOICES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", type=Path, help="the picture to edit (PNG, JPEG, WebP, ...)")
    parser.add_argument("--mask", type=Path, required=True, help="white = regenerate, black = keep")
    parser.add_argument("--prompt", required=True, help="what the masked region should show")
    parser.add_argument("-o", "--output", type=Path, required=True, help="result file (.png, .jpg, .webp)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace existing output files (even the input picture)"
    )
    preset, demo = PRESETS[DEFAULT_PRESET], _demo_sampling()
    parser.add_argument(
        "--preset",
        default=None,
        help=f"{', '.join(PRESETS)} (default {DEFAULT_PRESET}; release: the paper's 100+27 ancestral steps)",
    )
    parser.add_argument(
        "--guidance",
        type=float,
        default=None,
        help=f"classifier-free guidance (default 5{demo.get('guidance_scale', '')})",
    )
    parser.add_argument(
        "--steps",
        default=None,
        help=f"base steps: a count, 'ddimN' or sections (default {preset.base.steps}{demo.get('steps', '')})",
    )
    parser.add_argument(
        "--sampler",
        default=None,
        help=f"base sampler: ancestral, ddim or dpm++2m (default {preset.base.sampler}"
        f"{demo.get('sampler', '')})",
    )
    parser.add_argument(
        "--upsample-steps",
        default=None,
        help=f"upsampler steps (default {preset.upsample.steps}{demo.get('upsample_steps', '')})",
    )
    parser.add_argument(
        "--upsample-sampler",
        default=None,
        help=f"upsampler sampler (default {preset.upsample.sampler}{demo.get('upsample_sampler', '')})",
    )
    parser.add_argument("--temperature", type=float, default=0.997, help="upsampler noise temperature")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a random one)")
    parser.add_argument("--candidates", type=int, default=1, help="how many results to make")
    parser.add_argument("--no-upsample", action="store_true", help="skip the upsampler (256 px; demo 128 px)")
    parser.add_argument(
        "--sketch", type=Path, default=None, help="colour sketch, the picture's size, to start from"
    )
    parser.add_argument(
        "--strength", type=float, default=0.75, help="with --sketch: 0 keeps the sketch, 1 ignores it (0.75)"
    )
    parser.add_argument(
        "--clip-guidance",
        type=float,
        default=0.0,
        help="noised-CLIP guidance scale instead of classifier-free guidance (needs the clip files; "
        "ancestral sampler, the default with it)",
    )
    parser.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N or mps")
    parser.add_argument(
        "--precision",
        default=None,
        choices=PRECISION_CHOICES,
        help="what the models compute in; auto (default): float16 on CUDA; on CPUs with native bf16 "
        "(AVX512-BF16/AMX) the upsampler in bfloat16, the base model in float32; float32 elsewhere",
    )
    parser.add_argument(
        "--weights-dir",
        type=Path,
        default=None,
        help="folder with the released files (default: $GLIDE_STUDIO_WEIGHTS, else the user cache "
        "folder); when a folder is named, missing files are an error, not a fallback to the demo model",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="use the built-in demo model (coloured shapes, 32 px, no download)",
    )
    parser.add_argument(
        "--server", default=None, help="run on a `glide-studio serve` server, e.g. http://gpu-box:8000"
    )
    parser.add_argument(
        "--token", default=None, help="the server's bearer token (default: $GLIDE_STUDIO_TOKEN)"
    )


def _remote_engine(args: argparse.Namespace) -> Any:
    """The server's models; local model options make no sense with it and are refused."""
    import os

    from glide_studio.core.remote.client import RemoteEngine, RemoteError

    local = [
        name
        for name, on in (
            ("--demo", args.demo),
            ("--device", args.device),
            ("--precision", args.precision),
            ("--weights-dir", args.weights_dir),
        )
        if on
    ]
    if local:
        raise RemoteError(f"--server runs the server's models; {', '.join(local)} cannot be used with it")
    return RemoteEngine.connect(args.server, token=args.token or os.environ.get("GLIDE_STUDIO_TOKEN"))


def _demo_sampling() -> dict[str, str]:
    """'; the demo model: X' suffixes for the help of the settings the demo model sets itself
    (read from its manifest without torch); empty when the manifest cannot be read."""
    from glide_studio.core.weights.bundled import BundleError, read_demo_manifest

    try:
        sampling = read_demo_manifest().get("sampling") or {}
    except BundleError:
        return {}
    return {
        key: f"; the demo model uses {value:g}"
        if isinstance(value, float)
        else f"; the demo model uses {value}"
        for key, value in sampling.items()
    }


def _fail(message: str, status: int = 1) -> int:
    print(f"glide-studio: error: {message}", file=sys.stderr)
    return status


def _output_paths(output: Path, count: int) -> list[Path]:
    from glide_studio.core.imaging.output import candidate_paths

    return candidate_paths(output, max(count, 1))


def _check_before_loading(args: argparse.Namespace) -> str | None:
    """What would fail or destroy a file, found before minutes of model loading and generation."""
    from glide_studio.core.imaging.output import OutputError, check_outputs, prepare_folder

    try:
        args.prompt.encode("utf-8")
    except UnicodeEncodeError:
        return "--prompt: not valid UTF-8 text (check the terminal's or the script's encoding)"
    try:
        check_outputs(args.image, _output_paths(args.output, args.candidates), overwrite=args.overwrite)
        prepare_folder(args.output.parent)
    except OutputError as exc:
        return str(exc)
    return None


def _save_result(path: Path, candidate: Any, source: Any, info: dict[str, str]) -> bool:
    """Save one result with the source's profile, EXIF and bit depth; if that fails, to a recovery file."""
    from glide_studio.core.imaging.metadata import save_image
    from glide_studio.core.imaging.output import OutputError, recovery_folder, recovery_path

    deep = source.rgb16 is not None and candidate.image.shape == source.rgb16.shape
    if source.rgb16 is not None and path.suffix.lower() != ".png":
        print(f"warning: {path}: 16-bit source saved with 8 bits per channel; use .png", file=sys.stderr)
    keep = {
        "alpha": source.alpha,
        "info": info,
        "icc_profile": source.icc_profile,
        "exif": source.exif,
        "source16": source.rgb16 if deep else None,
        "alpha16": source.alpha16 if deep else None,
    }
    try:
        save_image(path, candidate.image, **keep)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
    else:
        print(f"{path}  (seed {candidate.seed})")
        return True
    try:
        rescued = save_image(recovery_path(path, folder=recovery_folder()), candidate.image, **keep)
    except (OSError, ValueError, OutputError) as exc:
        _fail(f"{path}: cannot write the result ({reason}), nor a recovery copy ({exc})")
        return False
    _fail(f"{path}: cannot write the result ({reason}); saved it to {rescued} (seed {candidate.seed})")
    return False


def _build_request(args: argparse.Namespace, engine: Any, rgb: Any, mask: Any) -> Any:
    from glide_studio.core.generation.request import EditRequest, RequestError, StageSettings

    name = args.preset or DEFAULT_PRESET
    if name not in PRESETS:
        raise RequestError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    preset = PRESETS[name]
    recommended = engine.sampling if args.preset is None else {}
    clip_guidance = float(getattr(args, "clip_guidance", 0.0) or 0.0)
    clip_sampler = "ancestral" if clip_guidance else None  # the only sampler CLIP guidance can steer
    base = StageSettings(
        sampler=args.sampler or clip_sampler or recommended.get("sampler") or preset.base.sampler,
        steps=args.steps or recommended.get("steps") or preset.base.steps,
    )
    upsample = StageSettings(
        sampler=args.upsample_sampler or recommended.get("upsample_sampler") or preset.upsample.sampler,
        steps=args.upsample_steps or recommended.get("upsample_steps") or preset.upsample.steps,
    )
    guidance = args.guidance if args.guidance is not None else recommended.get("guidance_scale", 5.0)
    return EditRequest(
        image=rgb,
        mask=mask,
        prompt=args.prompt,
        guidance_scale=float(guidance),
        base=base,
        upsample=upsample,
        use_upsampler=not args.no_upsample,
        upsample_temperature=args.temperature,
        candidates=args.candidates,
        seed=args.seed if args.seed is not None else secrets.randbelow(2**31),
        sketch=_load_sketch(getattr(args, "sketch", None), rgb),
        strength=float(getattr(args, "strength", 0.75)),
        clip_guidance=clip_guidance,
    )


def _load_sketch(path: Path | None, rgb: Any) -> Any:
    """The sketch as RGB uint8 of the picture's size, or None."""
    from glide_studio.core.imaging.files import ImageError, load_image

    if path is None:
        return None
    sketch = load_image(path)
    if sketch.rgb.shape != rgb.shape:
        raise ImageError(
            f"{path}: the sketch is {sketch.size[0]}x{sketch.size[1]}, but the picture is "
            f"{rgb.shape[1]}x{rgb.shape[0]}; draw it over a copy of the picture"
        )
    return sketch.rgb


def stream_events(events: Any) -> Any:
    """Drain a run with one progress bar per stage; returns its Finished event.

    A stopped run raises KeyboardInterrupt (the commands' "cancelled" exit); a
    ``Failed`` event (what a server, or an outpainting square, reports instead
    of raising) raises ``RemoteError`` with its message.
    """
    from tqdm import tqdm

    from glide_studio.core.generation.events import Cancelled, Failed, Finished, Preview, Started
    from glide_studio.core.remote.client import RemoteError

    bar, finished, count = None, None, 1
    for event in events:
        if isinstance(event, Started):
            count = len(event.seeds)
            if event.prompt_truncated:
                print("warning: the prompt is too long; its end was ignored", file=sys.stderr)
        elif isinstance(event, Preview):
            if bar is None or event.step == 1:
                if bar is not None:
                    bar.close()
                # Candidates made in turn (on a CPU) each run every stage: say whose bar it is.
                alone = len(event.images) < count
                desc = f"{event.stage} {event.first + 1}/{count}" if alone else event.stage
                bar = tqdm(total=event.total, desc=desc, unit="step", file=sys.stderr)
            bar.update(1)
        elif isinstance(event, Finished):
            finished = event
        elif isinstance(event, Cancelled):
            raise KeyboardInterrupt
        elif isinstance(event, Failed):
            raise RemoteError(event.message)
    if bar is not None:
        bar.close()
    return finished


def user_errors() -> tuple[type[Exception], ...]:
    """The errors a command reports as one line (bad files, settings, models, server), imported
    only once a command runs so that ``--help`` stays free of torch."""
    from glide_studio.core.generation.request import RequestError
    from glide_studio.core.imaging.files import ImageError
    from glide_studio.core.remote.client import RemoteError
    from glide_studio.core.runtime.devices import DeviceError
    from glide_studio.core.runtime.engine import EngineError
    from glide_studio.core.text.tokenizer import TokenizerError
    from glide_studio.core.weights.checkpoints import CheckpointError

    return (ImageError, RequestError, CheckpointError, EngineError, DeviceError, TokenizerError, RemoteError)


def run(args: argparse.Namespace) -> int:
    from glide_studio.core.imaging.files import load_image, load_mask

    suffix = args.output.suffix.lower()
    if suffix not in (".png", ".jpg", ".jpeg", ".webp"):
        return _fail(f"{args.output}: unsupported output type; use .png, .jpg or .webp", 2)
    problem = _check_before_loading(args)
    if problem:
        return _fail(problem)
    try:
        source = load_image(args.image)
        if source.frames > 1:
            print(f"note: {args.image} has {source.frames} frames; only the first is edited", file=sys.stderr)
        mask = load_mask(args.mask, size=source.size)
        engine = open_engine(args)
        request = _build_request(args, engine, source.rgb, mask)
        finished = stream_events(engine.inpainter.run(request))
    except user_errors() as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("cancelled", 130)
    return save_results(args, engine, request, finished, source)


def open_engine(args: argparse.Namespace) -> Any:
    """The server's models (``--server``) or this computer's, with its notice printed."""
    from glide_studio.core.runtime.engine import load_engine

    if getattr(args, "server", None):
        engine = _remote_engine(args)
    else:
        engine = load_engine(
            weights_dir=args.weights_dir,
            device=args.device,
            demo=True if args.demo else None,
            precision=args.precision or "auto",
        )
    if engine.notice:
        print(engine.notice, file=sys.stderr)
    return engine


def save_results(
    args: argparse.Namespace,
    engine: Any,
    request: Any,
    finished: Any,
    source: Any,
    extra_info: dict[str, str] | None = None,
) -> int:
    """Write each candidate with its parameters; exit status 1 if any went to a recovery file."""
    failed = False
    upsampled = len(engine.inpainter.stages(request)) > 1  # only stages that ran are recorded
    for candidate, path in zip(
        finished.candidates, _output_paths(args.output, request.candidates), strict=True
    ):
        info = {
            **request.describe(upsampled=upsampled),
            **(extra_info or {}),
            "seed": str(candidate.seed),
            "candidates": "1",
            "model": engine.description,
            "size": f"{candidate.image.shape[1]}x{candidate.image.shape[0]}",
        }
        failed |= not _save_result(path, candidate, source, info)
    return 1 if failed else 0
