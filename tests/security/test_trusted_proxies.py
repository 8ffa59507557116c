"""TRUSTED_PROXIES is the one trusted-proxy setting, applied by the real server.

Regression of issue 7 item 5: uvicorn trusted X-Forwarded-For from 127.0.0.1 by default, so a
local client rotating that header got a fresh lockout bucket per forged address. Both cases
run a real ``python -m aventide.server`` on 127.0.0.1 (docs/decisions/0006-trusted-proxies.md).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from tests.accounts.factories import PASSWORD, make_user
from tests.security.live_server import live_servers, purge_cache_prefix, server_env

pytestmark = [
    pytest.mark.postgres,  # the server processes share the test database
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

WRONG = "Wrong-Password-000"
EMAIL = "proxy.victim@example.test"


def _login(base: str, password: str, forwarded_for: str) -> httpx.Response:
    return httpx.post(
        f"{base}/api/auth/login",
        json={"email": EMAIL, "password": password},
        headers={"X-Forwarded-For": forwarded_for},
        timeout=15,
        trust_env=False,
    )


def test_forged_forwarded_for_is_ignored_by_default_and_honoured_behind_a_trusted_proxy(
    tmp_path: Path, real_password_hasher: None
) -> None:
    make_user(email=EMAIL)  # committed: the server processes read it
    prefix = f"aventide:test:proxy:{uuid.uuid4().hex[:12]}"
    default_env = server_env(CACHE_KEY_PREFIX=f"{prefix}:default")
    proxied_env = server_env(CACHE_KEY_PREFIX=f"{prefix}:proxied", TRUSTED_PROXIES="127.0.0.1")
    try:
        _check(tmp_path, default_env, proxied_env)
    finally:
        purge_cache_prefix(prefix)


def _check(tmp_path: Path, default_env: dict[str, str], proxied_env: dict[str, str]) -> None:
    with live_servers(tmp_path, default_env, proxied_env) as (default, proxied):
        # Default (trust no proxy): five failures from five forged addresses all count
        # against the one real address, 127.0.0.1, which is now locked...
        for i in range(5):
            assert _login(default, WRONG, f"203.0.113.{i + 1}").status_code == 401
        locked = _login(default, PASSWORD, "198.51.100.77")
        assert locked.status_code == 429, locked.text
        assert locked.json()["code"] == "ACCOUNT_LOCKED"
        assert int(locked.headers["Retry-After"]) > 0

        # Behind one trusted proxy (127.0.0.1): the forwarded client is the client. Rotating
        # addresses are separate clients, and one of them locks only itself.
        for i in range(5):
            assert _login(proxied, WRONG, f"203.0.113.{i + 1}").status_code == 401
        assert _login(proxied, PASSWORD, "198.51.100.77").status_code == 200
        for _ in range(5):
            assert _login(proxied, WRONG, "203.0.113.200").status_code == 401
        again = _login(proxied, PASSWORD, "203.0.113.200")
        assert again.status_code == 429 and again.json()["code"] == "ACCOUNT_LOCKED"
        assert _login(proxied, PASSWORD, "198.51.100.78").status_code == 200
