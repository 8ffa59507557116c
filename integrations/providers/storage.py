"""Storage through Django's storage API (``storages[INTEGRATIONS_STORAGE_ALIAS]``, the
``default`` FileSystemStorage under ``MEDIA_ROOT`` unless configured otherwise; any Django
storage backend, e.g. S3 through django-storages, plugs in by ``STORAGES``).

``storage.put`` is idempotent by name: putting the same bytes under an existing name returns
the existing object without writing; different bytes under a taken name are refused
(``STORAGE_NAME_TAKEN``) rather than silently renamed. A name that escapes the storage root is
refused (``STORAGE_INVALID_NAME``); a missing object is ``STORAGE_NOT_FOUND``; I/O trouble
(disk, network to the bucket) is transient.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages

from integrations.providers.base import (
    Kind,
    PermanentProviderError,
    TransientProviderError,
)
from integrations.providers.kinds import (
    CallContext,
    KindAdapter,
    StorageBlob,
    StorageNameRequest,
    StoragePutRequest,
    StorageUrl,
    StoredObject,
)


def _invalid_name() -> PermanentProviderError:
    return PermanentProviderError("storage: invalid object name", code="STORAGE_INVALID_NAME")


def _io_error(exc: OSError) -> TransientProviderError:
    return TransientProviderError(f"storage: {exc.__class__.__name__}", code="STORAGE_UNAVAILABLE")


class DjangoStorage(KindAdapter):
    name = "django_storage"
    kind = Kind.STORAGE.value

    def _storage(self) -> Storage:
        return storages[getattr(settings, "INTEGRATIONS_STORAGE_ALIAS", "default")]

    def _read(self, storage: Storage, name: str) -> bytes:
        with storage.open(name, "rb") as handle:
            data = handle.read()
        return data if isinstance(data, bytes) else data.encode()

    def _url(self, storage: Storage, name: str) -> str:
        try:
            return storage.url(name)
        except (NotImplementedError, ValueError):
            return ""

    def put(self, request: StoragePutRequest, ctx: CallContext) -> StoredObject:
        storage = self._storage()
        digest = hashlib.sha256(request.content).hexdigest()
        try:
            if storage.exists(request.name):
                if hashlib.sha256(self._read(storage, request.name)).hexdigest() != digest:
                    raise PermanentProviderError(
                        "storage: name already holds other content", code="STORAGE_NAME_TAKEN"
                    )
                name = request.name
            else:
                name = storage.save(request.name, ContentFile(request.content))
        except SuspiciousFileOperation:
            raise _invalid_name() from None
        except OSError as exc:
            raise _io_error(exc) from None
        return StoredObject(
            provider_reference=name,
            size=len(request.content),
            sha256=digest,
            url=self._url(storage, name),
        )

    def get(self, request: StorageNameRequest, ctx: CallContext) -> StorageBlob:
        storage = self._storage()
        try:
            if not storage.exists(request.name):
                raise PermanentProviderError(
                    "storage: no such object", status_code=404, code="STORAGE_NOT_FOUND"
                )
            return StorageBlob(request.name, self._read(storage, request.name))
        except SuspiciousFileOperation:
            raise _invalid_name() from None
        except OSError as exc:
            raise _io_error(exc) from None

    def url(self, request: StorageNameRequest, ctx: CallContext) -> StorageUrl:
        storage = self._storage()
        try:
            return StorageUrl(request.name, self._url(storage, request.name))
        except SuspiciousFileOperation:
            raise _invalid_name() from None
