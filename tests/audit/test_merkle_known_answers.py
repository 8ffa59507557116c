"""Known-answer tests of the seal's Merkle tree, independent of audit.merkle's own code.

The tree is the one docs/decisions/0004-audit-worm-merkle.md documents: RFC 6962 (Certificate
Transparency) hashing, ``leaf = SHA256(0x00 || digest)`` and ``node = SHA256(0x01 || left ||
right)``, an odd node promoted (never duplicated). A third party verifying an exported proof
implements exactly this, so the roots and proofs are pinned here two ways: by a from-scratch
RFC 6962 ``MTH`` / audit-path written with hashlib below, and by hex vectors computed once
with that reference (a change of prefix, pairing or promotion changes every one of them).
"""

from __future__ import annotations

import hashlib

import pytest

from audit import merkle


def _digests(n: int) -> list[str]:
    return [hashlib.sha256(f"aventide-kat-{i}".encode()).hexdigest() for i in range(n)]


# --- an independent reference (RFC 6962 section 2.1) ----------------------------------------


def _leaf(digest_hex: str) -> bytes:
    return hashlib.sha256(b"\x00" + bytes.fromhex(digest_hex)).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (RFC 6962's k)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(digests: list[str]) -> bytes:
    if len(digests) == 1:
        return _leaf(digests[0])
    k = _split(len(digests))
    return _node(_mth(digests[:k]), _mth(digests[k:]))


def _path(m: int, digests: list[str]) -> list[tuple[str, str]]:
    """RFC 6962 audit path of leaf m as (sibling hash hex, side of the sibling)."""
    if len(digests) == 1:
        return []
    k = _split(len(digests))
    if m < k:
        return [*_path(m, digests[:k]), (_mth(digests[k:]).hex(), "right")]
    return [*_path(m - k, digests[k:]), (_mth(digests[:k]).hex(), "left")]


# --- the service calls (one place each) -----------------------------------------------------


def _root(digests: list[str]) -> str:
    return merkle.merkle_root(digests)


def _proofs(digests: list[str]) -> list[list[tuple[str, str]]]:
    return [[(s["hash"], s["position"]) for s in p] for p in merkle.inclusion_proofs(digests)]


def _verify(digest: str, proof: list[tuple[str, str]], root: str) -> bool:
    steps = [{"hash": h, "position": side} for h, side in proof]
    return merkle.verify_proof(digest, steps, root)


#: roots computed once with the reference above (hashlib only), for _digests(n)
KNOWN_ROOTS = {
    1: "a8e2bf03a5f737b46107003ef6e53cdc1ec44b2f17b305f811697423359c05ab",
    2: "e649addaf50336c426ebc53df7de8518d07de8e92d98526508590029049a5ab0",
    3: "ede2aa55448b4dd1f5c86c34bf8a456812b654666b9eba43c537f002f4fb2cd4",
    4: "b5cd6b692fba83164baa0c87a04a9860d8acf99d4c8728b3ad12435e064de6a7",
    5: "13d1b489d3187cc2f5902d3fec49e60eabf6950bb33535fc59a02c41ba212e64",
    7: "1edef8366c55b1cb46ac8dab445a6c52de8638de39e0644fb4be47688e773e79",
}


@pytest.mark.parametrize("n", sorted(KNOWN_ROOTS))
def test_merkle_root_matches_the_known_answer_vectors(n: int) -> None:
    assert _root(_digests(n)) == KNOWN_ROOTS[n]
    assert _mth(_digests(n)).hex() == KNOWN_ROOTS[n]  # the reference agrees with the vector


def test_merkle_root_of_two_leaves_is_spelled_out_by_hand() -> None:
    a, b = _digests(2)
    leaf_a = hashlib.sha256(b"\x00" + bytes.fromhex(a)).digest()
    leaf_b = hashlib.sha256(b"\x00" + bytes.fromhex(b)).digest()
    expected = hashlib.sha256(b"\x01" + leaf_a + leaf_b).hexdigest()
    assert _root([a, b]) == expected
    # the leaf and node prefixes differ: an inner node is never a valid leaf
    assert hashlib.sha256(b"\x00" + leaf_a + leaf_b).hexdigest() != expected


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16, 17])
def test_merkle_root_equals_the_rfc6962_tree_hash(n: int) -> None:
    digests = _digests(n)
    assert _root(digests) == _mth(digests).hex()


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6, 7, 8, 11])
def test_merkle_inclusion_proofs_equal_the_rfc6962_audit_paths(n: int) -> None:
    digests = _digests(n)
    assert _proofs(digests) == [_path(m, digests) for m in range(n)]


def test_merkle_inclusion_proof_of_the_third_of_five_leaves_is_spelled_out() -> None:
    d = _digests(5)
    leaves = [_leaf(x) for x in d]
    expected = [
        (leaves[3].hex(), "right"),
        (_node(leaves[0], leaves[1]).hex(), "left"),
        (leaves[4].hex(), "right"),  # the promoted fifth leaf
    ]
    assert _proofs(d)[2] == expected
    assert _verify(d[2], expected, KNOWN_ROOTS[5])


@pytest.mark.parametrize("n", [2, 5, 7])
def test_merkle_verify_proof_accepts_reference_paths_and_refuses_other_roots(n: int) -> None:
    digests = _digests(n)
    root = _mth(digests).hex()
    for m, digest in enumerate(digests):
        path = _path(m, digests)
        assert _verify(digest, path, root)
        assert _verify(digest, path, root.upper())  # hex case does not matter
        assert not _verify(digest, path, KNOWN_ROOTS[1])


@pytest.mark.parametrize("index", [-1, -3, 3, 4])
def test_merkle_inclusion_proof_refuses_an_index_outside_the_leaves(index: int) -> None:
    with pytest.raises(IndexError):
        merkle.inclusion_proof(_digests(3), index)
