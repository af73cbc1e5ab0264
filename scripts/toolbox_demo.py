"""Make the README's "Beyond inpainting" picture with the demo model, through the CLI.

    python scripts/toolbox_demo.py

Runs ``glide-studio generate`` on a new 256 px canvas, ``glide-studio
outpaint`` on the bundled shapes scene (128 px added on the right), and a
sketch edit (``inpaint --sketch --strength 0.6``) of a red blob painted over
the scene's star, then writes ``docs/toolbox_demo.png``: generated; outpainted;
sketch; sketch edit.
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
OUT = ROOT / "docs" / "toolbox_demo.png"
GAP = 8


def _cli(*args: str) -> None:
    subprocess.run(["glide-studio", *args, "--demo", "--seed", "1"], check=True)


def _sketch(folder: Path) -> tuple[Path, Path]:
    """A mask around the star and a sketch with a red blob painted there."""
    scene = np.asarray(Image.open(SCENE).convert("RGB"))
    yy, xx = np.mgrid[: scene.shape[0], : scene.shape[1]]
    mask = (np.abs(xx - 180) < 56) & (np.abs(yy - 76) < 56)
    blob = (xx - 180) ** 2 + (yy - 80) ** 2 < 34**2
    sketch = scene.copy()
    sketch[blob] = (220, 30, 30)
    Image.fromarray((mask * 255).astype(np.uint8)).save(folder / "mask.png")
    Image.fromarray(sketch).save(folder / "sketch.png")
    return folder / "mask.png", folder / "sketch.png"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _cli(
            "generate",
            "--prompt",
            "a red circle on a blue background",
            "--size",
            "256",
            "-o",
            f"{tmp}/gen.png",
        )
        _cli(
            "outpaint",
            str(SCENE),
            "--extend",
            "0,0,128,0",
            "--prompt",
            "a small red circle on a cyan and green two-tone background",
            "-o",
            f"{tmp}/wide.png",
        )
        mask, sketch = _sketch(folder)
        _cli(
            "inpaint",
            str(SCENE),
            "--mask",
            str(mask),
            "--sketch",
            str(sketch),
            "--strength",
            "0.6",
            "--prompt",
            "a red circle",
            "-o",
            f"{tmp}/edit.png",
        )
        tiles = [
            Image.open(folder / name).convert("RGB")
            for name in ("gen.png", "wide.png", "sketch.png", "edit.png")
        ]
        width = sum(t.width for t in tiles) + GAP * (len(tiles) - 1)
        sheet = Image.new("RGB", (width, max(t.height for t in tiles)), "white")
        x = 0
        for tile in tiles:
            sheet.paste(tile, (x, 0))
            x += tile.width + GAP
        OUT.parent.mkdir(exist_ok=True)
        sheet.save(OUT, optimize=True)
    print(OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
