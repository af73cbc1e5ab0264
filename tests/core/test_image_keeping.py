"""Saving keeps what the source had: colour profile, EXIF, 16-bit samples, text chunks."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import png
import pytest
from PIL import Image, ImageCms, ImageOps

from glide_studio.core.imaging.files import load_image, orient, to_8bit
from glide_studio.core.imaging.metadata import merge_16bit, save_image

ORIENTATION = 0x0112


@pytest.fixture(scope="module")
def icc():
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "Test Camera"  # Make
    return exif


def _read_png16(path) -> np.ndarray:
    """An independent decoder (pypng) for what the file really stores."""
    width, height, rows, meta = png.Reader(filename=str(path)).asDirect()
    assert meta["bitdepth"] == 16
    return np.vstack([np.asarray(row, np.uint16) for row in rows]).reshape(height, width, meta["planes"])


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_icc_profile_and_exif_survive_a_save(tmp_path, icc, suffix):
    Image.new("RGB", (6, 4), (200, 10, 30)).save(tmp_path / "src.jpg", icc_profile=icc, exif=_exif(6))
    source = load_image(tmp_path / "src.jpg")
    assert source.icc_profile == icc and source.size == (4, 6)
    saved = save_image(
        tmp_path / f"out{suffix}",
        source.rgb,
        info={"prompt": "ü"},
        icc_profile=source.icc_profile,
        exif=source.exif,
    )
    again = load_image(saved)
    assert again.icc_profile == icc and again.size == (4, 6)
    exif = Image.open(saved).getexif()
    assert exif[ORIENTATION] == 1 and exif[0x010F] == "Test Camera"
    if suffix == ".png":
        assert again.text["prompt"] == "ü"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_is_applied_once_and_recorded_as_1(tmp_path, orientation):
    rgb = np.random.default_rng(orientation).integers(0, 256, (5, 8, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "o.png", exif=_exif(orientation))
    raw = Image.open(tmp_path / "o.png")
    expected = np.asarray(ImageOps.exif_transpose(raw))
    loaded = load_image(tmp_path / "o.png")
    assert np.array_equal(loaded.rgb, expected)
    assert np.array_equal(orient(rgb, orientation), expected)
    exif = Image.Exif()
    exif.load(loaded.exif)
    assert exif[ORIENTATION] == 1 and exif[0x010F] == "Test Camera"


def _random16(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 65536, shape).astype(np.uint16)


def test_16bit_png_round_trip_keeps_untouched_samples_exact(tmp_path, icc):
    rgba16 = _random16((9, 11, 4))
    png.from_array(rgba16.reshape(9, -1), "RGBA;16").save(tmp_path / "deep.png")
    source = load_image(tmp_path / "deep.png")
    assert source.bit_depth == 16 and np.array_equal(source.rgb16, rgba16[..., :3])
    assert np.array_equal(source.alpha16, rgba16[..., 3])
    assert np.array_equal(source.rgb, np.round(rgba16[..., :3] / 257).astype(np.uint8))

    edited = source.rgb.copy()
    edited[2:4, 3:6] = (source.rgb[2:4, 3:6].astype(int) + 100) % 256  # every sample changes
    info = {"prompt": "a barn", "seed": "3", "glide_studio:edits": '[{"seed": "3"}]'}
    out = save_image(
        tmp_path / "out.png",
        edited,
        alpha=source.alpha,
        info=info,
        icc_profile=icc,
        source16=source.rgb16,
        alpha16=source.alpha16,
    )
    stored = _read_png16(out)
    kept = np.ones((9, 11), bool)
    kept[2:4, 3:6] = False
    assert np.array_equal(stored[kept], rgba16[kept])
    assert np.array_equal(stored[~kept][:, :3], edited[~kept].astype(np.uint16) * 257)
    again = load_image(out)
    assert again.bit_depth == 16 and np.array_equal(again.rgb16, stored[..., :3])
    assert again.icc_profile == icc and again.text["glide_studio:edits"] == '[{"seed": "3"}]'
    assert again.text["prompt"] == "a barn" and again.text["Software"] == "GLIDE Studio"


def test_merge_16bit_rules_and_errors():
    source16 = np.array([[[0, 257, 65535], [1000, 40000, 128]]], np.uint16)
    edited = to_8bit(source16).copy()
    edited[0, 1, 0] = 200
    merged = merge_16bit(edited, source16)
    assert merged[0, 0].tolist() == [0, 257, 65535]
    assert merged[0, 1].tolist() == [200 * 257, 40000, 128]
    with pytest.raises(ValueError, match="must match"):
        merge_16bit(edited[:, :1], source16)


def _paeth_png(path, pixels16: np.ndarray) -> None:
    """A 16-bit RGB PNG whose every row uses the Paeth filter (as photo editors write)."""
    height, width, planes = pixels16.shape
    raw = pixels16.astype(">u2").reshape(height, -1).view(np.uint8).astype(int)
    bpp = 2 * planes
    data, prior = bytearray(), np.zeros(raw.shape[1], int)
    for row in raw:
        data.append(4)
        for x, value in enumerate(row):
            a, b = (row[x - bpp] if x >= bpp else 0), prior[x]
            c = prior[x - bpp] if x >= bpp else 0
            p = a + b - c
            predictor = min((abs(p - a), 0, a), (abs(p - b), 1, b), (abs(p - c), 2, c))[2]
            data.append((value - predictor) % 256)
        prior = row
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    with open(path, "wb") as out:
        png.write_chunks(out, [(b"IHDR", header), (b"IDAT", zlib.compress(bytes(data))), (b"IEND", b"")])


def test_filtered_16bit_png_is_read_exactly(tmp_path):
    pixels = _random16((7, 10, 3), seed=5)
    _paeth_png(tmp_path / "paeth.png", pixels)
    assert np.array_equal(_read_png16(tmp_path / "paeth.png"), pixels)
    assert np.array_equal(load_image(tmp_path / "paeth.png").rgb16, pixels)


def test_16bit_grey_with_alpha_is_read_exactly(tmp_path):
    grey_alpha = _random16((4, 6, 2), seed=4)
    png.from_array(grey_alpha.reshape(4, -1), "LA;16").save(tmp_path / "la.png")
    loaded = load_image(tmp_path / "la.png")
    assert np.array_equal(loaded.rgb16, np.repeat(grey_alpha[..., :1], 3, axis=2))
    assert np.array_equal(loaded.alpha16, grey_alpha[..., 1])
    assert np.array_equal(loaded.alpha, to_8bit(grey_alpha[..., 1]))


def test_16bit_grey_and_exif_orientation(tmp_path):
    grey = _random16((6, 9), seed=2)
    Image.fromarray(grey).save(tmp_path / "g.png", exif=_exif(6))
    loaded = load_image(tmp_path / "g.png")
    assert loaded.rgb16.shape == (9, 6, 3)
    assert np.array_equal(loaded.rgb16[..., 1], np.rot90(grey, k=-1))
    assert np.array_equal(loaded.rgb, to_8bit(loaded.rgb16))


def test_8bit_files_carry_no_16bit_copy(tmp_path):
    Image.new("RGB", (3, 3)).save(tmp_path / "p.png")
    loaded = load_image(tmp_path / "p.png")
    assert loaded.rgb16 is None and loaded.bit_depth == 8 and loaded.frames == 1
    assert loaded.icc_profile is None and loaded.exif is None


@pytest.mark.parametrize("suffix", [".gif", ".webp", ".tiff"])
def test_multi_frame_files_report_their_frames(tmp_path, suffix):
    frames = [Image.new("RGB", (8, 8), (60 * k, 0, 0)) for k in range(3)]
    frames[0].save(tmp_path / f"anim{suffix}", save_all=True, append_images=frames[1:])
    loaded = load_image(tmp_path / f"anim{suffix}")
    assert loaded.frames == 3 and loaded.rgb.shape == (8, 8, 3)


def test_a_failed_save_leaves_the_existing_file(tmp_path):
    target = tmp_path / "keep.png"
    target.write_bytes(b"precious")
    with pytest.raises(ValueError, match="unsupported file type"):
        save_image(tmp_path / "keep.bmp", np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match="must match"):
        save_image(target, np.zeros((2, 2, 3), np.uint8), source16=np.zeros((3, 2, 3), np.uint16))
    assert target.read_bytes() == b"precious" and sorted(tmp_path.iterdir()) == [target]
