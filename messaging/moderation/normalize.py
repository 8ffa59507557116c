"""Normalisation with a map back to the original offsets.

A ``View`` is a derived text plus, for each of its characters, the ``[start, end)`` range of the
original text it came from; a span found in any view maps back exactly with ``View.original``.

Steps (each can be switched off, which the tests use to prove a case is caught only because of
the step): ``case``, ``accents``, ``compat`` (full-width, mathematical alphanumerics, circled and
parenthesised digits, keycaps, superscripts, other digit characters), ``confusables``
(Cyrillic/Greek look-alikes), ``invisible`` (zero-width, bidi marks, variation selectors,
control characters, lone surrogates), ``number_words`` (es/pt/en, compounds, "double five"),
``email_words`` ("arroba", "(at)", "punto", "ponto", "dot"), ``digit_joining`` (digits split by
spaces, dots, dashes, slashes, emoji; used by the phone/payment detectors) and ``leet`` (in
keywords only: "wh4ts", "1nsta").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

ALL_STEPS: frozenset[str] = frozenset(
    {
        "case",
        "accents",
        "compat",
        "confusables",
        "invisible",
        "number_words",
        "email_words",
        "digit_joining",
        "leet",
    }
)


@dataclass(slots=True)
class View:
    """A derived text; ``starts[i]``/``ends[i]`` are the original range of character ``i``."""

    text: str
    starts: list[int]
    ends: list[int]

    def original(self, start: int, end: int) -> tuple[int, int]:
        """The original range of this view's ``[start, end)`` (``end > start``)."""
        return self.starts[start], self.ends[end - 1]


def identity_view(text: str) -> View:
    n = len(text)
    return View(text, list(range(n)), list(range(1, n + 1)))


def apply_edits(view: View, edits: list[tuple[int, int, str]]) -> View:
    """Replace each ``[i, j)`` (sorted, non-overlapping, ``j > i``) by its string."""
    if not edits:
        return view
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    for i, j, repl in edits:
        if i < pos:
            continue  # overlapping edit: the first one wins
        parts.append(view.text[pos:i])
        starts.extend(view.starts[pos:i])
        ends.extend(view.ends[pos:i])
        a, b = view.starts[i], view.ends[j - 1]
        parts.append(repl)
        starts.extend([a] * len(repl))
        ends.extend([b] * len(repl))
        pos = j
    parts.append(view.text[pos:])
    starts.extend(view.starts[pos:])
    ends.extend(view.ends[pos:])
    return View("".join(parts), starts, ends)


# --- characters ---------------------------------------------------------------------------

_INVISIBLE_EXTRA = {0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x3164, 0xFFA0, 0x2800}
# Latin look-alikes (written as escapes so the source shows which script each one is from)
_CONFUSABLES = str.maketrans(
    {
        # Cyrillic and Armenian
        "\u0430": "a", "\u0432": "b", "\u0435": "e", "\u0451": "e", "\u043a": "k",
        "\u043c": "m", "\u043d": "h", "\u043e": "o", "\u0440": "p", "\u0441": "c",
        "\u0442": "t", "\u0443": "y", "\u0445": "x", "\u0456": "i", "\u0457": "i",
        "\u0458": "j", "\u0455": "s", "\u0501": "d", "\u051b": "q", "\u051d": "w",
        "\u04bb": "h", "\u04cf": "l", "\u0578": "n", "\u0581": "g",
        # Greek
        "\u03b1": "a", "\u03b2": "b", "\u03b3": "y", "\u03b5": "e", "\u03b7": "n",
        "\u03b9": "i", "\u03ba": "k", "\u03bd": "v", "\u03bf": "o", "\u03c1": "p",
        "\u03c4": "t", "\u03c5": "u", "\u03c7": "x", "\u03c9": "w", "\u03c2": "s",
        "\u03bc": "u", "\u03f2": "c", "\u03f3": "j", "\u03b6": "z",
    }
)  # fmt: skip
_EMOJI_DIGITS = {"\U0001f51f": "10"}  # keycap ten; keycaps 0-9 are digit + FE0F + 20E3


def _is_invisible(ch: str) -> bool:
    cp = ord(ch)
    if cp in _INVISIBLE_EXTRA or 0xFE00 <= cp <= 0xFE0F or 0xE0000 <= cp <= 0xE01EF:
        return True
    if cp == 0x20E3:  # combining enclosing keycap
        return True
    cat = unicodedata.category(ch)
    if cat in ("Cf", "Cs", "Co", "Cn"):
        return True
    return cat == "Cc" and ch not in "\t\n\r"


def _char(ch: str, steps: frozenset[str]) -> str:
    if "invisible" in steps and _is_invisible(ch):
        return ""
    out = ch
    if "compat" in steps:
        if ch in _EMOJI_DIGITS:
            out = _EMOJI_DIGITS[ch]
        else:
            out = unicodedata.normalize("NFKC", ch)
            if out == ch and not ch.isascii():
                digit = unicodedata.digit(ch, None)
                if digit is not None:
                    out = str(digit)
    if "case" in steps:
        out = out.lower()
    if "accents" in steps and not out.isascii():
        decomposed = unicodedata.normalize("NFD", out)
        out = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    if "confusables" in steps:
        out = out.translate(_CONFUSABLES)
    return out


class _Table(dict[int, str]):
    """``str.translate`` table computed on demand: code point -> normalised string.

    Characters that do not map to exactly one character ("irregular": dropped invisibles,
    expansions like "⑪" -> "11") are tracked in ``irregular`` up to a cap; beyond it they are
    neither cached nor tracked, and ``untracked`` counts each sighting so ``char_view`` knows
    to take the slow per-character path.
    """

    def __init__(self, steps: frozenset[str]) -> None:
        super().__init__()
        self.steps = steps
        self.irregular: set[str] = set()
        self.untracked = 0

    def __missing__(self, key: int) -> str:
        ch = chr(key)
        out = _char(ch, self.steps)
        if len(out) != 1:
            if len(self.irregular) >= _IRREGULAR_MAX:
                self.untracked += 1
                return out
            self.irregular.add(ch)
        if len(self) < _CHAR_CACHE_MAX:
            self[key] = out
        return out


_TABLES: dict[frozenset[str], _Table] = {}
_CHAR_CACHE_MAX = 20_000
_IRREGULAR_MAX = 2_000
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def char_view(text: str, steps: frozenset[str]) -> View:
    """Per-character steps: invisible, compat, case, accents, confusables."""
    if text.isascii() and not _ASCII_CONTROL.search(text):
        return identity_view(text.lower() if "case" in steps else text)
    table = _TABLES.get(steps)
    if table is None:
        table = _TABLES.setdefault(steps, _Table(steps))
    untracked = table.untracked
    translated = text.translate(table)
    if table.untracked != untracked:
        return _char_loop(text, table)
    if len(translated) == len(text) and table.irregular.isdisjoint(text):
        return identity_view(translated)  # every character mapped to exactly one
    # some characters vanish or expand: translate the stretches between them in one go
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    for match in _irregular_pattern(table).finditer(text):
        index = match.start()
        if index > pos:
            parts.append(text[pos:index].translate(table))
            starts.extend(range(pos, index))
            ends.extend(range(pos + 1, index + 1))
        out = table[ord(text[index])]
        if out:
            parts.append(out)
            starts.extend([index] * len(out))
            ends.extend([index + 1] * len(out))
        pos = index + 1
    if pos < len(text):
        parts.append(text[pos:].translate(table))
        starts.extend(range(pos, len(text)))
        ends.extend(range(pos + 1, len(text) + 1))
    return View("".join(parts), starts, ends)


def _char_loop(text: str, table: _Table) -> View:
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for index, ch in enumerate(text):
        out = table[ord(ch)]
        if out:
            parts.append(out)
            starts.extend([index] * len(out))
            ends.extend([index + 1] * len(out))
    return View("".join(parts), starts, ends)


_IRREGULAR: dict[tuple[frozenset[str], int], re.Pattern[str]] = {}


def _irregular_pattern(table: _Table) -> re.Pattern[str]:
    """A character class of the table's irregular characters (rebuilt when it grows)."""
    key = (table.steps, len(table.irregular))
    pattern = _IRREGULAR.get(key)
    if pattern is None:
        chars = "".join(sorted(table.irregular))
        body = "".join(f"\\U{ord(c):08x}" for c in chars)
        pattern = re.compile(f"[{body}]" if body else r"(?!)")
        if len(_IRREGULAR) > 64:
            _IRREGULAR.clear()
        _IRREGULAR[key] = pattern
    return pattern


# --- number words ---------------------------------------------------------------------------

_UNITS = {
    # es
    "cero": 0, "uno": 1, "una": 1, "un": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5,
    "seis": 6, "siete": 7, "ocho": 8, "nueve": 9,
    # pt
    "zero": 0, "um": 1, "uma": 1, "dois": 2, "duas": 2, "quatro": 4, "meia": 6, "sete": 7,
    "oito": 8, "nove": 9,
    # en
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9,
}  # fmt: skip
_TEENS = {
    "diez": 10, "once": 11, "doce": 12, "trece": 13, "catorce": 14, "quince": 15,
    "dieciseis": 16, "diecisiete": 17, "dieciocho": 18, "diecinueve": 19,
    "dez": 10, "onze": 11, "doze": 12, "treze": 13, "quatorze": 14, "quinze": 15,
    "dezesseis": 16, "dezasseis": 16, "dezessete": 17, "dezassete": 17, "dezoito": 18,
    "dezenove": 19, "dezanove": 19,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    "veintiuno": 21, "veintiun": 21, "veintidos": 22, "veintitres": 23, "veinticuatro": 24,
    "veinticinco": 25, "veintiseis": 26, "veintisiete": 27, "veintiocho": 28, "veintinueve": 29,
}  # fmt: skip
_TENS = {
    "veinte": 20, "treinta": 30, "cuarenta": 40, "cincuenta": 50, "sesenta": 60,
    "setenta": 70, "ochenta": 80, "noventa": 90,
    "vinte": 20, "trinta": 30, "quarenta": 40, "cinquenta": 50, "cincoenta": 50,
    "sessenta": 60, "oitenta": 80,
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_HUNDREDS = {
    "cien": 100, "ciento": 100, "doscientos": 200, "trescientos": 300, "cuatrocientos": 400,
    "quinientos": 500, "seiscientos": 600, "setecientos": 700, "ochocientos": 800,
    "novecientos": 900, "cem": 100, "cento": 100, "duzentos": 200, "trezentos": 300,
    "quatrocentos": 400, "quinhentos": 500, "seiscentos": 600, "oitocentos": 800,
}  # fmt: skip
_REPEAT = {"double": 2, "doble": 2, "duplo": 2, "dupla": 2, "triple": 3, "triplo": 3, "tripla": 3}
_CONNECTORS = {"y", "e", "and"}
_NUMBER_WORDS = set(_UNITS) | set(_TEENS) | set(_TENS) | set(_HUNDREDS) | set(_REPEAT)
_WORD = re.compile(r"[a-z]+")


def _number_at(words: list[re.Match[str]], i: int, text: str) -> tuple[str, int] | None:
    """Parse the number starting at ``words[i]``; return (digits, index after) or None."""
    w = words[i].group()

    def joined(a: int, b: int) -> bool:  # only spaces/hyphens/connector between words a, b
        gap = text[words[a].end() : words[b].start()]
        return len(gap) <= 3 and gap.strip(" -") == ""

    def connector_then(a: int) -> int | None:  # words[a] is followed by (connector) word
        if a + 1 >= len(words) or not joined(a, a + 1):
            return None
        if words[a + 1].group() in _CONNECTORS:
            if a + 2 < len(words) and joined(a + 1, a + 2):
                return a + 2
            return None
        return a + 1

    if w in _REPEAT:
        nxt = connector_then(i)
        if nxt is not None and words[nxt].group() in _UNITS:
            return str(_UNITS[words[nxt].group()]) * _REPEAT[w], nxt + 1
        return None
    if w in _UNITS:
        return str(_UNITS[w]), i + 1
    if w in _TEENS:
        return str(_TEENS[w]), i + 1
    if w in _TENS:
        nxt = connector_then(i)
        if nxt is not None and words[nxt].group() in _UNITS and _UNITS[words[nxt].group()]:
            return str(_TENS[w] + _UNITS[words[nxt].group()]), nxt + 1
        return str(_TENS[w]), i + 1
    if w in _HUNDREDS:
        value = _HUNDREDS[w]
        nxt = connector_then(i)
        if nxt is not None:
            rest = _number_at(words, nxt, text)
            if rest is not None and len(rest[0]) <= 2 and words[nxt].group() not in _REPEAT:
                return str(value + int(rest[0])), rest[1]
        return str(value), i + 1
    return None


def _oh_is_zero(words: list[re.Match[str]], i: int, text: str) -> bool:
    """English "oh" reads zero between digits or number words ("one oh nine", "5 oh 2")."""

    def digit_like(j: int, gap: str) -> bool:
        return (
            0 <= j < len(words)
            and len(gap) <= 3
            and gap.strip(" -,") == ""
            and (words[j].group() in _NUMBER_WORDS or words[j].group() == "oh")
        )

    def digit_beside(gap: str, before: bool) -> bool:
        tail = gap.rstrip(" -,") if before else gap.lstrip(" -,")
        edge = (tail[-1] if before else tail[0]) if tail else ""
        return len(gap) - len(tail) <= 3 and edge.isdigit()

    start, end = words[i].start(), words[i].end()
    prev_gap = text[words[i - 1].end() : start] if i > 0 else text[max(0, start - 4) : start]
    next_gap = text[end : words[i + 1].start()] if i + 1 < len(words) else text[end : end + 4]
    return (
        digit_like(i - 1, prev_gap)
        or digit_like(i + 1, next_gap)
        or digit_beside(text[max(0, start - 4) : start], True)
        or digit_beside(text[end : end + 4], False)
    )


def number_word_edits(view: View) -> list[tuple[int, int, str]]:
    text = view.text
    words = list(_WORD.finditer(text))
    edits: list[tuple[int, int, str]] = []
    i = 0
    while i < len(words):
        if words[i].group() == "oh" and _oh_is_zero(words, i, text):
            edits.append((words[i].start(), words[i].end(), "0"))
            i += 1
            continue
        if words[i].group() in _NUMBER_WORDS:
            parsed = _number_at(words, i, text)
            if parsed is not None:
                digits, after = _scaled(words, parsed, text)
                start = words[i].start()
                if edits and text[edits[-1][1] : start] == "-" and len(digits) <= 2:
                    # "five-five", "oh-nine": digit by digit, not a date "5-5"
                    prev = edits.pop()
                    edits.append((prev[0], words[after - 1].end(), f"{prev[2]} {digits}"))
                else:
                    edits.append((start, words[after - 1].end(), digits))
                i = after
                continue
        i += 1
    return edits


_SCALES = {"mil": 1000, "thousand": 1000, "hundred": 100}


def _scaled(
    words: list[re.Match[str]], parsed: tuple[str, int], text: str, below: int = 10**6
) -> tuple[str, int]:
    """ "cuatro mil ciento ochenta y siete" -> 4187, "one hundred eighty" -> 180: a parsed number
    followed by a scale word, then (optionally, after "y"/"e"/"and") a smaller number."""
    digits, after = parsed
    if not digits.isdigit() or len(digits) > 3 or after >= len(words):
        return parsed

    def joined(a: int, b: int) -> bool:
        gap = text[words[a].end() : words[b].start()]
        return len(gap) <= 3 and gap.strip(" -") == ""

    scale = _SCALES.get(words[after].group())
    if scale is None or scale >= below or not joined(after - 1, after):
        return parsed
    if int(digits) * scale >= 10**6:
        return parsed
    if scale == 100 and int(digits) > 9:
        return parsed
    value, nxt = int(digits) * scale, after + 1
    if nxt < len(words) and joined(after, nxt) and words[nxt].group() in _CONNECTORS:
        nxt = nxt + 1 if nxt + 1 < len(words) and joined(nxt, nxt + 1) else len(words)
    if nxt < len(words) and joined(nxt - 1, nxt) and words[nxt].group() in _NUMBER_WORDS:
        rest = _number_at(words, nxt, text)
        if rest is not None:
            rest = _scaled(words, rest, text, below=scale)  # one level deeper at most
            scaled_again = (
                rest[1] < len(words)
                and _SCALES.get(words[rest[1]].group(), 0) >= scale
                and joined(rest[1] - 1, rest[1])
            )  # "dos mil dos mil": two numbers, not 2002 and a stray "mil"
            if rest[0].isdigit() and int(rest[0]) < scale and not scaled_again:
                return str(value + int(rest[0])), rest[1]
    return str(value), after + 1


# --- "arroba", "punto", "dot" -------------------------------------------------------------

# Every pattern here starts on a fixed character or a lookbehind (never on a repeated class that
# could restart inside a long run), and every repetition is bounded: linear on any input.
# (the word boundary and the space before "arroba"/"at" are checked after the literal, as
# lookbehinds: every alternative then starts on a fixed character, which the regex engine skips
# to instead of trying each alternative at every position)
_AT_CORE = r"@|[(\[{<]\s{0,3}(?:at|arroba|@)\s{0,3}[)\]}>]|arroba(?<!\warroba)\b|at(?<=\sat)(?=\s)"
_DOT_CORE = r"[(\[{<]\s{0,3}(?:dot|punto|ponto|\.)\s{0,3}[)\]}>]|\b(?:dot|punto|ponto)\b|\."
_AT_MARK = re.compile(_AT_CORE)
_DOT_ALT = rf"\s{{0,3}}(?:{_DOT_CORE})\s{{0,3}}"
_DOT_MARK = re.compile(_DOT_ALT)
_LABEL = r"[a-z0-9](?:[a-z0-9_+-]{0,62})"
_LOCAL_TAIL = re.compile(rf"(?<![a-z0-9_+-]){_LABEL}(?:(?:{_DOT_ALT}){_LABEL}){{0,3}}\Z")
_DOMAIN_HEAD = re.compile(rf"{_LABEL}(?:(?:{_DOT_ALT})[a-z]{{2,12}}\b){{0,3}}")
MAIL_PROVIDERS = frozenset(
    {
        "gmail", "hotmail", "outlook", "yahoo", "icloud", "live", "proton", "protonmail",
        "uol", "bol", "terra", "yandex", "aol", "msn", "ig",
    }
)  # fmt: skip
TLDS = frozenset(
    {
        "com", "net", "org", "info", "biz", "io", "co", "me", "ly", "gl", "ee", "gg", "tv",
        "app", "site", "online", "link", "xyz", "ar", "br", "mx", "es", "pt", "us", "uk",
        "edu", "gov", "store", "shop", "page", "to", "cc", "la", "gift",
    }
)  # fmt: skip
_SPOKEN_DOMAIN = re.compile(
    r"\b([a-z0-9-]{1,63}+)"  # possessive: no separator starts with a label character
    r"(\s{0,3}[(\[{<]\s{0,3}(?:dot|punto|ponto|\.)\s{0,3}[)\]}>]\s{0,3}"
    r"|\s{1,3}(?:dot|punto|ponto)\s{1,3}|\s{1,3}\.\s{0,3}|\.\s{1,3})"
    r"(com|net|org|me|ly|gl|ee|io|co|br|ar|mx|app|link|site|info)\b"
)
_STRONG_TLDS = frozenset({"com", "net", "org", "ly", "gl", "ee", "io"})
_SHORT_HOSTS = frozenset({"wa", "t", "m", "bit", "goo", "linktr", "instagram", "facebook"})
_WINDOW = 160
_MAX_MARKS = 32


def email_word_edits(view: View) -> list[tuple[int, int, str]]:
    """Rewrite spelled-out or split e-mail addresses and domains to their plain form."""
    text = view.text
    edits: list[tuple[int, int, str]] = []
    if "@" in text or "at" in text or "arroba" in text:
        for count, mark in enumerate(_AT_MARK.finditer(text)):
            if count >= _MAX_MARKS:
                break
            at_start, at_end = mark.start(), mark.end()
            while at_start > 0 and mark.start() - at_start < 3 and text[at_start - 1] == " ":
                at_start -= 1
            while at_end < len(text) and at_end - mark.end() < 3 and text[at_end] == " ":
                at_end += 1
            # the domain first: one anchored match, and most "at"s ("at 5 pm") end here, before
            # the costlier search for a user part in the window before the mark
            domain = _DOMAIN_HEAD.match(text, at_end, at_end + _WINDOW)
            if domain is None:
                continue
            labels = _DOT_MARK.split(domain.group())
            if labels[-1] not in TLDS and labels[0] not in MAIL_PROVIDERS:
                continue
            before = text[max(0, at_start - _WINDOW) : at_start]
            local = _LOCAL_TAIL.search(before)
            if local is None:
                continue
            # "soy @name.gifts.ar": a space before a bare "@" and none after is a mention (a
            # handle), not a split address, unless a mail provider follows
            mention = at_start < mark.start() and at_end == mark.end() and mark.group() == "@"
            if mention and labels[0] not in MAIL_PROVIDERS:
                continue
            local_start = at_start - len(before) + local.start()
            for dot in _DOT_MARK.finditer(text, local_start, at_start):
                if dot.group() != ".":
                    edits.append((dot.start(), dot.end(), "."))
            if text[at_start:at_end] != "@":
                edits.append((at_start, at_end, "@"))
            for dot in _DOT_MARK.finditer(text, domain.start(), domain.end()):
                if dot.group() != ".":
                    edits.append((dot.start(), dot.end(), "."))
    if "." in text or "dot" in text or "punto" in text or "ponto" in text:
        taken = {(i, j) for i, j, _ in edits}
        for count, match in enumerate(_SPOKEN_DOMAIN.finditer(text)):
            if count >= _MAX_MARKS:
                break
            i, j = match.span(2)
            spoken = any(c.isalpha() or c in "([{<" for c in match.group(2))
            weak = match.group(3) not in _STRONG_TLDS and match.group(1) not in _SHORT_HOSTS
            if not spoken and weak:
                continue
            if (i, j) not in taken:
                edits.append((i, j, "."))
    edits.sort()
    return edits


# --- keyword views: leet, and the squeezed form for the lexicon -------------------------------

_LEET = str.maketrans(
    {"4": "a", "@": "a", "3": "e", "1": "i", "!": "i", "|": "i", "0": "o", "5": "s", "$": "s",
     "7": "t", "+": "t"}
)  # fmt: skip


def keyword_view(view: View, steps: frozenset[str]) -> View:
    """Leetspeak undone (1:1, same offsets), for keyword matching only."""
    if "leet" not in steps:
        return view
    return View(view.text.translate(_LEET), view.starts, view.ends)


_SPACED_LETTERS = re.compile(r"(?<![a-z0-9])[a-z](?:[^a-z0-9\n]{1,2}[a-z](?![a-z0-9])){2,}")
_GAP = re.compile(r"[^a-z0-9]+")
#: symbols between two letters (group 1); the letter before is consumed rather than looked
#: behind for, so the regex engine starts only on letters (the one after is a lookahead, so
#: "a.b.c" still yields both gaps)
_INNER_SYMBOL = re.compile(r"[a-z]([.\-_~'`^,|:;\"+]+)(?=[a-z])")


def squeezed_view(view: View) -> View:
    """Symbols inside words removed and spaced letters joined ("p.u.t.o", "p u t o"); repeated
    letters stay (the lexicon patterns accept any repetition, so "forro" never meets "fora")."""
    edits: list[tuple[int, int, str]] = []
    text = view.text
    for match in _SPACED_LETTERS.finditer(text):
        # "v a i  s e  f o d e r": single gaps go, wider ones stay as a word break
        for gap in _GAP.finditer(text, match.start(), match.end()):
            edits.append((gap.start(), gap.end(), " " if len(gap.group()) > 1 else ""))
    out = apply_edits(view, edits)
    edits = [(m.start(1), m.end(1), "") for m in _INNER_SYMBOL.finditer(out.text)]
    return apply_edits(out, edits)


def normalize(text: str, steps: frozenset[str] = ALL_STEPS) -> View:
    """The normalised view every detector reads (digits kept as digits)."""
    view = char_view(text, steps)
    if "number_words" in steps:
        view = apply_edits(view, number_word_edits(view))
    if "email_words" in steps:
        view = apply_edits(view, email_word_edits(view))
    return view
