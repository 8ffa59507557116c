"""Write use cases of accounts, by topic (each module one concern):

- `sessions`: JWT access + rotating refresh tokens (refresh families), logout;
- `users`: registration, users edited by staff;
- `login`: password login with lockouts, the ops unlock;
- `google`: Google login and account linking;
- `anonymous`: recipients' anonymous identities;
- `ws_tickets`: single-use WebSocket tickets;
- `staff`: staff profiles and country scopes.

House rules (docs/development/recipe.md): keyword-only arguments, the acting `Principal`
first; every state change runs in a use-case frame and writes its audit event inside it.
Login success/failure are metrics (``METRIC_AUTH_LOGIN_SUCCESS``/``_FAILURE``), not audit
rows. Other apps import this package (``from aventide.accounts import services``), never its
modules.
"""

from __future__ import annotations

from aventide.accounts.services.anonymous import (
    IssuedAnonymousIdentity,
    anonymous_identity_issue,
    anonymous_identity_revoke,
    sign_anonymous_id,
)
from aventide.accounts.services.google import login_with_google
from aventide.accounts.services.login import (
    login_attempt_check,
    login_attempt_failed,
    login_guard,
    login_lockout_clear,
    login_with_password,
)
from aventide.accounts.services.sessions import (
    TokenPair,
    session_logout,
    session_refresh,
    session_start,
)
from aventide.accounts.services.staff import (
    staff_profile_set,
    staff_scope_grant,
    staff_scope_revoke,
)
from aventide.accounts.services.users import (
    SUPERUSER_ONLY_FIELDS,
    USER_AUDITED_FIELDS,
    user_change_authorize,
    user_protection_reason,
    user_register,
    user_save_by_staff,
)
from aventide.accounts.services.ws_tickets import (
    WS_TICKET_KEY,
    WS_TICKET_TTL_SECONDS,
    WsGrant,
    ws_ticket_issue,
    ws_ticket_redeem,
    ws_ticket_redeem_grant,
)

__all__ = [
    "SUPERUSER_ONLY_FIELDS",
    "USER_AUDITED_FIELDS",
    "WS_TICKET_KEY",
    "WS_TICKET_TTL_SECONDS",
    "IssuedAnonymousIdentity",
    "TokenPair",
    "WsGrant",
    "anonymous_identity_issue",
    "anonymous_identity_revoke",
    "login_attempt_check",
    "login_attempt_failed",
    "login_guard",
    "login_lockout_clear",
    "login_with_google",
    "login_with_password",
    "session_logout",
    "session_refresh",
    "session_start",
    "sign_anonymous_id",
    "staff_profile_set",
    "staff_scope_grant",
    "staff_scope_revoke",
    "user_change_authorize",
    "user_protection_reason",
    "user_register",
    "user_save_by_staff",
    "ws_ticket_issue",
    "ws_ticket_redeem",
    "ws_ticket_redeem_grant",
]
