"""What the serve tests share: the served instance's description and a small demo request."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glide_studio.core.generation.request import EditRequest, StageSettings
from glide_studio.core.remote.wire import Limits

TOKEN = "serve-test-token"
LIMITS = Limits(max_pixels=300_000, max_body_bytes=2 * 2**20)


@dataclass(frozen=True)
class Served:
    url: str
    token: str
    limits: Limits


def demo_request(*, steps: int = 12, candidates: int = 1, seed: int = 7, size=(40, 52)) -> EditRequest:
    rng = np.random.default_rng(seed)
    height, width = size
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    mask = np.zeros((height, width), bool)
    mask[height // 4 : height // 2 + 4, width // 3 : width // 3 + 16] = True
    return EditRequest(
        image=image,
        mask=mask,
        prompt="a red circle",
        guidance_scale=3.0,
        base=StageSettings(sampler="ancestral", steps=str(steps)),
        use_upsampler=False,
        candidates=candidates,
        seed=seed,
    )
