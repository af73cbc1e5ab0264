"""The generation area as the window shows it: the square's options, its messages, and the
detail pass's time before Generate.

The canvas draws the square the next run would use; it needs the panel's Context and
Detail and the loaded models' sizes, which this controller hands it whenever one of them
changes. The panel shows how long the detail pass would take: its tiles (the mask cut to
the square, planned as the pipeline plans them) × the steps per tile × the seconds an
upsampler step took on this machine (measured in the last runs, else in the models'
warm-up).
"""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QWidget

from ..core.generation.backend import UPSAMPLE, BackendInfo
from ..core.generation.events import Cancelled, Finished, Preview
from ..core.generation.progress import format_clock
from ..core.generation.request import RequestError
from ..core.generation.respacing import ScheduleError, space_timesteps
from ..core.imaging.region import Box
from ..core.imaging.tiles import AUTO_ENLARGEMENT, detail_runs, detail_tile_count
from .canvas import CanvasView
from .panels.prompt_panel import PromptPanel
from .region_drag import AreaOptions
from .session_model import SessionModel
from .status import StatusBar
from .worker import BackendService

__all__ = ["DETAIL", "RegionController", "StepTimes", "detail_estimate"]

DETAIL = "detail"
_TIMED = (UPSAMPLE, DETAIL)


class StepTimes:
    """Seconds per upsampler step on this machine: from the detail stage's or the upsampler's
    own steps in runs (the first step of each stage left out: it carries one-off work), else
    from the models' warm-up before the first run."""

    def __init__(self) -> None:
        self._measured: dict[str, float] = {}
        self._warm_up: float | None = None
        self._last: dict[str, tuple[int, float]] = {}
        self._sums: dict[str, tuple[float, int]] = {}

    def warm_up(self, step_seconds: dict[str, float]) -> None:
        seconds = step_seconds.get(UPSAMPLE)
        if seconds:
            self._warm_up = float(seconds)

    def preview(self, stage: str, step: int, now: float) -> None:
        """A step of ``stage`` ended at ``now``."""
        if stage not in _TIMED:
            return
        last = self._last.get(stage)
        self._last[stage] = (step, now)
        if last is None or step != last[0] + 1:
            return  # a new stage (or tile) began: its first step is not timed
        total, count = self._sums.get(stage, (0.0, 0))
        total, count = total + (now - last[1]), count + 1
        self._sums[stage] = (total, count)
        self._measured[stage] = total / count

    def begin_run(self) -> None:
        """A new run: the measurements of the last one are kept, the step chain starts anew."""
        self._last.clear()
        self._sums.clear()

    def seconds(self) -> float | None:
        for stage in _TIMED[::-1]:
            if stage in self._measured:
                return self._measured[stage]
        return self._warm_up


def square_mask(mask: np.ndarray, box: Box) -> np.ndarray:
    """The mask cut to ``box`` (S, S) bool, False where the box overhangs the picture."""
    height, width = mask.shape
    out = np.zeros((box.height, box.width), dtype=bool)
    inner = box.clipped(width, height)
    if inner.width > 0 and inner.height > 0:
        rows = slice(inner.top - box.top, inner.bottom - box.top)
        cols = slice(inner.left - box.left, inner.right - box.left)
        out[rows, cols] = mask[inner.slices]
    return out


def detail_estimate(*, tiles: int, steps: int, seconds: float | None, runs: bool) -> str:
    """The panel's line: "Detail: about 2:10 (36 tiles)" when the pass will run, the time it
    would take when it is only offered, and the tile count while no step was timed yet."""
    plural = "tile" if tiles == 1 else "tiles"
    if seconds is None:
        when = "" if runs else " if turned on"
        return f"Detail{when}: {tiles} {plural} × {steps} steps (time known after the first run)"
    clock = format_clock(tiles * steps * seconds)
    if runs:
        return f"Detail: about {clock} ({tiles} {plural})"
    return f"Detail On would take about {clock} ({tiles} {plural})"


class RegionController(QObject):
    def __init__(
        self,
        *,
        service: BackendService,
        model: SessionModel,
        canvas: CanvasView,
        panel: PromptPanel,
        status: StatusBar,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self._service, self._model, self._canvas, self._panel = service, model, canvas, panel
        self.step_times = StepTimes()
        self._timer = QTimer(self, singleShot=True, interval=150)
        self._timer.timeout.connect(self.update_estimate)
        canvas.regionMessage.connect(lambda text: status.showMessage(text, 8000))
        panel.settingsChanged.connect(self.update_options)
        panel.upsample.toggled.connect(lambda _on: self.update_options())
        service.backendReady.connect(lambda _info: self.update_options())
        service.prepared.connect(self._on_prepared)
        service.event.connect(self._on_event)
        for signal in (model.sessionReplaced, model.regionChanged, model.canvasResized):
            signal.connect(self._timer.start)
        model.maskChanged.connect(lambda _box: self._timer.start())
        self.update_options()

    @property
    def info(self) -> BackendInfo | None:
        return self._service.info

    def update_options(self) -> None:
        """Hand the canvas what it needs to draw the square as the next run will use it."""
        info, area = self.info, self._panel.area
        self._canvas.set_area_options(
            AreaOptions(
                context=area.context.value(),
                min_side=64,  # what the run uses (EditRequest.area)
                detail=area.detail_choice,
                auto_detail=bool(info and info.auto_detail),
            )
        )
        self._timer.start()

    def _on_prepared(self, step_seconds: dict[str, float]) -> None:
        self.step_times.warm_up(step_seconds)
        self._timer.start()

    def _on_event(self, event: object) -> None:
        if isinstance(event, Preview):
            if event.stage == "base" and event.step == 1:
                self.step_times.begin_run()
            self.step_times.preview(event.stage, event.step, time.monotonic())
        elif isinstance(event, (Finished, Cancelled)):
            self._timer.start()

    def estimate(self) -> str:
        """The detail pass's line for the panel ("" when no pass would run or be offered)."""
        session, info, box = self._model.session, self.info, self._canvas.area_box
        if session is None or info is None or box is None or info.upsample_resolution is None:
            return ""
        try:
            settings = self._panel.settings()
            steps = len(space_timesteps(1000, settings.detail_steps))
        except (RequestError, ScheduleError, ValueError):
            return ""
        factor = box.width / info.output_resolution(use_upsampler=settings.use_upsampler)
        runs = detail_runs(settings.detail, factor, auto=info.auto_detail)
        if not runs and (factor <= AUTO_ENLARGEMENT or settings.detail == "off"):
            return ""
        tiles = detail_tile_count(square_mask(session.document.mask, box), info.upsample_resolution)
        if tiles == 0:
            return ""
        return detail_estimate(tiles=tiles, steps=steps, seconds=self.step_times.seconds(), runs=runs)

    def update_estimate(self) -> None:
        self._panel.show_detail_estimate(self.estimate())
