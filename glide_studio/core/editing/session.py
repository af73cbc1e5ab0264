"""The editing session: one document, its undo history and the current run.

Everything a user can lose lives here, once, without Qt: the pixels and the
mask (``Document``), the applied edits and strokes with undo/redo, and the run
in progress or waiting to be applied (its request, candidates and selection).
The window observes it through ``subscribe`` and keeps no state of its own;
tests and scripts drive it directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from ..generation.backend import UPSAMPLE, BackendInfo
from ..generation.events import Cancelled, Candidate, Event, Failed, Finished, Preview, Started
from ..generation.request import INPAINT, OUTPAINT, EditRequest
from ..generation.settings import GenerationSettings
from ..generation.settings_codec import request_from_settings, request_settings
from ..imaging.mask_ops import soft_inside, soften_edge
from ..imaging.region import Box, Region, ResolvedRegion, resolve_region
from ..imaging.transparency import coverage, feather_radius, paste_over
from .canvas_size import CanvasExtension
from .document import Document
from .patches import AppliedEdit, EditRecord, MaskPatch, changed_box
from .run import Run, RunStatus
from .run_check import RunCheck, check_run, run_warnings
from .sketch import SketchPatch
from .undo import UndoHistory
from .undo_steps import (
    ApplyStep,
    EdgeSoftnessStep,
    ExtendStep,
    InvertMaskStep,
    MaskStep,
    SketchStep,
    UndoStep,
)

__all__ = ["Change", "ChangeKind", "EditingSession", "SessionError", "StaleCandidatesError"]


class SessionError(RuntimeError):
    """An action that does not fit the session's state; the message is for the user."""


class StaleCandidatesError(SessionError):
    """The picture changed after the candidates were generated."""


class ChangeKind(Enum):
    IMAGE = "image"
    MASK = "mask"
    HISTORY = "history"
    RUN = "run"
    SAVED = "saved"
    PROMPT = "prompt"
    SKETCH = "sketch"
    CANVAS = "canvas"
    """The picture's size changed: everything showing it must be rebuilt."""
    REGION = "region"
    """The generation area was moved, resized or set back to automatic."""


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    box: Box | None = None
    """The part of the picture or mask that changed, when known."""


Listener = Callable[[Change], None]


class EditingSession:
    def __init__(self, document: Document, *, undo_limit: int = 500) -> None:
        self.document = document
        self.history = UndoHistory(limit=undo_limit)
        self.run: Run | None = None
        self.prompt = ""
        self.region: Region | None = None
        """The generation area the user chose; None: automatic (follows the mask)."""
        self.revision = 0
        """Bumped by every change worth autosaving."""
        self.keep_transparency = False
        """For cut-outs: generated pixels keep the picture's alpha instead of becoming opaque."""
        self.edge_softness = 0
        """The mask's feather in pixels: the result fades into the picture over this band inside
        the mask's edge (0: the pipeline's own narrow seam blend only)."""
        self._pixels_cache: dict[int, tuple[Candidate, tuple[bool, int, int], Any]] = {}
        """``candidate_pixels`` per candidate (preview, thumbnails and Apply ask for the same)."""
        self._listeners: list[Listener] = []

    # -- observing ------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` after every change; returns the function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _notify(self, kind: ChangeKind, box: Box | None = None, *, content: bool = True) -> None:
        if content:
            self.revision += 1
        change = Change(kind, box)
        for listener in list(self._listeners):
            listener(change)

    # -- state ------------------------------------------------------------------------------

    @property
    def modified(self) -> bool:
        return self.document.modified

    @property
    def stale(self) -> bool:
        """The run's candidates were made from a picture that has changed since."""
        return self.run is not None and self.run.image_state != self.document.image_state

    @property
    def pending_candidates(self) -> int:
        """Finished candidates that were neither applied nor discarded."""
        run = self.run
        return len(run.candidates) if run is not None and not run.running else 0

    @property
    def unapplied_work(self) -> str:
        """What would be lost by replacing this session, in words ('' when nothing)."""
        parts = []
        if self.pending_candidates:
            parts.append(f"{self.pending_candidates} candidate(s) that were not applied")
        if self.run is not None and self.run.running:
            parts.append("a generation in progress")
        if self.modified:
            parts.append("unsaved edits")
        return " and ".join(parts)

    @property
    def just_extended(self) -> bool:
        """The last thing done was growing the canvas: the next run fills the new area (outpainting)."""
        index = self.history.index
        return index > 0 and isinstance(self.history.steps[index - 1], ExtendStep)

    def set_prompt(self, prompt: str) -> None:
        if prompt != self.prompt:
            self.prompt = prompt
            self._notify(ChangeKind.PROMPT)

    def set_region(self, region: Region | None) -> None:
        """Choose the square the model sees (None: automatic again)."""
        if region != self.region:
            self.region = region
            self._notify(ChangeKind.REGION, content=False)

    def area(self, *, context: float = 1.0, min_side: int = 64) -> ResolvedRegion | None:
        """The square the next run would use (with what was changed from the chosen one);
        None while the mask is empty or the choice cannot be used."""
        if self.document.mask_box() is None:
            return None
        try:
            return resolve_region(self.document.mask, region=self.region, context=context, min_side=min_side)
        except ValueError:
            return None

    def mark_saved(self) -> None:
        self._notify(ChangeKind.SAVED, content=False)

    # -- mask -------------------------------------------------------------------------------

    def paint(self, box: Box, where: np.ndarray, value: bool) -> None:
        """Part of a stroke in progress (its undo step comes with ``push_mask_patch``)."""
        self.document.paint(box, where, value)
        self._notify(ChangeKind.MASK, box)

    def push_mask_patch(self, patch: MaskPatch, label: str, *, applied: bool = True) -> None:
        """Record a finished stroke (already painted) or apply and record a prepared patch."""
        if not applied:
            self.apply_mask_patch(patch, forward=True)
        self._push(MaskStep(patch, label))

    def fill_mask(self, value: bool) -> bool:
        """Mask everything (True) or clear the mask (False) as one undo step; False if nothing changed."""
        patch = self.document.fill_patch(value)
        if patch is None:
            return False
        self.push_mask_patch(patch, "Select all" if value else "Clear mask", applied=False)
        return True

    def invert_mask(self) -> None:
        self.invert_mask_now()
        self._push(InvertMaskStep())

    def set_mask(self, mask: np.ndarray, label: str) -> bool:
        """Replace the mask (grow, shrink, magic wand, a recorded edit's mask) as one undo step;
        False when nothing would change."""
        doc = self.document
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != doc.mask.shape:
            size = f"{mask.shape[1]}×{mask.shape[0]}"
            raise SessionError(f"The mask is {size}, the picture {doc.width}×{doc.height}.")
        box = changed_box(doc.mask, mask, doc.bounds)
        if box is None:
            return False
        patch = MaskPatch.capture(doc.mask[box.slices], mask[box.slices], box)
        assert patch is not None
        self.push_mask_patch(patch, label, applied=False)
        return True

    def set_edge_softness(self, pixels: int) -> None:
        """The mask's soft edge in pixels (0 to 256), as one undo step."""
        pixels = int(pixels)
        if not 0 <= pixels <= 256:
            raise SessionError(f"A soft edge is 0 to 256 pixels wide, not {pixels}.")
        if pixels != self.edge_softness:
            before = self.edge_softness
            self.set_edge_softness_now(pixels)
            self._push(EdgeSoftnessStep(before, pixels))

    def set_edge_softness_now(self, pixels: int) -> None:
        self.edge_softness = pixels
        self._notify(ChangeKind.RUN)  # the pending candidates are shown with the new edge

    # -- canvas size ----------------------------------------------------------------------------

    def extend_canvas(self, *, left: int = 0, top: int = 0, right: int = 0, bottom: int = 0) -> None:
        """Grow the canvas (one undo step); the new area becomes the mask, ready to be filled.

        Raises ``SessionError`` while a run is going and ``ValueError`` for a bad size."""
        if self.run is not None and self.run.running:
            raise SessionError("Wait for the run to finish (or cancel it) before extending the canvas.")
        extension = self.document.extension(left, top, right, bottom)
        self.resize(extension, forward=True)
        self._push(ExtendStep(extension))

    def resize(self, extension: CanvasExtension, *, forward: bool) -> None:
        if forward:
            self.document.extend(extension)
        else:
            self.document.unextend(extension)
        self.region = None  # the chosen square belonged to the old canvas
        self._notify(ChangeKind.CANVAS)

    # -- sketch -------------------------------------------------------------------------------

    def paint_sketch(
        self, box: Box, where: np.ndarray, colour: tuple[int, int, int], weight: np.ndarray | None = None
    ) -> None:
        """Part of a colour stroke: the colour, and the mask under it (the stroke's undo step comes
        with ``push_sketch_change``). ``weight``: a soft brush's strength per pixel (0..1)."""
        box = box.clipped(self.document.width, self.document.height)
        if box.width <= 0 or box.height <= 0:
            return
        picture = None if weight is None else self.document.rgb[box.slices]
        self.document.sketch_layer().paint(box, where, colour, weight=weight, picture=picture)
        self.document.paint(box, where, True)
        self._notify(ChangeKind.SKETCH, box)
        self._notify(ChangeKind.MASK, box)

    def push_sketch_change(self, sketch: SketchPatch, mask: MaskPatch | None, label: str) -> None:
        """Record a finished colour stroke (already painted)."""
        self._push(SketchStep(sketch, mask, label))

    # -- runs -------------------------------------------------------------------------------

    def check_run(
        self, settings: GenerationSettings, info: BackendInfo | None, *, busy: bool = False
    ) -> RunCheck:
        """Whether a run with ``settings`` on the backend ``info`` describes can start now, and
        what to ask first (``busy``: the caller's models are still running something)."""
        return check_run(
            mask_empty=self.document.mask_box() is None,
            running=busy or (self.run is not None and self.run.running),
            outpaint=self.just_extended,
            pending_candidates=self.pending_candidates,
            stale=self.stale,
            settings=settings,
            info=info,
        )

    def request_for(self, settings: GenerationSettings) -> EditRequest:
        """The request for the current picture, mask and sketch (raises ``RequestError``). Right
        after the canvas grew, the run fills the new area square by square (outpainting)."""
        doc = self.document
        kind = OUTPAINT if self.just_extended else INPAINT
        region = self.region if kind == INPAINT else None
        return settings.request(doc.rgb, doc.mask, sketch=doc.sketch_image(), kind=kind, region=region)

    def run_warnings(self, request: EditRequest, info: BackendInfo | None) -> tuple[str, ...]:
        """What to tell the user about a run that starts anyway (thin strokes, who draws it)."""
        return run_warnings(request.mask, info, outpaint=request.kind == OUTPAINT)

    def start_run(self, request: EditRequest, *, model: str = "") -> Run:
        """A new run for ``request`` (made from this document); replaces any finished one."""
        if self.run is not None and self.run.running:
            raise SessionError("A generation is already running (Esc cancels it).")
        if request.image.shape != self.document.rgb.shape:
            raise SessionError("The request was made for another picture.")
        self.set_run(Run(request=request, image_state=self.document.image_state, model=model))
        return self.run  # type: ignore[return-value]

    def handle(self, event: Event) -> None:
        """Feed one event of the current run (previews change nothing here: the canvas draws them)."""
        run = self.run
        if run is None or isinstance(event, Preview):
            return
        if isinstance(event, Started):
            run.started = event
        elif isinstance(event, Candidate):
            run.candidates.append(event)
        elif isinstance(event, Finished):
            self._end(RunStatus.FINISHED, event.candidates)
            return
        elif isinstance(event, Cancelled):
            self._end(RunStatus.CANCELLED, event.candidates)
            return
        elif isinstance(event, Failed):
            self.fail(event.message)
            return
        self._notify(ChangeKind.RUN, content=isinstance(event, Candidate))

    def fail(self, message: str) -> None:
        if self.run is not None and self.run.running:
            self.run.message = message
            self._end(RunStatus.FAILED, tuple(self.run.candidates))

    def _end(self, status: RunStatus, candidates: tuple[Candidate, ...]) -> None:
        run = self.run
        assert run is not None
        run.status = status
        known = {c.index for c in run.candidates}
        run.candidates.extend(c for c in candidates if c.index not in known)
        run.candidates.sort(key=lambda c: c.index)
        if run.candidates and run.candidate(run.selected) is None:
            run.selected = run.candidates[0].index
        if status is not RunStatus.FINISHED and not run.candidates:
            self.set_run(None)  # nothing to keep; the caller reports why
            return
        self._notify(ChangeKind.RUN)

    def select(self, index: int) -> None:
        if self.run is not None and index != self.run.selected and 0 <= index < self.run.expected:
            self.run.selected = index
            self._notify(ChangeKind.RUN, content=False)

    def discard(self) -> None:
        """Drop the candidates (a running run must be cancelled by its owner first)."""
        if self.run is not None and not self.run.running:
            self.set_run(None)

    def apply(self, index: int | None = None) -> AppliedEdit | None:
        """Commit a candidate as one undo step that also clears the mask; None if it changes no pixel."""
        run = self.run
        if run is None or not run.applicable:
            raise SessionError("There is no finished candidate to apply.")
        if self.stale:
            raise StaleCandidatesError(
                "The picture changed after these candidates were generated (an edit was applied or "
                "undone), so applying one would overwrite that change. Generate again."
            )
        cand = run.candidate(run.selected if index is None else index)
        if cand is None:
            raise SessionError("That candidate has not arrived.")
        pixels, alpha = self.candidate_pixels(cand)
        edit = self.document.make_edit(
            pixels, cand.box, self._parameters(run, cand), record=self._record(run, cand), alpha=alpha
        )
        if edit is None:
            self.set_run(None)
            return None
        self.apply_edit(edit, forward=True)
        sketch = self.document.clear_sketch_patch()
        if sketch is not None:
            self.apply_sketch_patch(sketch, forward=True)
        self.set_run(None)
        self._push(ApplyStep(edit, run, sketch))
        return edit

    def candidate_pixels(self, cand: Candidate) -> tuple[np.ndarray, np.ndarray | None]:
        """What applying ``cand`` puts into its box: RGB, and the new alpha for a picture with one.

        The preview shows exactly this. Generated pixels are laid over the picture
        with the feathered mask as their weight, so they are opaque in the hole even
        where the picture was transparent (unless transparency is kept for cut-outs).
        """
        run = self.run
        doc = self.document
        if run is None or (doc.alpha is None and self.edge_softness <= 0):
            return np.asarray(cand.patch), None
        key = (self.keep_transparency, self.edge_softness, doc.image_state)
        cached = self._pixels_cache.get(id(cand))
        if cached is not None and cached[0] is cand and cached[1] == key:
            return cached[2]
        result = self._blend_candidate(run, cand)
        if len(self._pixels_cache) > 16:
            self._pixels_cache.clear()
        self._pixels_cache[id(cand)] = (cand, key, result)
        return result

    def _blend_candidate(self, run: Run, cand: Candidate) -> tuple[np.ndarray, np.ndarray | None]:
        doc = self.document
        mask = np.asarray(run.request.mask)
        original = np.asarray(run.request.image)[cand.box.slices]
        pixels = np.asarray(cand.patch)
        if self.edge_softness > 0:
            pixels = soften_edge(original, pixels, mask, cand.box, self.edge_softness)
        if doc.alpha is None or self.keep_transparency or doc.alpha.shape != mask.shape:
            return pixels, None
        upsampled = run.started is not None and UPSAMPLE in run.started.stages
        region = run.box if run.box is not None else cand.box
        weight = coverage(mask, cand.box, feather_radius(region, 256 if upsampled else 64))
        if self.edge_softness > 0:
            weight = weight * soft_inside(mask, cand.box, self.edge_softness)
        return paste_over(original, np.asarray(doc.alpha)[cand.box.slices], pixels, weight)

    @staticmethod
    def _parameters(run: Run, cand: Candidate) -> dict[str, str]:
        stages = run.started.stages if run.started is not None else None
        upsampled = "upsample" in stages if stages is not None else None
        detailed = "detail" in stages if stages is not None else None
        described = run.request.describe(upsampled=upsampled, detailed=detailed)
        parameters = {**described, "seed": str(cand.seed), "candidates": "1"}
        if run.model:
            parameters["model"] = run.model
        return parameters

    @staticmethod
    def _record(run: Run, cand: Candidate) -> EditRecord:
        settings = {**request_settings(run.request), "seed": cand.seed, "candidates": 1}
        region = run.box if run.box is not None else cand.box
        sketch = getattr(run.request, "sketch", None)
        return EditRecord.capture(settings, run.request.mask, region, run.model, sketch=sketch)

    def regeneration_request(self, edit: AppliedEdit) -> EditRequest:
        """The request that made ``edit`` (an applied edit), on the picture it was made on.

        Running it gives the edit's pixels again: same picture, mask, settings and seed.
        """
        if edit.record is None:
            raise SessionError("This edit was not recorded with its settings, so it cannot be regenerated.")
        if edit not in self.document.edits:
            raise SessionError("Only applied edits can be regenerated.")
        picture = self.document.picture_before(edit)
        mask = edit.record.mask(picture.shape[1], picture.shape[0])
        sketch = edit.record.sketch_over(picture)
        pictures = {"sketch": sketch} if sketch is not None else {}
        return request_from_settings(edit.record.settings, image=picture, mask=mask, **pictures)

    # -- undo ---------------------------------------------------------------------------------

    def undo(self) -> bool:
        if self.run is not None and self.run.running:
            return False
        done = self.history.undo(self)
        if done:
            self._notify(ChangeKind.HISTORY)
        return done

    def redo(self) -> bool:
        if self.run is not None and self.run.running:
            return False
        done = self.history.redo(self)
        if done:
            self._notify(ChangeKind.HISTORY)
        return done

    def go_to(self, index: int) -> None:
        """Undo or redo until ``index`` steps are applied (the History panel's clicks)."""
        while self.history.index > index and self.undo():
            pass
        while self.history.index < index and self.redo():
            pass

    def applied_edit_steps(self) -> list[tuple[int, ApplyStep]]:
        """(history position after the step, step) for every applied-edit step, oldest first."""
        return [(i + 1, s) for i, s in enumerate(self.history.steps) if isinstance(s, ApplyStep)]

    def _push(self, step: UndoStep) -> None:
        self.history.push(step)
        self._notify(ChangeKind.HISTORY, content=False)

    # -- primitive changes (``undo_steps.StepTarget``: the undo steps call these) ----------------

    def apply_mask_patch(self, patch: MaskPatch, *, forward: bool) -> None:
        self.document.apply_mask_patch(patch, forward=forward)
        self._notify(ChangeKind.MASK, patch.box)

    def apply_sketch_patch(self, patch: SketchPatch, *, forward: bool) -> None:
        self.document.apply_sketch_patch(patch, forward=forward)
        self._notify(ChangeKind.SKETCH, patch.box)

    def invert_mask_now(self) -> None:
        self.document.invert_mask()
        self._notify(ChangeKind.MASK, self.document.bounds)

    def apply_edit(self, edit: AppliedEdit, *, forward: bool) -> None:
        if forward:
            self.document.apply_edit(edit)
        else:
            self.document.revert_edit(edit)
        self._notify(ChangeKind.IMAGE, edit.image.box)
        if edit.mask is not None:
            self._notify(ChangeKind.MASK, edit.mask.box)

    def set_run(self, run: Run | None) -> None:
        self.run = run
        self._notify(ChangeKind.RUN)
