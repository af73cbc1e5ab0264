"""Live mode's rules, without widgets: when an update starts, which one is current, how long they take.

In live mode the edit follows the brush: every change of the mask, the sketch or
the prompt schedules an update a short moment (``LiveOptions.debounce_s``) after
the last one, a newer change cancels the update still running, and only the
update made from the newest change counts as current. The update runs the live
preset (few steps, one candidate, the current seed) so that it keeps up; Apply
either takes its result or first renders the chosen preset with the same seed
and region. The window only wires this to timers, the model thread and the
panel (``glide_studio.qt.live``); the figures it shows come from here.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, fields, replace

from .presets import Preset
from .request import EditRequest, StageSettings
from .settings import GenerationSettings

__all__ = [
    "APPLY_CHOICES",
    "APPLY_LIVE",
    "APPLY_RENDER",
    "LIVE_PRESET",
    "LiveOptions",
    "LiveScheduler",
    "live_blocked",
    "live_settings",
    "render_request",
    "slow_warning",
]

LIVE_PRESET = Preset(
    name="live",
    label="Live",
    base=StageSettings(sampler="dpm++2m", steps="10"),
    upsample=StageSettings(sampler="ddim", steps="4"),
    description="DPM-Solver++(2M) 10 steps, then DDIM 4 upsampler steps, one candidate: a quick look.",
)
"""Few steps of both stages: the whole picture's layout in a fraction of Balanced's time."""

APPLY_LIVE, APPLY_RENDER = "live", "render"
APPLY_CHOICES = (APPLY_LIVE, APPLY_RENDER)
"""Apply takes the live result as it is, or first renders the chosen preset with its seed and region."""


@dataclass(frozen=True, kw_only=True)
class LiveOptions:
    """How live mode behaves (off unless the user turns it on)."""

    enabled: bool = False
    apply: str = APPLY_LIVE
    debounce_s: float = 0.25
    """Quiet time after the last change before an update starts (a stroke's end)."""
    warn_s: float = 2.0
    """Above this many seconds per update the panel suggests a lighter setting."""

    def __post_init__(self) -> None:
        if self.apply not in APPLY_CHOICES:
            raise ValueError(f"apply must be one of {', '.join(APPLY_CHOICES)}, got {self.apply!r}")
        if self.debounce_s < 0 or self.warn_s <= 0:
            raise ValueError("the debounce must be at least 0 s and the warning above 0 s")


def live_settings(settings: GenerationSettings, *, preset: Preset = LIVE_PRESET) -> GenerationSettings:
    """The settings of a live update: the live preset's steps, one candidate, the same seed,
    prompt, guidance and upsampler choice; no detail pass (it would multiply the time)."""
    changes: dict[str, object] = {"base": preset.base, "upsample": preset.upsample, "candidates": 1}
    if "detail" in {f.name for f in fields(settings)}:
        changes["detail"] = "off"
    return replace(settings, **changes)


def render_request(live: EditRequest, chosen: GenerationSettings) -> EditRequest:
    """What Apply renders first when the user asked for the chosen preset: the live update's
    picture, mask, region, prompt and seed with the chosen sampling (one candidate)."""
    changes: dict[str, object] = {
        "base": chosen.base,
        "upsample": chosen.upsample,
        "use_upsampler": chosen.use_upsampler,
        "candidates": 1,
    }
    if "detail" in {f.name for f in fields(chosen)} and "detail" in {f.name for f in fields(live)}:
        changes["detail"] = chosen.detail
    return live.with_changes(**changes)


def live_blocked(
    *, enabled: bool, ready: bool, mask_empty: bool, other_run: bool, pending_candidates: int
) -> str:
    """Why a live update cannot start now ('' when it can), in the user's words.

    ``other_run``: a run the user started (not a live update) is going; ``pending_candidates``:
    candidates of such a run that were neither applied nor discarded (a live update would replace
    them, so it waits)."""
    if not enabled:
        return ""
    if not ready:
        return "Live: waiting for the models to load."
    if other_run:
        return "Live: paused while Generate runs."
    if pending_candidates:
        return "Live: paused; apply or discard the candidates to go on."
    if mask_empty:
        return "Live: paint the region to change and the result follows."
    return ""


def slow_warning(seconds: float, *, limit: float) -> str:
    """The panel's warning when updates are too slow to follow the brush ('' otherwise)."""
    if seconds <= limit:
        return ""
    return f"Live updates take {seconds:.1f} s here: untick Upsample, or turn live mode off and use Generate."


class LiveScheduler:
    """Which update should run, which may be shown, and how long updates take.

    Every change bumps ``revision``; an update is made from one revision. An update
    may start once ``debounce_s`` passed since the last change and no update runs;
    a change while one runs asks for it to be cancelled (``change`` returns True).
    A result is current only when no change came after its revision. Times are
    measured from the change that caused the update (the stroke's end) to its
    result on screen, as the user feels them.
    """

    def __init__(self, *, debounce_s: float = 0.25, keep: int = 20) -> None:
        self.debounce_s = debounce_s
        self.revision = 0
        self.running: int | None = None
        self.shown = 0
        """The revision whose result is on screen (0: none)."""
        self._changed_at: dict[int, float] = {}
        self.latencies: deque[float] = deque(maxlen=keep)
        self.compute: deque[float] = deque(maxlen=keep)

    def change(self, now: float) -> bool:
        """A change at ``now``; True when the running update is outdated and should be cancelled."""
        self.revision += 1
        self._changed_at = {self.revision: now}  # only the newest change can be shown
        return self.running is not None

    @property
    def pending(self) -> bool:
        """A change waits for an update (not shown, not being made)."""
        return self.revision > self.shown and self.running != self.revision

    def wait(self, now: float) -> float | None:
        """Seconds until an update may start (0: now); None while nothing waits or one runs."""
        if not self.pending or self.running is not None:
            return None
        changed = self._changed_at.get(self.revision, now)
        return max(0.0, changed + self.debounce_s - now)

    def start(self, now: float) -> int | None:
        """Start an update if one is due: its revision, else None."""
        if self.wait(now) != 0.0:
            return None
        self.running = self.revision
        return self.revision

    def finished(self, revision: int, now: float, *, seconds: float | None = None) -> bool:
        """The update of ``revision`` ended with a result shown at ``now``; True when it is the
        current one (its latency is then recorded). ``seconds``: the model's own time."""
        if self.running == revision:
            self.running = None
        if revision != self.revision:
            return False
        self.shown = revision
        changed = self._changed_at.get(revision)
        if changed is not None:
            self.latencies.append(now - changed)
        if seconds is not None:
            self.compute.append(seconds)
        return True

    def stopped(self, revision: int) -> None:
        """The update of ``revision`` ended without a result (cancelled or failed)."""
        if self.running == revision:
            self.running = None

    def forget(self) -> None:
        """Nothing is on screen any more (the result was applied or discarded, a new picture)."""
        self.shown = self.revision

    @property
    def latency(self) -> float | None:
        """The typical change-to-picture time (median of the recent updates)."""
        return statistics.median(self.latencies) if self.latencies else None
