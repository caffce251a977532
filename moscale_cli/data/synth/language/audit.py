"""Finding phrasings in captions: does a caption contain a bank entry's phrasing (in any verb form, with
any filling of its slots)? The tests use it to check that no training caption contains a held-out
phrasing; ``benchmarks/bench_phrasing.py`` to count the banks.

An entry becomes a pattern over normalised text (lower case, punctuation other than hyphens removed):
its words in order, the verb forms of its verbs, the exact words of small slots (``{poss}`` his/her/their/
the, ``{s}`` left/right, numbers, limb nouns, the noun of ``{n:jump/jumps}``) and up to eight words for a
phrase slot (``{c}``, ``{side:..}``, ``{dir}``, the subject...). Slots at either end are left out.
"""

from __future__ import annotations

import re
from functools import cache

from moscale_cli.data.synth.language.action_banks import ACTION_BANKS
from moscale_cli.data.synth.language.grammar import SLOT, Bank, Entry
from moscale_cli.data.synth.language.lexicon import VERB_BY_S3
from moscale_cli.data.synth.language.word_banks import LIMBS, NUMBER_WORDS, WORD_BANKS

_PUNCT = re.compile(r"[^\w\s-]")
_GAP = r"(?:\S+ ){0,8}"
_LIMB_WORDS = sorted({w for pairs in LIMBS.values() for pair in pairs for w in pair})
_SMALL = {
    "poss": ["his", "her", "their", "the"],
    "own": ["his", "her", "their"],
    "obj": ["it", "them"],
    "s": ["left", "right"],
    "L": _LIMB_WORDS,
    "Ls": _LIMB_WORDS,
    "w": list(NUMBER_WORDS.values()),
    "a": ["a", "an"],
}


def all_banks() -> dict[str, Bank]:
    return {**ACTION_BANKS, **WORD_BANKS}


def normalize(text: str) -> str:
    """Lower case, punctuation (but hyphens) removed, single spaces."""
    return re.sub(r"\s+", " ", _PUNCT.sub(" ", text.lower())).strip()


def _alt(words: list[str]) -> str:
    return "(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + ")"


def _word_pattern(word: str, inflect: bool) -> str:
    v = VERB_BY_S3.get(word) if inflect else None
    if v is not None:
        return _alt([v.s3, v.ing, v.past, v.base])
    return re.escape(word)


def _slot_pattern(slot: str) -> str:
    if slot in _SMALL:
        return _alt(_SMALL[slot])
    if slot == "d":
        return r"\d+"
    if slot.startswith("n:"):
        sg, _, pl = slot[2:].partition("/")
        return r"(?:\S+ ){0,4}" + _alt([sg, pl])
    return "\x00"  # a phrase: a gap of words


@cache
def entry_pattern(e: Entry) -> re.Pattern[str] | None:
    """A pattern finding ``e``'s phrasing in normalised text (None when it is nothing but slots)."""
    inflect = e.bank in ACTION_BANKS
    slots: list[str] = []

    def mark(m: re.Match[str]) -> str:
        slots.append(m.group(1))
        return (
            f" zzslot{len(slots) - 1}zz "
            if _slot_pattern(m.group(1)) == "\x00"
            else f"zzslot{len(slots) - 1}zz"
        )

    words = normalize(SLOT.sub(mark, e.text)).split(" ")
    tokens: list[str] = []
    for i, w in enumerate(words):
        gap = re.fullmatch(r"zzslot(\d+)zz", w)
        if gap and _slot_pattern(slots[int(gap.group(1))]) == "\x00":
            tokens.append("\x00")
            continue
        parts = re.split(r"zzslot(\d+)zz", w)  # literal, slot index, literal, ...
        if len(parts) == 1:
            verb_position = i == 0 or (i > 0 and words[i - 1] == "and")
            tokens.append(_word_pattern(w, inflect and verb_position))
            continue
        pat = ""
        for k, part in enumerate(parts):
            if k % 2:
                sp = _slot_pattern(slots[int(part)])
                pat += r"\S*" if sp == "\x00" else sp
            else:
                pat += re.escape(part)
        tokens.append(pat)
    while tokens and tokens[0] == "\x00":
        tokens.pop(0)
    while tokens and tokens[-1] == "\x00":
        tokens.pop()
    if not tokens:
        return None
    out = ""
    for i, t in enumerate(tokens):
        if t == "\x00":
            out += _GAP
        else:
            out += t + (" " if i + 1 < len(tokens) else "")
    return re.compile(r"(?<![\w-])" + out + r"(?![\w-])")


def heldout_entries() -> list[Entry]:
    return [e for b in all_banks().values() for e in b.heldout]


def find_heldout(text: str) -> list[Entry]:
    """The held-out phrasings that occur in a caption."""
    t = normalize(text)
    return [e for e in heldout_entries() if (p := entry_pattern(e)) is not None and p.search(t)]
