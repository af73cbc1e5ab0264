"""Where the GLIDE reference data lives, and whether its absence may skip tests (not under CI).

A plain module (not conftest) so that tests can import it: there are several conftest modules.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_ENV = "GLIDE_REFERENCE_DIR"


def find_reference_dir() -> Path | None:
    """``$GLIDE_REFERENCE_DIR``, else ``../shared/glide_reference`` beside the project."""
    candidates = []
    if os.environ.get(REFERENCE_ENV):
        candidates.append(Path(os.environ[REFERENCE_ENV]))
    candidates.append(PROJECT_ROOT.parent / "shared" / "glide_reference")
    for folder in candidates:
        if (folder / "checkpoint_manifest.json").is_file():
            return folder
    return None


def strict(environ: Mapping[str, str] = os.environ) -> bool:
    """Under CI (``CI`` set and not "false"/"0") missing reference data fails instead of skipping,
    so a green run always means the reference comparisons ran."""
    return environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_reference(folder: Path | None, environ: Mapping[str, str] = os.environ) -> Path:
    """``folder``, or skip the test when it is None (fail under CI)."""
    if folder is None:
        message = (
            f"GLIDE reference data not found (set {REFERENCE_ENV} or place it at ../shared/glide_reference)"
        )
        skip_or_fail(message, environ)
    return folder


def skip_or_fail(message: str, environ: Mapping[str, str] = os.environ) -> NoReturn:
    """Skip the test for a missing input, or fail it under CI."""
    if strict(environ):
        pytest.fail(f"{message}; CI is set, so this fails instead of skipping", pytrace=False)
    pytest.skip(message)
