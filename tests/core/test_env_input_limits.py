"""The input-limit and trusted-proxy variables are validated at start and documented."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aventide.core.body_limit import max_body_bytes_for
from aventide.core.env import check_env, parse_prefix_limits, parse_trusted_proxies

ROOT = Path(__file__).resolve().parents[2]
NEW_VARIABLES = (
    "API_MAX_BODY_BYTES",
    "API_MAX_BODY_BYTES_BY_PREFIX",
    "API_JSON_MAX_DEPTH",
    "TRUSTED_PROXIES",
)


def problems(**env: str) -> dict[str, str]:
    report = check_env({"AVENTIDE_ENV": "development", **env})
    return {p.variable: p.hint for p in report.problems}


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("API_MAX_BODY_BYTES", "0"),
        ("API_MAX_BODY_BYTES", "1MB"),
        ("API_JSON_MAX_DEPTH", "0"),
        ("API_JSON_MAX_DEPTH", "-3"),
        ("API_MAX_BODY_BYTES_BY_PREFIX", "api/uploads=10"),  # no leading slash
        ("API_MAX_BODY_BYTES_BY_PREFIX", "/api/uploads/=ten"),
        ("API_MAX_BODY_BYTES_BY_PREFIX", "/a/=10,/a/=20"),  # the same prefix twice
        ("TRUSTED_PROXIES", "proxy.internal"),
        ("TRUSTED_PROXIES", "10.0.0.0/33"),
        ("NUM_PROXIES", "1"),
    ],
)
def test_bad_values_are_named_without_their_value(variable: str, value: str) -> None:
    found = problems(**{variable: value})
    assert list(found) == [variable]
    assert value not in found[variable]


def test_num_proxies_points_to_trusted_proxies() -> None:
    assert "TRUSTED_PROXIES" in problems(NUM_PROXIES="2")["NUM_PROXIES"]
    assert problems(NUM_PROXIES="0") == {}


def test_good_values_pass() -> None:
    assert (
        problems(
            API_MAX_BODY_BYTES="2097152",
            API_JSON_MAX_DEPTH="16",
            API_MAX_BODY_BYTES_BY_PREFIX="/api/uploads/=10485760, /api/x/=1024",
            TRUSTED_PROXIES="10.0.0.5, 10.1.0.0/16, ::1",
        )
        == {}
    )


def test_parsers() -> None:
    assert parse_prefix_limits("") == {}
    assert parse_prefix_limits("/api/uploads/=10,/api/=5") == {"/api/uploads/": 10, "/api/": 5}
    assert parse_trusted_proxies("") == []
    assert parse_trusted_proxies(" 10.0.0.5 ,10.1.0.0/16") == ["10.0.0.5", "10.1.0.0/16"]
    assert parse_trusted_proxies("*") == ["*"]


def test_the_longest_matching_prefix_sets_the_limit(settings) -> None:
    settings.API_MAX_BODY_BYTES = 100
    settings.API_MAX_BODY_BYTES_BY_PREFIX = {"/api/": 200, "/api/uploads/": 300}
    assert max_body_bytes_for("/healthz") == 100
    assert max_body_bytes_for("/api/orders") == 200
    assert max_body_bytes_for("/api/uploads/photo") == 300


def test_defaults_are_the_documented_ones() -> None:
    from aventide import settings as project_settings

    defaults = {"API_MAX_BODY_BYTES": 1024 * 1024, "API_JSON_MAX_DEPTH": 32, "TRUSTED_PROXIES": []}
    for name, value in defaults.items():
        if name not in os.environ:
            assert getattr(project_settings, name) == value
    assert project_settings.DATA_UPLOAD_MAX_MEMORY_SIZE == project_settings.API_MAX_BODY_BYTES
    assert project_settings.REST_FRAMEWORK["NUM_PROXIES"] == 0


@pytest.mark.parametrize("document", [".env.example", "docs/operations/configuration.md"])
def test_every_new_variable_is_documented(document: str) -> None:
    text = (ROOT / document).read_text()
    for name in NEW_VARIABLES:
        assert name in text, f"{name} missing from {document}"
