"""Following the log: keep every read model current until stopped, through a store that goes
away and comes back (`chatledger project --follow`, and the HTTP service beside its requests)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import structlog
from eventsourcing.persistence import PersistenceError

from chatledger.projections.read_side import ReadSide
from chatledger.projections.runner import ProjectionRunner

MAX_PAUSE_S = 5.0  # the longest a followed projection waits between attempts at a failing store


@contextmanager
def following(read_side: ReadSide, poll_seconds: float) -> Iterator[None]:
    """Every projection followed in its own thread until the block ends."""
    stop, failed = threading.Event(), threading.Event()
    threads = [
        threading.Thread(
            target=keep_following,
            args=(runner, stop, poll_seconds, failed),
            name=f"follow-{name}",
            daemon=True,
        )
        for name, runner in read_side.runners.items()
    ]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def follow_until_stopped(read_side: ReadSide, poll_seconds: float, stop: threading.Event) -> bool:
    """Each projection in its own thread, catching up and then polling, until `stop` is set.
    False when a projection failed at some point for another reason than the store's."""
    log = structlog.get_logger("chatledger.projections")
    log.warning("following", projections=list(read_side.runners))
    failed = threading.Event()
    threads = [
        threading.Thread(
            target=keep_following, args=(runner, stop, poll_seconds, failed), name=f"follow-{name}"
        )
        for name, runner in read_side.runners.items()
    ]
    for thread in threads:
        thread.start()
    stop.wait()
    for thread in threads:
        thread.join()
    try:
        positions: dict[str, int] | None = {s.name: s.position for s in read_side.status()}
    except PersistenceError:
        positions = None  # the store is away; the positions are safe in it all the same
    log.warning("stopped following", positions=positions)
    return not failed.is_set()


def keep_following(
    runner: ProjectionRunner, stop: threading.Event, poll_seconds: float, failed: threading.Event
) -> None:
    """Keep one view current. A store that fails (its server went away, a timeout) pauses the
    projection, which tries again, backing off, until the store answers: nothing to restart.
    An event this projection cannot apply (a bug, or an event recorded before a bound existed)
    holds back this projection only: it tries again every MAX_PAUSE_S, logging each failure,
    while the others stay current and the status shows its lag.
    Logs name the error's type only: a driver's message may quote the values of a row."""
    log = structlog.get_logger("chatledger.projections").bind(projection=runner.view.name)
    pause: float | None = None
    while not stop.is_set():
        try:
            applied = runner.catch_up()
        except PersistenceError as error:
            pause = min(MAX_PAUSE_S, 2 * (pause or poll_seconds))
            log.error("projection paused", error=type(error).__name__, retry_in_s=pause)
            stop.wait(pause)
            continue
        except Exception as error:
            failed.set()
            pause = MAX_PAUSE_S
            log.error("projection failed", error=type(error).__name__, retry_in_s=pause)
            stop.wait(pause)
            continue
        if pause is not None:
            log.warning("projection resumed")
            pause = None
        if applied == 0:
            stop.wait(poll_seconds)
