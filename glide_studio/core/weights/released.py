"""The released GLIDE (filtered) files: where they come from and what they hold."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

__all__ = ["DEFAULT_GROUP", "GROUPS", "RELEASED", "ReleasedFile", "released_options"]

_WEIGHTS_URL = "https://openaipublic.blob.core.windows.net/diffusion/dec-2021/"

# Hyper-parameters of the released checkpoints (the reference's option names).
_BASE_OPTIONS: dict[str, Any] = {
    "image_size": 64,
    "num_channels": 192,
    "num_res_blocks": 3,
    "channel_mult": "",
    "num_heads": 1,
    "num_head_channels": 64,
    "num_heads_upsample": -1,
    "attention_resolutions": "32,16,8",
    "dropout": 0.1,
    "text_ctx": 128,
    "xf_width": 512,
    "xf_layers": 16,
    "xf_heads": 8,
    "xf_final_ln": True,
    "xf_padding": True,
    "diffusion_steps": 1000,
    "noise_schedule": "squaredcos_cap_v2",
    "timestep_respacing": "",
    "use_scale_shift_norm": True,
    "resblock_updown": True,
    "use_fp16": False,
    "cache_text_emb": False,
    "inpaint": False,
    "super_res": False,
}
_UPSAMPLE_CHANGES: dict[str, Any] = {
    "image_size": 256,
    "num_res_blocks": 2,
    "noise_schedule": "linear",
    "super_res": True,
}


@dataclass(frozen=True)
class ReleasedFile:
    name: str
    """The store's name: base, upsample, base-inpaint, upsample-inpaint, clip-image-enc, clip-text-enc."""
    filename: str
    url: str
    options: MappingProxyType | None
    """Model hyper-parameters of the diffusion checkpoints; None for the CLIP encoders."""
    approx_bytes: int
    """For messages and the free-space estimate; the server's own size is what gets checked."""


def _checkpoint(name: str, filename: str, size: int, **changes: Any) -> ReleasedFile:
    options = MappingProxyType({**_BASE_OPTIONS, **changes})
    return ReleasedFile(name, filename, _WEIGHTS_URL + filename, options, size)


def _clip(name: str, filename: str, size: int) -> ReleasedFile:
    return ReleasedFile(name, filename, _WEIGHTS_URL + filename, None, size)


RELEASED: MappingProxyType = MappingProxyType(
    {
        f.name: f
        for f in (
            _checkpoint("base", "base.pt", 1_540_000_000),
            _checkpoint("upsample", "upsample.pt", 1_594_000_000, **_UPSAMPLE_CHANGES),
            _checkpoint("base-inpaint", "base_inpaint.pt", 1_540_000_000, inpaint=True),
            _checkpoint(
                "upsample-inpaint", "upsample_inpaint.pt", 1_594_000_000, **_UPSAMPLE_CHANGES, inpaint=True
            ),
            _clip("clip-image-enc", "clip_image_enc.pt", 346_000_000),
            _clip("clip-text-enc", "clip_text_enc.pt", 287_000_000),
        )
    }
)

GROUPS: MappingProxyType = MappingProxyType(
    {
        "inpaint": ("base-inpaint", "upsample-inpaint"),
        "text2im": ("base", "upsample"),
        "clip": ("clip-image-enc", "clip-text-enc"),
    }
)
"""Files that are used together; ``inpaint`` is what the editor needs (the default download)."""
DEFAULT_GROUP = "inpaint"


def released_options(name: str) -> dict[str, Any]:
    """A fresh, mutable copy of a released checkpoint's options."""
    entry = RELEASED.get(name)
    if entry is None or entry.options is None:
        checkpoints = [n for n, f in RELEASED.items() if f.options is not None]
        raise KeyError(f"{name!r} is not a released checkpoint; known: {', '.join(checkpoints)}")
    return dict(entry.options)
