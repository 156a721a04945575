"""The default intent detector is deterministic and replaceable."""

from __future__ import annotations

from domain.intent import FALLBACK_INTENT, KeywordIntentDetector
from domain.pipeline import PersistencePipeline
from domain.ports import DetectedIntent
from infrastructure.tokens import TiktokenCounter


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
