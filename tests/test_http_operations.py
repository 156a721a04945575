"""Operating the service, through the real server on each backend: Prometheus metrics and
per-key rate limits (429 with Retry-After)."""

from __future__ import annotations

import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import served_api
from tests.http_server import Api

LIMIT = 30


api = served_api(http_rate_limit=f"{LIMIT}/minute")


def scraped(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with api.anonymous() as anonymous:
        answer = anonymous.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(answer.text)
            for sample in family.samples}  # fmt: skip


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
          **labels: str) -> float:  # fmt: skip
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_messages_errors_and_lag(api: Api, ann: httpx.Client) -> None:
    chat = f"chat-{uuid.uuid4().hex[:8]}"
    before = scraped(api)
    assert ann.post("/v1/chats", json={"chat_id": chat}).status_code == 201
    assert ann.post(f"/v1/chats/{chat}/messages/user", json={"content": "Hi"}).status_code == 201
    assert ann.post(f"/v1/chats/{chat}/messages/assistant",
                    json={"content": "Hello", "model": "gpt-4o"}).status_code == 201  # fmt: skip
    assert ann.post("/v1/chats/nope/messages/user", json={"content": "x"}).status_code == 404
    api.settled()
    after = scraped(api)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    route = "/v1/chats/{chat_id}/messages/user"
    assert grew("chatledger_http_requests_total", method="POST", route=route, status="201") == 1
    assert grew("chatledger_http_requests_total", method="POST", route=route, status="404") == 1
    assert grew("chatledger_messages_recorded_total", role="user") == 1
    assert grew("chatledger_messages_recorded_total", role="assistant") == 1
    assert grew("chatledger_command_errors_total", code="CHAT_NOT_FOUND") == 1
    assert grew("chatledger_commands_total", command="persist_user_message",
                outcome="recorded") == 1  # fmt: skip
    assert grew("chatledger_group_commit_callers_count") >= 3
    assert grew("chatledger_http_request_duration_seconds_count", method="POST", route=route) == 2
    assert value(after, "chatledger_projection_lag_events", projection="messages") == 0
    assert "Hi" not in str(after) and chat not in str(after)  # counts, never content or ids


def test_a_key_over_its_rate_gets_429_with_retry_after(api: Api) -> None:
    before = value(scraped(api), "chatledger_http_rate_limited_total")
    with api.client() as busy, api.client() as calm:
        statuses = [busy.get("/v1/stats").status_code for _ in range(LIMIT + 3)]
        assert statuses[:LIMIT] == [200] * LIMIT and set(statuses[LIMIT:]) == {429}
        refused = busy.get("/v1/stats")
        assert refused.json()["error"]["code"] == "RATE_LIMITED"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert calm.get("/v1/stats").status_code == 200  # another key has its own rate
    assert value(scraped(api), "chatledger_http_rate_limited_total") - before == 4
