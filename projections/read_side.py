"""The read side as the application sees it: projections kept current, and the queries."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Field

from chatledger.domain.boundary import CommandRun, loggable_id, run_command, validate
from chatledger.domain.erasure import ErasureResult
from chatledger.domain.errors import ChatLedgerError, ErrorCode
from chatledger.domain.event_types import EventType
from chatledger.domain.input_types import Identifier, StrictInput
from chatledger.domain.messages import CommandResult
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.domain.query_bounds import Instant, Limit, Position, Version
from chatledger.domain.unreadable_events import UnreadableEvent
from chatledger.projections.audit_export import audit_page, audit_records
from chatledger.projections.damage import (
    damaged_chats,
    owned_chat_damage,
    store_damage,
    users_damaged_chats,
)
from chatledger.projections.listing import (
    ChatListQuery,
    ChatListResult,
    MessageFilter,
    MessageListQuery,
    MessageListResult,
    without_content,
)
from chatledger.projections.projections import build_projection
from chatledger.projections.quarantine import DamagedChat, QuarantinedEvent
from chatledger.projections.replay import ChatAsOf, events_before_damage, replay_events
from chatledger.projections.row_check import ChatRowCheck
from chatledger.projections.runner import ChangeMaker, Progress, ProjectionRunner, ProjectionStatus
from chatledger.projections.stats import PersistenceStats, since_hour, summarise
from chatledger.projections.verification import ChainVerifier, VerifyResult
from chatledger.projections.views import (
    AuditFilter,
    AuditIndexView,
    MessageTableView,
    ReadModelView,
    StatsView,
)

MAX_RANGE_HOURS = 24 * 366


class StatsQuery(StrictInput):
    user_id: Identifier
    chat_id: Identifier | None = None
    time_range_hours: Annotated[int, Field(ge=1, le=MAX_RANGE_HOURS)] | None = None


class StatsResult(CommandResult):
    stats: PersistenceStats | None = None
    damaged_chats: list[DamagedChat] = Field(default_factory=list)


class ReplayQuery(StrictInput):
    chat_id: Identifier
    user_id: Identifier
    to_version: Version | None = None
    at: Instant | None = None  # ISO text too: the CLI and HTTP clients send text


class ReplayResult(CommandResult):
    chat: ChatAsOf | None = None


class AuditFilterInput(StrictInput):
    """What the audit index can be filtered by: anything that is not an id, an event type or a
    time (with its zone) is refused before any SQL."""

    user_id: Identifier | None = None
    chat_id: Identifier | None = None
    message_id: Identifier | None = None
    event_types: Annotated[list[EventType], Field(max_length=16)] = Field(default_factory=list)
    since: Instant | None = None
    until: Instant | None = None

    def to_filter(self) -> AuditFilter:
        return AuditFilter(
            self.user_id, self.chat_id, self.message_id, tuple(self.event_types),
            _utc_text(self.since), _utc_text(self.until),
        )  # fmt: skip


class AuditQuery(AuditFilterInput):
    user_id: Identifier
    after_position: Position = 0
    limit: Limit = 100
    with_content: bool = False


class AuditTrailResult(CommandResult):
    records: list[dict[str, Any]] = Field(default_factory=list)
    next_position: int | None = None  # pass as after_position for the next page; None at the end
    damaged_chats: list[DamagedChat] = Field(default_factory=list)


class ReadSide:
    """Runs the projections of one pipeline and answers queries from their views.

    With `catch_up_on_read` (the embedded default) a query first applies the events recorded
    so far, so a stats query after a persist sees that message (read-your-writes).
    """

    def __init__(
        self,
        pipeline: PersistencePipeline,
        views: Sequence[ReadModelView],
        *,
        catch_up_on_read: bool,
        batch_size: int = 2000,
        change_maker: ChangeMaker | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.catch_up_on_read = catch_up_on_read
        self.runners = {
            view.name: ProjectionRunner(
                pipeline, build_projection(view, pipeline.protector), batch_size, change_maker
            )
            for view in views
        }

    def runner(self, name: str) -> ProjectionRunner:
        return self.runners[name]

    @property
    def messages(self) -> MessageTableView:
        view = self.runners["messages"].view
        assert isinstance(view, MessageTableView)
        return view

    @property
    def stats(self) -> StatsView:
        view = self.runners["stats"].view
        assert isinstance(view, StatsView)
        return view

    @property
    def audit(self) -> AuditIndexView:
        view = self.runners["audit"].view
        assert isinstance(view, AuditIndexView)
        return view

    def quarantined_events(self, chat_ids: Sequence[str] | None = None) -> list[QuarantinedEvent]:
        """What the read models skipped as unreadable (of these chats), in log order."""
        return self.audit.quarantined_events(chat_ids, every_read_model=True)

    def check_owner(self, chat_id: str | None, user_id: str) -> UnreadableEvent | None:
        """That `user_id` owns the chat, if one is named; the owner of a damaged chat is
        answered with the damage instead of an error, so that reads go on without it."""
        return None if chat_id is None else owned_chat_damage(self.pipeline, chat_id, user_id)

    def damage_in_scope(
        self, user_id: str, chat_id: str | None, unreadable: UnreadableEvent | None = None
    ) -> list[DamagedChat]:
        """The damaged chats an answer covers (one chat, or all of a user's): quarantined by a
        read model, or found undecodable in the store while answering."""
        if chat_id is None:
            return users_damaged_chats(self.pipeline, self.quarantined_events(), user_id)
        damaged = damaged_chats(self.quarantined_events([chat_id]))
        if unreadable is not None and not damaged:
            damaged = [store_damage(unreadable)]
        return damaged

    def damaged_chats(self, where: AuditFilter) -> list[DamagedChat]:
        """The damaged chats an operator's query covers: of its chat, or of its user, or all."""
        if where.chat_id is not None:
            return damaged_chats(self.quarantined_events([where.chat_id]))
        if where.user_id is not None:
            return users_damaged_chats(self.pipeline, self.quarantined_events(), where.user_id)
        return damaged_chats(self.quarantined_events())

    def catch_up(self, names: Sequence[str] | None = None) -> dict[str, int]:
        return {name: self.runners[name].catch_up() for name in names or self.runners}

    def status(self) -> list[ProjectionStatus]:
        return [runner.status() for runner in self.runners.values()]

    def rebuild(self, name: str, progress: Progress | None = None, *, restart: bool = False) -> int:
        return self.runners[name].rebuild(progress, restart=restart)

    def verifier(self) -> ChainVerifier:
        """Verify's checks: the hash chains, and each row of the read models against its event."""
        return ChainVerifier(self.pipeline, ChatRowCheck(self.pipeline, self.audit, self.messages))

    def verify(self, chat_id: str | None = None) -> VerifyResult:
        """Recompute the hash chains from the stored events, and check the read models' rows
        against their events: every chat's, or one chat's (an operator's query: any chat; an
        unknown one answers CHAT_NOT_FOUND)."""

        def action(run: CommandRun) -> VerifyResult:
            report = self.verifier().verify(chat_id)
            return VerifyResult(success=True, chat_id=chat_id, intact=report.intact,
                                events=report.events, chats=report.chats,
                                broken=report.broken, mismatches=report.mismatches)  # fmt: skip

        run = CommandRun("verify", loggable_id(chat_id), writes=False)
        return run_command(self.pipeline.observer, run, action, VerifyResult)

    def get_message_persistence_stats(
        self,
        user_id: str,
        chat_id: str | None = None,
        time_range_hours: int | None = None,
        now: datetime | None = None,
    ) -> StatsResult:
        """Statistics of one user, of one of the user's chats, optionally over the last N hours
        (hour-aligned). Answered from pre-aggregated counters."""
        fields: dict[str, Any] = {"user_id": user_id, "chat_id": chat_id,
                                  "time_range_hours": time_range_hours}  # fmt: skip

        def action(run: CommandRun) -> StatsResult:
            query = validate(StatsQuery, **fields)
            unreadable = self.check_owner(query.chat_id, query.user_id)
            if self.catch_up_on_read:
                self.runners["stats"].catch_up()
            damaged = self.damage_in_scope(query.user_id, query.chat_id, unreadable)
            scope = f"chat:{query.chat_id}" if query.chat_id else f"user:{query.user_id}"
            since = None
            if query.time_range_hours is not None:
                since = since_hour(now or datetime.now(UTC), query.time_range_hours)
            stats = summarise(scope, since, self.stats.counters(scope, since))
            return StatsResult(success=True, chat_id=query.chat_id, stats=stats,
                               damaged_chats=damaged,
                               warnings=[chat.warning() for chat in damaged])  # fmt: skip

        run = CommandRun(
            "get_message_persistence_stats",
            loggable_id(chat_id),
            loggable_id(user_id),
            writes=False,
        )
        return run_command(self.pipeline.observer, run, action, StatsResult)

    def replay_chat(
        self,
        chat_id: str,
        user_id: str,
        to_version: int | None = None,
        at: datetime | str | None = None,
        with_timeline: bool = True,
    ) -> ReplayResult:
        """The chat as it was at a version and/or a time (ISO text or aware datetime), from its
        events alone; only its owner may replay it."""
        fields: dict[str, Any] = {"chat_id": chat_id, "user_id": user_id,
                                  "to_version": to_version, "at": at}  # fmt: skip

        def action(run: CommandRun) -> ReplayResult:
            query = validate(ReplayQuery, **fields)
            self.check_owner(query.chat_id, query.user_id)
            events, unreadable = events_before_damage(
                self.pipeline, query.chat_id, query.to_version
            )
            chat = replay_events(events, query.to_version, query.at, self.pipeline.protector)
            if chat is None and unreadable is not None:
                raise ChatLedgerError(ErrorCode.CHAT_DAMAGED, "an event of this chat cannot be "
                                      "read", unreadable.details())  # fmt: skip
            if chat is None:
                raise ChatLedgerError(ErrorCode.VALIDATION_ERROR, "the chat did not exist yet then",
                                      {"chat_id": query.chat_id})  # fmt: skip
            damaged = self.damage_in_scope(query.user_id, query.chat_id, unreadable)
            chat.damaged = damaged[0] if damaged else None
            if not with_timeline:
                chat.timeline = []
            warnings = [chat.damaged.warning()] if chat.damaged else []
            return ReplayResult(success=True, chat_id=chat.chat_id, version=chat.version, chat=chat,
                                warnings=warnings)  # fmt: skip

        run = CommandRun("replay_chat", loggable_id(chat_id), loggable_id(user_id), writes=False)
        return run_command(self.pipeline.observer, run, action, ReplayResult)

    def audit_trail(self, /, user_id: str, **filters: Any) -> AuditTrailResult:
        """One page of the caller's own audit trail, in event order: the events of the chats
        `user_id` owns, or of one of them (`chat_id`), filtered by `message_id`, `event_types`,
        `since` and `until`; paged with `after_position` and `limit`; content only with
        `with_content`. Another user's chat is UNAUTHORIZED, an unknown one CHAT_NOT_FOUND."""
        fields = {"user_id": user_id, **filters}

        def action(run: CommandRun) -> AuditTrailResult:
            query = validate(AuditQuery, **fields)
            unreadable = self.check_owner(query.chat_id, query.user_id)
            self.runners["audit"].catch_up()
            damaged = self.damage_in_scope(query.user_id, query.chat_id, unreadable)
            where = query.to_filter()
            records = audit_page(self.pipeline, self.audit, where, query.after_position,
                                 query.limit, with_content=query.with_content)  # fmt: skip
            after = records[-1]["position"] if len(records) == query.limit else None
            return AuditTrailResult(
                success=True, chat_id=query.chat_id, records=records, next_position=after,
                damaged_chats=damaged, warnings=[chat.warning() for chat in damaged],
            )  # fmt: skip

        run = CommandRun("audit_trail", loggable_id(filters.get("chat_id")), loggable_id(user_id),
                         writes=False)  # fmt: skip
        return run_command(self.pipeline.observer, run, action, AuditTrailResult)

    def list_chats(self, /, user_id: str, **filters: Any) -> ChatListResult:
        """One page of a user's chats, latest activity first (the audit index): `since` and
        `until` bound the activity counted; `before_position` and `limit` page."""

        def action(run: CommandRun) -> ChatListResult:
            query = validate(ChatListQuery, user_id=user_id, **filters)
            self.runners["audit"].catch_up()
            self.runners["messages"].catch_up()
            where = AuditFilter(query.user_id, since=_utc_text(query.since),
                                until=_utc_text(query.until))  # fmt: skip
            found = self.audit.chats(where, query.before_position, query.limit)
            counts = self.messages.counts([row[0] for row in found])
            damaged = damaged_chats(self.quarantined_events([row[0] for row in found]))
            damaged_ids = {chat.chat_id for chat in damaged}
            chats = [{"chat_id": chat, "first_event_at": first, "last_event_at": last,
                      "events": events, "messages": counts.get(chat, 0),
                      "damaged": chat in damaged_ids}
                     for chat, first, last, events, _ in found]  # fmt: skip
            after = found[-1][4] if len(found) == query.limit else None
            return ChatListResult(success=True, chats=chats, next_position=after,
                                  damaged_chats=damaged,
                                  warnings=[chat.warning() for chat in damaged])  # fmt: skip

        run = CommandRun("list_chats", None, loggable_id(user_id), writes=False)
        return run_command(self.pipeline.observer, run, action, ChatListResult)

    def list_messages(self, /, chat_id: str, user_id: str, **filters: Any) -> MessageListResult:
        """One page of a chat's messages in order (the messages table), filtered by `role`,
        `model`, `status`, `since`, `until`; `after_position` and `limit` page; without
        `with_content`, no content, parts, tool calls, refusal or personal metadata."""

        def action(run: CommandRun) -> MessageListResult:
            query = validate(MessageListQuery, chat_id=chat_id, user_id=user_id, **filters)
            unreadable = self.check_owner(query.chat_id, query.user_id)
            self.runners["messages"].catch_up()
            damaged = self.damage_in_scope(query.user_id, query.chat_id, unreadable)
            where = MessageFilter(query.role, query.model, query.status, _utc_text(query.since),
                                  _utc_text(query.until))  # fmt: skip
            rows = self.messages.page(query.chat_id, where, query.after_position, query.limit)
            after = rows[-1]["position"] if len(rows) == query.limit else None
            shown = rows if query.with_content else [without_content(r) for r in rows]
            return MessageListResult(success=True, chat_id=query.chat_id, messages=shown,
                                     next_position=after, damaged_chats=damaged,
                                     warnings=[chat.warning() for chat in damaged])  # fmt: skip

        run = CommandRun("list_messages", loggable_id(chat_id), loggable_id(user_id), writes=False)
        return run_command(self.pipeline.observer, run, action, MessageListResult)

    def audit_records(
        self, where: AuditFilter, *, with_content: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Every audit record that matches, in event order: the operator's export, with no
        owner check (the operator holds the database anyway); applications that answer users
        use audit_trail(), which only shows the caller's own chats. The index is caught up
        first."""
        self.runners["audit"].catch_up()
        return audit_records(self.pipeline, self.audit, where, with_content=with_content)

    def erase_user(self, user_id: str, *, reason: str, requested_by: str) -> ErasureResult:
        """Erase a user (pipeline.erase_user) and apply the erasure to the read models at once,
        instead of at the next catch-up: their copies of the user's content go now."""
        result = self.pipeline.erase_user(user_id, reason=reason, requested_by=requested_by)
        if result.success:
            self.catch_up()
        return result

    def close(self) -> None:
        for runner in self.runners.values():
            runner.view.close()


def _utc_text(moment: datetime | None) -> str | None:
    """The audit index's own time format (ISO text in UTC, as an Instant is), so that text
    order is time order."""
    return None if moment is None else moment.isoformat()
