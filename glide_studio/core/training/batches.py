"""Turning a step number into a training batch, deterministically.

Everything random about a step (which examples, masks, dropped captions,
timesteps, noise) comes from generators seeded by (seed, step), so a run
resumed from a checkpoint continues exactly as if it had never stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..pipeline.tensors import upsampler_low_res
from ..text.tokenizer import Tokenizer
from .datasets import ExampleSource
from .masks import MaskMix, random_mask

__all__ = ["Batch", "draw_timesteps", "encode_captions", "make_batch", "step_rng"]

_BATCH_STREAM = 7


@dataclass(frozen=True)
class Batch:
    x0: Tensor
    """Images in [-1, 1], (B, 3, H, W)."""
    known: Tensor
    """Inpainting mask, (B, 1, H, W): 1 = known, 0 = to generate."""
    tokens: Tensor
    token_mask: Tensor
    timesteps: Tensor
    noise: Tensor
    captions: tuple[str, ...]
    """As the model saw them ("" where the caption was dropped)."""
    mask_kinds: tuple[str, ...]
    low_res: Tensor | None = None
    """For an upsampler: ``x0`` at the base stage's size, as 8-bit levels (as at run time)."""

    def to(self, device: torch.device) -> Batch:
        tensors = {
            name: getattr(self, name).to(device)
            for name in ("x0", "known", "tokens", "token_mask", "timesteps", "noise")
        }
        low_res = None if self.low_res is None else self.low_res.to(device)
        return Batch(**tensors, captions=self.captions, mask_kinds=self.mask_kinds, low_res=low_res)


def step_rng(seed: int, step: int) -> np.random.Generator:
    return np.random.default_rng([seed, _BATCH_STREAM, step])


def encode_captions(captions: list[str], tokenizer: Tokenizer, text_ctx: int) -> tuple[Tensor, Tensor]:
    """Token rows and masks; an empty caption is all padding (the unconditional input)."""
    padded = [tokenizer.padded(c, text_ctx) for c in captions]
    tokens = torch.tensor([p.tokens for p in padded], dtype=torch.long)
    mask = torch.tensor([p.mask for p in padded], dtype=torch.bool)
    return tokens, mask


def draw_timesteps(
    generator: torch.Generator, rows: int, total: int, *, fraction: float, start: float
) -> Tensor:
    """Uniform steps, except that ``fraction`` of the rows draw from the noisiest ``1 - start``.

    At high noise the hole's colour can no longer be read from x_t, so only
    there does the prompt lower the loss; drawing such steps more often makes
    the prompt's signal stronger in every batch.
    """
    uniform = torch.randint(0, total, (rows,), generator=generator)
    if fraction <= 0:
        return uniform
    noisy = torch.randint(min(int(start * total), total - 1), total, (rows,), generator=generator)
    pick = torch.rand(rows, generator=generator) < fraction
    return torch.where(pick, noisy, uniform)


def make_batch(
    source: ExampleSource,
    *,
    step: int,
    batch_size: int,
    seed: int,
    tokenizer: Tokenizer,
    text_ctx: int,
    caption_drop: float,
    mask_mix: MaskMix,
    num_timesteps: int,
    high_noise_fraction: float = 0.0,
    high_noise_start: float = 0.7,
    low_res_size: int | None = None,
    crop_size: int | None = None,
) -> Batch:
    """``low_res_size``: also make an upsampler's low-resolution input of that size.

    ``crop_size``: train on one random square of that side per example (an
    upsampler is convolutional, so it learns from parts of pictures at a
    fraction of the cost); the low-resolution input is made from the whole
    picture first, as at run time, and cut at the matching place.
    """
    rng = step_rng(seed, step)
    examples = source.batch(step=step, count=batch_size, rng=rng)
    size = source.image_size
    images = np.stack([e.image for e in examples]).astype(np.float32)
    x0 = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous() / 127.5 - 1.0
    kinds = [mask_mix.choose(rng) for _ in examples]
    masks = np.stack([random_mask(k, size, rng, box=e.box) for k, e in zip(kinds, examples, strict=True)])
    drop = rng.random(len(examples)) < caption_drop
    captions = ["" if d else e.caption for d, e in zip(drop, examples, strict=True)]
    tokens, token_mask = encode_captions(captions, tokenizer, text_ctx)
    generator = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
    timesteps = draw_timesteps(
        generator, len(examples), num_timesteps, fraction=high_noise_fraction, start=high_noise_start
    )
    known = torch.from_numpy(masks)[:, None]
    low_res = None if low_res_size is None else upsampler_low_res(x0, low_res_size)
    if crop_size is not None and crop_size < size:
        x0, known, low_res = _crop(rng, crop_size, x0, known, low_res)
    noise = torch.randn(x0.shape, generator=generator)
    return Batch(
        x0=x0,
        known=known,
        tokens=tokens,
        token_mask=token_mask,
        timesteps=timesteps,
        noise=noise,
        captions=tuple(captions),
        mask_kinds=tuple(kinds),
        low_res=low_res,
    )


def _crop(
    rng: np.random.Generator, side: int, x0: Tensor, known: Tensor, low_res: Tensor | None
) -> tuple[Tensor, Tensor, Tensor | None]:
    """The same random square of each row's image and mask, and of its low-resolution input.

    Corners fall on whole low-resolution pixels so both crops show the same place.
    """
    size = x0.shape[-1]
    factor = size // low_res.shape[-1] if low_res is not None else 1
    if side % factor:
        raise ValueError(f"the crop ({side} px) must be a multiple of the upsampling factor ({factor})")
    rows = []
    for i in range(len(x0)):
        top, left = (int(v) * factor for v in rng.integers(0, (size - side) // factor + 1, size=2))
        window = (slice(top, top + side), slice(left, left + side))
        small = None
        if low_res is not None:
            small = low_res[
                i, :, top // factor : (top + side) // factor, left // factor : (left + side) // factor
            ]
        rows.append((x0[i, :, window[0], window[1]], known[i, :, window[0], window[1]], small))
    images, masks, smalls = zip(*rows, strict=True)
    return torch.stack(images), torch.stack(masks), None if low_res is None else torch.stack(smalls)
