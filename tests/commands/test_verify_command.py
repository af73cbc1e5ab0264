"""``glide-studio verify``: every byte re-hashed against the manifest written at download time."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from types import MappingProxyType

import pytest
import torch

from glide_studio import cli
from glide_studio.core.model import build_model
from glide_studio.core.weights import store as store_module
from glide_studio.core.weights.released import RELEASED
from glide_studio.core.weights.store import Sidecar
from tiny_models import TINY_32


@pytest.fixture
def weights(tmp_path, monkeypatch):
    """A folder with tiny checkpoints under the inpainting names, each with its manifest."""
    files = dict(RELEASED)
    for name in ("base-inpaint", "upsample-inpaint"):
        flags = {k: RELEASED[name].options[k] for k in ("inpaint", "super_res")}
        files[name] = replace(RELEASED[name], options=MappingProxyType({**TINY_32, **flags}))
        path = tmp_path / files[name].filename
        torch.save(build_model(files[name].options).state_dict(), path)
        body = path.read_bytes()
        Sidecar(size=len(body), sha256=hashlib.sha256(body).hexdigest(), url=files[name].url,
                validator='"v1"', mtime_ns=path.stat().st_mtime_ns).write(path)  # fmt: skip
    monkeypatch.setattr(store_module, "RELEASED", MappingProxyType(files))
    monkeypatch.setattr(cli, "COMMANDS", {"verify": cli.COMMANDS["verify"]})
    return tmp_path


def test_intact_files_pass(weights, capsys):
    assert cli.main(["verify", "--weights-dir", str(weights)]) == 0
    out = capsys.readouterr().out
    assert "base_inpaint.pt: OK" in out and "upsample_inpaint.pt: OK" in out
    assert f"all 2 files are intact in {weights}" in out


def test_a_flipped_byte_is_found(weights, capsys):
    path = weights / "upsample_inpaint.pt"
    body = bytearray(path.read_bytes())
    body[len(body) // 3] ^= 1
    path.write_bytes(bytes(body))
    assert cli.main(["verify", "--weights-dir", str(weights)]) == 1
    captured = capsys.readouterr()
    assert "base_inpaint.pt: OK" in captured.out
    assert "upsample_inpaint.pt: FAILED" in captured.out and "SHA-256 differs" in captured.out
    assert "1 of 2 files failed the check" in captured.err


def test_a_hand_placed_file_is_checked_for_shapes_only(weights, capsys):
    (weights / "base_inpaint.pt.manifest.json").unlink()
    assert cli.main(["verify", "base-inpaint", "--weights-dir", str(weights)]) == 0
    assert "no manifest (placed by hand?)" in capsys.readouterr().out


def test_empty_folder_and_unknown_names(tmp_path, weights, capsys):
    assert cli.main(["verify", "--weights-dir", str(tmp_path / "empty")]) == 1
    assert "no GLIDE files in" in capsys.readouterr().err
    assert cli.main(["verify", "vocab", "--weights-dir", str(weights)]) == 2
    assert "unknown file 'vocab'" in capsys.readouterr().err
