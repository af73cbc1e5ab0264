"""Measuring prompt adherence: inpaint held-out scenes and check the colour that appears.

Used by the demo model's acceptance test and by the recipe experiments, so both
judge a model the same way: a square hole in the middle of a held-out scene,
a prompt naming a colour and a shape, classifier-free guidance, the known
region pasted into every x0 prediction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..diffusion import Diffusion, classifier_free_guidance, paste_known_region, sample
from ..model import GlideModel
from ..text.tokenizer import Tokenizer
from .batches import encode_captions
from .synthetic import PALETTE, SyntheticScenes, nearest_colour

__all__ = ["AdherenceCase", "AdherenceResult", "centre_hole", "heldout_cases", "inpaint", "measure_adherence"]

EVAL_SHAPES = ("circle", "square", "hexagon")
"""Shapes that cover the middle of their box, so the hole's centre shows their colour."""


@dataclass(frozen=True)
class AdherenceCase:
    image: np.ndarray
    """uint8 (size, size, 3): a held-out scene."""
    colour: str
    shape: str

    @property
    def prompt(self) -> str:
        article = "an" if self.colour[0] in "aeiou" else "a"
        return f"{article} {self.colour} {self.shape}"


@dataclass(frozen=True)
class AdherenceResult:
    hits: tuple[bool, ...]
    """Per case: the generated centre's mean colour is nearest the prompted colour."""
    hole_hits: tuple[bool, ...]
    """Per case: the same, for the mean over the whole hole (object plus background)."""
    found: tuple[str, ...]
    samples: Tensor
    """The results in [-1, 1], (B, 3, H, W)."""

    @property
    def rate(self) -> float:
        return sum(self.hits) / max(1, len(self.hits))

    @property
    def hole_rate(self) -> float:
        return sum(self.hole_hits) / max(1, len(self.hole_hits))


def centre_hole(size: int, *, fraction: float = 0.5) -> np.ndarray:
    """Known-pixel mask (1 = known) with a centred square hole ``fraction`` of the side."""
    side = round(size * fraction)
    lo = (size - side) // 2
    known = np.ones((size, size), dtype=np.float32)
    known[lo : lo + side, lo : lo + side] = 0
    return known


def heldout_cases(
    count: int, *, image_size: int, seed: int = 12345, shapes: Sequence[str] = EVAL_SHAPES
) -> list[AdherenceCase]:
    """Held-out scenes, each with a prompt whose colour differs from what was there."""
    scenes = SyntheticScenes(image_size=image_size, seed=seed, split="heldout")
    cases = []
    for index in range(count):
        scene = scenes.centred(index)
        rng = np.random.default_rng([seed, 99, index])
        avoid = {scene.colour, nearest_colour(scene.image[0, 0]), nearest_colour(scene.image[-1, -1])}
        colours = [c for c in PALETTE if c not in avoid]
        cases.append(
            AdherenceCase(
                image=scene.image,
                colour=str(rng.choice(colours)),
                shape=str(shapes[index % len(shapes)]),
            )
        )
    return cases


@torch.no_grad()
def inpaint(
    model: GlideModel,
    *,
    diffusion: Diffusion,
    tokenizer: Tokenizer,
    images: Tensor,
    known: Tensor,
    prompts: Sequence[str],
    guidance: float,
    sampler: str = "ddim",
    seed: int = 0,
) -> Tensor:
    """Fill the unknown pixels (``known`` = 0) of ``images`` in [-1, 1] from ``prompts``."""
    batch = images.shape[0]
    text_ctx = model.config.text_ctx
    tokens, token_mask = encode_captions([*prompts, *([""] * batch)], tokenizer, text_ctx)
    device = model.device
    images, known = images.to(device), known.to(device)
    cond = model.condition(
        tokens=tokens.to(device),
        mask=token_mask.to(device),
        inpaint_image=torch.cat([images, images]),
        inpaint_mask=torch.cat([known, known]),
    )
    guided = classifier_free_guidance(lambda x, t: model.denoise(x, t, cond), guidance)
    generator = torch.Generator().manual_seed(seed)
    x_T = torch.randn(images.shape, generator=generator).to(device)
    paste = paste_known_region(images, known)
    x = x_T
    for step in sample(sampler, guided, diffusion, x_T, noise=generator, x0_transform=paste):
        x = step.x
    return x.clamp(-1, 1)


def _region_mean(samples: Tensor, region: np.ndarray) -> np.ndarray:
    """Mean colour (0-255) of each sample over a boolean (H, W) region."""
    pixels = ((samples.permute(0, 2, 3, 1).cpu().numpy() + 1) * 127.5)[:, region]
    return pixels.mean(axis=1)


def measure_adherence(
    model: GlideModel,
    *,
    diffusion: Diffusion,
    tokenizer: Tokenizer,
    cases: Sequence[AdherenceCase],
    guidance: float,
    sampler: str = "ddim",
    seed: int = 0,
    hole_fraction: float = 0.5,
) -> AdherenceResult:
    size = model.config.image_size
    known_np = centre_hole(size, fraction=hole_fraction)
    images = torch.from_numpy(np.stack([c.image for c in cases]).astype(np.float32)).permute(0, 3, 1, 2)
    images = images / 127.5 - 1
    known = torch.from_numpy(known_np)[None, None].expand(len(cases), 1, size, size).contiguous()
    samples = inpaint(
        model,
        diffusion=diffusion,
        tokenizer=tokenizer,
        images=images,
        known=known,
        prompts=[c.prompt for c in cases],
        guidance=guidance,
        sampler=sampler,
        seed=seed,
    )
    hole = known_np == 0
    centre = centre_hole(size, fraction=hole_fraction / 2) == 0
    found = [nearest_colour(m) for m in _region_mean(samples, centre)]
    found_hole = [nearest_colour(m) for m in _region_mean(samples, hole)]
    return AdherenceResult(
        hits=tuple(f == c.colour for f, c in zip(found, cases, strict=True)),
        hole_hits=tuple(f == c.colour for f, c in zip(found_hole, cases, strict=True)),
        found=tuple(found),
        samples=samples,
    )
