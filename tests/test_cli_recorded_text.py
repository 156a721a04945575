"""The command line shows recorded text as it was recorded, on both backends: Rich markup and
emoji codes in it are printed as they are, and characters that would hide or reorder text on a
terminal (controls, bidi overrides, zero-width) show as `<U+XXXX>` markers. Run as a person
runs it: `python -m chatledger` in a process of its own, its output not a terminal."""

from __future__ import annotations

import os
import subprocess
import sys

from chatledger.domain.pipeline import PersistencePipeline

CHAT = "chat:warning:"  # an emoji code is a valid id: it must not turn into a picture
USER = "u:smile:"
MODEL = "gpt:thumbs_up:"
PAYLOADS = {
    "[bold]x[/bold]": "[bold]x[/bold]",
    "[erased]": "[erased]",
    "\u202eevil": "<U+202E>evil",
    "a\u200bb": "a<U+200B>b",
    "\x1b[31mred": "<U+001B>[31mred",
}
HIDDEN = ("\u202e", "\u200b", "\x1b")


def chatledger(*arguments: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "chatledger", *arguments], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def record_payloads(pipeline: PersistencePipeline) -> None:
    assert pipeline.start_chat(CHAT, USER, title="[bold]title[/bold]", model=MODEL).success
    for index, content in enumerate(PAYLOADS):
        recorded = pipeline.persist_assistant_message(CHAT, USER, content, model=MODEL,
                                                      message_id=f"m{index}")  # fmt: skip
        assert recorded.success, recorded.error


def shown_literally(output: str) -> None:
    for shown in (*PAYLOADS.values(), CHAT, USER):
        assert shown in output, (shown, output)
    assert not any(char in output for char in HIDDEN), output


def test_replay_prints_recorded_content_as_it_was_recorded(
    pipeline: PersistencePipeline, database_url: str
) -> None:
    record_payloads(pipeline)
    replayed = chatledger("replay", CHAT, "--database-url", database_url)
    assert replayed.returncode == 0, replayed.stderr
    shown_literally(replayed.stdout)


def test_audit_stats_and_key_tables_print_recorded_ids_as_they_are(
    pipeline: PersistencePipeline, database_url: str
) -> None:
    record_payloads(pipeline)
    audit = chatledger("audit", "--chat", CHAT, "--database-url", database_url)
    assert audit.returncode == 0, audit.stderr
    assert CHAT in audit.stdout and USER in audit.stdout, audit.stdout
    assert chatledger("project", "--database-url", database_url).returncode == 0  # PostgreSQL's
    stats = chatledger("stats", "--user", USER, "--database-url", database_url)
    assert stats.returncode == 0, stats.stderr
    assert f"statistics of user:{USER}" in stats.stdout and MODEL in stats.stdout, stats.stdout
    created = chatledger("keys", "create", "--user", USER, "--role", "auditor", "--database-url",
                         database_url)  # fmt: skip
    assert created.returncode == 0, created.stderr
    listed = chatledger("keys", "list", "--database-url", database_url)
    assert USER in listed.stdout, listed.stdout


def test_a_second_erasure_warns_in_plain_words(
    pipeline: PersistencePipeline, database_url: str
) -> None:
    record_payloads(pipeline)
    erase = ("erase-user", USER, "--reason", "asked", "--requested-by", "dpo", "--database-url",
             database_url)  # fmt: skip
    assert chatledger(*erase).returncode == 0
    again = chatledger(*erase)
    assert again.returncode == 0, again.stderr
    assert again.stderr.startswith("warning: this user was already erased at "), again.stderr
    assert f"erasure of {USER}" in again.stdout, again.stdout
    replayed = chatledger("replay", CHAT, "--database-url", database_url)
    assert replayed.stdout.count("[erased]") == len(PAYLOADS), replayed.stdout
