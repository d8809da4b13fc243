"""Text normalisation and numbers in English and Chinese ("24", "two", "二十四", "百分之三十")."""

from __future__ import annotations

import re
import unicodedata

_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "俩": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
CN_NUM = "零〇一二两俩三四五六七八九十百千"

_EN_WORDS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
}
_EN_NUM = "|".join(sorted(_EN_WORDS, key=len, reverse=True))
_EN_UNITS = "one|two|three|four|five|six|seven|eight|nine"
_EN_SMALL = rf"(?:{_EN_NUM})(?:[ -](?:{_EN_UNITS}))?"  # "twenty-two", "forty two"
# "one hundred", "a hundred and five", "two hundred fifty": hundreds, then what follows
_EN_HUNDREDS = rf"(?:(?:{_EN_UNITS}|a)[ -])?hundred(?:(?: and)?[ -]{_EN_SMALL})?"
_EN_BELOW_K = rf"(?:{_EN_HUNDREDS}|{_EN_SMALL})"
# "three thousand", "two thousand seven hundred" (kelvin), "a couple of" (2)
_EN_WHOLE = (
    rf"(?:(?:(?:{_EN_SMALL}|a)[ -])thousand(?:(?: and)?[ -]{_EN_BELOW_K})?"
    rf"|{_EN_BELOW_K}|a couple(?: of)?)"
)

_UNIT_WORDS = (
    r"%|percent|per cent|degrees celsius|degrees|degree|°c|°|℃|摄氏度|度|"
    r"kilometers|kilometres|km|公里|千米|kelvin|k(?![a-z])"
)


def _unit(name: str) -> str:
    return r"\s*(?P<" + name + r">" + _UNIT_WORDS + r")?"


# a number, with an optional unit right after it
NUMBER = re.compile(
    r"(?:百分之(?P<cnpct>[" + CN_NUM + r"]+(?:点[" + CN_NUM + r"]+)?|\d+(?:\.\d+)?))"
    r"|(?:(?P<digits>-?\d+(?:\.\d+)?)(?![\d.])"
    + _unit("u1")
    + r")|(?:(?P<cn>["
    + CN_NUM
    + r"]+(?:点["
    + CN_NUM
    + r"]+)?)"
    + _unit("u2")
    + r")|(?:(?P<en>"
    + _EN_WHOLE
    + r")(?![a-z])"
    + _unit("u3")
    + r")"
)

UNITS = {
    "%": "%",
    "percent": "%",
    "per cent": "%",
    "degrees celsius": "°C",
    "degrees": "°C",
    "degree": "°C",
    "°c": "°C",
    "°": "°C",
    "℃": "°C",
    "摄氏度": "°C",
    "度": "°C",
    "kilometers": "km",
    "kilometres": "km",
    "km": "km",
    "公里": "km",
    "千米": "km",
    "kelvin": "K",
    "k": "K",
}


def normalize(text: str) -> str:
    """Lower case, full-width → half-width (NFKC), curly quotes straight, spaces single."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    text = re.sub(r"(?<=[a-z0-9])'s\b", "", text)  # the car's climate → the car climate
    text = re.sub(r"(?<=\d)[.。](?=\s|$)", " ", text)  # "set the volume to 15." ends there
    return re.sub(r"\s+", " ", text).strip()


def cn_int(s: str) -> int | None:
    """A Chinese integer: 三十 → 30, 二十四 → 24, 十五 → 15, 一百 → 100, 两 → 2, 二五 → 25."""
    if not s:
        return None
    if all(ch in _CN_DIGITS for ch in s):  # digit by digit: 二五 → 25
        return int("".join(str(_CN_DIGITS[ch]) for ch in s))
    total, digit = 0, None
    for ch in s:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        elif ch in _CN_UNITS:
            total += (1 if digit is None else digit) * _CN_UNITS[ch]
            digit = None
        else:
            return None
    return total + (digit or 0)


def cn_number(s: str) -> float | None:
    whole, _, frac = s.partition("点")
    w = cn_int(whole)
    if w is None:
        return None
    if not frac:
        return float(w)
    digits = "".join(str(_CN_DIGITS.get(ch, "")) for ch in frac)
    return float(f"{w}.{digits}") if digits else float(w)


def en_number(s: str) -> float | None:
    if s.startswith("a couple"):
        return 2.0
    parts = [p for p in re.split(r"[ -]", s) if p != "and"]
    total, current = 0, 0
    for i, p in enumerate(parts):
        if p == "a" and i + 1 < len(parts) and parts[i + 1] in ("hundred", "thousand"):
            continue  # "a hundred", "a thousand"
        if p == "thousand":  # "three thousand", "twenty-five thousand"
            total += (current or 1) * 1000
            current = 0
        elif p not in _EN_WORDS:
            return None
        elif p == "hundred":  # "one hundred", "two hundred": a multiplier
            current = (current or 1) * 100
        else:
            current += _EN_WORDS[p]
    return float(total + current)


def read_number(m: re.Match[str]) -> tuple[float, str | None] | None:
    """(value, unit) of a `NUMBER` match; None when the text is not a number after all."""
    raw_unit = m.group("u1") or m.group("u2") or m.group("u3")
    unit = UNITS.get(raw_unit) if raw_unit else None
    if m.group("cnpct") is not None:
        raw = m.group("cnpct")
        value = float(raw) if raw[0].isdigit() else cn_number(raw)
        return (value, "%") if value is not None else None
    if m.group("digits") is not None:
        return float(m.group("digits")), unit
    if m.group("cn") is not None:
        value = cn_number(m.group("cn"))
        return (value, unit) if value is not None else None
    value = en_number(m.group("en"))
    return (value, unit) if value is not None else None


# -- numbers as words (the training generator's sentences) -----------------------------------

_CN_SAY = "零一二三四五六七八九"  # one character per digit; parsing also takes 〇 两 俩
_EN_SAY = {n: w for w, n in _EN_WORDS.items()}  # 0 … 19, the tens, 100


def cn_words(n: float) -> str:
    """A number in Chinese numerals (0 … 9999, one decimal): 26 → 二十六, 22.5 → 二十二点五,
    105 → 一百零五; `cn_number` reads them back."""
    whole = int(n)
    frac = round((n - whole) * 10)
    return _cn_int_words(whole) + ("点" + _CN_SAY[frac] if frac else "")


def _cn_int_words(n: int) -> str:
    if n < 10:
        return _CN_SAY[n]
    if n < 20:
        return "十" + (_CN_SAY[n % 10] if n % 10 else "")
    out = ""
    zero = False
    for unit, name in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit, n = divmod(n, unit) if unit > 1 else (n, 0)
        if digit:
            if zero and out:
                out += "零"
            out += _CN_SAY[digit] + name
            zero = False
        elif out:
            zero = True
    return out


def en_words(n: int) -> str:
    """An integer in English words up to 100 ("twenty-one", "forty two": both spellings
    occur), digits above; `en_number` reads them back."""
    if n < 20:
        return _EN_SAY[n]
    if n < 100:
        t, u = divmod(n, 10)
        return _EN_SAY[10 * t] + (("-" if u and n % 2 else " ") + _EN_SAY[u] if u else "")
    return "one hundred" if n == 100 else str(n)
