"""The two-stage evaluation's shape check reads the synthetic shapes it is meant to tell apart."""

from __future__ import annotations

import numpy as np
import pytest

from glide_studio.core.training.staged_evaluation import read_shape, shape_class, staged_cases
from glide_studio.core.training.synthetic import SceneSpec, render_scene


@pytest.mark.parametrize(
    ("shape", "angle", "family"),
    [
        ("square", 0.0, "square"),
        ("circle", 0.0, "round"),
        ("hexagon", 0.2, "round"),
        ("triangle", 0.0, "triangle"),
        ("triangle", 0.3, "triangle"),
    ],
)
def test_drawn_shapes_read_as_their_family(shape, angle, family):
    spec = SceneSpec(
        shape=shape,
        colour="red",
        centre=(64.0, 64.0),
        radius=26.0,
        angle=angle,
        background="flat",
        background_colours=("blue",),
    )
    scene = render_scene(spec, 128, np.random.default_rng(0))
    found, fill = read_shape(scene.image[32:96, 32:96], "red")
    assert found == family, f"{shape} filled {fill:.2f} of its box"


def test_too_little_of_the_colour_is_no_shape():
    patch = np.zeros((64, 64, 3), np.uint8)
    patch[:] = (35, 75, 215)  # blue
    patch[10, 10] = (215, 38, 38)  # one red pixel
    assert read_shape(patch, "red") == ("none", 0.0)


def test_fill_thresholds_and_unknown_shapes():
    assert [shape_class(f) for f in (1.0, 0.9, 0.79, 0.75, 0.5)] == [
        "square",
        "square",
        "round",
        "round",
        "triangle",
    ]
    cases = staged_cases(6, image_size=64)
    assert [c.shape for c in cases] == ["circle", "square", "triangle"] * 2
    assert all(c.image.shape == (64, 64, 3) for c in cases)
    with pytest.raises(ValueError, match="no shape check for 'star'"):
        staged_cases(3, image_size=64, shapes=("star",))
