import numpy as np

from glide_studio.core.imaging.mask_check import THIN_FRACTION, thin_fraction


def test_a_solid_region_is_fillable():
    mask = np.zeros((3000, 4000), bool)
    mask[1000:1600, 1500:2300] = True
    assert thin_fraction(mask) < 0.3


def test_thin_strokes_on_a_large_photo_are_flagged():
    mask = np.zeros((3000, 4000), bool)
    for y in range(1000, 1800, 100):  # 3 px lines, 100 px apart, across a large region
        mask[y : y + 3, 1000:2000] = True
    assert thin_fraction(mask) > THIN_FRACTION


def test_the_same_strokes_are_fine_on_a_small_picture():
    mask = np.zeros((120, 160), bool)
    mask[40:80, 50:100] = True
    assert thin_fraction(mask) < 0.5
    assert thin_fraction(np.zeros((10, 10), bool)) == 0.0
