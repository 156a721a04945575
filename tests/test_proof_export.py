"""Proof archives checked by the standalone verifier in a Python that has only `cryptography`
(no ChatLedger): an intact export passes, each kind of tampering fails with its place named, and
a series of checkpoints shows that the log only grew."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import cryptography
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.cli.main import app
from chatledger.infrastructure.ingest.conversations import default_data_file
from chatledger.infrastructure.security.checkpoints import check_checkpoint, load_or_create_key
from chatledger.infrastructure.security.content_encryption import ENVELOPE
from chatledger.infrastructure.security.proof_archive import VERIFIER, export_proof, public_pem
from chatledger.projections.checkpoint import FORMAT_1, FORMAT_2, canonical, digest_log
from chatledger.projections.merkle import legacy_merkle_root
from chatledger.projections.proof_export import Selection
from tests.tampering import Tamper, altered_content, chats, set_state, state_of

runner = CliRunner()
Members = dict[str, bytes]


@pytest.fixture(scope="session")
def auditor_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment whose only package is `cryptography` (with cffi), linked from
    this one: no network, and ChatLedger cannot be imported there."""
    root = tmp_path_factory.mktemp("auditor")
    packages = root / "packages"
    packages.mkdir()
    site = Path(cryptography.__file__).parents[1]
    for name in (
        "cryptography",
        "cffi",
        "pycparser",
        *(p.name for p in site.glob("_cffi_backend*")),
    ):
        (packages / name).symlink_to(site / name)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True)
    python = root / "venv" / "bin" / "python"
    venv_site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    Path(venv_site.stdout.strip(), "auditor.pth").write_text(f"{packages}\n")
    assert run([str(python), "-c", "import cryptography"]).returncode == 0
    assert run([str(python), "-c", "import chatledger"]).returncode == 1
    return python


def run(command: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": os.environ["PATH"]}  # no PYTHONPATH: nothing of the checkout leaks in
    return subprocess.run(command, capture_output=True, text=True, env=environment, cwd=cwd,
                          check=False)  # fmt: skip


@pytest.fixture
def verify(auditor_python: Path, tmp_path: Path) -> Callable[..., tuple[int, str]]:
    """Run the verifier, copied where an auditor would keep it; its exit code and output."""
    folder = tmp_path / "auditor"
    folder.mkdir()
    shutil.copy(VERIFIER, folder / "chatledger_verify.py")

    def check(archive: Path, *options: str) -> tuple[int, str]:
        done = run([str(auditor_python), "chatledger_verify.py", str(archive), *options], folder)
        return done.returncode, done.stdout + done.stderr

    return check


def exported(
    pipeline: PersistencePipeline, tmp_path: Path, chat: str | None = None, user: str | None = None
) -> Path:
    key = tmp_path / "signing.key"
    load_or_create_key(key)
    archive = tmp_path / "proof.zip"
    export_proof(pipeline, Selection(chat, user), key, archive, tmp_path / "checkpoints")
    return archive


def recorded(pipeline: PersistencePipeline) -> None:
    """Alice's chats c1 and c2 (6 events each), and Bob's c3."""
    chats(pipeline)
    pipeline.start_chat("c3", "bob")
    pipeline.persist_user_message("c3", "bob", "bob's own", message_id="b1")


def rewritten(archive: Path, change: Callable[[Members], None]) -> Path:
    with zipfile.ZipFile(archive) as original:
        members = {name: original.read(name) for name in original.namelist()}
    change(members)
    target = archive.with_name("tampered.zip")
    with zipfile.ZipFile(target, "w") as tampered:
        for name, data in members.items():
            tampered.writestr(name, data)
    return target


def event_lines(members: Members) -> list[dict[str, object]]:
    return [json.loads(line) for line in members["events.jsonl"].splitlines()]


def set_lines(members: Members, records: list[dict[str, object]]) -> None:
    members["events.jsonl"] = b"".join(json.dumps(r).encode() + b"\n" for r in records)


def index_of(records: list[dict[str, object]], chat: str, version: int) -> int:
    return next(i for i, r in enumerate(records) if (r["chat_id"], r["version"]) == (chat, version))


def test_an_intact_export_passes_without_chatledger(
    pipeline: PersistencePipeline, tmp_path: Path, verify: Callable[..., tuple[int, str]]
) -> None:
    recorded(pipeline)
    archive = exported(pipeline, tmp_path, user="alice")
    code, output = verify(archive, "--public-key", str(tmp_path / "signing.key.pub"))
    assert code == 0, output
    assert "INTACT: 12 events of 2 chats" in output
    assert "checkpoint: format 3 (RFC 9162 tree), log position 14" in output
    with zipfile.ZipFile(archive) as opened:
        records = event_lines({"events.jsonl": opened.read("events.jsonl")})
    assert_only_alices_chats_sealed(records)


def assert_only_alices_chats_sealed(records: list[dict[str, object]]) -> None:
    """Only the selection (alice's chats, no record of bob's), content as stored (sealed).
    Parsed, not searched: the sealed content is random base64, which holds any short word
    sooner or later."""
    assert {r["chat_id"] for r in records} == {"c1", "c2"}
    events = [json.loads(str(r["canonical"])) for r in records]
    assert {e[k] for e in events for k in ("owner_id", "user_id") if k in e} == {"alice"}
    contents = [e["content"] for e in events if "content" in e]
    assert len(contents) == 10 and all(ENVELOPE.fullmatch(c) for c in contents), contents


def changed_content(members: Members) -> None:
    records = event_lines(members)
    record = records[index_of(records, "c1", 3)]
    canonical = str(record["canonical"])
    start = canonical.index('"content":"aesgcm:v1:') + 30
    record["canonical"] = canonical[:start] + ("A" if canonical[start] != "A" else "B") + (
        canonical[start + 1 :])  # fmt: skip
    set_lines(members, records)


def swapped(members: Members) -> None:
    records = event_lines(members)
    first, second = index_of(records, "c1", 3), index_of(records, "c1", 4)
    records[first], records[second] = records[second], records[first]
    set_lines(members, records)


def removed(chat: str, *versions: int) -> Callable[[Members], None]:
    def change(members: Members) -> None:
        records = event_lines(members)
        kept = [
            r
            for r in records
            if r["chat_id"] != chat or (versions and r["version"] not in versions)
        ]
        set_lines(members, kept)  # fmt: skip

    return change


def flipped_signature(members: Members) -> None:
    signatures = json.loads(members["signatures.json"])
    signatures["checkpoint"] = ("0" if signatures["checkpoint"][0] != "0" else "1") + (
        signatures["checkpoint"][1:])  # fmt: skip
    members["signatures.json"] = json.dumps(signatures).encode()


def altered_checkpoint(members: Members) -> None:
    body = json.loads(members["checkpoint.json"])
    body["events"] -= 1
    members["checkpoint.json"] = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def bent_path(members: Members) -> None:
    paths = json.loads(members["merkle_paths.json"])
    step = paths["c1"]["path"][0]
    step["hash"] = hashlib.sha256(b"another chat").hexdigest()
    members["merkle_paths.json"] = json.dumps(paths).encode()


@pytest.mark.parametrize(
    ("change", "place", "problem"),
    [
        (changed_content, "chat c1, version 3", "content altered"),
        (swapped, "chat c1, version 4", "version 4 where version 3 was expected"),
        (removed("c1", 3), "chat c1, version 4", "version 4 where version 3 was expected"),
        (removed("c1", 6), "chat c1", "ends at version 5, the signed manifest says 6"),
        (removed("c2"), "chat c2", "the chat was removed"),
        (flipped_signature, "checkpoint.json", "its signature does not verify"),
        (altered_checkpoint, "checkpoint.json", "its signature does not verify"),
        (bent_path, "chat c1", "not in the signed checkpoint's Merkle tree"),
    ],
    ids=[
        "content",
        "order",
        "removed-event",
        "removed-last-event",
        "removed-chat",
        "forged-signature",
        "altered-checkpoint",
        "merkle-path",
    ],
)
def test_each_kind_of_tampering_fails_with_its_place_named(
    pipeline: PersistencePipeline,
    tmp_path: Path,
    verify: Callable[..., tuple[int, str]],
    change: Callable[[Members], None],
    place: str,
    problem: str,
) -> None:
    recorded(pipeline)
    code, output = verify(rewritten(exported(pipeline, tmp_path, user="alice"), change))
    assert code == 1, output
    assert "TAMPERED" in output
    assert any(line.strip().startswith(f"{place}: ") and problem in line
               for line in output.splitlines()), output  # fmt: skip


def test_a_chat_removed_with_its_manifest_entry_breaks_the_manifest_signature(
    pipeline: PersistencePipeline, tmp_path: Path, verify: Callable[..., tuple[int, str]]
) -> None:
    recorded(pipeline)

    def drop_c2_everywhere(members: Members) -> None:
        removed("c2")(members)
        manifest = json.loads(members["manifest.json"])
        manifest["chats"] = [c for c in manifest["chats"] if c["chat_id"] != "c2"]
        manifest["events"] = 6
        members["manifest.json"] = json.dumps(manifest, sort_keys=True,
                                              separators=(",", ":")).encode()  # fmt: skip

    code, output = verify(rewritten(exported(pipeline, tmp_path, user="alice"),
                                    drop_c2_everywhere))  # fmt: skip
    assert code == 1
    assert "manifest.json: its signature does not verify with the key" in output


def test_a_whole_archive_signed_again_by_another_key_fails_against_the_published_one(
    pipeline: PersistencePipeline, tmp_path: Path, verify: Callable[..., tuple[int, str]]
) -> None:
    recorded(pipeline)
    other = Ed25519PrivateKey.generate()

    def resigned(members: Members) -> None:
        changed_content(members)
        signatures = {name: other.sign(members[f"{name}.json"]).hex()
                      for name in ("checkpoint", "manifest")}  # fmt: skip
        members["signatures.json"] = json.dumps(signatures).encode()
        members["public_key.pem"] = public_pem(other)

    archive = rewritten(exported(pipeline, tmp_path, user="alice"), resigned)
    code, output = verify(archive, "--public-key", str(tmp_path / "signing.key.pub"))
    assert code == 1
    assert "public_key.pem: not the expected signer's key" in output
    code, output = verify(archive)  # without the published key the content change still shows
    assert code == 1
    assert "chat c1, version 3: content altered" in output


def test_unusable_input_exits_2(
    pipeline: PersistencePipeline, tmp_path: Path, verify: Callable[..., tuple[int, str]]
) -> None:
    not_a_zip = tmp_path / "nothing.zip"
    not_a_zip.write_bytes(b"not an archive")
    assert verify(not_a_zip)[0] == 2
    recorded(pipeline)

    def without_manifest(members: Members) -> None:
        del members["manifest.json"]

    incomplete = rewritten(exported(pipeline, tmp_path, chat="c1"), without_manifest)
    code, output = verify(incomplete)
    assert (code, output.strip()) == (2, "UNUSABLE: members missing: manifest.json")
    nowhere = tmp_path / "nowhere.pem"
    code, output = verify(exported(pipeline, tmp_path, chat="c1"), "--public-key", str(nowhere))
    assert (code, output.strip()) == (2, f"UNUSABLE: public key file not found: {nowhere}")


def test_an_erased_users_chats_still_verify(
    pipeline: PersistencePipeline, tmp_path: Path, verify: Callable[..., tuple[int, str]]
) -> None:
    recorded(pipeline)
    assert pipeline.erase_user("alice", reason="Art. 17", requested_by="dpo-1").success
    archive = exported(pipeline, tmp_path, user="alice")
    code, output = verify(archive)
    assert code == 0, output
    assert "INTACT: 13 events of 3 chats" in output  # with the erasure record
    with zipfile.ZipFile(archive) as opened:
        manifest = json.loads(opened.read("manifest.json"))
    assert [c["chat_id"] for c in manifest["chats"]] == ["!subject:alice", "c1", "c2"]


def test_since_exports_each_chat_from_its_first_event_then(
    pipeline: PersistencePipeline, tmp_path: Path, verify: Callable[..., tuple[int, str]]
) -> None:
    recorded(pipeline)
    since = next(iter(pipeline.events.get("c3"))).timestamp  # type: ignore[attr-defined]
    pipeline.persist_user_message("c1", "alice", "later", message_id="later")
    archive = exported(pipeline, tmp_path)
    with zipfile.ZipFile(archive) as opened:
        assert json.loads(opened.read("manifest.json"))["events"] == 15
    archive = tmp_path / "since.zip"
    export_proof(pipeline, Selection(since=since), tmp_path / "signing.key", archive,
                 tmp_path / "checkpoints")  # fmt: skip
    with zipfile.ZipFile(archive) as opened:
        chats_in = {c["chat_id"]: c["from_version"]
                    for c in json.loads(opened.read("manifest.json"))["chats"]}  # fmt: skip
    assert chats_in == {"c1": 7, "c3": 1}
    assert verify(archive)[0] == 0


def test_a_series_of_checkpoints_shows_the_log_only_grew(
    pipeline: PersistencePipeline,
    tamper: Tamper,
    tmp_path: Path,
    verify: Callable[..., tuple[int, str]],
) -> None:
    recorded(pipeline)
    first = exported(pipeline, tmp_path, user="alice")
    pipeline.persist_user_message("c1", "alice", "more", message_id="more")
    first.rename(tmp_path / "first.zip")
    second = exported(pipeline, tmp_path, user="alice")
    series = sorted(str(p) for p in (tmp_path / "checkpoints").glob("checkpoint-*.json"))
    assert len(series) == 2
    assert json.loads(Path(series[1]).read_text())["previous_digest"]
    code, output = verify(second, "--checkpoints", *series)
    assert code == 0, output
    # The operator removes c1's last two events and signs a fresh checkpoint of what is left.
    tamper(lambda cursor, table: cursor.execute(
        f"DELETE FROM {table} WHERE originator_id = 'c1' AND originator_version > 5"))  # fmt: skip
    shrunk = exported(pipeline, tmp_path, user="alice")
    assert verify(shrunk)[0] == 0  # consistent by itself ...
    code, output = verify(shrunk, "--checkpoints", *series)  # ... not with what came before
    assert code == 1
    assert "chat c1: checkpoint-15.json has it at version 7, the archive ends at 5" in output
    assert "chat c1: checkpoint-14.json has it at version 6, the archive ends at 5" in output
    assert "events went down from 15 to 13 after checkpoint-15.json: the log shrank" in output


def test_an_event_altered_in_the_database_fails_in_the_export(
    pipeline: PersistencePipeline,
    tamper: Tamper,
    tmp_path: Path,
    verify: Callable[..., tuple[int, str]],
) -> None:
    recorded(pipeline)
    tamper(lambda cursor, table: set_state(cursor, table, "c2", 4, altered_content(
        state_of(cursor, table, "c2", 4))))  # fmt: skip
    code, output = verify(exported(pipeline, tmp_path, chat="c2"))
    assert code == 1
    assert "chat c2, version 4: content altered" in output


def test_cli_exports_with_the_verifier_and_refuses_clearly(
    pipeline: PersistencePipeline,
    database_url: str,
    tmp_path: Path,
    verify: Callable[..., tuple[int, str]],
) -> None:
    recorded(pipeline)
    base = ["export-proof", "--database-url", database_url, "--checkpoints", str(tmp_path)]
    key = ["--key", str(tmp_path / "k.key")]
    missing = runner.invoke(app, [*base, *key, "--json"])
    assert missing.exit_code == 3
    assert "no signing key at" in missing.output and "Traceback" not in missing.output
    load_or_create_key(tmp_path / "k.key")
    output = ["--output", str(tmp_path / "out" / "c1.zip")]
    (tmp_path / "out").mkdir()
    done = runner.invoke(app, [*base, *key, *output, "--chat", "c1", "--with-verifier", "--json"])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["events"], summary["chats"], summary["new_checkpoint"]) == (6, 1, True)
    assert (tmp_path / "out" / "chatledger_verify.py").read_bytes() == VERIFIER.read_bytes()
    assert verify(tmp_path / "out" / "c1.zip")[0] == 0
    unknown = runner.invoke(app, [*base, *key, "--chat", "nope", "--json"])
    assert unknown.exit_code == 1
    assert json.loads(unknown.stdout)["error"]["code"] == "CHAT_NOT_FOUND"
    both = runner.invoke(app, [*base, *key, "--chat", "c1", "--user", "alice"])
    assert both.exit_code == 2


@pytest.mark.slow
def test_the_shared_data_set_exports_and_verifies(
    database_url: str, tmp_path: Path, verify: Callable[..., tuple[int, str]]
) -> None:
    data = default_data_file()
    if data is None:
        pytest.skip("../shared/data is absent")
    database = ["--database-url", database_url]
    assert runner.invoke(app, ["ingest", str(data), *database, "--json"]).exit_code == 0
    load_or_create_key(tmp_path / "k.key")
    archive = tmp_path / "all.zip"
    done = runner.invoke(
        app,
        [
            "export-proof",
            *database,
            "--key",
            str(tmp_path / "k.key"),
            "--checkpoints",
            str(tmp_path),
            "-o",
            str(archive),
            "--json",
        ],
    )
    assert done.exit_code == 0, done.output  # fmt: skip
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["chats"], summary["events"]) == (2560, 2560 + 10240)
    code, output = verify(archive, "--public-key", str(tmp_path / "k.key.pub"), "--json")
    assert code == 0, output
    assert json.loads(output)["intact"]
    tampered = rewritten(archive, changed_content_of_first)
    code, output = verify(tampered, "--json")
    assert code == 1
    assert json.loads(output)["findings"][0]["problem"].startswith("content altered")


def changed_content_of_first(members: Members) -> None:
    lines = members["events.jsonl"].split(b"\n")
    index = next(i for i, line in enumerate(lines) if b'"content\\":\\"aesgcm' in line)
    record = json.loads(lines[index])
    record["canonical"] = record["canonical"].replace('"content":"aesgcm:v1:', '"content":"x', 1)
    lines[index] = json.dumps(record).encode()
    members["events.jsonl"] = b"\n".join(lines)


def test_a_format_1_checkpoint_is_still_read_and_followed(
    pipeline: PersistencePipeline, tmp_path: Path, verify: Callable[..., tuple[int, str]]
) -> None:
    """Files written before checkpoints were chained (the heads signed, no previous digest) still
    prove the log, and the next checkpoint follows them."""
    recorded(pipeline)
    key = load_or_create_key(tmp_path / "signing.key")
    digest = digest_log(pipeline)
    body = {"format": FORMAT_1, "created_at": "2026-01-01T00:00:00+00:00",
            "log_position": digest.position, "events": digest.events, "chats": len(digest.heads),
            "merkle_root": legacy_merkle_root(digest.heads),
            "heads": [[c, v, h] for c, (v, h) in sorted(digest.heads.items())]}  # fmt: skip
    old = tmp_path / "checkpoints" / "checkpoint-14.json"
    old.parent.mkdir()
    old.write_text(json.dumps(body | {"signature": key.sign(canonical(body)).hex()}))
    assert check_checkpoint(pipeline, old, tmp_path / "signing.key.pub") == []
    pipeline.persist_user_message("c1", "alice", "more", message_id="more")
    archive = exported(pipeline, tmp_path, chat="c1")
    new = json.loads((tmp_path / "checkpoints" / "checkpoint-15.json").read_text())
    assert new["previous_digest"] == hashlib.sha256(canonical(body)).hexdigest()
    code, output = verify(archive, "--checkpoints", str(old))
    assert code == 0, output


def test_checkpoint_command_chains_each_checkpoint_to_the_latest_beside_it(
    pipeline: PersistencePipeline, database_url: str, tmp_path: Path
) -> None:
    recorded(pipeline)
    command = ["checkpoint", "--database-url", database_url, "--key", str(tmp_path / "k.key")]
    first = runner.invoke(app, [*command, "--output", str(tmp_path / "checkpoint-14.json")])
    assert first.exit_code == 0, first.output
    pipeline.persist_user_message("c1", "alice", "more", message_id="more")
    second = runner.invoke(
        app, [*command, "--output", str(tmp_path / "checkpoint-15.json"), "--json"]
    )
    assert second.exit_code == 0, second.output
    earlier = json.loads((tmp_path / "checkpoint-14.json").read_text())
    assert earlier["previous_digest"] is None
    signed = {k: v for k, v in earlier.items() if k not in ("signature", "heads")}
    digest = hashlib.sha256(canonical(signed)).hexdigest()
    assert json.loads(second.stdout)["previous_digest"] == digest
    assert json.loads(second.stdout)["format"] == "chatledger-checkpoint/3"


def as_format_2(
    key: Ed25519PrivateKey, heads: dict[str, tuple[int, str]]
) -> Callable[[Members], None]:
    """An archive as ChatLedger wrote it before format 3: the checkpoint over the older tree,
    its Merkle paths in that tree, both statements signed again by the same key."""

    def change(members: Members) -> None:
        body = json.loads(members["checkpoint.json"])
        body |= {"format": FORMAT_2, "merkle_root": legacy_merkle_root(heads)}
        members["checkpoint.json"] = canonical(body)
        manifest = json.loads(members["manifest.json"])
        manifest["checkpoint_digest"] = hashlib.sha256(members["checkpoint.json"]).hexdigest()
        members["manifest.json"] = canonical(manifest)
        paths = json.loads(members["merkle_paths.json"])
        for chat, entry in paths.items():
            entry["path"] = legacy_path(heads, chat)
        members["merkle_paths.json"] = json.dumps(paths).encode()
        members["signatures.json"] = json.dumps(
            {name: key.sign(members[f"{name}.json"]).hex() for name in ("checkpoint", "manifest")}
        ).encode()

    return change


def legacy_path(heads: dict[str, tuple[int, str]], chat: str) -> list[dict[str, str]]:
    """The path of format 1 and 2: one step per level, a last odd node its own sibling."""
    order = sorted(heads)
    level = [hashlib.sha256(json.dumps([c, *heads[c]]).encode()).digest() for c in order]
    position, steps = order.index(chat), []
    while len(level) > 1:
        sibling = position ^ 1 if position ^ 1 < len(level) else position
        steps.append({"side": "right" if position % 2 == 0 else "left",
                      "hash": level[sibling].hex()})  # fmt: skip
        level = level + level[-1:] if len(level) % 2 else level
        level = [hashlib.sha256(level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
        position //= 2
    return steps


def test_a_format_2_archive_still_verifies_and_is_named_the_older_format(
    pipeline: PersistencePipeline, tmp_path: Path, verify: Callable[..., tuple[int, str]]
) -> None:
    recorded(pipeline)
    key = load_or_create_key(tmp_path / "signing.key")
    older = as_format_2(key, digest_log(pipeline).heads)
    archive = rewritten(exported(pipeline, tmp_path, user="alice"), older)
    code, output = verify(archive, "--public-key", str(tmp_path / "signing.key.pub"))
    assert code == 0, output
    assert "checkpoint: format 2 (pre-RFC 9162 tree)" in output
    code, output = verify(archive, "--json")
    report = json.loads(output)
    assert (report["intact"], report["checkpoint_format"], report["merkle_tree"]) == (
        True, FORMAT_2, "pre-RFC 9162 tree")  # fmt: skip
    bent = rewritten(archive, bent_path)
    code, output = verify(bent)
    assert code == 1
    assert "chat c1: its head is not in the signed checkpoint's Merkle tree" in output


def test_a_checkpoint_file_listing_a_chat_twice_does_not_give_its_root(
    pipeline: PersistencePipeline, tmp_path: Path, verify: Callable[..., tuple[int, str]]
) -> None:
    """A duplicated last head left the older tree's root as it was (CVE-2012-2459); the signed
    root does not commit to the heads a checkpoint file lists beside it, so they are checked."""
    recorded(pipeline)
    archive = exported(pipeline, tmp_path, user="alice")
    (series,) = (tmp_path / "checkpoints").glob("checkpoint-*.json")
    document = json.loads(series.read_text())
    document["heads"].append(document["heads"][-1])
    series.write_text(json.dumps(document))
    code, output = verify(archive, "--checkpoints", str(series))
    assert code == 1
    assert f"{series.name}: its heads do not give its Merkle root" in output
