"""The HTTP API over a real server on 127.0.0.1, on both backends: every command and query, its
result model and status code, request ids and the body bound."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import uuid
from collections.abc import Iterator

import httpx
import pytest
import structlog
from structlog.testing import LogCapture

from chatledger.domain.chat import Chat
from chatledger.infrastructure.tokenizer.tiktoken_counter import TiktokenCounter
from tests.conftest import served_api
from tests.http_server import Api, running_server, throwaway_database

api = served_api(http_max_body_bytes=64 * 1024)


@pytest.fixture
def alice(api: Api) -> Iterator[httpx.Client]:
    with api.client() as client:
        yield client


def new_chat(client: httpx.Client, model: str = "gpt-4o") -> str:
    chat_id = f"chat/{uuid.uuid4().hex[:8]}"  # ids may hold "/": sent as %2F
    response = client.post("/v1/chats", json={"chat_id": chat_id, "model": model})
    assert response.status_code == 201, response.text
    return chat_id


def path(chat_id: str) -> str:
    return "/v1/chats/" + chat_id.replace("/", "%2F")


def test_persist_answers_201_then_200_for_the_retry(alice: httpx.Client) -> None:
    chat = new_chat(alice)
    body = {"content": "Why was I charged twice?", "message_id": "m-1",
            "context": {"document_chunks": ["faq-7#2"]}, "metadata": {"client": "web"}}  # fmt: skip

    first = alice.post(f"{path(chat)}/messages/user", json=body)
    again = alice.post(f"{path(chat)}/messages/user", json=body)

    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["version"] == 2 and first.json()["tokens"]["encoding"] == "o200k_base"
    assert again.json()["duplicate"] is True and again.json()["version"] == 2
    changed = alice.post(f"{path(chat)}/messages/user", json={**body, "content": "Other"})
    assert changed.status_code == 409 and changed.json()["error"]["code"] == "CONFLICT"


def test_assistant_message_and_a_restarted_start_chat(alice: httpx.Client) -> None:
    chat = new_chat(alice)
    reply = alice.post(f"{path(chat)}/messages/assistant", json={
        "content": "Refunded.", "model": "gpt-4o", "temperature": 0.3, "generation_ms": 800.0,
        "usage": {"input_tokens": 30, "output_tokens": 3},
        "intent": {"name": "billing", "confidence": 0.9}})  # fmt: skip
    assert reply.status_code == 201, reply.text
    restart = alice.post("/v1/chats", json={"chat_id": chat, "model": "gpt-4o"})
    assert restart.status_code == 200 and restart.json()["duplicate"] is True


def test_stream_open_complete_and_fail(alice: httpx.Client, api: Api) -> None:
    chat = new_chat(alice)
    opened = alice.post(f"{path(chat)}/streams", json={"model": "gpt-4"})
    handle = opened.json()["message_id"]
    assert opened.status_code == 201 and handle

    figures = {"chunk_count": 3, "first_chunk_ms": 40.0, "duration_ms": 300.0}
    done = alice.post(f"{path(chat)}/streams/{handle}/complete",
                      json={"content": "Hello there", **figures})  # fmt: skip
    closed = alice.post(f"{path(chat)}/streams/{handle}/fail", json={"error_code": "TIMEOUT"})

    assert done.status_code == 201, done.text
    assert done.json()["tokens"]["encoding"] == "cl100k_base"  # the model it was opened with
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "STREAM_NOT_OPEN"
    other = alice.post(f"{path(chat)}/streams", json={}).json()["message_id"]
    failed = alice.post(f"{path(chat)}/streams/{other}/fail",
                        json={"error_code": "PROVIDER_TIMEOUT", "content": "Half",
                              "chunk_count": 1, "first_chunk_ms": 5.0})  # fmt: skip
    assert failed.status_code == 201, failed.text
    last = list(api.services.pipeline.events.get(chat))[-1]
    assert isinstance(last, Chat.StreamFailed)
    assert (api.services.pipeline.content_of(last), last.chunk_count) == ("Half", 1)


def test_personal_metadata_is_accepted_everywhere_and_read_back(alice: httpx.Client) -> None:
    """Message, stream and batch bodies take personal_metadata; replay shows it unsealed."""
    chat = new_chat(alice)
    mine = {"email": "alice@example.org"}
    sent = [
        (f"{path(chat)}/messages/user", {"content": "Hi", "message_id": "u1",
                                          "personal_metadata": mine}),
        (f"{path(chat)}/messages/assistant", {"content": "Hello", "message_id": "a1",
                                               "personal_metadata": mine}),
        (f"{path(chat)}/streams", {"message_id": "s1", "personal_metadata": mine}),
        (f"{path(chat)}/streams/s1/complete", {"content": "Done", "chunk_count": 1,
                                                "personal_metadata": mine}),
        (f"{path(chat)}/streams", {"message_id": "s2"}),
        (f"{path(chat)}/streams/s2/fail", {"error_code": "TIMEOUT", "personal_metadata": mine}),
        (f"{path(chat)}/messages", {"messages": [{"role": "user", "content": "More",
                                                  "message_id": "b1", "personal_metadata": mine}]}),
    ]  # fmt: skip
    for url, body in sent:
        response = alice.post(url, json=body)
        assert response.status_code == 201, response.text
    not_an_object = {"content": "x", "personal_metadata": ["a", "list"]}
    refused = alice.post(f"{path(chat)}/messages/user", json=not_an_object)
    assert refused.status_code == 422
    replayed = alice.get(f"{path(chat)}/replay").json()["chat"]["messages"]
    assert [json.loads(m["personal_metadata"]) for m in replayed] == [mine] * 5


def test_invalid_input_is_422_naming_fields_never_echoing_them(alice: httpx.Client) -> None:
    chat = new_chat(alice)
    secret = "sk-planted-\ud800"
    for body in ({"content": secret, "extra": 1}, {"content": [{"type": "hologram"}]},
                 {"content": 5},
                 {"content": "x", "metadata": {"a": [[[[[[[[[[1]]]]]]]]]]}}):  # fmt: skip
        response = alice.post(f"{path(chat)}/messages/user", content=json.dumps(body).encode(),
                              headers={"content-type": "application/json"})  # fmt: skip
        assert response.status_code == 422, body
        error = response.json()["error"]
        assert error["code"] == "VALIDATION_ERROR" and error["details"]["errors"]
        assert "sk-planted" not in response.text
    figures = {"content": "x", "chunk_count": 0, "first_chunk_ms": 3.0}
    opened = alice.post(f"{path(chat)}/streams", json={}).json()["message_id"]
    assert alice.post(f"{path(chat)}/streams/{opened}/complete", json=figures).status_code == 422
    broken = alice.post(f"{path(chat)}/messages/user", content=b"{not json",
                        headers={"content-type": "application/json"})  # fmt: skip
    assert broken.status_code == 422


def test_bodies_over_the_bound_are_413_before_parsing(alice: httpx.Client) -> None:
    chat = new_chat(alice)
    big = {"content": "x" * (65 * 1024)}
    assert alice.post(f"{path(chat)}/messages/user", json=big).status_code == 413

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted while read
        yield b'{"content": "'
        for _ in range(70):
            yield b"x" * 1024
        yield b'"}'

    response = alice.post(f"{path(chat)}/messages/user", content=chunked(),
                          headers={"content-type": "application/json"})  # fmt: skip
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_statistics_audit_replay_and_verify(alice: httpx.Client, api: Api) -> None:
    chat = new_chat(alice)
    for n in range(3):
        alice.post(f"{path(chat)}/messages/user", json={"content": f"q{n}", "message_id": f"q{n}"})
    api.settled()

    mine = alice.get("/v1/stats", params={"hours": 24}).json()["stats"]
    one = alice.get(f"{path(chat)}/stats").json()["stats"]
    assert mine["messages"] >= 3 and one["messages"] == 3
    lines = alice.get("/v1/audit", params={"chat_id": chat, "with_content": True}).text
    records = [json.loads(line) for line in lines.splitlines()]
    assert [r["version"] for r in records] == [1, 2, 3, 4]
    assert records[1]["fields"]["content"] == "q0"
    table = alice.get("/v1/audit", params={"chat_id": chat, "format": "csv",
                                           "event_type": "UserMessageRecorded"})  # fmt: skip
    assert table.headers["content-type"].startswith("text/csv")
    assert [row["version"] for row in csv.DictReader(io.StringIO(table.text))] == ["2", "3", "4"]
    for refused in ({"since": "1700000000"}, {"chat_id": [chat, chat]}, {"chat": chat}):
        assert alice.get("/v1/audit", params=refused).status_code == 422, refused
    replay = alice.get(f"{path(chat)}/replay", params={"to_version": 2}).json()
    assert replay["chat"]["version"] == 2 and len(replay["chat"]["messages"]) == 1
    verified = alice.get("/v1/verify", params={"chat_id": chat}).json()
    assert verified["intact"] is True and verified["events"] == 4


def test_request_ids_are_echoed_or_made_and_logged_without_content(
    alice: httpx.Client,
) -> None:
    chat = new_chat(alice)
    capture = LogCapture()  # with the context variables, as the configured loggers merge them
    structlog.configure(processors=[structlog.contextvars.merge_contextvars, capture])
    logs = capture.entries
    given = alice.post(f"{path(chat)}/messages/user", json={"content": "PLANTED-TEXT"},
                       headers={"X-Request-ID": "req-42"})  # fmt: skip
    made = alice.get("/v1/stats", headers={"X-Request-ID": "bad id\twith space"})
    assert given.headers["x-request-id"] == "req-42"
    assert made.headers["x-request-id"] != "bad id\twith space"
    # The server logs a request after sending its response: new_chat's line can arrive after
    # the capture began, so only the lines of the two requests under test are compared.
    lines = [e for e in logs if e["event"] == "http request" and e.get("route") != "/v1/chats"]
    assert {e["request_id"] for e in lines} == {"req-42", made.headers["x-request-id"]}
    assert lines[0]["route"] == "/v1/chats/{chat_id}/messages/user"
    assert lines[0]["status"] == 201 and lines[0]["user_id"]
    command = next(e for e in logs if e["event"] == "persist_user_message")
    assert command["request_id"] == "req-42"
    assert "PLANTED-TEXT" not in repr(logs) and "clk_" not in repr(logs)


def test_health_and_readiness_need_no_key(api: Api) -> None:
    with api.anonymous() as client:
        assert client.get("/healthz").json() == {"status": "ok", "database": "reachable"}
        api.settled()
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["ready"] is True
        assert {p["name"] for p in ready.json()["projections"]} == {"messages", "stats", "audit"}
        document = client.get("/openapi.json").json()
        assert document["openapi"].startswith("3.")
        operations = {op["operationId"] for item in document["paths"].values()
                      for op in item.values()}  # fmt: skip
        assert {"start_chat", "persist_user_message", "complete_stream", "audit"} <= operations


def test_batches_imports_and_token_counts(alice: httpx.Client) -> None:
    chat = new_chat(alice)
    run = [
        {"role": "user", "content": "Hi", "message_id": "b-1"},
        {"role": "assistant", "content": "Hello", "message_id": "b-2", "model": "gpt-4o"},
    ]

    first = alice.post(f"{path(chat)}/messages", json={"messages": run})
    again = alice.post(f"{path(chat)}/messages", json={"messages": run})
    wrong = alice.post(f"{path(chat)}/messages", json={"messages": [{"role": "system"}]})

    assert first.status_code == 201 and [r["version"] for r in first.json()["results"]] == [2, 3]
    assert again.status_code == 200 and all(r["duplicate"] for r in again.json()["results"])
    assert wrong.status_code == 422
    imported = alice.post("/v1/imports", json={"chats": [
        {"chat_id": f"imp-{uuid.uuid4().hex[:6]}", "messages": run}]})  # fmt: skip
    assert imported.status_code == 201, imported.text
    counted = alice.post("/v1/tokens/count", json={"messages": [{"role": "user", "content": "hi"}],
                                                   "model": "gpt-4o"})  # fmt: skip
    assert counted.status_code == 200 and counted.json()["tokens"]["count"] == 8


def test_a_store_that_fails_answers_503_with_retry_after(
    tmp_path_factory: pytest.TempPathFactory, token_counter: TiktokenCounter
) -> None:
    with (
        throwaway_database("sqlite", tmp_path_factory.mktemp("busy")) as url,
        running_server(url, token_counter, lock_timeout_s=1) as api,
        api.client() as client,
    ):
        chat = new_chat(client)
        body = {"content": "Still there?", "message_id": "busy-1"}
        blocker = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")  # another writer holds the database
        try:
            busy = client.post(f"{path(chat)}/messages/user", json=body)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert busy.json()["error"]["code"] == "PERSISTENCE_ERROR"
        assert client.post(f"{path(chat)}/messages/user", json=body).status_code == 201
