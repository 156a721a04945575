"""Signed checkpoints: Ed25519 keys in files the CLI manages, signing and checking digests, each
checkpoint chained to the one before it by that one's digest."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from eventsourcing.application import Application

from chatledger.projections.checkpoint import (
    LogDigest,
    canonical,
    checkpoint_body,
    checkpoint_digest,
    compare,
    digest_log,
    head_rows,
    signed_body,
)

DEFAULT_KEY = Path("chatledger-checkpoint.key")


def public_key_path(key_path: Path) -> Path:
    return key_path.with_name(key_path.name + ".pub")


def load_or_create_key(key_path: Path) -> Ed25519PrivateKey:
    """The signing key; created on first use, readable by its owner only, public key beside it."""
    if key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{key_path} is not an Ed25519 private key")
        return key
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())  # fmt: skip
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
    public_key_path(key_path).write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))  # fmt: skip
    return key


class PublicKeyUnusableError(ValueError):
    """The signer's public key cannot be had: nothing proved or disproved about the log, and
    not to be reported as a signature that fails."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def load_public_key(path: Path) -> Ed25519PublicKey:
    if not path.is_file():
        raise PublicKeyUnusableError("PUBLIC_KEY_NOT_FOUND", f"public key file not found: {path}")
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except ValueError:
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise PublicKeyUnusableError("PUBLIC_KEY_INVALID", f"{path} is not an Ed25519 public key "
                                     "in PEM")  # fmt: skip
    return key


def load_signing_key(key_path: Path) -> Ed25519PrivateKey:
    """The signing key, which must exist (an export signed by a key made on the spot proves
    nothing to an auditor who was given another public key)."""
    if not key_path.is_file():
        raise FileNotFoundError(f"no signing key at {key_path}: make one with `chatledger "
                                "checkpoint` and publish its .pub")  # fmt: skip
    return load_or_create_key(key_path)


def read_checkpoint(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or "merkle_root" not in document:
        raise ValueError(f"{path} is not a checkpoint")
    return document


def latest_checkpoint(folder: Path, besides: Path | None = None) -> Path | None:
    """The checkpoint file in `folder` with the highest log position: the one a new checkpoint
    follows. Files that are not checkpoints are passed over."""
    found: list[tuple[int, str, Path]] = []
    for path in folder.glob("checkpoint-*.json"):
        try:
            position = int(read_checkpoint(path)["log_position"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if besides is None or path.resolve() != besides.resolve():
            found.append((position, path.name, path))
    return max(found)[2] if found else None


def sign_checkpoint(
    digest: LogDigest, key: Ed25519PrivateKey, previous: Path | None
) -> dict[str, Any]:
    """A checkpoint document: the signed body, its signature, and the heads its root commits to."""
    previous_digest = (
        checkpoint_digest(signed_body(read_checkpoint(previous))) if previous else None
    )
    body = checkpoint_body(digest, datetime.now(UTC).isoformat(), previous_digest)
    return body | {"signature": key.sign(canonical(body)).hex(), "heads": head_rows(digest)}


def save_checkpoint(document: dict[str, Any], output: Path) -> None:
    output.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")


def write_checkpoint(
    application: Application[Any], key_path: Path, output: Path, previous: Path | None = None
) -> dict[str, Any]:
    """Sign the log's digest now; `previous` is the checkpoint this one follows (its digest is
    signed too, so a series of checkpoints shows that the log only grew)."""
    key = load_or_create_key(key_path)
    document = sign_checkpoint(digest_log(application), key, previous)
    save_checkpoint(document, output)
    return document


def check_checkpoint(
    application: Application[Any], checkpoint: Path, public_key: Path
) -> list[str]:
    """Findings against a checkpoint, [] when everything before it is as it was; a public key
    that cannot be had raises PublicKeyUnusableError."""
    document = json.loads(checkpoint.read_text(encoding="utf-8"))
    if not signature_holds(document, load_public_key(public_key)):
        return ["the checkpoint's signature does not verify with this public key"]
    return compare(document, digest_log(application, signed_body(document)["log_position"]))


def signature_holds(document: dict[str, Any], public_key: Ed25519PublicKey) -> bool:
    """Whether the checkpoint's signature is the key's over its signed body."""
    try:
        public_key.verify(bytes.fromhex(document["signature"]), canonical(signed_body(document)))
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return False
    return True
