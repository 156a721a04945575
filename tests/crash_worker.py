"""An ingest process to kill: records a fixed set of messages (user messages and streamed
replies, ids fixed, so a rerun resumes), keeps the read models current in between, and prints
each acknowledged id on its own line, flushed, the moment its command returned success.

    python -m tests.crash_worker DATABASE_URL [--prefix P] [--chats N] [--messages N]

Logs (JSON lines, info level) go to stderr, where the crash tests look for planted secrets.
"""

from __future__ import annotations

import argparse
import sys
import time

from chatledger.domain.messages import CommandResult
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.bootstrap import bootstrap, build_read_side
from chatledger.infrastructure.observability.structured_logging import configure_logging
from chatledger.infrastructure.settings import Settings

OWNER = "crash-owner"
PLANTED_CONTENT = "PLANTED-CONTENT-c0ffee"
PLANTED_KEY = "sk-live-PLANTED-KEY-0123456789"


def chat_of(prefix: str, index: int, chats: int) -> str:
    return f"{prefix}-{index % chats}"


def is_stream(index: int) -> bool:
    return index % 3 == 2


def message_id(index: int) -> str:
    return f"s{index}" if is_stream(index) else f"u{index}"


def acknowledge(kind: str, chat: str, ident: str) -> None:
    sys.stdout.write(f"{kind} {chat} {ident}\n")
    sys.stdout.flush()


def record(pipeline: PersistencePipeline, prefix: str, index: int, chats: int) -> CommandResult:
    chat = chat_of(prefix, index, chats)
    content = f"message {index} {PLANTED_CONTENT}"
    if not is_stream(index):
        return pipeline.persist_user_message(
            chat, OWNER, content, message_id=message_id(index), metadata={"api_key": PLANTED_KEY}
        )
    opened = pipeline.open_stream(chat, OWNER, message_id=message_id(index), model="gpt-4o")
    if opened.stream is None:  # failed, or closed by an earlier run: its result says which
        return opened
    acknowledge("opened", chat, message_id(index))
    for start in range(0, len(content), 8):
        opened.stream.add_chunk(content[start : start + 8])
    return pipeline.complete_stream(opened.stream, usage={"input_tokens": 3, "output_tokens": 5})


def hang_mid_stream(pipeline: PersistencePipeline) -> int:
    """Open a stream, send it a few chunks, and wait to be killed: a reply cut off."""
    pipeline.start_chat("cut-off", OWNER, model="gpt-4o")
    opened = pipeline.open_stream("cut-off", OWNER, message_id="s-cut", model="gpt-4o")
    if opened.stream is None:
        return 1
    opened.stream.add_chunk(f"half a reply {PLANTED_CONTENT}")
    acknowledge("opened", "cut-off", "s-cut")
    time.sleep(600)
    return 1


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("database_url")
    parser.add_argument("--prefix", default="crash", help="of the chat ids")
    parser.add_argument("--chats", type=int, default=4)
    parser.add_argument("--messages", type=int, default=120)
    parser.add_argument("--hang-mid-stream", action="store_true")
    args = parser.parse_args()
    settings = Settings(database_url=args.database_url, log_format="json", lock_timeout_s=5)
    configure_logging(settings.log_format, settings.log_level)
    pipeline = bootstrap(settings)
    if args.hang_mid_stream:
        return hang_mid_stream(pipeline)
    read_side = build_read_side(settings, pipeline, catch_up_on_read=False, batch_size=7)
    for chat in range(args.chats):
        if not pipeline.start_chat(f"{args.prefix}-{chat}", OWNER, model="gpt-4o").success:
            return 1
    acknowledge("ready", "-", "-")
    for index in range(args.messages):
        result = record(pipeline, args.prefix, index, args.chats)
        if not result.success:
            return 1
        acknowledge("recorded", chat_of(args.prefix, index, args.chats), message_id(index))
        if index % 10 == 9:  # small batches: a kill may land inside a projection's commit too
            read_side.catch_up()
    read_side.catch_up()
    acknowledge("done", "-", "-")
    return 0


if __name__ == "__main__":
    sys.exit(main())
