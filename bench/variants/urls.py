"""The product's routes plus two async views doing the work of /me and /orders.

``me_async``: the same authentication (JWT + the per-process principal cache; a cache miss
goes to the database through ``sync_to_async``), the same API throttle (one Redis round trip,
here with redis.asyncio on the event loop), the same answer. ``orders_async``: the first page
of the caller's orders through Django's async ORM. No DRF (it has no async views), so these
are the best case an async rewrite could reach.
"""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from aventide.accounts import principals, tokens
from aventide.accounts.throttling import fingerprint, parse_rate
from aventide.core.errors import DomainError
from aventide.core.principal import Principal
from aventide.orders import selectors

_redis: Any = None


def _client() -> Any:
    global _redis
    if _redis is None:
        _redis = aioredis.from_url(settings.REDIS_URL)
    return _redis


async def _principal(request: HttpRequest) -> Principal | None:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    try:
        claims = tokens.decode_token(header[7:], typ=tokens.ACCESS)
    except DomainError:
        return None
    fam = str(claims.get("fam", ""))
    cached = principals._sessions.get((int(claims["sub"]), fam))
    if cached is not None:
        return cached
    return await sync_to_async(principals.principal_for_access_token, thread_sensitive=False)(
        user_id=claims["sub"], family_id=fam
    )


async def _allowed(principal: Principal) -> bool:
    parsed = parse_rate(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["user"])
    if parsed is None:
        return True
    num, period = parsed
    key = f"{settings.CACHES['default']['KEY_PREFIX']}:bench:{fingerprint(principal.pk)}:"
    key += str(int(time.time() // period))
    pipe = _client().pipeline(transaction=True)
    pipe.set(key, 0, ex=period + 1, nx=True)
    pipe.incr(key)
    _, count = await pipe.execute()
    return int(count) <= num


def _refused(status: int, code: str) -> JsonResponse:
    return JsonResponse({"error": "refused", "code": code, "message": code}, status=status)


async def me_async(request: HttpRequest) -> JsonResponse:
    me = await _principal(request)
    if me is None:
        return _refused(401, "AUTH_REQUIRED")
    if not await _allowed(me):
        return _refused(429, "RATE_LIMITED")
    staff = None
    if me.is_staff:
        staff = {
            "level": me.level or None,
            "isOpsLead": me.is_ops_lead,
            "countries": sorted(me.countries),
        }
    return JsonResponse(
        {
            "id": me.user_id,
            "email": me.email,
            "fullName": me.full_name,
            "countryCode": me.country_code,
            "isSeller": me.is_seller,
            "isStaff": me.is_staff,
            "staff": staff,
        }
    )


async def orders_async(request: HttpRequest) -> JsonResponse:
    me = await _principal(request)
    if me is None:
        return _refused(401, "AUTH_REQUIRED")
    if not await _allowed(me):
        return _refused(429, "RATE_LIMITED")
    rows = [order async for order in selectors.orders_for(me)[:50]]
    results = [selectors.order_view(me, order) for order in rows]
    return JsonResponse({"count": len(results), "results": results})


urlpatterns = [
    path("api/bench/me-async", me_async),
    path("api/bench/orders-async", orders_async),
    path("", include("aventide.urls")),
]
