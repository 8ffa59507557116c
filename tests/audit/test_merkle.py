"""The Merkle tree and inclusion proofs (pure)."""

from __future__ import annotations

import hashlib

import pytest

from audit import merkle


def _digest(i: int) -> str:
    return hashlib.sha256(f"event-{i}".encode()).hexdigest()


def test_merkle_root_single_leaf_is_the_leaf_hash() -> None:
    d = _digest(1)
    assert merkle.merkle_root([d]) == hashlib.sha256(b"\x00" + bytes.fromhex(d)).hexdigest()


def test_merkle_root_of_three_promotes_the_odd_node() -> None:
    a, b, c = (_digest(i) for i in range(3))
    la, lb, lc = (merkle.leaf_hash(x) for x in (a, b, c))
    expected = merkle.node_hash(merkle.node_hash(la, lb), lc).hex()
    assert merkle.merkle_root([a, b, c]) == expected
    # not duplicated: [a, b, c] and [a, b, c, c] have different roots
    assert merkle.merkle_root([a, b, c, c]) != expected


def test_merkle_root_refuses_an_empty_tree() -> None:
    with pytest.raises(ValueError, match="at least one leaf"):
        merkle.merkle_root([])


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33])
def test_verify_proof_accepts_every_leaf_proof(size: int) -> None:
    digests = [_digest(i) for i in range(size)]
    root = merkle.merkle_root(digests)
    proofs = merkle.inclusion_proofs(digests)
    assert len(proofs) == size
    for i, digest in enumerate(digests):
        assert merkle.verify_proof(digest, proofs[i], root)
        assert proofs[i] == merkle.inclusion_proof(digests, i)


def test_verify_proof_rejects_a_wrong_digest_root_or_sibling() -> None:
    digests = [_digest(i) for i in range(6)]
    root = merkle.merkle_root(digests)
    proof = merkle.inclusion_proof(digests, 2)
    assert not merkle.verify_proof(_digest(99), proof, root)
    assert not merkle.verify_proof(digests[2], proof, merkle.merkle_root(digests[:5]))
    flipped = [dict(step) for step in proof]
    flipped[0]["position"] = "left" if flipped[0]["position"] == "right" else "right"
    assert not merkle.verify_proof(digests[2], flipped, root)
    other = [dict(step) for step in proof]
    other[-1]["hash"] = "00" * 32
    assert not merkle.verify_proof(digests[2], other, root)
    # another leaf's proof does not prove this one
    assert not merkle.verify_proof(digests[2], merkle.inclusion_proof(digests, 3), root)


@pytest.mark.parametrize(
    "proof",
    [
        [{"hash": "zz", "position": "left"}],
        [{"hash": "00" * 31, "position": "left"}],
        [{"hash": "00" * 32, "position": "up"}],
        [{"position": "left"}],
    ],
)
def test_verify_proof_returns_false_for_malformed_proofs(proof: list[dict]) -> None:
    digests = [_digest(i) for i in range(2)]
    assert not merkle.verify_proof(digests[0], proof, merkle.merkle_root(digests))


def test_verify_proof_returns_false_for_a_malformed_digest() -> None:
    assert not merkle.verify_proof("not-hex", [], "00" * 32)
