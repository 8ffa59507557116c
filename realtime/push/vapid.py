"""VAPID key pairs (RFC 8292) on ``py_vapid``: generate one for ``.env``, check a pair.

Keys in the usual Web Push form: the public key is the base64url (no padding) of the
65-byte uncompressed P-256 point (the browser's ``applicationServerKey``), the private key the
base64url of the raw 32-byte secret (a PEM private key is accepted too).
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid02
from py_vapid.jwt import decode

CHECK_AUDIENCE = "https://push.example.invalid"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_key_of(vapid: Vapid02) -> str:
    point = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return _b64url(point)


def generate_pair() -> tuple[str, str]:
    """A new (public, private) pair, both base64url."""
    vapid = Vapid02()
    vapid.generate_keys()
    secret = vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
    return public_key_of(vapid), _b64url(secret)


def load_private(private_key: str) -> Vapid02:
    text = private_key.strip()
    if text.startswith("-----BEGIN"):
        return Vapid02.from_pem(text.replace("\\n", "\n").encode())
    return Vapid02.from_string("".join(text.split()))


@dataclass(frozen=True)
class PairCheck:
    ok: bool
    problem: str = ""  # names what is wrong, never a key


def check_pair(*, public_key: str, private_key: str, subject: str) -> PairCheck:
    """Sign a test JWT with the private key and verify it with the configured public key
    (the one browsers hold): a rotated private key without its public key fails here."""
    if not public_key or not private_key or not subject:
        return PairCheck(False, "VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT are needed")
    try:
        signer = load_private(private_key)
    except Exception:  # noqa: BLE001 -- any parse failure: unusable key
        return PairCheck(False, "VAPID_PRIVATE_KEY is not a P-256 private key")
    claims = {"aud": CHECK_AUDIENCE, "sub": subject, "exp": int(time.time()) + 600}
    try:
        header = signer.sign(claims)["Authorization"]
    except Exception:  # noqa: BLE001 -- py_vapid refuses the subject
        return PairCheck(False, "VAPID_SUBJECT is refused (mailto: or https://)")
    token = header.split("t=", 1)[1].split(",", 1)[0]
    try:
        verified = decode(token, public_key.strip())
    except Exception:  # noqa: BLE001 -- InvalidSignature or a malformed public key
        return PairCheck(False, "VAPID_PUBLIC_KEY does not verify VAPID_PRIVATE_KEY's signature")
    if verified.get("sub") != subject or verified.get("aud") != CHECK_AUDIENCE:
        return PairCheck(False, "the signed claims did not round-trip")
    if public_key_of(signer) != public_key.strip().rstrip("="):
        return PairCheck(False, "VAPID_PUBLIC_KEY is not the private key's public key")
    return PairCheck(True)
