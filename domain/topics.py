"""The topics events are stored under. Before the package was named `chatledger`, the domain was
the top-level package `domain`, and events recorded then name `domain.chat:Chat.Started`: each
such topic is registered with eventsourcing for the class it named, so old logs decode, and
queries that filter the log by topic ask for both names."""

from __future__ import annotations

from typing import Any

from eventsourcing.utils import get_topic, register_topic

CURRENT_PREFIX = "chatledger.domain."
BEFORE_THE_PACKAGE = "domain."


def topic_before_the_package(cls: type[Any]) -> str:
    return get_topic(cls).replace(CURRENT_PREFIX, BEFORE_THE_PACKAGE, 1)


def stored_topics(cls: type[Any]) -> list[str]:
    """Every topic a stored event of this class may carry, for topic filters on the log."""
    return [get_topic(cls), topic_before_the_package(cls)]


def register_topics_before_the_package(*classes: type[Any]) -> None:
    """Exact topics only, never the bare `domain` prefix: a host application may have a
    `domain` package of its own, with events of its own."""
    for cls in classes:
        register_topic(topic_before_the_package(cls), cls)
        nested = [value for value in vars(cls).values() if isinstance(value, type)]
        inside = f"{cls.__qualname__}."
        register_topics_before_the_package(
            *(c for c in nested if c.__qualname__.startswith(inside))
        )
