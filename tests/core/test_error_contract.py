"""Every failure under /api/ answers {error, code, message, requestId} + X-Request-ID."""

from __future__ import annotations

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

pytestmark = pytest.mark.urls("tests.core.urls_contract")

SHAPE = {"error", "code", "message", "requestId"}


def assert_contract(response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert SHAPE <= set(body) <= SHAPE | {"details"}
    assert body["code"] == code
    assert body["requestId"]
    assert body["requestId"] == response["X-Request-ID"]
    return body


def test_unknown_api_path_answers_not_found(api_client: APIClient) -> None:
    body = assert_contract(api_client.get("/api/does-not-exist"), 404, "NOT_FOUND")
    assert body["error"] == "not_found"


@override_settings(DEBUG=True)
def test_unknown_api_path_is_json_even_with_debug(api_client: APIClient) -> None:
    assert_contract(api_client.get("/api/nothing/here"), 404, "NOT_FOUND")


def test_wrong_method_answers_method_not_allowed(api_client: APIClient) -> None:
    assert_contract(api_client.delete("/api/_test/domain"), 405, "METHOD_NOT_ALLOWED")


def test_wrong_method_on_schema_view_answers_contract(api_client: APIClient) -> None:
    response = api_client.post("/api/schema/", {})
    assert_contract(response, 405, "METHOD_NOT_ALLOWED")


def test_domain_error_answers_its_code_and_status(api_client: APIClient) -> None:
    body = assert_contract(api_client.get("/api/_test/domain"), 409, "ORDER_STATE_CONFLICT")
    assert body["error"] == "conflict"
    assert body["message"] == "The order changed meanwhile."


def test_validation_error_lists_fields_in_camel_case(api_client: APIClient) -> None:
    response = api_client.post(
        "/api/_test/echo", {"clientMessageId": "nope", "body": "x" * 20}, format="json"
    )
    body = assert_contract(response, 400, "VALIDATION_ERROR")
    assert set(body["details"]) == {"clientMessageId", "body"}


def test_malformed_json_is_a_validation_error(api_client: APIClient) -> None:
    response = api_client.generic(
        "POST", "/api/_test/echo", "{not json", content_type="application/json"
    )
    assert_contract(response, 400, "VALIDATION_ERROR")


def test_unhandled_exception_answers_internal_error_without_details(
    api_client: APIClient, json_logs
) -> None:
    response = api_client.get("/api/_test/crash")
    body = assert_contract(response, 500, "INTERNAL_ERROR")
    assert "hunter2" not in response.content.decode()
    assert "RuntimeError" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    logged = json_logs.events("UNHANDLED_EXCEPTION")
    assert logged and logged[0]["requestId"] == body["requestId"]
    assert "maria.lopez@example.com" not in json_logs.text


def test_unhandled_exception_in_plain_view_answers_contract(api_client: APIClient) -> None:
    response = api_client.get("/api/_test/plain-crash")
    assert_contract(response, 500, "INTERNAL_ERROR")
    assert "secret-text" not in response.content.decode()


@override_settings(DEBUG=True)
def test_unhandled_exception_with_debug_still_hides_the_trace(api_client: APIClient) -> None:
    response = api_client.get("/api/_test/plain-crash")
    assert_contract(response, 500, "INTERNAL_ERROR")
    assert "secret-text" not in response.content.decode()


def test_middleware_failure_answers_contract(api_client: APIClient, settings) -> None:
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "tests.core.urls_contract.FailingMiddleware"]
    response = api_client.get("/api/_test/plain-ok", HTTP_X_BREAK="1")
    assert_contract(response, 500, "INTERNAL_ERROR")
    assert api_client.get("/api/_test/plain-ok").status_code == 200


def test_throttled_call_answers_rate_limited_with_retry_after(api_client: APIClient) -> None:
    assert api_client.get("/api/_test/throttled").status_code == 200
    response = api_client.get("/api/_test/throttled")
    assert_contract(response, 429, "RATE_LIMITED")
    assert int(response["Retry-After"]) >= 1


def test_missing_credentials_answer_auth_required(api_client: APIClient) -> None:
    assert_contract(api_client.get("/api/_test/private"), 401, "AUTH_REQUIRED")


def test_client_request_id_is_echoed(api_client: APIClient) -> None:
    response = api_client.get("/api/_test/domain", HTTP_X_REQUEST_ID="web-1234.abc_Z")
    body = assert_contract(response, 409, "ORDER_STATE_CONFLICT")
    assert body["requestId"] == "web-1234.abc_Z"


@pytest.mark.parametrize(
    "malicious",
    ["a\nb", "x" * 200, "a b", "<script>", "id;rm", ""],
    ids=["newline", "200-chars", "space", "html", "semicolon", "empty"],
)
def test_malicious_request_id_is_replaced(api_client: APIClient, malicious: str) -> None:
    response = api_client.get("/api/_test/domain", HTTP_X_REQUEST_ID=malicious)
    body = assert_contract(response, 409, "ORDER_STATE_CONFLICT")
    assert body["requestId"] != malicious
    assert len(body["requestId"]) <= 64
    assert body["requestId"].isalnum()


def test_request_id_is_on_successful_responses_too(api_client: APIClient) -> None:
    response = api_client.get("/api/_test/plain-ok", HTTP_X_REQUEST_ID="ok-1")
    assert response.status_code == 200
    assert response["X-Request-ID"] == "ok-1"


@pytest.mark.django_db
def test_admin_keeps_html_pages(client) -> None:
    response = client.get("/admin/does-not-exist/")
    assert response["Content-Type"].startswith("text/html")
    assert response["X-Request-ID"]


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/_test/plain-404", 404, "NOT_FOUND"),
        ("/api/_test/plain-403", 403, "FORBIDDEN"),
        ("/api/_test/plain-domain", 409, "ORDER_STATE_CONFLICT"),
        ("/api/_test/plain-own-json", 400, "VALIDATION_ERROR"),
    ],
    ids=["http404", "permission-denied", "domain-error", "own-json-without-contract"],
)
def test_plain_django_views_answer_the_contract_with_the_right_status(
    api_client: APIClient, json_logs, path: str, status: int, code: str
) -> None:
    response = api_client.get(path)
    assert_contract(response, status, code)
    assert "maria@example.com" not in response.content.decode()
    assert json_logs.events("UNHANDLED_EXCEPTION") == []


def test_any_429_carries_retry_after(api_client: APIClient) -> None:
    response = api_client.get("/api/_test/plain-429")
    assert_contract(response, 429, "RATE_LIMITED")
    assert response["Retry-After"] == "1"
