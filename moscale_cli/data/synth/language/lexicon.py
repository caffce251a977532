"""Every word a synthetic caption can contain, its lemma and coarse (spaCy-style) POS, verb forms, and a
small rule-based tagger that writes HumanML3D's ``word/POS`` tokens.

Token fields follow HumanML3D's text processing: lower case, hyphens removed inside words ("left-handed" ->
"lefthanded"), punctuation dropped, nouns and verbs lemmatised ("left" never). Digits are kept as NUM.
A word that is both a noun and a verb form ("jumps", "steps", "waves") is a noun after a determiner,
number, adjective, preposition, verb or noun modifier ("two jumps", "takes steps", "star jumps", "in
circles") and a verb otherwise ("the person jumps"); "left"/"right" are adjectives before a body part
("left hand"), nouns after "the"/"to"/a possessive ("to the left") and adverbs otherwise ("turns left");
"straight", "high", "slow"... are adjectives before a noun or after a determiner and adverbs otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# ------------------------------------------------------------------------------------------------ verbs
# base[:3sg:ing:past] (the fields left empty follow the regular rules; a base in _DOUBLE doubles its last
# consonant). The first word of every action phrase, and any word right after "and", is one of these.
_VERB_SRC = """
about-turn advance amble applaud ascend back backpedal balance begin:begins:beginning:began bend:::bent
bob bolt boot bounce bound bow box break:::broke bring:::brought charge circle clap climb come:::came
cower crab-walk crank crouch dash deliver dip do:does:doing:did drain drop duck edge elevate employ extend
face finish fling:::flung follow get:::got give:::gave go:goes::went greet haul head heave high-step
hit:::hit hoist hold:::held hop hunker hurl hurry hurtle incline jab jog jump kick lash launch lead:::led
lean leap lengthen lift linger lob loiter look lope lower make:::made march mark mime motion mount move
open pace parade perch perform pirouette pitch pivot plop point proceed punch push put:::put race raise
reach remain retreat reverse revolve rise:::rose roll rotate run:::ran rush saunter scale scamper scoot
see:::saw settle shadowbox shift shuffle sidestep sidle signal sink:::sank sit:::sat slide:::slid smack
sock spin:::spun spread:::spread spring:::sprang sprint squat stand:::stood start stay step stomp stoop
straighten stretch stride:::strode strike:::struck stroll sway swing:::swung switch swivel take:::took
tear:::tore throw:::threw thrust:::thrust toss trace trade tramp travel tread:::trod trek trot turn twirl use
vault veer waggle wait walk wave wheel whirl windmill
"""
_DOUBLE = set(
    "begin bob clap dip drop get high-step hit hop jab jog lob plop put run sidestep sit spin squat step "
    "trek trot".split()
)
# participles used in phrases ("can be seen", "when done", "having finished", "as though drained")
_PARTICIPLES = {
    "seen": "see",
    "done": "do",
    "finished": "finish",
    "drained": "drain",
    "raised": "raise",
    "having": "have",
}


@dataclass(frozen=True)
class VerbForms:
    base: str
    s3: str
    ing: str
    past: str


def _s3(base: str) -> str:
    if base.endswith(("s", "sh", "ch", "x", "z", "o")):
        return base + "es"
    if len(base) > 1 and base.endswith("y") and base[-2] not in "aeiou":
        return base[:-1] + "ies"
    return base + "s"


def _ing(base: str) -> str:
    if base in _DOUBLE:
        return base + base[-1] + "ing"
    if base.endswith("ie"):
        return base[:-2] + "ying"
    if base.endswith("e") and not base.endswith(("ee", "ye", "oe")):
        return base[:-1] + "ing"
    return base + "ing"


def _past(base: str) -> str:
    if base in _DOUBLE:
        return base + base[-1] + "ed"
    if base.endswith("e"):
        return base + "d"
    if len(base) > 1 and base.endswith("y") and base[-2] not in "aeiou":
        return base[:-1] + "ied"
    return base + "ed"


def _verbs() -> dict[str, VerbForms]:
    out = {}
    for item in _VERB_SRC.split():
        base, *rest = item.split(":")
        rest += [""] * (3 - len(rest))
        s3, ing, past = rest
        out[base] = VerbForms(base, s3 or _s3(base), ing or _ing(base), past or _past(base))
    return out


VERBS: dict[str, VerbForms] = _verbs()
VERB_BY_S3: dict[str, VerbForms] = {v.s3: v for v in VERBS.values()}

# ----------------------------------------------------------------------------------------- other words
_WORDS = {
    "DET": "a all an another both each every her his some the their this",
    "PRON": "he it nothing she somebody someone something that them they which who",
    "AUX": "be can is:be",
    "PART": "not",
    "INTJ": "goodbye hello hi",
    "ADP": (
        "above after as at before behind between by down for from in into like of off on onto out over "
        "through to toward towards up with without"
    ),
    "CCONJ": "and or",
    "SCONJ": "if though when while",
    "NUM": "five four ninety one six three two",
    "ADV": (
        "about afterwards again ahead along alternately halfway anti-clockwise anticlockwise apart around away "
        "back backward backwards behind briefly briskly clockwise completely counter-clockwise "
        "counterclockwise drowsily energetically enthusiastically exactly exuberantly finally first forth "
        "forward forwards gently horizontally hurriedly initially just lastly later laterally leftward "
        "leftwards lethargically lightly listlessly next once only onward outward overhand overhead "
        "patiently politely prior quickly rapidly rearward respectfully rightward rightwards round "
        "sideways skyward slowly sluggishly speedily subsequently swiftly then there thrice tiredly "
        "together twice ultimately unhurriedly upright upstairs upward very vigorously wearily wide"
    ),
    "ADJ": (
        "alternating big bodyweight brisk broad circular semicircular gentle complete consecutive deep drowsy easy energetic "
        "enthusiastic excited exhausted fatigued few formal friendly front full half idle imaginary "
        "invisible lateral left-footed left-hand left-handed left-side light lively lone long many "
        "motionless multiple one-footed one-legged opposite other peppy quick right-footed right-hand "
        "right-handed right-side same seated separate several short side-straddle single single-leg "
        "sleepy small spirited spread-eagle steady tired two-handed upper vertical weary whole worn-out"
    ),
    "NOUN": (
        "about-face air arc arm arms:arm ball bend curve semicircle route bends:bend blow blows:blow body bow bows:bow bunch ceiling "
        "chair character chest circle circles:circle circuit clap claps:clap couple crawl degrees:degree "
        "direction distance end energy enthusiasm feet:foot fellow figure fist fists:fist flight floor "
        "foot front gentleman greeting gusto guy hand handclap handclaps:handclap handful hands:hand "
        "haunches head heel heels:heel height hip hips:hip hop hops:hop human hurry individual jab "
        "jabs:jab jack jacks:jack jog jump jumps:jump kick kicks:kick knee knees:knee lady lap leap "
        "leaps:leap leg legs:leg line loop lot man manner means moment motion number object "
        "occasions:occasion pace paces:pace pair palm palms:palm path performer person pirouette "
        "pirouettes:pirouette place position punch punches:punch quarter reps:rep reverse revolution ring "
        "rotation row rush seat set shape shoulder side sides:side sky smack snap soldier speed spin "
        "spine spins:spin spot squat squats:squat staircase stairs:stair star starfish step:step "
        "steps:step stone stool stretch subject swing swings:swing tilt time times:time top torso total "
        "trot turn turns:turn vigor waist wave waves:wave way woman"
    ),
}
# contextual words (see the module docstring)
SIDE_WORDS = {"left", "right"}
ADJ_OR_ADV = {"straight", "high", "low", "fast", "slow", "still", "leisurely"}
_BODY = {
    "hand",
    "hands",
    "arm",
    "arms",
    "leg",
    "legs",
    "foot",
    "feet",
    "fist",
    "fists",
    "side",
    "knee",
    "shoulder",
}
# nouns/adverbs that make the next noun-or-verb word a noun ("star jumps", "arm circles", "forward jumps")
_NOUN_MODIFIERS = {"star", "arm", "knee", "side", "front", "snap", "air", "bodyweight", "hand", "overhead",
                   "quarter", "forward", "sideways", "jumping", "lateral"}  # fmt: skip
_NOUN_CUES = {"DET", "NUM", "ADJ", "ADP", "VERB"}


def norm_word(word: str) -> str:
    """Lower case, hyphens removed (HumanML3D removes '-' before tagging)."""
    return word.lower().replace("-", "")


def _lexicon() -> dict[str, list[tuple[str, str]]]:
    lex: dict[str, list[tuple[str, str]]] = {}

    def add(surface: str, lemma: str, pos: str) -> None:
        key = norm_word(surface)
        cands = lex.setdefault(key, [])
        if (norm_word(lemma), pos) not in cands:
            cands.append((norm_word(lemma), pos))

    for pos, words in _WORDS.items():
        for w in words.split():
            surface, _, lemma = w.partition(":")
            add(surface, lemma or surface, pos)
    for v in VERBS.values():
        for form in (v.base, v.s3, v.ing, v.past):
            add(form, v.base, "VERB")
    for form, base in _PARTICIPLES.items():
        add(form, base, "VERB")
    for w in SIDE_WORDS:
        add(w, w, "ADJ")
    for w in ADJ_OR_ADV:
        add(w, w, "ADV")
    return lex


_LEX = _lexicon()
# surface (hyphens removed) -> (lemma, POS) of the word's first reading; context may change the POS
LEXICON: dict[str, tuple[str, str]] = {w: c[0] for w, c in _LEX.items()}
NOUN_OR_VERB = {w for w, c in _LEX.items() if {p for _, p in c} >= {"NOUN", "VERB"}}
_DIGITS = re.compile(r"^\d+$")
WORD = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*(?:\|[A-Z]+)?")


def known(word: str) -> bool:
    w = norm_word(word)
    return w in _LEX or bool(_DIGITS.match(w))


def _reading(word: str, pos: str) -> tuple[str, str]:
    for lemma, p in _LEX[word]:
        if p == pos:
            return lemma, p
    return word, pos


def tag(words: list[str], breaks: set[int] | None = None) -> list[tuple[str, str]]:
    """(lemma, POS) of every word (``word|POS`` forces a POS); ``breaks``: indices of words that follow
    punctuation (the word before does not make them nouns). KeyError naming an unknown word."""
    breaks = breaks or set()
    plain, forced = [], []
    for raw in words:
        w, _, pos = raw.partition("|")
        plain.append(norm_word(w))
        forced.append(pos or None)
    out: list[tuple[str, str]] = []
    for i, w in enumerate(plain):
        prev = plain[i - 1] if i > 0 and i not in breaks else ""
        prev_pos = out[i - 1][1] if i > 0 and i not in breaks else ""
        nxt = plain[i + 1] if i + 1 < len(plain) else ""
        if _DIGITS.match(w):
            out.append((w, "NUM"))
            continue
        if w not in _LEX:
            raise KeyError(f"caption word {w!r} is not in the synth lexicon")
        if forced[i]:
            out.append(_reading(w, forced[i]))
            continue
        if w in SIDE_WORDS:
            if nxt in _BODY:
                pos = "ADJ"
            elif prev in ("the", "his", "her", "their", "to"):
                pos = "NOUN"
            else:
                pos = "ADV"
            out.append((w, pos))
        elif w in ADJ_OR_ADV:
            nxt_noun = nxt in _LEX and any(p == "NOUN" for _, p in _LEX[nxt])
            out.append((w, "ADJ" if nxt_noun or prev_pos == "DET" else "ADV"))
        elif w in NOUN_OR_VERB:
            is_noun = prev_pos in _NOUN_CUES or prev in _NOUN_MODIFIERS or prev == "of"
            out.append(_reading(w, "NOUN" if is_noun else "VERB"))
        elif w == "to":
            nxt_verb = nxt in VERBS or nxt == "be"
            out.append((w, "PART" if nxt_verb else "ADP"))
        elif w == "this":
            nxt_noun = nxt in _LEX and any(p in ("NOUN", "ADJ") for _, p in _LEX[nxt])
            out.append((w, "DET" if nxt_noun else "PRON"))
        else:
            out.append(_LEX[w][0])
    return out


def tokens(text: str) -> str:
    """HumanML3D ``word/POS`` tokens of a caption (``word|POS`` markup allowed), space-separated."""
    found = list(WORD.finditer(text))
    words = [m.group(0) for m in found]
    breaks = {
        i
        for i in range(1, len(found))
        if re.search(r"[^\w\s|-]", text[found[i - 1].end() : found[i].start()])
    }
    pairs = tag(words, breaks)
    return " ".join(f"{lemma if pos in ('NOUN', 'VERB') else norm_word(w.partition('|')[0])}/{pos}"
                    for w, (lemma, pos) in zip(words, pairs, strict=True))  # fmt: skip
