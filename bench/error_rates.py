"""How far a transcript is from what was said: word error rate (English) and character error
rate (Chinese), after one normalisation, the only one the voice benchmark uses.

English (`en_words`), so that only a word heard wrong counts, not how it was written down:

- case, width and curly quotes do not count (NFKC, case folded);
- apostrophes are dropped: "kid's", "kids'" and "kids" are one word;
- numbers and their units are one spelling: "twenty-five degrees", "25°C" and "25 degrees"
  are all `25 degrees`; "20%", "twenty percent" → `20 percent` (the assistant's own number
  reader, `hyperhub.assistant.numbers`, finds them);
- dotted abbreviations are closed up ("A.C." → `ac`); other punctuation is a space.

Chinese (`zh_chars`): width folded (NFKC), punctuation and spaces dropped, Arabic numbers
written in Chinese numerals ("24度" → 二十四度, "20%" → 百分之二十), Latin letters case
folded; then every character is a token. Traditional and simplified characters are not
folded together (no converter is installed): a traditional character counts as an error.

An error rate is the edit distance (substitutions + deletions + insertions) over the number
of reference tokens, summed over sentences before dividing (`ErrorCount`), as WER is
usually reported.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from hyperhub.assistant.numbers import NUMBER, cn_words, read_number

_UNIT_WORDS = {"%": "percent", "°C": "degrees", "km": "kilometres", "K": "kelvin"}
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'})
_ABBREVIATION = re.compile(r"\b(?:[a-z]\.){2,}")  # a.c., t.v.
_NOT_WORD = re.compile(r"[^a-z0-9.\s]|(?<!\d)\.|\.(?!\d)")  # keeps the point of 24.5
_ZH_DROP = re.compile(r"[\W_]", re.UNICODE)  # punctuation, symbols, spaces
_ZH_NUMBER = re.compile(r"(\d+(?:\.\d+)?)(%?)")


def en_words(text: str) -> list[str]:
    """English `text` as the words the word error rate compares (see the module)."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold().replace("'", "")
    text = _ABBREVIATION.sub(lambda m: m.group(0).replace(".", ""), text)
    text = re.sub(r"[.,!?;:](?=\s|$)", " ", text)  # sentence ends, before reading numbers
    text = NUMBER.sub(lambda m: _number(m, text), text)
    return _NOT_WORD.sub(" ", text).split()


def _number(m: re.Match[str], text: str) -> str:
    start = m.start()
    if start and text[start - 1].isalnum():  # "one" inside "someone", "ten" in "often"
        return m.group(0)
    read = read_number(m)
    if read is None:
        return m.group(0)
    value, unit = read
    said = f"{value:g}"
    return f" {said} {_UNIT_WORDS.get(unit, unit)} " if unit else f" {said} "


def zh_chars(text: str) -> list[str]:
    """Chinese `text` as the characters the character error rate compares (see the module)."""
    text = unicodedata.normalize("NFKC", text).casefold()

    def say(m: re.Match[str]) -> str:
        number = float(m.group(1))
        if number > 9999:
            return m.group(0)
        words = cn_words(number)
        return f"百分之{words}" if m.group(2) else words

    return list(_ZH_DROP.sub("", _ZH_NUMBER.sub(say, text)))


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Substitutions + deletions + insertions that turn `ref` into `hyp` (Levenshtein)."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


@dataclass
class ErrorCount:
    """Errors and reference tokens added up over sentences; `rate` is their ratio."""

    errors: int = 0
    tokens: int = 0
    sentences: int = 0
    wrong_sentences: int = 0

    def add(self, ref: Sequence[str], hyp: Sequence[str]) -> int:
        """Count one sentence; returns its errors."""
        errors = edit_distance(ref, hyp)
        self.errors += errors
        self.tokens += len(ref)
        self.sentences += 1
        self.wrong_sentences += errors > 0
        return errors

    @property
    def rate(self) -> float:
        return self.errors / self.tokens if self.tokens else 0.0


def word_error_rate(said: str, heard: str) -> float:
    """The word error rate of one English sentence (see `en_words`)."""
    count = ErrorCount()
    count.add(en_words(said), en_words(heard))
    return count.rate


def char_error_rate(said: str, heard: str) -> float:
    """The character error rate of one Chinese sentence (see `zh_chars`)."""
    count = ErrorCount()
    count.add(zh_chars(said), zh_chars(heard))
    return count.rate
