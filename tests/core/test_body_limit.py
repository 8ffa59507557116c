"""Request bodies over the limit answer 413 PAYLOAD_TOO_LARGE before they are read.

Through the real ASGI application (``aventide.asgi.application``) with httpx's ASGI
transport, which pulls the request body from the client's generator only when the app calls
``receive()``: the generators below count what was pulled, which proves the body was not read
whole. Regression of issue 7 item 2 (a 5 MB JSON order was accepted; 50 MB were read whole).
"""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aventide.asgi import application
from tests.security.live_server import live_servers, server_env

MIB = 1024 * 1024
CHUNK = 64 * 1024


class Upload:
    """A streamed request body of ``total`` bytes that records how much the server pulled."""

    def __init__(self, total: int, chunk: int = CHUNK) -> None:
        self.total = total
        self.chunk = chunk
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        sent = 0
        while sent < self.total:
            size = min(self.chunk, self.total - sent)
            self.pulled += size
            sent += size
            yield b" " * size  # JSON whitespace: a valid prefix whatever the size


def client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def assert_413(response: httpx.Response, limit: int) -> dict[str, Any]:
    assert response.status_code == 413, response.text[:300]
    body = response.json()
    assert body["code"] == "PAYLOAD_TOO_LARGE"
    assert body["error"] == "payload_too_large"
    assert f"{limit} bytes" in body["message"]
    assert body["requestId"] and response.headers["X-Request-ID"] == body["requestId"]
    assert response.headers["connection"] == "close"
    return body


ENDPOINTS = ["/api/orders", "/api/auth/login", "/api/listings", "/api/auth/register"]


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_declared_content_length_over_the_limit_is_refused_unread(path: str) -> None:
    upload = Upload(50 * MIB)
    async with client() as http:
        response = await http.post(
            path,
            content=upload,
            headers={"Content-Type": "application/json", "Content-Length": str(50 * MIB)},
        )
    assert_413(response, MIB)
    assert upload.pulled == 0  # not one byte of the body was read


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_chunked_body_is_cut_as_soon_as_it_goes_over(path: str) -> None:
    upload = Upload(50 * MIB)
    async with client() as http:
        response = await http.post(  # no Content-Length: Transfer-Encoding: chunked
            path, content=upload, headers={"Content-Type": "application/json"}
        )
    assert_413(response, MIB)
    assert upload.pulled <= MIB + CHUNK  # stopped at the first chunk past the limit


async def test_five_megabytes_of_json_to_orders_is_413() -> None:
    body = b'{"listingId": 1, "recipient": {"name": "' + b"a" * (5 * MIB) + b'"}}'
    async with client() as http:
        response = await http.post(
            "/api/orders",
            content=body,
            headers={"Content-Type": "application/json", "Authorization": "Bearer x"},
        )
    assert_413(response, MIB)


async def test_a_sane_client_request_id_is_kept_and_a_bad_one_replaced() -> None:
    async with client() as http:
        kept = await http.post(
            "/api/orders",
            content=b"{}" + b" " * (2 * MIB),
            headers={"Content-Type": "application/json", "X-Request-ID": "edge-42.a_b"},
        )
        replaced = await http.post(
            "/api/orders",
            content=b"{}" + b" " * (2 * MIB),
            headers={"Content-Type": "application/json", "X-Request-ID": "bad id <script>"},
        )
    assert assert_413(kept, MIB)["requestId"] == "edge-42.a_b"
    rid = assert_413(replaced, MIB)["requestId"]
    assert rid != "bad id <script>" and len(rid) == 32


async def test_a_body_under_the_limit_reaches_the_app() -> None:
    upload = Upload(MIB - 1024)
    async with client() as http:
        response = await http.post(
            "/api/auth/login", content=upload, headers={"Content-Type": "application/json"}
        )
        nested = await http.post(
            "/api/auth/login",
            content=b"[" * 600 + b"]" * 600,
            headers={"Content-Type": "application/json"},
        )
    # the app read it all and answered (whitespace only: not JSON for DRF -> 400, not 413)
    assert upload.pulled == MIB - 1024
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR"
    assert nested.status_code == 400 and "nested too deeply" in nested.json()["message"]


async def test_a_prefix_can_allow_a_larger_body(settings) -> None:
    settings.API_MAX_BODY_BYTES_BY_PREFIX = {"/api/auth/": 4 * MIB}
    settings.API_MAX_BODY_BYTES = MIB
    body = b'{"email": "' + b"a" * (2 * MIB) + b'", "password": "p"}'
    async with client() as http:
        allowed = await http.post(
            "/api/auth/login", content=body, headers={"Content-Type": "application/json"}
        )
        elsewhere = await http.post(
            "/api/orders", content=body, headers={"Content-Type": "application/json"}
        )
    assert allowed.status_code == 400  # the serializer's max_length, not the body limit
    assert "email" in allowed.json()["details"]
    assert_413(elsewhere, MIB)


async def test_the_limit_is_a_setting(settings) -> None:
    settings.API_MAX_BODY_BYTES = 1000
    async with client() as http:
        response = await http.post(
            "/api/auth/login",
            content=b'{"email": "' + b"a" * 1000 + b'"}',
            headers={"Content-Type": "application/json"},
        )
    assert_413(response, 1000)


def _read_until_closed(sock: socket.socket, deadline: float) -> bytes:
    data = b""
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            break
        if not chunk:
            return data  # the server closed the connection
        data += chunk
    return data


@pytest.mark.slow
def test_a_real_server_answers_413_at_once_and_closes_the_connection(tmp_path: Path) -> None:
    """Through uvicorn itself: the 413 arrives while the client has sent 1 byte of a declared
    50 MB body, and of a chunked body just over the limit; the connection is then closed."""
    head = (
        b"POST /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"X-Request-ID: raw-413\r\n"
    )
    with live_servers(tmp_path, server_env()) as (base,):
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=2) as sock:
            sock.sendall(head + b"Content-Length: 52428800\r\n\r\n{")
            declared = _read_until_closed(sock, time.monotonic() + 20)
        with socket.create_connection((host, int(port)), timeout=2) as sock:
            sock.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n")
            chunk = b"%x\r\n%s\r\n" % (CHUNK, b" " * CHUNK)
            try:
                for _ in range(MIB // CHUNK + 2):
                    sock.sendall(chunk)
            except OSError:  # the server may close while we are still sending
                pass
            chunked = _read_until_closed(sock, time.monotonic() + 20)
    for raw in (declared, chunked):
        assert raw.startswith(b"HTTP/1.1 413"), raw[:200]
        assert b"PAYLOAD_TOO_LARGE" in raw and b'"requestId": "raw-413"' in raw
        assert b"x-request-id: raw-413" in raw.lower()
