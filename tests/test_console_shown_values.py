"""How the console shows what was recorded, over plain HTTP on both backends: a chat's id is one
path segment in every link (`a/b/../c` never becomes chat `a/c` of another user), recorded text
is isolated and its hidden characters are shown as markers, and the search's export without
content leaves the chat titles out."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator

import httpx
import pytest

from chatledger.infrastructure.http.console.chat_urls import path_segment
from chatledger.infrastructure.security.api_keys import Role
from tests.console_support import console_api, signed_in
from tests.http_server import Api

api = console_api()
# Ids a path would take apart: dot segments, a route's own words, a fragment.
ALICE_CHATS = {"a/b/../c": "Alice's plan", "a/proof": "Alice's proof", "q#x": "Alice's fragment",
               "a/./c/replay": "Alice's replay"}  # fmt: skip
OSCAR_CHATS = {"a/c": "Oscar's secret", "a": "Oscar's other secret"}
CHAT_LINK = re.compile(r'href="(/console/chats/[^"?]*)[^"]*"')


@pytest.fixture(scope="module")
def recorded(api: Api) -> Api:
    pipeline = api.services.pipeline
    for owner, chats in (("alice", ALICE_CHATS), ("oscar", OSCAR_CHATS)):
        for chat_id, title in chats.items():
            assert pipeline.start_chat(chat_id, owner, title=title).success
            assert pipeline.persist_user_message(chat_id, owner, f"{title}, in words").success
    assert pipeline.start_chat("chat-rtl", "mallory", title="\u202eTitle", model="gpt-4o").success
    assert pipeline.persist_user_message(
        "chat-rtl", "mallory", "\u202eevil a\u200bb\x1b[2J", message_id="rtl-1",
        metadata={"note": "\u2066x"}
    ).success  # fmt: skip
    api.settled()
    return api


@pytest.fixture
def auditor(recorded: Api) -> Iterator[httpx.Client]:
    secret = recorded.services.keys.create("auditor-shown", Role.auditor).secret
    with signed_in(recorded, secret) as client:
        yield client


def shown_text(page: str) -> str:
    """The page's text as a reader sees it: no tags, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_a_chat_id_is_one_encoded_path_segment() -> None:
    assert path_segment("a/b/../c") == "a%2Fb%2F..%2Fc"
    assert path_segment("q?x#y%2F z") == "q%3Fx%23y%252F%20z"
    assert path_segment("a+b=c:d@e") == "a%2Bb%3Dc%3Ad%40e"


def test_every_link_of_a_chat_leads_to_that_chat(auditor: httpx.Client) -> None:
    """From the conversation, every chat page's links, followed to the end: each names the
    chat (never another user's chat or owner)."""
    for chat_id, title in ALICE_CHATS.items():
        start = f"/console/chats/{path_segment(chat_id)}"
        waiting, seen = [start], {start}
        while waiting:
            link = waiting.pop()
            followed = auditor.get(link)
            assert followed.status_code == 200, link
            text = shown_text(followed.text)
            if link.endswith("/events.jsonl"):
                assert {json.loads(line)["chat_id"] for line in text.splitlines()} == {chat_id}
                continue
            assert f"Chat {chat_id}\n" in text or f"Proof of chat {chat_id}\n" in text, link
            assert "oscar" not in text.lower(), link
            if "/proof" not in link:
                assert title in text and "owner alice" in text, link
            fresh = set(CHAT_LINK.findall(followed.text)) - seen
            seen |= fresh
            waiting += fresh
        kinds = {link.removeprefix(start) for link in seen}
        assert kinds == {"", "/replay", "/proof", "/proof/events.jsonl"}, seen


def test_the_search_links_each_chat_to_itself(auditor: httpx.Client) -> None:
    found = auditor.get("/console/search", params={"user_id": "alice"}).text
    links = dict(re.findall(r'class="chat-link" href="([^"]+)"><bdi>([^<]+)</bdi>', found))
    assert {html.unescape(chat) for chat in links.values()} == set(ALICE_CHATS)
    for link, chat_id in links.items():
        text = shown_text(auditor.get(html.unescape(link)).text)
        assert f"Chat {html.unescape(chat_id)}\n" in text and "owner alice" in text


@pytest.mark.parametrize("chat_id", ["x%2Fy", "q?x#y", "a/b/../c/none", "a%proof"])
def test_any_id_comes_back_from_its_segment_as_it_was(auditor: httpx.Client, chat_id: str) -> None:
    """Ids the domain refuses too: the page names exactly the id that was asked for."""
    for suffix in ("", "/replay", "/proof"):
        page = auditor.get(f"/console/chats/{path_segment(chat_id)}{suffix}")
        assert page.status_code == 404
        assert f"No chat has the id {chat_id}." in " ".join(shown_text(page.text).split())


def test_recorded_text_is_isolated_and_its_hidden_characters_are_shown(
    auditor: httpx.Client,
) -> None:
    page = auditor.get("/console/chats/chat-rtl").text
    hidden = ("\u202e", "\u200b", "\u2066", "\x1b")
    assert not any(char in page for char in hidden)
    marker = '<span class="ctl">&lt;U+202E&gt;</span>'
    assert f"<bdi>{marker}Title</bdi>" in page
    assert f"<bdi>{marker}evil a" in page and "&lt;U+200B&gt;" in page and "&lt;U+001B&gt;" in page
    assert "&lt;U+2066&gt;" in page  # in the metadata's JSON
    assert "owner <a" in page and "<bdi>mallory</bdi>" in page
    title = re.search(r"<title>(.*)</title>", page)
    assert title is not None and "<bdi>" not in title.group(1)


def test_the_export_without_content_leaves_chat_titles_out(auditor: httpx.Client) -> None:
    export = auditor.get("/console/search/export", params={"user_id": "alice", "format": "jsonl"})
    records = [json.loads(line) for line in export.text.splitlines()]
    started = [r for r in records if r["event_type"] == "Started"]
    assert len(started) == len(ALICE_CHATS)
    assert all("title" not in r["fields"] for r in started)
    assert all("owner_id" in r["fields"] for r in started)
