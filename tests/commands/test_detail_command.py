"""``glide-studio inpaint --detail/--region/--context`` with the demo models."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from glide_studio.cli import main

pytestmark = pytest.mark.slow  # two demo edits with the detail pass: about a minute


def _scene(folder):
    rng = np.random.default_rng(11)
    image = np.full((450, 600, 3), 190, np.uint8)
    yy, xx = np.ogrid[:450, :600]
    for _ in range(30):
        x, y, r = rng.integers(0, 600), rng.integers(0, 450), rng.integers(12, 50)
        image[(xx - x) ** 2 + (yy - y) ** 2 < r * r] = rng.integers(0, 255, 3)
    mask = np.zeros((450, 600), np.uint8)
    mask[125:325, 200:400] = 255
    Image.fromarray(image).save(folder / "big.png")
    Image.fromarray(mask).save(folder / "m.png")
    return image, mask > 0


def _inpaint(folder, output, *extra):
    return main(
        [
            "inpaint",
            str(folder / "big.png"),
            "--mask",
            str(folder / "m.png"),
            "--prompt",
            "a red circle",
            "--demo",
            "--device",
            "cpu",
            "--seed",
            "3",
            "--steps",
            "20",
            "--upsample-steps",
            "10",
            "-o",
            str(folder / output),
            *extra,
        ]
    )


def _sharpness(image, mask):
    steps = np.abs(np.diff(image.astype(int), axis=1)).sum(-1)[mask[:, 1:] & mask[:, :-1]]
    return float(np.percentile(steps, 99.9))


def test_detail_on_is_twice_as_sharp_and_leaves_the_photo_alone(tmp_path, capsys):
    image, mask = _scene(tmp_path)
    assert _inpaint(tmp_path, "off.png", "--detail", "off") == 0
    assert "--detail on sharpens it" in capsys.readouterr().err  # 400 px square → 128 px: 3.1×
    assert _inpaint(tmp_path, "on.png", "--detail", "on") == 0
    off = np.asarray(Image.open(tmp_path / "off.png"))
    on = np.asarray(Image.open(tmp_path / "on.png"))
    assert _sharpness(on, mask) >= 2 * _sharpness(off, mask)
    band = np.zeros_like(mask)
    band[115:335, 190:410] = True  # the mask and its feathered edge
    np.testing.assert_array_equal(on[~band], image[~band])
    np.testing.assert_array_equal(off[~band], image[~band])


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--region", "700,0,100"], "outside"),
        (["--region", "10,10"], "LEFT,TOP,SIZE"),
        (["--region", "0,0,0"], "at least 1"),
        (["--context", "0"], "context must be above 0"),
        (["--context", "-2"], "context must be above 0"),
        (["--detail-steps", "many"], "bad detail step"),
    ],
)
def test_bad_squares_are_one_line_errors_and_write_nothing(tmp_path, capsys, extra, message):
    _scene(tmp_path)
    assert _inpaint(tmp_path, "out.png", *extra) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out.png").exists()


def test_a_grown_square_is_told(tmp_path, capsys):
    _scene(tmp_path)
    assert (
        _inpaint(
            tmp_path,
            "out.png",
            "--region",
            "190,115,50",
            "--detail",
            "off",
            "--steps",
            "2",
            "--upsample-steps",
            "2",
        )
        == 0
    )
    assert "grown from 50 to 200 px" in capsys.readouterr().err
