"""Auth API under ``/api/auth/``: thin views that parse, call one service, render.

Errors come from the services as DomainErrors and are rendered by the global handler.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aventide.accounts import selectors, services
from aventide.accounts.contracts import api_principal
from aventide.accounts.errors import AnonymousIdentityNotFound
from aventide.accounts.models import AnonymousIdentity
from aventide.accounts.permissions import (
    IsRegisteredUser,
    IsStaffMember,
    IsUserOrAnonymousIdentity,
)
from aventide.accounts.scope import ScopeGuard
from aventide.accounts.services import WS_TICKET_TTL_SECONDS, TokenPair
from aventide.accounts.throttling import AuthIPRateThrottle, client_ip
from aventide.core.serializers import (
    CleanTextField,
    StrictBooleanField,
    StrictCharField,
    StrictEmailField,
    StrictSerializer,
    StrictUUIDField,
)

TAG = "auth"


# --- serializers -------------------------------------------------------------------------


class TokenPairOut(serializers.Serializer[Any]):
    access = serializers.CharField(help_text="JWT access token: `Authorization: Bearer ...`.")
    refresh = serializers.CharField(help_text="Single-use refresh token.")
    access_expires_in = serializers.IntegerField(help_text="Seconds until `access` expires.")


def _tokens(pair: TokenPair) -> dict[str, Any]:
    return {
        "access": pair.access,
        "refresh": pair.refresh,
        "access_expires_in": pair.access_expires_in,
    }


# Input serializers are strict (aventide.core.serializers): unknown keys, non-JSON types and
# blank-after-cleaning text answer 400 VALIDATION_ERROR. Passwords stay exactly as typed.


class RegisterIn(StrictSerializer):
    email = StrictEmailField(max_length=254)
    password = StrictCharField(max_length=256, trim_whitespace=False, write_only=True)
    full_name = CleanTextField(max_length=150, required=False, default="", allow_blank=True)
    country_code = CleanTextField(normalization="NFKC", min_length=2, max_length=2)


class LoginIn(StrictSerializer):
    # Not format-checked (a malformed email is just a failed login), but cleaned like a
    # registered one so every spelling reaches the same account.
    email = CleanTextField(normalization="NFKC", refuse_invisible=True, max_length=254)
    password = StrictCharField(max_length=256, trim_whitespace=False, write_only=True)


class RefreshIn(StrictSerializer):
    refresh = StrictCharField(max_length=4096)


class LogoutIn(StrictSerializer):
    everywhere = StrictBooleanField(
        required=False, default=False, help_text="Revoke every session of the account."
    )


class GoogleIn(StrictSerializer):
    id_token = StrictCharField(max_length=8192)
    country_code = CleanTextField(
        normalization="NFKC",
        min_length=2,
        max_length=2,
        required=False,
        help_text="Needed to create a new account.",
    )


class StaffOut(serializers.Serializer[Any]):
    level = serializers.CharField(allow_null=True)
    is_ops_lead = serializers.BooleanField()
    countries = serializers.ListField(child=serializers.CharField())


class MeOut(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    full_name = serializers.CharField()
    country_code = serializers.CharField()
    is_seller = serializers.BooleanField()
    is_staff = serializers.BooleanField()
    staff = StaffOut(allow_null=True)


class WsTicketOut(serializers.Serializer[Any]):
    ticket = serializers.CharField(help_text="Single use; send it in the first WebSocket frame.")
    expires_in = serializers.IntegerField()


class AnonymousIdentityOut(serializers.ModelSerializer[AnonymousIdentity]):
    class Meta:
        model = AnonymousIdentity
        fields = [
            "anon_id",
            "order_id",
            "country_code",
            "role",
            "expires_at",
            "revoked_at",
            "created_at",
        ]
        read_only_fields = fields


class AnonymousIdentityListIn(serializers.Serializer[Any]):
    country_code = serializers.CharField(min_length=2, max_length=2)
    order_id = serializers.IntegerField(required=False, min_value=1)


class AnonymousIdentityRevokeIn(StrictSerializer):
    country_code = CleanTextField(normalization="NFKC", min_length=2, max_length=2)
    anon_id = StrictUUIDField()
    reason = CleanTextField(
        max_length=200, required=False, default="", allow_blank=True, multiline=True
    )


def _valid(serializer_class: type[serializers.Serializer[Any]], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# --- public auth endpoints ---------------------------------------------------------------


class PublicAuthView(APIView):
    """Endpoints that take credentials in the body: no token processing (a stale token must
    not block a login), per-IP request rate, and 401s still say which scheme to use."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthIPRateThrottle]

    def get_authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class RegisterView(PublicAuthView):
    @extend_schema(
        tags=[TAG],
        operation_id="auth_register",
        request=RegisterIn,
        responses={201: TokenPairOut, 409: OpenApiResponse(description="EMAIL_TAKEN")},
        summary="Create an account with email and password",
    )
    def post(self, request: Request) -> Response:
        data = _valid(RegisterIn, request.data)
        user = services.user_register(
            email=data["email"],
            password=data["password"],
            country_code=data["country_code"],
            full_name=data["full_name"],
        )
        pair = services.session_start(user=user, method="register")
        return Response(TokenPairOut(_tokens(pair)).data, status=status.HTTP_201_CREATED)


class LoginView(PublicAuthView):
    @extend_schema(
        tags=[TAG],
        operation_id="auth_login",
        request=LoginIn,
        responses={
            200: TokenPairOut,
            401: OpenApiResponse(description="INVALID_CREDENTIALS (same for unknown emails)"),
            429: OpenApiResponse(description="ACCOUNT_LOCKED or RATE_LIMITED, with Retry-After"),
        },
        summary="Log in with email and password",
    )
    def post(self, request: Request) -> Response:
        data = _valid(LoginIn, request.data)
        pair = services.login_with_password(
            email=data["email"],
            password=data["password"],
            ip=client_ip(request),
            request=request._request,
        )
        return Response(TokenPairOut(_tokens(pair)).data)


class RefreshView(PublicAuthView):
    @extend_schema(
        tags=[TAG],
        operation_id="auth_refresh",
        request=RefreshIn,
        responses={
            200: TokenPairOut,
            401: OpenApiResponse(description="TOKEN_EXPIRED or TOKEN_INVALID (reuse revokes)"),
        },
        summary="Rotate a refresh token (single use)",
    )
    def post(self, request: Request) -> Response:
        data = _valid(RefreshIn, request.data)
        pair = services.session_refresh(refresh_token=data["refresh"])
        return Response(TokenPairOut(_tokens(pair)).data)


class GoogleLoginView(PublicAuthView):
    @extend_schema(
        tags=[TAG],
        operation_id="auth_google",
        request=GoogleIn,
        responses={
            200: TokenPairOut,
            401: OpenApiResponse(description="GOOGLE_TOKEN_INVALID, GOOGLE_EMAIL_UNVERIFIED"),
            404: OpenApiResponse(description="GOOGLE_LOGIN_DISABLED (not configured here)"),
            503: OpenApiResponse(description="GOOGLE_UNAVAILABLE (JWKS unreachable)"),
        },
        summary="Log in (or sign up) with a Google ID token",
    )
    def post(self, request: Request) -> Response:
        data = _valid(GoogleIn, request.data)
        pair = services.login_with_google(
            id_token=data["id_token"],
            ip=client_ip(request),
            country_code=data.get("country_code"),
        )
        return Response(TokenPairOut(_tokens(pair)).data)


# --- authenticated -----------------------------------------------------------------------


class LogoutView(APIView):
    permission_classes = [IsRegisteredUser]

    @extend_schema(
        tags=[TAG],
        operation_id="auth_logout",
        request=LogoutIn,
        responses={204: None},
        summary="Revoke this session (or every session)",
    )
    def post(self, request: Request) -> Response:
        data = _valid(LogoutIn, request.data)
        claims = request.auth if isinstance(request.auth, dict) else {}
        services.session_logout(
            actor=api_principal(request),
            family_id=str(claims.get("fam", "")),
            everywhere=data["everywhere"],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    permission_classes = [IsRegisteredUser]

    @extend_schema(tags=[TAG], operation_id="auth_me", responses={200: MeOut}, summary="Who am I")
    def get(self, request: Request) -> Response:
        me = api_principal(request)
        staff = None
        if me.is_staff:
            staff = {
                "level": me.level or None,
                "is_ops_lead": me.is_ops_lead,
                "countries": sorted(me.countries),
            }
        # Already the shape of MeOut (the documented schema): rendered as is, without
        # building serializer fields per request (a hot path: docs/decisions/0012).
        return Response(
            {
                "id": me.user_id,
                "email": me.email,
                "full_name": me.full_name,
                "country_code": me.country_code,
                "is_seller": me.is_seller,
                "is_staff": me.is_staff,
                "staff": staff,
            }
        )


class WsTokenView(APIView):
    permission_classes = [IsUserOrAnonymousIdentity]

    @extend_schema(
        tags=[TAG],
        operation_id="auth_ws_token",
        request=None,
        responses={200: WsTicketOut},
        summary="A single-use 60 s ticket for the WebSocket handshake",
    )
    def post(self, request: Request) -> Response:
        actor = api_principal(request)
        # A registered caller's ticket is bound to the session of this access token (its
        # refresh family): a logout before the socket opens keeps the socket out.
        claims = request.auth if isinstance(request.auth, dict) else {}
        session = claims.get("fam") if actor.is_registered else None
        ticket = services.ws_ticket_issue(actor=actor, session_id=session)
        return Response(WsTicketOut({"ticket": ticket, "expires_in": WS_TICKET_TTL_SECONDS}).data)


# --- staff-facing ------------------------------------------------------------------------


class StaffView(APIView):
    """Base of staff-facing endpoints. ``staff_facing`` puts the route in the ScopeGuard
    table-driven test (tests/security/test_scope_guard.py), which fails until it has a case."""

    staff_facing = True
    permission_classes = [IsStaffMember]


class StaffAnonymousIdentityListView(StaffView):
    @extend_schema(
        tags=[TAG],
        operation_id="auth_staff_anonymous_identities",
        parameters=[
            OpenApiParameter("countryCode", str, required=True),
            OpenApiParameter("orderId", int, required=False),
        ],
        responses={200: AnonymousIdentityOut(many=True)},
        summary="Anonymous identities of a country (optionally one order)",
    )
    def get(self, request: Request) -> Response:
        raw = {"country_code": request.query_params.get("countryCode")}
        if request.query_params.get("orderId"):
            raw["order_id"] = request.query_params.get("orderId")
        data = _valid(AnonymousIdentityListIn, raw)
        rows = selectors.anonymous_identities_for_staff(
            actor=api_principal(request),
            country_code=data["country_code"],
            order_id=data.get("order_id"),
        )[:200]
        return Response(AnonymousIdentityOut(rows, many=True).data)


class StaffAnonymousIdentityRevokeView(StaffView):
    @extend_schema(
        tags=[TAG],
        operation_id="auth_staff_anonymous_identity_revoke",
        request=AnonymousIdentityRevokeIn,
        responses={200: AnonymousIdentityOut},
        summary="Revoke a recipient's anonymous identity (L2+)",
    )
    def post(self, request: Request) -> Response:
        data = _valid(AnonymousIdentityRevokeIn, request.data)
        country = data["country_code"].upper()
        actor = api_principal(request)
        ScopeGuard.check(
            actor,
            country,
            action="anonymous_identity.revoke",
            target=f"anonymous_identity:{data['anon_id']}",
        )
        identity = selectors.anonymous_identity_get(anon_id=data["anon_id"])
        if identity is None or identity.country_code != country:
            raise AnonymousIdentityNotFound()
        revoked = services.anonymous_identity_revoke(
            actor=actor,
            anon_id=identity.anon_id,
            reason=data["reason"],
        )
        return Response(AnonymousIdentityOut(revoked).data)
