"""The flow every picture-making command shares: inpaint, generate and outpaint.

Check the outputs (before minutes of loading), open the backend (this
computer's models or a server's), build the request, stream its progress, save
each candidate with its parameters, and report in one line what went wrong. A
command supplies only its own options and how it makes its canvas and mask
(``Job``). Importing this module is cheap: torch and the models load in ``run``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glide_studio.core.generation.presets import DEFAULT_PRESET, MODEL_PRESET, PRESETS
from glide_studio.core.runtime.precision import PRECISIONS

if TYPE_CHECKING:
    import numpy as np

    from glide_studio.core.generation.backend import Backend, BackendInfo
    from glide_studio.core.generation.events import Finished, Started
    from glide_studio.core.generation.request import EditRequest
    from glide_studio.core.imaging.files import LoadedImage
    from glide_studio.core.imaging.region import Region

__all__ = [
    "OUTPUT_SUFFIXES",
    "Job",
    "Keep",
    "add_backend_arguments",
    "add_sampling_arguments",
    "fail",
    "run_job",
]

OUTPUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
TOKEN_ENV = "GLIDE_STUDIO_TOKEN"


def fail(message: str, status: int = 1) -> int:
    print(f"glide-studio: error: {message}", file=sys.stderr)
    return status


# -- options ----------------------------------------------------------------------------------


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    """Prompt, output and every sampling option (the same for each command)."""
    parser.add_argument("--prompt", required=True, help="what the picture (or the masked region) should show")
    parser.add_argument("-o", "--output", type=Path, required=True, help="result file (.png, .jpg, .webp)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace existing output files (even the input picture)"
    )
    preset, demo = PRESETS[DEFAULT_PRESET], _demo_sampling_hints()
    parser.add_argument(
        "--preset",
        default=None,
        help=f"{', '.join(PRESETS)} or {MODEL_PRESET} (default: the model's own sampling when it has "
        f"one, else {DEFAULT_PRESET}; release: the paper's 100+27 ancestral steps)",
    )
    parser.add_argument(
        "--guidance",
        type=float,
        default=None,
        help=f"classifier-free guidance (default 5{demo.get('guidance_scale', '')})",
    )
    for flag, key, what, default in (
        ("--steps", "steps", "base steps: a count, 'ddimN' or sections", preset.base.steps),
        ("--sampler", "sampler", "base sampler: ancestral, ddim or dpm++2m", preset.base.sampler),
        ("--upsample-steps", "upsample_steps", "upsampler steps", preset.upsample.steps),
        ("--upsample-sampler", "upsample_sampler", "upsampler sampler", preset.upsample.sampler),
    ):
        parser.add_argument(flag, default=None, help=f"{what} (default {default}{demo.get(key, '')})")
    parser.add_argument("--temperature", type=float, default=0.997, help="upsampler noise temperature")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a random one)")
    parser.add_argument("--candidates", type=int, default=1, help="how many results to make")
    parser.add_argument("--no-upsample", action="store_true", help="skip the upsampler (256 px; demo 128 px)")
    parser.add_argument(
        "--keep-transparency",
        action="store_true",
        help="for cut-outs: keep the source's alpha where it generates (by default generated pixels "
        "are opaque, so an edit over transparent pixels is visible)",
    )
    parser.add_argument(
        "--clip-guidance",
        type=float,
        default=0.0,
        help="noised-CLIP guidance scale instead of classifier-free guidance (needs the clip files; "
        "ancestral sampler, the default with it)",
    )
    add_area_arguments(parser)


def add_area_arguments(parser: argparse.ArgumentParser) -> None:
    """What the model sees, and the detail pass up to the photo's resolution."""
    parser.add_argument(
        "--context",
        type=float,
        default=1.0,
        help="how much picture around the mask the model sees, times the mask's size (default 1: "
        "the mask spans about half the square)",
    )
    parser.add_argument(
        "--region",
        default=None,
        metavar="LEFT,TOP,SIZE",
        help="the square the model sees, in pixels (grown to hold the mask when needed)",
    )
    parser.add_argument(
        "--detail",
        choices=("off", "auto", "on"),
        default="auto",
        help="after the last stage, the upsampler again over tiles up to the photo's own resolution, "
        "so a large edit is as sharp as the photo (auto: when enlarged over 1.5x on a GPU or with the "
        "demo models; default auto)",
    )
    parser.add_argument("--detail-steps", default="10", help="steps per detail tile (default 10)")


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the models run: this computer (device, precision, weights) or a server."""
    parser.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N or mps")
    parser.add_argument(
        "--precision",
        default=None,
        choices=PRECISIONS,
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
    parser.add_argument("--token", default=None, help=f"the server's bearer token (default: ${TOKEN_ENV})")


def _demo_sampling_hints() -> dict[str, str]:
    """'; the demo model uses X' suffixes for the help of the settings the demo model sets itself
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


# -- what a command makes ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Keep:
    """What of the source picture each saved result carries (profile, EXIF, alpha, 16 bits)."""

    alpha: np.ndarray | None = None
    icc_profile: bytes | None = None
    exif: bytes | None = None
    rgb16: np.ndarray | None = None
    alpha16: np.ndarray | None = None

    @classmethod
    def of(cls, source: LoadedImage) -> Keep:
        return cls(
            alpha=source.alpha,
            icc_profile=source.icc_profile,
            exif=source.exif,
            rgb16=source.rgb16,
            alpha16=source.alpha16,
        )


@dataclass(frozen=True, kw_only=True)
class Job:
    """A command's canvas and mask (True = generate), and what its results keep and record."""

    canvas: np.ndarray
    mask: np.ndarray
    keep: Keep = field(default_factory=Keep)
    kind: str = "inpaint"
    sketch: np.ndarray | None = None
    strength: float = 0.75
    info: dict[str, str] = field(default_factory=dict)
    """Extra text chunks for every result."""


JobMaker = Callable[["BackendInfo"], Job]
"""Builds the job once the backend is open (it may print what the backend lacks for it)."""


# -- the flow -----------------------------------------------------------------------------------


def run_job(args: argparse.Namespace, make: JobMaker, *, inputs: Iterable[Path] = ()) -> int:
    """The whole command: exit status 0, 1 (an error, said in one line), 2 (bad usage) or 130."""
    if args.output.suffix.lower() not in OUTPUT_SUFFIXES:
        return fail(f"{args.output}: unsupported output type; use .png, .jpg or .webp", 2)
    problem = _check_before_loading(args, tuple(inputs))
    if problem:
        return fail(problem)
    try:
        backend = _open(args)
        job = make(backend.info)
        request = build_request(args, backend.info, job)
        for note in area_notes(request, backend.info):
            print(f"note: {note}", file=sys.stderr)
        started, finished = stream_events(backend.run(request))
    except user_errors() as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return fail("cancelled", 130)
    return _save_all(args, backend.info, request, job, started, finished)


def _check_before_loading(args: argparse.Namespace, inputs: tuple[Path, ...]) -> str | None:
    """What would fail or destroy a file, found before minutes of model loading and generation."""
    from glide_studio.core.imaging.output import OutputError, candidate_paths, check_outputs, prepare_folder

    try:
        args.prompt.encode("utf-8")
    except UnicodeEncodeError:
        return "--prompt: not valid UTF-8 text (check the terminal's or the script's encoding)"
    try:
        outputs = candidate_paths(args.output, max(args.candidates, 1))
        for source in inputs or (Path(os.devnull),):  # no input picture an output could overwrite
            check_outputs(source, outputs, overwrite=args.overwrite)
        prepare_folder(args.output.parent)
    except OutputError as exc:
        return str(exc)
    return None


def _open(args: argparse.Namespace) -> Backend:
    """The server's models (``--server``) or this computer's, with its notice printed."""
    from glide_studio.core.backends import BackendError, LocalOptions, open_backend

    local = LocalOptions(
        weights_dir=args.weights_dir,
        device=args.device,
        precision=args.precision or "auto",
        demo=True if args.demo else None,
    )
    if args.server:
        given = [
            name
            for name, on in (
                ("--demo", args.demo),
                ("--device", args.device),
                ("--precision", args.precision),
                ("--weights-dir", args.weights_dir),
            )
            if on
        ]
        if given:
            flags = ", ".join(given)
            raise BackendError(f"--server runs the server's models; {flags} cannot be used with it")
    backend = open_backend(
        server=args.server or "",
        token=args.token or os.environ.get(TOKEN_ENV, ""),
        local=local,
        on_wait=lambda text: print(text, file=sys.stderr, flush=True),
    )
    if backend.info.notice:
        print(backend.info.notice, file=sys.stderr)
    return backend


def build_request(args: argparse.Namespace, info: BackendInfo, job: Job) -> EditRequest:
    """The request the options describe, sampled as ``resolve_sampling`` decides."""
    from glide_studio.core.generation.presets import resolve_sampling
    from glide_studio.core.generation.request import EditRequest

    clip_guidance = float(args.clip_guidance or 0.0)
    sampling = resolve_sampling(
        preset=args.preset,
        recommended=info.sampling,
        clip=bool(clip_guidance),
        sampler=args.sampler,
        steps=args.steps,
        upsample_sampler=args.upsample_sampler,
        upsample_steps=args.upsample_steps,
    )
    guidance = args.guidance if args.guidance is not None else sampling.guidance_scale
    return EditRequest(
        image=job.canvas,
        mask=job.mask,
        prompt=args.prompt,
        guidance_scale=5.0 if guidance is None else float(guidance),
        base=sampling.base,
        upsample=sampling.upsample,
        use_upsampler=not args.no_upsample,
        upsample_temperature=args.temperature,
        candidates=args.candidates,
        seed=args.seed if args.seed is not None else secrets.randbelow(2**31),
        sketch=job.sketch,
        strength=job.strength,
        clip_guidance=clip_guidance,
        kind=job.kind,
        region=_region(args, job),
        context=args.context,
        detail=args.detail,
        detail_steps=args.detail_steps,
    )


def _region(args: argparse.Namespace, job: Job) -> Region | None:
    from glide_studio.core.generation.request import INPAINT, RequestError
    from glide_studio.core.imaging.region import Region

    if args.region is None:
        return None
    if job.kind != INPAINT:
        raise RequestError("--region chooses the square of an edit; outpainting chooses its own squares")
    try:
        return Region.parse(args.region)
    except ValueError as exc:
        raise RequestError(f"--region: {exc}") from None


def area_notes(request: EditRequest, info: BackendInfo) -> list[str]:
    """What to tell the user about the square and the detail pass before the run."""
    from glide_studio.core.generation.request import INPAINT
    from glide_studio.core.imaging.tiles import detail_runs

    if request.kind != INPAINT:
        return []
    area = request.area()
    notes = list(area.notes)
    output = info.output_resolution(use_upsampler=request.use_upsampler)
    enlargement = area.enlargement(output)
    side = area.box.width
    runs = detail_runs(request.detail, enlargement, auto=info.auto_detail)
    if request.detail == "on" and enlargement <= 1:
        notes.append(f"no detail pass needed: the model already works at the photo's resolution ({side} px)")
    elif enlargement > 2 and not runs:
        notes.append(
            f"the model sees {side}x{side} px and makes {output} px ({enlargement:.1f}x enlarged): "
            "the edit will be softer than the photo; --detail on sharpens it"
        )
    return notes


def stream_events(events: Iterable[Any]) -> tuple[Started | None, Finished | None]:
    """Drain a run with one progress bar per stage; its ``Started`` and ``Finished`` events.

    A stopped run raises KeyboardInterrupt (the commands' "cancelled" exit); a
    ``Failed`` event (what a server reports instead of raising) raises
    ``BackendError`` with its message.
    """
    from tqdm import tqdm

    from glide_studio.core.generation.backend import BackendError
    from glide_studio.core.generation.events import Cancelled, Failed, Finished, Preview, Queued, Started

    bar, started, finished, count = None, None, None, 1
    for event in events:
        if isinstance(event, Queued):  # a server's run waiting for a free model
            print(f"waiting: place {event.position} in the server's queue", file=sys.stderr, flush=True)
        elif isinstance(event, Started):
            started, count = event, len(event.seeds)
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
            raise BackendError(event.message)
    if bar is not None:
        bar.close()
    return started, finished


def user_errors() -> tuple[type[Exception], ...]:
    """The errors a command reports as one line (bad files, settings, models, server), imported
    only once a command runs so that ``--help`` stays free of torch."""
    from glide_studio.core.generation.backend import BackendError
    from glide_studio.core.generation.request import RequestError
    from glide_studio.core.imaging.files import ImageError
    from glide_studio.core.weights.checkpoints import CheckpointError
    from glide_studio.core.weights.store import StoreError

    # Models a run loads on first use (text-to-image, CLIP) can still fail inside it.
    return (ImageError, RequestError, BackendError, CheckpointError, StoreError)


# -- saving -------------------------------------------------------------------------------------


def _save_all(
    args: argparse.Namespace,
    info: BackendInfo,
    request: EditRequest,
    job: Job,
    started: Started | None,
    finished: Finished | None,
) -> int:
    """Write each candidate with its parameters; exit status 1 if any went to a recovery file."""
    from glide_studio.core.generation.backend import UPSAMPLE
    from glide_studio.core.imaging.output import candidate_paths

    if finished is None:
        return fail("the run ended without a result")
    upsampled = started is not None and UPSAMPLE in started.stages  # only stages that ran are recorded
    failed = False
    paths = candidate_paths(args.output, request.candidates)
    for candidate, path in zip(finished.candidates, paths, strict=False):
        image, alpha = _result_pixels(args, request, candidate, started, job.keep.alpha)
        parameters = {
            **request.describe(
                upsampled=upsampled, detailed=started is not None and "detail" in started.stages
            ),
            **job.info,
            "seed": str(candidate.seed),
            "candidates": "1",
            "model": info.description,
            "size": f"{image.shape[1]}x{image.shape[0]}",
        }
        keep = job.keep if alpha is None else replace(job.keep, alpha=alpha)
        failed |= not _save_one(path, image, candidate.seed, keep, parameters)
    return 1 if failed else 0


def _result_pixels(
    args: argparse.Namespace,
    request: EditRequest,
    candidate: Any,
    started: Started | None,
    alpha: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The whole result and, for a source with transparency, its alpha: generated pixels are
    opaque where they were pasted (the feathered mask), unless ``--keep-transparency``."""
    import numpy as np

    from glide_studio.core.generation.backend import UPSAMPLE
    from glide_studio.core.imaging.transparency import coverage, feather_radius, paste_over

    image = candidate.image
    if alpha is None or getattr(args, "keep_transparency", False) or alpha.shape != image.shape[:2]:
        return image, None
    box = candidate.box
    upsampled = started is not None and UPSAMPLE in started.stages
    region = started.box if started is not None and started.box is not None else box
    weight = coverage(np.asarray(request.mask), box, feather_radius(region, 256 if upsampled else 64))
    original = np.asarray(request.image)[box.slices]
    rgb, patch_alpha = paste_over(original, alpha[box.slices], image[box.slices], weight)
    image = np.array(image, copy=True)
    image[box.slices] = rgb
    out = np.array(alpha, copy=True)
    out[box.slices] = patch_alpha
    return image, out


def _save_one(path: Path, image: np.ndarray, seed: int, keep: Keep, parameters: dict[str, str]) -> bool:
    """Save one result with the source's profile, EXIF and bit depth; if that fails, to a recovery file."""
    from glide_studio.core.imaging.metadata import save_image
    from glide_studio.core.imaging.output import OutputError, recovery_folder, recovery_path

    deep = keep.rgb16 is not None and image.shape == keep.rgb16.shape
    if keep.rgb16 is not None and path.suffix.lower() != ".png":
        print(f"warning: {path}: 16-bit source saved with 8 bits per channel; use .png", file=sys.stderr)
    options = {
        "alpha": keep.alpha,
        "info": parameters,
        "icc_profile": keep.icc_profile,
        "exif": keep.exif,
        "source16": keep.rgb16 if deep else None,
        "alpha16": keep.alpha16 if deep else None,
    }
    try:
        save_image(path, image, **options)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
    else:
        print(f"{path}  (seed {seed})")
        return True
    try:
        rescued = save_image(recovery_path(path, folder=recovery_folder()), image, **options)
    except (OSError, ValueError, OutputError) as exc:
        fail(f"{path}: cannot write the result ({reason}), nor a recovery copy ({exc})")
        return False
    fail(f"{path}: cannot write the result ({reason}); saved it to {rescued} (seed {seed})")
    return False
