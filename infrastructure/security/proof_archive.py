"""Proof archives for an outside auditor: one zip file holding the selected events as stored, a
signed checkpoint of the whole log, Merkle paths from each chat's head to its root, a signed
manifest of what was selected, and the public key (docs/proof-format.md specifies every byte;
chatledger_verify.py beside this module checks it with nothing of ChatLedger)."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.application import Application

from chatledger.infrastructure.security.checkpoints import (
    latest_checkpoint,
    load_signing_key,
    read_checkpoint,
    save_checkpoint,
    sign_checkpoint,
)
from chatledger.projections.checkpoint import (
    FORMAT,
    LogDigest,
    canonical,
    checkpoint_digest,
    signed_body,
)
from chatledger.projections.merkle import MerkleTree
from chatledger.projections.proof_export import ProofCollector, Selection, collect_proof

PROOF_FORMAT = "chatledger-proof/1"
VERIFIER = Path(__file__).with_name("chatledger_verify.py")
README = """ChatLedger proof archive ({format}). Check it with the standalone verifier:
    python chatledger_verify.py THIS_FILE --public-key THE_PUBLISHED_KEY.pem
It needs Python 3.11+ and the `cryptography` package only. The format is specified in
ChatLedger's docs/proof-format.md.
"""


def export_proof(
    application: Application[Any],
    selection: Selection,
    key_path: Path,
    output: Path,
    checkpoints: Path,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write the archive for `selection` at `output`, signed with the key at `key_path`; the
    checkpoint it proves against is the latest in `checkpoints` if it is at the log's head,
    else a new one saved there (following the latest). A summary of what was written."""
    key = load_signing_key(key_path)
    partial = output.with_name(output.name + ".partial")
    try:
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            with archive.open("events.jsonl", "w", force_zip64=True) as events:
                collector = ProofCollector(selection, _line_writer(events), progress)
                digest = collect_proof(application, collector)
            checkpoint, checkpoint_file, fresh = _checkpoint_at(digest, key, checkpoints)
            manifest = _manifest(selection, collector, checkpoint)
            _write_members(archive, key, checkpoint, manifest, _paths(digest, collector))
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    return {
        "file": str(output),
        "events": manifest["events"],
        "chats": len(manifest["chats"]),
        "log_position": digest.position,
        "merkle_root": digest.merkle_root,
        "checkpoint": str(checkpoint_file),
        "new_checkpoint": fresh,
        "key_fingerprint": key_fingerprint(key),
    }


def _line_writer(member: IO[bytes]) -> Callable[[dict[str, Any]], None]:
    def write(record: dict[str, Any]) -> None:
        member.write(json.dumps(record, separators=(",", ":")).encode("ascii") + b"\n")

    return write


def _checkpoint_at(
    digest: LogDigest, key: Ed25519PrivateKey, folder: Path
) -> tuple[dict[str, Any], Path, bool]:
    """The latest checkpoint when it is this very digest and signed by this key (nothing was
    recorded since), else a new one that follows it: an auditor gets the log up to now."""
    folder.mkdir(parents=True, exist_ok=True)
    latest = latest_checkpoint(folder)
    if latest is not None:
        document = read_checkpoint(latest)
        body = signed_body(document)
        same = (body.get("format"), body.get("log_position"), body.get("merkle_root")) == (
            FORMAT, digest.position, digest.merkle_root)  # fmt: skip
        if same and document.get("signature") == key.sign(canonical(body)).hex():
            return document, latest, False  # Ed25519 signs deterministically
    document = sign_checkpoint(digest, key, latest)
    target = folder / f"checkpoint-{digest.position}.json"
    if target.exists():  # a checkpoint at this position by another key or of another log
        target = folder / f"checkpoint-{digest.position}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.json"
    save_checkpoint(document, target)
    return document, target, True


def _manifest(
    selection: Selection, collector: ProofCollector, checkpoint: dict[str, Any]
) -> dict[str, Any]:
    chats = [collector.chats[chat].as_dict() for chat in sorted(collector.chats)]
    return {
        "format": PROOF_FORMAT,
        "created_at": datetime.now(UTC).isoformat(),
        "selection": selection.as_dict(),
        "checkpoint_digest": checkpoint_digest(signed_body(checkpoint)),
        "log_position": checkpoint["log_position"],
        "events": sum(chat["events"] for chat in chats),
        "chats": chats,
    }


def _paths(digest: LogDigest, collector: ProofCollector) -> dict[str, Any]:
    paths, tree = {}, MerkleTree(digest.heads)
    for chat_id in sorted(collector.chats):
        version, head = digest.heads[chat_id]
        path = tree.path(chat_id)
        paths[chat_id] = {"head_version": version, "head_hash": head, "index": path.index,
                          "leaves": path.leaves,
                          "path": [{"side": s, "hash": h} for s, h in path.steps]}  # fmt: skip
    return paths


def _write_members(
    archive: zipfile.ZipFile,
    key: Ed25519PrivateKey,
    checkpoint: dict[str, Any],
    manifest: dict[str, Any],
    paths: dict[str, Any],
) -> None:
    checkpoint_bytes, manifest_bytes = canonical(signed_body(checkpoint)), canonical(manifest)
    signatures = {"checkpoint": checkpoint["signature"], "manifest": key.sign(manifest_bytes).hex()}
    archive.writestr("checkpoint.json", checkpoint_bytes)
    archive.writestr("manifest.json", manifest_bytes)
    archive.writestr("signatures.json", json.dumps(signatures, indent=1) + "\n")
    archive.writestr("merkle_paths.json", json.dumps(paths, indent=1) + "\n")
    archive.writestr("public_key.pem", public_pem(key))
    archive.writestr("README.txt", README.format(format=PROOF_FORMAT))


def public_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_fingerprint(key: Ed25519PrivateKey) -> str:
    """SHA-256 of the raw 32-byte public key, as the verifier prints it."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def write_verifier(folder: Path) -> Path:
    """A copy of the standalone verifier for the auditor."""
    target = folder / VERIFIER.name
    shutil.copyfile(VERIFIER, target)
    return target
