"""Shared test configuration: offscreen Qt, and where the GLIDE reference data lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Qt tests never open real windows; set before any QApplication exists.
os.environ["QT_QPA_PLATFORM"] = "offscreen"

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


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    folder = find_reference_dir()
    if folder is None:
        pytest.skip(
            f"GLIDE reference data not found (set {REFERENCE_ENV} or place it at ../shared/glide_reference)"
        )
    return folder
