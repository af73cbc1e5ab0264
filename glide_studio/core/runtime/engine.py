"""This computer's models behind the ``Backend`` interface: choosing and loading them.

The released GLIDE inpainting models when their files are in the weights
folder; otherwise, when the user named no folder, the small built-in demo
models, so that the studio works offline out of the box. The caller learns
which it got, what is missing, and a notice to show the user, from the
backend's ``BackendInfo``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..generation.backend import BackendError, BackendInfo, Capabilities, Preparation
from ..generation.cancel import CancelToken
from ..generation.events import Event
from ..generation.presets import RecommendedSampling
from ..generation.request import OUTPAINT, EditRequest, RequestError
from ..pipeline.inpaint import Inpainter, StageModel
from ..pipeline.outpaint import outpaint
from ..text.tokenizer import BPETokenizer, ByteTokenizer, Tokenizer, load_tokenizer
from ..weights.bundled import BundleError, demo_folder, read_demo_manifest, read_demo_upsampler_manifest
from ..weights.checkpoints import load_model_and_options
from ..weights.released import DEFAULT_GROUP, GROUPS, released_options
from ..weights.store import WEIGHTS_ENV, ModelStore, StoreError
from .devices import choose_device, choose_dtype, describe_device
from .optimize import optimize_for_inference, quiet_gc
from .step_graphs import install_step_graphs

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = [
    "DEMO_DIR",
    "EDITOR_FILES",
    "EngineError",
    "LocalBackend",
    "capture_step_graphs",
    "load_demo",
    "load_local_backend",
]

DEMO_DIR: Traversable = demo_folder()
"""The demo model inside the package (``glide_studio/resources/demo``)."""
EDITOR_FILES = GROUPS[DEFAULT_GROUP]
"""The released files the full editor uses (the tokenizer ships with the package)."""
_REQUIRED = ("base-inpaint",)

GET_WEIGHTS_HINT = (
    "For the released GLIDE models, run `glide-studio download` "
    "(about 3 GB) or use Models → Download in the app."
)


class EngineError(BackendError):
    """No usable model could be loaded; the message says why and what to do."""


@dataclass(frozen=True, eq=False)
class LocalBackend:
    """Loaded models on this computer; holds no per-run state."""

    inpainter: Inpainter
    info: BackendInfo
    device: torch.device

    @classmethod
    def of(
        cls,
        inpainter: Inpainter,
        *,
        description: str,
        is_demo: bool = False,
        missing: tuple[str, ...] = (),
        notice: str = "",
        sampling: RecommendedSampling | None = None,
    ) -> LocalBackend:
        """The backend of loaded models, described from what they are."""
        device = inpainter.base.model.device
        upsampler = inpainter.upsampler
        info = BackendInfo(
            description=description,
            device_label=describe_device(device),
            base_resolution=inpainter.base.resolution,
            upsample_resolution=upsampler.resolution if upsampler is not None else None,
            is_demo=is_demo,
            missing=missing,
            notice=notice,
            sampling=sampling,
            capabilities=Capabilities(
                text2im=inpainter.text2im is not None,
                clip=inpainter.clip is not None,
                outpaint=True,
                detail=inpainter.detail_model is not None,
            ),
            precision=_precision_of(inpainter),
            threads=torch.get_num_threads(),
            auto_detail=inpainter.auto_detail,
        )
        return cls(inpainter=inpainter, info=info, device=device)

    def run(self, request: EditRequest, *, cancel: CancelToken | None = None) -> Generator[Event, None, None]:
        if request.kind == OUTPAINT:
            return outpaint(self.inpainter, request, cancel=cancel)
        return self.inpainter.run(request, cancel=cancel)

    def prepare(self, preparation: Preparation, *, cancel: CancelToken | None = None) -> dict[str, float]:
        step_seconds = self.inpainter.prepare(
            prompt=preparation.prompt,
            candidates=preparation.candidates,
            guidance_scale=preparation.guidance_scale,
            clip_guidance=preparation.clip_guidance,
            use_upsampler=preparation.use_upsampler,
            cancel=cancel,
        )
        capture_step_graphs(self.inpainter, cancel=cancel)
        return step_seconds


def _stage(
    path: Path,
    options: Mapping[str, Any] | None,
    *,
    name: str,
    variant: str,
    tokenizer: Tokenizer | None,
    device: torch.device,
    dtype: torch.dtype,
) -> StageModel:
    """Load one model; a file that carries its own options (a fine-tuned or test model
    saved under a released name) is built from those, checked to be the right variant.
    ``tokenizer`` None: the one the model's vocabulary size says (``_tokenizer_for``)."""
    model, options = load_model_and_options(path, options, device=device, dtype=dtype, variant=variant)
    optimize_for_inference(model)
    install_step_graphs(model)  # CUDA only: graphs captured in preparation (``capture_step_graphs``)
    return StageModel(
        model=model,
        tokenizer=tokenizer or _tokenizer_for(model.config.n_vocab, path),
        noise_schedule=str(options["noise_schedule"]),
        diffusion_steps=int(options.get("diffusion_steps", 1000)),
        name=name,
    )


def _tokenizer_for(n_vocab: int, path: Path) -> Tokenizer:
    """The released vocabulary (shipped with the package), or byte tokens for small models
    trained with them (``glide-studio train`` saved under a released name)."""
    byte_level = ByteTokenizer()
    if n_vocab == byte_level.n_vocab:
        return byte_level
    released = BPETokenizer.released()
    if n_vocab != released.n_vocab:
        raise EngineError(
            f"{path}: the model reads {n_vocab} token ids, but the released vocabulary has "
            f"{released.n_vocab} and byte tokens {byte_level.n_vocab}"
        )
    return released


def load_demo(
    *, device: torch.device, folder: Traversable = DEMO_DIR, precision: str = "auto"
) -> tuple[Inpainter, dict[str, Any]]:
    """The built-in demo models (base, and the upsampler when it ships) and the base's manifest."""
    dtype = choose_dtype(device, precision, variant="demo")
    try:
        manifest = read_demo_manifest(folder)
        upsampler_manifest = read_demo_upsampler_manifest(folder)
    except BundleError as exc:
        raise EngineError(str(exc)) from exc
    tokenizer = load_tokenizer(str(manifest.get("tokenizer", "bytes")))
    stages = {}
    for name, variant, entry in (
        ("demo", "base-inpaint", manifest),
        ("demo upsampler", "upsample-inpaint", upsampler_manifest),
    ):
        if entry is None:
            continue
        with resources.as_file(folder / str(entry["weights"])) as weights:
            stages[variant] = _stage(
                Path(weights),
                entry["options"],
                name=name,
                variant=variant,
                tokenizer=tokenizer,
                device=device,
                dtype=dtype,
            )
    inpainter = Inpainter(
        base=stages["base-inpaint"], upsampler=stages.get("upsample-inpaint"), auto_detail=True
    )
    return inpainter, manifest


def _load_released(store: ModelStore, device: torch.device, precision: str) -> Inpainter:
    stages = []
    for name in EDITOR_FILES:
        if not store.has(name):
            stages.append(None)
            continue
        store.check_sidecar(name)
        options = released_options(name)
        path = store.path(name)
        dtype = choose_dtype(device, precision, variant=name)
        stages.append(
            _stage(path, options, name=name, variant=name, tokenizer=None, device=device, dtype=dtype)
        )
    base, upsampler = stages
    # On a CPU a batch of candidates costs about what they cost one by one (README,
    # Performance), so they are made in turn: the first preview and the first finished
    # candidate come several times sooner. GPUs (and the small demo model) gain from batches.
    in_turn = device.type == "cpu"
    return Inpainter(
        base=base,
        upsampler=upsampler,
        in_turn=in_turn,
        auto_detail=device.type == "cuda",
        **_toolbox(store, device, precision),
    )


class LoadOnUse:
    """Stands for a model that stays on disk until first used.

    The text-to-image models and the noised CLIP are several GB that most edits
    never touch: they load on the model thread the first time a run needs them
    (a whole square to draw, CLIP guidance), so the editor's memory stays what
    the inpainting models need.
    """

    def __init__(self, load: Callable[[], Any], name: str) -> None:
        self._load, self._name = load, name
        self._value: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._value is not None

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        with self._lock:
            if self._value is None:
                self._value = self._load()
        return getattr(self._value, attribute)

    def __repr__(self) -> str:
        return f"LoadOnUse({self._name!r}, loaded={self.loaded})"


def _toolbox(store: ModelStore, device: torch.device, precision: str) -> dict[str, Any]:
    """The text-to-image models and the noised CLIP, each when its files are present (checked
    now, loaded on first use)."""
    from ..pipeline.clip_guidance import load_clip_guide
    from ..pipeline.text2im import TextToImage

    extra: dict[str, Any] = {}
    if store.has("clip-text-enc") and store.has("clip-image-enc"):
        for name in ("clip-text-enc", "clip-image-enc"):
            store.check_sidecar(name)
        paths = {"text_path": store.path("clip-text-enc"), "image_path": store.path("clip-image-enc")}
        extra["clip"] = LoadOnUse(lambda: load_clip_guide(**paths, device=device), "noised CLIP")
    if store.has("base"):
        names = [name for name in ("base", "upsample") if store.has(name)]
        for name in names:
            store.check_sidecar(name)

        def load_text2im() -> TextToImage:
            stages = {
                name: _stage(
                    store.path(name),
                    released_options(name),
                    name=name,
                    variant=name,
                    tokenizer=None,
                    device=device,
                    dtype=choose_dtype(device, precision, variant=name),
                )
                for name in names
            }
            return TextToImage(base=stages["base"], upsampler=stages.get("upsample"), clip=extra.get("clip"))

        extra["text2im"] = LoadOnUse(load_text2im, "text-to-image models")
    return extra


def _named_folder(weights_dir: str | Path | None, environ: Mapping[str, str]) -> bool:
    """Whether the user chose a weights folder (then missing files are an error, not a fallback)."""
    return bool(str(weights_dir or "").strip() or environ.get(WEIGHTS_ENV, "").strip())


def load_local_backend(
    *,
    weights_dir: str | Path | None = None,
    device: str | torch.device | None = None,
    demo: bool | None = None,
    environ: Mapping[str, str] = os.environ,
    demo_dir: Traversable = DEMO_DIR,
    precision: str = "auto",
) -> LocalBackend:
    """Load the released models if present (``demo=None``), or force one choice.

    Only when no folder is named (neither ``weights_dir`` nor
    ``$GLIDE_STUDIO_WEIGHTS``) does a missing base model fall back to the demo
    model, and the notice says so; a named folder that lacks it, or
    ``demo=False``, raises an ``EngineError`` naming each missing file, its URL
    and the folder. ``demo=True`` always uses the demo model. ``precision``:
    auto, float32, bfloat16 or float16 (``devices.choose_dtype``).
    """
    target = choose_device(device)
    choose_dtype(target, precision)  # an unknown precision fails before anything loads
    with quiet_gc():  # its first use imports platformdirs, which would start collections
        try:
            store = ModelStore.locate(weights_dir, environ=environ)
        except StoreError as exc:  # e.g. --weights-dir names a file
            raise EngineError(str(exc)) from exc
    missing = tuple(store.missing(EDITOR_FILES))
    missing_names = tuple(f.name for f in missing)
    usable = not any(name in _REQUIRED for name in missing_names)
    if not demo and not usable and (demo is False or _named_folder(weights_dir, environ)):
        try:
            store.require(EDITOR_FILES)
        except StoreError as exc:
            raise EngineError(str(exc)) from exc
    if demo or not usable:
        with quiet_gc():
            inpainter, manifest = load_demo(device=target, folder=demo_dir, precision=precision)
        notice = "" if demo else f"No GLIDE weights in {store.folder}: using the built-in demo model. "
        return LocalBackend.of(
            inpainter,
            description="built-in demo models (coloured shapes only)"
            if inpainter.upsampler is not None
            else "built-in demo model (coloured shapes only, no upsampler)",
            is_demo=True,
            missing=missing_names,
            sampling=_demo_sampling(manifest),
            notice=notice + "The demo model paints coloured shapes only. " + GET_WEIGHTS_HINT,
        )
    try:
        with quiet_gc():
            inpainter = _load_released(store, target, precision)
    except StoreError as exc:
        raise EngineError(str(exc)) from exc
    stages = " + ".join(s.name for s in (inpainter.base, inpainter.upsampler) if s is not None)
    return LocalBackend.of(
        inpainter,
        description=f"GLIDE (filtered) {stages}",
        missing=missing_names,
        notice=_upsampler_notice(store) if inpainter.upsampler is None else "",
    )


def _demo_sampling(manifest: Mapping[str, Any]) -> RecommendedSampling | None:
    if not manifest.get("sampling"):
        return None
    try:
        return RecommendedSampling.from_mapping(manifest["sampling"])
    except RequestError as exc:
        raise EngineError(f"the demo model's manifest has a bad sampling entry: {exc}") from exc


def capture_step_graphs(inpainter: Inpainter, *, cancel: CancelToken | None = None) -> None:
    """Capture a step graph at every batch size the models warmed up at (``Inpainter.prepare``),
    for models that have step graphs (CUDA); a run started meanwhile cancels between captures."""
    for stage in (inpainter.base, inpainter.upsampler):
        graphs = getattr(stage.model, "step_graphs", None) if stage is not None else None
        if graphs is None:
            continue
        for rows in sorted(stage.warmed):
            if cancel is not None:
                cancel.raise_if_cancelled()
            graphs.capture(rows)


def _precision_of(inpainter: Inpainter) -> str:
    stages = [s for s in (inpainter.base, inpainter.upsampler) if s is not None]
    return ", ".join(f"{str(s.model.dtype).removeprefix('torch.')} {s.name}" for s in stages)


def _upsampler_notice(store: ModelStore) -> str:
    entry = store.entry("upsample-inpaint")
    return (
        f"The upsampler {entry.filename} is not in {store.folder}: results stay at the base model's "
        f"64 px and are scaled up. Fetch it with `glide-studio download upsample-inpaint`."
    )
