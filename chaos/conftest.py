"""The drills share the test suite's fixtures and real-services policy (tests/conftest.py).

chaos/ sits beside tests/, so tests/conftest.py does not apply here by directory: its hooks and
autouse fixtures are imported by name (a conftest's module namespace is what pytest reads).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from chaos import verdicts
from tests.conftest import (  # noqa: F401  (re-exported for pytest)
    _audit_worm_aware_flush,
    _clear_cache,
    _fast_password_hasher,
    _fresh_principal_cache,
    api_client,
    countries,
    pytest_configure,
    pytest_runtest_setup,
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The full drills (``chaos_long``) run only under ``make chaos`` (AVENTIDE_CHAOS_LONG=1):
    ``make test`` and ``.ci/run`` run the short ones."""
    if os.environ.get("AVENTIDE_CHAOS_LONG") == "1":
        return
    skip = pytest.mark.skip(reason="a full drill: `make chaos` runs it (AVENTIDE_CHAOS_LONG=1)")
    for item in items:
        if item.get_closest_marker("chaos_long") is not None:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Each drill's one-line verdict with its figures (the process that ran it: under xdist
    the workers' lines stay with them; `make chaos` runs in one process)."""
    lines = verdicts()
    if lines:
        terminalreporter.section("chaos verdicts")
        for line in lines:
            terminalreporter.write_line(line)
