"""The Qt-free document: mask patches, applied edits, image states and saving."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from glide_studio.core.editing.document import EDITS_KEY, Document
from glide_studio.core.editing.patches import MaskPatch
from glide_studio.core.generation.request import RequestError
from glide_studio.core.imaging.files import ImageError, load_image
from glide_studio.core.imaging.region import Box, region_of_interest


def _rgb(width=64, height=48, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _square(doc: Document, box: Box) -> None:
    doc.paint(box, np.ones((box.height, box.width), bool), True)


def test_rejects_what_is_not_an_rgb_picture():
    with pytest.raises(ValueError):
        Document(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError):
        Document(np.zeros((0, 4, 3), np.uint8))


def test_views_are_read_only_and_the_image_is_a_copy():
    rgb = _rgb()
    doc = Document(rgb)
    rgb[:] = 0
    assert doc.rgb.any()
    with pytest.raises(ValueError):
        doc.rgb[0, 0] = 1
    with pytest.raises(ValueError):
        doc.mask[0, 0] = True


def test_stroke_patch_is_the_changed_box_only_and_round_trips():
    doc = Document(_rgb(400, 300))
    snapshot = doc.mask_snapshot()
    _square(doc, Box(100, 50, 140, 70))
    patch = doc.capture_mask_change(snapshot, Box(80, 40, 200, 100))
    assert patch is not None and patch.box == Box(100, 50, 140, 70)
    assert patch.nbytes == 2 * (40 * 20 // 8)
    after = doc.mask.copy()
    doc.apply_mask_patch(patch, forward=False)
    assert not doc.mask.any() and doc.mask_box() is None
    doc.apply_mask_patch(patch, forward=True)
    np.testing.assert_array_equal(doc.mask, after)
    assert doc.mask_box() == Box(100, 50, 140, 70)
    assert doc.region_of_interest() == region_of_interest(Box(100, 50, 140, 70), 400, 300)


def test_no_change_gives_no_patch():
    doc = Document(_rgb())
    assert doc.capture_mask_change(doc.mask_snapshot(), Box(0, 0, 10, 10)) is None
    assert doc.fill_patch(False) is None
    assert MaskPatch.capture(np.zeros((3, 3), bool), np.zeros((3, 3), bool), Box(0, 0, 3, 3)) is None


def test_fill_and_invert():
    doc = Document(_rgb())
    patch = doc.fill_patch(True)
    assert patch is not None and not doc.mask.any(), "a fill patch is prepared, not applied"
    doc.apply_mask_patch(patch)
    assert doc.mask.all()
    doc.invert_mask()
    assert not doc.mask.any()
    _square(doc, Box(5, 5, 10, 10))
    clear = doc.fill_patch(False)
    assert clear is not None and clear.box == Box(5, 5, 10, 10)


def test_paint_clips_to_the_image():
    doc = Document(_rgb(20, 10))
    doc.paint(Box(15, 5, 30, 20), np.ones((15, 15), bool), True)
    assert doc.mask[5:, 15:].all() and doc.mask.sum() == 25


def test_edit_changes_only_its_pixels_clears_the_mask_and_undoes():
    rgb = _rgb(80, 60)
    doc = Document(rgb)
    _square(doc, Box(10, 10, 30, 30))
    result = rgb.copy()
    result[12:28, 14:26] = 7
    edit = doc.make_edit(result[5:40, 5:40], Box(5, 5, 40, 40), {"prompt": "a cat", "seed": "3"})
    assert edit is not None and edit.image.box == Box(14, 12, 26, 28), "shrunk to the pixels that differ"
    assert edit.prompt == "a cat" and edit.seed == 3 and edit.thumbnail.shape == (16, 12, 3)
    assert not doc.modified
    doc.apply_edit(edit)
    np.testing.assert_array_equal(doc.rgb, result)
    assert not doc.mask.any() and doc.modified and doc.edits == (edit,)
    doc.revert_edit(edit)
    np.testing.assert_array_equal(doc.rgb, rgb)
    assert doc.mask[10:30, 10:30].all() and not doc.modified and doc.edits == ()
    with pytest.raises(ValueError):
        doc.revert_edit(edit)
    assert doc.make_edit(rgb, Box(0, 0, 80, 60), {}) is None, "an identical result is no edit"


def test_image_states_come_back_with_undo():
    doc = Document(_rgb())
    result = doc.rgb.copy()
    result[0, 0] = result[0, 0] ^ 255
    first = doc.make_edit(result[:1, :1], Box(0, 0, 1, 1), {})
    doc.apply_edit(first)
    state = doc.image_state
    doc.revert_edit(first)
    assert doc.image_state == 0
    doc.apply_edit(first)
    assert doc.image_state == state


def test_request_uses_the_current_image_and_mask():
    doc = Document(_rgb())
    with pytest.raises(RequestError, match="empty"):
        doc.request("a dog")
    _square(doc, Box(0, 0, 8, 8))
    request = doc.request("a dog", candidates=2, seed=5)
    assert request.mask.sum() == 64 and request.seeds == (5, 6)


def test_save_png_with_parameters_then_reopen(tmp_path):
    source = tmp_path / "in.png"
    Image.fromarray(_rgb()).save(source)
    doc = Document.open(source)
    _square(doc, Box(4, 4, 12, 12))
    result = doc.rgb.copy()
    result[4:12, 4:12] = 0
    doc.apply_edit(doc.make_edit(result, Box(0, 0, 64, 48), {"prompt": "a hole", "seed": "1"}))
    out = doc.save(tmp_path / "out.png")
    assert doc.path == out and not doc.modified
    loaded = load_image(out)
    np.testing.assert_array_equal(loaded.rgb, doc.rgb)
    assert loaded.text["prompt"] == "a hole" and loaded.text["Software"] == "GLIDE Studio"
    assert loaded.text["parameters"].startswith("a hole\n"), "the summary other tools read"
    again = Document.open(out)
    _square(again, Box(20, 20, 30, 30))
    result = again.rgb.copy()
    result[20:30, 20:30] = 255
    again.apply_edit(again.make_edit(result, Box(0, 0, 64, 48), {"prompt": "a square", "seed": "2"}))
    again.save(tmp_path / "out2.png")
    history = json.loads(load_image(tmp_path / "out2.png").text[EDITS_KEY])
    assert [e["prompt"] for e in history] == ["a hole", "a square"], "edits from earlier sessions are kept"


def test_export_formats_alpha_and_safe_failure(tmp_path):
    alpha = np.full((48, 64), 200, np.uint8)
    doc = Document(_rgb(), alpha=alpha)
    webp = doc.save(tmp_path / "a.webp", remember=False)
    assert load_image(webp).format == "WEBP" and doc.path is None
    jpeg = doc.save(tmp_path / "a.jpg", remember=False)
    assert load_image(jpeg).alpha is None
    png = doc.save(tmp_path / "a.png")
    np.testing.assert_array_equal(load_image(png).alpha, alpha)
    with pytest.raises(ValueError, match="file type"):
        doc.save(tmp_path / "a.gif")
    png.write_bytes(b"old contents")
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(OSError):
        doc.save(tmp_path / "folder.png", remember=False)
    assert png.read_bytes() == b"old contents"
    assert not list(tmp_path.glob(".*.saving")), "no temporary file is left behind"


def test_open_reports_bad_files(tmp_path):
    bad = tmp_path / "x.png"
    bad.write_bytes(b"nope")
    with pytest.raises(ImageError):
        Document.open(bad)


def test_saving_keeps_16_bits_and_the_icc_profile(tmp_path):
    import png  # pypng: Pillow cannot write 16-bit RGB
    from PIL import ImageCms

    rng = np.random.default_rng(3)
    deep = rng.integers(0, 65536, (24, 32, 3), dtype=np.uint16)
    source = tmp_path / "deep.png"
    with source.open("wb") as handle:
        png.Writer(32, 24, greyscale=False, bitdepth=16).write(handle, deep.reshape(24, -1).tolist())
    doc = Document.open(source)
    assert doc.source16 is not None
    _square(doc, Box(4, 4, 8, 8))
    doc.apply_edit(doc.make_edit(np.zeros((4, 4, 3), np.uint8), Box(4, 4, 8, 8), {"prompt": "x"}))
    out = doc.save(tmp_path / "out.png")
    loaded = load_image(out)
    assert loaded.rgb16 is not None
    untouched = np.ones((24, 32), bool)
    untouched[4:8, 4:8] = False
    np.testing.assert_array_equal(loaded.rgb16[untouched], deep[untouched])
    assert (loaded.rgb16[4:8, 4:8] == 0).all()

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    tagged = tmp_path / "tagged.png"
    Image.fromarray(_rgb()).save(tagged, icc_profile=icc)
    doc = Document.open(tagged)
    assert load_image(doc.save(tmp_path / "tagged-out.png")).icc_profile == icc
