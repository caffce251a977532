"""Caption language of the procedural corpus: the phrasing banks, their training/held-out split, what
each caption states, and the word/POS tagger."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest

from moscale_cli.data.synth.language.action_banks import ACTION_BANKS, IMPLIED_DIRECTION, OPTIONAL
from moscale_cli.data.synth.language.audit import all_banks, entry_pattern, heldout_entries, normalize
from moscale_cli.data.synth.language.lexicon import WORD, tokens
from moscale_cli.data.synth.language.render import caption_set, entry_states, inflect, render
from moscale_cli.data.synth.language.word_banks import WORD_BANKS
from moscale_cli.data.synth.program import ACTION_NAMES, ActionSpec, Program, sample_action, sample_program

POS = {"VERB", "NOUN", "DET", "ADP", "NUM", "ADV", "ADJ", "PRON", "CCONJ", "SCONJ", "AUX", "PART", "INTJ"}


def _drawn() -> dict[str, list[ActionSpec]]:
    """Every (count, side, direction, angle, speed) combination the program sampler draws, per action."""
    rng = np.random.default_rng(0)
    seen: dict[str, dict[tuple, ActionSpec]] = {}
    for _ in range(30000):
        a = sample_action(rng, None, first=True, last=True)
        key = (a.count, a.side, a.direction, a.angle, a.speed)
        seen.setdefault(a.action, {}).setdefault(
            key, ActionSpec(a.action, a.count, a.side, a.direction, a.angle, a.speed)
        )
    return {k: list(v.values()) for k, v in seen.items()}


DRAWN = _drawn()


def required(action: str) -> set[str]:
    """Attributes every caption of the action must state: those its programs have, but the optional ones."""
    need = {"direction"} if action in IMPLIED_DIRECTION else set()
    for spec in DRAWN[action]:
        need |= {a for a, v in (("count", spec.count), ("side", spec.side), ("direction", spec.direction),
                                ("angle", spec.angle)) if v is not None}  # fmt: skip
    return need - set(OPTIONAL.get(action, ()))


def entry_of(entry_id: str):
    bank, split, idx = entry_id.split("#")[0].rsplit("/", 2)
    return getattr(all_banks()[bank], split)[int(idx)]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list]:
    """Training and held-out captions of every parameter combination of every action (with each style), and
    of random programs."""
    rng = np.random.default_rng(11)
    out: dict[str, list] = {"train": [], "heldout": []}
    for specs in DRAWN.values():
        for spec in specs:
            for style in (None, "tired", "energetic"):
                prog = Program([ActionSpec(**{**spec.__dict__, "style": style})])
                for split in ("train", "heldout"):
                    avoid: set[str] = set()
                    out[split] += [(prog, render(prog, rng, split, avoid)) for _ in range(3)]
    for _ in range(1500):
        prog = sample_program(rng)
        tr, ho = caption_set(prog, rng)
        out["train"] += [(prog, c) for c in tr]
        out["heldout"] += [(prog, c) for c in ho]
    return out


def test_every_action_has_a_bank_split_into_training_and_heldout_phrasings():
    assert set(ACTION_BANKS) == set(ACTION_NAMES) == set(DRAWN)
    held = total = 0
    for name, b in ACTION_BANKS.items():
        assert len(b.all()) >= 10, name
        assert len(b.heldout) >= 3, name  # even where one word carries the meaning
        assert 0.15 <= len(b.heldout) / len(b.all()) <= 0.4, name
        held, total = held + len(b.heldout), total + len(b.all())
    for name, b in WORD_BANKS.items():
        assert b.train and b.heldout, name
        held, total = held + len(b.heldout), total + len(b.all())
        for split in ("train", "heldout"):
            assert len({e.text for e in b.of(split)}) == len(b.of(split)), f"{name}: a phrasing twice"
        assert not {e.text for e in b.train} & {e.text for e in b.heldout}, name
    assert 0.25 <= held / total <= 0.35


def test_every_phrasing_states_what_the_program_requires():
    for action, b in ACTION_BANKS.items():
        for e in b.all():
            assert entry_states(action, e) >= required(action), (action, e.text)
    # and the optional attributes are left out by some phrasings of both splits
    for action, attrs in OPTIONAL.items():
        for split in ("train", "heldout"):
            assert any(not set(attrs) <= entry_states(action, e) for e in ACTION_BANKS[action].of(split)), (
                action,
                split,
            )


@pytest.mark.slow
@pytest.mark.slow  # renders every drawn combination (10 s)
def test_every_combination_renders_in_both_splits_with_its_states(rendered):
    seen = {split: Counter() for split in ("train", "heldout")}
    for split, items in rendered.items():
        for prog, cap in items:
            assert cap.split == split
            assert len(cap.states) == len(prog.actions) == len(cap.vague_count)
            for spec, states, vague in zip(prog.actions, cap.states, cap.vague_count, strict=True):
                assert set(states) >= required(spec.action), (cap.text, states)
                if spec.speed != "normal":
                    assert "speed" in states
                if spec.style is not None:
                    assert "style" in states
                assert not vague or ("count" in states and (spec.count or 0) >= 3)
            seen[split].update(e.split("#")[0] for e in cap.used)
    # every action phrasing is reachable, in its own split only
    for b in ACTION_BANKS.values():
        for split in ("train", "heldout"):
            for e in b.of(split):
                assert seen[split][e.id] > 0, f"{e.id} {e.text!r} never used"
                assert seen["heldout" if split == "train" else "train"][e.id] == 0, e.id


@pytest.mark.slow
@pytest.mark.slow  # renders every drawn combination (10 s)
def test_no_training_caption_contains_a_heldout_phrasing(rendered):
    # all training captions in one text (a pattern never crosses a line)
    train = "\n".join(normalize(c.text) for _, c in rendered["train"])
    assert len(rendered["train"]) > 8000
    leaks = []
    for e in heldout_entries():
        p = entry_pattern(e)
        assert p is not None, e.id
        m = p.search(train)
        if m:
            leaks.append(f"{e.id} {e.text!r} in ...{train[max(0, m.start() - 40) : m.end() + 20]!r}")
    assert not leaks, "\n".join(leaks[:20])
    # the patterns find the held-out phrasings where the held-out captions use them (so the check can fail):
    # every phrasing but the subjects (an adjective may enter them, a frame may drop them)
    found = Counter()
    for _, cap in rendered["heldout"]:
        text = normalize(cap.text)
        for u in cap.used:
            e = entry_of(u)
            if e.split != "heldout" or e.bank == "subject" or u.endswith("#noun"):
                continue
            assert entry_pattern(e).search(text), (e.text, cap.text)
            found[e.id] += 1
    assert len(found) > 0.9 * len([e for e in heldout_entries() if e.bank != "subject"])


@pytest.mark.slow  # renders every drawn combination (10 s)
def test_heldout_captions_say_every_action_and_attribute_with_heldout_words(rendered):
    for prog, cap in rendered["heldout"]:
        used = [entry_of(u) for u in cap.used]
        for spec in prog.actions:
            mine = [e for e in used if e.bank == spec.action]
            assert mine and all(e.split == "heldout" for e in mine), cap.text
        banks = {e.bank: e.split for e in used}
        for bank in ("count_adverb", "count_noun", "speed", "style", "style_adjective"):
            assert banks.get(bank, "heldout") == "heldout", (bank, cap.text)
        assert all(s == "heldout" for b, s in banks.items() if b.startswith(("side:", "direction:"))), (
            cap.text
        )
    for _, cap in rendered["train"]:
        assert all(entry_of(u).split == "train" for u in cap.used), cap.text


@pytest.mark.slow  # renders every drawn combination (10 s)
def test_caption_words_all_get_a_tag(rendered):
    for items in rendered.values():
        for _, cap in items:
            words = WORD.findall(cap.text)
            pairs = [t.rsplit("/", 1) for t in cap.tokens.split()]
            assert len(pairs) == len(words), cap.text
            assert all(p in POS and w == w.lower() and "-" not in w for w, p in pairs), cap.tokens


@pytest.mark.slow  # renders every drawn combination (10 s)
def test_counts_are_said_with_their_number_unless_vague(rendered):
    number = {
        2: r"\b(two|2|twice|couple|pair)\b",
        3: r"\b(three|3|thrice)\b",
        4: r"\b(four|4)\b",
        5: r"\b(five|5)\b",
    }
    vague = re.compile(r"\b(several|few|handful|number of|many|multiple)\b")
    kinds = Counter()
    for items in rendered.values():
        for prog, cap in items:
            if len(prog.actions) != 1 or (prog.actions[0].count or 1) < 2:
                continue
            n, low = prog.actions[0].count, cap.text.lower()
            if cap.vague_count[0]:
                assert vague.search(low), cap.text
                kinds["vague"] += 1
            else:
                assert re.search(number[n], low) and not vague.search(low), cap.text
                kinds["digit" if re.search(r"\d", low) else "word"] += 1
    assert (
        kinds["digit"] > 100 and kinds["word"] > 1000 and 0.02 < kinds["vague"] / sum(kinds.values()) < 0.15
    )


@pytest.mark.slow  # renders every drawn combination (10 s)
def test_sides_and_directions_are_named_only_when_stated(rendered):
    side_word = re.compile(r"\b(left|right)")
    turn_word = re.compile(
        r"\b(left|right|leftward|rightward|clockwise|counterclockwise|counter-clockwise|anticlockwise|anti-clockwise)\b"
    )
    for items in rendered.values():
        for prog, cap in items:
            if len(prog.actions) != 1:
                continue
            spec, states, low = prog.actions[0], cap.states[0], cap.text.lower()
            if spec.action in OPTIONAL and "direction" in OPTIONAL[spec.action]:
                assert bool(turn_word.search(low)) == ("direction" in states), cap.text
                if "direction" in states:
                    want = spec.direction
                    assert want in low or (
                        "clockwise" in low and ("counter" in low or "anti" in low) == (want == "left")
                    ), cap.text
            if spec.side in ("left", "right") and "side" in states:
                assert spec.side in low and ({"left", "right"} - {spec.side}).pop() not in low, cap.text
            if spec.action == "hop" and "side" not in states:
                assert not side_word.search(low), cap.text


def test_sequences_keep_the_program_order():
    rng = np.random.default_rng(3)
    prog = Program([ActionSpec("clap", count=2), ActionSpec("bow", count=1)])
    clap = re.compile(r"clap|hands together|applaud|palms")
    bow = re.compile(r"\bbow|\bbob|dip\w* (his|her|their|the) head")
    fronted = 0
    for split in ("train", "heldout"):
        for _ in range(300):
            cap = render(prog, rng, split)
            low = cap.text.lower()
            a, b = clap.search(low), bow.search(low)
            assert a and b, cap.text
            if low.startswith(("before ", "prior to ")):  # "before bowing, the person claps twice"
                assert b.start() < a.start(), cap.text
                fronted += 1
            else:
                assert a.start() < b.start(), cap.text
    assert fronted > 10


def test_caption_sets_are_distinct_deterministic_and_sized():
    prog = Program([ActionSpec("jumping_jacks", count=3), ActionSpec("wave", count=2, side="left")])
    a = caption_set(prog, np.random.default_rng(5))
    b = caption_set(prog, np.random.default_rng(5))
    assert [c.text for c in a[0] + a[1]] == [c.text for c in b[0] + b[1]]
    rng = np.random.default_rng(6)
    for _ in range(50):
        tr, ho = caption_set(sample_program(rng), rng)
        assert 3 <= len(tr) <= 5 and len(ho) == 2
        keys = [normalize(c.text) for c in tr + ho]
        assert len(set(keys)) == len(keys)


def test_tagger():
    assert tokens("A person does two star jumps.") == "a/DET person/NOUN do/VERB two/NUM star/NOUN jump/NOUN"
    assert tokens("the person jumps twice") == "the/DET person/NOUN jump/VERB twice/ADV"
    assert tokens("takes three steps to the left") == "take/VERB three/NUM step/NOUN to/ADP the/DET left/NOUN"
    assert (
        tokens("Waves his left hand, turns left") == "wave/VERB his/DET left/ADJ hand/NOUN turn/VERB left/ADV"
    )
    assert tokens("kicks left-handed 3 times") == "kick/VERB lefthanded/ADJ 3/NUM time/NOUN"
    assert tokens("proceeds to jump in circles") == "proceed/VERB to/PART jump/VERB in/ADP circle/NOUN"
    assert tokens("walks in a straight line, walks straight ahead") == (
        "walk/VERB in/ADP a/DET straight/ADJ line/NOUN walk/VERB straight/ADV ahead/ADV"
    )
    with pytest.raises(KeyError, match="moonwalks"):
        tokens("a person moonwalks")


def test_inflect():
    vp = "squats down and stands back up twice"
    assert inflect(vp, "ing") == "squatting down and standing back up twice"
    assert inflect(vp, "past") == "squatted down and stood back up twice"
    assert inflect(vp, "base") == "squat down and stand back up twice"
    assert inflect("jumps with arms and legs spreading", "ing") == "jumping with arms and legs spreading"
    with pytest.raises(KeyError):
        inflect("quickly jumps", "ing")
