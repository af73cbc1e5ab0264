"""``glide-studio download`` end to end, against a loopback mirror serving a folder."""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import MappingProxyType

import pytest
import torch

from glide_studio import cli
from glide_studio.commands import download as download_command
from glide_studio.core.model import build_model
from glide_studio.core.weights import store as store_module
from glide_studio.core.weights.released import RELEASED
from tiny_models import TINY_32

TINY = TINY_32
DEFAULT_FILES = [
    "base_inpaint.pt",
    "base_inpaint.pt.manifest.json",
    "upsample_inpaint.pt",
    "upsample_inpaint.pt.manifest.json",
]


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def tiny_released(monkeypatch: pytest.MonkeyPatch) -> dict:
    """Make the store expect tiny checkpoints of the released variants."""
    files = dict(RELEASED)
    for name, entry in RELEASED.items():
        if entry.options is not None:
            flags = {k: entry.options[k] for k in ("inpaint", "super_res")}
            files[name] = replace(entry, options=MappingProxyType({**TINY, **flags}))
    monkeypatch.setattr(store_module, "RELEASED", MappingProxyType(files))
    return files


@pytest.fixture
def mirror(tmp_path: Path, tiny_released: dict, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder served over HTTP on 127.0.0.1; ``GLIDE_STUDIO_MIRROR`` points at it."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    monkeypatch.setenv("GLIDE_STUDIO_MIRROR", f"http://127.0.0.1:{server.server_port}/")
    monkeypatch.delenv("GLIDE_STUDIO_WEIGHTS", raising=False)
    # Only this subcommand: the others are not needed and may pull in heavy imports.
    monkeypatch.setattr(cli, "COMMANDS", {"download": cli.COMMANDS["download"]})
    yield folder
    server.shutdown()
    server.server_close()


def fill(folder: Path, files: dict, names: tuple[str, ...] = ("base-inpaint", "upsample-inpaint")) -> None:
    for name in names:
        buffer = io.BytesIO()
        torch.save(build_model(files[name].options).state_dict(), buffer)
        (folder / files[name].filename).write_bytes(buffer.getvalue())


def test_downloads_what_the_editor_needs_then_skips_it(mirror, tiny_released, tmp_path, capsys):
    fill(mirror, tiny_released)
    weights = tmp_path / "weights"
    assert cli.main(["download", "--weights-dir", str(weights)]) == 0
    assert sorted(p.name for p in weights.iterdir()) == DEFAULT_FILES
    for name in ("base_inpaint.pt", "upsample_inpaint.pt"):
        assert (weights / name).read_bytes() == (mirror / name).read_bytes()
    out = capsys.readouterr()
    assert str(weights) in out.out
    assert out.err == ""

    for name in ("base_inpaint.pt", "upsample_inpaint.pt"):
        (mirror / name).unlink()  # a second run must not fetch anything
    assert cli.main(["download", "--models", "inpaint", "--weights-dir", str(weights)]) == 0
    assert "upsample_inpaint.pt: already present" in capsys.readouterr().out


def test_damaged_file_is_moved_aside_and_fetched_again(mirror, tiny_released, tmp_path, capsys):
    fill(mirror, tiny_released, ("base",))
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "base.pt").write_text("<html>saved error page</html>")
    assert cli.main(["download", "base", "--weights-dir", str(weights)]) == 0
    assert (weights / "base.pt").read_bytes() == (mirror / "base.pt").read_bytes()
    assert (weights / "base.pt.invalid").exists()
    assert "moved it to base.pt.invalid" in capsys.readouterr().out


def test_file_changed_since_download_is_fetched_again(mirror, tiny_released, tmp_path, capsys):
    fill(mirror, tiny_released, ("base",))
    weights = tmp_path / "weights"
    assert cli.main(["download", "base", "--weights-dir", str(weights)]) == 0
    with (weights / "base.pt").open("ab") as f:
        f.write(b"junk")  # the manifest's size no longer matches
    assert cli.main(["download", "base", "--weights-dir", str(weights)]) == 0
    assert "was " in capsys.readouterr().out
    assert (weights / "base.pt").read_bytes() == (mirror / "base.pt").read_bytes()


def test_failure_is_one_line_on_stderr(mirror, tmp_path, capsys):
    # The mirror folder is empty: every file is a 404.
    status = cli.main(["download", "--weights-dir", str(tmp_path / "weights")])
    err = capsys.readouterr().err
    assert status == 1
    assert err.count("\n") == 1
    assert err.startswith("glide-studio: error: cannot download http://127.0.0.1:")
    assert "base_inpaint.pt" in err and "404" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bse"], "unknown file 'bse'"),
        (["encoder"], "the tokenizer ships with glide-studio"),
        (["--models", "inpaint,video"], "unknown model group 'video'"),
    ],
)
def test_unknown_name_is_a_usage_error(mirror, tmp_path, capsys, argv, message):
    assert cli.main(["download", *argv, "--weights-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_ctrl_c_exits_130_with_a_message(mirror, tmp_path, capsys, monkeypatch):
    def interrupted(self, name, **options):
        raise KeyboardInterrupt

    monkeypatch.setattr(store_module.ModelStore, "download", interrupted)
    assert cli.main(["download", "base", "--weights-dir", str(tmp_path)]) == 130
    assert "resume" in capsys.readouterr().err


def test_names_groups_and_all():
    resolve = download_command.resolve_names
    assert resolve([]) == ["base-inpaint", "upsample-inpaint"] == list(download_command.DEFAULT_NAMES)
    assert resolve([], everything=True) == resolve(["all"]) == list(RELEASED)
    assert resolve([], models="text2im, clip") == ["base", "upsample", "clip-image-enc", "clip-text-enc"]
    assert resolve(["base", "base"], models="text2im") == ["base", "upsample"]
    assert resolve([], models="inpaint,text2im,clip") == [
        "base-inpaint",
        "upsample-inpaint",
        "base",
        "upsample",
        "clip-image-enc",
        "clip-text-enc",
    ]
