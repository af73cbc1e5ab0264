"""The models reproduce the reference implementation's recorded outputs."""

from __future__ import annotations

import json

import pytest
import torch

from glide_studio.core.model import ModelConfig, OptionsError, build_model
from glide_studio.core.runtime.optimize import optimize_for_inference
from glide_studio.core.weights.released import released_options
from tiny_models import TINY_BASE, random_model

TOL = 1e-4


@pytest.fixture(scope="module")
def manifest(reference_dir):
    return json.loads((reference_dir / "checkpoint_manifest.json").read_text())


def _load(reference_dir, name):
    data = torch.load(reference_dir / name, weights_only=True)
    model = build_model(data["options"]).eval()
    model.load_state_dict(data["state_dict"], strict=True)
    return data, model


@pytest.mark.parametrize("name", ["base", "upsample", "base-inpaint", "upsample-inpaint"])
def test_released_checkpoint_keys_and_shapes(manifest, name):
    entry = manifest[name]
    with torch.device("meta"):
        model = build_model(entry["options"])
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert shapes == entry["state_dict"]
    assert sum(p.numel() for p in model.parameters()) == entry["params"]
    assert model.config.variant == name
    assert released_options(name) == entry["options"]


def test_base_inpaint_forward_matches(reference_dir):
    data, model = _load(reference_dir, "base_inpaint_tiny.pt")
    fw = data["forward"]
    with torch.inference_mode():
        out = model(
            fw["x"],
            fw["timesteps"],
            tokens=fw["tokens"],
            mask=fw["mask"],
            inpaint_image=fw["inpaint_image"],
            inpaint_mask=fw["inpaint_mask"],
        )
    assert out.shape == (3, 6, 64, 64)
    assert (out - fw["output"]).abs().max().item() <= TOL


def test_upsample_inpaint_forward_matches(reference_dir):
    data, model = _load(reference_dir, "upsample_inpaint_tiny.pt")
    fw = data["forward"]
    with torch.inference_mode():
        out = model(
            fw["x"],
            fw["timesteps"],
            tokens=fw["tokens"],
            mask=fw["mask"],
            inpaint_image=fw["inpaint_image"],
            inpaint_mask=fw["inpaint_mask"],
            low_res=fw["low_res"],
        )
    assert out.shape == (1, 6, 256, 256)
    assert (out - fw["output"]).abs().max().item() <= TOL


def random_forward_inputs() -> dict[str, torch.Tensor]:
    """Inputs for a tiny random inpainting model: these tests need no reference numbers."""
    gen = torch.Generator().manual_seed(0)
    mask = torch.ones(3, 1, 64, 64)
    mask[:, :, 16:48, 16:48] = 0
    tokens = torch.randint(0, 257, (3, TINY_BASE["text_ctx"]), generator=gen)
    return {
        "x": torch.randn(3, 3, 64, 64, generator=gen),
        "timesteps": torch.tensor([999, 500, 10]),
        "tokens": tokens,
        "mask": torch.ones_like(tokens, dtype=torch.bool),
        "inpaint_image": torch.rand(3, 3, 64, 64, generator=gen) * 2 - 1,
        "inpaint_mask": mask,
    }


def test_text_encoding_is_reusable_across_steps():
    """Encoding once and denoising at several timesteps equals full forwards."""
    model, fw = random_model(TINY_BASE, seed=0), random_forward_inputs()
    with torch.inference_mode():
        cond = model.condition(
            tokens=fw["tokens"],
            mask=fw["mask"],
            inpaint_image=fw["inpaint_image"],
            inpaint_mask=fw["inpaint_mask"],
        )
        for t in (999, 10):
            ts = torch.full((3,), t)
            direct = model(
                fw["x"],
                ts,
                tokens=fw["tokens"],
                mask=fw["mask"],
                inpaint_image=fw["inpaint_image"],
                inpaint_mask=fw["inpaint_mask"],
            )
            assert torch.equal(model.denoise(fw["x"], ts, cond), direct)
    assert len(cond.text.kv) == len(model.attention_blocks) > 0


def test_text_actually_conditions_the_output():
    model, fw = random_model(TINY_BASE, seed=0), random_forward_inputs()
    with torch.inference_mode():
        a = model(fw["x"][:1], fw["timesteps"][:1], tokens=fw["tokens"][:1], mask=fw["mask"][:1])
        b = model(fw["x"][:1], fw["timesteps"][:1], tokens=fw["tokens"][2:], mask=fw["mask"][2:])
    # Ignored text would give equal outputs up to rounding (1e-7); this small random model's
    # text changes them by about 6e-4 (0.3 % of the output's scale).
    assert (a - b).abs().max().item() > 1e-4


def test_options_errors_are_clear():
    with pytest.raises(OptionsError, match="num_channels"):
        ModelConfig.from_options({"image_size": 64})
    bad = {
        "image_size": 64,
        "num_channels": 48,
        "num_res_blocks": 1,
        "channel_mult": "1,2",
        "attention_resolutions": "16",
        "text_ctx": 8,
        "xf_width": 32,
        "xf_layers": 1,
        "xf_heads": 4,
    }
    with pytest.raises(OptionsError, match="multiples of 32"):
        build_model(bad)
    with pytest.raises(OptionsError, match="comma-separated"):
        build_model({**bad, "num_channels": 32, "channel_mult": "one,two"})


@pytest.mark.parametrize("name", ["base_inpaint_tiny.pt", "upsample_inpaint_tiny.pt"])
def test_optimized_layout_only_changes_rounding(reference_dir, name):
    """Channels-last (the fast CPU/GPU layout) computes the same function."""
    data, model = _load(reference_dir, name)
    fw = data["forward"]
    kwargs = {k: fw[k] for k in ("tokens", "mask", "inpaint_image", "inpaint_mask", "low_res") if k in fw}
    optimize_for_inference(model, layout="channels_last")
    with torch.inference_mode():
        out = model(fw["x"], fw["timesteps"], **kwargs)
    assert out.is_contiguous()
    assert (out - fw["output"]).abs().max().item() <= TOL
