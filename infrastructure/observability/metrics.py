"""The HTTP service's metrics in Prometheus' format, through prometheus-client, in a registry
of the service's own (a host application's global registry is left alone): requests by route
and status, their latency, commands by outcome, errors by code, recorded messages by role,
group-commit round sizes, rate-limited requests, and each projection's lag, read when scraped."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from chatledger.domain.ports import CommandObserver, CommandReport

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Events that record a message (not a stream's opening): counted by the message's role.
MESSAGE_EVENTS = ("Recorded", "StreamCompleted", "StreamFailed")


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("chatledger_http_requests", "HTTP requests",
                                ["method", "route", "status"], registry=self.registry)  # fmt: skip
        self.latency = Histogram("chatledger_http_request_duration_seconds",
                                 "HTTP request latency", ["method", "route"],
                                 registry=self.registry)  # fmt: skip
        self.commands = Counter("chatledger_commands", "Pipeline commands by outcome",
                                ["command", "outcome"], registry=self.registry)  # fmt: skip
        self.errors = Counter("chatledger_command_errors", "Refused or failed commands by code",
                              ["code"], registry=self.registry)  # fmt: skip
        self.messages = Counter("chatledger_messages_recorded", "Messages recorded, by role",
                                ["role"], registry=self.registry)  # fmt: skip
        self.rounds = Histogram(
            "chatledger_group_commit_callers", "Callers sharing one transaction (group commit)",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128), registry=self.registry,
        )  # fmt: skip
        self.rate_limited = Counter("chatledger_http_rate_limited", "Requests refused with 429",
                                    registry=self.registry)  # fmt: skip

    def observer(self, inner: CommandObserver) -> CommandObserver:
        """The pipeline's observer, counting each command as it goes on to `inner`."""
        return CountingObserver(self, inner)

    def round_recorded(self, callers: int, events: Sequence[Any]) -> None:
        self.rounds.observe(callers)
        for event in events:
            if type(event).__name__.endswith(MESSAGE_EVENTS):
                self.messages.labels(getattr(event, "role", "unknown")).inc()

    def request_done(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def watch_lag(self, statuses: Callable[[], list[Any]]) -> None:
        self.registry.register(LagCollector(statuses))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class CountingObserver:
    def __init__(self, metrics: ServiceMetrics, inner: CommandObserver) -> None:
        self.metrics = metrics
        self.inner = inner

    def command_finished(self, report: CommandReport) -> None:
        self.metrics.commands.labels(report.command, report.outcome).inc()
        if report.error_code:
            self.metrics.errors.labels(report.error_code).inc()
        self.inner.command_finished(report)


class LagCollector(Collector):
    """Each projection's lag (events of the log not yet applied), read at each scrape."""

    def __init__(self, statuses: Callable[[], list[Any]]) -> None:
        self.statuses = statuses

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lag = GaugeMetricFamily("chatledger_projection_lag_events",
                                "Events recorded but not yet in the read model",
                                labels=["projection"])  # fmt: skip
        try:
            for status in self.statuses():
                lag.add_metric([status.name], float(status.lag))
        except Exception as error:  # the store away: no lag this time, the scrape answers
            structlog.get_logger("chatledger.http").warning("lag_unknown",
                                                            error=type(error).__name__)  # fmt: skip
        yield lag
