"""The OpenAPI schema validates and Swagger UI is served locally (no CDN)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command


def test_schema_validates_without_warnings(tmp_path: Path) -> None:
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    error = schema["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "code", "message", "requestId"}


def test_every_operation_documents_the_error_schema(client) -> None:
    schema = yaml.safe_load(client.get("/api/schema/").content)
    for item in schema["paths"].values():
        for operation in item.values():
            for status in ("400", "401", "403", "404", "429", "500"):
                ref = operation["responses"][status]["content"]["application/json"]["schema"]
                assert ref == {"$ref": "#/components/schemas/Error"}


@pytest.mark.django_db
def test_swagger_ui_uses_no_external_url(client) -> None:
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    external = re.findall(r"""(?:src|href)=["'](https?:)?//""", html)
    assert external == [], "Swagger UI must not load anything from a CDN"
    assets = re.findall(r"""(?:src|href)=["'](/static/[^"']+)["']""", html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
