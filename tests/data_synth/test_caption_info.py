"""The reader of what each caption of a procedural clip states (``caption_info`` in labels.jsonl)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from moscale_cli.data.synth.caption_info import caption_info, caption_infos, captions_of
from moscale_cli.data.synth.captions import make_caption_set
from moscale_cli.data.synth.corpus import generate_clip
from moscale_cli.data.synth.program import ActionSpec, Program
from moscale_cli.errors import DatasetError


@pytest.fixture(scope="module")
def label() -> dict:
    clip = generate_clip(
        4, 0, Program([ActionSpec("turn", angle=180, direction="left"), ActionSpec("jump_in_place", count=3)])
    )
    return json.loads(json.dumps(clip.label(4, 0)))  # as read back from labels.jsonl


def test_records_follow_the_caption_files(label):
    infos = caption_infos(label)
    assert [i.text for i in infos] == captions_of(label, "train") + captions_of(label, "heldout")
    assert [i.text for i in caption_infos(label, "heldout")] == label["heldout_captions"]
    assert caption_info(label, label["captions"][0]) == infos[0]
    assert caption_info(label, "a caption that is not there") is None
    for info in infos:
        assert info.states_attr(0, "angle") and info.states_attr(1, "count")
        low = info.text.lower()
        # the turn's direction is stated exactly when the caption names one
        named = any(w in low for w in ("left", "right", "clockwise"))
        assert info.states_attr(0, "direction") == named, info.text
        assert info.exact_count(1) == (not info.vague_count[1])


def test_turns_around_states_no_direction_and_several_is_vague():
    prog = Program([ActionSpec("turn", angle=180, direction="left")])
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(60):
        train, held = make_caption_set(prog, rng)
        for c in train + held:
            seen.add("direction" in c.states[0])
    assert seen == {True, False}
    prog = Program([ActionSpec("squat", count=4)])
    vague = [c for _ in range(80) for c in make_caption_set(prog, rng)[0] if c.vague_count[0]]
    assert vague and all(("several" in c.text.lower() or "few" in c.text.lower() or "many" in c.text.lower()
                          or "multiple" in c.text.lower()) for c in vague)  # fmt: skip


def test_older_labels_and_bad_records(label):
    old = {k: v for k, v in label.items() if k not in ("caption_info", "heldout_captions")}
    assert caption_infos(old) == [] and caption_info(old, old["captions"][0]) is None
    assert captions_of(old, "heldout") == []
    for bad in ("nope", [{"text": "x"}], [{"text": "x", "split": "train", "states": [["count"]], "vague_count": [False]}],
                [{"text": "x", "split": "dev", "states": [[], []], "vague_count": [False, False]}]):  # fmt: skip
        with pytest.raises(DatasetError, match="caption_info"):
            caption_infos({**label, "caption_info": bad})
    with pytest.raises(DatasetError, match="heldout_captions"):
        captions_of({**label, "heldout_captions": "x"}, "heldout")
    with pytest.raises(ValueError):
        caption_infos(label, "test")
