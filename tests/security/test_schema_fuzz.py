"""Property-based fuzz of every operation of the OpenAPI schema, through the ASGI app.

Issue 7 item 1 closed the class "client input gives a 5xx"; this proves it stays closed.
Schemathesis generates valid and invalid requests (bodies, query and path parameters,
headers) for every operation of ``/api/schema/`` and sends them to
``aventide.asgi.application`` (body-size middleware included). Every response must be
below 500, and every 4xx must be the error contract (``error``, ``code``, ``message``,
``requestId``; ``X-Request-ID`` header). Each example picks a caller -- no credentials, the
generated (garbage) ones, a buyer, a seller, an in-scope L3 staff member or the order's
anonymous recipient -- and often aims at the seeded listing and orders (one per state the
actions start from), so the fuzz gets past authentication and reaches real objects. One
example in four replaces the body with one no schema describes (`HOSTILE_BODIES`: nesting up
to 3000 levels, NaN/Infinity, huge numbers, lone surrogates, invalid UTF-8, random bytes, a
body just over the size limit) under one of several content types.

Bounded for CI: a fixed seed, deterministic generation, no example database and
``FUZZ_EXAMPLES`` generated examples per operation (18 operations, a few hundred requests in
all).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
import schemathesis
from django.core.management import call_command
from django.db import connection
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig

from aventide.accounts import services as accounts
from aventide.asgi import application
from aventide.core.principal import SYSTEM
from aventide.orders import services as orders
from tests.accounts.factories import make_staff, make_user, principal
from tests.conftest import JsonLogs
from tests.realtime.push_helpers import enable_push

T = TypeVar("T")
SEED = 20261202
FUZZ_EXAMPLES = 30
_CODE_RE = re.compile(r"^[A-Z][A-Z0-9_]+$")


def _openapi() -> dict[str, Any]:
    raw = SchemaGenerator().get_schema(request=None, public=True)
    return dict(json.loads(OpenApiJsonRenderer().render(raw)))


CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "generation": {
            "mode": "all",  # valid and invalid inputs
            "max-examples": FUZZ_EXAMPLES,
            "deterministic": True,
            "database": "none",
        },
        "phases": {"stateful": {"enabled": False}},
    }
)
schema = schemathesis.openapi.from_dict(_openapi(), config=CONFIG)
schema.app = application

CALLERS = ("none", "generated", "buyer", "seller", "staff", "recipient")


class Parties:
    """The module's committed background: a buyer, a seller with a listing, an in-scope L3."""

    def __init__(self) -> None:
        self.seller = make_user(email="fuzz.seller@example.test", is_seller=True)
        self.buyer = make_user(email="fuzz.buyer@example.test")
        self.staff = make_staff(level="L3", countries=("AR",), email="fuzz.l3@example.test")
        self.listing = orders.listing_create(
            actor=principal(self.seller), title="Flores", price_minor=1500
        )


class World:
    """What one operation's fuzz can reach past authentication: fresh sessions of the parties
    (a fuzzed logout may revoke them) and fresh orders in each state the actions start from,
    each with its anonymous recipient."""

    STATES = ("pending_payment", "paid", "accepted", "in_transit")

    def __init__(self, parties: Parties) -> None:
        self.listing = parties.listing
        self.order_ids: list[int] = []
        self.recipients: dict[int, dict[str, str]] = {}
        for steps, _state in enumerate(self.STATES):
            created = orders.order_create(
                actor=principal(parties.buyer), listing_id=self.listing.pk, recipient_name="Ana"
            )
            order_id, access = created.order.pk, created.recipient_access
            assert access is not None
            if steps >= 1:
                orders.order_mark_paid(actor=SYSTEM, order_id=order_id, payment_reference="p")
            if steps >= 2:
                orders.order_accept(actor=principal(parties.seller), order_id=order_id)
            if steps >= 3:
                orders.order_dispatch(actor=principal(parties.seller), order_id=order_id)
            self.order_ids.append(order_id)
            self.recipients[order_id] = {
                "X-Anonymous-Id": str(access.anon_id),
                "X-Anonymous-Signature": access.signature,
            }
        self.headers: dict[str, dict[str, str]] = {
            "none": {},
            "buyer": _bearer(parties.buyer),
            "seller": _bearer(parties.seller),
            "staff": _bearer(parties.staff),
        }


def _bearer(user: Any) -> dict[str, str]:
    pair = accounts.session_start(user=user, method="password")
    return {"Authorization": f"Bearer {pair.access}"}


def committed(build: Callable[[], T]) -> T:
    """Run ``build`` in a thread of its own, on its own autocommit connection: the rows are
    committed (visible to the app, which answers from other threads) whatever transaction
    the test itself is in. The module's fixture flushes them at the end."""

    def run() -> T:
        try:
            return build()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


@pytest.fixture(scope="module")
def parties(django_db_setup: None, django_db_blocker: Any) -> Iterator[Parties]:
    """Committed background rows, created once per module and flushed once at its end (one
    flush instead of one per operation). Each ASGI request runs its sync code in a thread of
    its own, so connections close at the end of each request (CONN_MAX_AGE 0) instead of
    lingering until garbage collection."""
    previous = connection.settings_dict.get("CONN_MAX_AGE", 0)
    connection.settings_dict["CONN_MAX_AGE"] = 0
    try:
        with django_db_blocker.unblock():
            yield committed(Parties)
    finally:
        with django_db_blocker.unblock():
            call_command("flush", verbosity=0, interactive=False)
        connection.settings_dict["CONN_MAX_AGE"] = previous


@pytest.fixture
def world(parties: Parties, settings: Any) -> World:
    # Throttles are raised so the fuzz explores instead of collecting 429s.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "100000/min", "user": "100000/min", "auth": None},
    }
    enable_push(settings)  # off, the push endpoints answer 503 PUSH_DISABLED by design
    return committed(lambda: World(parties))


def _aim(case: Any, data: st.DataObject, world: World) -> None:
    """Often point the generated request at the seeded objects, as one of the callers."""
    order_id = data.draw(st.sampled_from(world.order_ids), label="order")
    if "order_id" in (case.path_parameters or {}) and data.draw(st.booleans(), label="aim"):
        case.path_parameters["order_id"] = order_id
    if isinstance(case.body, dict):
        if "listingId" in case.body and data.draw(st.booleans(), label="listing"):
            case.body["listingId"] = world.listing.pk
        if "countryCode" in case.body and data.draw(st.booleans(), label="country"):
            case.body["countryCode"] = "AR"
    caller = data.draw(st.sampled_from(CALLERS), label="caller")
    if caller == "generated":
        return  # whatever (possibly garbage) credentials schemathesis generated
    for name in ("Authorization", "X-Anonymous-Id", "X-Anonymous-Signature"):
        (case.headers or {}).pop(name, None)
    headers = world.recipients[order_id] if caller == "recipient" else world.headers[caller]
    if headers:
        case.headers = {**(case.headers or {}), **headers}


def _nested(depth: int, opener: str) -> bytes:
    closer = {"[": "]", '{"a":': "}", '{"a":[': "]}"}[opener]
    return (opener * depth + ("1" if opener.endswith(":") else "") + closer * depth).encode()


#: Bodies no schema describes: the classes of issue 7 item 1, thrown at every operation.
HOSTILE_BODIES = st.one_of(
    st.builds(
        _nested, st.integers(min_value=1, max_value=3000), st.sampled_from(["[", '{"a":', '{"a":['])
    ),
    st.sampled_from(
        [
            b'{"x": NaN}',
            b'{"x": Infinity}',
            b"[-Infinity]",
            b'{"x": 1e999999}',
            b'{"x": ' + b"9" * 5000 + b"}",
            b'{"\\ud800": "x"}',
            b'{"x": "a\\udfff"}',
            b'{"x": "\\u0000"}',
            b'{"x": "\xff\xfe"}',
            b'{"x": "unterminated',
            b" " * (1024 * 1024 + 1),  # just over the body limit
        ]
    ),
    st.binary(max_size=64),
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-16",
        "application/json; charset=hex",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
    ]
)


def _last_exception(logs: JsonLogs) -> str:
    failures = logs.events("UNHANDLED_EXCEPTION")
    return str(failures[-1].get("exception", ""))[-1500:] if failures else "(none logged)"


def assert_contract(case: Any, response: Any, logs: JsonLogs) -> None:
    where = f"{case.method} {case.formatted_path} -> {response.status_code}"
    assert response.status_code < 500, (
        f"{where}: {response.text[:300]}\n{case.as_curl_command()}\n{_last_exception(logs)}"
    )
    if 400 <= response.status_code < 500:
        try:
            body = json.loads(response.text)
        except ValueError:
            pytest.fail(f"{where}: not JSON: {response.text[:300]}")
        assert isinstance(body, dict), where
        missing = {"error", "code", "message", "requestId"} - set(body)
        assert not missing, f"{where}: missing {missing} in {body}"
        assert _CODE_RE.match(str(body["code"])), f"{where}: code {body['code']!r}"
        header = (response.headers.get("x-request-id") or [None])[0]
        assert body["requestId"] and header == body["requestId"], f"{where}: X-Request-ID"


@pytest.mark.django_db  # the test database; the rows the app sees come from `committed`
@schema.parametrize()
@schema.given(data=st.data())
@hypothesis_settings(
    suppress_health_check=list(HealthCheck),
    deadline=None,
    database=None,
)
def test_no_operation_answers_5xx_and_every_4xx_is_the_contract(
    case: Any, data: st.DataObject, world: World, json_logs: JsonLogs
) -> None:
    _aim(case, data, world)
    if data.draw(st.integers(min_value=0, max_value=3), label="hostile") == 0:
        body = data.draw(HOSTILE_BODIES, label="body")
        content_type = data.draw(CONTENT_TYPES, label="content-type")
        response = case.call(data=body, headers={"Content-Type": content_type})
    else:
        response = case.call()
    assert_contract(case, response, json_logs)
