"""Reading photos and masks in every common form."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from glide_studio.core.imaging.files import ImageError, load_image, load_mask
from glide_studio.core.pipeline.tensors import from_tensor, to_tensor


def test_modes_become_rgb(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (13, 17, 3), dtype=np.uint8)
    cases = {
        "rgb.png": Image.fromarray(rgb),
        "l.png": Image.fromarray(rgb[..., 0]),
        "p.png": Image.fromarray(rgb).convert("P"),
        "rgba.png": Image.fromarray(np.dstack([rgb, np.full((13, 17), 200, np.uint8)])),
        "i16.png": Image.fromarray(rgb[..., 0].astype(np.uint16) * 257),
    }
    for name, image in cases.items():
        image.save(tmp_path / name)
        loaded = load_image(tmp_path / name)
        assert loaded.rgb.shape == (13, 17, 3) and loaded.rgb.dtype == np.uint8, name
    assert np.array_equal(load_image(tmp_path / "rgb.png").rgb, rgb)
    assert np.array_equal(load_image(tmp_path / "i16.png").rgb[..., 0], rgb[..., 0])
    assert load_image(tmp_path / "rgba.png").alpha is not None
    assert load_image(tmp_path / "rgb.png").alpha is None


def test_exif_rotation_is_applied(tmp_path):
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    image.save(tmp_path / "rotated.jpg", exif=exif)
    assert load_image(tmp_path / "rotated.jpg").rgb.shape == (40, 20, 3)


def test_png_text_chunks_are_read(tmp_path):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", "a corgi")
    Image.new("RGB", (4, 4)).save(tmp_path / "t.png", pnginfo=info)
    assert load_image(tmp_path / "t.png").text["prompt"] == "a corgi"


def test_bad_files_have_clear_errors(tmp_path):
    (tmp_path / "notes.png").write_text("hello")
    with pytest.raises(ImageError, match="not an image"):
        load_image(tmp_path / "notes.png")
    with pytest.raises(ImageError, match="not found"):
        load_image(tmp_path / "missing.png")
    Image.new("RGB", (64, 64), (9, 9, 9)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="damaged or truncated"):
        load_image(tmp_path / "cut.png")


def test_masks_white_or_opaque_means_regenerate(tmp_path):
    values = np.zeros((4, 6), np.uint8)
    values[1:3, 2:5] = 255
    Image.fromarray(values).save(tmp_path / "m.png")
    mask = load_mask(tmp_path / "m.png", size=(6, 4))
    assert mask.sum() == 6 and mask[1, 2] and not mask[0, 0]
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[0, 0, 3] = 255
    Image.fromarray(rgba).save(tmp_path / "alpha.png")
    assert load_mask(tmp_path / "alpha.png").sum() == 1
    with pytest.raises(ImageError, match="the mask is 6×4 but the image is 5×4"):
        load_mask(tmp_path / "m.png", size=(5, 4))


def test_tensor_round_trip_is_exact():
    rgb = np.random.default_rng(2).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    t = to_tensor(rgb)
    assert t.shape == (1, 3, 5, 7) and float(t.min()) >= -1 and float(t.max()) <= 1
    assert np.array_equal(from_tensor(t)[0], rgb)
