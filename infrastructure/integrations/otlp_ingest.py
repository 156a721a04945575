"""Recording the GenAI spans of an OTLP export: each span's conversation through
record_conversation, whole or not at all, so that a span sent twice, or a later span that
resends the history, records nothing again. What cannot be recorded is counted by reason."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import structlog

from chatledger.infrastructure.integrations.genai_spans import MappedSpan, mapped_span
from chatledger.infrastructure.integrations.otlp_traces import PlainSpan

log = structlog.get_logger("chatledger.otlp")


@dataclass
class ExportReport:
    spans: int = 0
    recorded: int = 0  # spans that recorded at least one message
    known: int = 0  # spans whose every message was recorded before
    rejected: Counter[str] = field(default_factory=Counter)  # reason -> spans

    @property
    def rejected_spans(self) -> int:
        return sum(self.rejected.values())

    def error_message(self) -> str:
        """What OTLP's partial success tells the exporter: the reasons, never content."""
        return "; ".join(f"{count} span(s): {reason}" for reason, count in
                         sorted(self.rejected.items()))  # fmt: skip


def record_spans(
    pipeline: Any, spans: list[PlainSpan], key_user: str, user_attribute: str,
    for_anyone: bool = False,
) -> ExportReport:  # fmt: skip
    """`for_anyone`: a service key's export, which records for whichever user a span names."""
    report = ExportReport(spans=len(spans))
    for span in spans:
        mapped = mapped_span(span, user_attribute)
        reason = (mapped if isinstance(mapped, str)
                  else record_span(pipeline, mapped, key_user, for_anyone))  # fmt: skip
        if reason == "recorded":
            report.recorded += 1
        elif reason == "known":
            report.known += 1
        else:
            report.rejected[reason] += 1
    log.info("otlp_export", user_id=key_user, spans=report.spans, recorded=report.recorded,
             known=report.known, rejected=dict(report.rejected))  # fmt: skip
    return report


def record_span(pipeline: Any, span: MappedSpan, key_user: str, for_anyone: bool) -> str:
    """`recorded`, `known`, or why the span was refused."""
    user = span.user_id or key_user
    if user != key_user and not for_anyone:
        return "user mismatch (the key records for its own user only)"
    result = pipeline.record_conversation(span.chat_id, user, span.messages, model=span.model,
                                          whole=True)  # fmt: skip
    if not result.success:
        return result.error.code.value if result.error else "refused"
    return "recorded" if any(not r.duplicate for r in result.results) else "known"
