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

DEFAULT_STAGE_RATIOS = {("base", "upsample"): 3.5}
"""Seconds per upsampler step over seconds per base step, before anything was measured."""
MIN_TIMED_STEPS = 2


def format_clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class ProgressClock:
    def __init__(self) -> None:
        self._stages: tuple[str, ...] = ()
        self._steps: tuple[int, ...] = ()
        self._times: dict[str, list[float]] = {}
        self._rates: dict[str, float] = {}
        """Measured seconds per step of each stage in this run."""
        self._seen = 0
        """Steps reported so far (stages may repeat: outpainting runs them once per square)."""
        self._ratios: dict[tuple[str, str], float] = dict(DEFAULT_STAGE_RATIOS)
        self._measured: set[tuple[str, str]] = set()
        """Ratios learned from finished runs (``expect`` leaves them alone)."""

    def begin(self) -> None:
        self._stages, self._steps = (), ()
        self._times, self._rates = {}, {}
        self._seen = 0

    def stages(self, names: Sequence[str], steps: Sequence[int]) -> None:
        self._stages, self._steps = tuple(names), tuple(steps)

    def step(self, stage: str, step: int, now: float) -> None:
        self._seen += 1
        times = self._times.setdefault(stage, [])
        if step == 1:
            times.clear()
        times.append(now)
        if len(times) > MIN_TIMED_STEPS:
            # From the end of step 1 on: the first step's one-off work is left out.
            self._rates[stage] = (times[-1] - times[0]) / (len(times) - 1)

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

    def describe(self, stage: str, step: int, total: int, now: float) -> str:
        label = {"base": "Base", "upsample": "Upsampling"}.get(stage, stage.capitalize())
        left = self.seconds_left(stage, step, total)
        estimate = "estimating…" if left is None else f"about {format_clock(left)} left"
        return f"{label} · step {step}/{total} · {estimate}"

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
