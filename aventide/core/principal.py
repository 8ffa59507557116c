"""The one type for "who is acting": `Principal`.

Resolved ONCE where a call enters the system -- REST authentication, the admin's session
user, the WebSocket ticket, a Celery task or a management command (the system) -- and then
passed to services (``actor: Principal``, always the first keyword argument). Services never
look at ``User`` objects or request attributes to decide who is calling.

Kinds:
- ``user``: a registered party (buyer, seller, recipient with an account). ``id`` = user pk.
- ``staff``: an active staff user. ``level`` = L1/L2/L3 ("" without a profile), ``countries``
  = the countries ScopeGuard lets them operate in (every active one for a superuser).
- ``anonymous``: a recipient without an account, bound to ONE order (``order_id``) and role.
  ``id`` = the identity's uuid.
- ``system``: automation (L0 rules, beat jobs, webhooks, seeding). There is exactly one:
  `SYSTEM`, at level ``L0``.

The kernel defines the type; ``aventide.accounts`` builds instances (it owns users, staff
scopes and anonymous identities). A principal is immutable: a change of level or scope takes
effect on the next resolution (see docs/operations/auth.md for the bounded delay).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar


class PrincipalKind(StrEnum):
    USER = "user"
    STAFF = "staff"
    ANONYMOUS = "anonymous"
    SYSTEM = "system"


SYSTEM_LEVEL = "L0"
STAFF_LEVELS: tuple[str, ...] = ("L1", "L2", "L3")
STAFF_LEVEL_RANK: dict[str, int] = {"L1": 1, "L2": 2, "L3": 3}


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    kind: PrincipalKind
    id: str
    country_code: str = ""
    #: staff: L1/L2/L3 ("" without a profile); system: L0; parties: "".
    level: str = ""
    is_seller: bool = False
    is_superuser: bool = False
    is_ops_lead: bool = False
    #: staff: the countries they may operate in (ScopeGuard's only input).
    countries: frozenset[str] = field(default_factory=frozenset)
    #: anonymous: the one order the identity was issued for, and its role on it.
    order_id: int | None = None
    role: str = ""
    #: registered: the account's email and name (PII: never logged, never in payloads).
    email: str = field(default="", repr=False, compare=False)
    full_name: str = field(default="", repr=False, compare=False)

    # Duck-typing for DRF/Django code that reads ``request.user`` (permissions, throttles).
    is_authenticated: ClassVar[bool] = True
    is_anonymous: ClassVar[bool] = False

    # --- what kind -------------------------------------------------------------------------
    @property
    def is_user(self) -> bool:
        return self.kind is PrincipalKind.USER

    @property
    def is_staff(self) -> bool:
        return self.kind is PrincipalKind.STAFF

    @property
    def is_registered(self) -> bool:
        """A person with an account (party or staff): what account-only endpoints need."""
        return self.kind in (PrincipalKind.USER, PrincipalKind.STAFF)

    @property
    def is_anonymous_identity(self) -> bool:
        return self.kind is PrincipalKind.ANONYMOUS

    @property
    def is_system(self) -> bool:
        return self.kind is PrincipalKind.SYSTEM

    # --- ids ----------------------------------------------------------------------------------
    @property
    def user_id(self) -> int | None:
        """The user pk of a registered principal, else None."""
        return int(self.id) if self.is_registered else None

    @property
    def anon_id(self) -> uuid.UUID | None:
        return uuid.UUID(self.id) if self.is_anonymous_identity else None

    @property
    def pk(self) -> str:
        """A stable identity key (DRF throttles key callers by ``request.user.pk``)."""
        return f"{self.kind}:{self.id}"

    # --- staff --------------------------------------------------------------------------------
    def has_level(self, minimum: str) -> bool:
        """Staff at ``minimum`` or above (superusers always)."""
        if minimum not in STAFF_LEVEL_RANK:
            raise ValueError(f"unknown staff level {minimum!r}")
        if not self.is_staff:
            return False
        if self.is_superuser:
            return True
        return STAFF_LEVEL_RANK.get(self.level, 0) >= STAFF_LEVEL_RANK[minimum]

    def operates_in(self, country_code: str) -> bool:
        """Staff whose scope includes ``country_code`` (the ScopeGuard predicate)."""
        return self.is_staff and bool(country_code) and country_code.upper() in self.countries

    # --- rendering ------------------------------------------------------------------------
    def as_log(self) -> str:
        return f"{self.kind}:{self.id}"

    def __str__(self) -> str:
        return self.as_log()

    def to_payload(self) -> dict[str, Any]:
        """JSON-safe form (ws tickets, task headers) without PII (email, name): round-trips
        with `from_payload` to an equal principal."""
        return {
            "kind": str(self.kind),
            "id": self.id,
            "countryCode": self.country_code,
            "level": self.level,
            "isSeller": self.is_seller,
            "isSuperuser": self.is_superuser,
            "isOpsLead": self.is_ops_lead,
            "countries": sorted(self.countries),
            "orderId": self.order_id,
            "role": self.role,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Principal:
        """Rebuild a principal from `to_payload`; ValueError/KeyError/TypeError when garbled."""
        order_id = payload.get("orderId")
        return cls(
            kind=PrincipalKind(str(payload["kind"])),
            id=str(payload["id"]),
            country_code=str(payload.get("countryCode", "")),
            level=str(payload.get("level", "")),
            is_seller=bool(payload.get("isSeller", False)),
            is_superuser=bool(payload.get("isSuperuser", False)),
            is_ops_lead=bool(payload.get("isOpsLead", False)),
            countries=frozenset(str(c) for c in payload.get("countries", ())),
            order_id=int(order_id) if order_id is not None else None,
            role=str(payload.get("role", "")),
        )


#: The one system principal: every automatic step (L0 rules, beat jobs, webhooks, seeding)
#: acts and is audited as ``system:system`` at level L0.
SYSTEM = Principal(kind=PrincipalKind.SYSTEM, id="system", level=SYSTEM_LEVEL)
