"""Under CI, missing reference data fails the run; elsewhere it skips (tests/conftest.py)."""

from __future__ import annotations

import pytest

from reference_data import require_reference, strict


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("1", True), ("yes", True), ("", False), ("false", False), ("0", False)],
)
def test_ci_variable(value, expected):
    assert strict({"CI": value}) is expected
    assert strict({}) is False


def test_missing_reference_fails_under_ci_and_skips_elsewhere(tmp_path):
    with pytest.raises(pytest.fail.Exception, match="CI is set, so this fails instead of skipping"):
        require_reference(None, {"CI": "true"})
    with pytest.raises(pytest.skip.Exception, match="GLIDE reference data not found"):
        require_reference(None, {})
    assert require_reference(tmp_path, {"CI": "true"}) == tmp_path
