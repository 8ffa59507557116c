"""Routes of ``/api/auth/`` (included by the root urlconf)."""

from __future__ import annotations

from django.urls import path

from aventide.accounts import api

app_name = "auth"

urlpatterns = [
    path("register", api.RegisterView.as_view(), name="register"),
    path("login", api.LoginView.as_view(), name="login"),
    path("refresh", api.RefreshView.as_view(), name="refresh"),
    path("logout", api.LogoutView.as_view(), name="logout"),
    path("me", api.MeView.as_view(), name="me"),
    path("google", api.GoogleLoginView.as_view(), name="google"),
    path("ws-token", api.WsTokenView.as_view(), name="ws-token"),
    path(
        "staff/anonymous-identities",
        api.StaffAnonymousIdentityListView.as_view(),
        name="staff-anonymous-identities",
    ),
    path(
        "staff/anonymous-identities/revoke",
        api.StaffAnonymousIdentityRevokeView.as_view(),
        name="staff-anonymous-identity-revoke",
    ),
]
