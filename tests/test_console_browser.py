"""The console in a real headless Chromium (Debian's, driven by playwright), on both backends:
sign in, search, open a conversation, move through time, see a tampered chat flagged, see the
charts drawn, see recorded markup shown as text and never run, sign out. Screenshots go to
$CHATLEDGER_TEST_ARTIFACTS (default tests/artifacts/) as the run's artefacts."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, expect, sync_playwright

from chatledger.infrastructure.security.api_keys import Role
from chatledger.infrastructure.security.user_erasure import erase_user_and_keys
from tests.console_support import checkpoint_now, console_api, record_chats
from tests.http_server import Api
from tests.tampering import altered_content, set_state, state_of, tamperer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium's own connections are refused on a closed network: none are made.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update",
         "--disable-sync"]  # fmt: skip
api = console_api()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: scripts/test.sh installs it (scripts/chromium.sh)")
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


def artefacts(backend: str) -> Path:
    root = Path(os.environ.get("CHATLEDGER_TEST_ARTIFACTS", Path(__file__).parent / "artifacts"))
    folder = root / "console" / backend
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def tamper_with(api: Api, chat_id: str, version: int) -> None:
    backend = "sqlite" if api.database_url.startswith("sqlite") else "postgres"

    def alter(cursor: object, table: str) -> None:
        state = altered_content(state_of(cursor, table, chat_id, version))  # type: ignore[arg-type]
        set_state(cursor, table, chat_id, version, state)  # type: ignore[arg-type]

    tamperer(api.services.read_side, backend)(alter)


def test_an_auditor_walks_the_console_in_a_browser(api: Api, browser: Browser) -> None:
    record_chats(api.services.pipeline)
    pipeline = api.services.pipeline
    pipeline.start_chat("chat-altered", "ann", title="Altered later")
    for index in range(3):
        pipeline.persist_user_message(
            "chat-altered", "ann", f"line {index}", message_id=f"a{index}"
        )
    checkpoint_now(api)
    api.settled()
    backend = "sqlite" if api.database_url.startswith("sqlite") else "postgres"
    shots = artefacts(backend)
    secret = api.services.keys.create("auditor-b", Role.auditor).secret
    context = browser.new_context(base_url=api.base_url, viewport={"width": 1360, "height": 900})
    page = context.new_page()
    ran: list[str] = []

    def dialog_opened(dialog: Dialog) -> None:  # an alert() from recorded content ran
        ran.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dialog_opened)

    page.goto("/console/login")
    page.fill("#api-key", secret)
    page.click("#sign-in")
    expect(page).to_have_url(f"{api.base_url}/console/search")
    page.screenshot(path=shots / "login-done.png")

    page.fill("input[name=user_id]", "ann")
    page.select_option("select[name=role]", "assistant")
    page.click("#search")
    expect(page.locator("#results tbody tr")).to_have_count(4)  # 2 replies, stream opened+done
    page.screenshot(path=shots / "search.png", full_page=True)

    page.goto("/console/search?chat_id=chat-support")
    page.locator("a.chat-link").first.click()
    expect(page.locator("#messages article")).to_have_count(6)
    expect(page.locator(".stream-facts")).to_contain_text("2 chunks, first chunk after")
    expect(page.locator(".error-code")).to_contain_text("PROVIDER_TIMEOUT")
    page.screenshot(path=shots / "conversation.png", full_page=True)

    page.click("text=Time travel")
    slider = page.locator("#version-slider")
    slider.fill("3")  # sets the value and fires input and change: the form goes there
    expect(page).to_have_url(f"{api.base_url}/console/chats/chat-support/replay?version=3")
    expect(page.locator("#current-version")).to_have_text("3")
    expect(page.locator("#messages article")).to_have_count(2)
    expect(page.locator("#timeline li.current")).to_contain_text("user message ask-1 recorded")
    page.screenshot(path=shots / "time-travel.png", full_page=True)

    page.goto("/console/chats/chat-altered/proof")
    expect(page.locator("#chain-verdict")).to_contain_text("Intact")
    expect(page.locator("#checkpoint-verdict")).to_contain_text("Proves against it")
    tamper_with(api, "chat-altered", 3)
    page.reload()
    expect(page.locator("#chain-verdict")).to_contain_text("Broken at version 3: hash_mismatch")
    expect(page.locator("#checkpoint-verdict")).to_contain_text("Does not prove")
    page.screenshot(path=shots / "proof-tampered.png", full_page=True)

    page.goto("/console/stats?user_id=ann")
    for name in ("volume", "tokens", "latency", "errors", "finish_reasons", "models"):
        labels = page.evaluate(
            "name => Chart.getChart(document.getElementById('chart-' + name))"
            ".data.datasets.map(d => d.label)",
            name,
        )
        assert labels, name
        drawn = page.evaluate(
            "name => { const c = document.getElementById('chart-' + name);"
            " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            " for (let i = 3; i < d.length; i += 4) { if (d[i] !== 0) return true; }"
            " return false; }",
            name,
        )
        assert drawn, f"chart {name} is blank"
    latency = "Chart.getChart(document.getElementById('chart-latency')).data.datasets"
    assert page.evaluate(f"{latency}.map(d => d.label)") == ["processing", "first chunk"]
    page.screenshot(path=shots / "statistics.png", full_page=True)

    for path in ("/console/chats/chat-hostile", "/console/chats/chat-hostile/replay?version=3",
                 "/console/search?chat_id=chat-hostile"):  # fmt: skip
        page.goto(path)
        assert page.evaluate("window.__pwned === undefined"), path
        assert page.locator("#injected").count() == 0, path
    expect(page.locator("#results")).to_contain_text("chat-hostile")
    page.goto("/console/chats/chat-hostile")
    expect(page.locator("#messages")).to_contain_text("<script>window.__pwned = 1</script>")
    page.screenshot(path=shots / "hostile.png", full_page=True)

    erase_user_and_keys(api.services.read_side, api.services.keys, "zed",
                        reason="GDPR Art. 17, ticket 118", requested_by="dpo-7")  # fmt: skip
    page.goto("/console/erasures")
    expect(page.locator("#erasures")).to_contain_text("GDPR Art. 17, ticket 118")
    page.screenshot(path=shots / "erasures.png", full_page=True)
    page.click("#sign-out")
    expect(page).to_have_url(f"{api.base_url}/console/login")
    response = page.goto("/console/search")
    assert response is not None and response.status == 401
    assert ran == []
    context.close()


def auditor_page(api: Api, browser: Browser, key_user: str) -> tuple[BrowserContext, Page]:
    secret = api.services.keys.create(key_user, Role.auditor).secret
    context = browser.new_context(base_url=api.base_url, viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.goto("/console/login")
    page.fill("#api-key", secret)
    page.click("#sign-in")
    expect(page).to_have_url(f"{api.base_url}/console/search")
    return context, page


def test_every_link_from_the_chat_list_lands_on_that_chat(api: Api, browser: Browser) -> None:
    """Ids a browser would take apart if they were not one encoded segment: `a/b/../c` would
    be chat `a/c` (another user's), `a/proof` the proof of chat `a`, `q#x` chat `q`."""
    alice = {"a/b/../c": "Plan of alice", "a/proof": "Proofs of alice", "q#x": "Fragment of alice"}
    oscar = {"a/c": "Secret of oscar", "a": "Other secret of oscar", "q": "Third secret of oscar"}
    pipeline = api.services.pipeline
    for owner, chats in (("alice", alice), ("oscar", oscar)):
        for chat_id, title in chats.items():
            assert pipeline.start_chat(chat_id, owner, title=title).success
            assert pipeline.persist_user_message(chat_id, owner, f"{title}, said").success
    api.settled()
    context, page = auditor_page(api, browser, "auditor-links")
    for chat_id, title in alice.items():
        page.goto("/console/search?user_id=alice&event_type=Started")
        page.locator("a.chat-link", has_text=chat_id).first.click()
        expect(page.locator(".chat-head h1 code")).to_have_text(chat_id)
        expect(page.locator(".chat-title")).to_contain_text(f"{title} · owner alice")
        tabs = {"Time travel": ".chat-head h1 code", "Proof": ".chat-head h1 code",
                "Statistics": "input[name=chat_id]", "Events": "input[name=chat_id]"}  # fmt: skip
        for tab, names_the_chat in tabs.items():
            page.goto(f"/console/search?user_id=alice&chat_id={quote(chat_id)}")
            page.locator("a.chat-link").first.click()
            page.locator(".chat-head nav.tabs a", has_text=tab).click()
            if names_the_chat.startswith("input"):
                expect(page.locator(names_the_chat)).to_have_value(chat_id)
            else:
                expect(page.locator(names_the_chat)).to_have_text(chat_id)
            if tab == "Proof":
                expect(page.locator(".chat-head h1")).to_have_text(f"Proof of chat {chat_id}")
                expect(page.locator("#chain-verdict")).to_contain_text("Intact: 2 events")
            if tab == "Events":
                expect(page.locator("#results tbody tr")).to_have_count(2)
            assert "oscar" not in page.locator("main").inner_text(), (chat_id, tab)
    context.close()


def test_recorded_bidi_and_invisible_characters_cannot_turn_the_consoles_words(
    api: Api, browser: Browser
) -> None:
    """A right-to-left override in a title would reverse the page's own words after it ("owner
    mallory" read "yrollam renwo"): each recorded value is isolated in a <bdi>, and every
    character that shows nothing or turns the text is shown as a marker."""
    pipeline = api.services.pipeline
    assert pipeline.start_chat("chat-bidi", "mallory", title="\u202eTitle", model="gpt-4o").success
    assert pipeline.persist_user_message("chat-bidi", "mallory", "\u202eevil a\u200bb",
                                         message_id="bidi-1").success  # fmt: skip
    api.settled()
    context, page = auditor_page(api, browser, "auditor-bidi")
    page.goto("/console/chats/chat-bidi")
    title = page.locator(".chat-title")
    expect(title).to_contain_text("<U+202E>Title · owner mallory · model gpt-4o")
    expect(title.locator("bdi .ctl").first).to_have_text("<U+202E>")
    expect(page.locator(".content bdi")).to_have_text("<U+202E>evil a<U+200B>b")
    shown = page.locator("body").inner_text()
    assert not any(char in shown for char in ("\u202e", "\u200b")), shown
    for word in ("owner", "model", "tokens"):  # drawn left to right, as they read
        first, last = page.evaluate(FIRST_AND_LAST_LETTER_X, word)
        assert first < last, word
    page.screenshot(path=artefacts(backend_of(api)) / "bidi.png", full_page=True)
    context.close()


# Where the first and the last letter of the first occurrence of a word are drawn.
FIRST_AND_LAST_LETTER_X = """word => {
  const walker = document.createTreeWalker(document.querySelector("main"), NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const at = node.data.indexOf(word);
    if (at < 0) { continue; }
    const range = document.createRange();
    const x = i => { range.setStart(node, at + i); range.setEnd(node, at + i + 1);
                     return range.getBoundingClientRect().left; };
    return [x(0), x(word.length - 1)];
  }
  throw new Error("not on the page: " + word);
}"""


def backend_of(api: Api) -> str:
    return "sqlite" if api.database_url.startswith("sqlite") else "postgres"
