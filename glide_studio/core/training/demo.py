"""The demo model: its architecture presets, export and manifest.

The demo model is a small GLIDE-architecture inpainting model trained on the
synthetic scenes with byte tokens, so the studio works before (or without)
downloading the released weights. Its manifest says how it was made and how
to sample from it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..imaging.safe_write import write_bytes_atomic
from .checkpointing import read_training_state, write_weights

__all__ = [
    "DEMO_MANIFEST",
    "DEMO_SAMPLING",
    "DEMO_WEIGHTS",
    "MODEL_PRESETS",
    "export_checkpoint",
    "model_preset",
    "read_manifest",
    "write_manifest",
]

DEMO_WEIGHTS = "demo_inpaint.pt"
DEMO_MANIFEST = "demo_inpaint.json"
MANIFEST_FORMAT = "glide-studio-model/1"

_COMMON: dict[str, Any] = {
    "num_res_blocks": 1,
    "num_heads": 1,
    "num_head_channels": 32,
    "num_heads_upsample": -1,
    "dropout": 0.0,
    "text_ctx": 24,
    "xf_width": 128,
    "xf_layers": 2,
    "xf_heads": 4,
    "xf_final_ln": True,
    "xf_padding": True,
    "n_vocab": 257,
    "diffusion_steps": 1000,
    "noise_schedule": "squaredcos_cap_v2",
    "timestep_respacing": "",
    "use_scale_shift_norm": True,
    "resblock_updown": True,
    "use_fp16": False,
    "cache_text_emb": False,
    "inpaint": True,
    "super_res": False,
}

MODEL_PRESETS: MappingProxyType = MappingProxyType(
    {
        "demo32": MappingProxyType(
            {
                **_COMMON,
                "image_size": 32,
                "num_channels": 32,
                "channel_mult": "1,2,2",
                "attention_resolutions": "16,8",
            }
        ),
        "demo64": MappingProxyType(
            {
                **_COMMON,
                "image_size": 64,
                "num_channels": 32,
                "channel_mult": "1,2,3,4",
                "attention_resolutions": "16,8",
            }
        ),
        "demo-up128": MappingProxyType(
            {
                **_COMMON,
                "super_res": True,
                "noise_schedule": "linear",
                "image_size": 128,
                "num_channels": 32,
                "channel_mult": "1,1,2,2",
                "attention_resolutions": "16",
            }
        ),
        "tiny": MappingProxyType(
            {
                **_COMMON,
                "image_size": 16,
                "num_channels": 32,
                "channel_mult": "1,2",
                "attention_resolutions": "8",
                "text_ctx": 32,
                "xf_width": 32,
                "xf_layers": 1,
                "xf_heads": 2,
                "num_head_channels": 16,
            }
        ),
    }
)
"""Byte-token inpainting architectures: the demo models' and a tiny one for tests.

``demo-up128`` is the demo's upsampler: the released upsampler's design (text
and inpainting conditioned, linear noise schedule, attention only at the lowest
resolution here) scaled down to take the 32 px base result to 128 px, 4x like
the released 64 -> 256 px.
"""

DEMO_SAMPLING: MappingProxyType = MappingProxyType(
    {"sampler": "ancestral", "steps": "50", "guidance_scale": 3.0}
)
"""What the demo model is evaluated with (the studio's defaults for it).

Ancestral sampling obeys the prompt more often than the deterministic samplers
with this small model (measured over held-out cases at guidance 3; the figures
are in the README's training section). Exported
upsamplers name ``UPSAMPLER_SAMPLING`` until their own steps are measured.
"""


UPSAMPLER_SAMPLING: MappingProxyType = MappingProxyType({"sampler": "ancestral", "steps": "fast27"})
"""What an exported upsampler's manifest names until measured otherwise: the paper's second stage."""


def _variant(options: Mapping[str, Any]) -> str:
    kind = "upsample" if options.get("super_res") else "base"
    return f"{kind}-inpaint" if options.get("inpaint") else kind


def model_preset(name: str) -> dict[str, Any]:
    """A fresh copy of a preset's options."""
    if name not in MODEL_PRESETS:
        raise KeyError(f"unknown model preset {name!r}; known: {', '.join(MODEL_PRESETS)}")
    return dict(MODEL_PRESETS[name])


def write_manifest(path: Path, manifest: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, (json.dumps(manifest, indent=2, sort_keys=False) + "\n").encode("utf-8"))


def read_manifest(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def export_checkpoint(
    checkpoint: str | Path,
    weights_path: str | Path,
    *,
    command: str = "",
    sampling: Mapping[str, Any] | None = None,
    evaluation: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write a training checkpoint's EMA weights (float16) and a manifest beside them.

    The manifest (``weights_path`` with a ``.json`` suffix) records the options,
    tokenizer, how the model was trained (the starting command, then any resume
    that changed the step total), the file's SHA-256 and how to sample.
    """
    state = read_training_state(checkpoint)
    weights_path = Path(weights_path)
    sha256 = write_weights(weights_path, state["ema"], half=True)
    options = state["options"]
    config = dict(state["config"])
    manifest = {
        "format": MANIFEST_FORMAT,
        "name": weights_path.stem,
        "weights": weights_path.name,
        "sha256": sha256,
        "bytes": weights_path.stat().st_size,
        "dtype": "float16",
        "variant": _variant(state["options"]),
        "options": dict(state["options"]),
        "tokenizer": state["tokenizer"],
        "training": {
            "command": command,
            "data": state.get("data", ""),
            "seed": config.get("seed"),
            "steps": int(state["step"]),
            "resumed": [str(h) for h in state.get("history", [])],
            "config": config,
        },
        "sampling": dict(sampling or (UPSAMPLER_SAMPLING if options.get("super_res") else DEMO_SAMPLING)),
    }
    if evaluation:
        manifest["evaluation"] = dict(evaluation)
    write_manifest(weights_path.with_suffix(".json"), manifest)
    return manifest
