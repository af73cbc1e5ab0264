"""The released GLIDE (filtered) files: where they come from and what they hold."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

__all__ = ["RELEASED", "ReleasedFile", "released_options"]

_WEIGHTS_URL = "https://openaipublic.blob.core.windows.net/diffusion/dec-2021/"
_BPE_URL = "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/"

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
    """The store's name for it: base, upsample, base-inpaint, upsample-inpaint, encoder, bpe."""
    filename: str
    url: str
    options: MappingProxyType | None
    """Model hyper-parameters for checkpoints; None for tokenizer files."""
    approx_bytes: int


def _checkpoint(name: str, filename: str, size: int, **changes: Any) -> ReleasedFile:
    options = MappingProxyType({**_BASE_OPTIONS, **changes})
    return ReleasedFile(name, filename, _WEIGHTS_URL + filename, options, size)


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
            ReleasedFile("encoder", "encoder.json", _BPE_URL + "encoder.json", None, 1_042_301),
            ReleasedFile("bpe", "vocab.bpe", _BPE_URL + "vocab.bpe", None, 456_318),
        )
    }
)


def released_options(name: str) -> dict[str, Any]:
    """A fresh, mutable copy of a released checkpoint's options."""
    entry = RELEASED.get(name)
    if entry is None or entry.options is None:
        checkpoints = [n for n, f in RELEASED.items() if f.options is not None]
        raise KeyError(f"{name!r} is not a released checkpoint; known: {', '.join(checkpoints)}")
    return dict(entry.options)
