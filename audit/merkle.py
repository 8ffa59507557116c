"""The Merkle tree of a seal: pure functions, no database.

Tree definition (documented in docs/decisions/0004-audit-worm-merkle.md):
- hash function SHA-256; leaves are the events' digests in event id order;
- domain separation as in RFC 6962 (Certificate Transparency):
  ``leaf = SHA256(0x00 || digest_bytes)`` and ``node = SHA256(0x01 || left || right)``, so a
  leaf can never be passed off as an inner node;
- the tree is built level by level; when a level has an odd number of nodes, the last one is
  PROMOTED unchanged to the next level (never duplicated: duplication lets two different leaf
  lists share a root, the Bitcoin CVE-2012-2459 problem);
- the root of one leaf is that leaf's hash; an empty tree has no root (seals are never empty).

An inclusion proof is the list of sibling hashes from the leaf up to the root, each with the
side the sibling sits on (``"left"`` or ``"right"``); promoted levels add no step.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


class ProofStep(TypedDict):
    hash: str
    position: Literal["left", "right"]


def leaf_hash(digest_hex: str) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + bytes.fromhex(digest_hex)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _next_level(level: Sequence[bytes]) -> list[bytes]:
    nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        nxt.append(level[-1])
    return nxt


def merkle_root(digests: Sequence[str]) -> str:
    """The hex root over event digests (hex) in order. Raises ValueError when empty."""
    if not digests:
        raise ValueError("a Merkle tree needs at least one leaf")
    level = [leaf_hash(d) for d in digests]
    while len(level) > 1:
        level = _next_level(level)
    return level[0].hex()


def inclusion_proofs(digests: Sequence[str]) -> list[list[ProofStep]]:
    """The inclusion proof of every leaf (same order as ``digests``), in one pass."""
    if not digests:
        return []
    level = [leaf_hash(d) for d in digests]
    # position of each original leaf in the current level
    positions = list(range(len(level)))
    proofs: list[list[ProofStep]] = [[] for _ in digests]
    while len(level) > 1:
        for leaf, pos in enumerate(positions):
            sibling = pos ^ 1
            if sibling < len(level):
                side: Literal["left", "right"] = "left" if sibling < pos else "right"
                proofs[leaf].append({"hash": level[sibling].hex(), "position": side})
        positions = [pos // 2 for pos in positions]
        level = _next_level(level)
    return proofs


def inclusion_proof(digests: Sequence[str], index: int) -> list[ProofStep]:
    """The inclusion proof of ``digests[index]``."""
    if not 0 <= index < len(digests):
        raise IndexError(index)
    return inclusion_proofs(digests)[index]


def verify_proof(digest: str, proof: Sequence[Mapping[str, Any]], root: str) -> bool:
    """True when ``digest`` (hex) with the sibling ``proof`` hashes up to ``root`` (hex).

    Pure and standalone: a third party can check an exported event with only this function,
    the event's digest, its proof and the seal's merkle_root. Malformed input gives False.
    """
    try:
        current = leaf_hash(digest)
        for step in proof:
            sibling = bytes.fromhex(str(step["hash"]))
            if len(sibling) != 32:
                return False
            if step["position"] == "left":
                current = node_hash(sibling, current)
            elif step["position"] == "right":
                current = node_hash(current, sibling)
            else:
                return False
        return hmac.compare_digest(current.hex(), str(root).lower())
    except (KeyError, TypeError, ValueError):
        return False
