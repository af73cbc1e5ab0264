"""Small, randomly initialised models of the real architecture, for fast tests."""

from __future__ import annotations

import torch

from glide_studio.core.model import GlideModel, build_model
from glide_studio.core.pipeline.inpaint import Inpainter, StageModel
from glide_studio.core.text.tokenizer import ByteTokenizer

TINY_32 = {
    "image_size": 32,
    "num_channels": 32,
    "num_res_blocks": 1,
    "channel_mult": "1,2",
    "num_head_channels": 16,
    "attention_resolutions": "16",
    "text_ctx": 8,
    "xf_width": 32,
    "xf_layers": 1,
    "xf_heads": 2,
    "n_vocab": 257,
}
"""A small architecture without a variant: tests add the flags they need."""
TINY_BASE = {
    **TINY_32,
    "image_size": 64,
    "text_ctx": 16,
    "inpaint": True,
    "noise_schedule": "squaredcos_cap_v2",
}
TINY_UPSAMPLE = {
    **TINY_BASE,
    "image_size": 256,
    "channel_mult": "1,1,2",
    "attention_resolutions": "32",
    "super_res": True,
    "noise_schedule": "linear",
}


def random_model(options: dict, *, seed: int) -> GlideModel:
    """A model whose every weight is random (no zero-initialised layers), so outputs vary."""
    torch.manual_seed(seed)
    model = build_model(options).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.05)
    return model.requires_grad_(False)


def tiny_inpainter(*, upsampler: bool = True, seed: int = 0, max_rows: int | None = None) -> Inpainter:
    tokenizer = ByteTokenizer()
    base = StageModel(
        model=random_model(TINY_BASE, seed=seed),
        tokenizer=tokenizer,
        noise_schedule="squaredcos_cap_v2",
        name="tiny-base",
    )
    up = None
    if upsampler:
        up = StageModel(
            model=random_model(TINY_UPSAMPLE, seed=seed + 1),
            tokenizer=tokenizer,
            noise_schedule="linear",
            name="tiny-upsample",
        )
    return Inpainter(base=base, upsampler=up, max_rows=max_rows)
