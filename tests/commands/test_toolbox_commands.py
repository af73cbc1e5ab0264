"""``glide-studio generate``, ``outpaint`` and ``inpaint --sketch/--clip-guidance`` end to end."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from glide_studio.cli import main
from glide_studio.commands.generate import TEXT2IM_HINT
from glide_studio.core.imaging.files import load_image
from glide_studio.core.weights.checkpoints import save_checkpoint
from tiny_models import TINY_32, random_model

DEMO = ["--demo", "--device", "cpu", "--steps", "3", "--seed", "4"]
TINY_INPAINT = {**TINY_32, "inpaint": True, "noise_schedule": "squaredcos_cap_v2"}
TINY_TEXT2IM = {**TINY_32, "noise_schedule": "squaredcos_cap_v2"}


@pytest.fixture(autouse=True)
def _no_weights_env(monkeypatch):
    monkeypatch.delenv("GLIDE_STUDIO_WEIGHTS", raising=False)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Small checkpoints under the released names: inpainting, and in a second folder also text-to-image."""
    inpaint_only = tmp_path_factory.mktemp("inpaint-only")
    save_checkpoint(
        inpaint_only / "base_inpaint.pt", random_model(TINY_INPAINT, seed=1), options=TINY_INPAINT
    )
    both = tmp_path_factory.mktemp("both")
    save_checkpoint(both / "base_inpaint.pt", random_model(TINY_INPAINT, seed=1), options=TINY_INPAINT)
    save_checkpoint(both / "base.pt", random_model(TINY_TEXT2IM, seed=2), options=TINY_TEXT2IM)
    return inpaint_only, both


@pytest.fixture
def picture(tmp_path):
    rgb = np.zeros((40, 56, 3), np.uint8)
    rgb[:, :, 2] = 200
    rgb[10:30, 10:30] = (250, 220, 0)
    Image.fromarray(rgb).save(tmp_path / "picture.png")
    return rgb, tmp_path


def test_generate_uses_text_to_image_models_when_present(weights, tmp_path, capsys):
    inpaint_only, both = weights
    common = ["generate", "--prompt", "a red circle", "--size", "48x32", "--device", "cpu", "--steps", "3"]
    assert main([*common, "--weights-dir", str(both), "-o", str(tmp_path / "t2i.png"), "--seed", "1"]) == 0
    assert TEXT2IM_HINT not in capsys.readouterr().err
    assert (
        main([*common, "--weights-dir", str(inpaint_only), "-o", str(tmp_path / "inp.png"), "--seed", "1"])
        == 0
    )
    assert TEXT2IM_HINT in capsys.readouterr().err
    a, b = load_image(tmp_path / "t2i.png"), load_image(tmp_path / "inp.png")
    assert a.rgb.shape == b.rgb.shape == (32, 48, 3)
    assert not np.array_equal(a.rgb, b.rgb)
    assert (
        a.text["mode"] == "text-to-image" and a.text["size"] == "48x32" and a.text["prompt"] == "a red circle"
    )


@pytest.mark.slow
def test_generate_with_the_demo_model(tmp_path, capsys):
    assert (
        main(["generate", "--prompt", "a red circle", "--size", "32", "-o", str(tmp_path / "g.png"), *DEMO])
        == 0
    )
    result = load_image(tmp_path / "g.png")
    assert result.rgb.shape == (32, 32, 3) and result.rgb.std() > 0


@pytest.mark.slow
def test_outpaint_extends_and_keeps_the_picture(picture, capsys):
    rgb, tmp = picture
    out = tmp / "wide.png"
    args = ["outpaint", str(tmp / "picture.png"), "--extend", "8,0,24,0", "--prompt", "a green square"]
    assert main([*args, "-o", str(out), *DEMO]) == 0, capsys.readouterr().err
    result = load_image(out)
    assert result.rgb.shape == (40, 88, 3)
    assert np.array_equal(result.rgb[:, 14:58], rgb[:, 6:50])  # away from the seams: untouched
    assert result.text["extend"] == "8,0,24,0" and result.text["mode"] == "outpaint"


@pytest.mark.slow
def test_sketch_strength_zero_keeps_the_sketch(picture, capsys):
    rgb, tmp = picture
    mask = np.zeros(rgb.shape[:2], np.uint8)
    mask[8:32, 20:48] = 255
    sketch = rgb.copy()
    sketch[mask > 0] = (230, 20, 20)
    Image.fromarray(mask).save(tmp / "mask.png")
    Image.fromarray(sketch).save(tmp / "sketch.png")
    base = ["inpaint", str(tmp / "picture.png"), "--mask", str(tmp / "mask.png"), "--prompt", "a red square"]
    keep = [*base, "--sketch", str(tmp / "sketch.png"), "--strength", "0", "-o", str(tmp / "keep.png"), *DEMO]
    assert main(keep) == 0, capsys.readouterr().err
    result = load_image(tmp / "keep.png")
    inner = np.zeros(rgb.shape[:2], bool)
    inner[12:28, 24:44] = True
    assert np.abs(result.rgb[inner].astype(int) - sketch[inner]).mean() < 12
    assert result.text["sketch_strength"] == "0"


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["outpaint", "{tmp}/picture.png", "--extend", "1,2", "--prompt", "x"], 2, "four whole numbers"),
        (["outpaint", "{tmp}/picture.png", "--extend", "0,0,0,0", "--prompt", "x"], 2, "adds nothing"),
        (["generate", "--size", "5", "--prompt", "x"], 2, "from 16 to"),
        (["generate", "--size", "big", "--prompt", "x"], 2, "must be N or WxH"),
        (["generate", "--clip-guidance", "3", "--prompt", "x"], 1, "clip-image-enc"),
        (
            ["generate", "--clip-guidance", "3", "--sampler", "ddim", "--prompt", "x"],
            1,
            "ddim sampler cannot",
        ),
        (
            [
                "inpaint",
                "{tmp}/picture.png",
                "--mask",
                "{tmp}/picture.png",
                "--sketch",
                "{tmp}/small.png",
                "--prompt",
                "x",
            ],
            1,
            "the sketch is 8x8",
        ),
    ],
)
def test_bad_input_gives_one_line(picture, capsys, args, status, message):
    _, tmp = picture
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp / "small.png")
    argv = [a.format(tmp=tmp) for a in args] + ["-o", str(tmp / "bad.png"), *DEMO]
    assert main(argv) == status
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and err[-1].startswith("glide-studio: error:")
    assert not (tmp / "bad.png").exists()


def test_text_to_image_models_load_only_when_a_run_needs_them(weights):
    import numpy as np

    from glide_studio.core.generation.request import EditRequest, StageSettings
    from glide_studio.core.runtime.engine import load_local_backend

    engine = load_local_backend(weights_dir=weights[1], device="cpu")
    text2im = engine.inpainter.text2im
    assert text2im is not None and not text2im.loaded, "checked at load, kept on disk"
    image = np.zeros((48, 64, 3), np.uint8)
    mask = np.zeros((48, 64), bool)
    mask[10:20, 10:20] = True
    steps = StageSettings(sampler="ddim", steps="2")
    list(
        engine.inpainter.run(EditRequest(image=image, mask=mask, prompt="x", base=steps, use_upsampler=False))
    )
    assert not text2im.loaded, "an ordinary edit never touches them"
    whole = np.ones((48, 64), bool)
    list(
        engine.inpainter.run(
            EditRequest(image=image, mask=whole, prompt="x", base=steps, use_upsampler=False)
        )
    )
    assert text2im.loaded
