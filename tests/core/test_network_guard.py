"""Tests cannot reach the network except loopback (pytest-socket)."""

from __future__ import annotations

import socket

import pytest
from pytest_socket import SocketConnectBlockedError


def test_outbound_connection_is_blocked() -> None:
    # `.invalid` never resolves; pytest-socket refuses before any packet or DNS lookup.
    with socket.socket() as sock, pytest.raises(SocketConnectBlockedError):
        sock.connect(("example.invalid", 443))


def test_loopback_is_allowed() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=2):
            pass
