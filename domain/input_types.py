"""The building blocks of every input: ids, content, metadata, and strict models.

Inputs are strict (no silent coercion: an audit log records what was sent, not a guess of it).
Content may hold any Unicode text, NUL included (the event store escapes it in JSON and it
round-trips exactly); lone surrogates are rejected because they are not text and no UTF-8
store, export or client can represent them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

MAX_CONTENT_BYTES = 512 * 1024
MAX_METADATA_BYTES = 64 * 1024
MAX_METADATA_DEPTH = 8
MAX_CONTEXT_ITEMS = 256
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@/+=#-]{0,127}$"

Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
ModelName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$")]
Title = Annotated[str, StringConstraints(max_length=500)]
ErrorText = Annotated[str, StringConstraints(max_length=4000)]


def reject_lone_surrogates(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        msg = f"text holds a lone surrogate at index {error.start}; it is not valid Unicode text"
        raise ValueError(msg) from None
    return text


def limit_content_size(text: str) -> str:
    # Counting UTF-8 bytes, not characters: storage cost and transport limits are in bytes.
    if len(text) * 4 > MAX_CONTENT_BYTES and len(text.encode("utf-8")) > MAX_CONTENT_BYTES:
        raise ValueError(f"content is larger than {MAX_CONTENT_BYTES} bytes of UTF-8")
    return text


def json_depth(value: Any, depth: int = 0) -> int:
    if depth > MAX_METADATA_DEPTH:
        return depth
    if isinstance(value, dict):
        return max((json_depth(v, depth + 1) for v in value.values()), default=depth + 1)
    if isinstance(value, list):
        return max((json_depth(v, depth + 1) for v in value), default=depth + 1)
    return depth


def json_object_problem(value: Any) -> str | None:
    """What would not survive the event store unchanged: keys that are not text (JSON turns them
    into text, so the stored message would differ from the one sent), and objects shaped like
    the store's own encoding of non-JSON values ({"_type_": ..., "_data_": ...}), which would be
    decoded as such a value, or not at all, making the whole chat unreadable."""
    if isinstance(value, dict):
        if any(not isinstance(key, str) for key in value):
            return "metadata keys must be text"
        if set(value) == {"_type_", "_data_"}:
            return 'metadata may not hold objects with exactly the keys "_type_" and "_data_"'
        children: Iterable[Any] = value.values()
    elif isinstance(value, list | tuple):
        children = value
    else:
        return None
    return next((p for p in map(json_object_problem, children) if p), None)


def check_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    if json_depth(metadata) > MAX_METADATA_DEPTH:
        raise ValueError(f"metadata is nested deeper than {MAX_METADATA_DEPTH} levels")
    problem = json_object_problem(metadata)
    if problem:
        raise ValueError(problem)
    try:
        encoded = json.dumps(metadata, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError) as error:
        raise ValueError(f"metadata is not JSON text: {type(error).__name__}") from None
    if len(encoded) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is larger than {MAX_METADATA_BYTES} bytes as JSON")
    return metadata


Content = Annotated[str, AfterValidator(reject_lone_surrogates), AfterValidator(limit_content_size)]
Metadata = Annotated[dict[str, Any], AfterValidator(check_metadata)]
IdList = Annotated[list[Identifier], Field(max_length=MAX_CONTEXT_ITEMS)]


class StrictInput(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
