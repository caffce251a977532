"""The program task at user-chosen lengths (``--lengths own|random|SECONDS``), on held-out phrasings
(``--captions heldout``), and with per-caption metadata (``caption_info``) deciding what is checked."""

from __future__ import annotations

import json

import numpy as np
import pytest

from moscale_cli.data.synth.corpus import build_corpus, generate_clip
from moscale_cli.data.synth.program import ActionSpec, Program
from moscale_cli.data.synth.timing import min_frames
from moscale_cli.errors import DatasetError, UsageError
from moscale_cli.evaluation.program import score_clip
from moscale_cli.evaluation.program.corpus import load_labels
from moscale_cli.evaluation.program.task import (
    ProgramEvalConfig,
    parse_lengths,
    plan_jobs,
    program_min_frames,
)

UNIT, MAX = 4, 196


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "c"
    build_corpus(root, 24, seed=3, workers=1)
    return root


def test_parse_lengths():
    assert parse_lengths("own") == "own" and parse_lengths("Random") == "random"
    assert parse_lengths("8") == 8.0 and parse_lengths("2.5s") == 2.5
    for bad in ("0", "-3", "soon", "nan", "100"):
        with pytest.raises(UsageError):
            parse_lengths(bad)
    with pytest.raises(UsageError):
        ProgramEvalConfig(lengths="long")


def test_own_lengths_are_the_clips_rounded_down(corpus):
    labels = load_labels(corpus)
    ids = list(labels)
    jobs = plan_jobs(labels, ids, ProgramEvalConfig(captions="first"), UNIT, MAX)
    assert [j.frames for j in jobs] == [labels[i]["frames"] // UNIT * UNIT for i in ids]


def test_random_lengths_are_drawn_between_the_minimum_and_9_8_s(corpus):
    labels = load_labels(corpus)
    ids = list(labels)
    cfg = ProgramEvalConfig(captions="first", lengths="random", seed=1)
    jobs = plan_jobs(labels, ids, cfg, UNIT, MAX)
    assert [j.frames for j in plan_jobs(labels, ids, cfg, UNIT, MAX)] == [j.frames for j in jobs]  # seeded
    other = plan_jobs(labels, ids, ProgramEvalConfig(captions="first", lengths="random", seed=2), UNIT, MAX)
    assert [j.frames for j in other] != [j.frames for j in jobs]
    own = np.array([labels[i]["frames"] for i in ids])
    got = np.array([j.frames for j in jobs])
    for j in jobs:
        assert j.frames % UNIT == 0 and program_min_frames(labels[j.clip]) <= j.frames <= MAX
    assert (got != own // UNIT * UNIT).mean() > 0.8  # not the clips' own lengths
    # every caption of a clip gets the clip's one random length
    alls = plan_jobs(labels, ids[:3], ProgramEvalConfig(captions="all", lengths="random", seed=1), UNIT, MAX)
    assert {j.clip: j.frames for j in alls} == {j.clip: j.frames for j in jobs[:3]}


def test_fixed_seconds_are_raised_to_a_programs_minimum(corpus):
    labels = load_labels(corpus)
    ids = list(labels)
    jobs = plan_jobs(labels, ids, ProgramEvalConfig(captions="first", lengths="2"), UNIT, MAX)
    for j in jobs:
        lo = program_min_frames(labels[j.clip])
        if lo > 40:
            assert j.raised and j.frames == -(-lo // UNIT) * UNIT
        else:
            assert not j.raised and j.frames == 40
    assert any(j.raised for j in jobs) and not all(j.raised for j in jobs)
    for j in plan_jobs(labels, ids, ProgramEvalConfig(captions="first", lengths="9"), UNIT, MAX):
        assert j.frames == max(180, -(-program_min_frames(labels[j.clip]) // UNIT) * UNIT)


def test_the_minimum_comes_from_the_action_table():
    label = {"id": "x", "actions": [{"action": "jumping_jacks", "count": 4, "speed": "normal", "style": None}]}
    assert program_min_frames(label) == min_frames(Program([ActionSpec("jumping_jacks", count=4)])) > 40
    with pytest.raises(DatasetError):
        program_min_frames({"id": "y", "actions": [{"action": "fly_away"}]})


def test_heldout_captions(corpus, tmp_path):
    labels = load_labels(corpus)
    ids = list(labels)[:2]
    jobs = plan_jobs(labels, ids, ProgramEvalConfig(captions="heldout"), UNIT, MAX, corpus)
    assert [j.caption for j in jobs] == labels[ids[0]]["heldout_captions"] + labels[ids[1]]["heldout_captions"]
    assert not {j.caption for j in jobs} & {c for i in ids for c in labels[i]["captions"]}
    rows = {i: {k: v for k, v in labels[i].items() if k != "heldout_captions"} for i in ids}  # an older corpus
    with pytest.raises(DatasetError, match="held-out"):
        plan_jobs(rows, ids, ProgramEvalConfig(captions="heldout"), UNIT, MAX, tmp_path)
    rows[ids[0]]["heldout_captions"] = ["someone does star jumps", "a guy leaps"]
    (tmp_path / "texts_heldout").mkdir()
    (tmp_path / "texts_heldout" / f"{ids[1]}.txt").write_text("a person performs an odd motion#a/DET#0.0#0.0\n")
    jobs = plan_jobs(rows, ids, ProgramEvalConfig(captions="heldout"), UNIT, MAX, tmp_path)
    assert [(j.clip, j.caption) for j in jobs] == [
        (ids[0], "someone does star jumps"), (ids[0], "a guy leaps"), (ids[1], "a person performs an odd motion"),
    ]  # fmt: skip


def _checked(score) -> set[tuple[str | None, str]]:
    return {(c.action, c.attribute) for c in score.checks if c.applicable}


def test_caption_metadata_decides_what_is_checked():
    c = generate_clip(2, 0, Program([ActionSpec("hop", count=2, side="left"), ActionSpec("turn", angle=180, direction="right")]))
    label = c.label(2, 0)
    j = c.joints
    plain = _checked(score_clip(j, label))
    assert {("hop", "count"), ("hop", "side"), ("turn", "direction"), ("turn", "angle")} <= plain
    caption = "a man hops a few times, then turns around"
    label["caption_info"] = [{"text": caption, "split": "heldout", "states": [[], ["angle"]], "vague_count": [True, False]}]
    got = _checked(score_clip(j, label, caption))
    assert ("hop", "count") not in got and ("hop", "side") not in got and ("turn", "direction") not in got
    assert {("hop", "present"), ("turn", "present"), ("turn", "angle"), (None, "order")} <= got
    label["caption_info"][0]["states"] = [["count", "side"], ["angle", "direction"]]
    label["caption_info"][0]["vague_count"] = [False, False]
    got = _checked(score_clip(j, label, caption))
    assert {("hop", "count"), ("hop", "side"), ("turn", "direction")} <= got
    # a caption without a record falls back to the phrase rules ("hops on one leg" names no leg)
    got = _checked(score_clip(j, label, "someone hops on one leg twice, then turns around"))
    assert ("hop", "count") in got and ("hop", "side") not in got and ("turn", "direction") not in got


def test_circles_check_their_angle():
    """A v3 circle without an angle is a closed circle (360 degrees), also for a caption whose metadata states
    no angle ("walks in a circle" says it); half circles and arcs carry 180 / 90; v2 labels are not checked."""
    c = generate_clip(4, 1, Program([ActionSpec("walk_circle", duration=6.0, direction="left")]))
    label = c.label(4, 1)
    assert label["actions"][0]["angle"] is None and label["corpus_version"] == 3
    angle = next(x for x in score_clip(c.joints, label).checks if x.attribute == "angle")
    assert angle.status == "pass" and angle.expected == 360 and 315 <= angle.measured <= 405
    label["caption_info"] = [{"text": "a man walks in a circle", "split": "train", "states": [[]], "vague_count": [False]}]
    assert any(x.attribute == "angle" for x in score_clip(c.joints, label, "a man walks in a circle").checks)
    half = json.loads(json.dumps(label))
    half["actions"][0]["angle"] = 180
    assert next(x for x in score_clip(c.joints, half).checks if x.attribute == "angle").status == "fail"
    old = json.loads(json.dumps(label))
    del old["corpus_version"]  # corpus v2 labels: circles are arcs, their angle is not checked
    assert not any(x.attribute == "angle" for x in score_clip(c.joints, old).checks)
