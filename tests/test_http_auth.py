"""Who may do what over HTTP, on both backends: no key or a revoked one is 401; another user's
chat answers exactly like a missing one (404); auditors read every chat and write none."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from chatledger.infrastructure.cli.main import app
from chatledger.infrastructure.security.api_keys import Role
from tests.http_server import Api


@pytest.fixture
def alices_chat(api: Api) -> Iterator[tuple[httpx.Client, str, str]]:
    """Alice's client, her chat with a message, and an open stream in it."""
    chat_id = f"c-{uuid.uuid4().hex[:8]}"
    with api.client() as alice:
        assert alice.post("/v1/chats", json={"chat_id": chat_id}).status_code == 201
        alice.post(f"/v1/chats/{chat_id}/messages/user", json={"content": "mine"})
        stream = alice.post(f"/v1/chats/{chat_id}/streams", json={}).json()["message_id"]
        yield alice, chat_id, stream


def requests_on(chat_id: str, stream: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every endpoint that names a chat: method, path, body."""
    chat = f"/v1/chats/{chat_id}"
    return [
        ("POST", f"{chat}/messages/user", {"content": "not mine", "message_id": "x-1"}),
        ("POST", f"{chat}/messages/assistant", {"content": "not mine", "message_id": "x-2"}),
        ("POST", f"{chat}/streams", {"message_id": "x-3"}),
        ("POST", f"{chat}/streams/{stream}/complete", {"content": "x", "chunk_count": 1}),
        ("POST", f"{chat}/streams/{stream}/fail", {"error_code": "E"}),
        ("GET", f"{chat}/stats", None),
        ("GET", f"{chat}/replay", None),
        ("GET", f"/v1/audit?chat_id={chat_id}", None),
        ("GET", f"/v1/verify?chat_id={chat_id}", None),
    ]


def answer(client: httpx.Client, method: str, url: str, body: dict[str, Any] | None) -> Any:
    response = client.request(method, url, json=body)
    document = response.json()
    document.pop("processing_ms", None)
    return response.status_code, document


def test_another_users_key_reads_and_writes_nothing_of_the_chat(
    api: Api, alices_chat: tuple[httpx.Client, str, str]
) -> None:
    _, chat_id, stream = alices_chat
    missing = f"c-{uuid.uuid4().hex[:8]}"
    with api.client() as mallory:
        for (method, url, body), (_, missing_url, _) in zip(
            requests_on(chat_id, stream), requests_on(missing, stream), strict=True
        ):
            status, document = answer(mallory, method, url, body)
            assert status == 404, (url, document)
            # Exactly the answer for a chat that does not exist, but for the id itself.
            _, absent = answer(mallory, method, missing_url, body)
            assert document == _with_chat_id(absent, missing, chat_id), url
    assert api.services.pipeline.repository.get(chat_id).version == 3  # nothing recorded


def _with_chat_id(document: Any, old: str, new: str) -> Any:
    return json.loads(json.dumps(document).replace(old, new))


def test_missing_malformed_unknown_and_revoked_keys_get_401(api: Api) -> None:
    issued = api.services.keys.create("carol")
    headers = [{}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer nonsense"},
               {"Authorization": "Bearer clk_000000000000_" + "A" * 43}]  # fmt: skip
    with api.anonymous() as client:
        for given in headers:
            response = client.get("/v1/stats", headers=given)
            assert response.status_code == 401, given
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["error"]["code"] == "UNAUTHORIZED"
        carol = {"Authorization": f"Bearer {issued.secret}"}
        assert client.get("/v1/stats", headers=carol).status_code == 200
        revoke = ["keys", "revoke", issued.key.key_id, "--database-url", api.database_url]
        assert CliRunner().invoke(app, revoke).exit_code == 0
        assert client.get("/v1/stats", headers=carol).status_code == 401
        started = client.post("/v1/chats", headers=carol, json={"chat_id": "carols"})
        assert started.status_code == 401


def test_auditors_read_every_chat_and_write_none(
    api: Api, alices_chat: tuple[httpx.Client, str, str]
) -> None:
    _alice, chat_id, _ = alices_chat
    owner: str = api.services.pipeline.repository.get(chat_id).owner_id
    with api.client(Role.auditor) as auditor:
        assert auditor.get(f"/v1/chats/{chat_id}/replay").json()["chat"]["owner_id"] == owner
        assert auditor.get(f"/v1/chats/{chat_id}/stats").status_code == 200
        assert auditor.get("/v1/stats", params={"user_id": owner}).status_code == 200
        trail = auditor.get("/v1/audit", params={"user_id": owner}).text.splitlines()
        assert len(trail) >= 3
        everything = auditor.get("/v1/verify").json()
        assert everything["intact"] is True and everything["chats"] >= 1
        refused = auditor.post(f"/v1/chats/{chat_id}/messages/user", json={"content": "x"})
        assert refused.status_code == 403
        assert auditor.post("/v1/chats", json={"chat_id": "audit-own"}).status_code == 403


def test_user_keys_read_only_their_own_user(
    api: Api, alices_chat: tuple[httpx.Client, str, str]
) -> None:
    alice, chat_id, _ = alices_chat
    owner: str = api.services.pipeline.repository.get(chat_id).owner_id
    with api.client() as bob:
        assert bob.get("/v1/stats", params={"user_id": owner}).status_code == 403
        assert bob.get("/v1/verify").status_code == 403
        assert bob.get("/v1/audit", params={"user_id": owner}).status_code == 403
        assert bob.get("/v1/audit").text == ""  # bob's own trail: empty
    assert alice.get("/v1/stats", params={"user_id": owner}).status_code == 200


def test_keys_cli_creates_lists_and_revokes(api: Api) -> None:
    runner, url = CliRunner(), ["--database-url", api.database_url]
    created = runner.invoke(app, ["keys", "create", "--user", "dave", "--role", "auditor",
                                  "--json", *url])  # fmt: skip
    assert created.exit_code == 0, created.output
    issued = json.loads(created.stdout)
    assert issued["api_key"].startswith("clk_") and issued["role"] == "auditor"
    assert api.services.keys.authenticate(issued["api_key"]) is not None
    listed = runner.invoke(app, ["keys", "list", "--user", "dave", "--json", *url])
    assert issued["api_key"] not in listed.stdout and issued["key_id"] in listed.stdout
    assert runner.invoke(app, ["keys", "revoke", "nope", *url]).exit_code == 1
    assert runner.invoke(app, ["keys", "create", "--user", "bad id", *url]).exit_code == 2
