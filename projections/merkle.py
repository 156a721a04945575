"""The Merkle tree over chain heads that checkpoints sign: its root, and the path from one chat's
head to that root, which lets an auditor check one chat without seeing the others' heads.

The tree is RFC 9162's (section 2.1): a leaf is SHA-256(0x00 || leaf data), a node
SHA-256(0x01 || left || right), so that no leaf can pass for a node; a level's odd last node is
carried up unpaired, so that [a, b, c] and [a, b, c, c] have different roots. Built level by
level, this is the tree of the RFC's recursive definition (split at the largest power of two
below n); tests/test_merkle.py checks the two against each other and the RFC's test vectors.
Checkpoints of formats 1 and 2 used an older tree (`legacy_merkle_root`), kept to check them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

Heads = dict[str, tuple[int, str]]  # chat id -> (version, hash) of its last event
LEAF_PREFIX, NODE_PREFIX = b"\x00", b"\x01"


@dataclass(frozen=True)
class MerklePath:
    """Where a leaf sits (index among `leaves`, in chat-id order) and its siblings from the leaf
    up: ("left", hash) means the sibling is hashed before the running value. A level where the
    running node is carried up unpaired has no step."""

    index: int
    leaves: int
    steps: list[tuple[str, str]]


def leaf_data(chat_id: str, version: int, head: str) -> bytes:
    """A chat's leaf: the canonical JSON of [chat id, version, head hash]."""
    return json.dumps([chat_id, version, head], separators=(",", ":")).encode("ascii")


def leaf_hash(data: bytes) -> bytes:
    return _sha256(LEAF_PREFIX + data)


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(NODE_PREFIX + left + right)


def tree_levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Every level of the tree over these leaf hashes, leaves first, root last."""
    level, levels = leaves, [leaves]
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = paired + level[-1:] if len(level) % 2 else paired
        levels.append(level)
    return levels


def tree_root(leaves: list[bytes]) -> bytes:
    """The root over these leaf hashes; SHA-256 of nothing for an empty tree."""
    return tree_levels(leaves)[-1][0] if leaves else _sha256(b"")


def inclusion_path(levels: list[list[bytes]], index: int) -> list[tuple[str, bytes]]:
    """The siblings of leaf `index` from the leaf up (RFC 9162 2.1.3's PATH, with sides)."""
    steps, position = [], index
    for level in levels[:-1]:
        sibling = position ^ 1
        if sibling < len(level):
            steps.append(("right" if position % 2 == 0 else "left", level[sibling]))
        position //= 2
    return steps


def head_leaves(heads: Heads) -> list[bytes]:
    return [leaf_hash(leaf_data(chat, v, head)) for chat, (v, head) in sorted(heads.items())]


def merkle_root(heads: Heads) -> str:
    """The tree over the chain heads in chat-id order (checkpoint format 3 on)."""
    return tree_root(head_leaves(heads)).hex()


class MerkleTree:
    """The tree built once, for the paths of many chats (an export of every chat asks for all)."""

    def __init__(self, heads: Heads) -> None:
        self.order = {chat: index for index, chat in enumerate(sorted(heads))}
        self.levels = tree_levels(head_leaves(heads))

    def path(self, chat_id: str) -> MerklePath:
        index = self.order[chat_id]
        steps = [(side, node.hex()) for side, node in inclusion_path(self.levels, index)]
        return MerklePath(index, len(self.order), steps)


def legacy_merkle_root(heads: Heads) -> str:
    """The root of checkpoint formats 1 and 2: leaves and nodes one plain SHA-256 (the leaf the
    text of `json.dumps([chat, version, head])`), and an odd last node paired with itself."""
    level = [_sha256(json.dumps([chat, v, head]).encode()) for chat, (v, head) in sorted(
        heads.items())]  # fmt: skip
    if not level:
        return _sha256(b"").hex()
    while len(level) > 1:
        if len(level) % 2:
            level = [*level, level[-1]]
        level = [_sha256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0].hex()


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
