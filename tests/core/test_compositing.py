"""Region of interest, feathering and pasting back into the full-size photo."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from glide_studio.core.imaging.region import Box, mask_bounds, region_of_interest
from glide_studio.core.pipeline.compositing import plan_region
from glide_studio.core.pipeline.tensors import feather_alpha


def test_mask_bounds():
    mask = np.zeros((10, 20), bool)
    assert mask_bounds(mask) is None
    mask[2:5, 7] = True
    assert mask_bounds(mask) == Box(7, 2, 8, 5)


def test_roi_is_square_holds_the_mask_with_context_and_stays_inside():
    roi = region_of_interest(Box(100, 100, 160, 140), 1000, 800)
    assert roi.width == roi.height == 120
    assert roi.left <= 100 and roi.right >= 160 and roi.top <= 100 and roi.bottom >= 140
    near_edge = region_of_interest(Box(0, 770, 50, 800), 1000, 800)
    assert near_edge.left == 0 and near_edge.bottom == 800 and near_edge.width == near_edge.height


def test_roi_overhangs_only_when_the_image_is_too_narrow():
    roi = region_of_interest(Box(0, 0, 400, 100), 400, 100)
    assert roi.width == roi.height == 400
    assert (roi.left, roi.right) == (0, 400) and roi.top == -150 and roi.bottom == 250


def test_tiny_mask_gets_a_minimum_square():
    roi = region_of_interest(Box(500, 500, 501, 501), 2000, 2000)
    assert roi.width == 64 and roi.left <= 500 < roi.right


def test_feather_is_one_on_the_mask_and_zero_far_away():
    mask = torch.zeros(1, 1, 40, 40)
    mask[..., 15:25, 15:25] = 1
    alpha = feather_alpha(mask, 3)
    assert torch.all(alpha[mask.bool()] == 1)
    assert alpha[0, 0, 20, 9] == 0 and alpha[0, 0, 20, 8] == 0
    ramp = alpha[0, 0, 20, 8:16]
    assert torch.all(ramp[1:] >= ramp[:-1]) and 0 < ramp[3] < 1


def _flat(width, height, value):
    return np.full((height, width, 3), value, np.uint8)


@pytest.mark.parametrize("width", [200, 1200, 3000])
def test_no_seam_when_the_result_matches_the_surroundings(width):
    image = _flat(width, width * 3 // 4, 90)
    mask = np.zeros(image.shape[:2], bool)
    mask[width // 4 : width // 2, width // 3 : width // 2] = True
    plan = plan_region(image, mask, output_resolution=256)
    out = plan.composite(image, torch.full((1, 3, 256, 256), 90 / 127.5 - 1))
    assert np.abs(out.astype(int) - 90).max() <= 1


@pytest.mark.parametrize(("width", "max_jump"), [(1200, 60), (3000, 25)])
def test_a_different_colour_blends_over_a_band_not_a_step(width, max_jump):
    image = _flat(width, width * 3 // 4, 50)
    mask = np.zeros(image.shape[:2], bool)
    mask[width // 4 : width // 2, width // 3 : width // 2] = True
    plan = plan_region(image, mask, output_resolution=256)
    out = plan.composite(image, torch.full((1, 3, 256, 256), 200 / 127.5 - 1)).astype(int)
    assert np.all(out[mask] == 200)
    jumps = max(np.abs(np.diff(out[..., 0], axis=0)).max(), np.abs(np.diff(out[..., 0], axis=1)).max())
    assert jumps <= max_jump  # a hard edge would jump by 150


def test_pixels_outside_the_band_are_bit_identical():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    mask = np.zeros((300, 400), bool)
    mask[100:180, 150:260] = True
    plan = plan_region(image, mask, output_resolution=256)
    out = plan.composite(image, torch.rand(1, 3, 256, 256) * 2 - 1)
    changed = np.any(out != image, axis=2)
    assert changed[mask].mean() > 0.9
    band = np.zeros_like(mask)
    band[plan.changed.slices] = True
    assert not changed[~band].any()
    c = plan.changed
    assert 150 - 10 < c.left <= 150 and 260 <= c.right < 260 + 10


def test_known_inputs_flip_the_convention_and_keep_one_pixel_masks():
    image = _flat(500, 500, 128)
    mask = np.zeros((500, 500), bool)
    mask[250, 250] = True
    plan = plan_region(image, mask, output_resolution=64)
    known, keep = plan.known_inputs(64, torch.device("cpu"))
    assert known.shape == (1, 3, 64, 64) and keep.shape == (1, 1, 64, 64)
    assert (keep == 0).sum() >= 1  # the single painted pixel is generated
    assert (keep == 1).sum() >= 64 * 64 - 4
