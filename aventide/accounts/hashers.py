"""The password hasher: Argon2id with deliberately chosen parameters.

Django's ``Argon2PasswordHasher`` defaults to memory 100 MiB, time 2, parallelism 8: about
266 ms per verification on our 2-core hosts (one login blocks a core for a quarter second and
8 lanes fight over 2 cores). We use the first configuration of the OWASP Password Storage Cheat
Sheet for Argon2id: **m = 19 MiB, t = 2, p = 1** (about 10x cheaper here, still far beyond
what GPUs crack cheaply). Logins are rare and throttled per IP and per account, so the budget
is per login, not per request (requests use JWTs).

The parameters are stored in each hash: existing hashes keep verifying, and Django upgrades a
user's hash to these parameters at their next successful login (``must_update``).
See docs/decisions/0011-argon2-parameters.md.
"""

from __future__ import annotations

from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idHasher(Argon2PasswordHasher):
    """Argon2id, m = 19 MiB (19456 KiB), t = 2, p = 1 (OWASP's first recommendation)."""

    time_cost = 2
    memory_cost = 19_456
    parallelism = 1
