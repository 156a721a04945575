"""Reads that page, through the real server on each backend: a user's chats, a chat's messages
and the audit trail, with opaque cursors, filters and documented limits; 404 and 405 coded."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from chatledger.infrastructure.security.api_keys import Role
from tests.http_server import Api


@pytest.fixture(scope="module")
def ann_id() -> str:
    return f"ann-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def chats(api: Api, ann_id: str) -> list[str]:
    """Three chats of ann, each of a user message, a reply of each of two models, and one
    streamed reply that failed; the last chat is the latest."""
    made = []
    with api.client(user_id=ann_id) as ann:
        for number in range(3):
            chat_id = f"chat-{number}-{uuid.uuid4().hex[:6]}"
            assert ann.post("/v1/chats", json={"chat_id": chat_id}).status_code == 201
            for body, role in (({"content": "Hello 🙂"}, "user"),
                               ({"content": "Hi", "model": "gpt-4o"}, "assistant"),
                               ({"content": "Hey", "model": "gpt-4"}, "assistant")):  # fmt: skip
                assert ann.post(f"/v1/chats/{chat_id}/messages/{role}", json=body).is_success
            opened = ann.post(f"/v1/chats/{chat_id}/streams", json={"model": "gpt-4o"}).json()
            fail = {"error_code": "PROVIDER_TIMEOUT", "chunk_count": 0}
            failed = ann.post(f"/v1/chats/{chat_id}/streams/{opened['message_id']}/fail",
                              json=fail)  # fmt: skip
            assert failed.is_success, failed.text
            made.append(chat_id)
    api.settled()
    return made


@pytest.fixture
def ann(api: Api, ann_id: str) -> Iterator[httpx.Client]:
    with api.client(user_id=ann_id) as client:
        yield client


def every_page(client: httpx.Client, url: str, items: str, **params: Any) -> list[list[Any]]:
    pages, cursor = [], None
    while True:
        given: dict[str, Any] = {**params, **({"cursor": cursor} if cursor else {})}
        answer = client.get(url, params=given)
        assert answer.status_code == 200, answer.text
        pages.append(answer.json()[items])
        cursor = answer.json()["next"]
        if cursor is None:
            return pages


def test_a_users_chats_page_latest_first(
    api: Api, ann: httpx.Client, ann_id: str, chats: list[str]
) -> None:
    pages = every_page(ann, f"/v1/users/{ann_id}/chats", "chats", limit=2)
    assert [[c["chat_id"] for c in page] for page in pages] == [chats[:0:-1], chats[:1]]
    assert all(c["messages"] == 4 and c["events"] == 6 for page in pages for c in page)
    with api.client(user_id="bob") as bob:
        assert bob.get(f"/v1/users/{ann_id}/chats").status_code == 403
    with api.client(Role.auditor) as auditor:
        assert len(auditor.get(f"/v1/users/{ann_id}/chats").json()["chats"]) == 3


def test_a_chats_messages_page_in_order_with_filters(
    api: Api, ann: httpx.Client, chats: list[str]
) -> None:
    url = f"/v1/chats/{chats[0]}/messages"
    pages = every_page(ann, url, "messages", limit=3)
    rows = [row for page in pages for row in page]
    assert [len(page) for page in pages] == [3, 1]
    assert [(r["role"], r["status"], r["content"]) for r in rows] == [
        ("user", "recorded", "Hello 🙂"), ("assistant", "recorded", "Hi"),
        ("assistant", "recorded", "Hey"), ("assistant", "failed", "")]  # fmt: skip
    only = ann.get(url, params={"role": "assistant", "model": "gpt-4o"}).json()["messages"]
    assert [(r["content"], r["status"]) for r in only] == [("Hi", "recorded"), ("", "failed")]
    failed = ann.get(url, params={"status": "failed"}).json()["messages"]
    assert [r["error_code"] for r in failed] == ["PROVIDER_TIMEOUT"]
    with api.client(Role.auditor) as auditor:
        unread = auditor.get(url).json()["messages"]
        assert len(unread) == 4 and all("content" not in r for r in unread)
        assert auditor.get(url, params={"with_content": "true"}).json()["messages"][0]["content"]
    with api.client(user_id="bob") as bob:
        assert bob.get(url).status_code == 404  # another user's chat answers as a missing one
    assert ann.get("/v1/chats/no-such-chat/messages").status_code == 404


def test_the_audit_trail_pages_with_a_cursor(ann: httpx.Client, chats: list[str]) -> None:
    params: dict[str, Any] = {"chat_id": chats[1], "limit": 4}
    first = ann.get("/v1/audit", params=params)
    assert first.status_code == 200 and "X-Next-Cursor" in first.headers
    second = ann.get("/v1/audit", params={**params, "cursor": first.headers["X-Next-Cursor"]})
    assert "X-Next-Cursor" not in second.headers
    records = [json.loads(line) for r in (first, second) for line in r.text.splitlines()]
    assert len(records) == 6 and [r["version"] for r in records] == list(range(1, 7))
    whole = ann.get("/v1/audit", params={"chat_id": chats[1]})
    assert [json.loads(line) for line in whole.text.splitlines()] == records


@pytest.mark.parametrize("params", [
    {"limit": 1001}, {"limit": 0}, {"cursor": "not-a-cursor"}, {"role": "robot"},
    {"status": "lost"}, {"since": "yesterday"},
])  # fmt: skip
def test_bad_paging_and_filters_are_refused_by_name(
    ann: httpx.Client, chats: list[str], params: dict[str, Any]
) -> None:
    answer = ann.get(f"/v1/chats/{chats[0]}/messages", params=params)
    assert answer.status_code == 422
    fields = [e["field"] for e in answer.json()["error"]["details"]["errors"]]
    assert fields == [f"query.{next(iter(params))}"]


def test_a_cursor_of_another_query_is_refused(
    ann: httpx.Client, ann_id: str, chats: list[str]
) -> None:
    first = ann.get(f"/v1/chats/{chats[0]}/messages", params={"limit": 1}).json()
    other = ann.get(f"/v1/chats/{chats[1]}/messages", params={"cursor": first["next"]})
    assert other.status_code == 422


def test_unknown_paths_and_methods_answer_coded(ann: httpx.Client) -> None:
    missing = ann.get("/v1/nothing-here")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "NOT_FOUND")
    wrong = ann.get("/v1/chats")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (405, "METHOD_NOT_ALLOWED")
    assert "POST" in wrong.headers["Allow"]


def test_openapi_documents_every_paging_parameter(ann: httpx.Client) -> None:
    paths = ann.get("/openapi.json").json()["paths"]
    for path in ("/v1/users/{user_id}/chats", "/v1/chats/{chat_id}/messages", "/v1/audit"):
        parameters = {p["name"]: p for p in paths[path]["get"]["parameters"]}
        assert {"limit", "cursor"} <= set(parameters), path
        assert parameters["limit"]["schema"].get("maximum") == 1000 or any(
            s.get("maximum") == 1000 for s in parameters["limit"]["schema"].get("anyOf", [])
        )
        assert all(p.get("description") for p in parameters.values() if p["name"] != "chat_id"
                   and p["name"] != "user_id" and p["in"] == "query"), path  # fmt: skip


def test_walking_ten_thousand_audit_records_sees_each_once(api: Api) -> None:
    owner = f"bulk-{uuid.uuid4().hex[:6]}"
    with api.client(user_id=owner) as client:
        for number in range(10):
            messages = [{"role": "user" if n % 2 else "assistant", "content": f"turn {n}"}
                        for n in range(1000)]  # fmt: skip
            chat = {"chat_id": f"{owner}-{number}", "messages": messages}
            assert client.post("/v1/imports", json={"chats": [chat]}).status_code == 201
        api.settled()
        positions: list[int] = []
        params: dict[str, Any] = {"limit": 100}
        while True:
            page = client.get("/v1/audit", params=params)
            assert page.status_code == 200, page.text
            positions += [json.loads(line)["position"] for line in page.text.splitlines()]
            if "X-Next-Cursor" not in page.headers:
                break
            params = {"limit": 100, "cursor": page.headers["X-Next-Cursor"]}
    assert len(positions) == 10_010 == len(set(positions))  # 10 starts, 10,000 messages
    assert positions == sorted(positions)
