"""Captions for a program from the phrasing banks: training captions from training phrasings only, held-out
captions from held-out phrasings, each with what it states about every action.

A held-out caption says every action with a held-out phrasing, and its count, side, direction, speed and
style with held-out words; its subject, sentence frame and sequence words are held-out ones half of the
time (the other half they are training ones, so that the held-out captions also test new action words in
familiar sentences).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from moscale_cli.data.synth.language import word_banks as wb
from moscale_cli.data.synth.language.action_banks import ACTION_BANKS, DIRECTION_FAMILY, IMPLIED_DIRECTION
from moscale_cli.data.synth.language.grammar import SLOT, Bank, Entry
from moscale_cli.data.synth.language.lexicon import VERB_BY_S3, tokens
from moscale_cli.data.synth.program import ActionSpec, Program

TRAIN_CAPTIONS = (3, 5)  # training captions per clip (inclusive range)
HELDOUT_CAPTIONS = 2  # held-out captions per clip
STRUCTURE_HELDOUT_P = 0.5  # a held-out caption's subject/frame/sequence words are held-out ones this often
P_FRAGMENT = 0.1  # one counted action said as a noun phrase ("three star jumps")
P_COUNT_FRONT = 0.1  # the count first ("twice, the person jumps")
P_FRONTED = 0.12  # two actions, the second named first ("before sitting down, a man waves")
P_OPENER = 0.2  # "first, ..." before several actions
P_LAST = 0.45  # "and finally" before the last of three actions
P_STYLE_SUBJECT = 0.35  # the style on the subject ("a tired man squats")
P_PRE_ADVERB = 0.35  # a one-word manner adverb before the verb ("slowly walks forward")
P_VAGUE = 0.08  # a count said vaguely ("several times") where the bank has a vague word for it
ATTRIBUTE_ORDER = ("count", "side", "direction", "angle", "speed", "style")
_COUNT_SENTINEL = "\x01"
_NOUN_ENTRY = re.compile(r"^(?:does|performs|makes|gives|throws|takes) \{n:([^{}/]+)/([^{}]+)\}(.*)$")


@dataclass
class Caption:
    """One caption of a clip and what it says."""

    text: str
    tokens: str
    split: str  # "train" | "heldout"
    states: list[list[str]]  # per action of the program: the attributes the caption states
    vague_count: list[bool]  # per action: its count is said with a word that does not give the number
    used: list[str] = field(default_factory=list)  # ids of the bank entries it was built from ("#noun": the
    # noun of an action phrasing said as a noun phrase)

    def info(self) -> dict:
        """The ``caption_info`` record of ``labels.jsonl``."""
        return {
            "text": self.text,
            "split": self.split,
            "states": self.states,
            "vague_count": self.vague_count,
        }


@dataclass
class _Phrase:
    vp: str  # third person singular verb phrase, with the count sentinel where the count adverbial goes
    count: str | None  # the count adverbial ({c}) when the phrase has one
    states: set[str]
    vague: bool
    pre: str = ""  # manner adverb before the verb
    post: str = ""  # manner adverbials after the phrase

    def text(self, form: str, front_count: bool = False) -> str:
        vp = self.vp.replace(_COUNT_SENTINEL, "" if front_count else (self.count or ""))
        out = " ".join(w for w in (self.pre, inflect(vp, form), self.post) if w)
        return re.sub(r"\s+", " ", out).strip()


@dataclass
class _Draw:
    """The random choices of one caption: the generator, the split, entries already used in this clip."""

    rng: np.random.Generator
    split: str
    avoid: set[str]
    used: list[str] = field(default_factory=list)

    def pick(
        self,
        b: Bank,
        ctx: dict[str, object],
        split: str | None = None,
        diverse: bool = False,
        keep: Callable[[Entry], bool] | None = None,
    ) -> Entry:
        """An entry of ``b`` that applies to ``ctx`` (and that ``keep`` keeps), drawn by weight; ``diverse``:
        one not used yet in this clip if there is one. A count bank gives a vague word with probability
        ``P_VAGUE`` when it has one for the count."""
        cands = [e for e in b.of(split or self.split) if e.applies(ctx) and (keep is None or keep(e))]
        if any(e.vague for e in cands):
            vague = self.coin(P_VAGUE)
            cands = [e for e in cands if e.vague == vague] or cands
        if not cands:
            raise KeyError(f"bank {b.name} has no {split or self.split} phrasing for {ctx}")
        if diverse:
            fresh = [e for e in cands if e.id not in self.avoid]
            cands = fresh or cands
        w = np.array([e.weight for e in cands], dtype=np.float64)
        e = cands[int(self.rng.choice(len(cands), p=w / w.sum()))]
        self.used.append(e.id)
        if diverse:
            self.avoid.add(e.id)
        return e

    def structure_split(self) -> str:
        if self.split == "train":
            return "train"
        return "heldout" if self.rng.random() < STRUCTURE_HELDOUT_P else "train"

    def coin(self, p: float) -> bool:
        return bool(self.rng.random() < p)


def inflect(vp: str, form: str) -> str:
    """A third-person verb phrase in another form: ``s3`` (as is), ``ing``, ``past`` or ``base``.

    The first word and every word right after "and" that is a verb form are inflected."""
    if form == "s3":
        return vp
    words = vp.split(" ")
    for i, w in enumerate(words):
        if i == 0 or (words[i - 1] == "and" and w in VERB_BY_S3):
            v = VERB_BY_S3.get(w)
            if v is None:
                raise KeyError(f"{w!r} (in {vp!r}) is not a known verb form")
            words[i] = {"ing": v.ing, "past": v.past, "base": v.base}[form]
    return " ".join(words)


def _ctx(spec: ActionSpec) -> dict[str, object]:
    return {"n": spec.count, "side": spec.side, "dir": spec.direction, "angle": spec.angle,
            "speed": spec.speed, "style": spec.style}  # fmt: skip


def _fill_numbers(text: str, n: int | None) -> str:
    if n is not None:
        text = text.replace("{w}", wb.NUMBER_WORDS[n]).replace("{d}", str(n))
    return text


def _article(next_word: str) -> str:
    return "an" if next_word[:1] in "aeiou" and not next_word.startswith("one") else "a"


def _count_adverb(d: _Draw, ctx: dict[str, object]) -> tuple[str, bool]:
    e = d.pick(wb.COUNT_ADVERB, ctx, diverse=True)
    return _fill_numbers(e.text, ctx["n"]), e.vague  # type: ignore[arg-type]


def _count_noun(d: _Draw, ctx: dict[str, object], sg: str, pl: str) -> tuple[str, bool]:
    e = d.pick(wb.COUNT_NOUN, ctx, diverse=True)
    text = _fill_numbers(e.text, ctx["n"]).replace("{sg}", sg).replace("{pl}", pl)  # type: ignore[arg-type]
    text = text.replace("{a}", _article(sg))
    return text, e.vague


def _side(d: _Draw, ctx: dict[str, object], kind: str, limb: str, poss: str) -> str:
    e = d.pick(wb.SIDE_BANKS[f"{kind}:{limb}"], ctx, diverse=True)
    sg, pl = wb.LIMBS[limb][int(d.rng.integers(len(wb.LIMBS[limb])))]
    side = str(ctx["side"])
    return e.text.replace("{s}", side).replace("{L}", sg).replace("{Ls}", pl).replace("{poss}", poss)


def _direction(d: _Draw, ctx: dict[str, object], action: str, poss: str) -> str:
    e = d.pick(wb.DIRECTION_BANKS[DIRECTION_FAMILY[action]], ctx, diverse=True)
    return e.text.replace("{poss}", poss)


def entry_states(action: str, e: Entry) -> set[str]:
    """The attributes an action phrasing states: those its guard fixes ("[angle=180] turns around"), those
    its slots render ({c}, {n:..} count, {side:..} side, {dir} direction) and the direction the action's
    name implies ("walks backward")."""
    names = {"n": "count", "dir": "direction"}
    states = {names.get(k, k) for k in e.guarded() if k != "g"}
    for slot in e.slots():
        if slot == "c" or slot.startswith("n:"):
            states.add("count")
        elif slot.startswith("side:"):
            states.add("side")
        elif slot == "dir":
            states.add("direction")
    if action in IMPLIED_DIRECTION:
        states.add("direction")
    return states


def _render_entry(d: _Draw, e: Entry, spec: ActionSpec, poss: str, own: str) -> _Phrase:
    """The phrase of entry ``e`` for ``spec``; ``poss`` fills {poss} (may be "the"), ``own`` fills {own}."""
    ctx = _ctx(spec)
    states = entry_states(spec.action, e)
    count_text: str | None = None
    vague = False
    out = []
    pos = 0
    for m in SLOT.finditer(e.text):
        out.append(e.text[pos : m.start()])
        pos = m.end()
        slot = m.group(1)
        if slot == "c":
            count_text, vague = _count_adverb(d, ctx)
            out.append(_COUNT_SENTINEL)
        elif slot.startswith("n:"):
            sg, _, pl = slot[2:].partition("/")
            text, vague = _count_noun(d, ctx, sg, pl)
            out.append(text)
        elif slot.startswith("side:"):
            _, kind, limb = slot.split(":")
            out.append(_side(d, ctx, kind, limb, poss))
        elif slot == "dir":
            out.append(_direction(d, ctx, spec.action, poss))
        elif slot == "poss":
            out.append(poss)
        elif slot == "own":
            out.append(own)
        elif slot == "obj":
            out.append("them" if spec.side == "both" else "it")
        else:
            raise KeyError(f"unknown slot {{{slot}}} in {e.id}: {e.text!r}")
    out.append(e.text[pos:])
    vp = re.sub(r" +", " ", "".join(out)).strip()
    return _Phrase(vp, count_text, states, vague)


def _add_manner(d: _Draw, ph: _Phrase, spec: ActionSpec, style_on_subject: bool) -> None:
    ctx = _ctx(spec)
    words = []
    if spec.speed != "normal" and "speed" not in ph.states:
        words.append(d.pick(wb.SPEED, ctx).text)
        ph.states.add("speed")
    if spec.style is not None and "style" not in ph.states and not style_on_subject:
        words.append(d.pick(wb.STYLE, ctx).text)
        ph.states.add("style")
    if not words:
        return
    if len(words) == 1 and " " not in words[0] and words[0].endswith("ly") and d.coin(P_PRE_ADVERB):
        ph.pre = words[0]
    else:
        ph.post = " and ".join(words)


def _subject(d: _Draw, split: str) -> tuple[str, str]:
    """(subject, gender m/f/n)."""
    e = d.pick(wb.SUBJECT, {}, split=split)
    return e.text, next((c.value for c in e.conds if c.key == "g"), "n")


def _possessives(d: _Draw, g: str) -> tuple[str, str]:
    """(poss, own): the caption's possessive ("the" 30% of the time) and the one that is never "the"."""
    own = {"m": "his", "f": "her"}.get(g) or ("their" if d.rng.random() < 0.6 else "his")
    return ("the" if d.rng.random() < 0.3 else own), own


def _pronoun(subject: str, g: str) -> str:
    if g == "m":
        return "he"
    if g == "f":
        return "she"
    det, _, noun = subject.partition(" ")
    return f"the {noun.split()[-1]}" if det in ("a", "an", "the", "this") and noun else "the person"


def _frame_form(text: str) -> str:
    m = re.search(r"\{VP(?::(\w+))?\}", text)
    return (m.group(1) or "s3") if m else "s3"


def _finish(text: str, d: _Draw) -> str:
    """Spacing, case and punctuation of the caption."""
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r" ,", ",", text)
    if d.coin(0.12):
        text = text.replace(",", "")
    sentences = [s.strip() for s in text.split(". ") if s.strip()]
    r = d.rng.random()
    if r < 0.62:
        sentences = [s[:1].upper() + s[1:] for s in sentences]
    elif r > 0.96:
        sentences = [s.upper() for s in sentences]
    text = ". ".join(sentences)
    if d.coin(0.75):
        text += "."
    return text


def render(program: Program, rng: np.random.Generator, split: str, avoid: set[str] | None = None) -> Caption:
    """One caption of ``program`` from the ``split`` phrasings ("train" or "heldout")."""
    d = _Draw(rng, split, avoid if avoid is not None else set())
    specs = program.actions
    n = len(specs)
    # subject (the style on the subject only for one action)
    subject, g = _subject(d, d.structure_split())
    style_adj = None
    det, _, noun = subject.partition(" ")
    if n == 1 and specs[0].style is not None and det in ("a", "an", "the", "this") and " " not in noun:
        if d.coin(P_STYLE_SUBJECT):
            style_adj = d.pick(wb.STYLE_ADJECTIVE, _ctx(specs[0])).text
            subject = f"{_article(style_adj) if det in ('a', 'an') else det} {style_adj} {noun}"
    (poss, own), pron = _possessives(d, g), _pronoun(subject, g)

    # a single counted action as a noun phrase
    spec0 = specs[0]
    if (
        n == 1
        and spec0.count is not None
        and spec0.speed == "normal"
        and spec0.style is None
        and d.coin(P_FRAGMENT)
    ):
        nouns = [
            e
            for e in ACTION_BANKS[spec0.action].of(split)
            if _NOUN_ENTRY.match(e.text) and e.applies(_ctx(spec0))
        ]
        if nouns:
            return _fragment(d, spec0, nouns, poss, own)

    phrases = []
    for spec in specs:
        e = d.pick(ACTION_BANKS[spec.action], _ctx(spec), diverse=True)
        ph = _render_entry(d, e, spec, poss, own)
        _add_manner(d, ph, spec, style_adj is not None)
        if style_adj is not None:
            ph.states.add("style")
        phrases.append(ph)

    frame = d.pick(
        wb.FRAME, {}, split=d.structure_split(), keep=(lambda e: "{S}" in e.text) if style_adj else None
    )
    form = _frame_form(frame.text)
    finite = form in ("s3", "past")
    plain = frame.text in ("{S} {VP}", "{S} {VP:past}")  # "a man waves", "a man waved"
    if n == 2 and finite and d.coin(P_FRONTED):
        fr = d.pick(wb.FRONTED, {}, split=d.structure_split())
        text = (fr.text.replace("{S}", subject).replace("{A:ing}", phrases[0].text("ing"))
                .replace("{B:ing}", phrases[1].text("ing")).replace("{A}", phrases[0].text(form))
                .replace("{B}", phrases[1].text(form)))  # fmt: skip
        return _caption(d, text, phrases)
    if n == 1 and phrases[0].count is not None and plain and d.coin(P_COUNT_FRONT):
        text = f"{phrases[0].count}, {subject} {phrases[0].text(form, front_count=True)}"
        return _caption(d, text, phrases)
    body = phrases[0].text(form)
    for i in range(1, n):
        last = n == 3 and i == n - 1 and d.coin(P_LAST)
        jb = wb.JOIN_LAST if last else wb.JOIN
        j = d.pick(jb, {}, split=d.structure_split(), keep=None if finite else lambda e: "{P}" not in e.text)
        b_form = "ing" if "{B:ing}" in j.text else form
        body = (
            j.text.replace("{A}", body)
            .replace("{P}", pron)
            .replace("{B:ing}", "{B}")
            .replace("{B}", phrases[i].text(b_form))
        )
    text = re.sub(r"\{VP(?::\w+)?\}", lambda _m: body, frame.text).replace("{S}", subject)
    if n > 1 and plain and d.coin(P_OPENER):
        op = d.pick(wb.OPENER, {}, split=d.structure_split()).text
        text = f"{op}, {text}" if d.coin(0.7) else f"{op} {text}"
    return _caption(d, text, phrases)


def _fragment(d: _Draw, spec: ActionSpec, nouns: list[Entry], poss: str, own: str) -> Caption:
    ctx = _ctx(spec)
    e = nouns[int(d.rng.integers(len(nouns)))]
    d.used.append(e.id + "#noun")  # its noun only: "three star jumps"
    m = _NOUN_ENTRY.match(e.text)
    assert m is not None
    sg, pl, rest = m.group(1), m.group(2), m.group(3)
    # the rest of the phrase ("in place", "with the left leg") rendered through the entry's own slots
    rest_ph = _render_entry(d, Entry(e.bank, e.split, e.index, "x" + rest, e.conds), spec, poss, own)
    rest_text = rest_ph.vp[1:].replace(_COUNT_SENTINEL, "").strip()
    fr = d.pick(wb.FRAGMENT, ctx, split=d.split if d.split == "train" else d.structure_split())
    vague = False
    if "{np}" in fr.text:
        np_text, vague = _count_noun(d, ctx, sg, pl)
        text = fr.text.replace("{np}", " ".join(w for w in (np_text, rest_text) if w))
    else:
        text = _fill_numbers(fr.text, spec.count)
        text = text.replace("{pl}", " ".join(w for w in (pl, rest_text) if w))
        text = text.replace("{sg}", " ".join(w for w in (sg, rest_text) if w))
    states = rest_ph.states | {"count"}
    ph = _Phrase("", None, states, vague)
    return _caption(d, text, [ph])


def _caption(d: _Draw, text: str, phrases: list[_Phrase]) -> Caption:
    text = _finish(text, d)
    states = [[a for a in ATTRIBUTE_ORDER if a in ph.states] for ph in phrases]
    return Caption(text, tokens(text), d.split, states, [ph.vague for ph in phrases], list(d.used))


def caption_set(
    program: Program,
    rng: np.random.Generator,
    n_train: tuple[int, int] = TRAIN_CAPTIONS,
    n_heldout: int = HELDOUT_CAPTIONS,
) -> tuple[list[Caption], list[Caption]]:
    """Distinct training captions (a number in ``n_train``) and ``n_heldout`` distinct held-out captions."""
    out = []
    for split, want in (("train", int(rng.integers(n_train[0], n_train[1] + 1))), ("heldout", n_heldout)):
        seen: dict[str, Caption] = {}
        avoid: set[str] = set()
        for _ in range(40 if want > 0 else 0):
            c = render(program, rng, split, avoid)
            seen.setdefault(re.sub(r"[^a-z0-9 ]", "", c.text.lower()), c)
            if len(seen) >= want:
                break
        out.append(list(seen.values()))
    return out[0], out[1]
