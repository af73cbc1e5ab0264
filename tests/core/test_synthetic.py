"""The procedural captioned scenes the demo model is trained on."""

from __future__ import annotations

import numpy as np
import pytest

from glide_studio.core.training.synthetic import (
    BACKGROUNDS,
    PALETTE,
    SHAPES,
    SceneSpec,
    SyntheticScenes,
    nearest_colour,
    render_scene,
)


def test_scenes_are_deterministic_and_splits_differ():
    train = SyntheticScenes(image_size=32, seed=5)
    again = SyntheticScenes(image_size=32, seed=5)
    heldout = SyntheticScenes(image_size=32, seed=5, split="heldout")
    assert np.array_equal(train[7].image, again[7].image) and train[7].caption == again[7].caption
    assert not np.array_equal(train[7].image, heldout[7].image)
    with pytest.raises(ValueError, match="unknown split"):
        SyntheticScenes(image_size=32, split="test")


@pytest.mark.parametrize("size", [32, 64])
def test_caption_names_the_drawn_colour_and_shape(size):
    scenes = SyntheticScenes(image_size=size, seed=0)
    for index in range(40):
        scene = scenes[index]
        assert scene.image.shape == (size, size, 3) and scene.image.dtype == np.uint8
        words = scene.caption.split()
        assert words[0] in ("a", "an") and scene.colour in words and scene.shape in words
        assert words.index(scene.colour) < words.index(scene.shape)  # the object's colour comes first
        top, left, bottom, right = scene.box
        assert 0 <= top < bottom <= size and 0 <= left < right <= size
        # the middle of a filled shape shows its colour
        if scene.shape in ("circle", "square", "hexagon"):
            centre = scene.image[(top + bottom) // 2, (left + right) // 2]
            assert nearest_colour(centre) == scene.colour


def test_every_shape_and_background_renders():
    rng = np.random.default_rng(0)
    for shape in SHAPES:
        for background in BACKGROUNDS:
            spec = SceneSpec(
                shape=shape,
                colour="red",
                centre=(16.0, 16.0),
                radius=7.0,
                background=background,
                background_colours=("blue", "green"),
                mention_background=True,
            )
            scene = render_scene(spec, 32, rng)
            assert shape in scene.caption
            covered = (scene.image.astype(int) - np.array(PALETTE["red"])) ** 2
            assert (covered.sum(-1) < 30**2).sum() > 10, (shape, background)


def test_nearest_colour_recovers_palette_entries():
    for name, rgb in PALETTE.items():
        assert nearest_colour(rgb) == name
        assert nearest_colour(np.array(rgb) + 8) == name


def test_centred_scenes_fit_a_half_width_hole():
    scenes = SyntheticScenes(image_size=32, seed=1, split="heldout")
    for index in range(20):
        top, left, bottom, right = scenes.centred(index).box
        assert top >= 8 and left >= 8 and bottom <= 24 and right <= 24
