"""Check-digit validators for payment identifiers (pure functions over digit strings)."""

from __future__ import annotations

import hashlib

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}


def luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def card_number(digits: str) -> bool:
    """13-19 digits, a known issuer prefix (Visa, Mastercard, Amex, Discover, Diners, JCB,
    Elo/Hipercard share these ranges) and Luhn."""
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    two, four = int(digits[:2]), int(digits[:4])
    known = (
        digits[0] == "4"
        or 51 <= two <= 55
        or 2221 <= four <= 2720
        or two in (34, 37, 36, 38, 35, 60, 62, 64, 65)
        or digits[:3] in ("506", "509", "636", "650")
    )
    return known and luhn(digits)


def iban(value: str) -> bool:
    """ISO 13616 mod-97 over an upper-case IBAN without spaces."""
    if not 15 <= len(value) <= 34 or not value[:2].isalpha() or not value[2:4].isdigit():
        return False
    moved = value[4:] + value[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


def cbu(digits: str) -> bool:
    """Argentine CBU/CVU: 22 digits, two blocks with their check digits."""
    if len(digits) != 22 or len(set(digits)) == 1:
        return False
    block1, block2 = digits[:8], digits[8:]
    w1 = (7, 1, 3, 9, 7, 1, 3)
    s1 = sum(int(d) * w for d, w in zip(block1[:7], w1, strict=True))
    if (10 - s1 % 10) % 10 != int(block1[7]):
        return False
    w2 = (3, 9, 7, 1, 3, 9, 7, 1, 3, 9, 7, 1, 3)
    s2 = sum(int(d) * w for d, w in zip(block2[:13], w2, strict=True))
    return (10 - s2 % 10) % 10 == int(block2[13])


def clabe(digits: str) -> bool:
    """Mexican CLABE: 18 digits, weights 3-7-1, the last digit checks the rest."""
    if len(digits) != 18 or len(set(digits)) == 1:
        return False
    weights = (3, 7, 1) * 6
    total = sum((int(d) * w) % 10 for d, w in zip(digits[:17], weights, strict=False))
    return (10 - total % 10) % 10 == int(digits[17])


def cpf(digits: str) -> bool:
    if len(digits) != 11 or len(set(digits)) == 1:
        return False
    nums = [int(d) for d in digits]
    for size in (9, 10):
        total = sum(n * w for n, w in zip(nums[:size], range(size + 1, 1, -1), strict=True))
        check = (total * 10) % 11 % 10
        if check != nums[size]:
            return False
    return True


def cnpj(digits: str) -> bool:
    if len(digits) != 14 or len(set(digits)) == 1:
        return False
    nums = [int(d) for d in digits]
    for size, weights in ((12, (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)),
                          (13, (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2))):  # fmt: skip
        total = sum(n * w for n, w in zip(nums[:size], weights, strict=True))
        rest = total % 11
        if (0 if rest < 2 else 11 - rest) != nums[size]:
            return False
    return True


def base58check(value: str) -> bool:
    """Legacy BTC (1..., 3...) and TRON/USDT-TRC20 (T...) addresses: base58 with a 4-byte
    double-SHA256 checksum, 25 bytes decoded."""
    number = 0
    for char in value:
        index = _B58_INDEX.get(char)
        if index is None:
            return False
        number = number * 58 + index
    try:
        raw = number.to_bytes(25, "big")
    except OverflowError:
        return False
    body, checksum = raw[:-4], raw[-4:]
    return hashlib.sha256(hashlib.sha256(body).digest()).digest()[:4] == checksum


_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def bech32(value: str) -> bool:
    """Segwit ``bc1...`` addresses: bech32 or bech32m checksum."""
    value = value.lower()
    pos = value.rfind("1")
    if pos < 1 or pos + 7 > len(value) or len(value) > 90:
        return False
    hrp, data_part = value[:pos], value[pos + 1 :]
    data: list[int] = []
    for char in data_part:
        index = _BECH32.find(char)
        if index < 0:
            return False
        data.append(index)
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp] + data:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= generator[i] if ((top >> i) & 1) else 0
    return chk in (1, 0x2BC830A3)
