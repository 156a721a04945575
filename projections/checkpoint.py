"""Checkpoints: a digest of the whole log at a position (a Merkle root over every chat's chain
head), so that a later verify can prove nothing before it was modified, removed, reordered or
truncated. Signing is infrastructure's business; this module computes and compares."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from eventsourcing.application import Application

from chatledger.domain.chain import recompute_hash

PAGE = 2000
FORMAT = "chatledger-checkpoint/1"


@dataclass(frozen=True)
class LogDigest:
    position: int
    events: int
    heads: dict[str, tuple[int, str]]  # chat id -> (version, hash) of its last event

    @property
    def merkle_root(self) -> str:
        return merkle_root(self.heads)


def merkle_root(heads: dict[str, tuple[int, str]]) -> str:
    """SHA-256 Merkle tree over the chain heads, in chat-id order (the last node of an odd level
    is paired with itself)."""
    level = [_sha256(json.dumps([chat, version, head]).encode()) for chat, (version, head)
             in sorted(heads.items())]  # fmt: skip
    if not level:
        return _sha256(b"").hex()
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [_sha256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0].hex()


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def digest_log(application: Application[Any], up_to: int | None = None) -> LogDigest:
    """Every chat's head as of position `up_to` (default: the head of the log)."""
    limit = (application.recorder.max_notification_id() or 0) if up_to is None else up_to
    heads: dict[str, tuple[int, str]] = {}
    events, position = 0, 0
    while position < limit and (page := application.recorder.select_notifications(
            position + 1, PAGE, stop=limit)):  # fmt: skip
        for notification in page:
            event = application.mapper.to_domain_event(notification)
            # The hash the bytes give now, not the one they claim: an altered head shows.
            heads[str(event.originator_id)] = (event.originator_version, recompute_hash(event))
        events += len(page)
        position = page[-1].id
    return LogDigest(limit, events, heads)


def checkpoint_body(digest: LogDigest, created_at: str) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "created_at": created_at,
        "log_position": digest.position,
        "events": digest.events,
        "chats": len(digest.heads),
        "merkle_root": digest.merkle_root,
        "heads": [[chat, version, head] for chat, (version, head) in sorted(digest.heads.items())],
    }


def canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def compare(body: dict[str, Any], now: LogDigest) -> list[str]:
    """What happened to the log before the checkpoint's position, in words; [] when nothing."""
    findings = []
    heads = {chat: (version, head) for chat, version, head in body["heads"]}
    if merkle_root(heads) != body["merkle_root"]:
        findings.append("the checkpoint's heads do not give its Merkle root: the file was altered")
    if now.events != body["events"]:
        recorded, position = body["events"], body["log_position"]
        findings.append(f"{recorded} events were recorded up to position {position}, "
                        f"{now.events} are there now: events were removed or inserted")  # fmt: skip
    for chat, (version, head) in sorted(heads.items()):
        current = now.heads.get(chat)
        if current is None:
            findings.append(f"chat {chat}: all its events up to version {version} are gone")
        elif current[0] < version:
            findings.append(
                f"chat {chat}: truncated, ends at version {current[0]} instead of {version}"
            )
        elif current != (version, head):
            findings.append(
                f"chat {chat}: its event at version {version} differs from the checkpoint"
            )
    return findings
