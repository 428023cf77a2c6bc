"""How Picasso's search reads text: words and their stems, and the index's keys.

The search service (``agents/search``) analyses pictures and people with these functions
when it writes the ``search_documents`` read model, and the edge analyses queries with the
same ones when it searches it, so a word is always looked up the way it was indexed.

- :func:`words`: lower case, accents folded (``Café`` is ``cafe``), split on anything that
  is not a letter or a digit.
- :func:`stem`: Porter's English stemmer (M. F. Porter, "An algorithm for suffix stripping",
  1980), so ``sunsets`` and ``sunset``, ``painting`` and ``paint`` meet. Written here rather
  than taken from a package: it is short, and it is the one thing both sides must agree on.

A document is indexed under keys: each word's stem (``p:sunset``), each word as written
(``p=sunsets``, for type-ahead: the edge finds the words a typed beginning starts), and
each tag (``t:sky``); a person under their name's stems and words (``u:``, ``u=``).
"""

from __future__ import annotations

import re
import unicodedata

# A typed beginning shorter than this matches too much to rank; it is not looked up.
PREFIX_MIN = 2
# Words longer than this are cut (nobody types them; a 2000-character word is an attack).
WORD_MAX = 40

# Key spaces of the index: pictures' stems and words, tags, people's stems and words.
PICTURE_STEM = "p:"
PICTURE_WORD = "p="
PICTURE_TAG = "t:"
PERSON_STEM = "u:"
PERSON_WORD = "u="

# What a document of the index is about (its ``kind``).
PICTURE = "picture"
PERSON = "person"

_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """The words of ``text``: lower case, accents folded, in order, repeats kept."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return [w[:WORD_MAX] for w in _WORD.findall(folded)]


# -- Porter's stemmer ---------------------------------------------------------------------

_VOWELS = frozenset("aeiou")


def _consonant(word: str, i: int) -> bool:
    c = word[i]
    if c in _VOWELS:
        return False
    if c == "y":
        return i == 0 or not _consonant(word, i - 1)
    return True


def _measure(stem: str) -> int:
    """m in [C](VC)^m[V]: how many vowel-consonant sequences ``stem`` has."""
    m, previous_vowel = 0, False
    for i in range(len(stem)):
        vowel = not _consonant(stem, i)
        if previous_vowel and not vowel:
            m += 1
        previous_vowel = vowel
    return m


def _has_vowel(stem: str) -> bool:
    return any(not _consonant(stem, i) for i in range(len(stem)))


def _double_consonant(word: str) -> bool:
    return len(word) >= 2 and word[-1] == word[-2] and _consonant(word, len(word) - 1)


def _cvc(word: str) -> bool:
    """Ends consonant-vowel-consonant, the last not w, x or y (``hop``, not ``snow``)."""
    return (len(word) >= 3 and _consonant(word, len(word) - 1)
            and not _consonant(word, len(word) - 2) and _consonant(word, len(word) - 3)
            and word[-1] not in "wxy")


def _replace(word: str, rules: tuple[tuple[str, str], ...], min_measure: int) -> str:
    """The first rule whose suffix ``word`` ends with applies, if the stem's measure is
    more than ``min_measure``; later rules are not tried."""
    for suffix, replacement in rules:
        if word.endswith(suffix):
            stem = word[:len(word) - len(suffix)]
            return stem + replacement if _measure(stem) > min_measure else word
    return word


_STEP2 = (("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"),
          ("izer", "ize"), ("abli", "able"), ("alli", "al"), ("entli", "ent"), ("eli", "e"),
          ("ousli", "ous"), ("ization", "ize"), ("ation", "ate"), ("ator", "ate"),
          ("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous"),
          ("aliti", "al"), ("iviti", "ive"), ("biliti", "ble"))
_STEP3 = (("icate", "ic"), ("ative", ""), ("alize", "al"), ("iciti", "ic"), ("ical", "ic"),
          ("ful", ""), ("ness", ""))
_STEP4 = ("al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent",
          "ion", "ou", "ism", "ate", "iti", "ous", "ive", "ize")


def stem(word: str) -> str:
    """Porter's stem of a lower-case word; words of one or two letters and words with
    digits are kept as they are."""
    if len(word) <= 2 or not word.isalpha() or not word.isascii():
        return word
    # Step 1a: plurals.
    if word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("ies"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    # Step 1b: -eed, -ed, -ing.
    if word.endswith("eed"):
        if _measure(word[:-3]) > 0:
            word = word[:-1]
    else:
        for suffix in ("ed", "ing"):
            if word.endswith(suffix) and _has_vowel(word[:-len(suffix)]):
                word = word[:-len(suffix)]
                if word.endswith(("at", "bl", "iz")):
                    word += "e"
                elif _double_consonant(word) and word[-1] not in "lsz":
                    word = word[:-1]
                elif _measure(word) == 1 and _cvc(word):
                    word += "e"
                break
    # Step 1c: y to i after a vowel in the stem.
    if word.endswith("y") and _has_vowel(word[:-1]):
        word = word[:-1] + "i"
    word = _replace(word, _STEP2, 0)
    word = _replace(word, _STEP3, 0)
    # Step 4: suffixes of a stem with m > 1 (-ion only after s or t).
    for suffix in sorted(_STEP4, key=len, reverse=True):
        if word.endswith(suffix):
            rest = word[:-len(suffix)]
            if _measure(rest) > 1 and (suffix != "ion" or rest.endswith(("s", "t"))):
                word = rest
            break
    # Step 5: a final e, and a double l.
    if word.endswith("e"):
        rest = word[:-1]
        m = _measure(rest)
        if m > 1 or (m == 1 and not _cvc(rest)):
            word = rest
    if word.endswith("ll") and _measure(word) > 1:
        word = word[:-1]
    return word
