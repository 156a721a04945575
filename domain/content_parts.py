"""Content as chat formats send it: a text, or a list of parts. Each part, in the OpenAI or the
Anthropic shape (text; an image, audio or a file by URL, by provider file id or inline as base64),
is validated into one canonical form that records its media type, byte size and SHA-256.

A part by URL is a reference: nothing is fetched (no network), so its size and hash are what the
caller states, or none. A `data:` URL is inline data."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from chatledger.domain.input_types import Content, StrictInput

MAX_PARTS = 64
# Decoded bytes of one message's inline parts together: the event store keeps them (sealed,
# as base64) in the message's event, and every reader of the log reads that event.
MAX_INLINE_BYTES = 2 * 1024 * 1024
MediaType = Annotated[
    str,
    StringConstraints(
        pattern=r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$"
    ),
]
Url = Annotated[str, StringConstraints(pattern=r"^https?://\S{1,4090}$")]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
# Provider file ids (file-abc123, file_011CN...): the id pattern's characters, a little longer.
FileId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/+=#-]{0,255}$")]
FileName = Annotated[str, StringConstraints(min_length=1, max_length=255)]
AUDIO_FORMATS = {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac",
                 "ogg": "audio/ogg", "webm": "audio/webm", "m4a": "audio/mp4"}  # fmt: skip
_DATA_URL = re.compile(r"^data:([^;,]*)(?:;[^,]*)?;base64,(.*)$", re.DOTALL)
TEXT_MEDIA_TYPE = "text/plain"
UNKNOWN_MEDIA_TYPE = "application/octet-stream"


class ContentPart(StrictInput):
    """One part, canonical. Text parts hold `text`; the others `data` (base64), `url` or
    `file_id`. Built from the OpenAI and Anthropic shapes too (see `canonical_shape`)."""

    type: Literal["text", "image", "audio", "file"]
    text: Content | None = None
    data: str | None = None
    url: Url | None = None
    file_id: FileId | None = None
    media_type: MediaType | None = None
    filename: FileName | None = None
    detail: Literal["auto", "low", "high"] | None = None
    size_bytes: Annotated[int, Field(ge=0)] | None = None
    sha256: Sha256 | None = None

    @model_validator(mode="before")
    @classmethod
    def from_chat_formats(cls, value: Any) -> Any:
        return canonical_shape(value) if isinstance(value, dict) else value

    @field_validator("data")
    @classmethod
    def base64_within_limit(cls, data: str | None) -> str | None:
        if data is not None:
            decoded(data)
        return data

    @model_validator(mode="after")
    def described(self) -> ContentPart:
        """Exactly one source, and the media type, size and hash that go with it."""
        if self.type == "text":
            if self.text is None or any((self.data, self.url, self.file_id)):
                raise ValueError("a text part holds `text` and nothing else")
            encoded = self.text.encode("utf-8")
            return self._with(TEXT_MEDIA_TYPE, len(encoded), hashlib.sha256(encoded).hexdigest())
        if (
            self.text is not None
            or sum(x is not None for x in (self.data, self.url, self.file_id)) != 1
        ):
            raise ValueError(f"an {self.type} part holds one of `data`, `url` or `file_id`")
        media_type = self.media_type or UNKNOWN_MEDIA_TYPE
        if self.data is None:
            return self._with(media_type, self.size_bytes, self.sha256)
        raw = decoded(self.data)
        digest = hashlib.sha256(raw).hexdigest()
        if (self.size_bytes, self.sha256) not in ((None, None), (len(raw), digest)):
            raise ValueError("size_bytes and sha256 do not match the inline data")
        return self._with(media_type, len(raw), digest)

    def _with(self, media_type: str, size: int | None, digest: str | None) -> ContentPart:
        # Frozen model: set through the instance dict, once, while it is being validated.
        self.__dict__.update(media_type=media_type, size_bytes=size, sha256=digest)
        return self


def decoded(data: str) -> bytes:
    """Strict base64: only the alphabet and padding, so that what is recorded is what was sent."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("data is not valid base64") from None
    if len(raw) > MAX_INLINE_BYTES:
        raise ValueError(f"inline data is larger than {MAX_INLINE_BYTES} bytes")
    return raw


def canonical_shape(part: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI and Anthropic shapes of a part, as the canonical fields; the canonical shape
    and anything unknown pass through unchanged (validation names what is wrong)."""
    kind = part.get("type")
    if kind in ("input_text", "output_text"):
        return {"type": "text", "text": part.get("text")}
    if kind == "image_url" or (kind == "input_image" and "image_url" in part):
        image = part.get("image_url")
        url, detail = (
            (image.get("url"), image.get("detail"))
            if isinstance(image, dict)
            else (image, part.get("detail"))
        )
        return {"type": "image", **by_url(url), **({"detail": detail} if detail else {})}
    if kind in ("image", "document") and isinstance(part.get("source"), dict):
        return from_anthropic_source("image" if kind == "image" else "file", part["source"], part)
    if kind == "input_audio" and isinstance(part.get("input_audio"), dict):
        audio = part["input_audio"]
        media_type = AUDIO_FORMATS.get(str(audio.get("format")), UNKNOWN_MEDIA_TYPE)
        return {"type": "audio", "data": audio.get("data"), "media_type": media_type}
    if kind == "file" and isinstance(part.get("file"), dict):
        file = part["file"]
        found: dict[str, Any] = {"type": "file", "filename": file.get("filename")}
        if file.get("file_data") is not None:
            data = file["file_data"]
            found.update(by_url(data) if str(data).startswith("data:") else {"data": data})
        if file.get("file_id") is not None:
            found["file_id"] = file["file_id"]
        return {k: v for k, v in found.items() if v is not None}
    return part


def by_url(url: Any) -> dict[str, Any]:
    """A URL, or the media type and data of a `data:` URL."""
    if isinstance(url, str) and url.startswith("data:"):
        match = _DATA_URL.match(url)
        if match is None:
            return {"data": "not a base64 data URL"}  # refused by the base64 check, by name
        return {"data": match.group(2), "media_type": match.group(1) or UNKNOWN_MEDIA_TYPE}
    return {"url": url}


def from_anthropic_source(
    kind: str, source: dict[str, Any], part: dict[str, Any]
) -> dict[str, Any]:
    found: dict[str, Any] = {"type": kind}
    if part.get("title") is not None:
        found["filename"] = part["title"]
    match source.get("type"):
        case "base64":
            found.update(data=source.get("data"), media_type=source.get("media_type"))
        case "url":
            found["url"] = source.get("url")
        case "file":
            found["file_id"] = source.get("file_id")
        case "text":  # a plain-text document: its text, as the bytes it is
            text = source.get("data")
            encoded = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else b""
            found.update(data=base64.b64encode(encoded).decode("ascii"), media_type=TEXT_MEDIA_TYPE)
        case _:
            found["source"] = source  # unknown: refused by name
    return {k: v for k, v in found.items() if v is not None}


PartList = Annotated[list[ContentPart], Field(min_length=1, max_length=MAX_PARTS)]


def check_inline_total(parts: list[ContentPart]) -> list[ContentPart]:
    inline = sum(p.size_bytes or 0 for p in parts if p.data is not None)
    if inline > MAX_INLINE_BYTES:
        raise ValueError(f"the inline parts hold more than {MAX_INLINE_BYTES} bytes together")
    text = sum(p.size_bytes or 0 for p in parts if p.type == "text")
    if text > 512 * 1024:
        raise ValueError("the text parts hold more than 524288 bytes of UTF-8 together")
    return parts


def text_of(parts: list[ContentPart]) -> str:
    """The message's text: its text parts, in order, one after the other."""
    return "".join(p.text or "" for p in parts if p.type == "text")
