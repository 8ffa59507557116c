"""The use-case frame (aventide.accounts.usecase): one transaction, attribution, refusals
that survive the rollback, after-commit effects."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction

from audit import services as audit
from audit.actions import AuditActionUnknown
from audit.models import Event
from aventide.accounts.contracts import current_use_case, use_case
from aventide.accounts.errors import ScopeViolation
from aventide.accounts.models import AnonymousIdentity
from aventide.accounts.refusals import record_refusals
from aventide.core import context
from aventide.core.principal import SYSTEM, Principal, PrincipalKind
from tests.accounts.factories import issue_anon, make_staff, principal

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_use_case_nested_frames_join_the_outer_transaction_without_a_savepoint() -> None:
    staff = principal(make_staff(level="L2", countries=("AR",)))
    with use_case(staff) as outer:
        savepoints = list(connection.savepoint_ids)
        with use_case(SYSTEM) as inner:
            assert inner is outer and current_use_case() is outer
            assert list(connection.savepoint_ids) == savepoints  # no new savepoint
    assert current_use_case() is None


@pytest.mark.django_db
def test_use_case_binds_one_attribution_for_nested_writes() -> None:
    staff = principal(make_staff(level="L2", countries=("AR",)))
    with context.bound_context(request_id="req-frame-1"), use_case(staff) as uc:
        uc.act_as("L2")
        with use_case(SYSTEM):  # a nested step of another "actor" still records the frame's
            audit.record("x.y", "order:1")
    event = Event.objects.get(action="x.y")
    assert (event.actor_type, event.actor_id, event.actor_level) == ("staff", staff.id, "L2")
    assert event.request_id == "req-frame-1"
    assert context.get_attribution() is None  # unbound after the frame


@pytest.mark.django_db
def test_use_case_refuses_anything_but_a_principal() -> None:
    with pytest.raises(TypeError), use_case(make_staff(level="L1")):  # type: ignore[arg-type]
        pass


@pytest.mark.django_db
def test_audit_record_refuses_an_unregistered_action() -> None:
    with pytest.raises(AuditActionUnknown):
        audit.record("order.teleported", "order:1")
    assert not Event.objects.filter(action="order.teleported").exists()


@pytest.mark.django_db(transaction=True)
def test_use_case_runs_effects_only_after_commit() -> None:
    ran: list[str] = []
    with use_case(SYSTEM) as uc:
        uc.on_commit(lambda: ran.append("committed"))
        assert ran == []  # nothing leaves before commit
    assert ran == ["committed"]

    def failing_service() -> None:
        with use_case(SYSTEM) as uc:
            uc.on_commit(lambda: ran.append("rolled back"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        failing_service()
    assert ran == ["committed"]


@pytest.mark.django_db(transaction=True)
def test_use_case_is_durable_at_the_top_and_joins_a_foreign_transaction() -> None:
    """Outermost: its own transaction (BEGIN ... COMMIT). Inside a transaction opened by
    framework code (the admin): joins it -- and a refusal's audit row waits until it is gone."""
    l1 = principal(make_staff(level="L1", countries=("AR",)))
    with use_case(SYSTEM):
        assert connection.in_atomic_block
    with pytest.raises(ScopeViolation), transaction.atomic(), use_case(l1) as uc:
        uc.require_scope("MX", action="order.cancel", target="order:7")
    assert Event.objects.filter(action="scope.violation").count() == 0  # still queued
    assert record_refusals() == 1  # the request middleware's job at the end
    assert Event.objects.filter(action="scope.violation").count() == 1


@pytest.mark.django_db(transaction=True)
def test_scope_refusal_inside_a_service_leaves_its_audit_row_although_the_service_raised() -> None:
    """Real commit semantics: the service's transaction rolls back, the refusal commits."""
    from aventide.accounts import services

    l2 = make_staff(level="L2", countries=("AR",))
    identity = issue_anon(order_id=77, country_code="MX")
    with context.bound_context(request_id="req-refused-1"), pytest.raises(ScopeViolation):
        services.anonymous_identity_revoke(actor=principal(l2), anon_id=identity.anon_id)
    event = Event.objects.get(action="scope.violation")
    assert (event.actor_type, event.actor_id, event.actor_level) == ("staff", str(l2.pk), "L2")
    assert (event.target_type, event.target_id) == ("anonymous_identity", str(identity.anon_id))
    assert event.request_id == "req-refused-1" and event.country_code == "MX"
    assert AnonymousIdentity.objects.get(anon_id=identity.anon_id).revoked_at is None
    assert not Event.objects.filter(action="anonymous_identity.revoked").exists()


@pytest.mark.slow
@pytest.mark.skipif(not settings.IS_POSTGRES, reason="this run is already on SQLite")
def test_scope_refusal_survives_the_rollback_on_sqlite_too(tmp_path: Path) -> None:
    """The same refusal test, in a fresh process on SQLite (the embedded mode's database)."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'frame.sqlite3'}",
        "AVENTIDE_VAR_DIR": str(tmp_path),
        "REQUIRE_SERVICES": "0",
    }
    env.pop("DATABASE_TEST_NAME", None)
    test_id = (
        "tests/accounts/test_usecase_frame.py::"
        "test_scope_refusal_inside_a_service_leaves_its_audit_row_although_the_service_raised"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", test_id],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout


def test_principal_round_trips_through_its_payload_without_pii() -> None:
    staff = Principal(
        kind=PrincipalKind.STAFF,
        id="12",
        country_code="AR",
        level="L3",
        is_ops_lead=True,
        countries=frozenset({"AR", "MX"}),
        email="lead@example.test",
        full_name="Zelda Quintana",
    )
    payload = staff.to_payload()
    assert "lead@example.test" not in str(payload) and "Zelda" not in str(payload)
    assert Principal.from_payload(payload) == staff
    assert "lead@example.test" not in repr(staff)


@pytest.mark.django_db(transaction=True)
def test_use_case_after_commit_effects_run_in_a_frame_and_transaction_of_their_own() -> None:
    """An after-commit effect that changes state (an eager task in embedded mode) must not join
    the finished frame: it would run outside any transaction, unattributed to its own actor."""
    staff = principal(make_staff(level="L2", countries=("AR",)))
    seen: dict[str, object] = {}

    def effect() -> None:
        with use_case(SYSTEM) as later:
            seen["frame_is_new"] = later is not first
            seen["in_transaction"] = connection.in_atomic_block
            audit.record("x.y", "order:2")

    with use_case(staff) as first:
        audit.record("x.y", "order:1")
        first.on_commit(effect)
    assert seen == {"frame_is_new": True, "in_transaction": True}
    rows = dict(Event.objects.filter(action="x.y").values_list("target_id", "actor_type"))
    assert rows == {"1": "staff", "2": "system"}
    assert current_use_case() is None and context.get_attribution() is None


@pytest.mark.django_db(transaction=True)
def test_use_case_a_failing_after_commit_effect_does_not_stop_the_others() -> None:
    """The durable rows are the truth: a fan-out that raises is logged, the next effect runs
    and the caller (who committed) gets no exception."""
    ran: list[str] = []

    def broken() -> None:
        ran.append("broken")
        raise RuntimeError("channel layer down")

    with use_case(SYSTEM) as uc:
        audit.record("x.y", "order:3")
        uc.on_commit(broken)
        uc.on_commit(lambda: ran.append("next"))
    assert ran == ["broken", "next"]
    assert Event.objects.filter(action="x.y", target_id="3").exists()


@pytest.mark.django_db
def test_use_case_binds_its_actor_as_the_principal_only_where_none_is_bound() -> None:
    """A Celery task or command has no principal: inside the frame its logs and nested reads
    see the frame's actor. A request's principal is never replaced by the frame's."""
    assert context.get_principal() is None
    with use_case(SYSTEM):
        assert context.get_principal() is SYSTEM
    assert context.get_principal() is None
    staff = principal(make_staff(level="L2", countries=("AR",)))
    with context.bound_context(principal=staff), use_case(SYSTEM):
        assert context.get_principal() is staff
