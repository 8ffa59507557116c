"""tools/interpreter.py and tools/pick-python: the interpreter `make` builds .venv from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools import interpreter

ROOT = Path(__file__).resolve().parents[2]
PICK = ROOT / "tools" / "pick-python"


def test_build_info_describes_the_running_interpreter() -> None:
    info = interpreter.build_info()
    assert info["executable"] == sys.executable
    assert info["version"] == ".".join(map(str, sys.version_info[:3]))
    assert isinstance(info["optimized"], bool)
    # the reason names the kind of build it found
    assert ("plain" in info["why"]) is (not info["optimized"])


def test_probe_of_the_running_interpreter() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "interpreter.py"), "--probe"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    expected = "optimized" if interpreter.build_info()["optimized"] else "plain"
    assert out.stdout.strip() == expected


def _fake(tmp_path: Path, name: str, probe: str | None) -> str:
    """A stand-in interpreter whose ``--probe`` answers ``probe`` (None: cannot host a venv)."""
    script = tmp_path / name
    answer = f"echo {probe}; exit 0" if probe else "exit 1"
    script.write_text(f'#!/bin/sh\ncase "$2" in --probe) {answer};; esac\nexit 2\n')
    script.chmod(0o755)
    return str(script)


def _pick(candidates: list[str]) -> str:
    env = {**os.environ, "PICK_PYTHON_CANDIDATES": " ".join(candidates)}
    out = subprocess.run(
        ["sh", str(PICK)], capture_output=True, text=True, check=True, timeout=30, env=env
    )
    return out.stdout.strip()


@pytest.mark.parametrize(
    ("probes", "chosen"),
    [
        # an optimised build wins even when a plain one comes first
        (["plain", "optimized", "optimized"], 1),
        # no optimised build: the first that can host a venv
        ([None, "plain", "plain"], 1),
        # a candidate that cannot make a venv (Debian without python3.11-venv) is passed over
        ([None, "optimized"], 1),
        (["optimized", "plain"], 0),
    ],
)
def test_pick_prefers_an_optimised_build_that_can_make_a_venv(
    tmp_path: Path, probes: list[str | None], chosen: int
) -> None:
    fakes = [_fake(tmp_path, f"py{i}", probe) for i, probe in enumerate(probes)]
    assert _pick(fakes) == fakes[chosen]


def test_pick_skips_missing_candidates_and_falls_back_to_python3(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-python")
    broken = _fake(tmp_path, "broken", None)
    assert _pick([missing, broken]) == "python3"
    plain = _fake(tmp_path, "plain", "plain")
    assert _pick([missing, plain]) == plain
