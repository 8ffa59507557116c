"""Display helpers for integer minor-unit amounts (computation never leaves integers)."""

from __future__ import annotations

# ISO 4217 minor-unit exponents that differ from 2 (the served currencies all use 2).
_EXPONENTS: dict[str, int] = {"CLP": 0, "JPY": 0, "PYG": 0, "KWD": 3, "BHD": 3}


def format_minor(amount_minor: int, currency: str) -> str:
    """``2500000, "ARS"`` -> ``"25,000.00 ARS"`` (for humans: admin, exports)."""
    exponent = _EXPONENTS.get(currency.upper(), 2)
    sign = "-" if amount_minor < 0 else ""
    major, minor = divmod(abs(amount_minor), 10**exponent)
    text = f"{major:,}" + (f".{minor:0{exponent}d}" if exponent else "")
    return f"{sign}{text} {currency.upper()}"
