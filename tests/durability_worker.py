"""A writer to kill: one process holding one Ledger, with 16 client threads persisting through
its group commit and a thread keeping the read models current. Each client writes its history
to stdout, one flushed line per step, so that what it was told survives its process.

    python -m tests.durability_worker DATABASE_URL [--clients 16] [--chats 8]

It answers `ready` once open, then reads rounds from stdin, one line each:
`round R MESSAGES [ID ...]`: every client persists the IDs that are its own (the earlier
rounds' messages of unknown or failed outcome, retried with the same id and content), then
MESSAGES new ones; `round-end R` once every client is done. History lines:

    invoke ID | ok ID | duplicate ID | fail ID CODE TYPE | exception ID TYPE

A client retries a PERSISTENCE_ERROR (a new invoke line each time) until the round's deadline:
a server that is killed and restarted meanwhile only delays it.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable

from chatledger.domain.errors import ErrorCode
from chatledger.infrastructure.ledger.ledger import Ledger
from chatledger.infrastructure.observability.structured_logging import configure_logging
from chatledger.infrastructure.settings import Settings

OWNER = "durable-owner"
RETRY_PAUSE_S = 0.05
ROUND_DEADLINE_S = 30.0


def message_id(round_number: int, client: int, index: int) -> str:
    return f"r{round_number}-c{client}-{index}"


def client_of(ident: str) -> int:
    return int(ident.split("-")[1][1:])


def chat_of(client: int, chats: int) -> str:
    return f"durable-{client % chats}"  # two clients per chat: they take turns on its lock


def content_of(ident: str) -> str:
    return f"message {ident}"  # the same for every retry: a changed one would be a CONFLICT


class History:
    """Lines to stdout, whole and flushed, one writer at a time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def write(self, *words: object) -> None:
        with self.lock:
            sys.stdout.write(" ".join(str(w) for w in words) + "\n")
            sys.stdout.flush()


def persist_until_settled(
    ledger: Ledger, history: History, ident: str, chats: int, deadline: float
) -> None:
    """One message: attempts until it is acknowledged, refused, or the deadline passed."""
    chat = chat_of(client_of(ident), chats)
    while True:
        history.write("invoke", ident)
        try:
            result = ledger.persist_user_message(chat, OWNER, content_of(ident), message_id=ident)
        except Exception as error:  # the Ledger promises results, never exceptions
            history.write("exception", ident, type(error).__name__)
            return
        if result.success:
            history.write("duplicate" if result.duplicate else "ok", ident)
            return
        assert result.error is not None
        # The exception's type (OperationalError, ...): which failure a coded error stood for.
        cause = result.error.details.get("error", "-")
        history.write("fail", ident, result.error.code.value, cause)
        if result.error.code != ErrorCode.PERSISTENCE_ERROR or time.monotonic() > deadline:
            return
        time.sleep(RETRY_PAUSE_S)


def run_round(ledger: Ledger, history: History, words: list[str], clients: int, chats: int) -> None:
    round_number, messages, leftovers = int(words[1]), int(words[2]), words[3:]
    deadline = time.monotonic() + ROUND_DEADLINE_S

    def client(number: int) -> None:
        mine = [ident for ident in leftovers if client_of(ident) == number]
        mine += [message_id(round_number, number, i) for i in range(messages)]
        for ident in mine:
            persist_until_settled(ledger, history, ident, chats, deadline)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    history.write("round-end", round_number)


def keep_current(catch_up: Callable[[], object], stop: threading.Event) -> None:
    """The read models follow the writes, so that a kill can land in a projection's commit."""
    while not stop.wait(0.05):
        try:
            catch_up()
        except Exception:  # the store is down for a moment: the next pass resumes
            continue


def start_chats(ledger: Ledger, chats: int) -> None:
    for chat in range(chats):
        while not ledger.start_chat(f"durable-{chat}", OWNER).success:
            time.sleep(RETRY_PAUSE_S)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("database_url")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--chats", type=int, default=8)
    args = parser.parse_args()
    settings = Settings(
        database_url=args.database_url, log_format="json", log_level="warning",
        lock_timeout_s=5, postgres_connect_timeout_s=1, postgres_pool_size=4,
    )  # fmt: skip
    configure_logging(settings.log_format, settings.log_level)
    history = History()
    with Ledger(settings=settings, catch_up_on_read=False) as ledger:
        start_chats(ledger, args.chats)
        stop = threading.Event()
        projector = threading.Thread(target=keep_current, args=(ledger.catch_up, stop))
        projector.start()
        history.write("ready")
        for line in sys.stdin:
            run_round(ledger, history, line.split(), args.clients, args.chats)
        stop.set()
        projector.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
