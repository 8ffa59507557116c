"""Check-digit helpers for the moderation corpus (``moderation_corpus.jsonl``).

Reviewers use them to confirm that the account numbers, tax ids and cards written into bypass
lines are *valid* ones (a detector that checks the digits must still catch them) and to mint new
ones when adding lines::

    .venv/bin/python -m tests.messaging.corpus_tools          # prints a fresh sample of each
    .venv/bin/python -c "from tests.messaging.corpus_tools import cpf_ok; print(cpf_ok('...'))"

Nothing here is used by the moderation engine: the corpus is written independently of it.
"""

from __future__ import annotations

import hashlib
import random
import re
import uuid

_DIGITS = re.compile(r"\D")


def only_digits(text: str) -> str:
    return _DIGITS.sub("", text)


# --- Luhn (card numbers) -------------------------------------------------------------------


def luhn_ok(number: str) -> bool:
    digits = [int(d) for d in only_digits(number)]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return len(digits) >= 12 and total % 10 == 0


def luhn_complete(prefix: str) -> str:
    for last in "0123456789":
        if luhn_ok(prefix + last):
            return prefix + last
    raise AssertionError("unreachable")


# --- Argentina: CBU / CVU (22 digits, two check digits) -------------------------------------


def _cbu_check(block: str, weights: tuple[int, ...]) -> str:
    total = sum(int(d) * w for d, w in zip(block, weights, strict=True))
    return str((10 - total % 10) % 10)


def cbu_ok(number: str) -> bool:
    d = only_digits(number)
    if len(d) != 22:
        return False
    first_ok = _cbu_check(d[:7], (7, 1, 3, 9, 7, 1, 3)) == d[7]
    second_ok = _cbu_check(d[8:21], (3, 9, 7, 1, 3, 9, 7, 1, 3, 9, 7, 1, 3)) == d[21]
    return first_ok and second_ok


def cbu_make(bank_branch: str, account: str) -> str:
    """``bank_branch``: 7 digits (bank 3 + branch 4; ``0000003`` for CVUs); ``account``: 13."""
    first = bank_branch + _cbu_check(bank_branch, (7, 1, 3, 9, 7, 1, 3))
    second = account + _cbu_check(account, (3, 9, 7, 1, 3, 9, 7, 1, 3, 9, 7, 1, 3))
    return first + second


# --- Mexico: CLABE (18 digits, weights 3 7 1) -----------------------------------------------


def clabe_ok(number: str) -> bool:
    d = only_digits(number)
    return len(d) == 18 and clabe_make(d[:17]) == d


def clabe_make(first17: str) -> str:
    weights = (3, 7, 1) * 6
    total = sum((int(c) * w) % 10 for c, w in zip(first17, weights, strict=False))
    return first17 + str((10 - total % 10) % 10)


# --- Brazil: CPF / CNPJ ---------------------------------------------------------------------


def _mod11_digit(digits: str, weights: list[int]) -> str:
    rest = sum(int(c) * w for c, w in zip(digits, weights, strict=True)) % 11
    return "0" if rest < 2 else str(11 - rest)


def cpf_make(first9: str) -> str:
    d1 = _mod11_digit(first9, list(range(10, 1, -1)))
    d2 = _mod11_digit(first9 + d1, list(range(11, 1, -1)))
    return first9 + d1 + d2


def cpf_ok(number: str) -> bool:
    d = only_digits(number)
    return len(d) == 11 and len(set(d)) > 1 and cpf_make(d[:9]) == d


_CNPJ_W1 = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
_CNPJ_W2 = [6, *_CNPJ_W1]


def cnpj_make(first12: str) -> str:
    d1 = _mod11_digit(first12, _CNPJ_W1)
    d2 = _mod11_digit(first12 + d1, _CNPJ_W2)
    return first12 + d1 + d2


def cnpj_ok(number: str) -> bool:
    d = only_digits(number)
    return len(d) == 14 and len(set(d)) > 1 and cnpj_make(d[:12]) == d


# --- IBAN (ISO 13616, mod 97) ---------------------------------------------------------------


def _iban_numeric(rearranged: str) -> int:
    return int("".join(str(int(ch, 36)) for ch in rearranged))


def iban_ok(iban: str) -> bool:
    s = re.sub(r"\s", "", iban).upper()
    return len(s) >= 15 and _iban_numeric(s[4:] + s[:4]) % 97 == 1


def iban_make(country: str, bban: str) -> str:
    check = 98 - _iban_numeric(bban + country + "00") % 97
    return f"{country}{check:02d}{bban}"


# --- Crypto addresses -----------------------------------------------------------------------

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58check(payload: bytes) -> str:
    raw = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    n = int.from_bytes(raw, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    pad = len(raw) - len(raw.lstrip(b"\0"))
    return "1" * pad + out


def base58check_ok(address: str) -> bool:
    n = 0
    for ch in address:
        if ch not in _B58:
            return False
        n = n * 58 + _B58.index(ch)
    pad = len(address) - len(address.lstrip("1"))
    raw = b"\0" * pad + n.to_bytes((n.bit_length() + 7) // 8, "big")
    payload, check = raw[:-4], raw[-4:]
    return hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] == check


_BECH = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _bech32_polymod(values: list[int]) -> int:
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if ((top >> i) & 1) else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]


def bech32_segwit_v0(program: bytes, hrp: str = "bc") -> str:
    acc, bits, data = 0, 0, [0]
    for b in program:
        acc = (acc << 8) | b
        bits += 8
        while bits >= 5:
            bits -= 5
            data.append((acc >> bits) & 31)
    if bits:
        data.append((acc << (5 - bits)) & 31)
    poly = _bech32_polymod([*_hrp_expand(hrp), *data, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(poly >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH[d] for d in data + checksum)


def bech32_ok(address: str) -> bool:
    hrp, _, rest = address.lower().rpartition("1")
    if not hrp or any(c not in _BECH for c in rest):
        return False
    return _bech32_polymod([*_hrp_expand(hrp), *(_BECH.index(c) for c in rest)]) == 1


def sample(seed: int = 13) -> dict[str, str]:
    rnd = random.Random(seed)

    def digits(n: int) -> str:
        return "".join(rnd.choice("0123456789") for _ in range(n))

    return {
        "cbu": cbu_make("0170" + digits(3), digits(13)),
        "cvu": cbu_make("0000003", digits(13)),
        "clabe": clabe_make("012180" + digits(11)),
        "cpf": cpf_make(digits(9)),
        "cnpj": cnpj_make(digits(8) + "0001"),
        "iban_es": iban_make("ES", "2100" + digits(16)),
        "visa": luhn_complete("4" + digits(14)),
        "master": luhn_complete("5" + rnd.choice("12345") + digits(13)),
        "btc": bech32_segwit_v0(bytes(rnd.getrandbits(8) for _ in range(20))),
        "btc_legacy": base58check(b"\x00" + bytes(rnd.getrandbits(8) for _ in range(20))),
        "tron": base58check(b"\x41" + bytes(rnd.getrandbits(8) for _ in range(20))),
        "eth": "0x" + bytes(rnd.getrandbits(8) for _ in range(20)).hex(),
        "pix_uuid": str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
    }


if __name__ == "__main__":  # pragma: no cover - a reviewer's convenience
    for seed in range(3):
        for name, value in sample(seed).items():
            print(f"{name:10} {value}")
        print()
