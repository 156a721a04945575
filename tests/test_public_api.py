"""The public API: Ledger and AsyncLedger from `chatledger`, on every backend; the event loop keeps
running while the store is locked; awaiting callers share group commit; the host application's
logging is left as it was."""

from __future__ import annotations

import asyncio
import itertools
import logging
import logging.config
import subprocess
import sys
import time
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from chatledger import AsyncLedger, ErrorCode, Ledger, Settings
from chatledger.infrastructure.tokenizer.tiktoken_counter import TiktokenCounter
from tests.test_group_commit import RoundRecorder
from tests.test_store_failures import table_locked_by_another_writer


def record_a_conversation(ledger: Ledger) -> None:
    assert ledger.start_chat("chat-1", "alice", title="Support", model="gpt-4o").success
    user = ledger.persist_user_message("chat-1", "alice", "Why was I charged twice? 🧾",
                                       message_id="m-1")  # fmt: skip
    assert user.success, user.error
    reply = ledger.persist_assistant_message("chat-1", "alice", "A refund is on its way.",
                                             model="gpt-4o", message_id="m-2")  # fmt: skip
    assert reply.success, reply.error
    opened = ledger.open_stream("chat-1", "alice", model="gpt-4o")
    assert opened.stream is not None
    for chunk in ["It ", "arrives ", "Monday."]:
        opened.stream.add_chunk(chunk)
    assert ledger.complete_stream(opened.stream).success


def test_ledger_records_reads_replays_and_verifies(
    database_url: str, token_counter: TiktokenCounter
) -> None:
    with Ledger(database_url, token_counter=token_counter, catch_up_on_read=True) as ledger:
        record_a_conversation(ledger)
        again = ledger.persist_user_message("chat-1", "alice", "Why was I charged twice? 🧾",
                                            message_id="m-1")  # fmt: skip
        assert again.duplicate

        stats = ledger.stats("alice")
        assert stats.stats is not None
        assert stats.stats.messages == 3
        trail = ledger.audit_trail("alice", chat_id="chat-1")
        assert [r["event_type"] for r in trail.records][:2] == ["Started", "UserMessageRecorded"]
        replay = ledger.replay_chat("chat-1", "alice")
        assert replay.chat is not None
        assert [m["content"] for m in replay.chat.messages][:2] == [
            "Why was I charged twice? 🧾", "A refund is on its way."
        ]  # fmt: skip
        report = ledger.verify()
        assert report.intact and report.chats == 1 and report.events == 5
        assert ledger.verify("chat-1").intact

        refused = ledger.stats("mallory", chat_id="chat-1")
        assert refused.error is not None and refused.error.code == ErrorCode.UNAUTHORIZED
        erased = ledger.erase_user("alice", reason="GDPR Art. 17", requested_by="dpo-1")
        assert erased.success, erased.error
        after = ledger.replay_chat("chat-1", "alice").chat
        assert after is not None and after.messages[0]["content"] == "[erased]"


def test_a_ledger_opens_from_settings_and_the_url_wins(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/from-settings.sqlite")
    with Ledger(settings=settings) as ledger:
        assert ledger.start_chat("chat-1", "alice").success
    assert (tmp_path / "from-settings.sqlite").exists()
    with Ledger(f"sqlite:///{tmp_path}/from-url.sqlite", settings=settings) as ledger:
        assert ledger.settings.lock_timeout_s == settings.lock_timeout_s
    assert (tmp_path / "from-url.sqlite").exists()


def test_async_ledger_records_and_reads_under_asyncio(
    database_url: str, token_counter: TiktokenCounter
) -> None:
    async def main() -> None:
        ledger = await AsyncLedger.open(database_url, token_counter=token_counter,
                                        catch_up_on_read=True)  # fmt: skip
        async with ledger:
            assert (await ledger.start_chat("chat-1", "alice", model="gpt-4o")).success
            results = await asyncio.gather(*(
                ledger.persist_user_message("chat-1", "alice", f"question {n}", message_id=f"m-{n}")
                for n in range(20)
            ))  # fmt: skip
            assert all(r.success for r in results), [r.error for r in results]
            stats = await ledger.stats("alice", chat_id="chat-1")
            assert stats.stats is not None and stats.stats.messages == 20
            assert (await ledger.verify("chat-1")).intact

    asyncio.run(main())


def test_the_event_loop_keeps_ticking_while_the_store_is_locked(
    database_url: str, token_counter: TiktokenCounter
) -> None:
    """A write that waits a second for a locked table must not hold the loop: a heartbeat
    task every 10 ms sees no gap near that second."""

    async def main() -> tuple[float, float, bool]:
        ledger = await AsyncLedger.open(
            database_url, token_counter=token_counter,
            settings=Settings(lock_timeout_s=1),
        )  # fmt: skip
        async with ledger:
            assert (await ledger.start_chat("chat-1", "alice")).success
            beats: list[float] = []

            async def heartbeat() -> None:
                while True:
                    beats.append(time.monotonic())
                    await asyncio.sleep(0.01)

            ticking = asyncio.create_task(heartbeat())
            with table_locked_by_another_writer(database_url):
                started = time.monotonic()
                result = await ledger.persist_user_message("chat-1", "alice", "hi", message_id="m")
                waited = time.monotonic() - started
            ticking.cancel()
            gaps = [later - earlier for earlier, later in itertools.pairwise(beats)]
            return waited, max(gaps), result.success

    waited, longest_gap, recorded = asyncio.run(main())
    assert not recorded  # the lock outlasted the timeout: PERSISTENCE_ERROR, nothing recorded
    assert waited >= 0.9
    assert longest_gap < 0.5, f"the loop stalled for {longest_gap:.3f} s"


def test_awaiting_callers_share_group_commit(
    database_url: str, token_counter: TiktokenCounter
) -> None:
    async def main() -> list[int]:
        ledger = await AsyncLedger.open(database_url, token_counter=token_counter)
        async with ledger:
            chats = [f"chat-{n}" for n in range(9)]
            for chat_id in chats:
                assert (await ledger.start_chat(chat_id, "alice")).success
            rounds = RoundRecorder(ledger.ledger.pipeline)
            first = asyncio.create_task(
                ledger.persist_user_message(chats[0], "alice", "hello", message_id="m-0")
            )
            await asyncio.to_thread(rounds.first_round_started.wait, 10)
            rest = [
                asyncio.create_task(ledger.persist_user_message(c, "alice", "hi", message_id="m"))
                for c in chats[1:]
            ]
            group_commit = ledger.ledger.pipeline.group_commit
            for _ in range(1000):  # until the eight queue behind the held first commit
                if len(group_commit.waiting) == len(rest):
                    break
                await asyncio.sleep(0.01)
            rounds.release_first_round.set()
            results = await asyncio.gather(first, *rest)
            assert all(r.success for r in results), [r.error for r in results]
            return rounds.rounds

    rounds = asyncio.run(main())
    assert rounds == [1, 8]  # the eight awaiting callers shared one transaction


def test_the_host_applications_logging_is_left_alone(
    tmp_path: Path, token_counter: TiktokenCounter
) -> None:
    """A host that configured structlog and the standard library keeps its configuration, and
    the library's log lines go through the host's processors."""
    host_processors = [structlog.processors.add_log_level, structlog.testing.LogCapture()]
    structlog.configure(processors=host_processors)  # type: ignore[arg-type]
    host_config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    with Ledger(f"sqlite:///{tmp_path}/host.sqlite", token_counter=token_counter) as ledger:
        assert ledger.start_chat("chat-1", "alice").success
        assert ledger.persist_user_message(
            "chat-1", "alice", "secret words", message_id="m"
        ).success
        ledger.stats("alice")

    assert structlog.get_config() == host_config
    assert structlog.get_config()["processors"] is host_config["processors"]
    assert (root.handlers, root.level) == (handlers, level)
    capture = host_processors[1]
    assert isinstance(capture, structlog.testing.LogCapture)
    logged = [entry for entry in capture.entries if entry.get("message_id") == "m"]
    assert logged and logged[0]["chat_id"] == "chat-1"
    assert all("secret words" not in str(entry) for entry in capture.entries)


def test_the_library_never_configures_logging(
    tmp_path: Path, token_counter: TiktokenCounter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening, recording and reading call no configuration function of structlog or the
    standard library; the library's lines are logged all the same, through structlog."""
    calls: list[str] = []
    with capture_logs() as logs:
        for module, name in ((structlog, "configure"), (structlog, "configure_once"),
                             (logging, "basicConfig"), (logging.config, "dictConfig")):  # fmt: skip
            monkeypatch.setattr(module, name, lambda *a, name=name, **k: calls.append(name))
        url = f"sqlite:///{tmp_path}/quiet.sqlite"
        with Ledger(url, token_counter=token_counter) as ledger:
            assert ledger.start_chat("chat-1", "alice").success
            ledger.stats("alice")
        monkeypatch.undo()
    assert calls == []
    assert [entry["event"] for entry in logs if entry.get("chat_id") == "chat-1"] == ["start_chat"]


@pytest.mark.parametrize("name", ["Ledger", "AsyncLedger", "CommandResult", "ErrorCode",
                                  "Settings", "VerifyReport", "__version__"])  # fmt: skip
def test_everything_a_user_needs_is_importable_from_chatledger(name: str) -> None:
    import chatledger

    assert name in chatledger.__all__
    assert getattr(chatledger, name) is not None


@pytest.mark.parametrize(("package", "drop_in"), [("openai", "record_openai"),
                                                  ("anthropic", "record_anthropic")])  # fmt: skip
def test_a_drop_in_without_its_sdk_names_the_extra_to_install(package: str, drop_in: str) -> None:
    code = (f"import sys; sys.modules[{package!r}] = None\n"
            f"from chatledger import {drop_in}, MissingExtraError\n"
            f"try:\n    {drop_in}(object(), None)\n"
            "except MissingExtraError as error:\n    print(error)")  # fmt: skip
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert f"pip install 'chatledger[{package}]'" in shown.stdout, shown.stderr
