"""Drill 5 of issue 15: the BOLA matrix, generated from the routes.

Every ``/api/`` route whose path carries an object id (``<int:order_id>``,
``<int:conversation_id>``, ``<int:subscription_id>``, ``<str:provider>``, ...) x every HTTP
method its view handles x every principal below is sent against an object owned by someone else
(the *victim*: an order of buyer A and seller A in AR, its conversation, buyer A's push
subscription):

- principals: buyer A, seller A and the anonymous recipient of the victim's order (the parties);
  buyer B, seller B and the anonymous recipient of *another* order of the same country; staff of
  AR (in scope) and of MX (out of scope) at L1, L2 and L3; no credentials at all.
- a principal the route's rule does not entitle must get 401, 403 or 404 (never 2xx, never 5xx,
  never a 400/409 that tells it the object exists), and the database must not change: every
  domain table's content hash is the same before and after, and the only audit rows the request
  may add are refusals (``scope.violation``).
- so that the matrix is not vacuous, every entitled principal *reads* with a 2xx, and for a
  write the route's owner sends the same request last and gets a 2xx that does change the
  database (the denied attempts were real attempts, on an object in a state where the write
  succeeds).

The routes come from the URLconf itself (cross-checked against the OpenAPI schema): a route
with an object id whose kwarg has no family in ``FAMILIES`` fails
``test_every_object_route_is_in_the_matrix`` with its name, so a new route cannot ship
uncovered. A new route of a known family gets the family's rules; a write needs its body in
``RULES`` (a non-entitled principal getting 400 means the view validated the body before
authorizing, or the matrix sent an implausible body: the failure says so).

Collections get the same question (``test_no_list_shows_someone_elses_object``): no list GET
(``/api/orders``, ``/api/conversations``, ``/api/push/subscriptions``, ``/api/realtime/catchup``)
names a victim object to a principal that may not read it, and each shows it to its owners;
every collection GET is either checked (``LIST_RULES``) or exempt with a reason
(``LIST_EXEMPT``).

How to run it, what a failure means and how to add a route: docs/operations/drills.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from audit.models import Event
from aventide.accounts.audit_actions import ScopeAction
from aventide.accounts.models import User
from aventide.accounts.tokens import sign_anonymous_id
from aventide.core.principal import Principal
from aventide.orders import services as order_services
from aventide.orders.models import Order, OrderStatus
from chaos import record
from messaging.models import Conversation
from realtime.push import services as push_services
from tests.accounts.factories import anonymous_principal, login_headers, principal
from tests.messaging.conftest import ChatWorld, make_staff, make_user
from tests.realtime.push_helpers import Browser, enable_push

pytestmark = [pytest.mark.django_db, pytest.mark.postgres, pytest.mark.chaos]

# --- principals ------------------------------------------------------------------------------

BUYER_A, SELLER_A, RECIPIENT_A = "buyer_a", "seller_a", "recipient_a"
BUYER_B, SELLER_B, RECIPIENT_B = "buyer_b", "seller_b", "recipient_b"
STAFF_AR = tuple(f"staff_ar_{level}" for level in ("l1", "l2", "l3"))
STAFF_MX = tuple(f"staff_mx_{level}" for level in ("l1", "l2", "l3"))
UNAUTHENTICATED = "unauthenticated"
PRINCIPALS = (
    BUYER_A,
    SELLER_A,
    RECIPIENT_A,
    BUYER_B,
    SELLER_B,
    RECIPIENT_B,
    *STAFF_AR,
    *STAFF_MX,
    UNAUTHENTICATED,
)
PARTIES_A = frozenset({BUYER_A, SELLER_A, RECIPIENT_A})
IN_SCOPE_STAFF = frozenset(STAFF_AR)
NOBODY: frozenset[str] = frozenset()

#: what a principal the rule does not entitle may be told
DENIED = frozenset({401, 403, 404})
#: audit rows a refused request may add (a refusal survives its call's rollback)
REFUSAL_ACTIONS = frozenset({ScopeAction.VIOLATION.value})
#: methods the matrix sends; OPTIONS answers the view's metadata (no object is read) and HEAD
#: is GET without a body
SKIPPED_METHODS = frozenset({"options", "head", "trace"})
READ_METHODS = frozenset({"get"})


# --- the victim's world and the principals' clients ------------------------------------------


class Matrix:
    """The victim's order world (AR), another order of AR (buyer B, seller B, its recipient),
    staff of AR and MX at every level, and an HTTP client per principal. Objects are made
    through the services, like production makes them."""

    def __init__(self) -> None:
        self.victim = ChatWorld("AR")
        self.seller_b = make_user("seller.b.ar@t.test", "AR", is_seller=True)
        self.buyer_b = make_user("buyer.b.ar@t.test", "AR")
        listing_b = order_services.listing_create(
            actor=principal(self.seller_b), title="Chocolates", price_minor=9_000
        )
        created = order_services.order_create(
            actor=principal(self.buyer_b), listing_id=listing_b.pk, recipient_name="Beto"
        )
        assert created.recipient_access is not None
        self.other_order = created.order
        self._recipient_b = anonymous_principal(created.recipient_access.anon_id)
        self.staff_mx = {
            level: make_staff(level, ["MX"], f"staff.{level.lower()}.mx@t.test")
            for level in ("L1", "L2", "L3")
        }
        # the victim's objects are made per route (``order``/``conversation``); recipient A is
        # the anonymous identity of the order the route is tried on
        self.current_order: Order | None = None
        self._clients: dict[tuple[str, int | None], APIClient] = {}
        self._users: dict[str, User] = {
            BUYER_A: self.victim.buyer,
            SELLER_A: self.victim.seller,
            BUYER_B: self.buyer_b,
            SELLER_B: self.seller_b,
            **{f"staff_ar_{lv.lower()}": u for lv, u in self.victim.staff.items()},
            **{f"staff_mx_{lv.lower()}": u for lv, u in self.staff_mx.items()},
        }
        for name in self._users:  # log in now: a session's rows are not the request's writes
            self.client(name)

    # objects of the victim ----------------------------------------------------------------

    def order(self, state: str) -> Order:
        """A fresh victim order in ``state`` (the route's target; its recipient is A's)."""
        order = self.victim.order_in(state)
        self.current_order = order
        return order

    def conversation(self, state: str) -> Conversation:
        """A fresh victim conversation: ``dormant``, or ``active`` with one message of buyer A
        (seq 2) and one of seller A (seq 3) after the activation's system message (seq 1)."""
        order = self.order(OrderStatus.PAID)
        if state == "dormant":
            return self.victim.conversation(order)
        conversation = self.victim.active(order)
        self.victim.send(self.victim.p(self.victim.buyer), conversation, "¿A qué hora llega?")
        self.victim.send(self.victim.p(self.victim.seller), conversation, "A la tarde.")
        conversation.refresh_from_db()
        return conversation

    # principals --------------------------------------------------------------------------

    def client(self, name: str) -> APIClient:
        order_key = self.current_order.pk if name == RECIPIENT_A and self.current_order else None
        key = (name, order_key)
        if key not in self._clients:
            client = APIClient(raise_request_exception=False)
            if name in self._users:
                client.credentials(**login_headers(self._users[name]))
            elif name in (RECIPIENT_A, RECIPIENT_B):
                anon = self._recipient(name)
                client.credentials(
                    HTTP_X_ANONYMOUS_ID=str(anon.anon_id),
                    HTTP_X_ANONYMOUS_SIGNATURE=sign_anonymous_id(str(anon.anon_id)),
                )
            else:
                assert name == UNAUTHENTICATED, name
            self._clients[key] = client
        return self._clients[key]

    def _recipient(self, name: str) -> Principal:
        if name == RECIPIENT_B:
            return self._recipient_b
        assert self.current_order is not None, "no victim order yet"
        return self.victim.recipient(self.current_order)


# --- the registry: object families (by URL kwarg) and per-route rules -------------------------


@dataclass(frozen=True)
class Family:
    """Objects named by one URL kwarg: how to make the victim's, who may read and write it."""

    kwarg: str
    make: Callable[[Matrix, str], Any]  # (matrix, state) -> the kwarg's value
    default_state: str
    readers: frozenset[str]
    writers: frozenset[str]
    why: str
    denied: frozenset[int] = DENIED


@dataclass(frozen=True)
class Rule:
    """One (route, method): overrides of its family's defaults."""

    state: str | None = None
    entitled: frozenset[str] | None = None
    read: bool | None = None  # None: GET reads, anything else writes
    body: Callable[[Matrix, Any], dict[str, Any]] | None = None
    owner: str | None = None  # who sends the write last (and must succeed)
    headers: Callable[[Matrix, Any, bytes], dict[str, str]] | None = None


def _subscription(m: Matrix, _state: str) -> int:
    m.order(OrderStatus.PAID)  # so that the victim's recipient exists too
    return _subscription_of_buyer_a(m)


def _provider(m: Matrix, state: str) -> str:
    m.order(OrderStatus.IN_TRANSIT)  # the webhook names it in its body
    return state


FAMILIES: dict[str, Family] = {
    family.kwarg: family
    for family in (
        Family(
            "order_id",
            lambda m, state: m.order(state).pk,
            OrderStatus.PAID,
            readers=PARTIES_A | IN_SCOPE_STAFF,
            writers=PARTIES_A | IN_SCOPE_STAFF,
            why="an order: its parties and staff whose scope has its country",
        ),
        Family(
            "conversation_id",
            lambda m, state: m.conversation(state).pk,
            "active",
            readers=PARTIES_A | IN_SCOPE_STAFF,
            writers=PARTIES_A | IN_SCOPE_STAFF,
            why="an order's chat: its members and staff whose scope has its country",
        ),
        Family(
            "subscription_id",
            _subscription,
            "",
            readers=frozenset({BUYER_A}),
            writers=frozenset({BUYER_A}),
            why="a push subscription: its owner only (staff included: not theirs)",
        ),
        Family(
            "provider",
            _provider,
            "courier",
            readers=NOBODY,
            writers=NOBODY,
            why="a provider's webhook: no principal's credentials count, only its signature",
            # an unsigned (or badly signed) event: 400 WEBHOOK_SIGNATURE_INVALID before any read
            denied=DENIED | {400},
        ),
    )
}


def _send_body(m: Matrix, _obj: Any) -> dict[str, Any]:
    return {"clientMessageId": f"bola-{uuid.uuid4()}", "body": "Gracias, ¿llega a la tarde?"}


def _webhook_body(m: Matrix, _obj: Any) -> dict[str, Any]:
    assert m.current_order is not None
    return {
        "id": f"evt_bola_{uuid.uuid4().hex}",
        "type": "delivered",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": f"shp_bola_{m.current_order.pk}",
                "metadata": {"order_id": str(m.current_order.pk)},
            }
        },
    }


def _webhook_signature(_m: Matrix, provider: Any, raw: bytes) -> dict[str, str]:
    """The provider's own signature (``X-Aventide-Signature: t=<unix>,v1=<hmac>``)."""
    secret = settings.WEBHOOK_SECRETS[provider][0]
    stamp = str(int(time.time()))
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return {"HTTP_X_AVENTIDE_SIGNATURE": f"t={stamp},v1={mac}"}


#: (route name, method) -> the rule where the family's default is not the truth
RULES: dict[tuple[str, str], Rule] = {
    # orders: each write on a victim order in the state where its owner's call succeeds
    ("order-pay", "post"): Rule(
        state=OrderStatus.PENDING_PAYMENT, entitled=frozenset({BUYER_A}), owner=BUYER_A
    ),
    ("order-accept", "post"): Rule(
        state=OrderStatus.PAID, entitled=frozenset({SELLER_A}), owner=SELLER_A
    ),
    ("order-dispatch", "post"): Rule(
        state=OrderStatus.ACCEPTED, entitled=frozenset({SELLER_A}), owner=SELLER_A
    ),
    ("order-confirm-delivery", "post"): Rule(
        state=OrderStatus.IN_TRANSIT, entitled=frozenset({RECIPIENT_A}), owner=RECIPIENT_A
    ),
    ("order-cancel", "post"): Rule(
        state=OrderStatus.PAID,
        # the transition table: buyer (pending/paid), seller (paid/accepted), L2/L3 in scope
        entitled=frozenset({BUYER_A, SELLER_A, "staff_ar_l2", "staff_ar_l3"}),
        body=lambda m, o: {"reason": "bola drill"},
        owner=BUYER_A,
    ),
    # the chat
    ("conversation-activate", "post"): Rule(
        state="dormant", body=lambda m, o: {"reasonCode": "delivery_question"}, owner=BUYER_A
    ),
    ("conversation-messages", "post"): Rule(body=_send_body, owner=BUYER_A),
    ("conversation-ack", "post"): Rule(body=lambda m, o: {"kind": "read", "upToSeq": 3}),
    ("conversation-reconcile", "post"): Rule(read=True, body=lambda m, o: {"lastSeqSeen": 0}),
    ("conversation-report", "post"): Rule(
        # parties report the others' messages (staff: 403 FORBIDDEN); buyer A reports seq 3
        entitled=PARTIES_A,
        body=lambda m, o: {"messageSeq": 3, "reasonCode": "spam"},
        owner=BUYER_A,
    ),
    # push
    ("push-subscription-detail", "delete"): Rule(owner=BUYER_A),
    # webhooks: a courier "delivered" event for the victim's in-transit order, unsigned (or
    # signed with a principal's token, which counts for nothing); the provider's signed event
    # is the owner's call
    ("integrations-webhook-receive", "post"): Rule(
        body=_webhook_body, owner="provider", headers=_webhook_signature
    ),
}


# --- the routes, from the URLconf ------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str
    pattern: str
    kwargs: tuple[str, ...]
    methods: tuple[str, ...]

    def url(self, value: Any) -> str:
        path = self.pattern
        for kwarg in self.kwargs:
            for converter in ("int", "str", "slug", "uuid", "path", ""):
                token = f"<{converter}:{kwarg}>" if converter else f"<{kwarg}>"
                path = path.replace(token, str(value))
        return "/" + path


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def api_routes() -> list[Route]:
    """Every /api/ route, with its path kwargs and the methods its view handles."""
    routes = []
    for path, pattern in _walk(get_resolver().url_patterns):
        kwargs = tuple(getattr(pattern.pattern, "converters", {}) or ())
        if not kwargs:
            kwargs = tuple(pattern.pattern.regex.groupindex)
        if not path.lstrip("^").startswith("api/"):
            continue
        view = getattr(pattern.callback, "view_class", None) or getattr(
            pattern.callback, "cls", None
        )
        names = getattr(view, "http_method_names", ["get", "post", "put", "patch", "delete"])
        methods = tuple(
            m for m in names if m not in SKIPPED_METHODS and (view is None or hasattr(view, m))
        )
        routes.append(Route(pattern.name or path, path, kwargs, methods))
    return routes


def object_routes() -> list[Route]:
    """Every /api/ route with an object id (a path kwarg)."""
    return [route for route in api_routes() if route.kwargs]


ROUTES = object_routes()


def _cases() -> list[Any]:
    return [pytest.param(route, id=route.name) for route in ROUTES]


# --- the database's fingerprint ---------------------------------------------------------------

#: tables a refused request may write to: the WORM audit trail (refusals only, checked apart)
#: and Django's own bookkeeping
_UNTRACKED = {"audit_event", "audit_seal", "django_session", "django_admin_log"}


def _tracked_tables() -> list[str]:
    tables = {
        model._meta.db_table
        for model in apps.get_models()
        if model._meta.managed and not model._meta.proxy
    }
    return sorted(tables - _UNTRACKED)


TABLES = _tracked_tables()
# table names from the models' metadata, never from input
_FINGERPRINT_SQL = " UNION ALL ".join(
    f"SELECT '{t}', count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) "  # noqa: S608
    f"FROM {connection.ops.quote_name(t)} x"
    for t in TABLES
)


@dataclass(frozen=True)
class Snapshot:
    tables: dict[str, tuple[int, str]]
    last_audit_id: int


def snapshot() -> Snapshot:
    with connection.cursor() as cursor:
        cursor.execute(_FINGERPRINT_SQL)
        tables = {name: (count, digest) for name, count, digest in cursor.fetchall()}
    last = Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    return Snapshot(tables, last)


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    """What changed between two snapshots, refusal audit rows excepted."""
    changed = [
        f"{t} ({before.tables[t][0]} -> {after.tables[t][0]} rows)"
        for t in TABLES
        if before.tables[t] != after.tables[t]
    ]
    new_actions = Event.objects.filter(pk__gt=before.last_audit_id).values_list("action", flat=True)
    changed += [f"audit {a}" for a in new_actions if a not in REFUSAL_ACTIONS]
    return changed


# --- the drill --------------------------------------------------------------------------------


@dataclass
class Row:
    route: str
    method: str
    principal: str
    expect: str  # "denied" | "read" | "owner write"
    status: int
    verdict: str = "ok"
    detail: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)

    @property
    def broken(self) -> list[Row]:
        return [r for r in self.rows if r.verdict != "ok"]

    def table(self) -> str:
        lines = [f"{'route':34} {'method':6} {'principal':16} {'expect':11} status verdict"]
        lines += [
            f"{r.route:34} {r.method:6} {r.principal:16} {r.expect:11} {r.status:6} "
            f"{r.verdict}{(': ' + r.detail) if r.detail else ''}"
            for r in self.rows
        ]
        return "\n".join(lines)


def _rule(route: Route, method: str) -> tuple[Family, Rule, bool, frozenset[str]]:
    family = FAMILIES[route.kwargs[0]]
    rule = RULES.get((route.name, method), Rule())
    read = rule.read if rule.read is not None else method in READ_METHODS
    default = family.readers if read else family.writers
    entitled = rule.entitled if rule.entitled is not None else default
    return family, rule, read, entitled


def _send(
    m: Matrix, who: str, route: Route, method: str, value: Any, rule: Rule, signed: bool = False
) -> Any:
    client = m.client(UNAUTHENTICATED if who == "provider" else who)
    url = route.url(value)
    if method in READ_METHODS:
        return client.get(url)
    body = rule.body(m, value) if rule.body else {}
    raw = json.dumps(body).encode()
    headers = rule.headers(m, value, raw) if (signed and rule.headers) else {}
    return getattr(client, method)(url, raw, content_type="application/json", **headers)


def _code(response: Any) -> str:
    try:
        return str(response.json().get("code", ""))
    except (ValueError, AttributeError, TypeError):  # 204: no body
        return ""


def drill(m: Matrix, route: Route, report: Report) -> None:
    for method in route.methods:
        family, rule, read, entitled = _rule(route, method)
        value = family.make(m, rule.state if rule.state is not None else family.default_state)
        # the outsiders first, each on the untouched object
        for who in PRINCIPALS:
            if who in entitled:
                continue
            before = snapshot()
            response = _send(m, who, route, method, value, rule)
            row = Row(route.name, method.upper(), who, "denied", response.status_code)
            changed = changes(before, snapshot())
            if response.status_code not in family.denied:
                row.verdict = "LEAK" if response.status_code < 300 else "WRONG STATUS"
                row.detail = _code(response)
                if response.status_code == 400 and family.denied == DENIED:
                    row.detail += (
                        " (validated before authorizing, or the matrix sent an implausible"
                        " body: give the route a body in RULES)"
                    )
            if changed:
                row.verdict = "WROTE"
                row.detail = ", ".join(changed)
            report.rows.append(row)
        # the entitled read it
        if read:
            for who in sorted(entitled):
                response = _send(m, who, route, method, value, rule)
                row = Row(route.name, method.upper(), who, "read", response.status_code)
                if not 200 <= response.status_code < 300:
                    row.verdict, row.detail = "OWNER REFUSED", _code(response)
                report.rows.append(row)
            continue
        # and the owner's write does change the database: the refusals above were real
        owner = rule.owner or next((p for p in PRINCIPALS if p in entitled), None)
        if owner is None:
            report.rows.append(
                Row(route.name, method.upper(), "-", "owner write", 0, "NO OWNER", "add a Rule")
            )
            continue
        before = snapshot()
        response = _send(m, owner, route, method, value, rule, signed=True)
        row = Row(route.name, method.upper(), owner, "owner write", response.status_code)
        if not 200 <= response.status_code < 300:
            row.verdict, row.detail = "OWNER REFUSED", _code(response)
        elif not changes(before, snapshot()):
            row.verdict, row.detail = "VACUOUS", "the owner's write changed nothing"
        report.rows.append(row)


@pytest.fixture
def matrix(countries: list[str], settings: Any) -> Matrix:
    enable_push(settings)  # off, the push endpoints answer 503 PUSH_DISABLED to everyone
    return Matrix()


def test_every_object_route_is_in_the_matrix() -> None:
    """A route with an object id the matrix cannot build an object for fails here, by name."""
    assert ROUTES, "the URLconf walk found no object routes"
    uncovered = [
        f"{route.name} (/{route.pattern}: {', '.join(route.kwargs)})"
        for route in ROUTES
        if len(route.kwargs) != 1 or route.kwargs[0] not in FAMILIES
    ]
    assert uncovered == [], (
        "object routes the BOLA matrix does not cover -- add a Family for their kwarg (and "
        "Rules for their writes) in chaos/test_bola_matrix.py:\n  " + "\n  ".join(uncovered)
    )
    stale = sorted({name for name, _ in RULES} - {route.name for route in ROUTES})
    known_elsewhere = {"conversation-ack", "conversation-reconcile", "conversation-report"}
    assert set(stale) <= known_elsewhere, f"rules for routes that no longer exist: {stale}"


def test_the_openapi_schema_has_no_object_operation_outside_the_matrix() -> None:
    """The schema (drf-spectacular, from the same URLconf) agrees: each path with a path
    parameter is one of the matrix's routes, with the same methods."""
    from drf_spectacular.generators import SchemaGenerator

    generator = SchemaGenerator()  # type: ignore[no-untyped-call]  # drf-spectacular: untyped
    schema: dict[str, Any] = generator.get_schema(request=None, public=True)  # type: ignore[no-untyped-call]
    ours = {route.url("{x}"): set(route.methods) for route in ROUTES}
    missing = []
    for path, item in schema["paths"].items():
        if "{" not in path:
            continue
        normalized = "/" + "/".join(
            "{x}" if part.startswith("{") else part for part in path.strip("/").split("/")
        )
        methods = {m for m in item if m in {"get", "post", "put", "patch", "delete"}}
        if normalized not in ours or not methods <= ours[normalized]:
            missing.append(f"{path} {sorted(methods)}")
    assert missing == [], f"OpenAPI object operations outside the matrix: {missing}"


@pytest.mark.parametrize("route", _cases())
def test_no_principal_reads_or_writes_someone_elses_object(matrix: Matrix, route: Route) -> None:
    if len(route.kwargs) != 1 or route.kwargs[0] not in FAMILIES:
        pytest.fail(f"{route.name}: not in the matrix (test_every_object_route_is_in_the_matrix)")
    report = Report()
    drill(matrix, route, report)
    denied = [r for r in report.rows if r.expect == "denied"]
    assert denied, f"{route.name}: no principal was tried"
    broken = report.broken
    verdict = (
        f"BOLA {route.name}: {len(report.rows)} requests, {len(denied)} denials checked, "
        f"{len(broken)} broken"
    )
    print(verdict)
    record(
        "BOLA matrix",
        routes=1,
        requests=len(report.rows),
        denials_checked=len(denied),
        leaks=sum(r.verdict == "LEAK" for r in report.rows),
        writes=sum(r.verdict == "WROTE" for r in report.rows),
        broken=len(broken),
    )
    assert broken == [], f"{verdict}\n{report.table()}"


# --- collections: no list shows someone else's object ----------------------------------------


@dataclass(frozen=True)
class ListRule:
    """A collection GET: the victim objects it names (as ``kind:id`` tokens) and who must see
    them there (so that the check is not vacuous)."""

    tokens: Callable[[Any], set[str]]  # the response's JSON -> the objects it names
    query: str = ""
    must_see: frozenset[str] = NOBODY


#: token kind -> who may see such a victim object anywhere (the families' readers)
MAY_SEE = {
    "order": FAMILIES["order_id"].readers,
    "conversation": FAMILIES["conversation_id"].readers,
    "subscription": FAMILIES["subscription_id"].readers,
}

LIST_RULES: dict[str, ListRule] = {
    "orders": ListRule(
        lambda body: {f"order:{r['id']}" for r in body["results"]},
        must_see=PARTIES_A | IN_SCOPE_STAFF,
    ),
    "conversations": ListRule(
        lambda body: {f"conversation:{r['id']}" for r in body["results"]}
        | {f"order:{r['orderId']}" for r in body["results"]},
        must_see=PARTIES_A,  # where they are participants (staff: by id, not listed)
    ),
    "push-subscriptions": ListRule(
        lambda body: {f"subscription:{r['id']}" for r in body}, must_see=frozenset({BUYER_A})
    ),
    "realtime-catchup": ListRule(
        lambda body: {e["stream"] for e in body["events"]},
        query="?since=0",
        must_see=frozenset({BUYER_A, SELLER_A}),
    ),
}

#: collection GETs the matrix does not check here, and why
LIST_EXEMPT: dict[str, str] = {
    "schema": "the OpenAPI document: no object",
    "swagger-ui": "the API docs page: no object",
    "me": "the caller itself",
    "listings": "the public catalogue",
    "push-vapid-public-key": "public: the application server's key",
    "staff-anonymous-identities": "a country-scoped staff list: the ScopeGuard table test "
    "(tests/security/test_scope_guard.py) tries it in and out of scope",
    "^api/.*$": "the JSON 404 of unknown /api/ paths",
}


def collection_routes() -> list[Route]:
    return [route for route in api_routes() if not route.kwargs and "get" in route.methods]


def test_every_collection_route_is_checked_or_exempt() -> None:
    unknown = [
        f"{route.name} (/{route.pattern})"
        for route in collection_routes()
        if route.name not in LIST_RULES and route.name not in LIST_EXEMPT
    ]
    assert unknown == [], (
        "collection GETs neither checked (LIST_RULES) nor exempt with a reason (LIST_EXEMPT) "
        "in chaos/test_bola_matrix.py:\n  " + "\n  ".join(unknown)
    )


def test_no_list_shows_someone_elses_object(matrix: Matrix) -> None:
    order = matrix.order(OrderStatus.PAID)
    conversation = matrix.victim.active(order)
    matrix.victim.send(matrix.victim.p(matrix.victim.seller), conversation, "Sale mañana.")
    subscription = _subscription_of_buyer_a(matrix)
    victim = {
        f"order:{order.pk}": "order",
        f"conversation:{conversation.pk}": "conversation",
        f"subscription:{subscription}": "subscription",
    }
    report = Report()
    routes = {route.name: route for route in collection_routes()}
    for name, rule in LIST_RULES.items():
        if name not in routes:
            continue
        for who in PRINCIPALS:
            response = matrix.client(who).get("/" + routes[name].pattern + rule.query)
            row = Row(name, "GET", who, "list", response.status_code)
            if response.status_code >= 500:
                row.verdict = "WRONG STATUS"
            elif 200 <= response.status_code < 300:
                seen = rule.tokens(response.json()) & set(victim)
                leaked = sorted(t for t in seen if who not in MAY_SEE[victim[t]])
                if leaked:
                    row.verdict, row.detail = "LEAK", ", ".join(leaked)
                elif who in rule.must_see and not seen:
                    row.verdict, row.detail = "OWNER REFUSED", "the victim's object is missing"
            elif who in rule.must_see:
                row.verdict, row.detail = "OWNER REFUSED", _code(response)
            report.rows.append(row)
    broken = report.broken
    verdict = f"BOLA lists: {len(report.rows)} requests, {len(broken)} broken"
    print(verdict)
    record(
        "BOLA lists",
        requests=len(report.rows),
        leaks=sum(r.verdict == "LEAK" for r in report.rows),
        broken=len(broken),
    )
    assert broken == [], f"{verdict}\n{report.table()}"


def _subscription_of_buyer_a(m: Matrix) -> int:
    browser = Browser()
    return push_services.push_subscribe(
        actor=principal(m.victim.buyer),
        endpoint=f"https://fcm.googleapis.com/fcm/send/bola-{uuid.uuid4().hex}",
        p256dh=browser.p256dh,
        auth=browser.auth,
    ).pk
