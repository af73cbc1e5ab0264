"""Training an upsampler: inputs made as at run time, crops, the command, export and loading."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from glide_studio.core.model import build_model
from glide_studio.core.pipeline.tensors import resize, round_to_8bit
from glide_studio.core.text.tokenizer import ByteTokenizer
from glide_studio.core.training import MaskMix, TrainConfig, Trainer, model_preset, open_source
from glide_studio.core.training.batches import make_batch
from glide_studio.core.training.loop import TEXT_ENCODER_PREFIXES, copy_text_encoder
from glide_studio.core.weights.checkpoints import save_checkpoint

torch.set_num_threads(2)


def _tiny_upsampler_options() -> dict:
    return model_preset("tiny") | {"super_res": True, "noise_schedule": "linear", "image_size": 32}


def _batch(*, size: int = 32, low: int = 8, crop: int | None = None, step: int = 0):
    return make_batch(
        open_source("synthetic", image_size=size, seed=5),
        step=step,
        batch_size=3,
        seed=5,
        tokenizer=ByteTokenizer(),
        text_ctx=16,
        caption_drop=0.0,
        mask_mix=MaskMix({"rectangle": 1.0}),
        num_timesteps=1000,
        low_res_size=low,
        crop_size=crop,
    )


def test_low_res_input_is_the_8bit_rounded_downscale_the_pipeline_makes():
    batch = _batch()
    assert batch.low_res is not None and batch.low_res.shape == (3, 3, 8, 8)
    expected = round_to_8bit(resize(batch.x0, 8).clamp(-1, 1))
    assert torch.equal(batch.low_res, expected)
    levels = (batch.low_res + 1) * 127.5
    assert torch.allclose(levels, levels.round(), atol=1e-4)  # whole 8-bit levels, as at run time
    assert batch.low_res.min() >= -1 and batch.low_res.max() <= 1


def test_crops_cut_image_mask_and_low_res_at_the_same_place():
    whole, cropped = _batch(), _batch(crop=16)
    assert cropped.x0.shape == (3, 3, 16, 16) and cropped.known.shape == (3, 1, 16, 16)
    assert cropped.low_res.shape == (3, 3, 4, 4) and cropped.noise.shape == cropped.x0.shape
    for row in range(3):
        # Find where the crop came from in the whole image: it lies on the low-res grid.
        found = [
            (top, left)
            for top in range(0, 17, 4)
            for left in range(0, 17, 4)
            if torch.equal(whole.x0[row, :, top : top + 16, left : left + 16], cropped.x0[row])
        ]
        assert found, "the crop is not a window of the picture"
        top, left = found[0]
        assert torch.equal(whole.known[row, :, top : top + 16, left : left + 16], cropped.known[row])
        window = whole.low_res[row, :, top // 4 : top // 4 + 4, left // 4 : left // 4 + 4]
        assert torch.equal(window, cropped.low_res[row])


def test_a_crop_off_the_low_res_grid_is_refused():
    with pytest.raises(ValueError, match="multiple of the upsampling factor"):
        _batch(crop=18)


def test_upsampler_trainer_learns_and_checks_its_settings(tmp_path):
    options = _tiny_upsampler_options()
    source = open_source("synthetic", image_size=32, seed=2)
    common = {
        "options": options,
        "source": source,
        "tokenizer": ByteTokenizer(),
        "tokenizer_kind": "bytes",
        "out_dir": tmp_path / "up",
    }
    with pytest.raises(ValueError, match="an upsampler needs low_res_size"):
        Trainer(config=TrainConfig(steps=1), **common)
    config = TrainConfig(
        steps=24, batch_size=4, lr=2e-3, warmup_steps=2, seed=1, low_res_size=8, crop_size=16
    )
    trainer = Trainer(config=config, **common)
    losses = []
    assert trainer.run(progress=False, on_step=lambda r: losses.append(r.loss))
    assert np.isfinite(losses).all()
    assert np.mean(losses[-6:]) < 0.7 * np.mean(losses[:3])
    with pytest.raises(ValueError, match="only an upsampler takes one"):
        base_options = model_preset("tiny")
        base_source = open_source("synthetic", image_size=base_options["image_size"], seed=2)
        Trainer(
            config=TrainConfig(steps=1, low_res_size=8),
            **common | {"options": base_options, "source": base_source},
        )


def test_text_encoder_copied_from_another_model(tmp_path):
    donor = build_model(model_preset("tiny"))
    save_checkpoint(tmp_path / "donor.pt", donor)
    target = build_model(_tiny_upsampler_options())
    what = copy_text_encoder(tmp_path / "donor.pt", target)
    assert "text-encoder tensors" in what
    donor_state, target_state = donor.state_dict(), target.state_dict()
    text_keys = [k for k in target_state if k.startswith(TEXT_ENCODER_PREFIXES)]
    assert text_keys and all(torch.equal(donor_state[k], target_state[k]) for k in text_keys)
    other = build_model(model_preset("demo32"))  # another text width
    with pytest.raises(ValueError, match="the text options must match"):
        copy_text_encoder(tmp_path / "donor.pt", other)


def test_command_trains_and_exports_an_upsampler_the_demo_loader_uses(tmp_path, capsys):
    from glide_studio.cli import main
    from glide_studio.core.runtime.engine import load_demo
    from glide_studio.core.weights.bundled import demo_folder

    options = tmp_path / "up.json"
    options.write_text(json.dumps(_tiny_upsampler_options()))
    donor = build_model(model_preset("tiny"))
    save_checkpoint(tmp_path / "base.pt", donor)
    export = tmp_path / "demo" / "demo_upsample.pt"
    args = ["train", "--out", str(tmp_path / "run"), "--model-options", str(options), "--steps", "2"]
    args += ["--batch-size", "2", "--crop", "16", "--text-from", str(tmp_path / "base.pt"), "--no-progress"]
    assert main([*args, "--export", str(export)]) == 0
    manifest = json.loads(export.with_suffix(".json").read_text())
    assert manifest["variant"] == "upsample-inpaint"
    assert manifest["training"]["config"]["low_res_size"] == 8  # a quarter of 32 px
    assert "--crop 16" in manifest["training"]["command"] and "--text-from" in manifest["training"]["command"]
    # Beside the shipped base model, the demo loader picks it up as the second stage.
    for name in ("demo_inpaint.pt", "demo_inpaint.json"):
        (tmp_path / "demo" / name).write_bytes((demo_folder() / name).read_bytes())
    inpainter, _ = load_demo(device=torch.device("cpu"), folder=tmp_path / "demo", precision="float32")
    assert inpainter.upsampler is not None and inpainter.upsampler.resolution == 32
    assert inpainter.upsampler.model.config.super_res
    assert main(["train", "--out", str(tmp_path / "bad"), "--low-res-size", "8", "--steps", "1"]) != 0
    assert "--low-res-size is for upsamplers" in capsys.readouterr().err
