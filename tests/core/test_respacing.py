"""Respacing keeps the same timesteps as GLIDE's released code for every count and section list."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from glide_studio.core.diffusion.schedule import ScheduleError, space_timesteps

TABLE = json.loads((Path(__file__).parent / "data" / "respacing_1000.json").read_text(encoding="utf-8"))


def _digest(kept: list[int]) -> str:
    return hashlib.sha256(",".join(map(str, kept)).encode()).hexdigest()[:16]


def test_every_count_keeps_the_recorded_steps():
    wrong = [n for n, d in TABLE["counts"].items() if _digest(space_timesteps(1000, n)) != d]
    assert len(TABLE["counts"]) == 1000
    assert wrong == []


def test_section_lists_keep_the_recorded_steps():
    for spec, expected in TABLE["sections"].items():
        assert _digest(space_timesteps(1000, spec)) == expected, spec


def test_counts_where_rounding_each_position_matters():
    # 278 counts differ from rounding j * stride; "21" keeps 499 where that rule gives 500.
    assert len(TABLE["differ_from_multiplied_stride"]) == 278
    kept = space_timesteps(1000, "21")
    assert kept == TABLE["example_21"]
    assert 499 in kept and 500 not in kept
    for n in TABLE["differ_from_multiplied_stride"][:20]:
        assert len(space_timesteps(1000, n)) == int(n)


def test_impossible_sections_are_refused():
    with pytest.raises(ScheduleError, match="cannot take 600 steps from a section of 500"):
        space_timesteps(1000, "600,1")
