"""``manage.py push check | vapid-keys``: the post-rotation check signs and verifies a test
JWT with the configured pair and counts subscriptions per country; never prints a key."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from aventide.core.env import check_env
from realtime.push import services as push
from realtime.push import vapid
from tests.accounts.factories import anonymous_principal, issue_anon, make_user, principal
from tests.realtime.push_helpers import Browser, Keys, vapid_keys

__all__ = ["vapid_keys"]

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("push", *args, stdout=out)
    return out.getvalue()


def test_push_check_verifies_the_pair_and_counts_subscriptions_per_country(
    vapid_keys: Keys,
) -> None:
    for country, name in (("AR", "a"), ("AR", "b"), ("MX", "c")):
        browser = Browser()
        push.push_subscribe(
            actor=principal(make_user(country_code=country)),
            endpoint=f"https://push.example.com/{name}",
            p256dh=browser.p256dh,
            auth=browser.auth,
        )
    issued = issue_anon(order_id=3, country_code="BR")
    browser = Browser()
    push.push_subscribe(
        actor=anonymous_principal(issued.anon_id),
        endpoint="https://push.example.com/anon",
        p256dh=browser.p256dh,
        auth=browser.auth,
    )
    output = run("check")
    assert "VAPID pair: OK" in output
    assert "subscriptions: 4" in output
    assert "AR: 2" in output and "MX: 1" in output and "BR: 1" in output
    assert vapid_keys.private not in output


def test_push_check_fails_when_the_public_key_is_not_the_private_keys(
    vapid_keys: Keys, settings: Any
) -> None:
    settings.VAPID_PUBLIC_KEY, _ = vapid.generate_pair()  # rotated one half only
    with pytest.raises(CommandError) as failure:
        run("check")
    assert "VAPID_PUBLIC_KEY" in str(failure.value)
    assert vapid_keys.private not in str(failure.value)


def test_push_check_with_push_off_reports_it(settings: Any) -> None:
    settings.ENABLE_PUSH_NOTIFICATIONS = False
    output = run("check")
    assert "ENABLE_PUSH_NOTIFICATIONS=false; push off" in output
    assert "not checked" in output


def test_push_vapid_keys_prints_a_pair_that_checks(settings: Any) -> None:
    lines = dict(
        line.split("=", 1) for line in run("vapid-keys").splitlines() if line.startswith("VAPID_")
    )
    public, private = lines["VAPID_PUBLIC_KEY"], lines["VAPID_PRIVATE_KEY"]
    assert vapid.check_pair(public_key=public, private_key=private, subject="mailto:a@b.test").ok
    assert check_env({"VAPID_PUBLIC_KEY": public, "VAPID_PRIVATE_KEY": private}).ok
