"""The default intent detector is deterministic and replaceable."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from chatledger.domain.intent import FALLBACK_INTENT, KeywordIntentDetector, whole_phrase_matches
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.domain.ports import DetectedIntent
from chatledger.infrastructure.tokenizer.tiktoken_counter import TiktokenCounter


def test_keywords_decide_the_intent_and_confidence_grows_with_evidence() -> None:
    detector = KeywordIntentDetector()
    one = detector.detect("Please debug this")
    two = detector.detect("Please debug this Python function")
    assert one.name == two.name == "code_request"
    assert 0 < one.confidence < two.confidence < 1
    assert two.keywords == ("debug", "python", "function")


def test_keywords_match_whole_words_only() -> None:
    assert KeywordIntentDetector().detect("the history of this").name == FALLBACK_INTENT  # not "hi"


def test_no_keyword_falls_back_with_low_confidence() -> None:
    assert KeywordIntentDetector().detect("🙂") == DetectedIntent(FALLBACK_INTENT, 0.3, ())


def test_same_text_same_intent() -> None:
    text = "Compare the two essays and summarize the differences"
    assert len({KeywordIntentDetector().detect(text) for _ in range(5)}) == 1


class AlwaysBilling:
    def detect(self, text: str) -> DetectedIntent:
        return DetectedIntent("billing", 0.99, ("invoice",))


def test_the_pipeline_takes_another_detector(
    tmp_path: object, token_counter: TiktokenCounter
) -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    pipeline = PersistencePipeline(
        env, token_counter=token_counter, intent_detector=AlwaysBilling()
    )
    pipeline.start_chat("c", "u")
    pipeline.persist_user_message("c", "u", "hello", message_id="m")
    event = list(pipeline.events.get("c"))[1]
    assert event.intent == {"name": "billing", "confidence": 0.99, "keywords": ["invoice"]}  # type: ignore[attr-defined]


def reference_matches(text: str, keywords: tuple[str, ...]) -> tuple[str, ...]:
    """The definition: one regular expression of whole-word alternatives, found left to right."""
    alternatives = "|".join(re.escape(k) for k in keywords)
    pattern = re.compile(rf"(?<![a-z0-9])(?:{alternatives})(?![a-z0-9])")
    return tuple(dict.fromkeys(pattern.findall(text)))


PIECES = ["what", "what is", "is", "hi", "this", "sum", "summary", "a", "1", " ", "-", "é", "\n",
          "thank you", "you", "good morning", "morning", "x", "hihi"]  # fmt: skip
pieces = st.sampled_from(PIECES)


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(pieces, max_size=30),
    keywords=st.lists(pieces.filter(str.strip), min_size=1, max_size=6, unique=True),
)
def test_keyword_search_finds_what_the_regular_expression_finds(
    words: list[str], keywords: list[str]
) -> None:
    text = "".join(words)
    assert whole_phrase_matches(text, tuple(keywords)) == reference_matches(text, tuple(keywords))


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(pieces, max_size=30),
    rules=st.lists(
        st.lists(pieces.filter(str.strip), min_size=1, max_size=6, unique=True),
        min_size=1,
        max_size=3,
    ),
)
def test_searching_only_intents_whose_first_words_occur_changes_nothing(
    words: list[str], rules: list[list[str]]
) -> None:
    text = "".join(words)
    detector = KeywordIntentDetector({f"i{n}": tuple(k) for n, k in enumerate(rules)})
    expected = {f"i{n}": reference_matches(text, tuple(k)) for n, k in enumerate(rules)}
    assert detector.matches(text) == expected


def test_the_default_rules_find_what_the_regular_expression_finds() -> None:
    detector = KeywordIntentDetector()
    text = "hi! what is tl;dr of this python code vs that? thank you, thanks. summarise data-trend"
    expected = {i: reference_matches(text, k) for i, k in detector.rules.items()}
    assert detector.matches(text) == expected
    assert expected["summarization"] == ("tl;dr", "summarise")
