"""The Idempotency-Key header on every write, through the real server on each backend: a retry
answers the first answer and records nothing; another request under the key is a CONFLICT;
the keys live in the database, so another server process (a restart) knows them."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from chatledger.infrastructure.http.idempotency_store import IdempotencyStore
from chatledger.infrastructure.read_store.read_models import read_model_database
from chatledger.infrastructure.settings import Settings
from chatledger.infrastructure.tokenizer.tiktoken_counter import TiktokenCounter
from tests.http_server import Api, running_server


def new_chat(client: httpx.Client) -> str:
    chat_id = f"chat-{uuid.uuid4().hex[:8]}"
    assert client.post("/v1/chats", json={"chat_id": chat_id}).status_code == 201
    return chat_id


def message_count(api: Api, client: httpx.Client, chat_id: str) -> int:
    api.settled()
    replay = client.get(f"/v1/chats/{chat_id}/replay")
    assert replay.status_code == 200, replay.text
    messages: list[Any] = replay.json()["chat"]["messages"]
    return len(messages)


def test_a_retry_answers_the_first_answer_and_records_nothing(api: Api, ann: httpx.Client) -> None:
    chat_id = new_chat(ann)
    headers = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    body = {"content": "Charged twice?"}  # no message id: only the header makes it idempotent
    first = ann.post(f"/v1/chats/{chat_id}/messages/user", json=body, headers=headers)
    again = ann.post(f"/v1/chats/{chat_id}/messages/user", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert (
        again.headers["Idempotent-Replayed"] == "true"
        and "Idempotent-Replayed" not in first.headers
    )
    assert again.json() == first.json()
    assert message_count(api, ann, chat_id) == 1
    without = ann.post(f"/v1/chats/{chat_id}/messages/user", json=body)
    assert without.status_code == 201 and message_count(api, ann, chat_id) == 2


def test_the_same_key_with_another_request_is_a_conflict(api: Api, ann: httpx.Client) -> None:
    chat_id = new_chat(ann)
    headers = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    url = f"/v1/chats/{chat_id}/messages/user"
    assert ann.post(url, json={"content": "one"}, headers=headers).status_code == 201
    other = ann.post(url, json={"content": "two"}, headers=headers)
    assert other.status_code == 409 and other.json()["error"]["code"] == "CONFLICT"
    elsewhere = ann.post(f"/v1/chats/{chat_id}/messages/system", json={"content": "one"},
                         headers=headers)  # fmt: skip
    assert elsewhere.status_code == 409
    assert message_count(api, ann, chat_id) == 1


def test_keys_belong_to_the_api_key_that_sent_them(api: Api, ann: httpx.Client) -> None:
    with api.client() as bob:
        headers = {"Idempotency-Key": "shared-key-1"}
        ann_chat, bob_chat = new_chat(ann), new_chat(bob)
        first = ann.post(f"/v1/chats/{ann_chat}/messages/user", json={"content": "a"},
                         headers=headers)  # fmt: skip
        second = bob.post(f"/v1/chats/{bob_chat}/messages/user", json={"content": "b"},
                          headers=headers)  # fmt: skip
    assert (first.status_code, second.status_code) == (201, 201)


def test_a_refused_request_is_answered_alike_and_a_malformed_key_is_refused(
    api: Api, ann: httpx.Client
) -> None:
    headers = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    refused = ann.post("/v1/chats/nope/messages/user", json={"content": "x"}, headers=headers)
    again = ann.post("/v1/chats/nope/messages/user", json={"content": "x"}, headers=headers)
    assert refused.status_code == again.status_code == 404 and again.json() == refused.json()
    for bad in ("", "in between", "x" * 129, 'quote"d', "back\\slash"):
        answer = ann.post("/v1/chats", json={"chat_id": "c-x"}, headers={"Idempotency-Key": bad})
        assert answer.status_code == 422, bad
        assert answer.json()["error"]["code"] == "VALIDATION_ERROR"


def test_concurrent_retries_record_once(api: Api, ann: httpx.Client) -> None:
    chat_id = new_chat(ann)
    headers = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}

    def send(_: int) -> int:
        return ann.post(f"/v1/chats/{chat_id}/messages/user", json={"content": "once"},
                        headers=headers).status_code  # fmt: skip

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(send, range(8)))
    assert statuses.count(201) == 1 and set(statuses) <= {201, 200, 409}
    assert message_count(api, ann, chat_id) == 1


def test_another_server_on_the_database_knows_the_keys(
    api: Api, ann: httpx.Client, token_counter: TiktokenCounter
) -> None:
    chat_id = new_chat(ann)
    headers = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    url = f"/v1/chats/{chat_id}/messages/user"
    first = ann.post(url, json={"content": "before the restart"}, headers=headers)
    with running_server(api.database_url, token_counter) as restarted:
        key = ann.headers["Authorization"]
        with httpx.Client(base_url=restarted.base_url, headers={"Authorization": key}) as client:
            again = client.post(url, json={"content": "before the restart"}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()


def test_keys_are_kept_for_a_day_and_forgotten_later(api: Api) -> None:
    database = read_model_database(Settings(database_url=api.database_url))
    try:
        store = IdempotencyStore(database)
        assert store.claim("owner", "old-key", "f1").outcome == "new"
        store.complete("owner", "old-key", 201, "application/json", "{}")
        assert store.claim("owner", "old-key", "f1").outcome == "replay"
        store.purge_now_and_then(datetime.now(UTC) + timedelta(hours=25))
        assert store.claim("owner", "old-key", "f1").outcome == "replay"  # within a day
        store.purged_at = datetime.min.replace(tzinfo=UTC)
        store.purge_now_and_then(datetime.now(UTC) + timedelta(hours=49))
        assert store.claim("owner", "old-key", "f2").outcome == "new"
    finally:
        database.close()
