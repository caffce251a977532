"""Caption grammar for synthetic programs: several paraphrases per program with ``word/POS`` tokens.

Verb phrases are written with optional ``word|POS`` markup where a word's part of speech depends on
context ("turns left|ADV" vs "the left|ADJ hand" vs "to the left|NOUN"); every other word takes its
lemma and coarse (spaCy-style) POS from the lexicon below. Token fields follow HumanML3D: lower case,
punctuation dropped, nouns and verbs lemmatised.
"""

from __future__ import annotations

import re

import numpy as np

from moscale_cli.data.synth.program import ActionSpec, Program

# lexicon: POS -> "surface[:lemma] ..." -------------------------------------------------------------
_LEX_SRC = {
    "DET": "a an the his her their both each all",
    "PRON": "someone he she they it them something that",
    "AUX": "is:be",
    "VERB": (
        "walks:walk jogs:jog runs:run sprints:sprint strolls:stroll moves:move takes:take steps:step "
        "shuffles:shuffle marches:march climbs:climb turns:turn makes:make does:do spins:spin "
        "twirls:twirl jumps:jump leaps:leap hops:hop performs:perform waves:wave raises:raise lifts:lift "
        "puts:put holds:hold stretches:stretch lowers:lower claps:clap gives:give squats:squat "
        "stands:stand sits:sit gets:get rises:rise crouches:crouch kicks:kick punches:punch "
        "throws:throw bows:bow bends:bend reaches:reach leans:lean circles:circle rotates:rotate "
        "looks:look waits:wait climbing:climb going:go getting:get alternating:alternate face "
        "jumping:jump standing:stand walking:walk stepping:step lifting:lift raised:raise throwing:throw "
        "jogging:jog running:run turning:turn"
    ),
    "NOUN": (
        "person man woman figure human hand hands:hand arm arms:arm leg legs:leg foot fist fists:fist "
        "time times:time step steps:step circle circles:circle place spot side sides:side stairs:stair "
        "chair knees:knee knee jack jacks:jack jump jumps:jump squats:squat squat kick kicks:kick "
        "punch punches:punch spin spins:spin claps:clap clap head air front direction turn bow "
        "degrees:degree ball seat position moment energy way motion stretch quarter lot"
    ),
    "ADV": (
        "forward forwards backward backwards sideways ahead straight slowly quickly fast rapidly "
        "energetically vigorously tiredly wearily sluggishly then first finally once twice around "
        "again back upward overhead overhand still completely briefly"
    ),
    "ADP": "to in on with over above from into of as up down out for like before after",
    "ADJ": "left right full half opposite tired imaginary several few high seated low lively "
    "counterclockwise clockwise single alternating",
    "NUM": "one two three four five ninety",
    "CCONJ": "and or",
    "SCONJ": "if",
}
LEXICON: dict[str, tuple[str, str]] = {}
for _pos, _words in _LEX_SRC.items():
    for _w in _words.split():
        surface, _, lemma = _w.partition(":")
        LEXICON.setdefault(surface, (lemma or surface, _pos))

NUM_WORD = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}
COUNT_ADV = {1: "once", 2: "twice", 3: "three times", 4: "four times", 5: "five times"}
SUBJECTS = [("a person", "n"), ("someone", "n"), ("a man", "m"), ("a woman", "f"), ("the person", "n"),
            ("a figure", "n"), ("a human", "n")]  # fmt: skip
SPEED_ADV = {"slow": ["slowly"], "fast": ["quickly", "fast", "rapidly"], "normal": [""]}
STYLE_ADV = {None: [""], "energetic": ["energetically", "vigorously", "with a lot of energy"],
             "tired": ["tiredly", "wearily", "sluggishly", "in a tired way"]}  # fmt: skip


def _counted(rng: np.random.Generator, n: int, noun_sg: str, noun_pl: str, verb: str = "does") -> str:
    if n == 1:
        return f"{verb} {'an' if noun_sg[0] in 'aeiou' else 'a'} {noun_sg}|NOUN"
    return f"{verb} {NUM_WORD[n]} {noun_pl}|NOUN"


def _count_adv(n: int, rng: np.random.Generator) -> str:
    if n in (2, 3) and rng.random() < 0.4:
        return f"{NUM_WORD[n]} times"
    return COUNT_ADV[n]


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _hand(side: str | None, poss: str, what: str = "hand") -> str:
    if side == "both":
        return f"both {what}s"
    return f"{poss} {side}|ADJ {what}"


def _arms_obj(side: str | None, poss: str) -> str:
    return _hand(side, poss, "arm")


def verb_phrase(spec: ActionSpec, rng: np.random.Generator, poss: str) -> str:
    """One paraphrase of an action as a verb phrase (third person singular, present)."""
    a, n, d, side = spec.action, spec.count or 1, spec.direction, spec.side
    c = _count_adv(n, rng)
    dn = f"{d}|NOUN" if d in ("left", "right") else d
    if a.startswith(("walk", "jog", "run")):
        kind, how = a.split("_", 1)
        v = {"walk": "walks", "jog": "jogs", "run": "runs"}[kind]
        if how == "forward":
            opts = [f"{v} forward", f"{v} straight ahead", f"{v} forwards", f"is {kind}ing forward".replace("runing", "running").replace("joging", "jogging")]
            if kind == "walk":
                opts.append("takes several steps|NOUN forward")
                if spec.speed == "slow":
                    opts.append("strolls forward")
            if kind == "run" and spec.speed == "fast":
                opts.append("sprints forward")
        elif how == "backward":
            opts = [f"{v} backward", f"{v} backwards", "moves backwards"]
            if kind == "walk":
                opts.append("takes several steps|NOUN backward")
        elif how == "sideways":
            opts = [f"{v} sideways to the {dn}", f"moves sideways to the {dn}", f"{v} to the {dn} sideways", f"shuffles sideways to the {dn}"]
        else:
            turn_dir = "counterclockwise" if d == "left" else "clockwise"
            opts = [f"{v} in a circle", f"{v} around in a circle", f"{v} in a {turn_dir} circle", f"{v} in a circle to the {dn}", f"{v} in a circle turning {d}|ADV"]
        return _pick(rng, opts)
    if a == "march":
        return _pick(rng, ["marches in place", "marches on the spot", "marches in place lifting the knees high|ADV", "walks in place with high knees"])
    if a == "climb":
        return _pick(rng, ["walks forward as if climbing stairs", "takes high steps|NOUN as if climbing stairs", "climbs imaginary stairs", "steps up as if going up stairs"])
    if a == "side_step":
        steps = "a step|NOUN" if n == 1 else f"{NUM_WORD[n]} steps|NOUN"
        return _pick(rng, [f"takes {steps} to the {dn}", f"steps to the {dn} {c}", f"side steps to the {dn} {c}", f"takes {steps} sideways to the {dn}"])
    if a == "turn":
        ang = spec.angle or 180
        if ang == 90:
            return _pick(rng, [f"turns {d}|ADV", f"turns to the {dn}", f"makes a quarter turn to the {dn}", f"turns ninety degrees to the {dn}"])
        if ang == 180:
            return _pick(rng, ["turns around", f"turns around to the {dn}", "turns to face the opposite direction", f"makes a half turn to the {dn}"])
        return _pick(rng, ["turns all the way around", f"turns a full circle to the {dn}", "does a full turn", "turns around completely"])
    if a == "spin":
        return _pick(rng, [f"spins around {c}", f"spins {c} to the {dn}", f"twirls around {c}", _counted(rng, n, "spin", "spins") + f" to the {dn}"])
    if a == "jump_in_place":
        return _pick(rng, [f"jumps {c}", f"jumps up and down {c}", f"jumps in place {c}", _counted(rng, n, "jump", "jumps") + " in place"])
    if a == "jump_forward":
        return _pick(rng, [f"jumps forward {c}", f"leaps forward {c}", _counted(rng, n, "jump", "jumps", "makes") + " forward"])
    if a == "hop":
        return _pick(rng, [f"hops on {poss} {side}|ADJ leg {c}", f"hops on one leg {c}", f"hops {c} on {poss} {side}|ADJ foot", f"jumps on {poss} {side}|ADJ leg {c}"])
    if a == "jumping_jacks":
        return _pick(rng, [_counted(rng, n, "jumping jack", "jumping jacks"), _counted(rng, n, "jumping jack", "jumping jacks", "performs")])
    if a == "wave":
        h = _hand(side, poss)
        return _pick(rng, [f"waves {h} {c}", f"waves with {h} {c}", f"waves {c} with {h}", f"raises {h} and waves {c}"])
    if a == "raise_arms":
        arms = _arms_obj(side, poss)
        pron = "them" if side == "both" else "it"
        opts = {
            "up": [f"raises {arms} above {poss} head", f"raises {arms} up", f"lifts {arms} up over {poss} head", f"puts {arms} up in the air"],
            "forward": [f"raises {arms} forward", f"holds {arms} out in front", f"lifts {arms} to the front"],
            "sideways": [f"raises {arms} to the side", f"holds {arms} out to the side", f"stretches {arms} out sideways"],
        }[d or "up"]
        vp = _pick(rng, opts)
        return vp + (f" and lowers {pron} again" if rng.random() < 0.4 else "")
    if a == "clap":
        return _pick(rng, [f"claps {c}", f"claps {poss} hands {c}", _counted(rng, n, "clap", "claps", "gives")])
    if a == "squat":
        return _pick(rng, [f"squats {c}", _counted(rng, n, "squat", "squats"), f"squats down and stands back up {c}", _counted(rng, n, "squat", "squats", "performs")])
    if a == "sit_down":
        return _pick(rng, ["sits down", "sits down as if on a chair", "takes a seat", "lowers down into a seated position"])
    if a == "stand_up":
        return _pick(rng, ["stands up", "gets up", "rises from a seated position", "stands up from the chair"])
    if a == "crouch":
        return _pick(rng, ["crouches down", "crouches down and stands back up", "crouches low for a moment", "crouches down briefly before getting up again"])
    if a == "kick":
        leg = f"{poss} {side}|ADJ leg"
        return _pick(rng, [f"kicks with {leg} {c}", f"kicks {c} with {poss} {side}|ADJ foot", _counted(rng, n, "kick", "kicks") + f" with {leg}", f"kicks forward with {leg} {c}"])
    if a == "punch":
        if side == "both":
            return _pick(rng, [f"punches {c} with alternating fists", _counted(rng, n, "punch", "punches", "throws") + " alternating hands", f"punches forward {c} with both fists"])
        return _pick(rng, [f"punches with {poss} {side}|ADJ fist {c}", _counted(rng, n, "punch", "punches", "throws") + f" with {poss} {side}|ADJ hand", f"punches forward {c} with {poss} {side}|ADJ arm"])
    if a == "bow":
        return _pick(rng, [f"bows {c}", f"bows forward {c}", f"bends forward in a bow {c}"] + (["takes a bow"] if n == 1 else []))
    if a == "stretch":
        if d == "sideways":
            return _pick(rng, [f"stretches {poss} arms overhead and leans to the left|NOUN and right|NOUN", "does a side stretch with the arms up", "stretches from side to side with raised arms"])
        return _pick(rng, [f"stretches {poss} arms up over {poss} head", "stretches upward", "reaches up high|ADV and stretches"])
    if a == "throw":
        return _pick(rng, [f"throws something with {poss} {side}|ADJ hand", f"throws a ball with {poss} {side}|ADJ arm", f"makes a throwing motion with {poss} {side}|ADJ arm", f"throws overhand with {poss} {side}|ADJ hand"])
    if a == "idle":
        return _pick(rng, ["stands still", "stands in place", "stands and looks around", "waits in place"])
    if a == "arm_circles":
        arm = _arms_obj(side, poss)
        circ = "an arm circle" if n == 1 else f"{NUM_WORD[n]} arm circles|NOUN"
        return _pick(rng, [f"circles {arm} {c}", f"makes {circ} with {arm}", f"rotates {arm} in circles {c}" if n > 1 else f"rotates {arm} in a circle"])
    raise KeyError(f"no caption templates for action {a!r}")


def _with_manner(vp: str, spec: ActionSpec, rng: np.random.Generator) -> str:
    words = [w for w in (_pick(rng, SPEED_ADV[spec.speed]), _pick(rng, STYLE_ADV[spec.style])) if w]
    if not words:
        return vp
    if len(words) == 2:
        return f"{vp} {words[0]} and {words[1]}"
    w = words[0]
    if " " not in w and rng.random() < 0.35 and not vp.startswith("is "):
        return f"{w} {vp}"
    return f"{vp} {w}"


def sentence(program: Program, rng: np.random.Generator) -> str:
    """One caption (with markup) for a whole program."""
    subj, gender = SUBJECTS[int(rng.integers(len(SUBJECTS)))]
    poss = {"m": "his", "f": "her"}.get(gender, "their") if rng.random() < 0.6 else "the"
    pron = {"m": "he", "f": "she"}.get(gender, "the person")
    vps = []
    for a in program.actions:
        vp = verb_phrase(a, rng, poss)
        for _ in range(8):  # progressive forms read badly inside sequences
            if len(program.actions) == 1 or not vp.startswith("is "):
                break
            vp = verb_phrase(a, rng, poss)
        vps.append(_with_manner(vp, a, rng))
    if len(vps) == 1:
        body = vps[0]
    elif len(vps) == 2:
        body = _pick(rng, [f"{vps[0]}, then {vps[1]}", f"{vps[0]} and then {vps[1]}", f"first {vps[0]}, and then {vps[1]}",
                           f"{vps[0]}. after that, {pron} {vps[1]}"])  # fmt: skip
    else:
        body = _pick(rng, [f"{vps[0]}, then {vps[1]}, then {vps[2]}", f"{vps[0]}, {vps[1]}, and then {vps[2]}",
                           f"first {vps[0]}, then {vps[1]}, and finally {vps[2]}"])  # fmt: skip
    text = f"{subj} {body}."
    return text


def _strip(text: str) -> str:
    return re.sub(r"\|[A-Z]+", "", text)


def tokens_of(text: str) -> str:
    """``word/POS`` tokens of a marked-up caption (lemmatised, lower case, no punctuation)."""
    out = []
    for raw in text.replace(",", " ").replace(".", " ").split():
        word, _, pos = raw.partition("|")
        word = word.lower()
        lemma, lex_pos = LEXICON.get(word, (None, None))
        if lemma is None:
            raise KeyError(f"caption word {word!r} is not in the synth lexicon")
        out.append(f"{lemma}/{pos or lex_pos}")
    return " ".join(out)


def _finish(text: str) -> str:
    """Capitalise sentences of the plain caption."""
    parts = [p.strip() for p in _strip(text).split(". ")]
    return ". ".join(p[:1].upper() + p[1:] for p in parts if p)


def make_captions(program: Program, rng: np.random.Generator, n_min: int = 3, n_max: int = 5) -> list[tuple[str, str]]:
    """3..5 distinct (caption, tokens) paraphrases of a program."""
    want = int(rng.integers(n_min, n_max + 1))
    seen: dict[str, str] = {}
    for _ in range(40):
        marked = sentence(program, rng)
        cap = _finish(marked)
        if cap not in seen:
            seen[cap] = tokens_of(marked)
        if len(seen) >= want:
            break
    return list(seen.items())
