"""Operational checks of the realtime log against a running server.

``check_catchup`` is the post-rotation check of the runbook (seed 003, section 5: "GET
/api/realtime/catchup autenticado"): an authenticated catchup over HTTP, as a client does it
-- first without ``since`` (the current cursor), then from that cursor. It passes when both
answer 200 with the documented shape; it says which step failed, with the status, the error
``code`` and the ``requestId`` to look up in the logs. Never prints the credentials.

Standard library only (urllib): it runs where the server runs, without dev dependencies.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

CATCHUP_PATH = "/api/realtime/catchup"


@dataclass
class CheckResult:
    ok: bool
    steps: list[str] = field(default_factory=list)
    status: int = 0
    code: str = ""
    request_id: str = ""
    next_cursor: int | None = None


def auth_headers(*, token: str = "", anon_id: str = "", anon_signature: str = "") -> dict[str, str]:
    if token:
        return {"Authorization": f"Bearer {token}"}
    if anon_id and anon_signature:
        return {"X-Anonymous-Id": anon_id, "X-Anonymous-Signature": anon_signature}
    return {}


def _get(url: str, headers: dict[str, str], timeout: float) -> tuple[int, dict[str, Any], str]:
    # http(s) only: check_catchup refuses any other scheme before calling this.
    request = urllib.request.Request(url, headers={"Accept": "application/json", **headers})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status = int(response.status)
            raw = response.read()
            request_id = response.headers.get("X-Request-ID", "")
    except urllib.error.HTTPError as exc:
        status = int(exc.code)
        raw = exc.read()
        request_id = exc.headers.get("X-Request-ID", "") if exc.headers else ""
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        body = {}
    return status, body if isinstance(body, dict) else {}, request_id


def check_catchup(*, base_url: str, headers: dict[str, str], timeout: float = 5.0) -> CheckResult:
    """Two authenticated catchups against ``base_url`` (see the module docstring)."""
    parsed = urllib.parse.urlsplit(base_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return CheckResult(ok=False, steps=[f"base URL must be http(s)://host[:port]: {base_url}"])
    result = CheckResult(ok=False)
    root = base_url.rstrip("/") + CATCHUP_PATH
    cursor: int | None = None
    for label in ("head", "since"):
        query = (
            "" if cursor is None else "?" + urllib.parse.urlencode({"since": cursor, "limit": 50})
        )
        url = root + query
        started = time.monotonic()
        try:
            status, body, request_id = _get(url, headers, timeout)
        except (OSError, urllib.error.URLError) as exc:
            result.steps.append(f"{label}: cannot reach the server ({type(exc).__name__})")
            return result
        took = (time.monotonic() - started) * 1000
        result.status, result.request_id = status, request_id
        result.code = str(body.get("code", ""))
        if status != 200:
            result.steps.append(
                f"{label}: HTTP {status} code={result.code or '-'} requestId={request_id or '-'}"
            )
            return result
        next_cursor = body.get("nextCursor")
        if (
            not isinstance(body.get("events"), list)
            or not isinstance(next_cursor, int)
            or not isinstance(body.get("hasMore"), bool)
        ):
            result.steps.append(f"{label}: HTTP 200 but not the catchup shape")
            return result
        cursor = result.next_cursor = next_cursor
        result.steps.append(
            f"{label}: HTTP 200 in {took:.0f} ms, {len(body['events'])} event(s), "
            f"nextCursor={next_cursor}"
        )
    result.ok = True
    return result
