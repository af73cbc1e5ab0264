"""The prompt panel's controls from a recorded request's settings (projects, autosaves, History).

A pending run restored from a project or an autosave, and "Use these settings"
on a History entry or on an edit read from a PNG, all come as the settings
codec's plain data (``request_settings``): so that whatever field the request
gains later travels along, this reads the fields it knows by name and leaves
the rest of the panel as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

from ..core.editing.patches import EditRecord
from ..core.editing.session import EditingSession, SessionError
from ..core.generation.presets import CUSTOM_PRESET, MODEL_PRESET, PRESETS, RecommendedSampling
from ..core.generation.settings_codec import request_settings
from ..core.imaging.region import Region
from .convert import rgb_to_qimage, rgba_to_qimage
from .panels.prompt_panel import PromptPanel
from .session_model import SessionModel
from .settings import GenerationDefaults

__all__ = ["ReuseController", "panel_values"]


def _stage(value: Any) -> tuple[str, str] | None:
    if isinstance(value, Mapping) and "sampler" in value and "steps" in value:
        return str(value["sampler"]), str(value["steps"])
    return None


def _preset_for(base: tuple[str, str], upsample: tuple[str, str], model: RecommendedSampling | None) -> str:
    """The preset whose sampling this is (the model's own first), else Custom."""
    if model is not None:
        same_base = (model.base.sampler, model.base.steps) == base
        up = model.upsample
        if same_base and (up is None or (up.sampler, up.steps) == upsample):
            return MODEL_PRESET
    for preset in PRESETS.values():
        if (preset.base.sampler, preset.base.steps) == base and (
            preset.upsample.sampler,
            preset.upsample.steps,
        ) == upsample:
            return str(preset.name)
    return CUSTOM_PRESET


def panel_values(
    settings: Mapping[str, Any],
    current: GenerationDefaults,
    *,
    model_sampling: RecommendedSampling | None = None,
) -> GenerationDefaults:
    """``current`` with every control that ``settings`` (a recorded request) decides set from it.

    The seed comes back locked, so the next run makes the same picture again.
    """
    values = current
    for f in fields(GenerationDefaults):  # controls named as the request's fields come along as they are
        value = settings.get(f.name)
        default = getattr(current, f.name)
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if f.name != "seed" and value is not None and type(value) is type(default):
            values = replace(values, **{f.name: value})
    base = _stage(settings.get("base")) or (values.sampler, values.base_steps)
    upsample = _stage(settings.get("upsample")) or (values.upsample_sampler, values.upsample_steps)
    values = replace(
        values,
        sampler=base[0],
        base_steps=base[1],
        upsample_sampler=upsample[0],
        upsample_steps=upsample[1],
        preset=_preset_for(base, upsample, model_sampling),
    )
    if isinstance(settings.get("guidance_scale"), int | float):
        values = replace(values, guidance=float(settings["guidance_scale"]))
    if isinstance(settings.get("use_upsampler"), bool):
        values = replace(values, upsample=settings["use_upsampler"])
    if isinstance(settings.get("candidates"), int) and settings["candidates"] > 0:
        values = replace(values, candidates=int(settings["candidates"]))
    if isinstance(settings.get("seed"), int) and not isinstance(settings.get("seed"), bool):
        values = replace(values, seed=int(settings["seed"]), seed_locked=True)
    clip = settings.get("clip_guidance")
    if isinstance(clip, int | float):
        values = replace(values, clip=clip > 0, clip_scale=float(clip) if clip > 0 else values.clip_scale)
    return values


class ReuseController(QObject):
    """ "Use these settings" (History entries, edits read from a PNG), the settings of a restored
    pending run, and copying a result to the clipboard."""

    message = Signal(str)

    def __init__(self, *, model: SessionModel, panel: PromptPanel, parent: QWidget) -> None:
        super().__init__(parent)
        self._model, self._panel, self._parent = model, panel, parent
        model.sessionReplaced.connect(self.restore_run_settings)

    def restore_run_settings(self) -> None:
        """A project or autosave with pending candidates: the panel shows the run that made them."""
        session = self._model.session
        run = session.run if session is not None else None
        if run is None or not run.candidates:
            return
        settings = request_settings(run.request)
        self._panel.set_values(
            panel_values(settings, self._panel.values(), model_sampling=self._panel.model_sampling)
        )
        _restore_region(session, settings)

    def use_settings(self, record: EditRecord | None, parameters: Mapping[str, str]) -> bool:
        """Prompt, seed, settings and mask of a recorded edit, ready to generate again."""
        session = self._model.session
        if session is None:
            return False
        prompt = parameters.get("prompt", "")
        if prompt:
            self._panel.prompt.setPlainText(prompt)
        if record is None:
            self.message.emit("This edit recorded only its prompt and description; the prompt is set.")
            return bool(prompt)
        chosen = {k: v for k, v in record.settings.items() if k != "candidates"}  # one per record
        self._panel.set_values(
            panel_values(chosen, self._panel.values(), model_sampling=self._panel.model_sampling)
        )
        _restore_region(session, record.settings)
        doc = session.document
        note = ""
        if record.mask_box.clipped(doc.width, doc.height) == record.mask_box:
            try:
                session.set_mask(record.mask(doc.width, doc.height), "Mask of a recorded edit")
            except SessionError as exc:
                note = f" ({exc})"
        else:
            note = " (its mask does not fit this picture, so the mask is unchanged)"
        self.message.emit(
            f"Settings of “{prompt or '(no prompt)'}” (seed {record.settings.get('seed')}){note}"
        )
        return True

    def copy(self) -> bool:
        """The selected candidate as it would be applied, or else the picture, to the clipboard."""
        session = self._model.session
        if session is None:
            return False
        doc = session.document
        rgb, alpha = np.array(doc.rgb), None if doc.alpha is None else np.array(doc.alpha)
        run = session.run
        cand = run.selected_candidate if run is not None and not run.running and not session.stale else None
        what = "the picture"
        if cand is not None:
            pixels, new_alpha = session.candidate_pixels(cand)
            rgb[cand.box.slices] = pixels
            if alpha is not None and new_alpha is not None:
                alpha[cand.box.slices] = new_alpha
            what = f"candidate {cand.index + 1}"
        image = rgb_to_qimage(rgb) if alpha is None else rgba_to_qimage(np.dstack([rgb, alpha]))
        QGuiApplication.clipboard().setImage(image)
        self.message.emit(f"Copied {what} ({doc.width}×{doc.height}) to the clipboard.")
        return True


def _restore_region(session: EditingSession, settings: Mapping[str, Any]) -> None:
    """The generation area the recorded run used (automatic when it had none, or a bad one)."""
    value = settings.get("region")
    region = None
    if isinstance(value, Mapping):
        try:
            region = Region(left=value.get("left"), top=value.get("top"), size=value.get("size"))
        except (TypeError, ValueError):
            region = None
    session.set_region(region)
