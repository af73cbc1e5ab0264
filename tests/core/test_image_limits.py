"""Image files the user names: a folder says it is a folder; the project's own pixel limit decides size."""

from __future__ import annotations

import pytest
from PIL import Image

from glide_studio.core.imaging.files import MAX_PIXELS, ImageError, load_image, load_mask


def test_a_folder_given_as_the_image_says_so(tmp_path):
    with pytest.raises(ImageError, match="is a folder, not an image file"):
        load_image(tmp_path)
    with pytest.raises(ImageError, match="file not found"):
        load_image(tmp_path / "missing.png")


def test_images_up_to_our_limit_load_and_larger_ones_are_refused(tmp_path):
    """Pillow's own decompression-bomb limit (89 MP) must not fire before ours (200 MP)."""
    big = tmp_path / "big.png"
    Image.new("1", (10_000, 9_500)).save(big)  # 95 MP, a few KB on disk
    assert 89_478_485 < 10_000 * 9_500 < MAX_PIXELS
    assert load_mask(big).shape == (9_500, 10_000)
    huge = tmp_path / "huge.png"
    Image.new("1", (20_000, 10_001)).save(huge)
    assert MAX_PIXELS < 20_000 * 10_001
    with pytest.raises(ImageError, match="too large to edit"):
        load_mask(huge)
