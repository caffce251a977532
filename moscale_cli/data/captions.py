"""Caption text for imported clips: label templates and a small rule-based ``word/POS`` tagger.

Labels with templates (Bandai-Namco's contents and styles) use hand-written paraphrases; any other
content/style label is still captioned from its words ("dash" + "childish" -> "a childish person
dashes", "bye" -> "someone does a bye motion").

The tagger imitates the tokens field of HumanML3D's caption files (spaCy coarse POS, '-' removed,
non-alphabetic tokens dropped, NOUN/VERB lemmatised except "left") over a fixed lexicon that covers
the template vocabulary and common motion words; unknown words get a suffix-based guess.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from moscale_cli.data.layout import CaptionLine

BANDAI_CONTENTS = (
    "walk", "walk-turn-left", "walk-turn-right", "run", "wave-both-hands", "wave-left-hand",
    "wave-right-hand", "raise-up-both-hands", "raise-up-left-hand", "raise-up-right-hand",
)  # fmt: skip
BANDAI_STYLES = ("active", "elderly", "exhausted", "feminine", "masculine", "normal", "youthful")

# Verb phrases (third person, after a subject), several paraphrases per content label.
_CONTENT_PHRASES: dict[str, tuple[str, ...]] = {
    "walk": ("walks forward", "walks straight ahead", "is walking forward", "takes a few steps forward"),
    "walk-turn-left": (
        "walks and turns to the left",
        "walks forward and then turns left",
        "makes a left turn while walking",
        "walks in a curve to the left",
    ),
    "walk-turn-right": (
        "walks and turns to the right",
        "walks forward and then turns right",
        "makes a right turn while walking",
        "walks in a curve to the right",
    ),
    "run": ("runs forward", "jogs straight ahead", "is running forward", "runs in a straight line"),
    "wave-both-hands": (
        "waves with both hands",
        "waves both hands in the air",
        "waves hello with both hands",
        "is waving both arms",
    ),
    "wave-left-hand": (
        "waves with the left hand",
        "waves the left hand",
        "waves hello with the left hand",
        "is waving the left arm",
    ),
    "wave-right-hand": (
        "waves with the right hand",
        "waves the right hand",
        "waves hello with the right hand",
        "is waving the right arm",
    ),
    "raise-up-both-hands": (
        "raises both hands up",
        "lifts both arms above the head",
        "puts both hands up in the air",
        "raises both arms over the head",
    ),
    "raise-up-left-hand": (
        "raises the left hand",
        "lifts the left arm up",
        "puts the left hand up in the air",
        "raises the left arm over the head",
    ),
    "raise-up-right-hand": (
        "raises the right hand",
        "lifts the right arm up",
        "puts the right hand up in the air",
        "raises the right arm over the head",
    ),
}

# Style: subjects that carry the style, and adverbials that carry it after a neutral subject.
_STYLE_SUBJECTS: dict[str, tuple[str, ...]] = {
    "active": ("an active person", "an energetic person", "a lively person"),
    "elderly": ("an elderly person", "an old person", "an old man"),
    "exhausted": ("an exhausted person", "a tired person", "a worn out person"),
    "feminine": ("a woman", "a feminine person", "a graceful person"),
    "masculine": ("a man", "a masculine person", "a sturdy person"),
    "normal": ("a person", "someone", "the person"),
    "youthful": ("a young person", "a youthful person", "a child"),
}
_STYLE_ADVERBIALS: dict[str, tuple[str, ...]] = {
    "active": (", full of energy", " energetically", " in a lively way"),
    "elderly": (" like an elderly person", " slowly like an old person", " with the care of an old person"),
    "exhausted": (" wearily", " as if exhausted", " in a tired way"),
    "feminine": (" in a feminine way", " in a feminine style", " gracefully"),
    "masculine": (" in a masculine way", " in a masculine style", " with a broad stance"),
    "normal": ("", " normally", " in a normal way"),
    "youthful": (" in a youthful way", " like a young person", " with youthful energy"),
}
_NEUTRAL_SUBJECTS = ("a person", "someone", "the person")

BANDAI_NAME = re.compile(r"^dataset-2_(?P<content>[a-z-]+?)_(?P<style>[a-z]+)_(?P<num>\d+)$")


def parse_bandai_name(stem: str) -> tuple[str, str] | None:
    """(content, style) from ``dataset-2_{content}_{style}_{NNN}``, or None when the name does not match."""
    m = BANDAI_NAME.match(stem)
    if not m or m["content"] not in BANDAI_CONTENTS or m["style"] not in BANDAI_STYLES:
        return None
    return m["content"], m["style"]


def bandai_captions(content: str, style: str, key: str, seed: int = 0, n: int = 4) -> list[CaptionLine]:
    """``n`` (>= 3) distinct captions for a clip, chosen deterministically from ``(seed, key)``."""
    if content not in _CONTENT_PHRASES:
        raise ValueError(f"unknown content label {content!r}")
    if style not in _STYLE_SUBJECTS:
        raise ValueError(f"unknown style label {style!r}")
    return label_captions({"content": content, "style": style}, key, seed, n)


# Motion verbs known to the generic captions (base form); a content label starting with one of them
# becomes a verb phrase ("walk-back" -> "walks back"), any other label a noun ("bye" -> "a bye motion").
MOTION_VERBS = (
    "walk run jog sprint dash jump hop skip leap kick punch slash stab swing throw catch wave bow nod "
    "shake clap point push pull lift raise carry drop pick sit stand squat crouch kneel lie crawl climb "
    "dance spin turn twist stretch bend lean reach step march stomp limp sneak tiptoe stagger stumble "
    "fall roll dodge duck block strike hit box fight call greet salute beckon guide respond answer "
    "shrug cheer celebrate wipe scratch rub hug sway rock swim fly slide skate ski balance rest wait "
    "look watch listen drink eat cry laugh yell shout sing play pray"
).split()


def third_person(verb: str) -> str:
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if len(verb) > 1 and verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def present_participle(verb: str) -> str:
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")):
        return verb[:-1] + "ing"
    if len(verb) <= 4 and re.fullmatch(r"[^aeiou]*[aeiou][^aeiouwxy]", verb):
        return verb + verb[-1] + "ing"
    return verb + "ing"


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _label_words(label: str) -> list[str]:
    return [w for w in re.split(r"[\s_-]+", label.strip().lower()) if w]


def _content_phrases(content: str) -> tuple[str, ...]:
    if content in _CONTENT_PHRASES:
        return _CONTENT_PHRASES[content]
    words = _label_words(content)
    if words and words[0] in MOTION_VERBS:
        v3, ving = third_person(words[0]), present_participle(words[0])
        return tuple(
            " ".join([*head, *words[1:], *tail])
            for head, tail in (([v3], []), (["is", ving], []), ([v3], ["once"]))
        )
    label = " ".join(words)
    a = _article(label)
    return (f"does {a} {label} motion", f"performs {a} {label} movement", f"makes {a} {label} gesture")


def _style_parts(style: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(subjects carrying the style, adverbials carrying it after a neutral subject)."""
    if style is None:
        return (), ("",)
    if style in _STYLE_SUBJECTS:
        return _STYLE_SUBJECTS[style], _STYLE_ADVERBIALS[style]
    w = " ".join(_label_words(style))
    a = _article(w)
    return (f"{a} {w} person",), (f" in {a} {w} way", f" in {a} {w} manner", f", looking {w}")


def label_captions(labels: dict[str, str], key: str, seed: int = 0, n: int = 4) -> list[CaptionLine]:
    """``n`` (>= 3) distinct captions for a clip from its labels (``content`` and/or ``style``),
    chosen deterministically from ``(seed, key)``; templates where there are some, else the labels'
    words. Empty when there is neither a content nor a style label."""
    content, style = labels.get("content"), labels.get("style")
    if content is not None and not _label_words(content):
        content = None
    if style is not None and not _label_words(style):
        style = None
    if content is None and style is None:
        return []
    phrases = (
        _content_phrases(content) if content is not None else ("moves", "is moving around", "moves around")
    )
    subjects, adverbials = _style_parts(style)
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    candidates: list[tuple[int, str]] = []  # (verb phrase index, caption)
    for k, p in enumerate(phrases):
        for s in subjects:
            candidates.append((k, f"{s} {p}"))
        for s in _NEUTRAL_SUBJECTS:
            for a in adverbials:
                candidates.append((k, f"{s} {p}{a}"))
    candidates = list(dict.fromkeys(candidates))
    # each caption with a different verb phrase while there are unused ones
    chosen: list[str] = []
    used: set[int] = set()
    for idx in rng.permutation(len(candidates)):
        k, c = candidates[idx]
        if (k in used and len(used) < len(phrases)) or c in chosen:
            continue
        used.add(k)
        chosen.append(c)
        if len(chosen) == n:
            break
    adjectives = frozenset(_label_words(style)) - {"not"} if style is not None else frozenset()
    return [CaptionLine(caption=c, tokens=tag_tokens(c, adjectives)) for c in chosen]


# ---------------------------------------------------------------------------------------- tagger
_LEXICON: dict[str, tuple[str, str]] = {}


def _add(pos: str, words: str) -> None:
    for w in words.split():
        lemma = w
        if ":" in w:
            w, lemma = w.split(":")
        _LEXICON[w] = (lemma, pos)


_add("DET", "a an the this that these those some each every all both another")
_add("PRON", "someone somebody he she it they him her them his its their himself herself themselves one")
_add(
    "ADP",
    "with to in on at over under above below into onto from of by for around across through toward towards behind like as along",
)
_add("CCONJ", "and or but")
_add("SCONJ", "while then if because")
_add("AUX", "is:be are:be was:be were:be be")
_add("PART", "not")
_add("INTJ", "hello hi")
_add(
    "ADV",
    "forward forwards backward backwards ahead up down away back slowly quickly fast normally gracefully wearily "
    "energetically again twice straight around sideways then very",
)
_add(
    "ADJ",
    "active energetic lively elderly old exhausted tired worn feminine masculine normal young youthful broad "
    "few small big large quick slow other strong high low full long short graceful sturdy",
)
_add(
    "NOUN",
    "person:person people:person man:man woman:woman child:child hand:hand hands:hand arm:arm arms:arm "
    "head:head leg:leg legs:leg foot:foot feet:foot step:step steps:step turn:turn curve:curve line:line "
    "air:air way:way style:style energy:energy care:care stance:stance circle:circle side:side "
    "direction:direction body:body knee:knee knees:knee time:time times:time"
    " circles:circle ground:ground floor:floor",
)
_add(
    "VERB",
    "walks:walk walk:walk walking:walk walked:walk turns:turn turning:turn turned:turn runs:run run:run "
    "running:run jogs:jog jog:jog jogging:jog waves:wave wave:wave waving:wave raises:raise raise:raise "
    "raising:raise lifts:lift lift:lift lifting:lift puts:put put:put putting:put makes:make make:make "
    "takes:take take:take jumps:jump jump:jump jumping:jump kicks:kick kick:kick sits:sit sit:sit "
    "stands:stand stand:stand exhausted:exhaust moves:move move:move goes:go go:go",
)
_SIDES = {"left", "right"}
_BODY_NOUNS = {
    "hand",
    "hands",
    "arm",
    "arms",
    "leg",
    "legs",
    "foot",
    "feet",
    "side",
    "knee",
    "shoulder",
    "turn",
}


_add(
    "NOUN",
    "motion:motion motions:motion movement:movement movements:movement gesture:gesture gestures:gesture "
    "manner:manner action:action",
)
_add(
    "VERB",
    "does:do do:do doing:do performs:perform perform:perform performing:perform looking:look moving:move",
)
for _v in MOTION_VERBS:
    for _form in (_v, third_person(_v), present_participle(_v)):
        _LEXICON.setdefault(_form, (_v, "VERB"))
_add("ADV", "once")


def _guess(word: str) -> tuple[str, str]:
    if word.endswith("ly"):
        return word, "ADV"
    if word.endswith(("ish", "ful", "ous", "less", "ive")):
        return word, "ADJ"
    if word.endswith("ing") and len(word) > 5:
        return word, "VERB"
    return word, "NOUN"


def tag_tokens(text: str, adjectives: frozenset[str] = frozenset()) -> str:
    """``word/POS`` tokens of a caption (space-separated), HumanML3D style; ``adjectives``: words tagged
    ADJ whatever the lexicon says (a style label's words)."""
    words = [w for w in re.findall(r"[A-Za-z]+(?:'[A-Za-z]+)?", text.replace("-", "").lower()) if w.isalpha()]
    out = []
    for i, w in enumerate(words):
        if w in _SIDES:
            nxt = words[i + 1] if i + 1 < len(words) else ""
            prev = words[i - 1] if i > 0 else ""
            if nxt in _BODY_NOUNS:
                lemma, pos = w, "ADJ"
            elif prev in ("the", "to", "his", "her", "their"):
                lemma, pos = w, "NOUN"
            else:
                lemma, pos = w, "ADV"
        elif w == "straight" and i + 1 < len(words) and words[i + 1] == "line":
            lemma, pos = w, "ADJ"
        elif w in adjectives:
            lemma, pos = w, "ADJ"
        else:
            lemma, pos = _LEXICON.get(w) or _guess(w)
        if w == "out":
            lemma, pos = "out", "ADP"
        out.append(f"{lemma if pos in ('NOUN', 'VERB') else w}/{pos}")
    return " ".join(out)


def lexicon_words() -> set[str]:
    return set(_LEXICON) | _SIDES | {"out"}
