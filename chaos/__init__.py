"""Chaos drills (issue 15): faults and load on the chat vertical, each a repeatable drill.

The short, fast drills run with the test suite (``make test``); the long ones are marked
``chaos_long`` and run with ``make chaos``. How ops run them: docs/operations/drills.md.
"""

from __future__ import annotations

from collections import defaultdict

#: drill -> one figures dict per case (route, run, ...), summed into the drill's verdict line
_FIGURES: dict[str, list[dict[str, int]]] = defaultdict(list)


def record(drill: str, **figures: int) -> None:
    """Add one case's figures (counts) to ``drill``'s verdict line."""
    _FIGURES[drill].append(figures)


def verdicts() -> list[str]:
    """One line per drill that ran in this process: its cases and summed figures, and
    ``BROKEN`` when any case counted a ``broken`` promise."""
    lines = []
    for drill, cases in sorted(_FIGURES.items()):
        totals: dict[str, int] = defaultdict(int)
        for case in cases:
            for key, value in case.items():
                totals[key] += value
        state = "BROKEN" if totals.get("broken") else "OK"
        figures = ", ".join(f"{key} {value}" for key, value in totals.items())
        lines.append(f"{drill}: {state} -- {len(cases)} cases, {figures}")
    return lines
