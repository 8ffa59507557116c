"""/healthz is pure liveness; /readyz checks DB, Redis, broker, migrations, channel layer."""

from __future__ import annotations

import pytest
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper

from aventide.ops import health


def test_healthz_answers_without_touching_the_database(client) -> None:
    # No `db` fixture: pytest-django raises on any database access here.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["X-Request-ID"]


def test_healthz_does_no_io_even_with_a_session_cookie(client) -> None:
    client.cookies["sessionid"] = "a-session-cookie-value"
    # No `db` fixture: reading the session or the user here would raise.
    assert client.get("/healthz").status_code == 200


def test_healthz_is_get_only(client) -> None:
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_readyz_ok_when_everything_is_up(client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert {"database", "migrations", "redis", "broker", "channel_layer"} <= set(body["checks"])
    for check in body["checks"].values():
        assert check["status"] in {"ok", "skipped"}
        assert isinstance(check["latencyMs"], float)
    assert body["requestId"] == response["X-Request-ID"]


@pytest.mark.redis
@pytest.mark.django_db
def test_readyz_checks_the_real_redis_and_broker(client) -> None:
    body = client.get("/readyz").json()
    assert body["checks"]["redis"]["status"] == "ok"
    assert body["checks"]["broker"]["status"] == "ok"


@pytest.mark.django_db
def test_readyz_503_names_database_when_unreachable(client, monkeypatch) -> None:
    def refuse(self, *args, **kwargs):
        raise OperationalError("connection to server at 10.0.0.5 failed: password=xyz")

    monkeypatch.setattr(BaseDatabaseWrapper, "cursor", refuse)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert "database" in body["failing"]
    assert body["checks"]["database"]["status"] == "fail"
    assert "password" not in response.content.decode()


@pytest.mark.django_db
def test_readyz_503_names_a_registered_check_that_fails(client, monkeypatch) -> None:
    monkeypatch.setitem(health._CHECKS, "channel_layer", _raise_check_failed)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["channel_layer"]
    assert response.json()["checks"]["channel_layer"]["detail"] == "layer down"


def _raise_check_failed() -> str:
    raise health.CheckFailed("layer down")


@pytest.mark.django_db
def test_readyz_reports_unapplied_migrations(client, monkeypatch) -> None:
    from django.db.migrations.executor import MigrationExecutor

    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: [("x", False)])
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"]["detail"] == "1 unapplied migrations"


@pytest.mark.django_db
def test_readyz_answers_503_when_the_channel_layer_hangs(client, settings, monkeypatch) -> None:
    """A layer that accepts but never answers makes the check fail within its budget."""
    import asyncio

    from channels.layers import get_channel_layer

    async def never(*args, **kwargs):
        await asyncio.sleep(3600)

    settings.HEALTH_CHECK_TIMEOUT_SECONDS = 0.2
    # whichever layer is configured (in-memory here, Redis pub/sub in CI): the layer instance
    # is shared per process, and the pub/sub layer proxies its methods (no class attribute)
    monkeypatch.setattr(get_channel_layer(), "send", never)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["channel_layer"]
    assert response.json()["checks"]["channel_layer"]["detail"] == "timed out"
