"""The Merkle tree over chain heads that checkpoints sign: its root, and the path from one chat's
head to that root, which lets an auditor check one chat without seeing the others' heads."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

Heads = dict[str, tuple[int, str]]  # chat id -> (version, hash) of its last event


@dataclass(frozen=True)
class MerklePath:
    """Where a leaf sits (index among `leaves`, in chat-id order) and its siblings from the leaf
    up: ("left", hash) means the sibling is hashed before the running value."""

    index: int
    leaves: int
    steps: list[tuple[str, str]]


def leaf_hash(chat_id: str, version: int, head: str) -> bytes:
    # json.dumps' defaults (", " between items, ASCII escapes): the leaf of format 1, kept.
    return _sha256(json.dumps([chat_id, version, head]).encode())


def _levels(heads: Heads) -> list[list[bytes]]:
    """Every level of the tree, leaves first; an odd level's last node is paired with itself."""
    level = [leaf_hash(chat, version, head) for chat, (version, head) in sorted(heads.items())]
    levels = [level]
    while len(level) > 1:
        if len(level) % 2:
            level = [*level, level[-1]]
        level = [_sha256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
        levels.append(level)
    return levels


def merkle_root(heads: Heads) -> str:
    """SHA-256 Merkle tree over the chain heads in chat-id order; SHA-256 of nothing when empty."""
    if not heads:
        return _sha256(b"").hex()
    return _levels(heads)[-1][0].hex()


class MerkleTree:
    """The tree built once, for the paths of many chats (an export of every chat asks for all)."""

    def __init__(self, heads: Heads) -> None:
        self.order = {chat: index for index, chat in enumerate(sorted(heads))}
        self.levels = _levels(heads)

    def path(self, chat_id: str) -> MerklePath:
        index = self.order[chat_id]
        position, steps = index, []
        for level in self.levels[:-1]:
            sibling = position ^ 1 if position ^ 1 < len(level) else position
            steps.append(("right" if position % 2 == 0 else "left", level[sibling].hex()))
            position //= 2
        return MerklePath(index, len(self.order), steps)


def merkle_path(heads: Heads, chat_id: str) -> MerklePath:
    return MerkleTree(heads).path(chat_id)


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
