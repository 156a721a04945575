"""The default intent detector: deterministic keyword rules, replaceable through IntentDetector."""

from __future__ import annotations

import re

from domain.ports import DetectedIntent

# Intent -> keywords. Ordered: on a tie, the intent listed first wins, so results are stable.
KEYWORD_RULES: dict[str, tuple[str, ...]] = {
    "code_request": (
        "code",
        "function",
        "python",
        "javascript",
        "program",
        "implement",
        "bug",
        "debug",
        "sql",
        "algorithm",
        "script",
        "compile",
        "class",
        "regex",
    ),
    "math": ("calculate", "solve", "equation", "integral", "probability", "sum", "math", "prove"),
    "summarization": ("summarize", "summarise", "summary", "tl;dr", "condense", "shorten"),
    "translation": ("translate", "translation", "in french", "in spanish", "in german"),
    "comparison": ("compare", "comparison", "versus", "vs", "difference", "better than"),
    "creative_writing": (
        "write",
        "story",
        "poem",
        "essay",
        "blog",
        "draft",
        "compose",
        "rewrite",
        "slogan",
    ),
    "explanation": ("explain", "why", "how does", "what is", "describe", "meaning", "define"),
    "recommendation": ("recommend", "suggest", "advice", "should i", "best way", "tips"),
    "data_analysis": ("data", "metric", "trend", "analyze", "analyse", "chart", "statistics"),
    "greeting": ("hello", "hi", "hey", "good morning", "thanks", "thank you"),
}
FALLBACK_INTENT = "general_question"


def _whole_phrases(keywords: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern per intent; keywords match as whole words or phrases, never inside words."""
    alternatives = "|".join(re.escape(k) for k in keywords)
    return re.compile(rf"(?<![a-z0-9])(?:{alternatives})(?![a-z0-9])")


class KeywordIntentDetector:
    """Scores each intent by how many of its keywords occur in the text.

    Confidence grows with the number of matches and with the margin over the runner-up,
    and stays below 1.0: keyword rules are evidence, not certainty.
    """

    def __init__(self, rules: dict[str, tuple[str, ...]] | None = None) -> None:
        rules = rules if rules is not None else KEYWORD_RULES
        self.patterns = {intent: _whole_phrases(keywords) for intent, keywords in rules.items()}

    def detect(self, text: str) -> DetectedIntent:
        lowered = text.lower()[:20_000]  # the opening of a message carries its intent
        matches = {
            intent: tuple(dict.fromkeys(pattern.findall(lowered)))
            for intent, pattern in self.patterns.items()
        }
        ranked = sorted(matches.items(), key=lambda item: -len(item[1]))
        best_name, best_keywords = ranked[0]
        if not best_keywords:
            return DetectedIntent(FALLBACK_INTENT, 0.3, ())
        runner_up = len(ranked[1][1]) if len(ranked) > 1 else 0
        margin = (len(best_keywords) - runner_up) / len(best_keywords)
        confidence = min(0.95, 0.5 + 0.1 * len(best_keywords) + 0.2 * margin)
        return DetectedIntent(best_name, round(confidence, 3), best_keywords)
