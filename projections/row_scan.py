"""The whole log's read model rows, looked over in verify's one pass over the log at a few
queries a page: the audit index is merged with the log by position (one row per event), the
messages table is looked up by the messages of each page and counted per chat at the end. A
chat where anything looks wrong is then checked row by row (row_check.ChatRowCheck), which
names the mismatches: one definition of what a mismatch is, and a row that moved on while the
pass ran (a stream closed, a new event) is not taken for one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chatledger.domain.chat import Chat
from chatledger.projections.changes import audit_entry
from chatledger.projections.row_check import (
    AUDIT_INDEX,
    CLOSING_EVENTS,
    MESSAGES,
    PAGE,
    ChatRowCheck,
    RowMismatch,
    row_mismatches,
)
from chatledger.projections.views import AuditFilter

# A page's events by position: the decoded event, or None for one that is not checked here
# (undecodable, or of a chat whose chain broke before it: verify names those already).
PageEvents = Mapping[int, Any]


class LogRowScan:
    def __init__(self, check: ChatRowCheck) -> None:
        self.check = check
        self.reached: dict[str, int] = {}
        self.skipped: dict[str, set[int]] = {}
        for name, view in check.views.items():
            self.reached[name] = view.position(view.generations().current) or 0
            self.skipped[name] = {q.position for q in view.quarantined_events(limit=10**9)}
        self.after = 0  # the audit index is merged up to here
        self.suspects: dict[str, dict[int, int]] = {}  # chat -> version -> position, if known
        self.message_rows: dict[str, int] = {}  # rows found, per chat, at their first events
        self.later: set[tuple[str, int]] = set()  # (chat, version) that a messages row claims

    def expects(self, read_model: str, position: int) -> bool:
        """Whether the read model has applied the event at `position` (so has its row)."""
        return position <= self.reached[read_model] and position not in self.skipped[read_model]

    def suspect(self, chat_id: str, event: Any = None, position: int = 0) -> None:
        known = self.suspects.setdefault(chat_id, {})
        if event is not None:
            known[event.originator_version] = position

    def scan(self, events: PageEvents, last: int) -> None:
        """A page of the log: its events by position, up to position `last`."""
        self.scan_audit_index(events, last)
        self.scan_messages(events)
        self.after = last

    def scan_audit_index(self, events: PageEvents, last: int) -> None:
        entries = self.check.audit.entries(AuditFilter(), self.after, last - self.after)
        rows = {entry.position: entry for entry in entries if entry.position <= last}
        for position, entry in rows.items():
            event = events.get(position)
            if position not in events:  # no event there: the row stands for none
                self.suspect(entry.chat_id)
            elif event is not None and entry != audit_entry(event, position):
                self.suspect(str(event.originator_id), event, position)
                self.suspect(entry.chat_id)
        for position, event in events.items():
            if event is not None and position not in rows and self.expects(AUDIT_INDEX, position):
                self.suspect(str(event.originator_id), event, position)

    def scan_messages(self, events: PageEvents) -> None:
        messages = {p: e for p, e in events.items() if isinstance(e, Chat.MessageEvent)}
        keys = list(dict.fromkeys((str(e.originator_id), e.message_id) for e in messages.values()))
        rows = self.check.messages.rows_of(keys)
        for position, event in messages.items():
            chat_id, version = str(event.originator_id), event.originator_version
            row = rows.get((chat_id, event.message_id))
            if row is not None and not isinstance(event, CLOSING_EVENTS):
                self.message_rows[chat_id] = self.message_rows.get(chat_id, 0) + 1
            if row is not None and row["version"] > version:
                self.later.add((chat_id, row["version"]))  # checked when the pass gets there
            elif row is not None and row["version"] == version:
                self.later.discard((chat_id, version))
                if row_mismatches(MESSAGES, row, event, position):
                    self.suspect(chat_id, event, position)
            elif self.expects(MESSAGES, position):  # no row, or one of an earlier event
                self.suspect(chat_id, event, position)

    def mismatches(self) -> list[RowMismatch]:
        """After the pass: rows past its end, rows claiming events it did not find, chats with
        more or fewer rows than it found; then every suspect chat checked row by row."""
        for entry in self.check.audit.entries(AuditFilter(), self.after, PAGE):
            self.suspect(entry.chat_id)  # of events recorded since, or of none
        for chat_id, _ in self.later:
            self.suspect(chat_id)
        for chat_id, count in self.check.messages.counts(None).items():
            if count != self.message_rows.get(chat_id, 0):
                self.suspect(chat_id)
        return [mismatch for chat_id, positions in sorted(self.suspects.items())
                for mismatch in self.check.mismatches(chat_id, positions)]  # fmt: skip
