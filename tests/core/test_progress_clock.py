import itertools

import pytest

from glide_studio.core.generation.progress import ProgressClock


def _run(clock: ProgressClock, stage: str, steps: int, seconds: float, start: float, first: float = 0.0):
    t = start + first  # the first step carries one-off work
    out = []
    for k in range(1, steps + 1):
        t += seconds if k > 1 else 0.0
        clock.step(stage, k, t)
        out.append(t)
    return t


def test_estimating_until_two_steps_are_timed_then_this_runs_rate():
    clock = ProgressClock()
    clock.begin()
    clock.stages(("base",), (50,))
    clock.step("base", 1, 10.0)  # after a slow first step
    assert "estimating" in clock.describe("base", 1, 50, 10.0)
    clock.step("base", 2, 11.0)
    assert clock.seconds_left("base", 2, 50) is None
    clock.step("base", 3, 12.0)
    assert clock.seconds_left("base", 3, 50) == pytest.approx(47.0)
    assert "about 0:47 left" in clock.describe("base", 3, 50, 12.0)


def test_later_stages_use_the_learned_ratio():
    clock = ProgressClock()
    clock.begin()
    clock.stages(("base", "upsample"), (10, 5))
    end = _run(clock, "base", 10, 1.0, 0.0)
    _run(clock, "upsample", 5, 4.0, end)
    clock.finish(end + 20)
    clock.begin()
    clock.stages(("base", "upsample"), (10, 5))
    _run(clock, "base", 3, 2.0, 100.0)  # this machine is slower now: 2 s per base step
    left = clock.seconds_left("base", 3, 10)
    assert left == pytest.approx(7 * 2.0 + 5 * 8.0), "upsampler steps cost 4 base steps, as last time"


def test_step_times_from_the_warm_up_guide_the_first_estimate_until_a_run_measures_them():
    clock = ProgressClock()
    assert clock.ratio("base", "upsample") == 3.5  # the guess for a float32 upsampler
    clock.expect({"base": 2.0, "upsample": 2.4})  # a bf16 upsampler: about one base step
    clock.begin()
    clock.stages(("base", "upsample"), (10, 5))
    _run(clock, "base", 3, 2.0, 0.0)
    assert clock.seconds_left("base", 3, 10) == pytest.approx(7 * 2.0 + 5 * 2.4)
    end = _run(clock, "base", 10, 2.0, 0.0)
    _run(clock, "upsample", 5, 3.0, end)
    clock.finish(end + 15)
    clock.expect({"base": 2.0, "upsample": 2.4})  # a later warm-up: the run's ratio stays
    clock.begin()
    clock.stages(("base", "upsample"), (10, 5))
    _run(clock, "base", 3, 1.0, 100.0)
    assert clock.seconds_left("base", 3, 10) == pytest.approx(7 * 1.0 + 5 * 1.5)


def test_time_left_never_leaps_up_more_than_half_again_within_a_stage():
    clock = ProgressClock()
    clock.begin()
    clock.stages(("base",), (100,))
    t = 0.0
    shown = []
    for k in range(1, 41):
        t += 1.0 if k < 20 else 6.0  # the machine gets six times slower at step 20
        clock.step("base", k, t)
        left = clock.smoothed_left("base", k, 100)
        if left is not None:
            shown.append(left)
    rises = [b / a for a, b in itertools.pairwise(shown) if a > 0]
    assert max(rises) <= 1.5 + 1e-9
    assert shown[-1] > shown[16], "it does rise, in steps, towards the slower truth"
    assert "about" in clock.describe("base", 40, 100, t)
