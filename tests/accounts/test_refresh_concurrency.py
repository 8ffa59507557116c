"""Refresh reuse under real concurrency (PostgreSQL row locks, real threads and commits)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from audit.models import Event
from aventide.accounts import services
from aventide.accounts.errors import TokenInvalid
from aventide.accounts.models import RefreshFamily, RefreshToken
from tests.accounts.factories import make_user

THREADS = 8


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_rotate_once_and_revoke_the_family() -> None:
    user = make_user()
    pair = services.session_start(user=user, method="password")
    barrier = threading.Barrier(THREADS)
    outcomes: list[object] = []
    lock = threading.Lock()

    def refresh() -> None:
        try:
            barrier.wait()
            try:
                result: object = services.session_refresh(refresh_token=pair.refresh)
            except TokenInvalid as exc:
                result = exc
            with lock:
                outcomes.append(result)
        finally:
            connection.close()

    workers = [threading.Thread(target=refresh) for _ in range(THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    winners = [o for o in outcomes if isinstance(o, services.TokenPair)]
    losers = [o for o in outcomes if isinstance(o, TokenInvalid)]
    assert len(outcomes) == THREADS
    assert len(winners) == 1 and len(losers) == THREADS - 1
    # the replays were detected: the family (and so the winner's new tokens) is revoked
    family = RefreshFamily.objects.get(pk=pair.family_id)
    assert family.revoked_at is not None and family.revoked_reason == "refresh_reuse"
    with pytest.raises(TokenInvalid):
        services.session_refresh(refresh_token=winners[0].refresh)
    assert RefreshToken.objects.filter(family=family).count() == 2  # original + one rotation
    assert Event.objects.filter(action="auth.refresh_family.revoked").count() == 1
