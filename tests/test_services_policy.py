"""REQUIRE_SERVICES=1 turns a missing PostgreSQL/Redis into a failure instead of a skip."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from _pytest.outcomes import Failed, Skipped

from tests import conftest


def _item(marker: str) -> SimpleNamespace:
    return SimpleNamespace(get_closest_marker=lambda name: object() if name == marker else None)


@pytest.mark.parametrize("marker", ["postgres", "redis"])
def test_missing_service_skips_locally_and_fails_in_ci(
    marker: str, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.IS_POSTGRES = False
    settings.REDIS_URL = ""
    monkeypatch.setattr(conftest, "REQUIRE_SERVICES", False)
    with pytest.raises(Skipped):
        conftest.pytest_runtest_setup(_item(marker))  # type: ignore[arg-type]
    monkeypatch.setattr(conftest, "REQUIRE_SERVICES", True)
    with pytest.raises(Failed, match="REQUIRE_SERVICES=1"):
        conftest.pytest_runtest_setup(_item(marker))  # type: ignore[arg-type]


def test_available_service_runs_the_test(settings, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.IS_POSTGRES = True
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    monkeypatch.setattr(conftest, "REQUIRE_SERVICES", True)
    for marker in ("postgres", "redis"):
        conftest.pytest_runtest_setup(_item(marker))  # type: ignore[arg-type]
