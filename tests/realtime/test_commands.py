"""``manage.py realtime stats|purge|check-catchup`` and the retention beat task."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

from aventide.accounts import services as accounts
from realtime import services, tasks
from realtime.models import Event
from tests.accounts.factories import make_user


def publish(n: int = 1) -> list[int]:
    with transaction.atomic():
        return [
            services.publish(
                stream="order:1", type="order.status_changed", payload={}, audience=["user:1"]
            )
            for _ in range(n)
        ]


def run(*args: str) -> str:
    out = StringIO()
    call_command("realtime", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_realtime_stats_reports_size_cursors_and_purge_backlog(settings: Any) -> None:
    ids = publish(3)
    lines = dict(line.split("\t") for line in run("stats").splitlines())
    assert lines["events"] == "3"
    assert lines["inbox_rows"] == "3"
    assert lines["oldest_cursor"] == str(ids[0])
    assert lines["head_cursor"] == str(ids[-1])
    assert lines["purged_upto"] == "0"
    assert lines["purge_backlog"] == "0"
    settings.REALTIME_RETENTION_SECONDS = 0
    lines = dict(line.split("\t") for line in run("stats").splitlines())
    assert lines["purge_backlog"] == "3"


@pytest.mark.django_db
def test_realtime_stats_shows_registered_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    from realtime import selectors

    monkeypatch.setattr(selectors, "_STATS_EXTRAS", [lambda: {"connections": 7}])
    assert "connections\t7" in run("stats")


@pytest.mark.django_db
def test_realtime_purge_command_and_beat_task_delete_only_expired_events(settings: Any) -> None:
    settings.REALTIME_RETENTION_SECONDS = 3600
    old = publish(2)
    services.purge_expired(now=timezone.now() - timedelta(days=1))  # nothing is old yet
    assert Event.objects.count() == 2
    settings.REALTIME_RETENTION_SECONDS = 0
    assert "purged 2 event(s), 2 inbox row(s); purged up to #" + str(old[-1]) in run("purge")
    publish(1)
    assert tasks.purge_expired() == 1
    assert tasks.purge_expired() == 0  # safe to run twice


def test_realtime_purge_is_scheduled_by_beat() -> None:
    entry = django_settings.CELERY_BEAT_SCHEDULE["realtime-purge-expired"]
    assert entry["task"] == "realtime.purge_expired"


@pytest.mark.django_db(transaction=True)
def test_realtime_check_catchup_passes_with_a_valid_token(
    live_server: Any, countries: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user()
    monkeypatch.setenv(
        "REALTIME_CHECK_TOKEN", accounts.session_start(user=user, method="password").access
    )
    out = run("check-catchup", "--base-url", live_server.url)
    assert "OK realtime catchup" in out
    assert "head: HTTP 200" in out and "since: HTTP 200" in out
    assert "Bearer" not in out


@pytest.mark.django_db(transaction=True)
def test_realtime_check_catchup_fails_with_a_bad_token_and_exit_code_1(
    live_server: Any, countries: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REALTIME_CHECK_TOKEN", "not-a-jwt")
    out = StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("realtime", "check-catchup", "--base-url", live_server.url, stdout=out)
    assert exit_info.value.code == 1
    text = out.getvalue()
    assert "FAIL realtime catchup" in text
    assert "HTTP 401" in text and "requestId=" in text
    assert "not-a-jwt" not in text


def test_realtime_check_catchup_without_credentials_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("REALTIME_CHECK_TOKEN", "REALTIME_CHECK_ANON_ID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(CommandError, match="REALTIME_CHECK_TOKEN"):
        call_command("realtime", "check-catchup")
