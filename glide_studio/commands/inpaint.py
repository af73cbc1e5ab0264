"""``glide-studio inpaint``: edit an image from the command line."""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path
from typing import Any

from glide_studio.core.generation.presets import DEFAULT_PRESET, PRESETS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", type=Path, help="the picture to edit (PNG, JPEG, WebP, ...)")
    parser.add_argument("--mask", type=Path, required=True, help="white = regenerate, black = keep")
    parser.add_argument("--prompt", required=True, help="what the masked region should show")
    parser.add_argument("-o", "--output", type=Path, required=True, help="result file (.png, .jpg, .webp)")
    parser.add_argument(
        "--preset",
        default=None,
        help=f"{', '.join(PRESETS)} (default {DEFAULT_PRESET}; release: the paper's 100+27 ancestral steps)",
    )
    parser.add_argument("--guidance", type=float, default=None, help="classifier-free guidance (default 5)")
    parser.add_argument("--steps", default=None, help="base steps: a count, 'ddimN' or sections")
    parser.add_argument("--sampler", default=None, help="base sampler: ancestral, ddim or dpm++2m")
    parser.add_argument("--upsample-steps", default=None, help="upsampler steps (default: the preset's)")
    parser.add_argument("--upsample-sampler", default=None, help="upsampler sampler")
    parser.add_argument("--temperature", type=float, default=0.997, help="upsampler noise temperature")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a random one)")
    parser.add_argument("--candidates", type=int, default=1, help="how many results to make")
    parser.add_argument("--no-upsample", action="store_true", help="skip the 256 px upsampler")
    parser.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N or mps")
    parser.add_argument("--weights-dir", type=Path, default=None, help="folder with the released files")
    parser.add_argument("--demo", action="store_true", help="use the built-in demo model")


def _fail(message: str, status: int = 1) -> int:
    print(f"glide-studio: error: {message}", file=sys.stderr)
    return status


def _output_paths(output: Path, count: int) -> list[Path]:
    if count == 1:
        return [output]
    return [output.with_name(f"{output.stem}-{k}{output.suffix}") for k in range(count)]


def _build_request(args: argparse.Namespace, engine: Any, rgb: Any, mask: Any) -> Any:
    from glide_studio.core.generation.request import EditRequest, RequestError, StageSettings

    name = args.preset or DEFAULT_PRESET
    if name not in PRESETS:
        raise RequestError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    preset = PRESETS[name]
    recommended = engine.sampling if args.preset is None else {}
    base = StageSettings(
        sampler=args.sampler or recommended.get("sampler") or preset.base.sampler,
        steps=args.steps or recommended.get("steps") or preset.base.steps,
    )
    upsample = StageSettings(
        sampler=args.upsample_sampler or preset.upsample.sampler,
        steps=args.upsample_steps or preset.upsample.steps,
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
    )


def _stream(engine: Any, request: Any) -> Any:
    """Run the request with one progress bar per stage; returns the Finished event."""
    from tqdm import tqdm

    from glide_studio.core.generation.events import Finished, Preview, Started

    bar = None
    finished = None
    for event in engine.inpainter.run(request):
        if isinstance(event, Started):
            if event.prompt_truncated:
                print("warning: the prompt is too long; its end was ignored", file=sys.stderr)
        elif isinstance(event, Preview):
            if bar is None or event.step == 1:
                if bar is not None:
                    bar.close()
                bar = tqdm(total=event.total, desc=event.stage, unit="step", file=sys.stderr)
            bar.update(1)
        elif isinstance(event, Finished):
            finished = event
    if bar is not None:
        bar.close()
    return finished


def run(args: argparse.Namespace) -> int:
    from glide_studio.core.generation.request import RequestError
    from glide_studio.core.imaging.files import ImageError, load_image, load_mask
    from glide_studio.core.imaging.metadata import save_image
    from glide_studio.core.runtime.devices import DeviceError
    from glide_studio.core.runtime.engine import GET_WEIGHTS_HINT, EngineError, load_engine
    from glide_studio.core.text.tokenizer import TokenizerError
    from glide_studio.core.weights.checkpoints import CheckpointError

    suffix = args.output.suffix.lower()
    if suffix not in (".png", ".jpg", ".jpeg", ".webp"):
        return _fail(f"{args.output}: unsupported output type; use .png, .jpg or .webp", 2)
    try:
        source = load_image(args.image)
        mask = load_mask(args.mask, size=source.size)
        engine = load_engine(
            weights_dir=args.weights_dir, device=args.device, demo=True if args.demo else None
        )
        if engine.is_demo:
            print(f"Using the {engine.description}. {GET_WEIGHTS_HINT}", file=sys.stderr)
        request = _build_request(args, engine, source.rgb, mask)
        finished = _stream(engine, request)
    except (ImageError, RequestError, CheckpointError, EngineError, DeviceError, TokenizerError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("cancelled", 130)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    model = engine.description
    for candidate, path in zip(
        finished.candidates, _output_paths(args.output, request.candidates), strict=True
    ):
        info = {**request.describe(), "seed": str(candidate.seed), "candidates": "1", "model": model}
        info["size"] = f"{candidate.image.shape[1]}x{candidate.image.shape[0]}"
        try:
            save_image(path, candidate.image, alpha=source.alpha, info=info)
        except OSError as exc:
            return _fail(f"{path}: cannot write the result ({exc.strerror or exc})")
        print(f"{path}  (seed {candidate.seed})")
    return 0
