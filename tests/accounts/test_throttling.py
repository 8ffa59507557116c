"""Login lockout per (account, IP), growing; per-IP throttling across accounts."""

from __future__ import annotations

import pytest

from audit.models import Event
from aventide.core import metrics
from tests.accounts.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.7"
VICTIM_IP = "198.51.100.20"
WRONG = "Wrong-Password-000"


def _login(api_client, email: str, password: str, ip: str):
    return api_client.post(
        "/api/auth/login", {"email": email, "password": password}, format="json", REMOTE_ADDR=ip
    )


def test_sixth_wrong_password_in_a_minute_is_locked_with_retry_after(api_client) -> None:
    make_user(email="target@example.test")
    for _ in range(5):
        assert _login(api_client, "target@example.test", WRONG, ATTACKER).status_code == 401
    sixth = _login(api_client, "target@example.test", WRONG, ATTACKER)
    assert sixth.status_code == 429
    assert sixth.json()["code"] == "ACCOUNT_LOCKED"
    assert 1 <= int(sixth["Retry-After"]) <= 60
    # the right password from that IP during the lockout is still refused
    right = _login(api_client, "target@example.test", PASSWORD, ATTACKER)
    assert right.status_code == 429 and right.json()["code"] == "ACCOUNT_LOCKED"
    assert right["Retry-After"]


def test_the_same_account_from_another_ip_still_logs_in(api_client) -> None:
    make_user(email="victim@example.test")
    for _ in range(6):
        _login(api_client, "victim@example.test", WRONG, ATTACKER)
    assert _login(api_client, "victim@example.test", WRONG, ATTACKER).status_code == 429
    assert _login(api_client, "victim@example.test", PASSWORD, VICTIM_IP).status_code == 200


def test_unknown_emails_lock_exactly_like_real_ones(api_client) -> None:
    make_user(email="real@example.test")
    answers = {}
    for email in ("real@example.test", "ghost@example.test"):
        codes = [_login(api_client, email, WRONG, ATTACKER) for _ in range(6)]
        answers[email] = [(r.status_code, r.json()["code"]) for r in codes]
    assert answers["real@example.test"] == answers["ghost@example.test"]
    assert answers["ghost@example.test"][-1] == (429, "ACCOUNT_LOCKED")


def test_lockout_grows_on_each_new_lockout(api_client, settings) -> None:
    make_user(email="grow@example.test")
    for _ in range(5):
        _login(api_client, "grow@example.test", WRONG, ATTACKER)
    first = int(_login(api_client, "grow@example.test", WRONG, ATTACKER)["Retry-After"])
    from django.core.cache import cache

    cache.delete_many(_lock_keys("grow@example.test", ATTACKER))
    for _ in range(5):
        _login(api_client, "grow@example.test", WRONG, ATTACKER)
    second = int(_login(api_client, "grow@example.test", WRONG, ATTACKER)["Retry-After"])
    assert first <= 60 < second <= 120


def _lock_keys(email: str, ip: str) -> list[str]:
    from aventide.accounts import services

    return [services.login_guard(email=email, ip=ip).lock_key]


def test_success_resets_the_failure_count(api_client) -> None:
    make_user(email="reset@example.test")
    for _ in range(4):
        _login(api_client, "reset@example.test", WRONG, ATTACKER)
    assert _login(api_client, "reset@example.test", PASSWORD, ATTACKER).status_code == 200
    for _ in range(4):
        assert _login(api_client, "reset@example.test", WRONG, ATTACKER).status_code == 401


def test_lockout_writes_an_audit_event_without_email_or_ip(api_client) -> None:
    user = make_user(email="audited@example.test")
    for _ in range(5):
        _login(api_client, "audited@example.test", WRONG, ATTACKER)
    event = Event.objects.get(action="auth.lockout")
    assert (event.target_type, event.target_id) == ("user", str(user.pk))
    assert event.data["lockSeconds"] == 60
    text = str(event.data)
    assert "audited@example.test" not in text and ATTACKER not in text


def test_many_accounts_from_one_ip_get_the_ip_throttled(api_client) -> None:
    make_user(email="legit@example.test")
    statuses = [
        _login(api_client, f"u{i}@example.test", WRONG, ATTACKER).status_code for i in range(20)
    ]
    assert statuses == [401] * 20
    blocked = _login(api_client, "legit@example.test", PASSWORD, ATTACKER)
    assert blocked.status_code == 429
    assert blocked.json()["code"] == "RATE_LIMITED"
    assert int(blocked["Retry-After"]) > 0
    assert Event.objects.filter(action="auth.ip_blocked").count() == 1
    # the same account from another IP is fine
    assert _login(api_client, "legit@example.test", PASSWORD, VICTIM_IP).status_code == 200


def test_auth_endpoints_have_a_request_rate_per_ip(api_client, settings) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "auth": "3/min",
        },
    }
    codes = [
        api_client.post("/api/auth/refresh", {"refresh": "x"}, format="json", REMOTE_ADDR=ATTACKER)
        for _ in range(4)
    ]
    assert [r.status_code for r in codes] == [401, 401, 401, 429]
    assert codes[-1].json()["code"] == "RATE_LIMITED" and codes[-1]["Retry-After"]
    other = api_client.post(
        "/api/auth/refresh", {"refresh": "x"}, format="json", REMOTE_ADDR=VICTIM_IP
    )
    assert other.status_code == 401


def test_x_forwarded_for_is_ignored_without_trusted_proxies(api_client) -> None:
    make_user(email="xff@example.test")
    for i in range(6):
        _login_xff = api_client.post(
            "/api/auth/login",
            {"email": "xff@example.test", "password": WRONG},
            format="json",
            REMOTE_ADDR=ATTACKER,
            HTTP_X_FORWARDED_FOR=f"10.0.0.{i}",
        )
    assert _login_xff.status_code == 429


def test_login_metrics_count_success_and_failure_without_emails(api_client, json_logs) -> None:
    make_user(email="metric.person@example.test")
    before_ok = metrics.count_of("METRIC_AUTH_LOGIN_SUCCESS", method="password")
    before_ko = metrics.count_of(
        "METRIC_AUTH_LOGIN_FAILURE", method="password", reason="INVALID_CREDENTIALS"
    )
    _login(api_client, "metric.person@example.test", PASSWORD, VICTIM_IP)
    _login(api_client, "metric.person@example.test", WRONG, VICTIM_IP)
    assert metrics.count_of("METRIC_AUTH_LOGIN_SUCCESS", method="password") == before_ok + 1
    assert (
        metrics.count_of(
            "METRIC_AUTH_LOGIN_FAILURE", method="password", reason="INVALID_CREDENTIALS"
        )
        == before_ko + 1
    )
    lines = json_logs.events("METRIC_AUTH_LOGIN_FAILURE") + json_logs.events(
        "METRIC_AUTH_LOGIN_SUCCESS"
    )
    assert len(lines) == 2
    assert "metric.person" not in json_logs.text


def test_an_unexpected_failure_under_auth_counts_auth_5xx(api_client, monkeypatch) -> None:
    from aventide.accounts import services

    def boom(**kwargs):
        raise RuntimeError("db down password=hunter2")

    monkeypatch.setattr(services, "login_with_password", boom)
    before = metrics.count_of("METRIC_AUTH_5XX", route="/api/auth/login", status="500")
    response = _login(api_client, "any@example.test", WRONG, VICTIM_IP)
    assert response.status_code == 500 and response.json()["code"] == "INTERNAL_ERROR"
    assert metrics.count_of("METRIC_AUTH_5XX", route="/api/auth/login", status="500") == before + 1


def test_ops_can_lift_a_lockout_with_the_command(api_client) -> None:
    from io import StringIO

    from django.core.management import call_command

    user = make_user(email="helpme@example.test")
    for _ in range(6):
        _login(api_client, "helpme@example.test", WRONG, ATTACKER)
    assert _login(api_client, "helpme@example.test", PASSWORD, ATTACKER).status_code == 429
    out = StringIO()
    call_command(
        "auth_unlock",
        "--email=helpme@example.test",
        f"--ip={ATTACKER}",
        "--operator=ana",
        stdout=out,
    )
    assert "cleared" in out.getvalue()
    assert _login(api_client, "helpme@example.test", PASSWORD, ATTACKER).status_code == 200
    event = Event.objects.get(action="auth.lockout_cleared")
    assert event.target_id == str(user.pk)
    assert (event.actor_type, event.actor_id, event.actor_level) == ("system", "system", "L0")
    assert event.data["operator"] == "ana"


# --- review finding 4: attacks spread over many IPs, IPv6 networks --------------------------


def _ips(n: int, base: str = "203.0.113") -> list[str]:
    return [f"{base}.{i}" for i in range(1, n + 1)]


def test_an_attack_from_many_ips_tightens_every_new_ip_to_one_failure(api_client) -> None:
    user = make_user(email="wanted@example.test")
    # 4 IPs x 5 failures = 20 failures on the account (AUTH_ACCOUNT_FAILURE_LIMIT)
    for ip in _ips(4):
        codes = [_login(api_client, "wanted@example.test", WRONG, ip).status_code for _ in range(5)]
        assert codes == [401] * 5
    event = Event.objects.get(action="auth.account_under_attack")
    assert (event.target_type, event.target_id) == ("user", str(user.pk))
    assert event.data["perIpAllowance"] == 1
    # from now on every new IP gets ONE failure before its (account, IP) pair locks
    for ip in _ips(30, "198.18.0"):
        first = _login(api_client, "wanted@example.test", WRONG, ip)
        second = _login(api_client, "wanted@example.test", WRONG, ip)
        assert first.status_code == 401
        assert second.status_code == 429 and second.json()["code"] == "ACCOUNT_LOCKED"
    assert Event.objects.filter(action="auth.account_under_attack").count() == 1


def test_under_attack_the_right_password_from_a_clean_ip_still_logs_in(api_client) -> None:
    make_user(email="wanted2@example.test")
    for ip in _ips(25):
        for _ in range(5):
            _login(api_client, "wanted2@example.test", WRONG, ip)
    assert Event.objects.filter(action="auth.account_under_attack").exists()
    # no malicious lockout: the owner's IP never failed, so it is never refused
    assert _login(api_client, "wanted2@example.test", PASSWORD, VICTIM_IP).status_code == 200
    assert _login(api_client, "wanted2@example.test", PASSWORD, "192.0.2.200").status_code == 200
    # a typo of the owner now locks only the owner's own IP pair, after one failure
    assert _login(api_client, "wanted2@example.test", WRONG, VICTIM_IP).status_code == 401
    assert _login(api_client, "wanted2@example.test", PASSWORD, VICTIM_IP).status_code == 429


def test_unknown_emails_enter_the_under_attack_mode_like_real_ones(api_client) -> None:
    make_user(email="real2@example.test")
    answers = {}
    for email in ("real2@example.test", "ghost2@example.test"):
        for ip in _ips(4):
            for _ in range(5):
                _login(api_client, email, WRONG, ip)
        tail = [_login(api_client, email, WRONG, "198.18.1.1") for _ in range(2)]
        answers[email] = [(r.status_code, r.json()["code"]) for r in tail]
    assert answers["real2@example.test"] == answers["ghost2@example.test"]
    assert answers["ghost2@example.test"] == [(401, "INVALID_CREDENTIALS"), (429, "ACCOUNT_LOCKED")]


def test_ipv6_addresses_of_one_64_share_the_account_lockout(api_client) -> None:
    make_user(email="six@example.test")
    answers = [
        _login(api_client, "six@example.test", WRONG, f"2001:db8:1:2::{i:x}").status_code
        for i in range(1, 7)
    ]
    assert answers == [401] * 5 + [429]
    right = _login(api_client, "six@example.test", PASSWORD, "2001:db8:1:2:ffff::1")
    assert right.status_code == 429 and right.json()["code"] == "ACCOUNT_LOCKED"
    # another /64 is another network: not affected
    assert _login(api_client, "six@example.test", PASSWORD, "2001:db8:1:3::1").status_code == 200


def test_ipv6_addresses_of_one_64_share_the_ip_block(api_client) -> None:
    make_user(email="legit6@example.test")
    for i in range(1, 21):
        response = _login(api_client, f"n{i}@example.test", WRONG, f"2001:db8:9:9::{i:x}")
        assert response.status_code == 401
    blocked = _login(api_client, "legit6@example.test", PASSWORD, "2001:db8:9:9:abcd::1")
    assert blocked.status_code == 429 and blocked.json()["code"] == "RATE_LIMITED"
    assert _login(api_client, "legit6@example.test", PASSWORD, "2001:db8:9:a::1").status_code == 200


def test_ipv6_addresses_of_one_64_share_the_auth_request_rate(api_client, settings) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "auth": "3/min",
        },
    }
    codes = [
        api_client.post(
            "/api/auth/refresh", {"refresh": "x"}, format="json", REMOTE_ADDR=f"2001:db8:5::{i}"
        ).status_code
        for i in range(1, 5)
    ]
    assert codes == [401, 401, 401, 429]


def test_ip_key_groups_ipv6_by_64_and_unwraps_ipv4_mapped() -> None:
    from aventide.accounts.throttling import ip_key

    assert ip_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == "2001:db8:1:2::/64"
    assert ip_key("2001:DB8:1:2::1") == ip_key("2001:db8:1:2:ffff::2")
    assert ip_key("2001:db8:1:3::1") != ip_key("2001:db8:1:2::1")
    assert ip_key("::ffff:203.0.113.7") == "203.0.113.7" == ip_key("203.0.113.7")
    assert ip_key("") == "-"


# --- review finding 5: one account, many spellings ------------------------------------------

LONG_S = "\u017f"  # LATIN SMALL LETTER LONG S: PostgreSQL's upper() makes it "S"


@pytest.mark.parametrize(
    "variant", [f"{LONG_S}uper@example.test", "SUPER@Example.Test", " super@example.test "]
)
def test_spelling_variants_of_an_email_share_its_lockout(api_client, variant) -> None:
    make_user(email="super@example.test")
    for _ in range(5):
        _login(api_client, "super@example.test", WRONG, ATTACKER)
    response = _login(api_client, variant, PASSWORD, ATTACKER)
    assert response.status_code == 429 and response.json()["code"] == "ACCOUNT_LOCKED"


def test_spelling_variants_of_an_unknown_email_share_its_lockout(api_client) -> None:
    for _ in range(5):
        _login(api_client, "nobody@example.test", WRONG, ATTACKER)
    response = _login(api_client, f"nobody@example.te{LONG_S}t", WRONG, ATTACKER)
    assert response.status_code == 429 and response.json()["code"] == "ACCOUNT_LOCKED"


def test_fold_login_folds_what_a_case_insensitive_match_could_equate() -> None:
    from aventide.accounts.throttling import fold_login

    assert fold_login(f" {LONG_S}UPER@Example.test ") == "super@example.test"
    assert fold_login("\u212aate@example.test") == "kate@example.test"  # KELVIN SIGN
    assert fold_login("\u0131nes@example.test") == "ines@example.test"  # dotless i
    assert fold_login("\uff41na@example.test") == "ana@example.test"  # fullwidth a (NFKC)


def test_ops_can_end_the_under_attack_mode_with_the_command(api_client) -> None:
    from io import StringIO

    from django.core.management import call_command

    make_user(email="calm@example.test")
    for ip in _ips(4):
        for _ in range(5):
            _login(api_client, "calm@example.test", WRONG, ip)
    call_command(
        "auth_unlock",
        "--email=calm@example.test",
        f"--ip={VICTIM_IP}",
        "--whole-account",
        "--operator=ana",
        stdout=StringIO(),
    )
    # back to 5 failures per IP
    codes = [
        _login(api_client, "calm@example.test", WRONG, VICTIM_IP).status_code for _ in range(6)
    ]
    assert codes == [401] * 5 + [429]
    event = Event.objects.get(action="auth.lockout_cleared")
    assert event.data["wholeAccount"] is True


def test_without_its_store_the_api_throttle_lets_requests_through_and_login_refuses(
    api_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis down (a restart, chaos drill 3): every request used to answer 500 because the
    API throttle raised. The API now runs unthrottled for that moment (counted); the auth
    endpoints answer 503 SERVICE_UNAVAILABLE instead of running without their throttle."""
    import redis

    from aventide.accounts import throttling
    from tests.accounts.factories import bearer

    make_user(email="ana@example.test")
    access = _login(api_client, "ana@example.test", PASSWORD, VICTIM_IP).json()["access"]

    def down(key: str, ttl: int) -> int:
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(throttling, "incr_counter", down)
    before = metrics.count_of("METRIC_THROTTLE_UNAVAILABLE", error="ConnectionError", scope="user")
    assert api_client.get("/api/auth/me", **bearer(access)).status_code == 200
    after = metrics.count_of("METRIC_THROTTLE_UNAVAILABLE", error="ConnectionError", scope="user")
    assert after == before + 1
    refused = _login(api_client, "ana@example.test", PASSWORD, VICTIM_IP)
    assert refused.status_code == 503
    assert refused.json()["code"] == "SERVICE_UNAVAILABLE"
    assert refused["Retry-After"] == "1"
