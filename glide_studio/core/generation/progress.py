"""How far a run is and how long it has left, from this run's own measured step times.

The first step of each stage is not timed: it carries one-off work (text
encoding, the conditioning, allocator warm-up). Until two steps of the current
stage have been timed the estimate says "estimating…". A later stage that has
not started yet is costed by its steps times the ratio of its step time to the
current stage's, learned from earlier runs on this machine, else from the
models' warm-up before the first run (``expect``), else a conservative guess
(a float32 upsampler step costs several base steps; a bf16 one about one).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["ProgressClock", "format_clock"]

DEFAULT_STAGE_RATIOS = {("base", "upsample"): 3.5, ("base", "detail"): 3.5, ("upsample", "detail"): 1.0}
"""Seconds per step of the second stage over the first's, before anything was measured (a detail
tile is one upsampler run)."""
MIN_TIMED_STEPS = 2
CARRIED_STEPS = 8
"""How many steps' worth the rate learned in earlier repetitions of a stage weighs."""


def format_clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


MAX_RISE = 1.5
"""The most the time left shown may rise from one update to the next within a stage."""


class ProgressClock:
    def __init__(self) -> None:
        self._stages: tuple[str, ...] = ()
        self._steps: tuple[int, ...] = ()
        self._times: dict[str, list[float]] = {}
        self._rates: dict[str, float] = {}
        """Measured seconds per step of each stage in this run."""
        self._carried: dict[str, float] = {}
        """The rate of a repeated stage when its latest repetition began."""
        self._seen = 0
        """Steps reported so far (stages may repeat: outpainting runs them once per square)."""
        self._ratios: dict[tuple[str, str], float] = dict(DEFAULT_STAGE_RATIOS)
        self._measured: set[tuple[str, str]] = set()
        """Ratios learned from finished runs (``expect`` leaves them alone)."""
        self._shown: tuple[int, float] | None = None
        """(stage index, seconds) of the last time left shown: it may rise at most 1.5× per update."""

    def begin(self) -> None:
        self._stages, self._steps = (), ()
        self._times, self._rates = {}, {}
        self._carried: dict[str, float] = {}
        self._seen = 0
        self._shown = None

    def stages(self, names: Sequence[str], steps: Sequence[int]) -> None:
        self._stages, self._steps = tuple(names), tuple(steps)

    def step(self, stage: str, step: int, now: float) -> None:
        self._seen += 1
        times = self._times.setdefault(stage, [])
        if step == 1:
            times.clear()
            if stage in self._rates:  # a repeated stage (detail tiles, squares): keep what it learned
                self._carried[stage] = self._rates[stage]
        times.append(now)
        if len(times) > MIN_TIMED_STEPS:
            # From the end of step 1 on: the first step's one-off work is left out.
            timed = len(times) - 1
            rate = (times[-1] - times[0]) / timed
            carried = self._carried.get(stage)
            if carried is not None:  # earlier repetitions weigh as CARRIED_STEPS steps
                rate = (carried * CARRIED_STEPS + rate * timed) / (CARRIED_STEPS + timed)
            self._rates[stage] = rate

    def fraction(self, stage: str, step: int) -> float:
        return min(self._seen / max(sum(self._steps), 1), 1.0)

    def seconds_left(self, stage: str, step: int, total: int) -> float | None:
        """None while there is nothing meaningful to say."""
        rate = self._rates.get(stage)
        if rate is None:
            return None
        left = (total - step) * rate
        index = self._current_stage_index(step)
        for later, steps in zip(self._stages[index + 1 :], self._steps[index + 1 :], strict=True):
            later_rate = self._rates.get(later)
            if later_rate is None:
                ratio = self._ratios.get((stage, later))
                if ratio is None:
                    return None
                later_rate = rate * ratio
            left += steps * later_rate
        return left

    def _current_stage_index(self, step: int) -> int:
        """Which entry of the stage list is running, from the steps reported so far."""
        before = self._seen - step
        for index, steps in enumerate(self._steps):
            if before < steps:
                return index
            before -= steps
        return len(self._steps)

    def tile(self, step: int) -> tuple[int, int] | None:
        """For the detail stage: which of how many tiles in a row of detail entries runs now."""
        index = self._current_stage_index(step)
        if index >= len(self._stages) or self._stages[index] != "detail":
            return None
        first = index
        while first > 0 and self._stages[first - 1] == "detail":
            first -= 1
        last = index
        while last + 1 < len(self._stages) and self._stages[last + 1] == "detail":
            last += 1
        return index - first + 1, last - first + 1

    def describe(self, stage: str, step: int, total: int, now: float) -> str:
        label = {"base": "Base", "upsample": "Upsampling"}.get(stage, stage.capitalize())
        tile = self.tile(step) if stage == "detail" else None
        if tile is not None:
            label += f" · tile {tile[0]} of {tile[1]}"
        left = self.smoothed_left(stage, step, total)
        estimate = "estimating…" if left is None else f"about {format_clock(left)} left"
        return f"{label} · step {step}/{total} · {estimate}"

    def smoothed_left(self, stage: str, step: int, total: int) -> float | None:
        """The time left as shown: within a stage it never jumps up by more than 1.5× between two
        updates (a moment of load elsewhere should not make it leap), it may fall freely."""
        left = self.seconds_left(stage, step, total)
        if left is None:
            return None
        index = self._current_stage_index(step)
        if self._shown is not None and self._shown[0] == index and self._shown[1] > 0:
            left = min(left, self._shown[1] * MAX_RISE)
        self._shown = (index, left)
        return left

    def ratio(self, first: str, second: str) -> float | None:
        """What a step of ``second`` costs in steps of ``first``, as far as known."""
        return self._ratios.get((first, second))

    def expect(self, step_seconds: dict[str, float]) -> None:
        """Take each stage's step time as measured outside a run (the models' warm-up, which
        also carries one-off costs) for the ratios no finished run has measured yet."""
        for first, first_seconds in step_seconds.items():
            for second, second_seconds in step_seconds.items():
                if first != second and first_seconds > 0 and (first, second) not in self._measured:
                    self._ratios[(first, second)] = second_seconds / first_seconds

    def finish(self, now: float) -> None:
        """Learn how the stages' step times compare, for the next run's early estimate."""
        for first, second in zip(self._stages, self._stages[1:], strict=False):
            if first in self._rates and second in self._rates and self._rates[first] > 0:
                self._ratios[(first, second)] = self._rates[second] / self._rates[first]
                self._measured.add((first, second))
