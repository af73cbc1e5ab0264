"""Shared test configuration: offscreen Qt, and where the GLIDE reference data lives (required under CI)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Qt tests never open real windows; set before any QApplication exists.
os.environ["QT_QPA_PLATFORM"] = "offscreen"

from reference_data import PROJECT_ROOT, REFERENCE_ENV, find_reference_dir, require_reference

__all__ = ["PROJECT_ROOT", "REFERENCE_ENV", "find_reference_dir"]


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    return require_reference(find_reference_dir())
