"""Make the README's before/after picture with the demo model, through the CLI.

    python scripts/demo_before_after.py

Runs ``glide-studio inpaint`` on the bundled shapes scene (four candidates,
seeds 1-4) and writes ``docs/demo_before_after.png``: the scene with its mask
shown translucent, then each candidate.
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


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "after.png"
        command = [
            *("glide-studio", "inpaint", str(SCENE), "--mask", str(MASK), "--prompt", PROMPT),
            *("--demo", "--seed", "1", "--candidates", "4", "-o", str(out)),
        ]
        subprocess.run(command, check=True, stdout=sys.stderr)
        results = [Image.open(p).convert("RGB") for p in sorted(Path(tmp).glob("after-*.png"))]
    tiles = [_with_mask(Image.open(SCENE), Image.open(MASK)), *results]
    width = sum(t.width for t in tiles) + GAP * (len(tiles) - 1)
    sheet = Image.new("RGB", (width, tiles[0].height), "white")
    x = 0
    for tile in tiles:
        sheet.paste(tile, (x, 0))
        x += tile.width + GAP
    OUT.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(OUT)
    print(f"wrote {OUT}: {' '.join(command)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
