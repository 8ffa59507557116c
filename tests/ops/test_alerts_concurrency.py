"""Two evaluators at once (two beat/worker processes): no double firing, no failure.

Real threads with their own PostgreSQL connections. The first test makes the race
deterministic (``tests.concurrency.race``: a holder keeps the rule's advisory lock until both
evaluators wait on it); the second lets two evaluators run free through several ticks.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from aventide.ops import services
from aventide.ops.alerts import only_rules
from aventide.ops.models import Alert
from aventide.ops.services import _LOCK_NAMESPACE
from tests.concurrency import WAIT, race
from tests.ops.alert_helpers import Knob, rule

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

NAME = "ALERT_TEST_RACE"


def _evaluate(now: Any) -> Any:
    report = services.alerts_evaluate(now=now)
    return (tuple(report.failed), tuple(c.state for c in report.changes))


def test_alerts_evaluate_two_evaluators_waiting_on_one_rule_fire_it_once(json_logs: Any) -> None:
    knob = Knob()
    knob.set(50)
    now = timezone.now()
    with only_rules(rule(NAME, knob, for_seconds=0)):
        results = race(
            [lambda: _evaluate(now), lambda: _evaluate(now)],
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
            [_LOCK_NAMESPACE, NAME],
        )
    # one evaluator opened and fired the alert; the other, after waiting its turn, saw it
    assert sorted(results) == [((), ()), ((), ("pending", "firing"))], results
    assert list(Alert.objects.values_list("state", flat=True)) == ["firing"]
    assert len(json_logs.events("alert.firing")) == 1


class OverlapProbe(Knob):
    """Counts evaluators inside ``evaluate`` at once; each waits (bounded) for the other to
    come in, so without the rule lock the two would overlap and both read "no open alert"."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = 0
        self.most_inside = 0
        self.guard = threading.Lock()
        self.second_in = threading.Event()

    def evaluate(self, now: Any) -> Any:
        with self.guard:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
            if self.inside == 2:
                self.second_in.set()
        try:
            self.second_in.wait(2.0)  # bounded: with the lock the other never comes in
            return super().evaluate(now)
        finally:
            with self.guard:
                self.inside -= 1


def test_alerts_evaluate_never_reads_one_rule_in_two_evaluators_at_once(json_logs: Any) -> None:
    probe = OverlapProbe()
    probe.set(50)
    now = timezone.now()
    results: list[Any] = []
    with only_rules(rule(NAME, probe, for_seconds=0)):
        start = threading.Barrier(2)

        def work() -> None:
            try:
                start.wait(WAIT)
                results.append(_evaluate(now))
            finally:
                connection.close()

        threads = [threading.Thread(target=work) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
    assert probe.most_inside == 1
    assert sorted(results) == [((), ()), ((), ("pending", "firing"))], results
    assert len(json_logs.events("alert.firing")) == 1


def test_alerts_evaluate_free_running_evaluators_page_once_per_episode(json_logs: Any) -> None:
    knob = Knob()
    t0 = timezone.now()
    # ticks: holds (pending), holds past `for` (firing), holds, clears (resolved)
    ticks = [(50, 0), (50, 6), (50, 7), (1, 8)]
    failures: list[Any] = []
    with only_rules(rule(NAME, knob, for_seconds=300)):
        for value, minute in ticks:
            knob.set(value)
            start = threading.Barrier(2)

            def work(minute: int = minute, start: threading.Barrier = start) -> None:
                try:
                    start.wait(WAIT)
                    report = services.alerts_evaluate(now=t0 + timedelta(minutes=minute))
                    failures.extend(report.failed)
                except BaseException as exc:  # noqa: BLE001 -- reported below
                    failures.append(exc)
                finally:
                    connection.close()

            threads = [threading.Thread(target=work) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(WAIT)
    assert failures == []
    (alert,) = Alert.objects.all()
    assert (alert.state, alert.fired_at, alert.resolved_at) == (
        "resolved",
        t0 + timedelta(minutes=6),
        t0 + timedelta(minutes=8),
    )
    assert len(json_logs.events("alert.firing")) == 1
    assert len(json_logs.events("alert.resolved")) == 1
