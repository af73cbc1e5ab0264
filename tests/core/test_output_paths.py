"""Output-path checks: a result never replaces its source or another file by surprise."""

from __future__ import annotations

import os

import pytest

from glide_studio.core.imaging.output import (
    OutputError,
    candidate_paths,
    check_outputs,
    prepare_folder,
    recovery_folder,
    recovery_path,
    same_file,
)


def test_candidate_names(tmp_path):
    out = tmp_path / "out.png"
    assert candidate_paths(out, 1) == [out]
    assert [p.name for p in candidate_paths(out, 3)] == ["out-0.png", "out-1.png", "out-2.png"]


def test_the_source_is_recognised_through_links(tmp_path):
    source = tmp_path / "photo.png"
    source.write_bytes(b"x")
    os.link(source, tmp_path / "hard.png")
    (tmp_path / "soft.png").symlink_to(source)
    for name in ("photo.png", "hard.png", "soft.png", "sub/../photo.png"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        assert same_file(tmp_path / name, source), name
        with pytest.raises(OutputError, match="is the input picture"):
            check_outputs(source, [tmp_path / name], overwrite=False)
        check_outputs(source, [tmp_path / name], overwrite=True)
    assert not same_file(tmp_path / "new.png", source)


def test_existing_files_and_folders_are_refused(tmp_path):
    source = tmp_path / "photo.png"
    source.write_bytes(b"x")
    (tmp_path / "out-1.png").write_bytes(b"y")
    outputs = candidate_paths(tmp_path / "out.png", 2)
    with pytest.raises(OutputError, match=r"out-1\.png: already exists; .* --overwrite"):
        check_outputs(source, outputs, overwrite=False)
    check_outputs(source, outputs, overwrite=True)
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        check_outputs(source, [tmp_path / "folder.png"], overwrite=True)
    (tmp_path / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(OutputError, match="already exists"):
        check_outputs(source, [tmp_path / "dangling.png"], overwrite=False)


def test_prepare_folder_creates_and_probes(tmp_path):
    folder = tmp_path / "a" / "b"
    prepare_folder(folder)
    assert folder.is_dir() and list(folder.iterdir()) == []
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(OutputError, match="cannot create the output folder"):
        prepare_folder(tmp_path / "file" / "sub")
    with pytest.raises(OutputError, match="cannot create the output folder: a file has that name"):
        prepare_folder(tmp_path / "file")


def test_recovery_files_are_new_and_in_the_data_folder(tmp_path):
    folder = recovery_folder({"GLIDE_STUDIO_DATA": str(tmp_path / "data")})
    assert folder == tmp_path / "data" / "recovered"
    assert recovery_folder({}).name == "recovered"
    first = recovery_path(tmp_path / "x" / "out.png", folder=folder)
    first.write_bytes(b"1")
    second = recovery_path(tmp_path / "x" / "out.png", folder=folder)
    assert first.parent == second.parent == folder and second != first and not second.exists()
    assert second.suffix == ".png" and second.name.startswith("out-")
