"""``glide-studio info``: what a picture or project holds, for people and (``--json``) for scripts."""

from __future__ import annotations

import json
import zlib

import numpy as np
import png
import pytest
from hostile_cases import (
    PARAMETERS,
    apply_edit,
    deflated_zeros,
    edited_session,
    peak_kb,
    picture,
    write_zeros,
)
from PIL import Image, ImageCms, PngImagePlugin

from glide_studio.cli import main
from glide_studio.core.editing.document import Document
from glide_studio.core.editing.file_info import FileInfoError, read_file_info
from glide_studio.core.editing.project import save_project
from glide_studio.core.editing.session import EditingSession


def test_an_edited_png_lists_each_edit_as_a_person_reads_it(tmp_path, capsys):
    session = edited_session()
    apply_edit(session, value=90)
    out = session.document.save(tmp_path / "out.png")
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "PNG, 50×40, RGB, 8 bits per channel" in text
    assert "Edits recorded: 2" in text
    assert "1. a red square" in text and "2. a red square" in text
    assert "seed 7 · ddim, 50 steps · guidance 3 · model base-inpaint" in text
    assert "region 40×40 at (0, 0) · mask 20×10 at (5, 10), 200 pixels" in text


def test_json_for_scripts(tmp_path, capsys):
    out = edited_session().document.save(tmp_path / "out.png")
    assert main(["info", "--json", str(out)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["width"], data["height"], data["bit_depth"]) == (50, 40, 8)
    (edit,) = data["edits"]
    assert edit["prompt"] == "a red square" and edit["seed"] == "7" and edit["steps"] == "50"
    assert edit["region"] == [0, 0, 40, 40] and edit["mask_box"] == [5, 10, 25, 20]
    assert edit["mask_pixels"] == 200 and edit["model"] == "base-inpaint"


def test_a_project_a_16_bit_png_with_a_profile_and_a_jpeg(tmp_path, capsys):
    session = edited_session()
    project = save_project(session, tmp_path / "work.glide")
    info = read_file_info(project)
    assert info.kind == "GLIDE Studio project" and len(info.edits) == 1 and info.edits[0].seed == "7"

    deep = tmp_path / "deep.png"
    rows = np.random.default_rng(1).integers(0, 65536, (8, 10 * 4), dtype=np.uint16)
    png.Writer(10, 8, greyscale=False, alpha=True, bitdepth=16).write(deep.open("wb"), rows.tolist())
    info = read_file_info(deep)
    assert (info.bit_depth, info.colour) == (16, "RGB with alpha")

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    jpeg = tmp_path / "photo.jpg"
    Image.fromarray(picture()).save(jpeg, icc_profile=srgb)
    info = read_file_info(jpeg)
    assert info.kind == "JPEG" and info.colour_profile and "sRGB" in info.colour_profile


def test_another_tools_parameters_are_shown(tmp_path):
    chunks = PngImagePlugin.PngInfo()
    chunks.add_text(
        "parameters", "a castle\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512"
    )
    path = tmp_path / "a1111.png"
    Image.fromarray(picture()).save(path, pnginfo=chunks)
    (edit,) = read_file_info(path).edits
    assert (edit.prompt, edit.seed, edit.steps, edit.guidance, edit.source) == (
        "a castle",
        "42",
        "20",
        "7",
        "parameters",
    )


def _png_with_chunks(path, *chunks: tuple[bytes, bytes]):
    """A small valid PNG with extra chunks placed before the pixel data."""
    buffer = path.with_suffix(".tmp.png")
    Image.fromarray(picture()).save(buffer)
    data = buffer.read_bytes()
    cut = data.index(b"IDAT") - 4
    extra = b"".join(
        len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")
        for kind, body in chunks
    )
    path.write_bytes(data[:cut] + extra + data[cut:])
    buffer.unlink()
    return path


@pytest.mark.parametrize(
    "case",
    ["empty", "text", "truncated", "huge-length", "folder", "missing"],
)
def test_a_damaged_file_is_one_line_and_exit_1(tmp_path, capsys, case):
    path = tmp_path / "bad.png"
    good = edited_session().document.save(tmp_path / "good.png").read_bytes()
    if case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path.write_text("hello")
    elif case == "truncated":
        path.write_bytes(good[:40])
    elif case == "huge-length":
        path.write_bytes(good[:8] + b"\xff\xff\xff\xf0IHDR" + b"\0" * 20)
    elif case == "folder":
        path.mkdir()
    assert main(["info", str(path)]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("glide-studio: error:") and str(path) in lines[0]
    assert "Traceback" not in captured.err and captured.out == ""


def test_records_that_lie_are_skipped_and_the_rest_shown(tmp_path):
    good = json.loads(edited_session().document.text_chunks()["glide_studio:edits"])
    bomb = dict(good[0])
    bomb["record"] = dict(bomb["record"], mask_box=[0, 0, 60000, 60000])
    entries = [good[0], bomb, "not an edit", {"prompt": {"deep": [1]}}]
    path = _png_with_chunks(
        tmp_path / "liar.png", (b"tEXt", b"glide_studio:edits\0" + json.dumps(entries).encode())
    )
    info = read_file_info(path)
    assert [e.prompt for e in info.edits] == ["a red square", "a red square"]
    assert info.edits[1].mask_box is None, "the lying record is dropped, its parameters kept"
    assert any("without a readable regeneration record" in note for note in info.notes)


def test_control_characters_from_the_file_are_escaped(tmp_path, capsys):
    path = _png_with_chunks(tmp_path / "esc.png", (b"tEXt", b"Comment\0\x1b[2Jgotcha\x07"))
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\\x1b[2Jgotcha\\x07" in out


def test_a_zip_bomb_project_and_a_text_bomb_png_stay_small(tmp_path):
    """Reading a few-megabyte hostile file never holds more than about 1 GB (here: far less)."""
    session = EditingSession(Document(picture()))
    files_path = save_project(session, tmp_path / "ok.glide")
    import zipfile

    with zipfile.ZipFile(files_path) as zf:
        files = {name: zf.read(name) for name in zf.namelist()}
    bomb = tmp_path / "bomb.glide"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, data in files.items():
            if name != "original.png":
                zf.writestr(name, data)
        write_zeros(zf, "original.png", 1200 * 1024**2)  # 1.2 GB inflated, ~1 MB on disk
    text_bomb = _png_with_chunks(tmp_path / "text.png", (b"zTXt", b"Comment\0\0" + deflated_zeros(1024**3)))
    growth, output = peak_kb(
        f"""
        from glide_studio.core.editing.file_info import read_file_info, FileInfoError
        from glide_studio.core.editing.project import load_project, ProjectError
        try:
            load_project({str(bomb)!r})
        except ProjectError as exc:
            print("refused", exc)
        info = read_file_info({str(text_bomb)!r})
        print("notes", info.notes)
        """
    )
    assert "refused" in output and "more than" in output
    assert "damaged zTXt" in output
    assert growth < 600 * 1024, f"the peak memory was {growth // 1024} MiB"


def test_the_parameters_of_a_recorded_edit_round_trip(tmp_path):
    out = edited_session().document.save(tmp_path / "out.png")
    (edit,) = read_file_info(out).edits
    assert {k: edit.parameters[k] for k in PARAMETERS} == PARAMETERS


def test_not_a_picture(tmp_path):
    path = tmp_path / "notes.glide"
    path.write_text("not a zip")
    with pytest.raises(FileInfoError, match=r"notes\.glide"):
        read_file_info(path)
