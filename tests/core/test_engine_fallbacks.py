"""Honest fallbacks: a named weights folder never silently becomes the demo model, a missing
upsampler is stated and never recorded, and weights that cannot be trained ones are refused."""

from __future__ import annotations

import json

import numpy as np
import platformdirs
import pytest
import torch
from PIL import Image

from glide_studio.cli import main
from glide_studio.core.generation.request import EditRequest, RequestError
from glide_studio.core.imaging.files import load_image
from glide_studio.core.model import build_model
from glide_studio.core.runtime.engine import EngineError, load_local_backend
from glide_studio.core.weights.checkpoints import CheckpointError, check_weights, save_checkpoint
from glide_studio.core.weights.released import RELEASED
from tiny_models import TINY_BASE, random_model


@pytest.fixture
def no_cache(tmp_path, monkeypatch):
    """The per-user cache folder is an empty temporary one; no environment variable names a folder."""
    monkeypatch.setattr(platformdirs, "user_cache_dir", lambda app: str(tmp_path / "cache" / app))
    monkeypatch.delenv("GLIDE_STUDIO_WEIGHTS", raising=False)
    return tmp_path / "cache" / "glide-studio" / "weights"


@pytest.fixture
def photo(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    mask = np.zeros((40, 48), np.uint8)
    mask[10:30, 12:36] = 255
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    return tmp_path


def inpaint_args(photo, *extra: str) -> list[str]:
    files = [str(photo / "photo.png"), "--mask", str(photo / "mask.png")]
    return [
        "inpaint",
        *files,
        "--prompt",
        "a red square",
        "--device",
        "cpu",
        "--steps",
        "2",
        "--seed",
        "3",
        *extra,
    ]


def assert_names_missing(message: str, folder) -> None:
    for name in ("base-inpaint", "upsample-inpaint"):
        assert RELEASED[name].filename in message and RELEASED[name].url in message
    assert str(folder) in message


def test_a_named_folder_without_weights_is_an_error(tmp_path, no_cache):
    folder = tmp_path / "does" / "not" / "exist"
    with pytest.raises(EngineError) as info:
        load_local_backend(weights_dir=folder, device="cpu")
    assert_names_missing(str(info.value), folder)
    with pytest.raises(EngineError) as info:
        load_local_backend(device="cpu", environ={"GLIDE_STUDIO_WEIGHTS": str(tmp_path)})
    assert_names_missing(str(info.value), tmp_path)
    (tmp_path / "encoder.json").write_text("{}")  # an old download of the tokenizer changes nothing
    with pytest.raises(EngineError):
        load_local_backend(weights_dir=tmp_path, device="cpu")
    assert load_local_backend(weights_dir=folder, device="cpu", demo=True).info.is_demo


def test_only_no_folder_at_all_falls_back_to_the_demo_and_says_so(no_cache):
    engine = load_local_backend(device="cpu", environ={})
    assert engine.info.is_demo and engine.inpainter.upsampler is not None, "the demo runs both stages"
    assert (engine.inpainter.base.resolution, engine.inpainter.upsampler.resolution) == (32, 128)
    assert engine.info.sampling.upsample is not None and engine.info.sampling.upsample.steps
    assert (
        f"No GLIDE weights in {no_cache}" in engine.info.notice
        and "glide-studio download" in engine.info.notice
    )
    with pytest.raises(EngineError, match=r"base_inpaint\.pt"):
        load_local_backend(device="cpu", environ={}, demo=False)


def test_a_demo_folder_without_its_upsampler_runs_the_base_stage_alone(tmp_path):
    from glide_studio.core.weights.bundled import demo_folder

    for name in ("demo_inpaint.pt", "demo_inpaint.json"):
        (tmp_path / name).write_bytes((demo_folder() / name).read_bytes())
    engine = load_local_backend(device="cpu", environ={}, demo=True, demo_dir=tmp_path)
    assert engine.inpainter.upsampler is None and "no upsampler" in engine.info.description
    (tmp_path / "demo_upsample.json").write_text("{not json")
    with pytest.raises(EngineError, match="missing or damaged"):
        load_local_backend(device="cpu", environ={}, demo=True, demo_dir=tmp_path)


def test_cli_exits_non_zero_naming_the_missing_file(photo, no_cache, capsys):
    status = main(inpaint_args(photo, "-o", str(photo / "out.png"), "--weights-dir", "/nonexistent"))
    err = capsys.readouterr().err
    assert status == 1
    assert "base_inpaint.pt" in err and "/nonexistent" in err and "https://" in err
    assert not (photo / "out.png").exists()


def test_missing_upsampler_is_stated_and_not_recorded(photo, tmp_path, no_cache, capsys):
    weights = tmp_path / "weights"
    save_checkpoint(weights / "base_inpaint.pt", random_model(TINY_BASE, seed=1), options=TINY_BASE)
    engine = load_local_backend(weights_dir=weights, device="cpu")
    assert engine.inpainter.upsampler is None and not engine.info.is_demo
    # The released models on a CPU make candidates in turn; the small demo model batches them.
    assert engine.inpainter.in_turn and not load_local_backend(device="cpu", demo=True).inpainter.in_turn
    assert "upsample_inpaint.pt is not in" in engine.info.notice
    status = main(inpaint_args(photo, "-o", str(photo / "out.png"), "--weights-dir", str(weights)))
    out = capsys.readouterr()
    assert status == 0, out.err
    assert "upsample_inpaint.pt is not in" in out.err
    text = load_image(photo / "out.png").text
    assert text["steps"] == "2" and "upsample" not in text["parameters"]
    assert not any(key.startswith("upsample") for key in text)
    # Two candidates, made in turn: one progress bar per candidate, each named.
    two = ("-o", str(photo / "two.png"), "--weights-dir", str(weights), "--candidates", "2")
    args = inpaint_args(photo, *two)
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "base 1/2" in err and "base 2/2" in err


def test_help_shows_the_defaults_that_apply(capsys):
    with pytest.raises(SystemExit):
        main(["inpaint", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default 20; the demo model uses 50)" in out
    assert "(default dpm++2m; the demo model uses ancestral)" in out
    assert "(default 5; the demo model uses 3)" in out


@pytest.mark.parametrize(
    ("poison", "message"),
    [
        (lambda t: t.zero_(), "every weight matrix is constant"),
        (lambda t: t.fill_(0.5), "every weight matrix is constant"),
        (lambda t: t.view(-1)[:1].fill_(float("nan")), "NaN values in"),
        (lambda t: t.view(-1)[:1].fill_(float("inf")), "infinite"),
        (lambda t: t.mul_(1e5), "implausibly large"),
    ],
)
def test_untrained_or_corrupt_weights_are_refused_by_name(tmp_path, no_cache, photo, capsys, poison, message):
    model = random_model(TINY_BASE, seed=1)
    with torch.no_grad():
        for p in model.parameters():
            poison(p)
    weights = tmp_path / "weights"
    save_checkpoint(weights / "base_inpaint.pt", model, options=TINY_BASE)
    with pytest.raises(CheckpointError, match=message) as info:
        load_local_backend(weights_dir=weights, device="cpu")
    assert str(weights / "base_inpaint.pt") in str(info.value)
    assert main(inpaint_args(photo, "-o", str(photo / "out.png"), "--weights-dir", str(weights))) == 1
    assert "base_inpaint.pt" in capsys.readouterr().err and not (photo / "out.png").exists()


def test_a_file_changed_since_download_is_refused_at_load(tmp_path, no_cache):
    weights = tmp_path / "weights"
    path = weights / "base_inpaint.pt"
    save_checkpoint(path, random_model(TINY_BASE, seed=1), options=TINY_BASE)
    sidecar = {"size": path.stat().st_size + 5, "sha256": "0" * 64, "url": "http://x/base_inpaint.pt",
               "validator": None, "mtime_ns": path.stat().st_mtime_ns}  # fmt: skip
    (weights / "base_inpaint.pt.manifest.json").write_text(json.dumps(sidecar))
    with pytest.raises(EngineError, match=rf"{path}: is \d+ bytes but was \d+"):
        load_local_backend(weights_dir=weights, device="cpu")


def test_every_candidate_seed_must_be_a_valid_seed(photo, no_cache, capsys):
    args = inpaint_args(photo, "-o", str(photo / "out.png"), "--demo", "--candidates", "2")
    args[args.index("--seed") + 1] = str(2**63 - 1)
    assert main(args) == 1
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("glide-studio: error: seed 9223372036854775807 with 2 candidates runs past")
    image, mask = np.zeros((8, 8, 3), np.uint8), np.ones((8, 8), bool)
    request = EditRequest(image=image, mask=mask, prompt="x", seed=2**63 - 2, candidates=2)
    assert request.seeds == (2**63 - 2, 2**63 - 1)  # both can be passed back with --seed
    with pytest.raises(RequestError, match="use a seed of at most 9223372036854775792"):
        EditRequest(image=image, mask=mask, prompt="x", seed=2**63 - 1, candidates=16)


def test_fresh_initialisation_passes_but_mostly_constant_layers_do_not():
    """GLIDE zero-initialises some output layers (about a quarter of its weight matrices): that is
    still a model; more than half of them constant is not."""
    fresh = build_model(TINY_BASE).state_dict()
    check_weights("fresh.pt", fresh)
    matrices = [k for k, v in fresh.items() if v.dim() >= 2]
    for key in matrices[: len(matrices) * 3 // 4]:
        fresh[key] = torch.zeros_like(fresh[key])
    with pytest.raises(
        CheckpointError, match=rf"fresh\.pt: \d+ of {len(matrices)} weight matrices are constant"
    ):
        check_weights("fresh.pt", fresh)
