"""Static files (admin, Swagger UI) are served in front of Django, in development and production.

Development/test: straight from the apps (finders), no collectstatic. Production: from
``collectstatic``'s output with the compressed manifest storage (hashed names cached forever,
gzip variants). In both, a static request never enters Django and an API request never looks
at the static table beyond a prefix check.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import override_settings

from aventide.core.staticfiles import StaticFiles, StaticFilesApp

BUNDLE = "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"


class Downstream:
    """Stands for Django behind the static app: records what reaches it."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.paths.append(scope["path"])
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"django"})


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_dev_static_file_is_served_without_reaching_django() -> None:
    downstream = Downstream()
    app = StaticFilesApp(downstream, StaticFiles())
    on_disk = Path(str(finders.find(BUNDLE))).read_bytes()

    async with client_for(app) as client:
        response = await client.get(f"/static/{BUNDLE}", headers={"X-Request-ID": "static-1"})
        head = await client.head(f"/static/{BUNDLE}")
        again = await client.get(
            f"/static/{BUNDLE}", headers={"If-None-Match": response.headers["etag"]}
        )

    assert response.status_code == 200
    assert response.content == on_disk, "streamed in chunks, all of it"
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-request-id"] == "static-1"
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(on_disk)
    assert again.status_code == 304
    assert downstream.paths == [], "no static request entered Django"


async def test_everything_else_goes_to_django_untouched() -> None:
    downstream = Downstream()
    app = StaticFilesApp(downstream, StaticFiles())
    async with client_for(app) as client:
        api = await client.get("/api/auth/me")
        missing = await client.get("/static/no/such/file.css")
        outside = await client.get("/staticky/admin/css/base.css")
    assert [r.status_code for r in (api, missing, outside)] == [299, 299, 299]
    assert downstream.paths == [
        "/api/auth/me",
        "/static/no/such/file.css",
        "/staticky/admin/css/base.css",
    ]


def test_the_django_view_serves_the_same_files_for_wsgi_and_the_test_client(client) -> None:
    response = client.get("/static/admin/css/base.css")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"/*")
    assert client.get("/static/admin/css/no-such.css").status_code == 404


@pytest.mark.slow
@pytest.mark.django_db
async def test_production_collectstatic_manifest_is_served_compressed_and_immutable(
    tmp_path: Path,
) -> None:
    """collectstatic + CompressedManifestStaticFilesStorage, as a deploy runs it."""
    production = override_settings(
        STATIC_ROOT=tmp_path,
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
        },
        WHITENOISE_USE_FINDERS=False,
        WHITENOISE_AUTOREFRESH=False,
        DEBUG=False,
    )
    with production:
        from asgiref.sync import sync_to_async
        from django.contrib.staticfiles.storage import staticfiles_storage

        await sync_to_async(call_command)("collectstatic", "--noinput", "-v0")
        hashed = staticfiles_storage.url(BUNDLE)
        assert re.search(r"swagger-ui-bundle\.[0-9a-f]{12}\.js$", hashed), hashed

        from aventide.asgi import django_asgi_app

        app = StaticFilesApp(django_asgi_app, StaticFiles())
        async with client_for(app) as client:
            plain = await client.get(hashed, headers={"Accept-Encoding": "identity"})
            zipped = await client.get(hashed, headers={"Accept-Encoding": "gzip"})
            docs = await client.get("/api/docs/")
            assets = re.findall(r"""(?:src|href)=["'](/static/[^"']+)["']""", docs.text)
            served = [(a, (await client.get(a)).status_code) for a in assets]

    assert plain.status_code == 200
    assert "immutable" in plain.headers["cache-control"]
    assert plain.headers["cache-control"].startswith("max-age=315360000")
    assert zipped.status_code == 200
    assert zipped.headers["content-encoding"] == "gzip"
    # httpx undoes the gzip: same bytes as the collected file
    assert (
        zipped.content == plain.content == (tmp_path / hashed.removeprefix("/static/")).read_bytes()
    )
    assert gzip.decompress((tmp_path / (hashed.removeprefix("/static/") + ".gz")).read_bytes())
    assert docs.status_code == 200
    assert any(re.search(r"swagger-ui-bundle\.[0-9a-f]{12}\.js$", a) for a, _ in served), assets
    assert all(status == 200 for _, status in served), served
