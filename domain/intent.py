"""The default intent detector: deterministic keyword rules, replaceable through IntentDetector."""

from __future__ import annotations

import re

from chatledger.domain.ports import DetectedIntent

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


# Words as the whole-word rule sees them: runs of ASCII letters and digits (text is lowered).
_WORD = re.compile(r"[a-z0-9]+")


def _is_word_character(character: str) -> bool:
    return character.isascii() and character.isalnum()


def whole_phrase_matches(text: str, keywords: tuple[str, ...]) -> tuple[str, ...]:
    """The keywords found as whole words or phrases, never inside words, left to right without
    overlaps, the earlier keyword first where two start together: what one regular expression
    `(?<![a-z0-9])(?:k1|k2|...)(?![a-z0-9])` finds, at a fraction of its cost (plain substring
    search in C, and word-boundary checks only where a keyword occurs)."""
    found: list[tuple[int, int, str]] = []
    for rank, keyword in enumerate(keywords):
        start = text.find(keyword)
        while start != -1:
            end = start + len(keyword)
            before = text[start - 1] if start else " "
            after = text[end] if end < len(text) else " "
            if not (_is_word_character(before) or _is_word_character(after)):
                found.append((start, rank, keyword))
            start = text.find(keyword, start + 1)
    matches: list[str] = []
    free_from = 0
    for start, _, keyword in sorted(found):
        if start >= free_from:
            matches.append(keyword)
            free_from = start + len(keyword)
    return tuple(dict.fromkeys(matches))


class KeywordIntentDetector:
    """Scores each intent by how many of its keywords occur in the text.

    Confidence grows with the number of matches and with the margin over the runner-up,
    and stays below 1.0: keyword rules are evidence, not certainty.
    """

    def __init__(self, rules: dict[str, tuple[str, ...]] | None = None) -> None:
        rules = rules if rules is not None else KEYWORD_RULES
        self.rules = {
            intent: tuple(k.lower() for k in keywords) for intent, keywords in rules.items()
        }
        # A keyword that starts with a letter or digit can only match where its first word
        # stands as a whole word in the text: one pass collects the text's words, and only
        # intents with such a word present are searched. Keywords that start otherwise are
        # always searched.
        self.first_words = {
            intent: {keyword: _first_word(keyword) for keyword in keywords}
            for intent, keywords in self.rules.items()
        }
        self.always_searched = {
            intent for intent, firsts in self.first_words.items() if None in firsts.values()
        }

    def detect(self, text: str) -> DetectedIntent:
        lowered = text.lower()[:20_000]  # the opening of a message carries its intent
        matches = self.matches(lowered)
        ranked = sorted(matches.items(), key=lambda item: -len(item[1]))
        best_name, best_keywords = ranked[0]
        if not best_keywords:
            return DetectedIntent(FALLBACK_INTENT, 0.3, ())
        runner_up = len(ranked[1][1]) if len(ranked) > 1 else 0
        margin = (len(best_keywords) - runner_up) / len(best_keywords)
        confidence = min(0.95, 0.5 + 0.1 * len(best_keywords) + 0.2 * margin)
        return DetectedIntent(best_name, round(confidence, 3), best_keywords)

    def matches(self, lowered: str) -> dict[str, tuple[str, ...]]:
        """Per intent, the keywords found in the lowered text (see whole_phrase_matches)."""
        words = set(_WORD.findall(lowered))
        found: dict[str, tuple[str, ...]] = {}
        for intent, firsts in self.first_words.items():
            if intent in self.always_searched or not words.isdisjoint(firsts.values()):
                candidates = tuple(
                    k for k, first in firsts.items() if first is None or first in words
                )
                found[intent] = whole_phrase_matches(lowered, candidates)
            else:
                found[intent] = ()
        return found


def _first_word(keyword: str) -> str | None:
    word = _WORD.match(keyword)
    return word.group() if word else None
