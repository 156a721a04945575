"""Keys for a multi-user backend, through the real server on each backend: a service key acts
for the user each request names, by its scopes; scopes are enforced on every route (walked from
the OpenAPI document); keys are managed over HTTP; erasing a user revokes the user's keys; a
key's use is logged by its id, never the key."""

from __future__ import annotations

import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from structlog.testing import capture_logs

from chatledger.infrastructure.security.api_keys import Role, Scope
from tests.http_server import Api

ALL_SCOPES = [scope.value for scope in Scope]


def service(api: Api, *scopes: str, user_id: str = "backend") -> httpx.Client:
    issued = api.services.keys.create(user_id, Role.service, list(scopes))
    return httpx.Client(base_url=api.base_url, timeout=30.0,
                        headers={"Authorization": f"Bearer {issued.secret}"})  # fmt: skip


def test_a_service_key_records_and_reads_for_a_thousand_users(api: Api) -> None:
    users = [f"end-user-{n}-{uuid.uuid4().hex[:4]}" for n in range(1000)]
    with service(api, "write", "read") as backend:

        def converse(user: str) -> tuple[int, int]:
            acting = {"X-ChatLedger-User": user}
            started = backend.post("/v1/chats", json={"chat_id": f"chat-{user}"}, headers=acting)
            said = backend.post(f"/v1/chats/chat-{user}/messages/user", json={"content": "Hi 🙂"},
                                headers=acting)  # fmt: skip
            return started.status_code, said.status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(converse, users)) == {(201, 201)}
        api.settled()
        for user in users[::100]:
            replay = backend.get(f"/v1/chats/chat-{user}/replay",
                                 headers={"X-ChatLedger-User": user})  # fmt: skip
            assert replay.status_code == 200
            assert replay.json()["chat"]["owner_id"] == user
        other = backend.get(f"/v1/chats/chat-{users[0]}/replay",
                            headers={"X-ChatLedger-User": users[1]})  # fmt: skip
        assert other.status_code == 404  # acting for one user, another's chat is not there


def test_user_and_auditor_keys_keep_their_meaning(api: Api) -> None:
    with api.client() as ann, api.client() as bob, api.client(Role.auditor) as auditor:
        chat = f"chat-{uuid.uuid4().hex[:8]}"
        assert ann.post("/v1/chats", json={"chat_id": chat}).status_code == 201
        missing = bob.get("/v1/chats/no-such-chat/replay")
        taken = bob.get(f"/v1/chats/{chat}/replay")
        assert taken.status_code == missing.status_code == 404
        assert taken.json()["error"] == missing.json()["error"] | {
            "details": taken.json()["error"]["details"]}  # fmt: skip
        assert bob.post(f"/v1/chats/{chat}/messages/user", json={"content": "x"}).status_code == 404
        acting = bob.get(f"/v1/chats/{chat}/replay", headers={"X-ChatLedger-User": "ann"})
        assert acting.status_code == 403  # only a service key names another user
        assert auditor.post("/v1/chats", json={"chat_id": "c-aud"}).status_code == 403
        assert auditor.get(f"/v1/chats/{chat}/replay").status_code == 200


def route_scope(method: str, path: str) -> str | None:
    """The scope each route needs (None: none, the probes)."""
    if path in ("/healthz", "/readyz", "/metrics"):
        return None
    if path.startswith("/v1/keys"):
        return "admin"
    if path.endswith("/erase"):
        return "erase"
    if path == "/v1/verify":
        return "audit"  # every chat's chains (one chat's: read, with ?chat_id=)
    return "write" if method == "post" else "read"


def filled(path: str, user_id: str) -> str:
    values = {"chat_id": "chat-x", "message_id": "m-x", "user_id": user_id, "key_id": "0" * 12,
              "role": "user"}  # fmt: skip
    return re.sub(r"\{(\w+)(?::path)?\}", lambda m: values[m.group(1)], path)


def test_scopes_are_enforced_on_every_route(api: Api) -> None:
    kinds: dict[str, tuple[httpx.Client, set[str], str]] = {}
    with api.client(user_id="walker") as user, api.client(Role.auditor, "walker-aud") as aud:
        kinds["user"] = (user, {"write", "read"}, "walker")
        kinds["auditor"] = (aud, {"read", "audit"}, "walker-aud")
        for scope in ALL_SCOPES:
            implied = {scope, "read"} if scope == "audit" else {scope}
            kinds[f"service:{scope}"] = (service(api, scope, user_id="walker-svc"), implied,
                                         "walker-svc")  # fmt: skip
        paths = user.get("/openapi.json").json()["paths"]
        walked = 0
        for path, operations in paths.items():
            for method in operations:
                needed = route_scope(method, path)
                for kind, (client, scopes, own) in kinds.items():
                    answer = client.request(method.upper(), filled(path, own), json={})
                    refused = answer.status_code == 403
                    assert refused == (needed is not None and needed not in scopes), (
                        kind,
                        method,
                        path,
                        answer.status_code,
                        answer.text[:200],
                    )
                    assert answer.status_code < 500, (kind, method, path)
                    walked += 1
        for client, _, _ in kinds.values():
            client.close()
    assert walked > 100


def test_keys_are_managed_over_http(api: Api) -> None:
    with service(api, "admin") as admin:
        made = admin.post("/v1/keys", json={"user_id": "svc-2", "role": "service",
                                            "scopes": ["write", "read"]})  # fmt: skip
        assert made.status_code == 201
        key_id, secret = made.json()["key"]["key_id"], made.json()["api_key"]
        assert "api_key" not in str(admin.get("/v1/keys").json())
        listed = admin.get("/v1/keys", params={"user_id": "svc-2"}).json()["keys"]
        assert [k["key_id"] for k in listed] == [key_id] and listed[0]["scopes"] == [
            "read",
            "write",
        ]
        assert admin.post("/v1/keys", json={"user_id": "x", "role": "service"}).status_code == 422
        with httpx.Client(
            base_url=api.base_url, headers={"Authorization": f"Bearer {secret}"}
        ) as old:
            assert old.post("/v1/chats", json={"chat_id": "c-svc"}).status_code == 201
            rotated = admin.post(f"/v1/keys/{key_id}/rotate", json={"overlap_seconds": 3600})
            assert rotated.status_code == 201
            assert old.get("/v1/chats/c-svc/replay").status_code == 200  # within the overlap
            at_once = admin.post(f"/v1/keys/{rotated.json()['key']['key_id']}/rotate",
                                 json={"overlap_seconds": 0})  # fmt: skip
            newer = rotated.json()["api_key"]
            with httpx.Client(base_url=api.base_url,
                              headers={"Authorization": f"Bearer {newer}"}) as new:  # fmt: skip
                assert new.get("/v1/chats/c-svc/replay").status_code == 401  # rotated at once
            assert admin.delete(f"/v1/keys/{key_id}").status_code == 200
            assert old.get("/v1/chats/c-svc/replay").status_code == 401
            assert at_once.status_code == 201
        assert admin.delete("/v1/keys/000000000000").status_code == 404


def test_erasing_a_user_revokes_the_users_keys(api: Api) -> None:
    dave = f"dave-{uuid.uuid4().hex[:6]}"
    with api.client(user_id=dave) as own, service(api, "erase") as dpo:
        assert own.post("/v1/chats", json={"chat_id": f"c-{dave}"}).status_code == 201
        erased = dpo.post(f"/v1/users/{dave}/erase",
                          json={"reason": "GDPR Art. 17", "requested_by": "dpo-1"})  # fmt: skip
        assert erased.status_code == 200 and erased.json()["revoked_keys"] == 1
        assert own.get(f"/v1/chats/c-{dave}/replay").status_code == 401
    assert all(key.revoked_at for key in api.services.keys.keys(dave))


def test_a_keys_use_is_logged_by_its_id_never_the_key(api: Api) -> None:
    issued = api.services.keys.create("logged-user")
    with capture_logs() as lines, httpx.Client(base_url=api.base_url, headers={
            "Authorization": f"Bearer {issued.secret}"}) as client:  # fmt: skip
        client.post("/v1/chats", json={"chat_id": "c-logged"})
        # The server logs a request once its response is sent: the client may be first.
        deadline = time.monotonic() + 10
        while not any(line.get("event") == "http request" for line in lines):
            assert time.monotonic() < deadline, "the request was never logged"
            time.sleep(0.01)
    requests = [line for line in lines if line.get("event") == "http request"]
    assert any(line.get("key_id") == issued.key.key_id for line in requests)
    assert issued.secret not in repr(lines)


@pytest.mark.parametrize("bad", ["", "a b", "x" * 129])
def test_a_malformed_acting_user_is_refused(api: Api, bad: str) -> None:
    with service(api, "read") as backend:
        answer = backend.get("/v1/stats", headers={"X-ChatLedger-User": bad})
    assert answer.status_code in (403, 422) and answer.status_code != 500
