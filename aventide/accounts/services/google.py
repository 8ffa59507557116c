"""Google login: verify the ID token, then link or create the user."""

from __future__ import annotations

from django.db import IntegrityError

from audit import services as audit
from aventide.accounts import google, principals
from aventide.accounts.audit_actions import AuthAction, UserAction
from aventide.accounts.errors import GoogleLinkRefused, InvalidCredentials
from aventide.accounts.models import User
from aventide.accounts.refusals import refuse
from aventide.accounts.services.login import audit_lockout, login_failed_metric
from aventide.accounts.services.sessions import TokenPair, revoke_all_sessions, session_start
from aventide.accounts.services.users import active_country
from aventide.accounts.throttling import LoginGuard
from aventide.accounts.usecase import UseCase, use_case
from aventide.core import metrics
from aventide.core.errors import DomainError, ValidationFailed
from aventide.core.principal import SYSTEM


def login_with_google(*, id_token: str, ip: str, country_code: str | None = None) -> TokenPair:
    """Google login: verify the ID token, then link or create the user.

    Links by Google ``sub`` first, else by the (verified) email; a new account needs
    ``country_code``. Linking an existing account by email (a) is refused for staff and
    superusers (``GOOGLE_LINK_REFUSED``, audited ``auth.google_link_refused``): a Google account
    with the same email is not enough to open the staff console; (b) otherwise disables the
    account's password and revokes every session opened before the link, so whoever
    registered that email first (account pre-hijacking) loses access. Audit:
    ``user.registered`` (method google) or ``user.google_linked``.
    """
    guard = LoginGuard.for_ip(ip)
    guard.check_ip()
    try:
        identity = google.verify_id_token(id_token)
    except DomainError as exc:
        code = exc.code
        login_failed_metric("google", code)
        if (
            code in {"GOOGLE_TOKEN_INVALID", "GOOGLE_EMAIL_UNVERIFIED"}
            and guard.record_ip_failure()
        ):
            audit_lockout(guard, seconds=0, ip_blocked=True)
        raise
    try:
        user = _google_user(identity, country_code)
    except IntegrityError:  # a concurrent first login created or linked the same account
        user = _google_user(identity, country_code)
    if not user.is_active:
        login_failed_metric("google", "INVALID_CREDENTIALS")
        raise InvalidCredentials()
    pair = session_start(user=user, method="google")
    metrics.emit("METRIC_AUTH_LOGIN_SUCCESS", labels={"method": "google"})
    return pair


def _google_user(identity: google.GoogleIdentity, country_code: str | None) -> User:
    """Find (by Google sub, then verified email), link or create the user of ``identity``."""
    with use_case(SYSTEM) as uc:
        user = uc.lock(User.objects.filter(google_sub=identity.sub))
        if user is not None:
            return user
        user = uc.lock(User.objects.filter(email__iexact=identity.email))
        if user is not None:
            if user.google_sub and user.google_sub != identity.sub:
                login_failed_metric("google", "GOOGLE_ACCOUNT_MISMATCH")
                raise InvalidCredentials()
            if not (user.is_staff or user.is_superuser):
                if user.is_active:
                    _google_link(uc, user, identity)
                return user
            login_failed_metric("google", GoogleLinkRefused.code)
            refuse(
                AuthAction.GOOGLE_LINK_REFUSED,
                ("user", str(user.pk)),
                principal=SYSTEM,
                country_code=user.country_code,
                data={"reason": "superuser" if user.is_superuser else "staff"},
            )
            raise GoogleLinkRefused()
        if not country_code:
            raise ValidationFailed(details={"countryCode": ["Required to create a new account."]})
        user = User(
            email=identity.email,
            full_name=identity.name,
            country_code=active_country(country_code),
            google_sub=identity.sub,
        )
        user.set_unusable_password()
        user.save()
        audit.record(
            UserAction.REGISTERED,
            user,
            actor=principals.principal_for_user(user),
            data={"method": "google"},
        )
        return user


def _google_link(uc: UseCase, user: User, identity: google.GoogleIdentity) -> None:
    """Link ``user`` (row locked by the frame) to the Google identity.

    The password stops working and every earlier session is revoked: the Google account
    proved the email, the password did not (anyone could register an email they do not own).
    """
    password_disabled = user.has_usable_password()
    user.google_sub = identity.sub
    fields = ["google_sub"]
    if password_disabled:
        user.set_unusable_password()
        fields.append("password")
    user.save(update_fields=fields)
    actor = principals.principal_for_user(user)
    audit.record(
        UserAction.GOOGLE_LINKED,
        user,
        actor=actor,
        data={"method": "google", "emailLoginDisabled": password_disabled},
    )
    revoke_all_sessions(uc, user, reason="google_linked", actor=actor)
