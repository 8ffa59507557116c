"""The chart of accounts: the one place account names are built (services and selectors).

Money is integer minor units. Accounts are strings:
- ``buyer_payments:<user>``   money the buyer paid in through the PSP (goes negative)
- ``escrow:order:<order>``    held for one order (never negative: DB constraint)
- ``seller_payable:<user>``   owed to the seller
- ``buyer_refund:<user>``     refunded to the buyer's payment method
- ``buyer_credit:<user>``     platform credit granted to the buyer
- ``platform_fee``            Aventide's revenue
"""

from __future__ import annotations

ESCROW_PREFIX = "escrow:"
PLATFORM_FEE = "platform_fee"
MAX_ACCOUNT_LENGTH = 120


def escrow(order_id: int) -> str:
    return f"{ESCROW_PREFIX}order:{int(order_id)}"


def is_escrow(account: str) -> bool:
    return account.startswith(ESCROW_PREFIX)


def buyer_payments(buyer_id: int) -> str:
    return f"buyer_payments:{int(buyer_id)}"


def seller_payable(seller_id: int) -> str:
    return f"seller_payable:{int(seller_id)}"


def buyer_refund(buyer_id: int) -> str:
    return f"buyer_refund:{int(buyer_id)}"


def buyer_credit(buyer_id: int) -> str:
    return f"buyer_credit:{int(buyer_id)}"
