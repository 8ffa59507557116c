"""pytest plugin of the mutation runner: writes each test's outcome and duration to a file.

Loaded with ``-p tools.mutation.pytest_plugin``; does nothing unless ``MUTATION_REPORT`` names
the JSON file to write. Under xdist only the controller writes (it sees every report).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

_durations: dict[str, float] = {}
_failed: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _durations[report.nodeid] = _durations.get(report.nodeid, 0.0) + report.duration
    if report.failed and report.nodeid not in _failed:
        _failed.append(report.nodeid)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        _failed.append(f"collect:{report.nodeid}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get("MUTATION_REPORT")
    if not target or hasattr(session.config, "workerinput"):
        return
    payload: dict[str, Any] = {
        "exitstatus": int(exitstatus),
        "failed": _failed,
        "durations": _durations,
    }
    Path(target).write_text(json.dumps(payload), encoding="utf-8")
