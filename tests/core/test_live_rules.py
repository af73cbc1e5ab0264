"""Live mode's rules: debounce, newer changes cancelling older updates, what is current, timings."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glide_studio.core.generation.live import (
    APPLY_RENDER,
    LIVE_PRESET,
    LiveOptions,
    LiveScheduler,
    live_blocked,
    live_settings,
    render_request,
    slow_warning,
)
from glide_studio.core.generation.request import StageSettings
from glide_studio.core.generation.settings import GenerationSettings


def test_nothing_runs_before_a_change():
    live = LiveScheduler(debounce_s=0.25)
    assert live.wait(0.0) is None
    assert live.start(10.0) is None


def test_an_update_starts_only_after_the_quiet_time():
    live = LiveScheduler(debounce_s=0.25)
    assert live.change(1.0) is False
    assert live.wait(1.1) == pytest.approx(0.15)
    assert live.start(1.1) is None
    assert live.start(1.25) == 1
    assert live.running == 1
    assert live.wait(2.0) is None  # one at a time


def test_each_change_restarts_the_quiet_time():
    live = LiveScheduler(debounce_s=0.25)
    for t in (0.0, 0.2, 0.4):
        live.change(t)
    assert live.start(0.5) is None
    assert live.start(0.65) == 3


def test_a_newer_change_cancels_the_running_update_and_its_result_is_not_current():
    live = LiveScheduler(debounce_s=0.25)
    live.change(0.0)
    first = live.start(0.3)
    assert live.change(0.5) is True  # cancel the running one
    assert live.finished(first, 0.6) is False  # came anyway: outdated
    assert live.shown == 0
    assert live.latency is None
    second = live.start(0.75)
    assert second == 2
    assert live.finished(second, 1.0, seconds=0.2) is True
    assert live.shown == 2
    assert live.latency == pytest.approx(0.5)  # from the change at 0.5 to the picture at 1.0
    assert list(live.compute) == [0.2]
    assert not live.pending


def test_a_cancelled_update_leaves_the_newest_change_waiting():
    live = LiveScheduler(debounce_s=0.0)
    live.change(0.0)
    rev = live.start(0.0)
    live.change(0.1)
    live.stopped(rev)
    assert live.pending
    assert live.start(0.1) == 2


def test_forget_means_nothing_waits():
    live = LiveScheduler(debounce_s=0.0)
    live.change(0.0)
    live.forget()
    assert not live.pending
    assert live.start(1.0) is None


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["change", "tick", "finish", "cancel"]), st.floats(0, 0.5)), max_size=40
    )
)
def test_at_most_one_update_runs_and_only_the_newest_is_ever_shown(script):
    live = LiveScheduler(debounce_s=0.25)
    now = 0.0
    for action, dt in script:
        now += dt
        if action == "change":
            live.change(now)
        elif action == "tick":
            running = live.running
            started = live.start(now)
            assert started is None or running is None
        elif action == "finish" and live.running is not None:
            rev = live.running
            assert live.finished(rev, now) == (rev == live.revision)
        elif action == "cancel" and live.running is not None:
            live.stopped(live.running)
        assert live.shown <= live.revision
        assert all(latency >= 0 for latency in live.latencies)


def test_the_live_preset_keeps_seed_prompt_and_upsampler_choice():
    chosen = GenerationSettings(
        prompt="a red cube",
        base=StageSettings(sampler="ancestral", steps="100"),
        candidates=4,
        seed=77,
        guidance_scale=4.0,
        use_upsampler=False,
    )
    live = live_settings(chosen)
    assert live.base == LIVE_PRESET.base and live.upsample == LIVE_PRESET.upsample
    assert (live.candidates, live.seed, live.prompt, live.guidance_scale) == (1, 77, "a red cube", 4.0)
    assert live.use_upsampler is False
    if hasattr(live, "detail"):
        assert live.detail == "off"


def test_apply_renders_the_chosen_preset_with_the_live_seed_and_region():
    image = np.zeros((64, 64, 3), np.uint8)
    mask = np.zeros((64, 64), bool)
    mask[10:30, 10:30] = True
    live = live_settings(GenerationSettings(prompt="x", seed=5)).request(image, mask)
    chosen = GenerationSettings(prompt="other", base=StageSettings(sampler="dpm++2m", steps="20"), seed=9)
    render = render_request(live, chosen)
    assert render.seed == 5 and render.prompt == "x" and render.candidates == 1
    assert render.base == chosen.base and render.upsample == chosen.upsample
    assert np.array_equal(render.mask, live.mask) and render.region == live.region


def test_blocked_reasons():
    ok = {"enabled": True, "ready": True, "mask_empty": False, "other_run": False, "pending_candidates": 0}
    assert live_blocked(**ok) == ""
    assert live_blocked(**{**ok, "enabled": False}) == ""
    assert "load" in live_blocked(**{**ok, "ready": False})
    assert "Generate" in live_blocked(**{**ok, "other_run": True})
    assert "apply or discard" in live_blocked(**{**ok, "pending_candidates": 2})
    assert "paint" in live_blocked(**{**ok, "mask_empty": True})


def test_slow_warning_only_above_the_limit():
    assert slow_warning(1.9, limit=2.0) == ""
    assert "2.5 s" in slow_warning(2.5, limit=2.0)


def test_options_are_checked():
    assert LiveOptions().enabled is False  # on by default nowhere
    assert LiveOptions(apply=APPLY_RENDER).apply == APPLY_RENDER
    with pytest.raises(ValueError, match="apply"):
        LiveOptions(apply="later")
