"""Every field a message can carry, after its user is erased: a unique marker planted in each,
then a byte search of the database (SQLite file and WAL, or a pg_dump of the schema) finds only
the markers of the fields docs/erasure.md lists as not sealed, on both backends."""

from __future__ import annotations

import base64
import json
import uuid

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.domain.ports import ERASED_CONTENT
from chatledger.infrastructure.cli.erasure import erase_and_scrub
from chatledger.projections.read_side import ReadSide
from tests.stored_bytes import search, stored_bytes

USER, CHAT = "alice", "alice-chat"
# docs/erasure.md, "Not sealed": what the system knows about a message, not what people wrote.
UNSEALED = {"metadata", "error_message", "intent_keyword"}


def plant_markers(pipeline: PersistencePipeline, token: str) -> dict[str, str]:
    """A marker in every field a message can carry, recorded through the commands; returns
    them by field. '§' (two bytes in UTF-8, `\\u00a7` in the events' JSON) is outside every
    alphabet of ciphertext and its encodings. A participant's name may only hold base64's own
    characters: its markers are 40-odd characters long, which random text holds by chance
    once in about 10**70."""
    marker = {field: f"MARKER-{field}-\u00a7-{token}" for field in (
        "title", "system", "developer", "user", "part_text", "url", "filename", "data",
        "arguments", "tool_result", "refusal", "reply", "streamed", "partial", "personal",
        "metadata", "error_message", "intent_keyword")}  # fmt: skip
    marker |= {f"name_{role}": f"MARKER-name-{role}-{token}"
               for role in ("system", "developer", "user", "assistant", "tool")}  # fmt: skip
    assert pipeline.start_chat(CHAT, USER, title=marker["title"], model="gpt-4o").success
    personal = {"email": marker["personal"]}
    user_parts = [
        {"type": "text", "text": marker["part_text"]},
        {"type": "image_url", "image_url": {"url": f"https://example.org/{marker['url']}"}},
        {"type": "file", "file": {"filename": marker["filename"], "file_data":
            "data:application/octet-stream;base64,"
            + base64.b64encode(marker["data"].encode()).decode()}},
    ]  # fmt: skip
    arguments = json.dumps({"q": marker["arguments"]}, ensure_ascii=False)
    call = {"id": "call_1", "name": "lookup", "arguments": arguments}
    batch = [
        {"role": "system", "content": marker["system"], "name": marker["name_system"]},
        {"role": "developer", "content": marker["developer"], "name": marker["name_developer"]},
        {"role": "user", "content": marker["user"], "name": marker["name_user"],
         "personal_metadata": personal, "metadata": {"client": marker["metadata"]}},
        {"role": "user", "content": user_parts},
        {"role": "assistant", "content": "", "tool_calls": [call],
         "name": marker["name_assistant"], "model": "gpt-4o"},
        {"role": "tool", "content": marker["tool_result"], "tool_call_id": "call_1",
         "name": marker["name_tool"]},
        {"role": "assistant", "refusal": marker["refusal"]},
        {"role": "assistant", "content": marker["reply"], "error_code": "PROVIDER_ERROR",
         "error_message": marker["error_message"], "intent": {
            "name": "answer", "confidence": 0.5, "keywords": [marker["intent_keyword"]]}},
    ]  # fmt: skip
    recorded = pipeline.persist_messages(CHAT, USER, batch)
    assert recorded.success, recorded
    for field, end in (("streamed", "complete"), ("partial", "fail")):
        opened = pipeline.open_stream(CHAT, USER, model="gpt-4o")
        assert opened.stream is not None, opened.error
        opened.stream.add_chunk(marker[field])
        closed = (pipeline.complete_stream(opened.stream) if end == "complete"
                  else pipeline.fail_stream(opened.stream, "PROVIDER_TIMEOUT"))  # fmt: skip
        assert closed.success, closed.error
    return marker


def found_fields(stored: bytes, marker: dict[str, str]) -> set[str]:
    data_sent = base64.b64encode(marker["data"].encode()).decode()  # the part's data as sent
    hits = set(search(stored, [*marker.values(), data_sent]).hits)
    return {field for field, text in marker.items() if text in hits} | (
        {"data"} if data_sent in hits else set()
    )


def test_after_an_erasure_only_the_fields_documented_unsealed_are_left_readable(
    backend: str, database_url: str, pipeline: PersistencePipeline, read_side: ReadSide
) -> None:
    token = uuid.uuid4().hex
    marker = plant_markers(pipeline, token)
    read_side.catch_up()
    read_side.rebuild("messages")  # plaintext copies in the read models, a generation dropped
    rows = read_side.messages.messages(CHAT)
    assert {row["name"] for row in rows} >= {marker["name_user"], marker["name_tool"]}
    # The search sees what is there: every plaintext copy the read models keep (the title and
    # inline data have none).
    seen = found_fields(stored_bytes(database_url, backend), marker)
    assert seen == set(marker) - {"title", "data"}

    result, released = erase_and_scrub(read_side, USER, "GDPR Art. 17", "dpo-1")
    assert result.success and released, result

    found = found_fields(stored_bytes(database_url, backend), marker)
    print(f"\n{backend}: {len(marker)} fields planted, found after the erasure: {sorted(found)}")
    assert found == UNSEALED
    names = {row["name"] for row in read_side.messages.messages(CHAT)}
    assert names == {None, ERASED_CONTENT}
