"""Right to erasure by crypto-shredding: destroy a user's key and record who asked, when and why.

The events stay (the log is append-only and its hash chains cover the ciphertext), so the audit
trail keeps its shape: who, when, which chat, which model, how many tokens. Only the content,
sealed under the destroyed key, can no longer be read by anyone.
"""

from __future__ import annotations

from typing import Annotated

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from pydantic import StringConstraints

from chatledger.domain.application import PIPELINE_VERSION, ChatApplication
from chatledger.domain.boundary import CommandRun, validate
from chatledger.domain.chat import Chat
from chatledger.domain.data_subject import DataSubject, subject_id
from chatledger.domain.errors import ChatLedgerError, ErrorCode
from chatledger.domain.input_types import Identifier, StrictInput
from chatledger.domain.messages import CommandResult
from chatledger.domain.topics import stored_topics

PAGE = 1000
# The sealed fields that earlier releases stored in plaintext: content and titles before
# encryption existed, participants' names before they were sealed.
LEGACY_FIELDS = ("content", "title", "personal_metadata", "name")


class ErasureRequest(StrictInput):
    user_id: Identifier
    requested_by: Identifier
    # The request's grounds as the operator states them: recorded, never logged.
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class ErasureResult(CommandResult):
    user_id: str | None = None
    outcome: str | None = None  # erased | already_erased
    erased_at: str | None = None
    requested_by: str | None = None
    chats: int = 0
    content_events: int = 0
    legacy_plaintext_events: int = 0


class ErasureCommands(ChatApplication):
    def erase_user(self, user_id: str, *, reason: str, requested_by: str) -> ErasureResult:
        """Destroy the user's content key and record the erasure (once: a second request
        answers `already_erased` and records nothing). USER_NOT_FOUND when no chat and no key
        of that user id exist; from then on every write for the user is USER_ERASED."""
        fields = {"user_id": user_id, "reason": reason, "requested_by": requested_by}

        def action(run: CommandRun) -> ErasureResult:
            request = validate(ErasureRequest, **fields)
            run.attempts, run.requested_by = 1, request.requested_by
            earlier = self.erasure_of(request.user_id)
            if earlier is not None:
                self.protector.destroy(request.user_id)  # no-op; completes an interrupted one
                return already_erased(earlier)
            return self.erase(run, request)

        return self._command("erase_user", {"user_id": user_id}, action, ErasureResult)

    def erase(self, run: CommandRun, request: ErasureRequest) -> ErasureResult:
        chats = self.chats_owned_by(request.user_id)
        if not chats and not self.protector.knows(request.user_id):
            raise ChatLedgerError(
                ErrorCode.USER_NOT_FOUND,
                "no chat and no key of this user id: nothing was erased or recorded",
                {"user_id": request.user_id},
            )
        # The key goes first: a message sealed with it meanwhile is unreadable too, and a
        # failure to record the erasure is completed by asking again (the key is gone already).
        key = self.protector.destroy(request.user_id)
        content, legacy = self.count_content(chats)
        subject = DataSubject.erase(
            request.user_id, requested_by=request.requested_by, reason=request.reason,
            key=key.value, chats=len(chats), content_events=content,
            legacy_plaintext_events=legacy, pipeline_version=PIPELINE_VERSION,
        )  # fmt: skip
        try:
            with run.storing():
                self.save(subject)
        except IntegrityError:  # another process recorded the same erasure first
            self.forget(subject_id(request.user_id))
            return already_erased(self.repository.get(subject_id(request.user_id)))
        return erasure_result(subject, "erased", [*legacy_warning(legacy)])

    def erasure_of(self, user_id: str) -> DataSubject | None:
        try:
            subject: DataSubject = self.repository.get(subject_id(user_id))
        except AggregateNotFoundError:
            return None
        return subject

    def chats_owned_by(self, user_id: str) -> list[str]:
        """Scans the chats' first events: erasure is rare, and the log is the authority."""
        chats, start, topics = [], 1, stored_topics(Chat.Started)
        while page := self.recorder.select_notifications(start, PAGE, topics=topics):
            for notification in page:
                started = self.mapper.to_domain_event(notification)
                if isinstance(started, Chat.Started) and started.owner_id == user_id:
                    chats.append(started.originator_id)
            start = page[-1].id + 1
        return chats

    def count_content(self, chats: list[str]) -> tuple[int, int]:
        """Events that hold content (or a title, personal metadata, a participant's name), and
        of those the ones with plaintext from before it was sealed."""
        content = legacy = 0
        for chat_id in chats:
            for event in self.events.get(chat_id):
                stored = [value for value in (getattr(event, name, None) for name in LEGACY_FIELDS)
                          if value]  # fmt: skip
                if stored:
                    content += 1
                    legacy += not all(self.protector.is_sealed(value) for value in stored)
        return content, legacy


def already_erased(subject: DataSubject) -> ErasureResult:
    warning = f"this user was already erased at {subject.created_on.isoformat()}; nothing changed"
    result = erasure_result(subject, "already_erased", [warning])
    return result.model_copy(update={"duplicate": True})


def erasure_result(subject: DataSubject, outcome: str, warnings: list[str]) -> ErasureResult:
    return ErasureResult(
        success=True, version=subject.version, user_id=subject.user_id, outcome=outcome,
        erased_at=subject.created_on.isoformat(), requested_by=subject.requested_by,
        chats=subject.chats, content_events=subject.content_events,
        legacy_plaintext_events=subject.legacy_plaintext_events, warnings=warnings,
    )  # fmt: skip


def legacy_warning(legacy: int) -> list[str]:
    if not legacy:
        return []
    return [f"{legacy} event(s) of this user were stored with plaintext (content before "
            "encryption, names before they were sealed): the read models and exports show them "
            "erased, but the append-only log keeps their bytes (docs/erasure.md)"]  # fmt: skip
