"""``glide-studio inpaint`` end to end on small checkpoints stored under the released names."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from glide_studio.cli import main
from glide_studio.core.imaging.files import load_image
from glide_studio.core.imaging.metadata import parse_parameters
from glide_studio.core.text.tokenizer import _byte_alphabet
from glide_studio.core.weights.checkpoints import save_checkpoint
from tiny_models import TINY_BASE, TINY_UPSAMPLE, random_model


def _write_byte_level_bpe(folder):
    """A valid BPE vocabulary with no merges: 256 byte symbols and the end token."""
    symbols = [_byte_alphabet()[b] for b in range(256)]
    encoder = {s: i for i, s in enumerate(symbols)} | {"<|endoftext|>": 256}
    (folder / "encoder.json").write_text(json.dumps(encoder))
    (folder / "vocab.bpe").write_text("#version: 0.2\n")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    _write_byte_level_bpe(folder)
    save_checkpoint(folder / "base_inpaint.pt", random_model(TINY_BASE, seed=1), options=TINY_BASE)
    save_checkpoint(
        folder / "upsample_inpaint.pt", random_model(TINY_UPSAMPLE, seed=2), options=TINY_UPSAMPLE
    )
    return folder


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (75, 101, 3), dtype=np.uint8)
    mask = np.zeros((75, 101), np.uint8)
    mask[20:50, 30:70] = 255
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    return rgb, mask > 0, tmp_path


def _args(folder, tmp, *extra):
    return [
        "inpaint",
        str(tmp / "photo.png"),
        "--mask",
        str(tmp / "mask.png"),
        "--prompt",
        "a red barn",
        "--weights-dir",
        str(folder),
        "--device",
        "cpu",
        "--steps",
        "3",
        "--upsample-steps",
        "2",
        *extra,
    ]


@pytest.mark.slow
def test_two_candidates_with_parameters_in_the_png(weights, photo, capsys, monkeypatch):
    monkeypatch.delenv("GLIDE_STUDIO_WEIGHTS", raising=False)
    rgb, mask, tmp = photo
    status = main(_args(weights, tmp, "-o", str(tmp / "out.png"), "--seed", "42", "--candidates", "2"))
    assert status == 0, capsys.readouterr().err
    results = [load_image(tmp / f"out-{k}.png") for k in range(2)]
    for k, result in enumerate(results):
        assert result.rgb.shape == rgb.shape
        far = np.ones_like(mask)
        far[10:60, 20:80] = False
        assert np.array_equal(result.rgb[far], rgb[far])
        assert result.text["prompt"] == "a red barn" and result.text["seed"] == str(42 + k)
        params = parse_parameters(result.text["parameters"])
        assert params["seed"] == str(42 + k) and params["steps"] == "3" and params["guidance"] == "5"
        assert "base-inpaint" in params["model"] and params["upsample_steps"] == "2"
    assert not np.array_equal(results[0].rgb, results[1].rgb)
    out = capsys.readouterr()
    assert "out-0.png" in out.out and "base" in out.err and "upsample" in out.err


def test_a_candidate_is_reproduced_from_its_recorded_seed(weights, photo):
    *_, tmp = photo
    assert main(_args(weights, tmp, "-o", str(tmp / "a.png"), "--seed", "7", "--no-upsample")) == 0
    assert main(_args(weights, tmp, "-o", str(tmp / "b.png"), "--seed", "7", "--no-upsample")) == 0
    a, b = load_image(tmp / "a.png"), load_image(tmp / "b.png")
    assert np.array_equal(a.rgb, b.rgb)
    assert "upsample_steps" not in a.text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mask": "missing.png"}, "not found"),
        ({"output": "out.gif"}, "unsupported output type"),
        ({"extra": ["--preset", "turbo"]}, "unknown preset"),
        ({"extra": ["--sampler", "euler"]}, "unknown sampler"),
        ({"extra": ["--candidates", "0"]}, "candidates must be"),
        ({"empty_mask": True}, "mask is empty"),
        ({"small_mask": True}, "the mask is 10×10 but the image is 101×75"),
    ],
)
def test_bad_input_gives_one_line_and_a_failure_status(weights, photo, capsys, change, message):
    _, _, tmp = photo
    if change.get("empty_mask"):
        Image.fromarray(np.zeros((75, 101), np.uint8)).save(tmp / "mask.png")
    if change.get("small_mask"):
        Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp / "mask.png")
    args = _args(weights, tmp, "-o", str(tmp / change.get("output", "out.png")), *change.get("extra", []))
    if "mask" in change:
        args[args.index("--mask") + 1] = str(tmp / change["mask"])
    status = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert status != 0
    assert len(err) == 1 and err[0].startswith("glide-studio: error:") and message in err[0]


def test_missing_arguments_are_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        main(["inpaint", "photo.png"])
    assert info.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_wrong_variant_under_a_released_name(tmp_path, photo, capsys):
    _write_byte_level_bpe(tmp_path)
    save_checkpoint(tmp_path / "base_inpaint.pt", random_model(TINY_UPSAMPLE, seed=3), options=TINY_UPSAMPLE)
    _, _, tmp = photo
    status = main(_args(tmp_path, tmp, "-o", str(tmp / "x.png")))
    assert status == 1
    assert "holds the 'upsample-inpaint' model, but 'base-inpaint' was expected" in capsys.readouterr().err


def test_files_without_options_are_read_as_the_released_models(tmp_path, photo, capsys):
    """A bare state dict under a released name is checked against the released shapes."""
    _write_byte_level_bpe(tmp_path)
    torch.save(random_model(TINY_BASE, seed=4).state_dict(), tmp_path / "base_inpaint.pt")
    _, _, tmp = photo
    assert main(_args(tmp_path, tmp, "-o", str(tmp / "x.png"))) == 1
    err = capsys.readouterr().err
    assert "base_inpaint.pt: does not match the model" in err and "wrong shapes" in err


@pytest.mark.parametrize("mode", ["RGBA", "L", "P", "I;16", "exif"])
def test_any_image_mode_keeps_its_size(weights, tmp_path, mode):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (41, 67, 3), dtype=np.uint8)
    image = Image.fromarray(rgb)
    options = {}
    if mode == "RGBA":
        image.putalpha(Image.fromarray(rng.integers(0, 256, (41, 67), dtype=np.uint8)))
    elif mode == "I;16":
        image = Image.fromarray(rgb[..., 0].astype(np.uint16) * 257)
    elif mode == "exif":
        exif = Image.Exif()
        exif[0x0112] = 8  # displayed rotated: 41 wide, 67 high
        options["exif"] = exif
    elif mode != "RGB":
        image = image.convert(mode)
    name = "photo.jpg" if mode == "exif" else "photo.png"
    image.save(tmp_path / name, **options)
    upright = load_image(tmp_path / name)
    height, width = upright.rgb.shape[:2]
    mask = np.zeros((height, width), np.uint8)
    mask[5:20, 5:30] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    args = _args(weights, tmp_path, "-o", str(tmp_path / "out.png"), "--no-upsample")
    args[1] = str(tmp_path / name)
    assert main(args) == 0
    result = load_image(tmp_path / "out.png")
    assert result.rgb.shape == upright.rgb.shape
    if mode == "exif":
        assert (width, height) == (41, 67)
    if mode == "RGBA":  # generated pixels are opaque in the hole; far from it the alpha is the source's
        assert result.alpha is not None and result.alpha[5:20, 5:30].min() == 255
        assert np.array_equal(result.alpha[30:, 45:], upright.alpha[30:, 45:])


@pytest.mark.parametrize("keep", [False, True])
def test_a_transparent_corner_becomes_opaque_where_it_generated(weights, tmp_path, keep):
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., :3] = 90
    rgba[:, 32:, 3] = 255  # the left half is fully transparent
    Image.fromarray(rgba).save(tmp_path / "photo.png")
    mask = np.zeros((64, 64), np.uint8)
    mask[4:20, 4:20] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    extra = ["--keep-transparency"] if keep else []
    args = _args(weights, tmp_path, "-o", str(tmp_path / "out.png"), "--no-upsample", *extra)
    assert main(args) == 0
    result = load_image(tmp_path / "out.png")
    assert result.alpha is not None
    hole = result.alpha[4:20, 4:20]
    assert (hole.max() == 0) if keep else (hole.min() == 255)
    assert result.alpha[40:, :28].max() == 0 and result.alpha[:, 34:].min() == 255
