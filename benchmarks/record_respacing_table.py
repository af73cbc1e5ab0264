"""Record the timestep sets GLIDE's released code keeps, as test data.

The rule (from the released code's behaviour, written down here without
importing the project): split the steps into equal sections, the first
``steps % len(counts)`` one step longer; in each section walk a float position
from 0 by ``(size - 1) / (count - 1)`` and keep ``round(position)`` each time.
The table stores, per spec, the first 16 hex digits of the SHA-256 of the
sorted steps written as comma-separated numbers, and the counts whose sets
differ from the older ``round(j * stride)`` rule, in full.

    python benchmarks/record_respacing_table.py > tests/core/data/respacing_1000.json
"""

from __future__ import annotations

import hashlib
import json

STEPS = 1000
SECTION_SPECS = ("10,10,3,2,2", "50,20,10", "3,5,7", "1,1,1,1", "0,5", "334,333,333", "7,0,9", "250,250")


def walk(steps: int, counts: list[int]) -> list[int]:
    per, extra = divmod(steps, len(counts))
    kept: set[int] = set()
    start = 0
    for k, count in enumerate(counts):
        size = per + (1 if k < extra else 0)
        stride = 1.0 if count <= 1 else (size - 1) / (count - 1)
        position = 0.0
        for _ in range(count):
            kept.add(start + round(position))
            position += stride
        start += size
    return sorted(kept)


def multiplied(steps: int, count: int) -> list[int]:
    stride = 1 if count <= 1 else (steps - 1) / (count - 1)
    return sorted({round(j * stride) for j in range(count)})


def digest(kept: list[int]) -> str:
    return hashlib.sha256(",".join(map(str, kept)).encode()).hexdigest()[:16]


def main() -> None:
    counts = {str(n): digest(walk(STEPS, [n])) for n in range(1, STEPS + 1)}
    sections = {spec: digest(walk(STEPS, [int(c) for c in spec.split(",")])) for spec in SECTION_SPECS}
    differing = {
        str(n): walk(STEPS, [n]) for n in range(1, STEPS + 1) if walk(STEPS, [n]) != multiplied(STEPS, n)
    }
    table = {
        "steps": STEPS,
        "digest": "sha256 of the sorted steps joined by commas, first 16 hex digits",
        "counts": counts,
        "sections": sections,
        "differ_from_multiplied_stride": sorted(differing, key=int),
        "example_21": walk(STEPS, [21]),
    }
    print(json.dumps(table, separators=(",", ":")))


if __name__ == "__main__":
    main()
