"""Hostile and damaged files: never a crash, never a memory blow-up, never a lost bit.

A regression corpus of the cases a sweep of bad inputs found (planted links,
16-bit pictures through Save, projects and crash recovery, foreign text
chunks, damaged autosaves, hostile projects and PNG records, malformed
checkpoint options, messages in a user's words), then property-based tests
(Hypothesis) that build hostile projects, PNG records, autosave folders and
checkpoint option dicts and assert the project's own error, bounded memory and
no file written outside the target. The fuzzing is bounded (few examples, no
deadline flakiness) so the whole suite stays within minutes on two cores.
"""

from __future__ import annotations

import contextlib
import json
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
import png
import pytest
from hostile_cases import (
    apply_edit,
    edited_session,
    peak_kb,
    picture,
    project_files,
    with_manifest,
    write_zeros,
    write_zip,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from glide_studio.core.editing import autosave
from glide_studio.core.editing.autosave import Autosaver, find_recoverable
from glide_studio.core.editing.document import EDITS_KEY, Document, read_recorded_edits
from glide_studio.core.editing.patches import EditRecord
from glide_studio.core.editing.project import ProjectError, load_project, save_project
from glide_studio.core.editing.session import EditingSession
from glide_studio.core.imaging import files as image_files
from glide_studio.core.imaging.files import ImageError, load_image
from glide_studio.core.imaging.metadata import save_image
from glide_studio.core.imaging.region import Box
from glide_studio.core.imaging.safe_write import atomic_write, sweep_temporaries

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# -- 1. writes never follow links ---------------------------------------------------------------


def _plant_links(folder: Path, name: str, victim: Path) -> None:
    """Links at every name an older version would have written through."""
    for planted in (f".{name}.saving", f"{name}.tmp", f".{name}.tmp"):
        (folder / planted).symlink_to(victim)


def test_a_save_never_writes_through_a_planted_link(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    _plant_links(out, "result.png", victim)
    save_image(out / "result.png", picture())
    _plant_links(out, "work.glide", victim)
    save_project(edited_session(), out / "work.glide")
    (out / "linked.png").symlink_to(victim)  # the target itself is a link: replaced, not followed
    save_image(out / "linked.png", picture())
    assert victim.read_text() == "precious"
    assert not (out / "linked.png").is_symlink() and load_image(out / "linked.png").size == (50, 40)
    assert load_project(out / "work.glide").document.edits


def test_an_autosave_never_writes_through_a_planted_link(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    folder = tmp_path / "autosave"
    folder.mkdir()
    saver = Autosaver(folder=folder, synchronous=True)
    _plant_links(folder, saver.project.name, victim)
    _plant_links(folder, saver.info.name, victim)
    assert saver.tick(edited_session(), force=True)
    assert saver.error is None and victim.read_text() == "precious"
    saver.remove()


def test_temporary_files_are_private_names_and_removed_on_failure(tmp_path):
    target = tmp_path / "keep.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_write(target) as handle:
        handle.write(b"half")
        raise RuntimeError("killed")
    assert target.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [target]
    save_image(target, picture())
    mask = os.umask(0o022)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask, "the mode a plain open() would give"


def test_leftovers_of_killed_writes_are_swept(tmp_path):
    stale = tmp_path / ".out.png.k3j4h5g6.saving"
    fresh = tmp_path / ".out.png.a1b2c3d4.saving"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    os.utime(stale, (1, 1))
    foreign = tmp_path / ".hidden-notes.saving-not-ours"
    foreign.write_bytes(b"x")
    save_image(tmp_path / "out.png", picture())
    assert not stale.exists() and fresh.exists() and foreign.exists()
    assert sweep_temporaries(tmp_path, older_than=-1) == 1 and not fresh.exists()


def test_a_dead_autosaves_temporary_files_are_swept(tmp_path):
    folder = tmp_path / "autosave"
    folder.mkdir()
    dead = folder / ".session-4242-17.glide.x7y8z9w0.saving"
    dead.write_bytes(b"half a project")
    legacy = folder / ".session-4243-18.glide.saving"  # the fixed name earlier versions left behind
    legacy.write_bytes(b"half a project")
    (folder / "session-4242-17.lock").write_bytes(b"")  # its lock is free: the writer is gone
    saver = Autosaver(folder=folder, synchronous=True)
    saver.tick(edited_session(), force=True)
    ours = folder / f".{saver.project.name}.q1w2e3r4.saving"
    ours.write_bytes(b"being written")
    find_recoverable(folder)
    assert not dead.exists() and not legacy.exists() and ours.exists(), "only a dead session's leftovers go"
    saver.remove()


# -- 2. sixteen bits everywhere -----------------------------------------------------------------


def _png16(path: Path, rgb16: np.ndarray, alpha16: np.ndarray | None) -> Path:
    pixels = rgb16 if alpha16 is None else np.dstack([rgb16, alpha16])
    height, width, planes = pixels.shape
    with path.open("wb") as handle:
        png.Writer(width, height, greyscale=False, alpha=planes == 4, bitdepth=16).write(
            handle, pixels.reshape(height, -1).tolist()
        )
    return path


@pytest.fixture
def deep_picture(tmp_path):
    rng = np.random.default_rng(3)
    rgb16 = rng.integers(0, 65536, (40, 50, 3), dtype=np.uint16)
    alpha16 = rng.integers(0, 65536, (40, 50), dtype=np.uint16)
    return _png16(tmp_path / "deep.png", rgb16, alpha16), rgb16, alpha16


def _untouched(out: Path, rgb16, alpha16, box: Box) -> None:
    loaded = load_image(out)
    keep = np.ones(rgb16.shape[:2], bool)
    keep[box.slices] = False
    assert loaded.bit_depth == 16 and loaded.alpha16 is not None
    np.testing.assert_array_equal(loaded.rgb16[keep], rgb16[keep])
    np.testing.assert_array_equal(loaded.alpha16, alpha16), "every alpha value exact"


def test_save_keeps_a_16_bit_alpha_channel_exact(tmp_path, deep_picture):
    path, rgb16, alpha16 = deep_picture
    session = EditingSession(Document.open(path))
    apply_edit(session)
    out = session.document.save(tmp_path / "saved.png")
    _untouched(out, rgb16, alpha16, Box(5, 10, 25, 20))


def test_project_reopen_and_save_keep_16_bits(tmp_path, deep_picture):
    path, rgb16, alpha16 = deep_picture
    session = EditingSession(Document.open(path))
    apply_edit(session)
    session.resize(session.document.extension(0, 0, 6, 0), forward=True)
    reopened = load_project(save_project(session, tmp_path / "work.glide"))
    reopened.undo()  # back to before the extension: the edit stays
    out = reopened.document.save(tmp_path / "again.png")
    _untouched(out, rgb16, alpha16, Box(5, 10, 25, 20))


def test_crash_restore_and_save_keep_16_bits(tmp_path, deep_picture):
    path, rgb16, alpha16 = deep_picture
    session = EditingSession(Document.open(path))
    apply_edit(session)
    folder = tmp_path / "autosave"
    Autosaver(folder=folder, pid=2**22 + 99, synchronous=True).tick(session, force=True)
    (found,) = find_recoverable(folder)
    restored = found.restore()
    out = restored.document.save(tmp_path / "restored.png")
    _untouched(out, rgb16, alpha16, Box(5, 10, 25, 20))


# -- 3. foreign text chunks ---------------------------------------------------------------------


def _png_with(path: Path, chunks: list[tuple[bytes, bytes]]) -> Path:
    Image.fromarray(picture()).save(path)
    data = path.read_bytes()
    cut = data.index(b"IDAT") - 4
    extra = b"".join(
        len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")
        for kind, body in chunks
    )
    path.write_bytes(data[:cut] + extra + data[cut:])
    return path


@pytest.mark.parametrize(
    ("key", "kept"),
    [("Beschreibung\xe4", True), ("k" * 80, False), ("two\nlines", False), (" padded", False)],
)
def test_foreign_text_keys_never_block_a_save(tmp_path, key, kept):
    source = _png_with(tmp_path / "in.png", [(b"tEXt", key.encode("latin-1") + b"\0value")])
    doc = Document.open(source)
    assert doc.text[key] == "value"
    out = doc.save(tmp_path / "out.png")
    assert (key in load_image(out).text) == kept
    assert doc.dropped_text == (() if kept else (key,)), "what was dropped is said"


def test_a_2_mb_ztxt_workflow_opens(tmp_path):
    workflow = json.dumps({"nodes": [{"id": k, "widgets": ["x" * 50] * 4} for k in range(9000)]})
    assert len(workflow) > 2_000_000
    chunk = b"workflow\0\0" + zlib.compress(workflow.encode())
    source = _png_with(tmp_path / "comfy.png", [(b"zTXt", chunk)])
    doc = Document.open(source)
    assert doc.text["workflow"] == workflow
    assert load_image(doc.save(tmp_path / "out.png")).text["workflow"] == workflow


# -- 4. autosave that cannot trap the user ------------------------------------------------------


def _autosave_pair(folder: Path, stem: str, info: object, *, project: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.json").write_text(info if isinstance(info, str) else json.dumps(info))
    if project:
        save_project(edited_session(), folder / f"{stem}.glide")


@pytest.mark.parametrize(
    "info",
    [
        {"pid": 4194309, "title": 3, "saved_at": 0, "edits": 1},
        {"pid": 4194309, "saved_at": "yesterday"},
        {"pid": 4194309, "saved_at": 1e300},
        '{"pid": 4194309, "saved_at": 1e999}',
        {"pid": 4194309, "edits": {"1": 2}},
        {"pid": 4194309, "edits": 10**30},
        {"pid": "4194309"},
        [1, 2, 3],
        "{not json",
        '{"a":' * 5000 + "1" + "}" * 5000,
        "\xff\xfe",
    ],
)
def test_a_damaged_info_file_is_offered_as_cannot_be_restored(tmp_path, info):
    _autosave_pair(tmp_path, "session-5-1", info)
    found = find_recoverable(tmp_path)
    if found[0].problem is None:  # some damage does not matter (a missing title, a pid as text)
        assert found[0].restore().document.edits
    else:
        assert "cannot be restored" in found[0].problem
        with pytest.raises(ProjectError):
            found[0].restore()
    found[0].discard()
    assert find_recoverable(tmp_path) == []


def test_a_damaged_autosave_project_is_offered_and_refused_with_a_message(tmp_path):
    _autosave_pair(tmp_path, "session-6-1", {"pid": 2**22 + 6, "saved_at": 1.0, "edits": 1}, project=False)
    (tmp_path / "session-6-1.glide").write_bytes(b"PK\x03\x04 garbage")
    (found,) = find_recoverable(tmp_path)
    with pytest.raises(ProjectError, match=r"session-6-1\.glide"):
        found.restore()


def test_a_reused_pid_does_not_hide_a_crashed_session(tmp_path):
    """The info names our own (live) pid, as a reused pid would; the free lock says it is dead."""
    _autosave_pair(tmp_path, "session-7-1", {"pid": os.getpid(), "saved_at": 1.0, "edits": 1})
    (tmp_path / "session-7-1.lock").write_bytes(b"")
    (found,) = find_recoverable(tmp_path)
    assert found.problem is None and found.restore().document.edits


def test_a_live_session_is_never_offered(tmp_path):
    saver = Autosaver(folder=tmp_path, synchronous=True)
    saver.tick(edited_session(), force=True)
    assert saver.lock.is_file() and find_recoverable(tmp_path) == []
    saver.remove()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("problem", ["file", "unwritable"])
def test_a_data_folder_that_cannot_be_used_gives_one_message(tmp_path, problem):
    data = tmp_path / "data"
    if problem == "file":
        data.write_text("not a folder")
    else:
        data.mkdir()
        data.chmod(0o500)
        if os.access(data, os.W_OK):
            pytest.skip("running as root: every folder is writable")
    saver = Autosaver(folder=data / "autosave", synchronous=True)
    session = edited_session()
    for _ in range(3):
        saver.tick(session, force=True)  # never raises
    assert saver.error is not None and "save your work by hand" in saver.error
    if problem == "file":
        assert "is a file, not a folder" in saver.error
    assert find_recoverable(data / "autosave") == []
    saver.remove()  # never raises either


# -- 5. projects and PNG records refuse hostile content with a message --------------------------


@pytest.fixture(scope="module")
def good_project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("project")
    session = edited_session()
    session.resize(session.document.extension(0, 0, 4, 0), forward=True)
    return project_files(session, folder / "good.glide")


def _deep(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = [value]
    return value


def _png_bytes(width: int, height: int, mode: str = "RGB") -> bytes:
    import io

    buffer = io.BytesIO()
    Image.new(mode, (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


PROJECT_CASES = {
    "deep json": lambda f: {**f, "manifest.json": b'{"a":' * 100_000 + b"1" + b"}" * 100_000},
    "deep list": lambda f: with_manifest(f, lambda m: m.update(edits=_deep(500))),
    "1e999 width": lambda f: {
        **f,
        "manifest.json": f["manifest.json"].replace(b'"width": 54', b'"width": 1e999'),
    },
    "NaN": lambda f: {**f, "manifest.json": f["manifest.json"].replace(b'"width": 54', b'"width": NaN')},
    "width as text": lambda f: with_manifest(f, lambda m: m.update(width="54")),
    "huge size": lambda f: with_manifest(f, lambda m: m.update(width=10**6, height=10**6)),
    "edits as object": lambda f: with_manifest(f, lambda m: m.update(edits={"0": {}})),
    "edit as list": lambda f: with_manifest(f, lambda m: m.update(edits=[[1, 2]])),
    "box as text": lambda f: with_manifest(f, lambda m: m["edits"][0].update(box="5,10,25,20")),
    "box of floats": lambda f: with_manifest(f, lambda m: m["edits"][0].update(box=[5.0, 10, 25, 20])),
    "box outside": lambda f: with_manifest(f, lambda m: m["edits"][0].update(box=[-5, 10, 15, 20])),
    "parameters as list": lambda f: with_manifest(f, lambda m: m["edits"][0].update(parameters=[1])),
    "extension mask": lambda f: with_manifest(f, lambda m: m["edits"][1].update(mask="AAAA")),
    "extension huge": lambda f: with_manifest(f, lambda m: m["edits"][1].update(sides=[0, 0, 10**9, 0])),
    "version as text": lambda f: with_manifest(f, lambda m: m.update(version="1")),
    "version negative": lambda f: with_manifest(f, lambda m: m.update(version=-1)),
    "version true": lambda f: with_manifest(f, lambda m: m.update(version=True)),
    "manifest a list": lambda f: {**f, "manifest.json": b"[1]"},
    "manifest binary": lambda f: {**f, "manifest.json": b"\xff\xfe\x00"},
    "no manifest": lambda f: {k: v for k, v in f.items() if k != "manifest.json"},
    "layer missing": lambda f: {k: v for k, v in f.items() if k != "edits/0000-after.png"},
    "layer wrong size": lambda f: {**f, "edits/0000-after.png": _png_bytes(3, 3)},
    "original wrong size": lambda f: {**f, "original.png": _png_bytes(51, 40)},
    "mask wrong size": lambda f: {
        **with_manifest(f, lambda m: m.update(mask=True)),
        "mask.png": _png_bytes(9, 9, "1"),
    },
    "cleared wrong size": lambda f: {**f, "edits/0000-cleared.png": _png_bytes(2, 2, "1")},
    "sketch wrong size": lambda f: {
        **with_manifest(f, lambda m: m.update(sketch=True)),
        "sketch.png": _png_bytes(5, 5),
        "sketch-painted.png": _png_bytes(5, 5, "1"),
    },
    "layer not png": lambda f: {**f, "edits/0000-after.png": b"GIF89a" + b"\0" * 30},
    "layer bomb header": lambda f: {
        **f,
        "original.png": _png_bytes(1, 1)[:16] + (60000).to_bytes(4, "big") * 2 + _png_bytes(1, 1)[24:],
    },
    "run garbage": lambda f: with_manifest(f, lambda m: m.update(run={"settings": [], "candidates": 5})),
    "run unknown setting": lambda f: {
        **with_manifest(f, lambda m: m.update(run={"settings": {"bogus": 1}, "candidates": []})),
        "run/mask.png": _png_bytes(54, 40, "L"),
    },
    "earlier edits object": lambda f: with_manifest(f, lambda m: m.update(earlier_edits={"a": 1})),
    "icc not base64": lambda f: with_manifest(f, lambda m: m.update(icc_profile="!!!")),
}


@pytest.mark.parametrize("case", sorted(PROJECT_CASES))
def test_a_hostile_project_is_refused_with_the_projects_own_error(tmp_path, good_project, case):
    path = write_zip(tmp_path / "hostile.glide", PROJECT_CASES[case](good_project))
    with pytest.raises(ProjectError) as info:
        load_project(path)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message and len(message) < 500


def test_a_bad_record_is_skipped_and_the_project_opens(tmp_path, good_project):
    files = with_manifest(good_project, lambda m: m["edits"][0].update(record={"mask": "%%", "mask_box": 1}))
    session = load_project(write_zip(tmp_path / "p.glide", files))
    assert len(session.document.edits) == 1 and session.document.edits[0].record is None


def _zip_with_entry(path: Path, files: dict[str, bytes], name: str, *, flag_bits=0, compress_type=None):
    """Write ``files``, then patch ``name``'s flag bits and compression method in both its headers."""
    write_zip(path, files)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        local = zf.getinfo(name).header_offset
    central = []
    start = 0
    while (start := data.find(b"PK\x01\x02", start)) != -1:
        length = int.from_bytes(data[start + 28 : start + 30], "little")
        if data[start + 46 : start + 46 + length] == name.encode():
            central.append(start)
        start += 4
    for at, flag_at, method_at in [(local, 6, 8)] + [(c, 8, 10) for c in central]:
        data[at + flag_at] |= flag_bits
        if compress_type is not None:
            data[at + method_at : at + method_at + 2] = compress_type.to_bytes(2, "little")
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(("flag_bits", "compress_type"), [(1, None), (0, 99), (0, zipfile.ZIP_LZMA)])
def test_encrypted_or_unknown_compression_entries_are_refused(
    tmp_path, good_project, flag_bits, compress_type
):
    path = _zip_with_entry(
        tmp_path / "odd.glide", good_project, "original.png", flag_bits=flag_bits, compress_type=compress_type
    )
    with zipfile.ZipFile(path) as zf:  # the patch took
        info = zf.getinfo("original.png")
        assert info.flag_bits & 1 or info.compress_type != zipfile.ZIP_STORED
    with pytest.raises(ProjectError, match=r"original\.png"):
        load_project(path)


def test_a_few_megabytes_never_make_a_project_hold_gigabytes(tmp_path, good_project):
    bomb = tmp_path / "bomb.glide"
    huge = with_manifest(
        good_project, lambda m: m.update(width=8004, height=6000, original_size=[8000, 6000])
    )
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, data in huge.items():
            if name not in ("original.png", "edits/0000-after.png"):
                zf.writestr(name, data)
        # An 8000×6000 PNG of zeros (~150 MB as RGB) from ~50 kB, then a 1.5 GB zip entry.
        zf.writestr("original.png", _png_bytes(8000, 6000, "L"))
        write_zeros(zf, "edits/0000-after.png", 1536 * 1024**2)
    assert bomb.stat().st_size < 8 * 1024**2
    growth, output = peak_kb(
        f"""
        from glide_studio.core.editing.project import load_project, ProjectError
        try:
            load_project({str(bomb)!r})
        except ProjectError as exc:
            print("refused", exc)
        """,
        timeout=300,
    )
    assert "refused" in output and "edits/0000-after.png holds" in output, output
    assert growth < 1024 * 1024, f"the peak memory was {growth // 1024} MiB"


RECORD_CASES = [
    {"mask": 1},
    {"mask": "!!", "mask_box": [0, 0, 2, 2], "region": [0, 0, 2, 2], "settings": {}},
    {"mask_box": [0, 0, 60000, 60000], "region": [0, 0, 8, 8], "settings": {}},
    {"mask_box": [0, 0, 1e999, 2], "region": [0, 0, 8, 8], "settings": {}},
    {"mask_box": [True, 0, 2, 2], "region": [0, 0, 8, 8], "settings": {}},
    {"mask_box": [0, 0, 2, 2], "region": [0, 0, 8, 8], "settings": "seed=1"},
    {"mask_box": [0, 0, 2, 2], "region": [0, 0, 8, 8], "settings": {}, "sketch": "iVBORw0KGgo="},
]


@pytest.mark.parametrize("record", RECORD_CASES)
def test_a_hostile_png_record_is_skipped_and_the_picture_opens(tmp_path, record):
    fine = {"mask": "eJwDAAAAAAE=", "mask_box": [0, 0, 2, 2], "region": [0, 0, 8, 8], "settings": {}}
    base = {**fine, **record}
    entries = [{"prompt": "kept", "record": base}, {"prompt": "also kept"}, 7]
    source = _png_with(
        tmp_path / "in.png", [(b"tEXt", EDITS_KEY.encode() + b"\0" + json.dumps(entries).encode())]
    )
    doc = Document.open(source)
    assert [e.prompt for e in doc.earlier_edits] == ["kept", "also kept"]


def test_a_mask_bomb_record_is_refused_before_inflating():
    bits = zlib.compress(b"\xff" * (200 * 1024**2), 9)  # 200 MB from 200 kB, for a 2×2 box
    import base64

    record = {
        "mask": base64.b64encode(bits).decode(),
        "mask_box": [0, 0, 2, 2],
        "region": [0, 0, 2, 2],
        "settings": {},
    }
    with pytest.raises(ValueError, match="does not match its box"):
        EditRecord.from_json(record)
    assert read_recorded_edits({EDITS_KEY: json.dumps([{"prompt": "x", "record": record}])})[0].record is None


# -- 6 and 8. checkpoints, and messages in a user's words ----------------------------------------


def test_a_file_without_read_permission_says_so(tmp_path, monkeypatch):
    path = tmp_path / "locked.png"
    Image.fromarray(picture()).save(path)
    monkeypatch.setattr(image_files.os, "access", lambda p, mode: False)
    with pytest.raises(ImageError, match=r"cannot be read \(permission denied\)"):
        load_image(path)


def test_a_project_without_read_permission_says_so(tmp_path, monkeypatch, good_project):
    path = write_zip(tmp_path / "locked.glide", good_project)

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(zipfile, "ZipFile", refused)
    with pytest.raises(ProjectError, match=r"cannot be read \(permission denied\)"):
        load_project(path)


def test_weights_dir_naming_a_file_is_not_a_folder(tmp_path, capsys):
    from glide_studio.cli import main

    afile = tmp_path / "weights.pt"
    afile.write_bytes(b"x")
    assert main(["verify", "--weights-dir", str(afile)]) == 1
    err = capsys.readouterr().err
    assert "is not a folder" in err and err.count("\n") == 1


CHECKPOINT_OPTIONS = [
    {},
    {"image_size": 64},
    {"attention_resolutions": "0"},
    {"image_size": float("inf")},
    {"image_size": "sixty-four"},
    {"num_res_blocks": 10**9},
    {"channel_mult": "1,x"},
    {"num_channels": -32},
    {"xf_heads": 0},
]


@pytest.fixture(scope="module")
def checkpoint_options():
    from tiny_models import TINY_32

    return dict(TINY_32)


def _checkpoint(path: Path, options: object) -> Path:
    import torch

    torch.save({"state_dict": {"w": torch.zeros(1)}, "options": options}, path)
    return path


@pytest.mark.parametrize("change", CHECKPOINT_OPTIONS)
def test_malformed_checkpoint_options_are_one_line_naming_the_file(tmp_path, checkpoint_options, change):
    from glide_studio.core.weights.checkpoints import CheckpointError, load_model_and_options

    options = {k: v for k, v in checkpoint_options.items() if change or k != "image_size"}
    if change == {"image_size": 64}:
        options = {"image_size": 64}
    else:
        options.update(change)
    path = _checkpoint(tmp_path / "model.pt", options)
    with pytest.raises(CheckpointError) as info:
        load_model_and_options(path)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message


# -- 10. property-based fuzzing -------------------------------------------------------------------

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=12),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
MANIFEST_KEYS = [
    "format", "version", "width", "height", "original_size", "edits", "mask", "sketch", "run",
    "text", "earlier_edits", "icc_profile", "exif", "prompt", "source", "deep",
]  # fmt: skip


@FUZZ
@given(key=st.sampled_from(MANIFEST_KEYS), value=json_value)
def test_fuzz_manifest_values(tmp_path_factory, good_project, key, value):
    folder = tmp_path_factory.mktemp("fuzz")
    path = write_zip(folder / "f.glide", with_manifest(good_project, lambda m: m.update({key: value})))
    try:
        session = load_project(path)
    except ProjectError as exc:
        assert str(exc).startswith(str(path))
    else:
        assert session.document.width > 0
    assert sorted(p.name for p in folder.iterdir()) == ["f.glide"], "nothing written beside it"


EDIT_KEYS = ["kind", "box", "parameters", "record", "cleared", "sides", "mask"]


@FUZZ
@given(index=st.sampled_from([0, 1]), key=st.sampled_from(EDIT_KEYS), value=json_value)
def test_fuzz_edit_entries(tmp_path_factory, good_project, index, key, value):
    folder = tmp_path_factory.mktemp("fuzz")
    path = write_zip(
        folder / "e.glide", with_manifest(good_project, lambda m: m["edits"][index].update({key: value}))
    )
    try:
        load_project(path)
    except ProjectError as exc:
        assert str(exc).startswith(str(path))


@FUZZ
@given(
    data=st.binary(max_size=400),
    name=st.sampled_from(["original.png", "edits/0000-before.png", "manifest.json"]),
)
def test_fuzz_entry_bytes(tmp_path_factory, good_project, data, name):
    folder = tmp_path_factory.mktemp("fuzz")
    path = write_zip(folder / "b.glide", {**good_project, name: data})
    with pytest.raises(ProjectError):
        load_project(path)


@FUZZ
@given(cut=st.integers(min_value=0, max_value=4000), flip=st.integers(min_value=0, max_value=4000))
def test_fuzz_damaged_project_bytes(tmp_path_factory, good_project, cut, flip):
    folder = tmp_path_factory.mktemp("fuzz")
    data = bytearray(write_zip(folder / "good.glide", good_project).read_bytes())
    if flip < len(data):
        data[flip] ^= 0x5A
    path = folder / "d.glide"
    path.write_bytes(bytes(data[: len(data) - cut]))
    with contextlib.suppress(ProjectError):  # opening is fine too; any other exception fails
        load_project(path)


record_value = st.fixed_dictionaries(
    {},
    optional={
        "mask": st.one_of(st.text(max_size=20), st.integers(), st.just("eJwDAAAAAAE=")),
        "mask_box": st.lists(st.one_of(st.integers(-(2**40), 2**40), st.floats(), st.booleans()), max_size=5),
        "region": st.lists(st.integers(-(2**40), 2**40), min_size=3, max_size=5),
        "settings": json_value,
        "model": json_value,
        "sketch": st.one_of(st.text(max_size=20), st.just("iVBORw0KGgo=")),
    },
)


@FUZZ
@given(records=st.lists(st.one_of(record_value, json_value), max_size=4), prompt=json_value)
def test_fuzz_png_records(records, prompt):
    entries = [{"prompt": prompt, "record": r} for r in records] + records
    edits = read_recorded_edits({EDITS_KEY: json.dumps(entries)})
    assert len(edits) <= len(entries)


info_value = st.one_of(
    json_value, st.dictionaries(st.sampled_from(["pid", "title", "saved_at", "edits"]), json_value)
)


@FUZZ
@given(
    infos=st.lists(info_value, min_size=1, max_size=3),
    with_project=st.booleans(),
    junk=st.binary(max_size=40),
)
def test_fuzz_autosave_folders(tmp_path_factory, infos, with_project, junk):
    folder = tmp_path_factory.mktemp("autosave")
    for k, info in enumerate(infos):
        (folder / f"session-{k}-1.json").write_text(json.dumps(info))
        if with_project:
            (folder / f"session-{k}-1.glide").write_bytes(junk)
    found = find_recoverable(folder)  # never raises
    assert len(found) == len(infos)
    for item in found:
        if item.problem is None:
            with pytest.raises(ProjectError):
                item.restore()


option_value = st.one_of(
    st.integers(-(2**40), 2**40),
    st.floats(),
    st.text(max_size=10),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
)


@settings(max_examples=60, deadline=None)
@given(
    changes=st.dictionaries(
        st.sampled_from(
            [
                "image_size",
                "num_channels",
                "num_res_blocks",
                "channel_mult",
                "attention_resolutions",
                "num_heads",
                "num_head_channels",
                "text_ctx",
                "xf_width",
                "xf_layers",
                "xf_heads",
                "n_vocab",
                "dropout",
            ]
        ),
        option_value,
        min_size=1,
        max_size=3,
    )
)
def test_fuzz_checkpoint_options(changes):
    from glide_studio.core.model.config import ModelConfig, OptionsError
    from tiny_models import TINY_32

    with contextlib.suppress(OptionsError):  # valid options are fine; any other exception fails
        ModelConfig.from_options({**TINY_32, **changes})


def test_memory_module_probe_works():
    peak, _ = peak_kb("x = bytearray(512 * 1024 * 1024)\nx[::4096] = b'1' * len(x[::4096])")
    assert 512 * 1024 < peak < 1024 * 1024


def test_session_helpers_are_consistent():
    session = edited_session()
    assert len(session.document.edits) == 1
    assert autosave.LOCK_SUFFIX == ".lock"


def test_a_record_that_does_not_fit_the_picture_is_dropped_and_the_edit_kept():
    chunks = edited_session().document.text_chunks()  # its mask lies at (5, 10)-(25, 20)
    small = Document(picture(12, 12), text=chunks)
    assert [e.prompt for e in small.earlier_edits] == ["a red square"]
    assert small.earlier_edits[0].record is None
    assert Document(picture(), text=chunks).earlier_edits[0].record is not None


@pytest.fixture(scope="module")
def good_png(tmp_path_factory):
    folder = tmp_path_factory.mktemp("png")
    return edited_session().document.save(folder / "good.png").read_bytes()


@FUZZ
@given(
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), max_size=4),
    cut=st.integers(0, 3000),
)
def test_fuzz_png_bytes_open_or_refuse_with_the_images_own_error(tmp_path_factory, good_png, flips, cut):
    data = bytearray(good_png)
    for at, value in flips:
        if at < len(data):
            data[at] ^= value
    path = tmp_path_factory.mktemp("png") / "fuzzed.png"
    path.write_bytes(bytes(data[: max(0, len(data) - cut)]))
    try:
        doc = Document.open(path)
    except ImageError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
    else:
        assert doc.width > 0
