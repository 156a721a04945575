"""The one rule for showing recorded text to people (command line and console alike): every
character as it is, but those that show nothing or turn the text around them, as markers."""

from __future__ import annotations

import sys
import unicodedata

from chatledger.infrastructure.presentation.recorded_text import runs, visible

HIDDEN = {"Cc", "Cf", "Zl", "Zp"}


def test_controls_bidi_and_zero_width_characters_are_shown_as_markers() -> None:
    assert visible("\u202eevil a\u200bb\u2066c\u061c") == (
        "<U+202E>evil a<U+200B>b<U+2066>c<U+061C>"
    )
    assert visible("erase\x1b[2J\rover\x00") == "erase<U+001B>[2J<U+000D>over<U+0000>"
    assert visible("line\u2028next\ufeff\xad") == "line<U+2028>next<U+FEFF><U+00AD>"
    assert visible("tab\tand\nnewline stay") == "tab\tand\nnewline stay"


def test_text_of_any_script_and_emoji_is_left_as_it_is() -> None:
    for text in ("שלום עולם", "مرحبا", "中文　全角", "[bold]x[/bold] :warning:", "😀", ""):
        assert visible(text) == text
    assert list(runs("ab\u202ec")) == [("ab", False), ("\u202e", True), ("c", False)]


def test_every_code_point_of_the_hidden_categories_and_no_other_is_marked() -> None:
    # Lone surrogates are no text: recording refuses them.
    chars = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) != "Cs"]
    expected = "".join(
        f"<U+{ord(c):04X}>" if unicodedata.category(c) in HIDDEN and c not in "\t\n" else c
        for c in chars
    )
    assert visible("".join(chars)) == expected
