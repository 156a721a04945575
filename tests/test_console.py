"""The auditor's console over plain HTTP, on both backends: who may see it, what each page
shows, that recorded markup is shown as text, tampering, sessions and erasure requests."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterator

import httpx
import pytest

from chatledger.infrastructure.read_store.sql_read_model import SqlReadModel
from chatledger.infrastructure.security.api_keys import Role
from tests.console_support import (
    checkpoint_now,
    console_api,
    csrf_of,
    record_chats,
    signed_in,
)
from tests.http_server import Api
from tests.tampering import altered_content, set_state, state_of, tamperer

api = console_api()
PAGES = [
    "/console",
    "/console/search?user_id=ann",
    "/console/search/export?user_id=ann",
    "/console/chats/chat-support",
    "/console/chats/chat-support/replay?version=2",
    "/console/chats/chat-support/proof",
    "/console/chats/chat-support/proof/events.jsonl",
    "/console/stats?user_id=ann",
    "/console/erasures",
]


@pytest.fixture(scope="module")
def recorded(api: Api) -> Api:
    record_chats(api.services.pipeline)
    api.settled()
    return api


@pytest.fixture
def auditor(recorded: Api) -> Iterator[httpx.Client]:
    secret = recorded.services.keys.create("auditor-1", Role.auditor).secret
    with signed_in(recorded, secret) as client:
        yield client


def three_lines(api: Api, chat_id: str) -> None:
    api.services.pipeline.start_chat(chat_id, "ann", title="To be altered")
    for index in range(3):
        api.services.pipeline.persist_user_message(chat_id, "ann", f"line {index}",
                                                   message_id=f"{chat_id}-{index}")  # fmt: skip


def tamper_with(api: Api, chat_id: str, change: Callable[[bytes], bytes]) -> None:
    """Change the chat's event at version 3 in the database, as its owner could."""
    backend = "sqlite" if api.database_url.startswith("sqlite") else "postgres"
    tamperer(api.services.read_side, backend)(
        lambda cursor, table: set_state(
            cursor, table, chat_id, 3, change(state_of(cursor, table, chat_id, 3))
        )
    )


def shows_no_chat(text: str) -> bool:
    return not any(word in text for word in ("chat-support", "charged", "refunded", "Charged"))


def test_without_a_key_or_with_a_user_key_every_page_is_refused_and_shows_no_chat(
    recorded: Api,
) -> None:
    user_key = recorded.services.keys.create("ann", Role.user).secret
    with recorded.anonymous() as anonymous:
        for path in PAGES:
            page = anonymous.get(path, follow_redirects=False)
            assert page.status_code == 401, path
            assert shows_no_chat(page.text), path
            by_user = anonymous.get(path, headers={"Authorization": f"Bearer {user_key}"})
            assert by_user.status_code == 403, path
            assert shows_no_chat(by_user.text), path
        refused = anonymous.post(
            "/console/erasures",
            data={"user_id": "zed", "reason": "r", "requested_by": "dpo", "csrf": "x"},
        )
        assert refused.status_code == 401
    with httpx.Client(base_url=recorded.base_url) as browser:
        token = csrf_of(browser.get("/console/login").text)
        login = browser.post("/console/login", data={"api_key": user_key, "csrf": token})
        assert login.status_code == 403 and "chatledger_console=" not in str(login.headers)
        assert browser.get("/console/search").status_code == 401


def test_a_login_without_its_form_token_is_refused(recorded: Api) -> None:
    secret = recorded.services.keys.create("auditor-2", Role.auditor).secret
    with recorded.anonymous() as client:
        answer = client.post("/console/login", data={"api_key": secret, "csrf": "forged"})
        assert answer.status_code == 403
        assert "chatledger_console=" not in answer.headers.get("set-cookie", "")


def test_the_session_cookie_is_http_only_strict_and_holds_no_key(recorded: Api) -> None:
    secret = recorded.services.keys.create("auditor-3", Role.auditor).secret
    with httpx.Client(base_url=recorded.base_url) as client:
        token = csrf_of(client.get("/console/login").text)
        answer = client.post("/console/login", data={"api_key": secret, "csrf": token})
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("chatledger_console=")
    )
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert secret not in cookie and secret.split("_")[2] not in cookie


def test_search_filters_pages_and_exports(auditor: httpx.Client) -> None:
    page = auditor.get(
        "/console/search", params={"user_id": "ann", "role": "assistant", "model": "gpt-4o"}
    )
    assert page.status_code == 200
    assert "AssistantMessageRecorded" in page.text and "StreamCompleted" in page.text
    assert "UserMessageRecorded" not in page.text.split("<tbody>")[1]
    first = auditor.get("/console/search", params={"chat_id": "chat-support", "limit": 3})
    assert first.text.count('class="chat-link"') == 3 and "next-page" in first.text
    lines = auditor.get(
        "/console/search/export", params={"chat_id": "chat-support", "format": "jsonl"}
    ).text.splitlines()
    assert [json.loads(line)["version"] for line in lines] == list(range(1, 9))
    rows = list(
        csv.DictReader(
            io.StringIO(
                auditor.get(
                    "/console/search/export",
                    params={
                        "chat_id": "chat-support",
                        "event_type": "StreamCompleted",
                        "format": "csv",
                    },
                ).text
            )
        )
    )
    assert [row["message_id"] for row in rows] == ["reply-1"]
    bad = auditor.get("/console/search", params={"since": "yesterday"})
    assert bad.status_code == 422 and "since" in bad.text


def test_the_conversation_shows_every_recorded_fact(auditor: httpx.Client) -> None:
    page = auditor.get("/console/chats/chat-support")
    assert page.status_code == 200
    text = page.text.replace("<bdi>", "").replace("</bdi>", "")  # each recorded value's isolation
    for fact in (
        "Charged twice",
        "Why was I charged twice?",
        "lookup_invoice",
        "tool call tc-1",
        "You were refunded.",
        "2 chunks",
        "first chunk after",
        "PROVIDER_TIMEOUT",
        "tool_calls",
        "stop",
        "provider in 50",
    ):
        assert fact in text, fact
    assert text.index("Be brief.") < text.index("Why was I charged") < text.index("refunded")


def test_time_travel_shows_the_chat_as_it_was_and_what_each_event_changed(
    auditor: httpx.Client,
) -> None:
    early = auditor.get("/console/chats/chat-support/replay", params={"version": 3})
    assert early.status_code == 200
    messages = early.text.split('id="messages"')[1].split('id="timeline"')[0]
    assert "Why was I charged" in messages and "refunded" not in messages
    assert 'value="3"' in early.text and "user message ask-1 recorded" in early.text
    later = auditor.get("/console/chats/chat-support/replay", params={"version": 7})
    assert "stream reply-1 completed (2 chunks)" in later.text
    assert auditor.get("/console/chats/nobody/replay").status_code == 404


def test_recorded_markup_is_shown_as_text_and_never_runs(auditor: httpx.Client) -> None:
    pages = [
        auditor.get("/console/chats/chat-hostile"),
        auditor.get("/console/chats/chat-hostile/replay", params={"version": 3}),
        auditor.get("/console/search", params={"chat_id": "chat-hostile"}),
        auditor.get("/console/stats", params={"chat_id": "chat-hostile"}),
    ]
    for page in pages:
        assert page.status_code == 200
        assert "<script>window.__pwned" not in page.text and 'onerror="' not in page.text
        assert '<b id="injected">' not in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
    assert pages[0].text.count("&lt;script&gt;window.__pwned") >= 4  # title, content x2, args


def test_a_tampered_chat_is_flagged_and_no_longer_proves_against_the_checkpoint(
    recorded: Api, auditor: httpx.Client
) -> None:
    three_lines(recorded, "chat-tamper")
    checkpoint_now(recorded)
    proof = auditor.get("/console/chats/chat-tamper/proof")
    assert "Intact: 4 events" in proof.text and "Proves against it" in proof.text
    assert '<dd id="checkpoint-format">format 3 (RFC 9162 tree)</dd>' in proof.text
    lines = [
        json.loads(line)
        for line in auditor.get("/console/chats/chat-tamper/proof/events.jsonl").text.splitlines()
    ]
    previous = "0" * 64
    for line in lines:  # what an outside verifier does
        assert hashlib.sha256(line["canonical"].encode("ascii")).hexdigest() == line["hash"]
        assert json.loads(line["canonical"])["prev_hash"] == previous
        previous = line["hash"]
    tamper_with(recorded, "chat-tamper", altered_content)
    proof = auditor.get("/console/chats/chat-tamper/proof")
    assert "Broken at version 3: hash_mismatch" in proof.text
    assert "Does not prove against the checkpoint" in proof.text
    assert "does not hold" in auditor.get("/console/chats/chat-tamper").text


def test_an_altered_index_row_is_in_the_proofs_verdict_instead_of_intact(
    recorded: Api, auditor: httpx.Client
) -> None:
    """The search shows the audit index as fact; the proof page checks the chat's rows there
    (and in the messages table) against their events."""
    three_lines(recorded, "chat-indexed")
    recorded.settled()
    assert "Intact: 4 events" in auditor.get("/console/chats/chat-indexed/proof").text
    view = recorded.services.read_side.audit
    assert isinstance(view, SqlReadModel)
    table = view.spec.table(view.generations().current)
    with view.database.transaction() as cursor:
        cursor.execute(f"UPDATE {table} SET user_id = 'mallory', message_id = 'forged' "
                       "WHERE chat_id = 'chat-indexed' AND version = 3")  # fmt: skip
    found = auditor.get("/console/search", params={"user_id": "mallory"})
    assert "chat-indexed" in found.text  # what the search shows as fact ...
    proof = auditor.get("/console/chats/chat-indexed/proof")  # ... the proof page does not
    assert "Intact" not in proof.text
    assert "Read models altered" in proof.text
    rows = proof.text.split('id="row-mismatches"')[1].split("</table>")[0]
    cells = [row.split("</td><td")[:3] for row in rows.split("<tr>")[2:]]
    assert [[c.rpartition(">")[2] for c in cell] for cell in cells] == [
        ["3", "audit_index", "user_id"], ["3", "audit_index", "message_id"]]  # fmt: skip
    assert "mallory" in rows and "forged" in rows and "chat-indexed-1" in rows


def test_a_missing_public_key_is_named_not_reported_as_a_signature_that_fails(
    recorded: Api, auditor: httpx.Client
) -> None:
    three_lines(recorded, "chat-keyless")
    checkpoint_now(recorded)
    folder = recorded.services.settings.checkpoint_dir
    assert folder is not None
    public = folder / "chatledger-checkpoint.key.pub"
    public.rename(folder / "elsewhere.pub")
    try:
        proof = auditor.get("/console/chats/chat-keyless/proof")
    finally:
        (folder / "elsewhere.pub").rename(public)
    assert proof.status_code == 200
    assert f"Cannot check the checkpoint's signature: public key file not found: {public}" in (
        proof.text)  # fmt: skip
    assert "does not verify" not in proof.text and "Does not prove" not in proof.text


def test_statistics_carry_the_charts_series(auditor: httpx.Client) -> None:
    page = auditor.get("/console/stats", params={"user_id": "ann"})
    assert page.status_code == 200
    data = json.loads(page.text.split('id="chart-data">')[1].split("</script>")[0])
    assert set(data) == {
        "volume",
        "tokens",
        "latency",
        "errors",
        "intents",
        "models",
        "finish_reasons",
    }
    assert sum(data["volume"]["series"][0]["values"]) >= 6
    assert data["errors"]["labels"] == ["PROVIDER_TIMEOUT"]
    assert data["finish_reasons"]["labels"] == ["stop", "tool_calls"]
    assert [s["name"] for s in data["latency"]["series"]] == ["processing", "first chunk"]


def test_statistics_say_when_nothing_was_measured(auditor: httpx.Client) -> None:
    page = auditor.get("/console/stats", params={"user_id": "zed"}).text  # no reply, no stream
    summary = page.split('id="stats-summary">')[1].split("</p>")[0]
    assert "first chunk p95 none recorded" in " ".join(summary.split()) and "None" not in summary
    for chart in ("errors", "finish_reasons", "models"):
        figure = page.split(f'id="figure-{chart}"')[1].split("</figure>")[0]
        assert 'class="no-data"' in figure and "<canvas" not in figure, chart
    for chart in ("volume", "tokens", "latency", "intents"):
        figure = page.split(f'id="figure-{chart}"')[1].split("</figure>")[0]
        assert "<canvas" in figure and "no-data" not in figure, chart
    data = json.loads(page.split('id="chart-data">')[1].split("</script>")[0])
    assert data["latency"]["series"][1]["values"] == [None, None]  # drawn as no bar, not as 0


def test_signing_out_or_revoking_the_key_ends_the_session(recorded: Api) -> None:
    issued = recorded.services.keys.create("auditor-4", Role.auditor)
    with signed_in(recorded, issued.secret) as client:
        page = client.get("/console/search")
        cookie = client.cookies.get("chatledger_console")
        assert page.status_code == 200
        assert client.post("/console/logout", data={"csrf": "forged"}).status_code == 403
        out = client.post("/console/logout", data={"csrf": csrf_of(page.text)})
        assert out.status_code == 303
        assert client.get("/console/search").status_code == 401
    with httpx.Client(
        base_url=recorded.base_url, cookies={"chatledger_console": cookie or ""}
    ) as copy:
        assert copy.get("/console/search").status_code == 401  # a copied cookie is dead too
    with signed_in(recorded, issued.secret) as client:
        recorded.services.keys.revoke(issued.key.key_id)
        assert client.get("/console/search").status_code == 401


def test_only_keys_that_may_erase_request_an_erasure_and_every_erasure_is_listed(
    recorded: Api, auditor: httpx.Client
) -> None:
    listing = auditor.get("/console/erasures")
    assert listing.status_code == 200 and "erasure-form" not in listing.text
    denied = auditor.post(
        "/console/erasures",
        data={
            "user_id": "zed",
            "reason": "r",
            "requested_by": "dpo-7",
            "csrf": csrf_of(listing.text),
        },
    )
    assert denied.status_code == 403
    eraser = recorded.services.keys.create("dpo-service", Role.service, ["audit", "erase"])
    with signed_in(recorded, eraser.secret) as client:
        form = client.get("/console/erasures")
        assert "erasure-form" in form.text
        assert (
            client.post(
                "/console/erasures",
                data={"user_id": "zed", "reason": "GDPR Art. 17", "requested_by": "dpo-7"},
            ).status_code
            == 422
        )
        done = client.post(
            "/console/erasures",
            data={
                "user_id": "zed",
                "reason": "GDPR Art. 17",
                "requested_by": "dpo-7",
                "csrf": csrf_of(form.text),
            },
        )
        assert done.status_code == 200 and "erased (1 chats" in done.text
    listed = auditor.get("/console/erasures").text
    assert "GDPR Art. 17" in listed and "dpo-7" in listed
    chat = auditor.get("/console/chats/chat-zed").text
    assert "Content erased" in chat and "1 Main St" not in chat and "title erased" in chat


def test_a_chat_with_an_unreadable_event_is_shown_up_to_it_and_named_damaged(
    recorded: Api, auditor: httpx.Client
) -> None:
    three_lines(recorded, "chat-damaged")
    recorded.settled()  # indexed first: its audit record then has no fields to show
    tamper_with(recorded, "chat-damaged", lambda state: state[:30])
    page = auditor.get("/console/chats/chat-damaged")
    assert page.status_code == 200
    assert "This chat is damaged" in page.text and "version 3" in page.text
    assert "line 0" in page.text and "line 2" not in page.text
    travel = auditor.get("/console/chats/chat-damaged/replay?version=4")
    assert travel.status_code == 200 and "time travel ends before it" in travel.text
    proof = auditor.get("/console/chats/chat-damaged/proof")
    assert proof.status_code == 200 and "undecodable" in proof.text
    search = auditor.get("/console/search?chat_id=chat-damaged")
    assert search.status_code == 200 and "damaged" in search.text
    by_model = auditor.get("/console/search?chat_id=chat-damaged&model=gpt-4o")
    assert by_model.status_code == 200  # the damaged record is simply no match
    lines = auditor.get("/console/chats/chat-damaged/proof/events.jsonl").text.splitlines()
    assert "undecodable" in json.loads(lines[2])
