"""The verdict line of a drill with a short and a full case: counts add up, levels do not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import chaos


@pytest.fixture
def figures() -> Iterator[None]:
    saved = {name: list(cases) for name, cases in chaos._FIGURES.items()}
    chaos._FIGURES.clear()
    yield
    chaos._FIGURES.clear()
    chaos._FIGURES.update(saved)


def test_counts_are_summed_and_levels_show_the_worst_case(figures: None) -> None:
    chaos.record("Soak", sends=400, errors=0, p95_ms=30, rss_growth_pct=-3, broken=0)
    chaos.record("Soak", sends=60000, errors=2, p95_ms=78, rss_growth_pct=-1, broken=0)

    assert chaos.verdicts() == [
        "Soak: OK -- 2 cases, sends 60400, errors 2, p95_ms 78, rss_growth_pct -1, broken 0"
    ]


def test_a_broken_case_breaks_the_drill(figures: None) -> None:
    chaos.record("Redis restart", lost=0, broken=0)
    chaos.record("Redis restart", lost=3, broken=1)

    assert chaos.verdicts() == ["Redis restart: BROKEN -- 2 cases, lost 3, broken 1"]
