"""Caption templates (Bandai-Namco labels and labels without templates), the rule-based word/POS tagger,
caption-line parsing."""

from __future__ import annotations

import pytest

from moscale_cli.data.captions import (
    BANDAI_CONTENTS,
    BANDAI_STYLES,
    MOTION_VERBS,
    bandai_captions,
    label_captions,
    lexicon_words,
    parse_bandai_name,
    present_participle,
    tag_tokens,
    third_person,
)
from moscale_cli.data.layout import CaptionLine, parse_caption_line

# (any of these verbs, every one of these words)
CONTENT_WORDS = {
    "walk": (["walk", "step"], []),
    "walk-turn-left": (["walk"], ["left"]),
    "walk-turn-right": (["walk"], ["right"]),
    "run": (["run", "jog"], []),
    "wave-both-hands": (["wav"], ["both"]),
    "wave-left-hand": (["wav"], ["left"]),
    "wave-right-hand": (["wav"], ["right"]),
    "raise-up-both-hands": (["raise", "lift", "up"], ["both"]),
    "raise-up-left-hand": (["raise", "lift", "up"], ["left"]),
    "raise-up-right-hand": (["raise", "lift", "up"], ["right"]),
}
STYLE_WORDS = {
    "active": ["active", "energ", "lively"],
    "elderly": ["elderly", "old"],
    "exhausted": ["exhausted", "tired", "wearily", "worn out"],
    "feminine": ["feminine", "woman", "grace"],
    "masculine": ["masculine", "man", "broad", "sturdy"],
    "youthful": ["young", "youthful", "child"],
}


@pytest.mark.parametrize("content", BANDAI_CONTENTS)
def test_bandai_captions_cover_every_label(content):
    words = lexicon_words()
    for style in BANDAI_STYLES:
        caps = bandai_captions(content, style, f"dataset-2_{content}_{style}_001", seed=0)
        assert len(caps) >= 3 and len({c.caption for c in caps}) == len(caps)
        assert caps == bandai_captions(content, style, f"dataset-2_{content}_{style}_001", seed=0)
        for c in caps:
            assert c.whole_clip
            text = c.caption
            verbs, musts = CONTENT_WORDS[content]
            assert any(w in text for w in verbs) and all(w in text for w in musts), text
            if style in STYLE_WORDS:
                assert any(w in text for w in STYLE_WORDS[style]), text
            # every template word is in the tagger's lexicon, and the tokens line up with the words
            plain = text.replace(",", "").split()
            assert set(plain) <= words, set(plain) - words
            assert len(c.tokens.split()) == len(plain)
            assert all("/" in t for t in c.tokens.split())


def test_left_right_wording_is_not_swapped():
    for style in BANDAI_STYLES:
        for c in bandai_captions("wave-right-hand", style, "k") + bandai_captions(
            "walk-turn-right", style, "k"
        ):
            assert "right" in c.caption and "left" not in c.caption


def test_tagger_matches_humanml3d_conventions():
    assert tag_tokens("An elderly person waves with the left hand.") == (
        "an/DET elderly/ADJ person/NOUN wave/VERB with/ADP the/DET left/ADJ hand/NOUN"
    )
    assert tag_tokens("someone walks and turns to the right, full of energy") == (
        "someone/PRON walk/VERB and/CCONJ turn/VERB to/ADP the/DET right/NOUN full/ADJ of/ADP energy/NOUN"
    )
    assert tag_tokens("a person turns left twice") == "a/DET person/NOUN turn/VERB left/ADV twice/ADV"
    assert tag_tokens("a man jumps 3 times!") == "a/DET man/NOUN jump/VERB time/NOUN"  # digits dropped
    assert tag_tokens("a well-known move") == "a/DET wellknown/NOUN move/VERB"  # '-' removed


def test_bandai_names():
    assert parse_bandai_name("dataset-2_walk-turn-left_elderly_012") == ("walk-turn-left", "elderly")
    assert parse_bandai_name("dataset-2_raise-up-both-hands_normal_001") == ("raise-up-both-hands", "normal")
    assert parse_bandai_name("dataset-2_fly_normal_001") is None
    assert parse_bandai_name("walk_01") is None


def test_caption_line_parsing():
    c = parse_caption_line("a man walks#a/DET man/NOUN walk/VERB#1.5#3.0")
    assert c == CaptionLine("a man walks", "a/DET man/NOUN walk/VERB", 1.5, 3.0)
    assert c.frame_range() == (30, 60)
    assert parse_caption_line("x#x/NOUN#nan#nan").whole_clip
    assert parse_caption_line(c.to_line()) == c
    assert parse_caption_line("plain words", allow_plain=True) == CaptionLine("plain words")
    for bad in ("plain words", "a#b#c", "a#b#x#1", "a#b#3#1", "#t#0#0", "a#b#0#0#0", "a#b#-1#2"):
        with pytest.raises(ValueError):
            parse_caption_line(bad)


@pytest.mark.parametrize(
    "labels,musts",
    [
        ({"content": "dash", "style": "childish"}, ["dash", "childish"]),
        ({"content": "bye", "style": "childish"}, ["bye", "childish"]),
        ({"content": "walk-back", "style": "not-confident"}, ["walk", "back", "not confident"]),
        ({"content": "walk", "style": "happy"}, ["happy"]),  # a template content with a new style
        ({"content": "kick", "style": "elderly"}, ["kick"]),  # a new content with a template style
        ({"content": "bye"}, ["bye"]),
        ({"style": "proud"}, ["proud", "mov"]),
    ],
)
def test_captions_for_labels_without_templates(labels, musts):
    caps = label_captions(labels, "dataset-1_x_y_001", seed=0, n=4)
    assert len(caps) == 4 and len({c.caption for c in caps}) == 4
    assert caps == label_captions(labels, "dataset-1_x_y_001", seed=0, n=4)
    for c in caps:
        assert all(m in c.caption for m in musts), c.caption
        assert "  " not in c.caption and c.whole_clip
        plain = c.caption.replace(",", "").split()
        assert len(c.tokens.split()) == len(plain)
        if "style" in labels and labels["style"] not in BANDAI_STYLES:
            for w in labels["style"].split("-"):
                if w != "not" and w in plain:
                    assert f"{w}/ADJ" in c.tokens.split(), c.tokens
    if "content" in labels and labels["content"] not in BANDAI_CONTENTS:
        words = labels["content"].split("-")
        verb = words[0] in MOTION_VERBS
        assert all((third_person(words[0]) in c.caption or "is " in c.caption) == verb for c in caps)
    assert label_captions({}, "k") == [] and label_captions({"content": "--"}, "k") == []


def test_verb_forms():
    assert [third_person(v) for v in ("dash", "punch", "bow", "carry", "go", "play")] == [
        "dashes", "punches", "bows", "carries", "goes", "plays",
    ]  # fmt: skip
    assert [present_participle(v) for v in ("run", "dance", "lie", "kick", "hop", "open", "see")] == [
        "running", "dancing", "lying", "kicking", "hopping", "opening", "seeing",
    ]  # fmt: skip
    assert tag_tokens("a childish person dashes") == "a/DET childish/ADJ person/NOUN dash/VERB"
