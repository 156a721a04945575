"""The sealed-text envelope is read alike by its definition (the ENVELOPE expression and two
URL-safe decodes) and by the one-pass reader every unseal uses: for real envelopes, envelopes
altered character by character, and texts that only look like one."""

from __future__ import annotations

import base64
import random

from hypothesis import example, given, settings
from hypothesis import strategies as st

from chatledger.infrastructure.security.content_encryption import ENVELOPE, PREFIX, read_envelope


def by_definition(stored: str) -> tuple[str, bytes | None] | None:
    envelope = ENVELOPE.match(stored)
    if envelope is None:
        return None
    key_id, nonce, sealed = envelope.groups()
    try:
        return key_id, b"".join(
            base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)) for part in (nonce, sealed)
        )
    except ValueError:
        return key_id, None


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sealed_text(key_id: str, nonce: bytes, ciphertext: bytes) -> str:
    return f"{PREFIX}{key_id}:{b64(nonce)}:{b64(ciphertext)}"


# Characters of the envelope's alphabet and the ones near it that it refuses.
near_alphabet = st.sampled_from(
    [*"AZaz09-_", "+", "/", "=", ":", " ", "\n", "\x00", "é", "\ud800", "G", "f"]
)
envelopes = st.builds(
    sealed_text,
    st.text("0123456789abcdef", min_size=16, max_size=16),
    st.binary(min_size=12, max_size=12),
    st.binary(min_size=16, max_size=600),
)


@given(envelopes)
def test_every_envelope_seal_writes_is_read_as_defined(stored: str) -> None:
    assert read_envelope(stored) == by_definition(stored) is not None


@settings(max_examples=400)
@given(envelopes, st.data())
def test_altered_envelopes_are_read_as_defined(stored: str, data: st.DataObject) -> None:
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(stored)))
        cut = data.draw(st.integers(0, 2))
        stored = stored[:at] + data.draw(st.text(near_alphabet, max_size=2)) + stored[at + cut :]
    assert read_envelope(stored) == by_definition(stored)


@given(st.text(near_alphabet, max_size=80))
@example(f"{PREFIX}{'a' * 16}:{'A' * 16}:{'B' * 22}\n")  # `$` lets a final newline through
@example(f"{PREFIX}{'a' * 16}:{'A' * 16}:{'B' * 23}")  # 4n+1 characters: does not decode
@example(f"{PREFIX}{'A' * 16}:{'A' * 16}:{'B' * 22}")  # the key id is not hex
@example(f"{PREFIX}{'a' * 16}:{'A' * 16}:{'B' * 21}")  # a ciphertext too short
@example(f"{PREFIX}{'a' * 16}:{'A' * 15}=:{'B' * 22}")  # padding is not in the alphabet
@example(f"{PREFIX}{'a' * 16}:{'A' * 16}:{'B' * 20}+/")  # nor the standard alphabet's two
def test_texts_that_look_like_an_envelope_are_read_as_defined(tail: str) -> None:
    stored = tail if tail.startswith(PREFIX) else PREFIX + tail
    assert read_envelope(stored) == by_definition(stored)


def test_the_nonce_and_ciphertext_come_back_as_sealed(rng: random.Random) -> None:
    nonce, ciphertext = rng.randbytes(12), rng.randbytes(300)
    assert read_envelope(sealed_text("0123456789abcdef", nonce, ciphertext)) == (
        "0123456789abcdef",
        nonce + ciphertext,
    )
