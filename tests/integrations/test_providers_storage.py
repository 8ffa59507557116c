"""Storage through Django's storage API (filesystem here): what is put can be read back and
linked, a retried put is one object, a taken name or an escaping name is refused, and disk
trouble is worth a retry."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest

from integrations.providers.base import Call, PermanentProviderError, TransientProviderError
from integrations.providers.storage import DjangoStorage

CONTENT = b"evidence bundle v1\n"


@pytest.fixture
def root(settings: Any, tmp_path: Path) -> Path:
    location = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location), "base_url": "/media/"},
        },
    }
    settings.INTEGRATIONS_STORAGE_ALIAS = "default"
    return location


def call(operation: str, key: str = "k-1", **payload: Any) -> Call:
    return Call("storage", operation, payload, key, "AR", 5.0)


def put(name: str = "evidence/42/bundle.txt", content: bytes = CONTENT, key: str = "k-1") -> Call:
    return call(
        "storage.put",
        key,
        name=name,
        content_b64=base64.b64encode(content).decode(),
        content_type="text/plain",
    )


def test_put_writes_the_file_and_get_reads_it_back(root: Path) -> None:
    stored = DjangoStorage().execute(put())
    assert stored.provider_reference == "evidence/42/bundle.txt"
    assert (root / "evidence/42/bundle.txt").read_bytes() == CONTENT
    assert stored.data == {
        "size": len(CONTENT),
        "sha256": hashlib.sha256(CONTENT).hexdigest(),
        "url": "/media/evidence/42/bundle.txt",
    }
    got = DjangoStorage().execute(call("storage.get", "k-2", name="evidence/42/bundle.txt"))
    assert base64.b64decode(got.data["content_b64"]) == CONTENT
    url = DjangoStorage().execute(call("storage.url", "k-3", name="evidence/42/bundle.txt"))
    assert url.data == {"url": "/media/evidence/42/bundle.txt"}


def test_a_retried_put_is_one_object_written_once(root: Path) -> None:
    first = DjangoStorage().execute(put())
    written = root / "evidence/42/bundle.txt"
    before = written.stat().st_mtime_ns
    again = DjangoStorage().execute(put())
    assert first == again
    assert written.stat().st_mtime_ns == before
    assert [p.name for p in (root / "evidence/42").iterdir()] == ["bundle.txt"]


def test_other_content_under_a_taken_name_is_refused_not_renamed(root: Path) -> None:
    DjangoStorage().execute(put())
    with pytest.raises(PermanentProviderError) as exc:
        DjangoStorage().execute(put(content=b"something else", key="k-9"))
    assert exc.value.code == "STORAGE_NAME_TAKEN"
    assert (root / "evidence/42/bundle.txt").read_bytes() == CONTENT
    assert [p.name for p in (root / "evidence/42").iterdir()] == ["bundle.txt"]


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd-copy", "a/../../escape.txt"])
def test_a_name_outside_the_storage_root_is_refused(root: Path, name: str) -> None:
    with pytest.raises(PermanentProviderError) as exc:
        DjangoStorage().execute(put(name=name))
    assert exc.value.code == "STORAGE_INVALID_NAME"
    assert name not in str(exc.value)
    assert not (root.parent / "escape.txt").exists()


def test_a_missing_object_is_not_found(root: Path) -> None:
    with pytest.raises(PermanentProviderError) as exc:
        DjangoStorage().execute(call("storage.get", name="evidence/none.txt"))
    assert (exc.value.code, exc.value.status_code) == ("STORAGE_NOT_FOUND", 404)


def test_disk_trouble_is_transient(root: Path) -> None:
    root.parent.mkdir(parents=True, exist_ok=True)
    root.write_bytes(b"")  # the storage root is a file: every write fails with an OSError
    with pytest.raises(TransientProviderError) as exc:
        DjangoStorage().execute(put())
    assert exc.value.code == "STORAGE_UNAVAILABLE"
    assert str(root) not in str(exc.value)
