"""Write the bundled sample scene and its mask (``glide_studio/resources/samples``), deterministically.

    python scripts/make_sample_scene.py

The scene is drawn by the synthetic-data renderer the demo model was trained
on, at 256 px: a yellow star in a cyan sky above green ground. The mask (white
= regenerate) covers empty sky to its left, where a prompt can put a new shape.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from glide_studio.core.training.synthetic import SceneSpec, render_scene

SIZE = 256
OUT = Path(__file__).resolve().parents[1] / "glide_studio" / "resources" / "samples"


def main() -> None:
    spec = SceneSpec(
        shape="star",
        colour="yellow",
        centre=(80.0, 180.0),
        radius=44.0,
        background="sky",
        background_colours=("cyan", "green"),
    )
    scene = render_scene(spec, SIZE, np.random.default_rng(0))
    mask = np.zeros((SIZE, SIZE), dtype=np.uint8)
    mask[40:136, 24:120] = 255
    OUT.mkdir(parents=True, exist_ok=True)
    Image.fromarray(scene.image).save(OUT / "shapes.png")
    Image.fromarray(mask).save(OUT / "shapes-mask.png")
    print(f"wrote {OUT / 'shapes.png'} and {OUT / 'shapes-mask.png'} ({scene.caption!r})")


if __name__ == "__main__":
    main()
