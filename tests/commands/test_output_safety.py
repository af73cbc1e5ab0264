"""``glide-studio inpaint`` never destroys a file and never loses a result (demo model, 2 steps)."""

from __future__ import annotations

import numpy as np
import png
import pytest
from PIL import Image, ImageCms

import glide_studio.core.imaging.metadata as metadata
import glide_studio.core.runtime.engine as engine_module
from glide_studio.cli import main
from glide_studio.core.imaging.files import load_image


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    mask = np.zeros((40, 48), np.uint8)
    mask[10:25, 12:30] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    return tmp_path


@pytest.fixture
def no_engine(monkeypatch):
    """Fails the test if a model is loaded: the checks must come first."""

    def load_local_backend(**_):
        raise AssertionError("the engine was loaded")

    monkeypatch.setattr(engine_module, "load_local_backend", load_local_backend)


def _args(tmp, output, *extra, image="photo.png", prompt="a red barn"):
    return [
        "inpaint",
        str(tmp / image),
        "--mask",
        str(tmp / "mask.png"),
        "--prompt",
        prompt,
        "-o",
        str(output),
        "--demo",
        "--device",
        "cpu",
        "--steps",
        "2",
        "--no-upsample",
        "--seed",
        "1",
        *extra,
    ]


def _one_error(capsys, *fragments):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("glide-studio: error:"), err
    for fragment in fragments:
        assert fragment in err[0]


@pytest.mark.parametrize("link", [None, "hard", "symbolic"])
def test_output_equal_to_the_input_is_refused(photo, capsys, no_engine, link):
    before = (photo / "photo.png").read_bytes()
    output = photo / "photo.png"
    if link == "hard":
        output = photo / "hard.png"
        output.hardlink_to(photo / "photo.png")
    elif link == "symbolic":
        output = photo / "soft.png"
        output.symlink_to(photo / "photo.png")
    assert main(_args(photo, output)) == 1
    _one_error(capsys, "is the input picture", "--overwrite")
    assert (photo / "photo.png").read_bytes() == before


def test_existing_outputs_are_refused_then_replaced_with_overwrite(photo, capsys, no_engine, monkeypatch):
    (photo / "out-1.png").write_bytes(b"precious")
    assert main(_args(photo, photo / "out.png", "--candidates", "2")) == 1
    _one_error(capsys, "out-1.png: already exists")
    assert (photo / "out-1.png").read_bytes() == b"precious" and not (photo / "out-0.png").exists()
    monkeypatch.undo()  # now the demo model may load
    assert main(_args(photo, photo / "out.png", "--candidates", "2", "--overwrite")) == 0
    assert load_image(photo / "out-1.png").size == (48, 40)


def test_an_unwritable_folder_is_found_before_any_model_loads(photo, capsys, no_engine):
    (photo / "notes.txt").write_text("a file, not a folder")
    assert main(_args(photo, photo / "notes.txt" / "out" / "x.png")) == 1
    _one_error(capsys, "notes.txt/out: cannot create the output folder")


def test_a_prompt_that_is_not_utf8_is_one_line(photo, capsys, no_engine):
    prompt = b"caf\xe9 au lait".decode("utf-8", "surrogateescape")  # how Linux hands over Latin-1 argv
    assert main(_args(photo, photo / "out.png", prompt=prompt)) == 1
    _one_error(capsys, "--prompt: not valid UTF-8")


def test_a_late_write_failure_saves_a_recovery_file(photo, capsys, monkeypatch):
    monkeypatch.setenv("GLIDE_STUDIO_DATA", str(photo / "data"))
    real_save = metadata.save_image

    def failing_save(path, *args, **kwargs):
        if path.parent == photo:
            raise PermissionError(13, "Permission denied", str(path))
        return real_save(path, *args, **kwargs)

    monkeypatch.setattr(metadata, "save_image", failing_save)
    assert main(_args(photo, photo / "out.png")) == 1
    rescued = list((photo / "data" / "recovered").iterdir())
    assert len(rescued) == 1 and rescued[0].name.startswith("out-")
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("glide-studio: error:")]
    assert len(errors) == 1 and "Traceback" not in err
    assert (
        "out.png: cannot write the result (Permission denied)" in errors[0] and str(rescued[0]) in errors[0]
    )
    assert load_image(rescued[0]).text["seed"] == "1" and not (photo / "out.png").exists()


def test_profile_exif_and_16_bits_reach_the_output(photo, capsys):
    rgb16 = np.random.default_rng(3).integers(0, 65536, (40, 48, 3)).astype(np.uint16)
    png.from_array(rgb16.reshape(40, -1), "RGB;16").save(photo / "deep.png")
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "Test Camera"
    # Pillow cannot write 16-bit RGB: add the profile and EXIF through our own 16-bit writer.
    source = load_image(photo / "deep.png")
    metadata.save_image(photo / "deep.png", source.rgb, source16=rgb16, icc_profile=icc, exif=exif.tobytes())
    assert main(_args(photo, photo / "out.png", image="deep.png")) == 0, capsys.readouterr().err
    result = load_image(photo / "out.png")
    assert result.bit_depth == 16 and result.icc_profile == icc
    assert Image.open(photo / "out.png").getexif()[0x010F] == "Test Camera"
    far = np.ones((40, 48), bool)
    far[5:30, 7:35] = False  # the mask with room for the blended seam
    assert np.array_equal(result.rgb16[far], rgb16[far])
    assert not np.array_equal(result.rgb16[~far], rgb16[~far])


def test_an_animated_gif_is_edited_on_its_first_frame_with_a_note(photo, capsys):
    frames = [Image.new("RGB", (48, 40), (80 * k, 40, 0)) for k in range(3)]
    frames[0].save(photo / "anim.gif", save_all=True, append_images=frames[1:])
    assert main(_args(photo, photo / "out.png", image="anim.gif")) == 0
    assert "anim.gif has 3 frames; only the first is edited" in capsys.readouterr().err
    assert load_image(photo / "out.png").size == (48, 40)


def test_a_planted_link_never_makes_the_cli_overwrite_another_file(photo, capsys):
    """Links at the names earlier versions wrote through, and at the output itself (--overwrite)."""
    victim = photo / "victim.txt"
    victim.write_text("precious")
    out = photo / "out.png"
    for planted in (".out.png.saving", "out.png.tmp"):
        (photo / planted).symlink_to(victim)
    assert main(_args(photo, out)) == 0
    assert victim.read_text() == "precious" and load_image(out).size == (48, 40)
    out.unlink()
    out.symlink_to(victim)
    assert main(_args(photo, out, "--overwrite")) == 0
    assert victim.read_text() == "precious", "the link is replaced, not followed"
    assert not out.is_symlink() and load_image(out).size == (48, 40)
