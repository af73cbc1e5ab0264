"""Short training runs that report how much the model's output depends on the prompt.

Used to choose the demo recipe: a text pathway that collapses early (every
prompt encoded alike) never recovers, so a few hundred steps tell a bad
learning rate from a good one long before colour adherence can be measured.

    python scripts/demo_probe.py --steps 200 --batch-size 16 --lr 2e-3 --text-lr-scale 1
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch

from glide_studio.core.diffusion import Diffusion
from glide_studio.core.model import build_model
from glide_studio.core.text.tokenizer import ByteTokenizer
from glide_studio.core.training import TrainConfig, Trainer, model_preset, open_source, read_training_state
from glide_studio.core.training.batches import encode_captions
from glide_studio.core.training.ema import Ema
from glide_studio.core.training.loop import init_text_positions
from glide_studio.core.training.masks import MaskMix
from glide_studio.core.training.text_warmup import TextWarmup, warm_up_text_encoder

PROMPTS = ["a red circle", "a blue circle", "a green square", "a yellow star", ""]


@torch.no_grad()
def prompt_sensitivity(model: torch.nn.Module) -> dict[str, float]:
    """How far apart the prompts' predicted x0 lie in a centred hole (mean |Δ| in [-1, 1] units).

    Measured against the empty prompt at three noise levels, from the same x_t.
    """
    model.eval()
    size = model.config.image_size
    tokens, mask = encode_captions(PROMPTS, ByteTokenizer(), model.config.text_ctx)
    rows = len(PROMPTS)
    diffusion = Diffusion(noise_schedule="squaredcos_cap_v2", steps=1000)
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(1, 3, size, size, generator=generator).expand(rows, -1, -1, -1)
    known = torch.ones(rows, 1, size, size)
    lo, hi = size // 4, size - size // 4
    known[..., lo:hi, lo:hi] = 0
    image = torch.zeros(rows, 3, size, size)
    out = {}
    for t in (999, 950, 850):
        x_t = diffusion.q_sample(image, torch.full((rows,), t), noise)
        eps = model(
            x_t, torch.full((rows,), t), tokens=tokens, mask=mask, inpaint_image=image, inpaint_mask=known
        )
        x0 = diffusion.x0_from_eps(x_t, t, eps[:, :3]).clamp(-1, 1)[..., lo:hi, lo:hi]
        out[f"x0_t{t}"] = round(float((x0[:-1] - x0[-1:]).abs().mean()), 4)
    model.train()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--text-lr-scale", type=float, default=1.0)
    parser.add_argument("--high-noise-fraction", type=float, default=0.0)
    parser.add_argument("--high-noise-start", type=float, default=0.7)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--model-options", default="demo32")
    parser.add_argument("--changes", default="{}", help="JSON changes to the preset")
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--text-warmup", type=int, default=0, help="caption-classification warm-up steps")
    parser.add_argument("--train-proj", action="store_true", help="transformer_proj at the full rate")
    parser.add_argument("--positional-std", type=float, default=0.0, help="re-draw positions (0: keep)")
    parser.add_argument(
        "--raw", action="store_true", help="with --checkpoint: the trained weights, not the EMA"
    )
    parser.add_argument("--checkpoint", default=None, help="only measure this training checkpoint (EMA)")
    parser.add_argument("--masks", default="object=0.6,rectangle=0.12,brush=0.1,outpaint=0.08,whole=0.1")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.checkpoint:
        state = read_training_state(args.checkpoint)
        model = build_model(state["options"])
        model.load_state_dict(state["model" if args.raw else "ema"])
        print(json.dumps({"step": state["step"], **prompt_sensitivity(model)}))
        return
    options = model_preset(args.model_options) | json.loads(args.changes)
    config = TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup_steps=args.warmup,
        min_lr_ratio=1.0,
        text_lr_scale=args.text_lr_scale,
        high_noise_fraction=args.high_noise_fraction,
        high_noise_start=args.high_noise_start,
        mask_mix=MaskMix.parse(args.masks),
    )
    trainer = Trainer(
        options=options,
        source=open_source("synthetic", image_size=options["image_size"], seed=0),
        tokenizer=ByteTokenizer(),
        tokenizer_kind="bytes",
        config=config,
        out_dir=tempfile.mkdtemp(prefix="probe"),
    )
    if args.train_proj:  # the projection into the time embedding learns at the full rate
        text = [
            p
            for n, p in trainer.model.named_parameters()
            if n.startswith(("token_", "positional_", "padding_", "transformer.", "final_ln"))
        ]
        rest = [
            p
            for n, p in trainer.model.named_parameters()
            if not n.startswith(("token_", "positional_", "padding_", "transformer.", "final_ln"))
        ]
        trainer.optimizer = torch.optim.AdamW(
            [{"params": rest, "lr_scale": 1.0}, {"params": text, "lr_scale": args.text_lr_scale}], lr=args.lr
        )
    if args.positional_std > 0:
        init_text_positions(trainer.model, std=args.positional_std)
        trainer.ema = Ema(trainer.model, decay=config.ema_decay)
    if args.text_warmup > 0:
        warm = warm_up_text_encoder(
            trainer.model, tokenizer=ByteTokenizer(), settings=TextWarmup(steps=args.text_warmup)
        )
        print(json.dumps({"text_warmup_loss": [round(x, 3) for x in warm[:: max(1, len(warm) // 8)]]}))
        trainer.ema = Ema(trainer.model, decay=config.ema_decay)
    start = time.perf_counter()
    print(json.dumps({"step": 0, **prompt_sensitivity(trainer.model)}), flush=True)
    while trainer.step < args.steps:
        result = trainer.train_step()
        if trainer.step % args.every == 0:
            stats = prompt_sensitivity(trainer.model)
            elapsed = round(time.perf_counter() - start)
            print(
                json.dumps({"step": trainer.step, "loss": round(result.mse, 4), **stats, "s": elapsed}),
                flush=True,
            )


if __name__ == "__main__":
    main()
