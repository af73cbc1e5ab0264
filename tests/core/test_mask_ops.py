"""Mask operations (grow, shrink, soft edge, magic wand) as pure functions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glide_studio.core.imaging.mask_ops import grow, magic_wand, shrink, soft_inside, soften_edge
from glide_studio.core.imaging.region import Box


def _square(size=40, box=(10, 10, 20, 20)):
    mask = np.zeros((size, size), bool)
    left, top, right, bottom = box
    mask[top:bottom, left:right] = True
    return mask


def test_grow_by_n_pixels_is_a_round_brush_along_the_edge():
    mask = np.zeros((41, 41), bool)
    mask[20, 20] = True
    grown = grow(mask, 5)
    assert grown.sum() == sum(1 for dy in range(-5, 6) for dx in range(-5, 6) if dx * dx + dy * dy <= 25)
    assert grown[20, 25] and grown[15, 20] and not grown[16, 16] and not grown[20, 26]


def test_grow_then_shrink_a_square_gives_it_back():
    mask = _square()
    assert grow(mask, 3)[7, 15] and not grow(mask, 3)[6, 15]
    assert np.array_equal(shrink(grow(mask, 3), 3), mask)
    assert shrink(mask, 2).sum() == 6 * 6
    assert not shrink(mask, 5).any()


def test_shrink_keeps_a_mask_that_reaches_the_picture_border():
    mask = np.zeros((20, 20), bool)
    mask[:, :10] = True
    out = shrink(mask, 3)
    assert out[:, :7].all() and not out[:, 7:].any()


def test_grow_rejects_absurd_sizes_in_words():
    with pytest.raises(ValueError, match="0 to 512 pixels"):
        grow(_square(), -1)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 6), st.integers(0, 39), st.integers(0, 39))
def test_grow_contains_the_mask_and_shrink_is_inside_it(n, x, y):
    mask = _square()
    mask[y, x] = True
    assert np.all(grow(mask, n)[mask])
    assert not np.any(shrink(mask, n) & ~mask)


def test_soft_inside_rises_from_the_edge_to_one():
    mask = _square(60, (10, 10, 50, 50))
    weight = soft_inside(mask, Box(0, 0, 60, 60), 8)
    assert weight[30, 30] == 1 and weight[5, 30] == 0
    row = weight[30, 10:30]
    assert 0.3 < row[0] < 0.7 and np.all(np.diff(row) >= -1e-6) and row[-1] == 1


def test_soften_edge_fades_the_result_into_the_picture():
    mask = _square(60, (10, 10, 50, 50))
    original = np.zeros((60, 60, 3), np.uint8)
    result = np.full((60, 60, 3), 200, np.uint8)
    out = soften_edge(original, result, mask, Box(0, 0, 60, 60), 8)
    assert out[30, 30, 0] == 200 and out[0, 0, 0] == 0 and 50 < out[30, 10, 0] < 150


def test_magic_wand_contiguous_or_global_with_tolerance():
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[:, 10:20] = 250  # a white band splits two black areas
    rgb[5, 2] = 20  # a near-black pixel
    left = magic_wand(rgb, 0, 0, tolerance=10, contiguous=True)
    assert left[:, :10].sum() == 199 and not left[:, 10:].any() and not left[5, 2]
    loose = magic_wand(rgb, 0, 0, tolerance=30, contiguous=True)
    assert loose[:, :10].all() and not loose[:, 10:].any()
    everywhere = magic_wand(rgb, 0, 0, tolerance=30, contiguous=False)
    assert everywhere[:, :10].all() and everywhere[:, 20:].all() and not everywhere[:, 10:20].any()


def test_magic_wand_follows_a_winding_path():
    rgb = np.full((9, 9, 3), 255, np.uint8)
    path = [(r, c) for r in (1, 3, 5, 7) for c in range(1, 8)] + [(2, 7), (4, 1), (6, 7)]
    for r, c in path:
        rgb[r, c] = 0
    picked = magic_wand(rgb, 1, 1, tolerance=0)
    assert picked.sum() == len(path)
    with pytest.raises(ValueError, match="outside"):
        magic_wand(rgb, 9, 0)
