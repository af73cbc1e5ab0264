"""Acceptance test of the shipped demo model: it paints what the prompt names.

Held-out synthetic scenes (another split than training) get a square hole in
the middle and a prompt naming a colour and a shape that differ from what was
there; the model fills the hole with the sampler and step count its manifest
recommends (what the studio uses) under classifier-free guidance, the known
region pasted into every x0 prediction.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from glide_studio.core.diffusion import Diffusion
from glide_studio.core.text.tokenizer import load_tokenizer
from glide_studio.core.training.checkpointing import sha256_of
from glide_studio.core.training.demo import DEMO_MANIFEST, DEMO_WEIGHTS
from glide_studio.core.training.evaluation import centre_hole, heldout_cases, measure_adherence
from glide_studio.core.weights.bundled import demo_folder
from glide_studio.core.weights.checkpoints import load_model

DEMO_DIR = Path(str(demo_folder()))  # shipped inside the package
CASES = 24

pytestmark = pytest.mark.skipif(
    not (DEMO_DIR / DEMO_WEIGHTS).is_file(), reason=f"the demo model {DEMO_DIR / DEMO_WEIGHTS} is not there"
)


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((DEMO_DIR / DEMO_MANIFEST).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def model(manifest):
    torch.set_num_threads(2)
    return load_model(DEMO_DIR / DEMO_WEIGHTS, manifest["options"], device="cpu", dtype=torch.float32)


@pytest.fixture(scope="module")
def cases(model):
    return heldout_cases(CASES, image_size=model.config.image_size)


@pytest.fixture(scope="module")
def results(model, manifest, cases):
    sampling = manifest["sampling"]
    diffusion = Diffusion.from_options(manifest["options"], respacing=str(sampling["steps"]))
    tokenizer = load_tokenizer(manifest["tokenizer"])
    return {
        scale: measure_adherence(
            model,
            diffusion=diffusion,
            tokenizer=tokenizer,
            cases=cases,
            guidance=scale,
            sampler=str(sampling["sampler"]),
            seed=0,
        )
        for scale in (0.0, 3.0)
    }


def test_manifest_says_how_the_model_was_made(manifest):
    weights = DEMO_DIR / DEMO_WEIGHTS
    assert manifest["weights"] == DEMO_WEIGHTS
    assert manifest["sha256"] == sha256_of(weights)
    assert weights.stat().st_size <= 20 * 1024 * 1024
    assert manifest["tokenizer"] == "bytes" and manifest["options"]["n_vocab"] == 257
    assert manifest["options"]["inpaint"] is True
    assert {"noise_schedule", "diffusion_steps", "image_size", "num_channels"} <= set(manifest["options"])
    training = manifest["training"]
    assert training["command"].startswith("glide-studio train") and "--seed" in training["command"]
    assert training["steps"] > 0 and training["seed"] is not None
    assert {"sampler", "steps", "guidance_scale"} <= set(manifest["sampling"])


def test_guided_prompts_put_their_colour_in_the_hole(results, cases):
    guided, unguided = results[3.0], results[0.0]
    misses = [
        f"{c.prompt} -> {f}" for c, f, hit in zip(cases, guided.found, guided.hits, strict=True) if not hit
    ]
    assert guided.rate >= 0.8, f"{guided.rate:.0%} adherence with guidance 3; misses: {misses}"
    assert guided.rate > unguided.rate


def test_known_pixels_are_unchanged(results, cases, model):
    size = model.config.image_size
    known = torch.from_numpy(centre_hole(size)).bool()
    images = torch.from_numpy(np.stack([c.image for c in cases])).permute(0, 3, 1, 2).float() / 127.5 - 1
    for result in results.values():
        assert torch.equal(result.samples[..., known], images[..., known])
        assert not torch.equal(result.samples[..., ~known], images[..., ~known])
