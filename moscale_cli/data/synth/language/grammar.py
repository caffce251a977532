"""Phrasing banks: entries tagged train/held-out, their guards, slots and what they state.

A bank is two lists of templates, one entry per line: the phrasings captions of the training split may use,
and the held-out phrasings that only the held-out captions use. An entry may start with a guard in brackets
that says when it applies (every condition must hold)::

    [n=1] takes a bow                    count is 1
    [n>=2] rotates {side:obj:arm} in circles {c}
    [side=both] ...   [side=one] ...     both sides / one side (left or right)
    [dir=up] ...   [angle=180] ...       the action's direction / turning angle
    [speed=fast] sprints forward         the action's speed
    [w=2] {A}, then {B}                  drawn twice as often as an entry without a weight
    [n>=3 vague] several times           a count word that does not give the number
    [g=m] a man                          subjects: the subject's gender (m, f; n when absent)

Slots (in braces) are filled from other banks or from the program: ``{c}`` a count adverbial ("twice",
"3 times"), ``{n:jump/jumps}`` a counted noun phrase ("two jumps"), ``{side:KIND:LIMB}`` a side phrase
(KIND ``with`` "with the left hand", ``obj`` "his left hand", ``on`` "on the left foot"; LIMB ``hand``,
``arm``, ``fist``, ``leg``), ``{dir}`` a direction phrase, ``{poss}`` his/her/their/the, ``{own}`` the same
but never "the" ("makes his way"), ``{obj}`` it/them.
A guard on an attribute, or a slot that renders it, means the phrase states that attribute.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SPLITS = ("train", "heldout")
SLOT = re.compile(r"\{([^{}]+)\}")
_GUARD = re.compile(r"^\[([^\]]*)\]\s*")
_COND = re.compile(r"^(?P<key>[a-z]+)(?P<op>=|>=|<=)(?P<value>[A-Za-z0-9_.]+)$")
GUARD_KEYS = ("n", "side", "dir", "angle", "speed", "style", "g")


@dataclass(frozen=True)
class Cond:
    key: str
    op: str
    value: str

    def holds(self, ctx: dict[str, object]) -> bool:
        have = ctx.get(self.key)
        if self.op in (">=", "<="):
            if not isinstance(have, int):
                return False
            return have >= int(self.value) if self.op == ">=" else have <= int(self.value)
        if self.key == "side" and self.value == "one":
            return have in ("left", "right")
        return str(have) == self.value


@dataclass(frozen=True)
class Entry:
    """One phrasing of a bank."""

    bank: str
    split: str
    index: int  # position in its bank's list of that split
    text: str  # template without the guard
    conds: tuple[Cond, ...] = ()
    vague: bool = False
    base_weight: float = 1.0

    @property
    def id(self) -> str:
        return f"{self.bank}/{self.split}/{self.index}"

    def applies(self, ctx: dict[str, object]) -> bool:
        return all(c.holds(ctx) for c in self.conds)

    @property
    def weight(self) -> float:
        return self.base_weight

    def slots(self) -> list[str]:
        return SLOT.findall(self.text)

    def guarded(self) -> set[str]:
        """Attributes the guard fixes to a value the phrase itself says (``side=one`` says no side)."""
        return {c.key for c in self.conds if not (c.key == "side" and c.value == "one")}


@dataclass(frozen=True)
class Bank:
    name: str
    train: tuple[Entry, ...]
    heldout: tuple[Entry, ...]

    def of(self, split: str) -> tuple[Entry, ...]:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return self.train if split == "train" else self.heldout

    def all(self) -> tuple[Entry, ...]:
        return self.train + self.heldout


def parse_entry(bank: str, split: str, index: int, line: str) -> Entry:
    text = line.strip()
    conds: list[Cond] = []
    vague = False
    weight = 1.0
    m = _GUARD.match(text)
    if m:
        text = text[m.end() :]
        for tok in m.group(1).split():
            if tok == "vague":
                vague = True
                continue
            cm = _COND.match(tok)
            if cm is not None and cm["key"] == "w" and cm["op"] == "=":
                weight = float(cm["value"])
                continue
            if cm is None or cm["key"] not in GUARD_KEYS:
                raise ValueError(f"bank {bank}: bad guard {tok!r} in {line.strip()!r}")
            conds.append(Cond(cm["key"], cm["op"], cm["value"]))
    if not text:
        raise ValueError(f"bank {bank}: empty entry {line!r}")
    return Entry(bank, split, index, text, tuple(conds), vague, weight)


def bank(name: str, train: str, heldout: str) -> Bank:
    """A bank from two blocks of lines (blank lines and ``#`` comments skipped)."""
    parts = {}
    for split, block in (("train", train), ("heldout", heldout)):
        lines = [ln for ln in block.splitlines() if ln.strip() and not ln.strip().startswith("#")]
        parts[split] = tuple(parse_entry(name, split, i, ln) for i, ln in enumerate(lines))
    return Bank(name, parts["train"], parts["heldout"])
