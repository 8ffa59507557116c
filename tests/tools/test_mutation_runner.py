"""The mutation runner passes test ids back to pytest: each must be one pytest can select."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tools.mutation.runner import addressable

ROOT = Path(__file__).resolve().parents[2]


def test_parameter_ids_with_slashes_select_the_whole_function() -> None:
    ids = [
        "tests/a.py::test_x[POST /api/orders]",
        "tests/a.py::test_x[GET /api/auth/me]",
        "tests/a.py::test_y[paid-cancel-L1]",
        "tests/a.py::test_z",
        "tests/a.py::test_w[a::b]",
        "tests/a.py::test_y[paid-cancel-L1]",
    ]
    assert addressable(ids) == [
        "tests/a.py::test_w",
        "tests/a.py::test_x",
        "tests/a.py::test_y[paid-cancel-L1]",
        "tests/a.py::test_z",
    ]


def test_every_id_of_a_path_parametrized_test_is_collectable() -> None:
    """What broke a whole mutation run: pytest refused ``test_...[POST /api/orders]``."""
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly",
         "tests/security/test_schema_fuzz.py"],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    node_ids = [line for line in listed.stdout.splitlines() if "::" in line]
    assert any("/" in n.partition("[")[2] for n in node_ids)  # the case exists
    again = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly",
         *addressable(node_ids)],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert "no match" not in again.stdout + again.stderr
