"""Signed checkpoints: Ed25519 keys in files the CLI manages, signing and checking digests."""

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

from chatledger.projections.checkpoint import canonical, checkpoint_body, compare, digest_log

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


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} is not an Ed25519 public key")
    return key


def write_checkpoint(application: Application[Any], key_path: Path, output: Path) -> dict[str, Any]:
    key = load_or_create_key(key_path)
    body = checkpoint_body(digest_log(application), datetime.now(UTC).isoformat())
    document = body | {"signature": key.sign(canonical(body)).hex()}
    output.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return document


def check_checkpoint(
    application: Application[Any], checkpoint: Path, public_key: Path
) -> list[str]:
    """Findings against a checkpoint, [] when everything before it is as it was."""
    document = json.loads(checkpoint.read_text(encoding="utf-8"))
    body = {k: v for k, v in document.items() if k != "signature"}
    try:
        load_public_key(public_key).verify(bytes.fromhex(document["signature"]), canonical(body))
    except (InvalidSignature, ValueError, KeyError):
        return ["the checkpoint's signature does not verify with this public key"]
    return compare(body, digest_log(application, body["log_position"]))
