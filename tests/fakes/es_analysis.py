"""Text analysis and BM25 arithmetic for the fake Elasticsearch (`tests.fakes.elasticsearch`).

Fidelity choices:
- The *standard* tokenizer approximates Unicode UAX#29 word breaking as Lucene's `StandardTokenizer` does for
  Latin text: letters/digits/underscore form tokens; `'`, `.`, `:` join letters ("don't", "U.S.A"); `.`, `,`, `;`
  join digits ("1,000.5"); every CJK ideograph is its own token; tokens longer than 255 chars are split.
- The *english* analyzer is Lucene's `EnglishAnalyzer`: standard tokenizer, possessive `'s` removal, lowercase,
  Lucene's English stop set, then the classic Porter stemmer (a line-by-line port of Lucene's `PorterStemmer`).
- BM25 is Lucene's `BM25Similarity` (k1=1.2, b=0.75, no `(k1 + 1)` factor), computed in float32 like Lucene,
  with document lengths quantised through Lucene's `SmallFloat.intToByte4` norm encoding.

Not emulated: language analyzers other than English, custom analyzers, synonyms, positions/phrases.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable

import numpy as np

# Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET.
ENGLISH_STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these they "
    "this to was will with".split()
)

MAX_TOKEN_LENGTH = 255
_LETTER_JOINERS = frozenset("'\u2019.:\u00b7")
_DIGIT_JOINERS = frozenset(".,;'\u2019")


def _is_ideograph(ch: str) -> bool:
    code = ord(ch)
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2FFFF
        or 0xF900 <= code <= 0xFAFF
        or 0x3040 <= code <= 0x309F  # hiragana: one token per character, as in UAX#29
    )


def _is_word_char(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category[0] in "LNM" or category == "Pc"


def standard_tokenize(text: str) -> list[str]:
    """Split like Lucene's StandardTokenizer (see module docstring for what is approximated)."""
    tokens: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if _is_ideograph(ch):
            tokens.append(ch)
            i += 1
            continue
        if not _is_word_char(ch):
            i += 1
            continue
        j = i + 1
        while j < n:
            cur = text[j]
            if _is_word_char(cur) and not _is_ideograph(cur):
                j += 1
                continue
            if j + 1 < n and _is_word_char(text[j + 1]) and not _is_ideograph(text[j + 1]):
                prev, nxt = text[j - 1], text[j + 1]
                if cur in _LETTER_JOINERS and prev.isalpha() and nxt.isalpha():
                    j += 2
                    continue
                if cur in _DIGIT_JOINERS and prev.isdigit() and nxt.isdigit():
                    j += 2
                    continue
            break
        token = text[i:j]
        tokens.extend(token[k : k + MAX_TOKEN_LENGTH] for k in range(0, len(token), MAX_TOKEN_LENGTH))
        i = j
    return tokens


def _letter_tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    current: list[str] = []
    for ch in text:
        if ch.isalpha():
            current.append(ch)
        elif current:
            tokens.append("".join(current))
            current = []
    if current:
        tokens.append("".join(current))
    return tokens


def _strip_possessive(token: str) -> str:
    if len(token) >= 2 and token[-1] in "sS" and token[-2] in "'\u2019\uff07":
        return token[:-2]
    return token


class PorterStemmer:
    """The classic Porter (1980) algorithm exactly as Lucene's `PorterStemmer` implements it (Release 3)."""

    def __init__(self) -> None:
        self.b: list[str] = []
        self.k = 0
        self.k0 = 0
        self.j = 0

    def _cons(self, i: int) -> bool:
        ch = self.b[i]
        if ch in "aeiou":
            return False
        if ch == "y":
            return True if i == self.k0 else not self._cons(i - 1)
        return True

    def _m(self) -> int:
        n = 0
        i = self.k0
        while True:
            if i > self.j:
                return n
            if not self._cons(i):
                break
            i += 1
        i += 1
        while True:
            while True:
                if i > self.j:
                    return n
                if self._cons(i):
                    break
                i += 1
            i += 1
            n += 1
            while True:
                if i > self.j:
                    return n
                if not self._cons(i):
                    break
                i += 1
            i += 1

    def _vowel_in_stem(self) -> bool:
        return any(not self._cons(i) for i in range(self.k0, self.j + 1))

    def _doublec(self, j: int) -> bool:
        if j < self.k0 + 1:
            return False
        if self.b[j] != self.b[j - 1]:
            return False
        return self._cons(j)

    def _cvc(self, i: int) -> bool:
        if i < self.k0 + 2 or not self._cons(i) or self._cons(i - 1) or not self._cons(i - 2):
            return False
        return self.b[i] not in "wxy"

    def _ends(self, s: str) -> bool:
        length = len(s)
        o = self.k - length + 1
        if o < self.k0:
            return False
        if "".join(self.b[o : self.k + 1]) != s:
            return False
        self.j = self.k - length
        return True

    def _setto(self, s: str) -> None:
        o = self.j + 1
        self.b[o : o + len(s)] = list(s)
        self.k = self.j + len(s)

    def _r(self, s: str) -> None:
        if self._m() > 0:
            self._setto(s)

    def _step1(self) -> None:
        b = self.b
        if b[self.k] == "s":
            if self._ends("sses"):
                self.k -= 2
            elif self._ends("ies"):
                self._setto("i")
            elif b[self.k - 1] != "s":
                self.k -= 1
        if self._ends("eed"):
            if self._m() > 0:
                self.k -= 1
        elif (self._ends("ed") or self._ends("ing")) and self._vowel_in_stem():
            self.k = self.j
            if self._ends("at"):
                self._setto("ate")
            elif self._ends("bl"):
                self._setto("ble")
            elif self._ends("iz"):
                self._setto("ize")
            elif self._doublec(self.k):
                ch = self.b[self.k]
                self.k -= 1
                if ch in "lsz":
                    self.k += 1
            elif self._m() == 1 and self._cvc(self.k):
                self._setto("e")

    def _step2(self) -> None:
        if self._ends("y") and self._vowel_in_stem():
            self.b[self.k] = "i"

    _STEP3 = {
        "a": (("ational", "ate"), ("tional", "tion")),
        "c": (("enci", "ence"), ("anci", "ance")),
        "e": (("izer", "ize"),),
        "l": (("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous")),
        "o": (("ization", "ize"), ("ation", "ate"), ("ator", "ate")),
        "s": (("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous")),
        "t": (("aliti", "al"), ("iviti", "ive"), ("biliti", "ble")),
        "g": (("logi", "log"),),
    }
    _STEP4 = {
        "e": (("icate", "ic"), ("ative", ""), ("alize", "al")),
        "i": (("iciti", "ic"),),
        "l": (("ical", "ic"), ("ful", "")),
        "s": (("ness", ""),),
    }

    def _replace_first(self, rules: tuple[tuple[str, str], ...]) -> None:
        for suffix, replacement in rules:
            if self._ends(suffix):
                self._r(replacement)
                return

    def _step3(self) -> None:
        if self.k == self.k0:
            return
        self._replace_first(self._STEP3.get(self.b[self.k - 1], ()))

    def _step4(self) -> None:
        self._replace_first(self._STEP4.get(self.b[self.k], ()))

    _STEP5 = {
        "a": ("al",),
        "c": ("ance", "ence"),
        "e": ("er",),
        "i": ("ic",),
        "l": ("able", "ible"),
        "n": ("ant", "ement", "ment", "ent"),
        "s": ("ism",),
        "t": ("ate", "iti"),
        "u": ("ous",),
        "v": ("ive",),
        "z": ("ize",),
    }

    def _step5(self) -> None:
        if self.k == self.k0:
            return
        ch = self.b[self.k - 1]
        matched = False
        if ch == "o":
            if self._ends("ion") and self.j >= 0 and self.b[self.j] in "st":
                matched = True
            elif self._ends("ou"):
                matched = True
        else:
            matched = any(self._ends(suffix) for suffix in self._STEP5.get(ch, ()))
        if matched and self._m() > 1:
            self.k = self.j

    def _step6(self) -> None:
        self.j = self.k
        if self.b[self.k] == "e":
            a = self._m()
            if a > 1 or (a == 1 and not self._cvc(self.k - 1)):
                self.k -= 1
        if self.b[self.k] == "l" and self._doublec(self.k) and self._m() > 1:
            self.k -= 1

    def stem(self, word: str) -> str:
        self.b = list(word)
        self.k = len(word) - 1
        self.k0 = 0
        if self.k > self.k0 + 1:
            self._step1()
            self._step2()
            self._step3()
            self._step4()
            self._step5()
            self._step6()
        return "".join(self.b[: self.k + 1])


def porter_stem(word: str) -> str:
    return PorterStemmer().stem(word)


def _standard(text: str) -> list[str]:
    return [t.lower() for t in standard_tokenize(text)]


def _english(text: str) -> list[str]:
    out = []
    for token in standard_tokenize(text):
        token = _strip_possessive(token).lower()
        if token and token not in ENGLISH_STOP_WORDS:
            out.append(porter_stem(token))
    return out


def _simple(text: str) -> list[str]:
    return [t.lower() for t in _letter_tokenize(text)]


def _stop(text: str) -> list[str]:
    return [t for t in _simple(text) if t not in ENGLISH_STOP_WORDS]


ANALYZERS: dict[str, Callable[[str], list[str]]] = {
    "standard": _standard,
    "english": _english,
    "simple": _simple,
    "stop": _stop,
    "whitespace": lambda text: text.split(),
    "keyword": lambda text: [text],
}

# Built-in Elasticsearch analyzers that exist but are not emulated here (a mapping naming one gets HTTP 501).
UNEMULATED_BUILTIN_ANALYZERS = frozenset(
    "pattern fingerprint arabic armenian basque bengali brazilian bulgarian catalan cjk czech danish dutch estonian "
    "finnish french galician german greek hindi hungarian indonesian irish italian latvian lithuanian norwegian "
    "persian portuguese romanian russian serbian sorani spanish swedish turkish thai".split()
)


def analyze(analyzer: str, text: str) -> list[str]:
    return ANALYZERS[analyzer](text)


# --- BM25, as Lucene computes it -------------------------------------------------------------------------------

K1 = np.float32(1.2)
B = np.float32(0.75)


def f32(value: float) -> float:
    """Round to float32 and back, printing like Java's Float.toString would (shortest round-trip decimal)."""
    return float(repr(np.float32(value)).removeprefix("np.float32(").removesuffix(")"))


def _long_to_int4(i: int) -> int:
    num_bits = i.bit_length()
    if num_bits < 4:
        return i
    shift = num_bits - 4
    encoded = (i >> shift) & 0x07
    return encoded | ((shift + 1) << 3)


def _int4_to_long(i: int) -> int:
    bits = i & 0x07
    shift = (i >> 3) - 1
    return bits if shift == -1 else (bits | 0x08) << shift


_NUM_FREE_VALUES = 255 - _long_to_int4(2**31 - 1)


def encode_norm(length: int) -> int:
    """Lucene's SmallFloat.intToByte4: exact below 24, then 4 significant bits."""
    if length < _NUM_FREE_VALUES:
        return length
    return _NUM_FREE_VALUES + _long_to_int4(length - _NUM_FREE_VALUES)


def decode_norm(byte: int) -> int:
    if byte < _NUM_FREE_VALUES:
        return byte
    return _NUM_FREE_VALUES + _int4_to_long(byte - _NUM_FREE_VALUES)


def bm25_idf(doc_count: int, doc_freq: int) -> np.float32:
    return np.float32(math.log(1 + (doc_count - doc_freq + 0.5) / (doc_freq + 0.5)))


def bm25_avgdl(sum_total_term_freq: int, doc_count: int) -> np.float32:
    return np.float32(sum_total_term_freq / doc_count) if doc_count else np.float32(1.0)


def bm25_score(boost: float, idf: np.float32, freq: int, norm_byte: int, avgdl: np.float32) -> np.float32:
    """Lucene 9/10 BM25Scorer.score: weight - weight / (1 + freq * normInverse), all in float32."""
    weight = np.float32(boost) * idf
    length = np.float32(decode_norm(norm_byte))
    norm_inverse = np.float32(1.0) / (K1 * ((np.float32(1.0) - B) + B * length / avgdl))
    return np.float32(weight - weight / (np.float32(1.0) + np.float32(freq) * norm_inverse))
