"""Training GLIDE-architecture inpainting models (no Qt): data, masks, losses, the loop.

``glide-studio train`` is the command-line front end; the demo model in
``glide_studio/resources/demo`` was made with it.
"""

from .checkpointing import (
    TRAINING_FORMAT,
    expand_input_channels,
    init_weights_from,
    read_training_state,
    write_weights,
)
from .datasets import CaptionedImages, DatasetError, Example, SyntheticSource, open_source
from .demo import MODEL_PRESETS, export_checkpoint, model_preset
from .ema import Ema
from .loop import CHECKPOINT_NAME, LOG_NAME, StepResult, TrainConfig, Trainer
from .losses import CoefficientTables, hybrid_loss
from .masks import MASK_KINDS, MaskMix, random_mask
from .synthetic import PALETTE, SHAPES, SyntheticScenes, nearest_colour

__all__ = [
    "CHECKPOINT_NAME",
    "LOG_NAME",
    "MASK_KINDS",
    "MODEL_PRESETS",
    "PALETTE",
    "SHAPES",
    "TRAINING_FORMAT",
    "CaptionedImages",
    "CoefficientTables",
    "DatasetError",
    "Ema",
    "Example",
    "MaskMix",
    "StepResult",
    "SyntheticScenes",
    "SyntheticSource",
    "TrainConfig",
    "Trainer",
    "expand_input_channels",
    "export_checkpoint",
    "hybrid_loss",
    "init_weights_from",
    "model_preset",
    "nearest_colour",
    "open_source",
    "random_mask",
    "read_training_state",
    "write_weights",
]
