"""Minor units are shown to staff as major units with the currency."""

from __future__ import annotations

import pytest

from aventide.core.money import format_minor


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (2_500_000, "ARS", "25,000.00 ARS"),
        (5, "mxn", "0.05 MXN"),
        (-18_900, "BRL", "-189.00 BRL"),
        (1500, "CLP", "1,500 CLP"),
    ],
)
def test_format_minor(amount: int, currency: str, text: str) -> None:
    assert format_minor(amount, currency) == text
