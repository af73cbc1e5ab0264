"""Make the README's before/after picture with the demo model, through the CLI.

    python scripts/demo_before_after.py

Runs ``glide-studio inpaint`` on the bundled shapes scene (four candidates,
seeds 1-4) twice and writes ``docs/demo_before_after.png``: the scene with its
mask shown translucent, then each candidate; the top row with ``--no-upsample``
(the 32 px base stage scaled to the region, all the demo could do before it had
an upsampler), the bottom row with both stages (32 px, then 128 px).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SCENE = ROOT / "glide_studio" / "resources" / "samples" / "shapes.png"
MASK = ROOT / "glide_studio" / "resources" / "samples" / "shapes-mask.png"
OUT = ROOT / "docs" / "demo_before_after.png"
PROMPT = "a red circle"
GAP = 8


def _with_mask(scene: Image.Image, mask: Image.Image) -> Image.Image:
    """The scene with the region to regenerate washed white, as the studio shows it."""
    rgb = np.asarray(scene.convert("RGB"), dtype=np.float32)
    masked = np.asarray(mask.convert("L"))[..., None] > 127
    shown = np.where(masked, rgb * 0.45 + 255 * 0.55, rgb)
    return Image.fromarray(shown.round().astype(np.uint8))


def _candidates(tmp: Path, name: str, extra: tuple[str, ...]) -> tuple[list[Image.Image], list[str]]:
    out = tmp / f"{name}.png"
    command = [
        *("glide-studio", "inpaint", str(SCENE), "--mask", str(MASK), "--prompt", PROMPT),
        *("--demo", "--seed", "1", "--candidates", "4", "-o", str(out), *extra),
    ]
    subprocess.run(command, check=True, stdout=sys.stderr)
    return [Image.open(p).convert("RGB") for p in sorted(tmp.glob(f"{name}-*.png"))], command


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            _candidates(Path(tmp), name, extra)
            for name, extra in (("base", ("--no-upsample",)), ("both", ()))
        ]
    masked = _with_mask(Image.open(SCENE), Image.open(MASK))
    width = (masked.width + GAP) * 5 - GAP
    sheet = Image.new("RGB", (width, (masked.height + GAP) * len(rows) - GAP), "white")
    for r, (results, _) in enumerate(rows):
        x, y = 0, r * (masked.height + GAP)
        for tile in (masked, *results):
            sheet.paste(tile, (x, y))
            x += tile.width + GAP
    OUT.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(OUT)
    for _, command in rows:
        print(f"wrote {OUT}: {' '.join(command)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
