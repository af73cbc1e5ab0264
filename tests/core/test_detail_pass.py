"""The generation area and the detail pass: geometry, requests, records, and the pass on the demo models."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from glide_studio.core.generation.cancel import CancelToken
from glide_studio.core.generation.events import Cancelled, Finished, Preview, Started
from glide_studio.core.generation.progress import ProgressClock
from glide_studio.core.generation.request import EditRequest, RequestError, StageSettings
from glide_studio.core.generation.settings_codec import request_from_settings, request_settings
from glide_studio.core.imaging.region import Box, Region, resolve_region
from glide_studio.core.imaging.tiles import (
    detail_passes,
    detail_runs,
    detail_sizes,
    detail_tile_count,
    plan_tiles,
    pool_any,
)

# -- geometry -----------------------------------------------------------------------------------


@pytest.mark.parametrize("side,output", [(1200, 128), (1200, 256), (4000, 256), (140, 128), (6000, 256)])
def test_passes_end_at_the_square_and_grow_at_most_five_then_four_times(side, output):
    sizes = detail_sizes(side, output)
    assert sizes[-1] == side
    assert sizes[0] <= 5 * output
    for before, after in itertools.pairwise(sizes):
        assert after <= 4 * before
    assert detail_sizes(output, output) == [] and detail_sizes(output - 1, output) == []


def test_a_one_pixel_stroke_reaches_every_pass_size():
    mask = np.zeros((997, 997), bool)
    mask[500, 3] = True
    for size in (997, 250, 63):
        pooled = pool_any(mask, size)
        assert pooled.shape == (size, size) and pooled.sum() == 1


def test_tiles_cover_every_mask_pixel_and_skip_tiles_without_one():
    rng = np.random.default_rng(3)
    mask = np.zeros((700, 700), bool)
    mask[100:180, 90:600] = True  # a long thin band: most of the square needs no tile
    mask[rng.integers(0, 700, 5), rng.integers(0, 700, 5)] = True
    tiles = plan_tiles(mask, 128)
    covered = np.zeros_like(mask)
    for tile in tiles:
        assert mask[tile.box.slices].any()
        assert tile.box.width == tile.box.height == 128
        assert tile.box.left >= 0 and tile.box.right <= 700
        covered[tile.box.slices] = True
    assert covered[mask].all()
    assert len(tiles) < (700 // 96 + 1) ** 2 / 2


def test_cross_fades_only_towards_earlier_tiles():
    mask = np.ones((300, 300), bool)
    tiles = plan_tiles(mask, 128)
    first = tiles[0]
    assert first.fade_left == first.fade_top == 0
    np.testing.assert_array_equal(first.weight(), 1.0)
    later = tiles[-1]
    assert later.fade_left > 0 and later.fade_top > 0
    weight = later.weight()
    assert 0 < weight.min() < 0.01 and weight.max() == 1.0
    assert (np.diff(weight[-1]) >= 0).all()  # rises away from the shared edge


def test_detail_runs_rule():
    assert not detail_runs("on", 1.0, auto=True)
    assert detail_runs("on", 1.01, auto=False)
    assert not detail_runs("auto", 1.4, auto=True) and detail_runs("auto", 1.6, auto=True)
    assert not detail_runs("auto", 9.0, auto=False)
    assert not detail_runs("off", 9.0, auto=True)


# -- the chosen square --------------------------------------------------------------------------


def _mask(shape=(300, 400), box=(100, 100, 160, 150)):
    mask = np.zeros(shape, bool)
    left, top, right, bottom = box
    mask[top:bottom, left:right] = True
    return mask


def test_a_chosen_square_too_small_for_the_mask_is_grown_and_the_user_told():
    area = resolve_region(_mask(), region=Region(left=90, top=90, size=30))
    assert area.box.width == 64 and not area.automatic
    assert area.box.left <= 100 and area.box.right >= 160 and area.box.top <= 100 and area.box.bottom >= 150
    assert len(area.notes) == 1 and "grown from 30 to 64" in area.notes[0]


def test_a_chosen_square_is_kept_and_moved_inside_the_picture():
    kept = resolve_region(_mask(), region=Region(left=50, top=40, size=200))
    assert kept.box == Box(50, 40, 250, 240) and kept.notes == ()
    moved = resolve_region(_mask(), region=Region(left=-30, top=150 - 200, size=200))
    assert moved.box == Box(0, 0, 200, 200) and "moved inside" in moved.notes[0]


@pytest.mark.parametrize(
    "region,context,message",
    [
        (Region(left=500, top=0, size=50), 1.0, "outside"),
        (Region(left=-100, top=-100, size=100), 1.0, "outside"),
        (None, 0.0, "context"),
        (None, -1.0, "context"),
        (None, float("nan"), "context"),
    ],
)
def test_bad_squares_and_contexts_are_refused_with_a_message(region, context, message):
    with pytest.raises(ValueError, match=message):
        resolve_region(_mask(), region=region, context=context)
    with pytest.raises(RequestError, match=message):
        EditRequest(
            image=np.zeros((300, 400, 3), np.uint8), mask=_mask(), prompt="x", region=region, context=context
        )


def test_context_widens_the_automatic_square():
    narrow = resolve_region(_mask(), context=0.5).box.width
    wide = resolve_region(_mask(), context=3.0).box.width
    assert narrow < resolve_region(_mask()).box.width < wide


@pytest.mark.parametrize("text", ["1,2", "a,b,c", "1,2,0", "1,2,-5", "1.5,2,3", "", "1,2,3,4"])
def test_region_text_is_checked(text):
    with pytest.raises(ValueError, match="generation area"):
        Region.parse(text)


def test_region_values_are_checked():
    for bad in (True, 1.5, "3", 1 << 40):
        with pytest.raises(ValueError):
            Region(left=bad, top=0, size=10)  # type: ignore[arg-type]
    assert str(Region.parse(" 3, -4 ,50")) == "3,-4,50"


# -- the request and its records -----------------------------------------------------------------


def _request(**changes):
    return EditRequest(image=np.zeros((300, 400, 3), np.uint8), mask=_mask(), prompt="x", **changes)


def test_square_context_and_detail_survive_the_records():
    request = _request(region=Region(left=50, top=40, size=200), context=2.5, detail="on", detail_steps="12")
    settings = request_settings(request)
    assert settings["region"] == {"left": 50, "top": 40, "size": 200}
    again = request_from_settings(settings, image=request.image, mask=request.mask)
    assert (again.region, again.context, again.detail, again.detail_steps) == (
        Region(left=50, top=40, size=200),
        2.5,
        "on",
        "12",
    )
    described = request.describe(detailed=True)
    assert described["region"] == "50,40,200" and described["detail_steps"] == "12"
    assert "detail_steps" not in request.describe(detailed=False)


def test_records_written_before_the_square_existed_regenerate_as_then():
    old = request_settings(_request())
    for key in ("region", "context", "detail", "detail_steps"):
        del old[key]
    again = request_from_settings(old, image=np.zeros((300, 400, 3), np.uint8), mask=_mask())
    assert again.region is None and again.context == 1.0 and again.detail == "off"


@pytest.mark.parametrize(
    "region",
    [
        [1, 2, 3],
        "1,2,3",
        {"left": 1, "top": 2},
        {"left": 1, "top": 2, "size": "9"},
        {"left": 1, "top": 2, "size": 0},
        {"left": 1e999, "top": 2, "size": 9},
        {"left": 1, "top": 2, "size": 9, "x": 1},
    ],
)
def test_hostile_recorded_squares_are_the_requests_own_error(region):
    settings = request_settings(_request()) | {"region": region}
    with pytest.raises(RequestError):
        request_from_settings(settings, image=np.zeros((300, 400, 3), np.uint8), mask=_mask())


@pytest.mark.parametrize(
    "changes", [{"detail": "maybe"}, {"detail_steps": "zero"}, {"context": "2"}, {"context": 21}]
)
def test_bad_detail_settings_are_refused(changes):
    with pytest.raises(RequestError):
        _request(**changes)


def test_the_wire_carries_the_square():
    from glide_studio.core.remote.wire import Limits, request_from_wire, request_to_wire

    request = _request(region=Region(left=50, top=40, size=200), detail="on")
    again = request_from_wire(request_to_wire(request), limits=Limits())
    assert again.region == request.region and again.detail == "on"


# -- progress ---------------------------------------------------------------------------------------


def test_progress_names_the_tile():
    clock = ProgressClock()
    clock.begin()
    clock.stages(("base", "upsample", "detail", "detail", "detail"), (2, 2, 3, 3, 3))
    t = 0.0
    for stage, steps in (("base", 2), ("upsample", 2), ("detail", 3), ("detail", 2)):
        for k in range(1, steps + 1):
            t += 1
            clock.step(stage, k, t)
    text = clock.describe("detail", 2, 3, t)
    assert text.startswith("Detail · tile 2 of 3 · step 2/3")


# -- the pass on the demo models -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo():
    from glide_studio.core.runtime.engine import load_demo

    torch.manual_seed(0)
    inpainter, _ = load_demo(device=torch.device("cpu"), precision="float32")
    return inpainter


def _scene(size=(420, 520), seed=0):
    rng = np.random.default_rng(seed)
    height, width = size
    image = np.full((height, width, 3), 200, np.uint8)
    yy, xx = np.ogrid[:height, :width]
    for _ in range(25):
        x, y, r = rng.integers(0, width), rng.integers(0, height), rng.integers(10, 45)
        image[(xx - x) ** 2 + (yy - y) ** 2 < r * r] = rng.integers(0, 255, 3)
    mask = np.zeros((height, width), bool)
    mask[110:310, 160:360] = True
    return image, mask


def _edit(demo, detail, *, candidates=1, seed=7, cancel=None, **changes):
    image, mask = _scene()
    request = EditRequest(
        image=image,
        mask=mask,
        prompt="a red circle",
        seed=seed,
        candidates=candidates,
        base=StageSettings(steps="5"),
        upsample=StageSettings(steps="3"),
        detail=detail,
        detail_steps="3",
        **changes,
    )
    return request, list(demo.run(request, cancel=cancel))


def _sharpness(image, mask):
    inside = image.astype(int)
    steps = np.abs(np.diff(inside, axis=1)).sum(-1)[mask[:, 1:] & mask[:, :-1]]
    return float(np.percentile(steps, 99.9))


@pytest.fixture(scope="module")
def runs(demo):
    """The same edit without and with the detail pass (two candidates), again, and one alone."""
    return {
        "off": _edit(demo, "off"),
        "on": _edit(demo, "on", candidates=2),
        "again": _edit(demo, "on", candidates=2),
        "alone": _edit(demo, "on", seed=8),
    }


def test_detail_makes_the_inside_sharper_and_leaves_the_rest_untouched(runs):
    request, off = runs["off"]
    _, on = runs["on"]
    started = next(e for e in on if isinstance(e, Started))
    tiles = started.stages.count("detail")
    mask_square = request.mask[started.box.slices]
    assert started.box.width / 128 > 3
    assert tiles == detail_tile_count(mask_square, 128) > 1
    assert sum(isinstance(e, Preview) and e.stage == "detail" for e in on) == tiles * 3
    sharp_off = _sharpness(off[-1].candidates[0].image, request.mask)
    sharp_on = _sharpness(on[-1].candidates[0].image, request.mask)
    assert sharp_on >= 1.5 * sharp_off  # few steps here; the CLI test checks 2x at its defaults
    # Outside the feathered band (2 output pixels of the square, a few photo pixels) nothing changes.
    band = np.zeros_like(request.mask)
    band[100:320, 150:370] = True
    for events in (off, on):
        image = events[-1].candidates[0].image
        np.testing.assert_array_equal(image[~band], request.image[~band])
    # Colour stays that of the result it refines.
    diff = on[-1].candidates[0].image.astype(float) - off[-1].candidates[0].image.astype(float)
    assert abs(diff[request.mask].mean()) < 6


def test_detail_is_reproducible_and_each_candidate_is_its_own(runs):
    a, b = (runs[name][1][-1].candidates for name in ("on", "again"))
    np.testing.assert_array_equal(a[0].patch, b[0].patch)
    np.testing.assert_array_equal(a[1].patch, b[1].patch)
    assert not np.array_equal(a[0].patch, a[1].patch)
    alone = runs["alone"][1][-1].candidates[0]
    assert np.abs(alone.patch.astype(int) - a[1].patch.astype(int)).max() <= 2


def test_cancel_stops_inside_the_detail_stage(demo):
    cancel = CancelToken()
    image, mask = _scene()
    request = EditRequest(
        image=image,
        mask=mask,
        prompt="x",
        base=StageSettings(steps="3"),
        upsample=StageSettings(steps="2"),
        detail="on",
        detail_steps="6",
    )
    seen = []
    for event in demo.run(request, cancel=cancel):
        seen.append(event)
        if isinstance(event, Preview) and event.stage == "detail" and event.step == 2:
            cancel.cancel()
    assert isinstance(seen[-1], Cancelled) and seen[-1].candidates == ()
    assert sum(isinstance(e, Preview) and e.stage == "detail" for e in seen) == 2


def test_a_chosen_square_is_the_one_the_model_sees(demo):
    region = Region(left=100, top=60, size=380)
    _, events = _edit(demo, "off", region=region)
    started = next(e for e in events if isinstance(e, Started))
    assert started.box == Box(100, 40, 480, 420)  # moved up inside the 420 px high picture
    assert isinstance(events[-1], Finished)
    changed = events[-1].candidates[0].box
    assert changed.left >= 100 and changed.right <= 480


def test_auto_follows_the_backend(demo):
    image, mask = _scene()
    request = EditRequest(image=image, mask=mask, prompt="x", detail="auto")
    assert "detail" in demo.schedule(request)[0]  # the demo models run it by themselves
    demo.auto_detail = False
    try:
        assert "detail" not in demo.schedule(request)[0]
        assert "detail" in demo.schedule(request.with_changes(detail="on"))[0]
    finally:
        demo.auto_detail = True


def test_detail_with_no_enlargement_runs_nothing(demo):
    image, mask = _scene()
    small = np.zeros_like(mask)
    small[200:230, 200:230] = True
    request = EditRequest(
        image=image,
        mask=small,
        prompt="x",
        base=StageSettings(steps="2"),
        upsample=StageSettings(steps="2"),
        detail="on",
        detail_steps="2",
    )
    assert request.area().box.width <= 128
    events = list(demo.run(request))
    assert "detail" not in next(e for e in events if isinstance(e, Started)).stages
    assert isinstance(events[-1], Finished)


def test_schedule_matches_what_runs(demo, runs):
    request, events = runs["on"]
    stages, steps = demo.schedule(request)
    started = next(e for e in events if isinstance(e, Started))
    assert (stages, steps) == (started.stages, started.steps)
    assert len(detail_passes(np.ones((500, 500), bool), 128)) == 1


def test_a_repeated_stage_keeps_what_earlier_repetitions_measured():
    clock = ProgressClock()
    clock.begin()
    clock.stages(("detail",) * 3, (5, 5, 5))
    t = 0.0
    for k in range(1, 6):  # the first tile: 1 s a step
        t += 1.0
        clock.step("detail", k, t)
    for k in range(1, 4):  # the next one starts slowly (load elsewhere): 4 s a step
        t += 4.0
        clock.step("detail", k, t)
    left = clock.seconds_left("detail", 3, 5)
    assert left is not None
    rate = (left - 0) / (2 + 5)  # this tile's 2 steps and the last tile's 5
    assert 1.0 < rate < 2.5  # not the 4 s of the last two steps alone


# -- everywhere a picture is made (tiny models of the real architecture) ------------------------------


@pytest.fixture(scope="module")
def tiny():
    from glide_studio.core.pipeline.inpaint import Inpainter, StageModel
    from glide_studio.core.pipeline.text2im import TextToImage
    from glide_studio.core.text.tokenizer import ByteTokenizer
    from tiny_models import TINY_32, random_model

    def stage(options, seed, name, schedule="squaredcos_cap_v2"):
        model = random_model(options, seed=seed)
        return StageModel(model=model, tokenizer=ByteTokenizer(), noise_schedule=schedule, name=name)

    up = {**TINY_32, "image_size": 64, "super_res": True}
    text2im = TextToImage(base=stage(TINY_32, 7, "t2i"), upsampler=stage(up, 8, "t2i-up", "linear"))
    return Inpainter(
        base=stage({**TINY_32, "inpaint": True}, 0, "base"),
        upsampler=stage({**up, "inpaint": True}, 9, "up", "linear"),
        text2im=text2im,
    )


def _tiny_request(image, mask, **changes):
    return EditRequest(
        image=image,
        mask=mask,
        prompt="a red barn",
        base=StageSettings(steps="2"),
        upsample=StageSettings(steps="2"),
        detail="on",
        detail_steps="2",
        **changes,
    )


def test_text_to_image_on_a_large_new_canvas_gets_the_detail_pass(tiny):
    blank = np.zeros((150, 200, 3), np.uint8)
    events = list(tiny.run(_tiny_request(blank, np.ones((150, 200), bool))))
    started = events[0]
    assert started.stages[:2] == ("base", "upsample") and started.stages.count("detail") >= 4
    assert isinstance(events[-1], Finished)
    result = events[-1].candidates[0].image
    assert result.shape == (150, 200, 3) and result.std() > 0


def test_outpainting_gets_the_detail_pass_square_by_square(tiny):
    from glide_studio.core.generation.canvas import Extension, extend_canvas
    from glide_studio.core.pipeline.outpaint import outpaint

    image = np.random.default_rng(2).integers(0, 256, (120, 120, 3), dtype=np.uint8)
    canvas, mask = extend_canvas(image, Extension(right=90))
    request = _tiny_request(canvas, mask, kind="outpaint")
    events = list(outpaint(tiny, request))
    started = events[0]
    previews = [e for e in events if isinstance(e, Preview)]
    assert started.stages.count("detail") > 0
    assert len(previews) == sum(started.steps)  # what Started announced is what ran
    assert [p.stage for p in previews if p.step == 1] == list(started.stages)
    assert isinstance(events[-1], Finished)
    np.testing.assert_array_equal(events[-1].candidates[0].image[:, :100], canvas[:, :100])


def test_a_run_with_many_tiles_is_announced_over_the_wire():
    from glide_studio.core.remote.wire import event_from_wire, event_to_wire

    stages = ("base", "upsample") + ("detail",) * 300
    started = Started(stages=stages, steps=(50, 27) + (10,) * 300, seeds=(4,), box=Box(0, 0, 900, 900))
    again = event_from_wire(
        event_to_wire(started), original=np.zeros((900, 900, 3), np.uint8), candidates={}, asked=1
    )
    assert again == started


def test_text_to_image_loaded_on_first_use_gets_the_detail_model(tiny):
    from glide_studio.core.pipeline.inpaint import Inpainter
    from glide_studio.core.pipeline.text2im import TextToImage
    from glide_studio.core.runtime.engine import LoadOnUse

    fresh = TextToImage(base=tiny.text2im.base, upsampler=tiny.text2im.upsampler)
    proxy = LoadOnUse(lambda: fresh, "text-to-image models")
    lazy = Inpainter(base=tiny.base, upsampler=tiny.upsampler, text2im=proxy)
    assert not proxy.loaded  # building the pipeline touches nothing
    blank = np.zeros((150, 200, 3), np.uint8)
    started = next(iter(lazy.run(_tiny_request(blank, np.ones((150, 200), bool)))))
    assert proxy.loaded and started.stages.count("detail") >= 4
