"""Static files (admin, Swagger UI assets) served beside Django, not through its middleware.

WhiteNoise 6 is WSGI/Django-middleware only; as a middleware it sat in every request's chain
(and, being sync-only, split the ASGI chain into thread hops). Here its file table and
response logic (compressed variants, ETag/304, ranges, immutable caching of the manifest's
hashed names, finders outside production) are reused by two thin front ends:

- ``StaticFilesApp``: an ASGI app mounted in ``aventide.asgi`` in front of Django. A request
  under ``STATIC_URL`` that names a file is answered here; every other request goes to Django
  untouched (one ``str.startswith`` is all it costs).
- ``serve_static``: a plain Django view on the same prefix (``static_urlpatterns``), for the
  paths that do not go through ``aventide.asgi``: the WSGI entry point and the test client.

docs/decisions/0009-asgi-path.md records the choice.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, re_path

from aventide.core import context

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]  # (scope, receive, send); Django types scope as dict

CHUNK_SIZE = 64 * 1024


class StaticFiles:
    """The static file table (WhiteNoise's), built once per process from the settings."""

    def __init__(self) -> None:
        from whitenoise.middleware import WhiteNoiseMiddleware

        self._whitenoise = WhiteNoiseMiddleware(get_response=None)
        self.prefix: str = self._whitenoise.static_prefix

    def lookup(self, path: str) -> Any:
        """The WhiteNoise ``StaticFile`` for a URL path, or None."""
        if not path.startswith(self.prefix):
            return None
        if self._whitenoise.autorefresh:  # development: look on disk on every request
            return self._whitenoise.find_file(path)
        return self._whitenoise.files.get(path)

    def django_response(self, static_file: Any, request: HttpRequest) -> HttpResponse:
        response: HttpResponse = self._whitenoise.serve(static_file, request)
        return response


_static_files: StaticFiles | None = None
_static_files_lock = threading.Lock()


def static_files() -> StaticFiles:
    """This process's table (built on first use: it scans STATIC_ROOT or the finders)."""
    global _static_files
    if _static_files is None:
        with _static_files_lock:
            if _static_files is None:
                _static_files = StaticFiles()
    return _static_files


def _security_headers() -> list[tuple[bytes, bytes]]:
    """What Django's SecurityMiddleware would add to a file response (it is not in this path)."""
    headers = []
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append((b"x-content-type-options", b"nosniff"))
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        value = policy if isinstance(policy, str) else ",".join(policy)
        headers.append((b"referrer-policy", value.encode("latin-1")))
    return headers


class StaticFilesApp:
    """ASGI: answer ``STATIC_URL`` files here, hand everything else to ``app`` as is."""

    def __init__(self, app: ASGIApp, files: StaticFiles | None = None) -> None:
        self.app = app
        self.files = files or static_files()
        self.prefix = self.files.prefix
        self._extra_headers = _security_headers()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            static_file = self.files.lookup(scope["path"])
            if static_file is not None:
                await self._serve(static_file, scope, send)
                return
        await self.app(scope, receive, send)

    async def _serve(self, static_file: Any, scope: Scope, send: Send) -> None:
        request_headers = {
            "HTTP_" + name.decode("latin-1").upper().replace("-", "_"): value.decode("latin-1")
            for name, value in scope.get("headers", [])
        }
        response = static_file.get_response(scope["method"], request_headers)
        request_id = (
            context.sanitize_request_id(request_headers.get("HTTP_X_REQUEST_ID"))
            or context.new_request_id()
        )
        headers = [
            (name.lower().encode("latin-1"), str(value).encode("latin-1"))
            for name, value in response.headers
        ]
        headers += [*self._extra_headers, (b"x-request-id", request_id.encode("latin-1"))]
        await send(
            {"type": "http.response.start", "status": int(response.status), "headers": headers}
        )
        file = response.file
        if file is None:
            await send({"type": "http.response.body", "body": b""})
            return
        loop = asyncio.get_running_loop()
        try:
            while True:
                # Disk reads off the event loop (the loop's default executor, not the sync
                # request threads); static requests are rare next to API ones.
                chunk = await loop.run_in_executor(None, file.read, CHUNK_SIZE)
                more = len(chunk) == CHUNK_SIZE
                await send({"type": "http.response.body", "body": chunk, "more_body": more})
                if not more:
                    break
        finally:
            file.close()


def serve_static(request: HttpRequest, path: str = "") -> HttpResponse:
    """The same files through Django (WSGI entry point, test client): 404 when unknown."""
    files = static_files()
    static_file = files.lookup(request.path_info)
    if static_file is None:
        raise Http404("No such static file.")
    return files.django_response(static_file, request)


def static_prefix() -> str:
    """``STATIC_URL``'s path with leading and trailing slashes (``/static/``)."""
    return "/" + urlparse(settings.STATIC_URL or "").path.strip("/") + "/"


def static_urlpatterns() -> list[URLPattern]:
    """The URL pattern of ``serve_static`` under ``STATIC_URL`` (a local path prefix)."""
    prefix = re.escape(static_prefix().lstrip("/"))
    return [re_path(rf"^{prefix}(?P<path>.+)$", serve_static, name="static-file")]
