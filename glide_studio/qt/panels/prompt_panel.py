"""The right-hand panel: prompt, Generate/Cancel, progress, and the generation settings.

It only collects settings and reports intent (generate, cancel); the window
turns that into an ``EditRequest``. Invalid entries (a bad step string) are
marked in place and keep Generate disabled, with the reason shown under it.
"""

from __future__ import annotations

import random

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent, QPaintEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QStackedWidget,
    QStyle,
    QStyleOptionComboBox,
    QStylePainter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ...core.generation.presets import (
    CUSTOM_PRESET,
    DEFAULT_PRESET,
    MODEL_PRESET,
    PRESETS,
    RecommendedSampling,
    resolve_sampling,
)
from ...core.generation.request import SAMPLERS, RequestError, StageSettings
from ...core.generation.settings import GenerationSettings
from ..icons import icon
from ..settings import GenerationDefaults
from .detail_box import DetailBox
from .live_box import LiveBox

__all__ = ["CUSTOM", "MODEL", "PromptPanel"]

CUSTOM = CUSTOM_PRESET
"""The preset name when the Advanced fields match no preset (core ``PRESETS`` names the others)."""
MODEL = MODEL_PRESET
"""The loaded model's own recommended sampling (e.g. the demo model's), when it has one."""
MAX_SEED = 2**31 - 1


class _EnterFilter(QObject):
    """Enter in the prompt generates; Shift+Enter still starts a new line."""

    def __init__(self, panel: PromptPanel) -> None:
        super().__init__(panel)
        self._panel = panel

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
            if enter and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self._panel.generateRequested.emit()
                return True
        return False


class PromptPanel(QWidget):
    generateRequested = Signal()
    cancelRequested = Signal()
    settingsChanged = Signal()

    def __init__(self, defaults: GenerationDefaults, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ready, self._reason = False, "Open a photo to start."
        self._running = False
        self._progress_text = ""
        self._model_sampling: RecommendedSampling | None = None
        """The loaded model's own sampling, when it has one."""
        self._upsample_wanted = True
        self._wanted_preset = MODEL
        """The preset the user chose last (kept when a model brings its own sampling)."""
        self._build()
        self.set_values(defaults)
        self._update_state()

    # -- layout -----------------------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 12)
        layout.setSpacing(8)
        layout.addWidget(_caption("Prompt"))
        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("Describe what should appear in the painted region…")
        self.prompt.setFixedHeight(78)
        self.prompt.setTabChangesFocus(True)
        self.prompt.installEventFilter(_EnterFilter(self))
        layout.addWidget(self.prompt)
        layout.addWidget(self._build_buttons())
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(6)
        self.status_label = QLabel()
        self.status_label.setObjectName("hint")
        self.status_label.setWordWrap(True)
        self.status_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        # Two lines reserved: progress and "why Generate is disabled" share it, so nothing jumps
        # for short texts; a longer one (the CLIP hint in a narrow panel) takes more lines, never cut.
        self.status_label.setMinimumHeight(self.status_label.fontMetrics().lineSpacing() * 2 + 4)
        layout.addWidget(self.progress)
        layout.addWidget(self.status_label)
        self.live = LiveBox()
        layout.addWidget(self.live)
        layout.addSpacing(4)
        layout.addWidget(_caption("Settings"))
        layout.addLayout(self._build_form())
        layout.addWidget(self._build_advanced())
        layout.addStretch(1)

    def _build_buttons(self) -> QWidget:
        self.generate_button = QPushButton(icon("generate"), "  Generate")
        self.generate_button.setObjectName("primary")
        self.generate_button.setToolTip(
            "Generate candidates for the painted region (Enter in the prompt, Ctrl+Enter)"
        )
        self.generate_button.clicked.connect(self.generateRequested)
        self.cancel_button = QPushButton(icon("cancel"), "  Cancel")
        self.cancel_button.setObjectName("danger")
        self.cancel_button.setToolTip("Stop after the current step (Esc)")
        self.cancel_button.clicked.connect(self.cancelRequested)
        for button in (self.generate_button, self.cancel_button):
            button.setMinimumHeight(36)
        self._buttons = QStackedWidget()
        self._buttons.addWidget(self.generate_button)
        self._buttons.addWidget(self.cancel_button)
        self._buttons.setFixedHeight(38)
        return self._buttons

    def _build_form(self) -> QFormLayout:
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        form.setHorizontalSpacing(10)
        form.setVerticalSpacing(8)
        self.guidance = QDoubleSpinBox(decimals=1, minimum=0.0, maximum=20.0, singleStep=0.5)
        self.guidance.setToolTip(
            "How strongly the result follows the prompt (classifier-free guidance; 3–7 is typical)"
        )
        self.guidance_slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=200)
        self.guidance_slider.valueChanged.connect(lambda v: self.guidance.setValue(v / 10))
        self.guidance.valueChanged.connect(lambda v: self.guidance_slider.setValue(round(v * 10)))
        form.addRow("Guidance", _row(self.guidance_slider, self.guidance))
        self.guide = _ElidingCombo()
        self.guide.addItem("Prompt (classifier-free)", "cfg")
        self.guide.addItem("Noised CLIP", "clip")
        _narrow_combo(
            self.guide,
            "What steers the result towards the prompt. Classifier-free guidance is GLIDE's default; noised "
            "CLIP guidance is the paper's alternative (needs the CLIP files and the ancestral sampler)",
        )
        self.clip_scale = QDoubleSpinBox(decimals=1, minimum=0.5, maximum=100.0, singleStep=0.5, value=3.0)
        self.clip_scale.setToolTip("CLIP guidance scale (the released notebook uses 3)")
        self.clip_row = _row(self.guide, self.clip_scale, stretch_first=True)
        form.addRow("Guided by", self.clip_row)
        self.guide.currentIndexChanged.connect(lambda _i: self._guide_changed())
        self.preset = _ElidingCombo()
        for preset in PRESETS.values():
            self.preset.addItem(preset.label, preset.name)
            self.preset.setItemData(self.preset.count() - 1, preset.description, Qt.ItemDataRole.ToolTipRole)
        self.preset.addItem("Custom", CUSTOM)
        _narrow_combo(
            self.preset, "Sampling steps: fewer is faster, more is cleaner. Custom uses the Advanced fields."
        )
        self.preset.currentIndexChanged.connect(lambda _i: self._preset_changed())
        form.addRow("Quality", self.preset)
        self.candidates = QSpinBox(minimum=1, maximum=8)
        self.candidates.setToolTip("How many variations to generate at once (each with its own seed)")
        form.addRow("Candidates", self.candidates)
        form.addRow("Seed", self._build_seed())
        self.strength = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100)
        self.strength.setValue(75)
        self.strength_label = QLabel("0.75")
        self.strength.setToolTip(
            "How far the result may depart from the colour sketch: 0 keeps it, 1 ignores it"
        )
        self.strength.valueChanged.connect(lambda v: self.strength_label.setText(f"{v / 100:.2f}"))
        self.strength_row = _row(self.strength, self.strength_label)
        form.addRow("Sketch strength", self.strength_row)
        self._strength_form = form
        self.upsample = QCheckBox("Upsample to 256 px")
        self.upsample.setToolTip("Run the second GLIDE stage: sharper detail, several times slower")
        form.addRow("", self.upsample)
        self.area = DetailBox(self)
        form.addRow("Context", self.area.context)
        form.addRow("Detail", self.area.detail)
        form.addRow("", self.area.estimate)
        form.setRowVisible(self.area.estimate, False)
        self.area.changed.connect(self._steps_edited_area)
        for widget in (self.guidance, self.candidates, self.seed):
            widget.valueChanged.connect(self.settingsChanged)
        self.upsample.toggled.connect(self.settingsChanged)
        return form

    def _build_seed(self) -> QWidget:
        self.seed = QSpinBox(minimum=0, maximum=MAX_SEED)
        self.seed.setToolTip("The seed of the first candidate; the others use the next seeds")
        self.dice = QToolButton(icon=icon("dice"))
        self.dice.setToolTip("Pick a random seed now")
        self.dice.clicked.connect(self.randomize_seed)
        self.lock = QToolButton(checkable=True)
        self.lock.setToolTip("Locked: keep this seed for every run. Unlocked: a new random seed each run")
        self.lock.toggled.connect(self._lock_toggled)
        self._lock_toggled(False)
        return _row(self.seed, self.dice, self.lock, stretch_first=True)

    def _build_advanced(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        self.advanced_toggle = QToolButton(text="Advanced", checkable=True)
        self.advanced_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_toggle.setAutoRaise(True)
        layout.addWidget(self.advanced_toggle)
        self._advanced = QWidget()
        form = QFormLayout(self._advanced)
        form.setContentsMargins(0, 0, 0, 0)
        self.sampler = QComboBox()
        self.sampler.addItems(list(SAMPLERS))
        self.sampler.setToolTip(
            "Sampler of the base stage (GLIDE's release used ancestral; dpm++2m needs fewer steps)"
        )
        self.upsample_sampler = QComboBox()
        self.upsample_sampler.addItems(list(SAMPLERS))
        self.upsample_sampler.setToolTip(
            "Sampler of the upsampler (with its linear schedule ddim gets closest to the exact solution)"
        )
        for combo in (self.sampler, self.upsample_sampler):
            combo.activated.connect(self._steps_edited)
        self.base_steps = QLineEdit()
        self.upsample_steps = QLineEdit()
        for edit, what in ((self.base_steps, "base"), (self.upsample_steps, "upsample")):
            edit.setToolTip(
                f"Steps of the {what} stage: a count (50), ddim25, quad25, fast27 or sections (30,10)"
            )
            edit.textEdited.connect(self._steps_edited)
        form.addRow("Base sampler", self.sampler)
        form.addRow("Base steps", self.base_steps)
        form.addRow("Upsample sampler", self.upsample_sampler)
        form.addRow("Upsample steps", self.upsample_steps)
        form.addRow("Detail steps", self.area.steps)
        layout.addWidget(self._advanced)
        self._advanced.setVisible(False)

        def toggle(on: bool) -> None:
            self._advanced.setVisible(on)
            self.advanced_toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)

        self.advanced_toggle.toggled.connect(toggle)
        return box

    # -- values -------------------------------------------------------------------------------

    def set_values(self, values: GenerationDefaults) -> None:
        self.guidance.setValue(values.guidance)
        self.candidates.setValue(values.candidates)
        self.seed.setValue(min(max(values.seed, 0), MAX_SEED))
        self.lock.setChecked(values.seed_locked)
        self.upsample.setChecked(values.upsample)
        self.sampler.setCurrentText(values.sampler if values.sampler in SAMPLERS else "ancestral")
        self.base_steps.setText(values.base_steps)
        self.upsample_sampler.setCurrentText(
            values.upsample_sampler if values.upsample_sampler in SAMPLERS else "ancestral"
        )
        self.upsample_steps.setText(values.upsample_steps)
        self._wanted_preset = values.preset
        usable = (*PRESETS, CUSTOM) + ((MODEL,) if self.preset.findData(MODEL) >= 0 else ())
        self.select_preset(values.preset if values.preset in usable else DEFAULT_PRESET)
        self._wanted_preset = values.preset
        if values.preset == CUSTOM:  # the Advanced fields as they were, not the preset's
            self.base_steps.setText(values.base_steps)
            self.upsample_steps.setText(values.upsample_steps)
        self.guide.setCurrentIndex(1 if values.clip else 0)
        self.clip_scale.setValue(values.clip_scale)
        self.area.set_values(context=values.context, detail=values.detail, steps=values.detail_steps)
        self._guide_changed()

    def values(self) -> GenerationDefaults:
        return GenerationDefaults(
            guidance=self.guidance.value(),
            preset=self.preset_name,
            base_steps=self.base_steps.text().strip(),
            upsample_steps=self.upsample_steps.text().strip(),
            sampler=self.sampler.currentText(),
            upsample_sampler=self.upsample_sampler.currentText(),
            candidates=self.candidates.value(),
            upsample=self.upsample.isChecked(),
            seed=self.seed.value(),
            seed_locked=self.lock.isChecked(),
            clip=self.clip_selected,
            clip_scale=self.clip_scale.value(),
            context=self.area.context.value(),
            detail=self.area.detail_choice,
            detail_steps=self.area.steps.text().strip(),
        )

    def set_steps(self, base: str, upsample: str) -> None:
        """Switch to Custom with these step settings."""
        self.select_preset(CUSTOM)
        self.base_steps.setText(base)
        self.upsample_steps.setText(upsample)
        self._steps_edited()

    def apply_recommended(self, sampling: RecommendedSampling, *, label: str = "Model's own") -> None:
        """Offer a model's own sampling (the demo model brings one) as a named choice, and select it."""
        self._model_sampling = sampling
        index = self.preset.findData(MODEL)
        text = sampling.label(label)
        if index < 0:
            self.preset.blockSignals(True)  # the choice shown stays the same: no change of preset
            self.preset.insertItem(0, text, MODEL)
            self.preset.blockSignals(False)
            index = 0
        self.preset.setItemText(index, text)
        _show_whole_text(self.preset)
        base = sampling.base
        tip = f"The sampling this model was measured best with: {base.sampler}, {base.steps} steps"
        if sampling.upsample is not None:
            tip += f", then {sampling.upsample.sampler}, {sampling.upsample.steps} upsampler steps"
        self.preset.setItemData(index, tip, Qt.ItemDataRole.ToolTipRole)
        if self._wanted_preset != MODEL:
            return  # the user chose another preset: it stays chosen
        if sampling.guidance_scale is not None:
            self.guidance.setValue(sampling.guidance_scale)
        self.select_preset(MODEL)

    def set_upsampler_available(self, resolution: int | None) -> None:
        """The box names the upsampler's size; without one it is unticked and greyed (what
        really runs), and the user's choice comes back when one is loaded."""
        available = resolution is not None
        if available:
            self.upsample.setText(f"Upsample to {resolution} px")
        if available == self.upsample.isEnabled():
            return
        if available:
            self.upsample.setEnabled(True)
            self.upsample.setChecked(self._upsample_wanted)
        else:
            self._upsample_wanted = self.upsample.isChecked()
            self.upsample.setChecked(False)
            self.upsample.setEnabled(False)

    def settings(self) -> GenerationSettings:
        """What the next run asks for (with the seed shown now); raises ``RequestError`` for bad
        steps. The sampling follows ``resolve_sampling`` from the preset and the Advanced fields."""
        v = self.values()
        custom = self.preset_name == CUSTOM
        sampling = resolve_sampling(
            preset=self.preset_name if self.preset_name in (*PRESETS, MODEL, CUSTOM) else None,
            recommended=self._model_sampling,
            sampler=v.sampler if custom else None,
            steps=v.base_steps if custom else None,
            upsample_sampler=v.upsample_sampler if custom else None,
            upsample_steps=v.upsample_steps if custom else None,
        )
        return GenerationSettings(
            prompt=self.prompt.toPlainText().strip(),
            base=sampling.base,
            upsample=sampling.upsample,
            guidance_scale=v.guidance,
            clip_guidance=v.clip_scale if v.clip else 0.0,
            strength=self.strength.value() / 100,
            use_upsampler=v.upsample,
            candidates=v.candidates,
            seed=v.seed,
            context=v.context,
            detail=v.detail,
            detail_steps=v.detail_steps,
        )

    def next_seed(self) -> int:
        """The seed for a new run: the shown one if locked, else a fresh random one (then shown)."""
        if not self.lock.isChecked():
            self.randomize_seed()
        return self.seed.value()

    def randomize_seed(self) -> None:
        self.seed.setValue(random.randrange(MAX_SEED))

    # -- state ---------------------------------------------------------------------------------

    def set_ready(self, ready: bool, reason: str = "") -> None:
        """Whether Generate may run, and if not, the one-line reason shown under it."""
        self._ready, self._reason = ready, reason
        self._update_state()

    def set_running(self, running: bool) -> None:
        self._running = running
        self._update_state()

    def show_progress(self, fraction: float, text: str) -> None:
        self.progress.setValue(round(1000 * max(0.0, min(1.0, fraction))))
        self._progress_text = text.strip()
        self._update_state()

    def _update_state(self) -> None:
        steps_error = self._steps_error()
        ready = self._ready and steps_error is None
        self._buttons.setCurrentWidget(self.cancel_button if self._running else self.generate_button)
        self.generate_button.setEnabled(ready)
        reason = steps_error or ("" if self._ready else self._reason)
        self.status_label.setText(self._progress_text if self._running or not reason else reason)

    def set_sketching(self, sketching: bool) -> None:
        """The strength control matters only while colours are painted."""
        self._strength_form.setRowVisible(self.strength_row, sketching)

    @property
    def clip_selected(self) -> bool:
        return self.guide.currentData() == "clip"

    def _guide_changed(self) -> None:
        self.clip_scale.setVisible(self.clip_selected)
        self._update_state()
        self.settingsChanged.emit()

    def _steps_error(self) -> str | None:
        if self.clip_selected and self.sampler.currentText() != "ancestral":
            return (
                "CLIP guidance steers each ancestral step: choose the Release preset, "
                "or the ancestral sampler under Advanced."
            )
        for edit in (self.base_steps, self.upsample_steps, self.area.steps):
            try:
                StageSettings(steps=edit.text() or "?")
            except RequestError:
                _mark(edit, True)
                return _steps_in_words(edit.text())
            _mark(edit, False)
        return None

    @property
    def model_sampling(self) -> RecommendedSampling | None:
        """The loaded model's own sampling, when it has one."""
        return self._model_sampling

    @property
    def preset_name(self) -> str:
        return str(self.preset.currentData())

    def select_preset(self, name: str) -> None:
        self._wanted_preset = name
        index = self.preset.findData(name)
        if index >= 0:
            self.preset.setCurrentIndex(index)
            self._preset_changed()

    def _preset_changed(self) -> None:
        self._wanted_preset = self.preset_name
        if self.preset_name != CUSTOM:
            sampling = resolve_sampling(preset=self.preset_name, recommended=self._model_sampling)
            self._show_sampling(
                sampling.base.sampler, sampling.base.steps, sampling.upsample.sampler, sampling.upsample.steps
            )
        self._update_state()
        self.settingsChanged.emit()

    def _show_sampling(self, sampler: str, steps: str, upsample_sampler: str, upsample_steps: str) -> None:
        self.sampler.setCurrentText(sampler)
        self.base_steps.setText(steps)
        self.upsample_sampler.setCurrentText(upsample_sampler)
        self.upsample_steps.setText(upsample_steps)

    def _steps_edited(self, *_: object) -> None:
        """An Advanced field changed by hand: that is a custom setting unless it matches the preset."""
        current = (
            self.sampler.currentText(),
            self.base_steps.text().strip(),
            self.upsample_sampler.currentText(),
            self.upsample_steps.text().strip(),
        )
        differs = False
        if self.preset_name != CUSTOM:
            try:
                chosen = resolve_sampling(preset=self.preset_name, recommended=self._model_sampling)
            except RequestError:
                differs = True
            else:
                differs = current != (
                    chosen.base.sampler,
                    chosen.base.steps,
                    chosen.upsample.sampler,
                    chosen.upsample.steps,
                )
        if differs:
            self.preset.blockSignals(True)
            self.preset.setCurrentIndex(self.preset.findData(CUSTOM))
            self.preset.blockSignals(False)
            self._wanted_preset = CUSTOM
        self._update_state()
        self.settingsChanged.emit()

    def _steps_edited_area(self) -> None:
        """Context, Detail or the detail steps changed (the sampling preset stays as it is)."""
        self._update_state()
        self.settingsChanged.emit()

    def show_detail_estimate(self, text: str) -> None:
        """The detail pass's time before Generate ("" hides the line)."""
        self.area.estimate.setText(text)
        self._strength_form.setRowVisible(self.area.estimate, bool(text))

    def _lock_toggled(self, locked: bool) -> None:
        self.lock.setIcon(icon("lock" if locked else "unlock"))
        self.settingsChanged.emit()


def _steps_in_words(text: str) -> str:
    """Why a step setting cannot be used, in a user's words (the field is marked red)."""
    shown = text.strip() or "nothing"
    return (
        f"Steps: “{shown}” cannot be used. Type a number from 1 to 1000 (e.g. 50), "
        "ddim50, fast27, or steps per section such as 10,10,10."
    )


class _ElidingCombo(QComboBox):
    """A combo box whose shown item ends in "…" when the box is too narrow for it."""

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QStylePainter(self)
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, option)
        field = self.style().subControlRect(
            QStyle.ComplexControl.CC_ComboBox, option, QStyle.SubControl.SC_ComboBoxEditField, self
        )
        option.currentText = self.fontMetrics().elidedText(
            option.currentText, Qt.TextElideMode.ElideRight, max(field.width() - 4, 0)
        )
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, option)


def _narrow_combo(combo: QComboBox, tip: str) -> None:
    """A combo box that fits a narrow panel (a long item such as "Demo model · 50 + fast27 steps" is
    cut short in the box) and names its whole current item in the tooltip, before ``tip``."""
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(8)
    combo.setProperty("tip", tip)
    combo.currentIndexChanged.connect(lambda _i: _show_whole_text(combo))
    _show_whole_text(combo)


def _show_whole_text(combo: QComboBox) -> None:
    text, tip = combo.currentText(), str(combo.property("tip") or "")
    combo.setToolTip(f"{text}\n\n{tip}" if text else tip)


def _caption(text: str) -> QLabel:
    label = QLabel(text.upper())
    label.setObjectName("caption")
    return label


def _row(*widgets: QWidget, stretch_first: bool = False) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(6)
    for k, widget in enumerate(widgets):
        layout.addWidget(
            widget, 1 if (k == 0 and stretch_first) or (k == 0 and isinstance(widget, QSlider)) else 0
        )
    return row


def _mark(edit: QLineEdit, invalid: bool) -> None:
    if edit.property("invalid") != invalid:
        edit.setProperty("invalid", invalid)
        edit.style().unpolish(edit)
        edit.style().polish(edit)
