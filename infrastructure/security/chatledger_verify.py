#!/usr/bin/env python3
"""Standalone verifier of ChatLedger proof archives (ChatLedger's docs/proof-format.md).

    python chatledger_verify.py ARCHIVE [--public-key KEY.pem] [--checkpoints FILE ...] [--json]

Exit 0: intact. 1: tampered (each finding names the chat, version or member). 2: unusable input.
Needs Python 3.11+ and `cryptography` only, and imports nothing of ChatLedger on purpose: an
auditor runs it without installing or trusting the product. It ships inside ChatLedger (and
`chatledger export-proof --with-verifier` copies it next to an archive), but it is one file that
can be read, copied and rewritten in any language from the specification.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

INTACT, TAMPERED, UNUSABLE = 0, 1, 2
GENESIS = "0" * 64
PROOF_FORMAT = "chatledger-proof/1"
CHECKPOINT_1, CHECKPOINT_2 = "chatledger-checkpoint/1", "chatledger-checkpoint/2"
CHECKPOINT_3 = "chatledger-checkpoint/3"  # RFC 9162's Merkle tree; 1 and 2 the older one
CHECKPOINT_FORMATS = (CHECKPOINT_1, CHECKPOINT_2, CHECKPOINT_3)
MEMBERS = ("manifest.json", "checkpoint.json", "signatures.json", "merkle_paths.json",
           "public_key.pem", "events.jsonl")  # fmt: skip


CHAT_KEYS = {"chat_id", "from_version", "head_version", "head_hash", "events"}


class UnusableInputError(Exception):
    """Input that cannot be checked at all (not an archive, a member missing, not JSON)."""


@dataclass(frozen=True)
class Finding:
    place: str
    problem: str

    def __str__(self) -> str:
        return f"{self.place}: {self.problem}"


def canonical(value: Any) -> bytes:
    """Sorted keys, no whitespace, ASCII only with \\u escapes (the spec's canonical encoding)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return text.encode("ascii")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 2.1.1: a leaf is hashed behind 0x00, a node behind 0x01; neither passes for
    the other."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def head_leaf(chat_id: str, version: int, head: str, checkpoint_format: str) -> bytes:
    if checkpoint_format == CHECKPOINT_3:
        return leaf_hash(canonical([chat_id, version, head]))
    return hashlib.sha256(json.dumps([chat_id, version, head]).encode("ascii")).digest()


def tree_hash(leaves: list[bytes]) -> bytes:
    """MTH of RFC 9162 2.1.1: split at the largest power of two below n, recursively."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    split = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(tree_hash(leaves[:split]), tree_hash(leaves[split:]))


def older_tree_hash(leaves: list[bytes]) -> bytes:
    """Formats 1 and 2: one plain SHA-256 for leaves and nodes, an odd last node paired with
    itself (so that [a, b, c] and [a, b, c, c] give one root: format 3 fixes both)."""
    level = leaves
    if not level:
        return hashlib.sha256(b"").digest()
    while len(level) > 1:
        if len(level) % 2:
            level = [*level, level[-1]]
        level = [hashlib.sha256(level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
    return level[0]


def merkle_root(heads: list[list[Any]], checkpoint_format: str) -> str | None:
    """The root that a checkpoint's heads give in its format's tree; None when a chat is listed
    twice."""
    if len({head[0] for head in heads}) != len(heads):
        return None
    leaves = [head_leaf(chat, v, head, checkpoint_format) for chat, v, head in sorted(heads)]
    tree = tree_hash if checkpoint_format == CHECKPOINT_3 else older_tree_hash
    return tree(leaves).hex()


def root_from_path(index: int, size: int, leaf: bytes, path: list[bytes],
                   ) -> tuple[bytes, list[str]] | None:  # fmt: skip
    """RFC 9162 2.1.3.2: the root an inclusion path leads to from leaf `index` of `size`, and
    the side of each sibling; None when the path does not fit the tree (too long or short)."""
    if not 0 <= index < size:
        return None
    fn, sn, running, sides = index, size - 1, leaf, []
    for sibling in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            running = node_hash(sibling, running)
            sides.append("left")
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            running = node_hash(running, sibling)
            sides.append("right")
        fn, sn = fn >> 1, sn >> 1
    return (running, sides) if sn == 0 else None


def signed_part(document: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint file's signature covers: format 1 all but the signature, format 2 all
    but the signature and the heads."""
    unsigned = {"signature"} if document.get("format") == CHECKPOINT_1 else {"signature", "heads"}
    return {k: v for k, v in document.items() if k not in unsigned}


def json_member(archive: zipfile.ZipFile, name: str) -> tuple[bytes, Any]:
    data = archive.read(name)
    try:
        return data, json.loads(data)
    except ValueError:
        raise UnusableInputError(f"{name} is not JSON") from None


@dataclass
class Archive:
    manifest_bytes: bytes
    manifest: dict[str, Any]
    checkpoint_bytes: bytes
    checkpoint: dict[str, Any]
    signatures: dict[str, str]
    paths: dict[str, Any]
    key: Ed25519PublicKey
    event_lines: list[bytes]


def load_archive(path: Path) -> Archive:
    try:
        with zipfile.ZipFile(path) as archive:
            missing = [name for name in MEMBERS if name not in archive.namelist()]
            if missing:
                raise UnusableInputError(f"members missing: {', '.join(missing)}")
            manifest_bytes, manifest = json_member(archive, "manifest.json")
            checkpoint_bytes, checkpoint = json_member(archive, "checkpoint.json")
            signatures, paths = (json_member(archive, n)[1] for n in MEMBERS[2:4])
            key = load_key(archive.read("public_key.pem"), "public_key.pem")
            lines = archive.read("events.jsonl").splitlines()
    except (OSError, zipfile.BadZipFile) as error:
        raise UnusableInputError(f"{path} is not a readable zip archive ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != PROOF_FORMAT:
        raise UnusableInputError(f"manifest.json is not of format {PROOF_FORMAT}")
    if not isinstance(checkpoint, dict) or checkpoint.get("format") not in CHECKPOINT_FORMATS:
        raise UnusableInputError("checkpoint.json is not a checkpoint of a known format")
    if not all(isinstance(chat, dict) and chat.keys() >= CHAT_KEYS
               for chat in manifest.get("chats", [None])):  # fmt: skip
        raise UnusableInputError(f"manifest.json: each chat needs {', '.join(sorted(CHAT_KEYS))}")
    if not isinstance(signatures, dict) or not isinstance(paths, dict):
        raise UnusableInputError("signatures.json and merkle_paths.json must be JSON objects")
    return Archive(manifest_bytes, manifest, checkpoint_bytes, checkpoint, signatures, paths,
                   key, lines)  # fmt: skip


def load_key(pem: bytes, name: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        raise UnusableInputError(f"{name} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise UnusableInputError(f"{name} is not an Ed25519 public key")
    return key


def fingerprint(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return sha256_hex(raw)


def signature_holds(key: Ed25519PublicKey, signature: Any, data: bytes) -> bool:
    try:
        key.verify(bytes.fromhex(signature), data)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def check_statements(archive: Archive, findings: list[Finding]) -> None:
    """The two signed statements: the checkpoint (the whole log) and the manifest (the export)."""
    for name, data in (("checkpoint", archive.checkpoint_bytes),
                       ("manifest", archive.manifest_bytes)):  # fmt: skip
        if not signature_holds(archive.key, archive.signatures.get(name), data):
            findings.append(Finding(f"{name}.json", "its signature does not verify with the key"))
        if canonical(json.loads(data)) != data:
            findings.append(Finding(f"{name}.json", "not in canonical form"))
    checkpoint, manifest = archive.checkpoint, archive.manifest
    if manifest.get("checkpoint_digest") != sha256_hex(archive.checkpoint_bytes):
        findings.append(Finding("manifest.json", "names another checkpoint than checkpoint.json"))
    if manifest.get("log_position") != checkpoint.get("log_position"):
        findings.append(Finding("manifest.json", "its log position is not the checkpoint's"))
    heads = checkpoint.get("heads")
    if checkpoint["format"] == CHECKPOINT_1 and merkle_root(heads or [], CHECKPOINT_1) != (
            checkpoint.get("merkle_root")):  # fmt: skip
        findings.append(Finding("checkpoint.json", "its heads do not give its Merkle root"))


@dataclass
class Chain:
    """One chat's chain as read so far: each version's hash, and whether a link broke."""

    hashes: dict[int, str] = field(default_factory=dict)
    last_version: int = 0
    broken: bool = False


def check_events(archive: Archive, findings: list[Finding]) -> dict[str, Chain]:
    chats = {chat["chat_id"]: chat for chat in archive.manifest.get("chats", [])}
    chains: dict[str, Chain] = {}
    limit, previous_position = archive.checkpoint.get("log_position", 0), 0
    for number, line in enumerate(archive.event_lines, 1):
        try:
            record = json.loads(line)
            place = f"chat {record['chat_id']}, version {record['version']}"
            position = record["position"]
        except (ValueError, KeyError, TypeError):
            findings.append(Finding(f"events.jsonl line {number}", "not an event record"))
            continue
        if not isinstance(position, int) or not previous_position < position <= limit:
            findings.append(Finding(place, f"at position {position} after {previous_position}, "
                                    f"up to {limit}: not in log order"))  # fmt: skip
        previous_position = position if isinstance(position, int) else previous_position
        for problem in record_problems(record):
            findings.append(Finding(place, problem))
        chat_id = record["chat_id"]
        if chat_id not in chats:
            findings.append(Finding(f"chat {chat_id}", "its events are not in the signed manifest"))
            continue
        chain = chains.setdefault(chat_id, Chain())
        link_problem = follow(chain, record, chats[chat_id]["from_version"])
        if link_problem:
            findings.append(Finding(place, link_problem))
    return chains


def record_problems(record: dict[str, Any]) -> list[str]:
    """Does the record's hash cover its canonical bytes, and do they say what the record says?"""
    try:
        data = record["canonical"].encode("ascii")
        document = json.loads(data)
    except (KeyError, AttributeError, UnicodeEncodeError, ValueError):
        return ["its canonical bytes are missing or not ASCII JSON"]
    problems = []
    if canonical(document) != data:
        problems.append("its canonical bytes are not in canonical form")
    if sha256_hex(data) != record.get("hash"):
        problems.append(f"content altered: its bytes hash to {sha256_hex(data)}, "
                        f"the record says {record.get('hash')}")  # fmt: skip
    claims = (("chat_id", "originator_id"), ("version", "originator_version"),
              ("prev_hash", "prev_hash"), ("event_type", "event_type"))  # fmt: skip
    for field_name, key in claims:
        if not isinstance(document, dict) or document.get(key) != record.get(field_name):
            problems.append(f"the record's {field_name} is not the one its hashed bytes hold")
    return problems


def follow(chain: Chain, record: dict[str, Any], from_version: int) -> str | None:
    """The next link of a chat; the first broken link of a chat is reported, later ones not."""
    if chain.broken:
        return None
    version = record["version"]
    expected = chain.last_version + 1 if chain.hashes else from_version
    if version != expected:
        chain.broken = True
        return f"version {version} where version {expected} was expected: an event is missing " \
               "or out of order"  # fmt: skip
    linked = chain.hashes[version - 1] if chain.hashes else (GENESIS if version == 1 else None)
    if linked is not None and record["prev_hash"] != linked:
        chain.broken = True
        return f"its prev_hash is not the hash of version {version - 1}: the chain is broken"
    chain.hashes[version], chain.last_version = record["hash"], version
    return None


def check_chats(archive: Archive, chains: dict[str, Chain], findings: list[Finding]) -> None:
    """Every chat the manifest lists is there in full, and its head is in the signed tree."""
    manifest_chats = archive.manifest.get("chats", [])
    if archive.manifest.get("events") != len(archive.event_lines):
        findings.append(Finding("events.jsonl", f"{len(archive.event_lines)} events, the signed "
                                f"manifest lists {archive.manifest.get('events')}"))  # fmt: skip
    for chat in manifest_chats:
        chat_id, place = chat["chat_id"], f"chat {chat['chat_id']}"
        chain = chains.get(chat_id)
        if chain is None:
            findings.append(Finding(place, f"the signed manifest lists {chat['events']} events, "
                                    "the archive has none: the chat was removed"))  # fmt: skip
            continue
        problem = head_problem(chain, chat)
        if problem:
            findings.append(Finding(place, problem))
        problem = path_problem(archive, chat)
        if problem:
            findings.append(Finding(place, problem))


def head_problem(chain: Chain, chat: dict[str, Any]) -> str | None:
    if chain.broken:
        return None  # its first broken link is reported already
    if chain.last_version != chat["head_version"]:
        return (f"ends at version {chain.last_version}, the signed manifest says "
                f"{chat['head_version']}: events removed from its end")  # fmt: skip
    if chain.hashes[chain.last_version] != chat["head_hash"]:
        return "its head's hash is not the one the signed manifest holds: the chain was rewritten"
    return None


def path_problem(archive: Archive, chat: dict[str, Any]) -> str | None:
    entry = archive.paths.get(chat["chat_id"])
    if not isinstance(entry, dict):
        return "no Merkle path to the checkpoint's root"
    if (entry.get("head_version"), entry.get("head_hash")) != (chat["head_version"],
                                                               chat["head_hash"]):  # fmt: skip
        return "its Merkle path starts from another head than the manifest's"
    index, leaves, steps = entry.get("index"), entry.get("leaves"), entry.get("path", [])
    if not isinstance(index, int) or not isinstance(leaves, int):
        return "its Merkle path has no place in the tree"
    if leaves != archive.checkpoint.get("chats") or not 0 <= index < leaves:
        return "its Merkle path is for another tree than the checkpoint's"
    checkpoint_format = archive.checkpoint["format"]
    leaf = head_leaf(chat["chat_id"], chat["head_version"], chat["head_hash"], checkpoint_format)
    siblings = [bytes.fromhex(step["hash"]) for step in steps]
    if checkpoint_format == CHECKPOINT_3:
        reached = root_from_path(index, leaves, leaf, siblings)
    else:
        reached = older_root_from_path(index, leaves, leaf, siblings)
    if reached is None or [step.get("side") for step in steps] != reached[1]:
        return "its Merkle path does not fit its place in the tree"
    if reached[0].hex() != archive.checkpoint.get("merkle_root"):
        return "its head is not in the signed checkpoint's Merkle tree"
    return None


def older_root_from_path(index: int, size: int, leaf: bytes, path: list[bytes],
                         ) -> tuple[bytes, list[str]] | None:  # fmt: skip
    """Formats 1 and 2: one step per level (n -> ceil(n/2) until 1), the side given by the
    index's bit at that level; a last node paired with itself has its own hash as sibling."""
    height, width = 0, size
    while width > 1:
        height, width = height + 1, (width + 1) // 2
    if len(path) != height:
        return None
    sides = ["left" if (index >> level) & 1 else "right" for level in range(height)]
    running = leaf
    for side, sibling in zip(sides, path, strict=True):
        pair = running + sibling if side == "right" else sibling + running
        running = hashlib.sha256(pair).digest()
    return running, sides


def load_series(paths: list[Path]) -> list[tuple[str, dict[str, Any]]]:
    """Checkpoint files in log order (an auditor passes a consecutive series, in any order)."""
    series = []
    for path in paths:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(document["log_position"], int):
                raise TypeError
        except (OSError, ValueError, KeyError, TypeError):
            raise UnusableInputError(f"{path} is not a readable checkpoint file") from None
        series.append((path.name, document))
    return sorted(series, key=lambda item: (item[1]["log_position"], item[1].get("events", 0)))


def check_series(archive: Archive, series: list[tuple[str, dict[str, Any]]],
                 chains: dict[str, Chain], findings: list[Finding]) -> None:  # fmt: skip
    """Earlier checkpoints: each signed, each following the one before, the log only growing,
    and the archive's chats holding at each earlier head the very hash it had."""
    archived = ("the archive's checkpoint", archive.checkpoint)
    previous: tuple[str, dict[str, Any]] | None = None
    for name, document in series:
        body = signed_part(document)
        if not signature_holds(archive.key, document.get("signature"), canonical(body)):
            findings.append(Finding(name, "its signature does not verify with the key"))
        if "heads" in document and merkle_root(document["heads"], str(document.get(
                "format"))) != body.get("merkle_root"):  # fmt: skip
            findings.append(Finding(name, "its heads do not give its Merkle root"))
        if previous is not None:
            findings.extend(Finding(name, p) for p in growth_problems(previous, (name, body)))
        previous = (name, document)
        findings.extend(head_findings(name, document.get("heads") or [], chains))
    digests = {sha256_hex(canonical(signed_part(doc))) for _, doc in series}
    if previous is not None and sha256_hex(archive.checkpoint_bytes) not in digests:
        findings.extend(Finding(archived[0], p) for p in growth_problems(previous, archived))


def growth_problems(before: tuple[str, dict[str, Any]], after: tuple[str, dict[str, Any]],
                    ) -> list[str]:  # fmt: skip
    (name, earlier), (_, later) = before, after
    problems = []
    if later.get("format") != CHECKPOINT_1 and later.get("previous_digest") != sha256_hex(
            canonical(signed_part(earlier))):  # fmt: skip
        problems.append(f"does not follow {name} (its previous_digest is not that one's digest)")
    for count in ("log_position", "events", "chats"):
        if later.get(count, 0) < earlier.get(count, 0):
            problems.append(f"{count} went down from {earlier.get(count)} to {later.get(count)}"
                            f" after {name}: the log shrank")  # fmt: skip
    return problems


def head_findings(name: str, heads: list[list[Any]], chains: dict[str, Chain]) -> list[Finding]:
    """An earlier checkpoint's head of an archived chat: still there, with the same hash."""
    findings = []
    for chat_id, version, head in heads:
        chain = chains.get(chat_id)
        if chain is None or chain.broken:
            continue
        if chain.last_version < version:
            findings.append(
                Finding(
                    f"chat {chat_id}",
                    f"{name} has it at version {version}, the "
                    f"archive ends at {chain.last_version}: the log shrank",
                )
            )
        elif version in chain.hashes and chain.hashes[version] != head:
            findings.append(
                Finding(
                    f"chat {chat_id}, version {version}",
                    f"differs from {name}: the log was rewritten since",
                )
            )
    return findings


def verify(path: Path, pinned: Ed25519PublicKey | None, series: list[Path]) -> dict[str, Any]:
    archive = load_archive(path)
    findings: list[Finding] = []
    if pinned is not None and fingerprint(pinned) != fingerprint(archive.key):
        findings.append(Finding("public_key.pem", "not the expected signer's key"))
    check_statements(archive, findings)
    chains = check_events(archive, findings)
    check_chats(archive, chains, findings)
    check_series(archive, load_series(series), chains, findings)
    return {
        "intact": not findings,
        "findings": [{"place": f.place, "problem": f.problem} for f in findings],
        "events": len(archive.event_lines),
        "chats": len(archive.manifest.get("chats", [])),
        "log_position": archive.checkpoint.get("log_position"),
        "merkle_root": archive.checkpoint.get("merkle_root"),
        "checkpoint_format": archive.checkpoint["format"],
        "merkle_tree": tree_name(archive.checkpoint["format"]),
        "selection": archive.manifest.get("selection"),
        "key_fingerprint": fingerprint(archive.key),
        "key_pinned": pinned is not None,
        "checkpoints_checked": len(series),
    }


def tree_name(checkpoint_format: str) -> str:
    return "RFC 9162 tree" if checkpoint_format == CHECKPOINT_3 else "pre-RFC 9162 tree"


def print_report(report: dict[str, Any]) -> None:
    print(f"signer's key fingerprint (SHA-256 of the raw Ed25519 key): {report['key_fingerprint']}")
    if not report["key_pinned"]:
        print("  (the archive's own key: compare this fingerprint with the one the signer "
              "published, or pass --public-key)")  # fmt: skip
    number = report["checkpoint_format"].rpartition("/")[2]
    print(f"checkpoint: format {number} ({report['merkle_tree']}), log position "
          f"{report['log_position']}, root {report['merkle_root']}; "
          f"{report['checkpoints_checked']} earlier checkpoint(s) checked")  # fmt: skip
    if report["checkpoint_format"] != CHECKPOINT_3:
        print("  (an older format: its tree hashes leaves and nodes alike and pairs an odd node "
              "with itself; a new export proves against a format 3 checkpoint)")  # fmt: skip
    print(f"selection: {json.dumps(report['selection'])}")
    if report["intact"]:
        print(f"INTACT: {report['events']} events of {report['chats']} chats, each chain complete "
              "and unaltered up to its head in the signed checkpoint")  # fmt: skip
        return
    print(f"TAMPERED: {len(report['findings'])} finding(s)")
    for finding in report["findings"]:
        print(f"  {finding['place']}: {finding['problem']}")


def unusable(message: str, as_json: bool) -> int:
    print(json.dumps({"usable": False, "error": message}) if as_json else f"UNUSABLE: {message}")
    return UNUSABLE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("archive", type=Path)
    parser.add_argument("--public-key", type=Path, help="The signer's published key (PEM).")
    parser.add_argument(
        "--checkpoints",
        type=Path,
        nargs="*",
        default=[],
        help="Earlier checkpoint files, to check that the log only grew.",
    )
    parser.add_argument("--json", action="store_true", help="One JSON document.")
    arguments = parser.parse_args(argv)
    try:
        pinned = None
        if arguments.public_key:
            if not arguments.public_key.is_file():  # not to be read as a key that fails
                raise UnusableInputError(f"public key file not found: {arguments.public_key}")
            pinned = load_key(arguments.public_key.read_bytes(), str(arguments.public_key))
        report = verify(arguments.archive, pinned, arguments.checkpoints)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        # A field missing or of another type than the specification's: nothing can be concluded.
        return unusable(f"malformed archive ({type(error).__name__}: {error})", arguments.json)
    except (UnusableInputError, OSError) as error:
        return unusable(str(error), arguments.json)
    if arguments.json:
        print(json.dumps(report))
    else:
        print_report(report)
    return INTACT if report["intact"] else TAMPERED


if __name__ == "__main__":
    sys.exit(main())
