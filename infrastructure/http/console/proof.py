"""Proof: the chat's hash chain recomputed from the stored events in the page's own request, and
its rows in the read models checked against those events; the latest signed checkpoint and
whether the chat still proves against it; and the chat's events with their canonical encoding
and hashes, to download for an outside verifier."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eventsourcing.persistence import PersistenceError
from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from chatledger.domain.chain import recompute_hash
from chatledger.domain.errors import ChatLedgerError
from chatledger.domain.unreadable_events import UnreadableEvent, readable_events
from chatledger.infrastructure.http.console.access import SECURITY_HEADERS, AuditorDep, render
from chatledger.infrastructure.http.console.chat_urls import SentPathRoute
from chatledger.infrastructure.http.console.conversation import chat_of, missing
from chatledger.infrastructure.http.context import Services, StoreUnavailableError, wired_services
from chatledger.infrastructure.security.checkpoints import (
    DEFAULT_KEY,
    PublicKeyUnusableError,
    latest_checkpoint,
    load_public_key,
    public_key_path,
    read_checkpoint,
    signature_holds,
)
from chatledger.infrastructure.settings import Settings
from chatledger.projections.checkpoint import format_label, heads_root, signed_body
from chatledger.projections.proof_export import canonical_record
from chatledger.projections.verification import VerifyReport

router = APIRouter(prefix="/console", include_in_schema=False, route_class=SentPathRoute)


@dataclass
class CheckpointProof:
    """The latest checkpoint's facts and what this chat shows against it."""

    name: str
    format: str = ""  # format 3 (RFC 9162 tree), or an older one
    created_at: str = ""
    log_position: int = 0
    chats: int = 0
    merkle_root: str = ""
    findings: list[str] = field(default_factory=list)
    covered: bool = False  # the chat has a head in the checkpoint
    # Why the signature could not be checked (no public key there, not an Ed25519 one):
    # nothing proved either way, and not a signature that fails.
    unchecked: str | None = None


def latest_of(settings: Settings) -> tuple[Path, dict[str, Any]] | None:
    folder = settings.checkpoint_dir
    if folder is None or not folder.is_dir():
        return None
    path = latest_checkpoint(folder)
    return None if path is None else (path, read_checkpoint(path))


def checkpoint_proof(wired: Services, chat_id: str, report: VerifyReport) -> CheckpointProof | None:
    """The head alone proves the events before it only through an intact chain to it."""
    latest = latest_of(wired.settings)
    if latest is None:
        return None
    path, document = latest
    body = signed_body(document)
    proof = CheckpointProof(path.name, format_label(document), str(body.get("created_at")),
                            int(body["log_position"]), int(body.get("chats", 0)),
                            str(body.get("merkle_root")))  # fmt: skip
    public = wired.settings.checkpoint_public_key or public_key_path(path.parent / DEFAULT_KEY.name)
    try:
        holds = signature_holds(document, load_public_key(public))
    except PublicKeyUnusableError as error:
        proof.unchecked = error.message
        return proof
    if not holds:
        proof.findings.append("the checkpoint's signature does not verify with the public key")
        return proof
    heads = {chat: (version, head) for chat, version, head in document.get("heads", [])}
    if heads_root(document) != body["merkle_root"]:
        proof.findings.append("the checkpoint's heads do not give its Merkle root")
    if chat_id in heads:
        proof.covered = True
        version, head = heads[chat_id]
        proof.findings += head_findings(wired, chat_id, version, head)
        proof.findings += [f"the chain breaks at version {link.version}, at or before the "
                           f"checkpoint's head (version {version})"
                           for link in report.broken if link.version <= version]  # fmt: skip
    return proof


def head_findings(wired: Services, chat_id: str, version: int, head: str) -> list[str]:
    events = list(wired.pipeline.events.get(chat_id, gt=version - 1, lte=version))
    if not events:
        return [f"the chat ends before version {version}, its head in the checkpoint"]
    if recompute_hash(events[0]) != head:
        return [f"the event at version {version} differs from the checkpoint's head"]
    return []


def verified(wired: Services, chat_id: str) -> VerifyReport:
    """The chain, and the chat's rows in the read models (what the search shows as fact)."""
    try:
        return wired.read_side.verifier().verify(chat_id)
    except ChatLedgerError:
        return VerifyReport()


@router.get("/chats/{chat_id}/proof/events.jsonl")
def proof_download(request: Request, chat_id: str, auditor: AuditorDep) -> Response:
    wired = wired_services(request)
    if chat_of(wired, chat_id) is None:
        return missing(request, auditor, chat_id)
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in chat_id)[:80]
    disposition = f'attachment; filename="chat-{name}-events.jsonl"'
    headers = {**SECURITY_HEADERS, "Content-Disposition": disposition}
    return StreamingResponse(event_lines(wired, chat_id), media_type="application/x-ndjson",
                             headers=headers)  # fmt: skip


def event_lines(wired: Services, chat_id: str) -> Iterator[bytes]:
    """One line per stored event: its canonical encoding (SHA-256 of those ASCII bytes must
    give `hash`) and its links; an event that no longer decodes says so."""
    for event in readable_events(wired.pipeline, chat_id):
        if isinstance(event, UnreadableEvent):  # bytes that are not an event any more
            line: dict[str, Any] = {"chat_id": chat_id, "version": event.version,
                                    "undecodable": event.reason}  # fmt: skip
        else:
            line = canonical_record(event)  # as in a proof archive (docs/proof-format.md)
        yield (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")


@router.get("/chats/{chat_id}/proof")
def proof_page(request: Request, chat_id: str, auditor: AuditorDep) -> Response:
    wired = wired_services(request)
    chat = chat_of(wired, chat_id)
    if chat is None:
        return missing(request, auditor, chat_id)
    try:
        report = verified(wired, chat_id)
        checkpoint = checkpoint_proof(wired, chat_id, report)
    except PersistenceError:
        raise StoreUnavailableError from None
    context = {"auditor": auditor, "chat_id": chat_id, "owner_id": chat.owner_id,
               "report": report, "checkpoint": checkpoint}  # fmt: skip
    return render(request, "proof.html", context)
