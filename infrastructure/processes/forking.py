"""When a process may fork workers (bulk ingest, rebuilds) rather than start fresh ones."""

from __future__ import annotations

import multiprocessing
import threading


def fork_is_safe() -> bool:
    """fork is offered and no other thread runs: a forked child inherits every lock another
    thread held at that moment (a driver's, a stream's) and may wait on it for ever."""
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
