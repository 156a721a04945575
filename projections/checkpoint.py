"""Checkpoints: a digest of the whole log at a position (a Merkle root over every chat's chain
head), so that a later verify can prove nothing before it was modified, removed, reordered or
truncated. Signing is infrastructure's business; this module computes and compares."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from chatledger.domain.chain import recompute_hash
from chatledger.projections.merkle import legacy_merkle_root, merkle_root

PAGE = 2000
FORMAT_1 = "chatledger-checkpoint/1"  # signed the heads themselves; still read
FORMAT_2 = "chatledger-checkpoint/2"  # signs the root and the previous digest; still read
FORMAT = "chatledger-checkpoint/3"  # as format 2, over RFC 9162's Merkle tree
TREES = {FORMAT_1: legacy_merkle_root, FORMAT_2: legacy_merkle_root, FORMAT: merkle_root}
# A visitor of every event a digest reads: its notification (the id is its position), the
# event, and the hash its bytes give.
EventVisitor = Callable[[Notification, Any, str], None]


@dataclass(frozen=True)
class LogDigest:
    position: int
    events: int
    heads: dict[str, tuple[int, str]]  # chat id -> (version, hash) of its last event

    @property
    def merkle_root(self) -> str:
        return merkle_root(self.heads)


def digest_log(
    application: Application[Any], up_to: int | None = None, visit: EventVisitor | None = None
) -> LogDigest:
    """Every chat's head as of position `up_to` (default: the head of the log); `visit` sees
    each event on the way (a proof export collects its events in the same pass)."""
    limit = (application.recorder.max_notification_id() or 0) if up_to is None else up_to
    heads: dict[str, tuple[int, str]] = {}
    events, position = 0, 0
    while position < limit and (page := application.recorder.select_notifications(
            position + 1, PAGE, stop=limit)):  # fmt: skip
        for notification in page:
            event = application.mapper.to_domain_event(notification)
            # The hash the bytes give now, not the one they claim: an altered head shows.
            recomputed = recompute_hash(event)
            heads[str(event.originator_id)] = (event.originator_version, recomputed)
            if visit:
                visit(notification, event, recomputed)
        events += len(page)
        position = page[-1].id
    return LogDigest(limit, events, heads)


def checkpoint_body(
    digest: LogDigest, created_at: str, previous_digest: str | None
) -> dict[str, Any]:
    """What is signed. The heads are not: the root commits to them, and an export then proves
    one chat with its Merkle path without showing every other chat's head."""
    return {
        "format": FORMAT,
        "created_at": created_at,
        "log_position": digest.position,
        "events": digest.events,
        "chats": len(digest.heads),
        "merkle_root": digest.merkle_root,
        "previous_digest": previous_digest,
    }


def head_rows(digest: LogDigest) -> list[list[Any]]:
    return [[chat, version, head] for chat, (version, head) in sorted(digest.heads.items())]


def signed_body(document: dict[str, Any]) -> dict[str, Any]:
    """The part of a checkpoint file its signature covers: all but the signature, and from
    format 2 on all but the heads too."""
    unsigned = {"signature"} if document.get("format") == FORMAT_1 else {"signature", "heads"}
    return {k: v for k, v in document.items() if k not in unsigned}


def canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def checkpoint_digest(body: dict[str, Any]) -> str:
    """What the next checkpoint signs as `previous_digest`: SHA-256 of the signed bytes."""
    return hashlib.sha256(canonical(body)).hexdigest()


def format_label(document: dict[str, Any]) -> str:
    """The checkpoint's format as people are told it: formats 1 and 2 are the older tree."""
    number = str(document.get("format", "")).rpartition("/")[2]
    tree = "RFC 9162 tree" if document.get("format") == FORMAT else "pre-RFC 9162 tree"
    return f"format {number} ({tree})"


def heads_root(document: dict[str, Any]) -> str | None:
    """The root the checkpoint file's heads give in its format's tree; None for an unknown
    format, or a chat listed twice (a duplicated last leaf left the older tree's root as it
    was)."""
    rows, tree = document.get("heads", []), TREES.get(str(document.get("format")))
    heads = {chat: (version, head) for chat, version, head in rows}
    return None if tree is None or len(heads) != len(rows) else tree(heads)


def compare(document: dict[str, Any], now: LogDigest) -> list[str]:
    """What happened to the log before the checkpoint's position, in words; [] when nothing."""
    if document.get("format") not in TREES:
        return ["the checkpoint is of a format this version does not know"]
    findings = []
    body = signed_body(document)
    heads = {chat: (version, head) for chat, version, head in document.get("heads", [])}
    if heads_root(document) != body["merkle_root"]:
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
