"""Chinese text as pinyin with tone digits ("打开客厅的灯" → "da3 kai1 ke4 ting1 de5 deng1"),
which espeak-ng's `cmn-latn-pinyin` voice reads; its own reading of characters gets many
words with two readings wrong (空调 kōngtiáo, 音乐 yīnyuè, 银行 yínháng), pypinyin's phrase
dictionary gets them right. Numbers and °C become Chinese words first (espeak-ng reads
"24.5" without its 点, "%" in English and "°C" not at all)."""

from __future__ import annotations

import re

from hyperhub.assistant.numbers import cn_words

_PUNCTUATION = str.maketrans(
    {"，": ", ", "。": ". ", "！": "! ", "？": "? ", "；": "; ", "：": ": ", "、": ", "}
)
_UNITS = (("°C", "摄氏度"), ("℃", "摄氏度"), ("°", "度"))  # espeak-ng says nothing for "°C"
_NUMBER = re.compile(r"(\d+(?:\.\d+)?)(%?)")
_SPACES = re.compile(r"\s+")


def numbers_in_words(text: str) -> str:
    """Numbers 0 … 9999 (rounded to one decimal; an optional %) in Chinese numerals; others
    stay."""

    def say(match: re.Match[str]) -> str:
        number, percent = round(float(match.group(1)), 1), match.group(2)
        if number > 9999:
            return match.group(0)
        words = cn_words(number)
        return f"百分之{words}" if percent else words

    return _NUMBER.sub(say, text)


def to_pinyin(text: str) -> str:
    """`text` with every Chinese character as pinyin with its tone digit (5: neutral), the
    syllables apart; other text (Latin letters, punctuation) stays."""
    from pypinyin import Style, lazy_pinyin

    for unit, words in _UNITS:
        text = text.replace(unit, words)
    plain = numbers_in_words(text).translate(_PUNCTUATION)
    syllables = lazy_pinyin(plain, style=Style.TONE3, neutral_tone_with_five=True)
    return _SPACES.sub(" ", " ".join(syllables)).strip()
