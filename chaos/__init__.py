"""Chaos drills (issue 15): faults and load on the chat vertical, each a repeatable drill.

The short, fast drills run with the test suite (``make test``); the long ones are marked
``chaos_long`` and run with ``make chaos``. How ops run them: docs/operations/drills.md.
"""

from __future__ import annotations

from collections import defaultdict

#: drill -> one figures dict per case (route, run, ...), combined into the drill's verdict line
_FIGURES: dict[str, list[dict[str, int]]] = defaultdict(list)

#: figures that are levels, not counts (latencies, percentages, sizes): the verdict line shows
#: the worst case's value -- a sum of two runs' p95 is no figure of either
_LEVEL_SUFFIXES = ("_ms", "_pct", "_ppm", "_mb_end", "_kb_end")


def is_level(name: str) -> bool:
    return name.endswith(_LEVEL_SUFFIXES)


def record(drill: str, **figures: int) -> None:
    """Add one case's figures (counts) to ``drill``'s verdict line."""
    _FIGURES[drill].append(figures)


def verdicts() -> list[str]:
    """One line per drill that ran in this process: its cases and their figures -- counts
    summed, levels (``is_level``) the largest of the cases -- and ``BROKEN`` when any case
    counted a ``broken`` promise."""
    lines = []
    for drill, cases in sorted(_FIGURES.items()):
        totals: dict[str, int] = defaultdict(int)
        for case in cases:
            for key, value in case.items():
                if key in totals and is_level(key):
                    totals[key] = max(totals[key], value)
                else:
                    totals[key] += value
        state = "BROKEN" if totals.get("broken") else "OK"
        figures = ", ".join(f"{key} {value}" for key, value in totals.items())
        lines.append(f"{drill}: {state} -- {len(cases)} cases, {figures}")
    return lines
