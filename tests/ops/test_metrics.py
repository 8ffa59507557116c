"""metrics.emit logs + counts; /metrics is Prometheus text behind staff or a bearer token."""

from __future__ import annotations

import pytest

from aventide.core import metrics


def test_emit_logs_the_event_and_counts_it(json_logs) -> None:
    before = metrics.count_of("METRIC_TEST_EVENT", reason="X")
    metrics.emit("METRIC_TEST_EVENT", labels={"reason": "X"}, durationMs=12.5, email="a@b.co")
    assert metrics.count_of("METRIC_TEST_EVENT", reason="X") == before + 1
    (line,) = json_logs.events("METRIC_TEST_EVENT")
    assert line["reason"] == "X"
    assert line["durationMs"] == 12.5
    assert line["email"] == "[email]"


def test_emit_rejects_a_name_that_is_not_upper_snake() -> None:
    with pytest.raises(ValueError, match="UPPER_SNAKE"):
        metrics.emit("bad name")


def test_metrics_endpoint_refuses_anonymous(client) -> None:
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response.json()["code"] == "AUTH_REQUIRED"


def test_metrics_endpoint_refuses_a_wrong_token(client, settings) -> None:
    settings.METRICS_TOKEN = "right-token-value"
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong")
    assert response.status_code == 403


def test_metrics_endpoint_with_token_exposes_request_counter(client, settings) -> None:
    settings.METRICS_TOKEN = "right-token-value"
    client.get("/healthz")
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer right-token-value")
    assert response.status_code == 200
    text = response.content.decode()
    assert (
        'aventide_events_by_method_route_status_total{method="GET",name="METRIC_HTTP_REQUEST"'
        in text
    )
    assert "aventide_event_duration_seconds_bucket" in text


@pytest.mark.django_db
def test_metrics_endpoint_open_to_staff_session(client, django_user_model) -> None:
    staff = django_user_model.objects.create_user(
        email="ops@example.com", password="x-Very-long-pass-1", country_code="AR", is_staff=True
    )
    client.force_login(staff)
    assert client.get("/metrics").status_code == 200


def test_metrics_are_summed_across_processes_in_multiprocess_mode(tmp_path) -> None:
    """Two processes (think uvicorn + Celery workers) emit; /metrics' text has the sum."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "REDIS"))}
    env.update(PROMETHEUS_MULTIPROC_DIR=str(tmp_path), AVENTIDE_ENV="test")
    emit = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE','aventide.settings');"
        "django.setup(); from aventide.core import metrics;"
        "metrics.emit('METRIC_MP_TEST', labels={'reason': 'x'})"
    )
    for _ in range(2):
        subprocess.run(
            [sys.executable, "-c", emit],
            cwd=root,
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )
    read = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE','aventide.settings');"
        "django.setup(); from aventide.core import metrics;"
        "print(metrics.exposition().decode())"
    )
    out = subprocess.run(
        [sys.executable, "-c", read],
        cwd=root,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    line = [x for x in out.splitlines() if 'name="METRIC_MP_TEST"' in x and "_total" in x]
    assert line, out[-2000:]
    assert line[0].rstrip().endswith(" 2.0")
