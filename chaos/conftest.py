"""The drills share the test suite's fixtures and real-services policy (tests/conftest.py).

chaos/ sits beside tests/, so tests/conftest.py does not apply here by directory: its hooks and
autouse fixtures are imported by name (a conftest's module namespace is what pytest reads).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos import verdicts
from chaos.harness import Drill, database_url_of
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


@pytest.fixture
def drill(
    request: pytest.FixtureRequest, transactional_db: None, tmp_path: Path
) -> Iterator[Drill]:
    """A drill's own Redis and its processes against the (committed) test database; every
    process stopped at the end, and their log tails printed when the test failed.

    Needs PostgreSQL (mark the test ``postgres``) and ``redis-server`` on the PATH."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("a drill runs its processes against PostgreSQL")
    if shutil.which("redis-server") is None:
        pytest.fail("a drill starts its own redis-server, which is not installed", pytrace=False)
    run = Drill(
        name=request.node.name,
        database_url=database_url_of(connection.settings_dict),
        workdir=tmp_path / "drill",
    )
    try:
        yield run
    finally:
        run.stop_all()
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            print(run.logs())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep the call phase's report on the item (the ``drill`` fixture reads it)."""
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Each drill's one-line verdict with its figures (the process that ran it: under xdist
    the workers' lines stay with them; `make chaos` runs in one process)."""
    lines = verdicts()
    if lines:
        terminalreporter.section("chaos verdicts")
        for line in lines:
            terminalreporter.write_line(line)
