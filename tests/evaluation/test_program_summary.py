"""The program task's scoring rules without motion: Wilson intervals, the summary, the caption rules, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from moscale_cli.data.synth.corpus import generate_clip
from moscale_cli.data.synth.program import ActionSpec, Program
from moscale_cli.errors import MoScaleError
from moscale_cli.evaluation.program import Check, ClipScore, score_clip, summarize, wilson
from moscale_cli.evaluation.program.table import applies, caption_phrases
from moscale_cli.motion.skeleton import SMPL22_LR_PAIRS


def test_wilson_matches_the_closed_form():
    z = 1.959963984540054
    for k, n in [(0, 10), (10, 10), (7, 20), (95, 100)]:
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        lo, hi = wilson(k, n)
        assert lo == pytest.approx(max(0.0, centre - half)) and hi == pytest.approx(min(1.0, centre + half))
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == pytest.approx(1.0)
    assert wilson(0, 10)[1] == pytest.approx(0.2775, abs=1e-4)
    assert all(math.isnan(v) for v in wilson(0, 0))


def _score(cid: str, statuses: dict[str, str]) -> ClipScore:
    return ClipScore(cid, ["jump_in_place"], [Check(a, s, action="jump_in_place", index=0) for a, s in statuses.items()])


def test_summary_counts_applicable_checks_and_defines_both_overalls():
    scores = [
        _score("a", {"present": "pass", "count": "pass", "start_posture": "pass"}),
        _score("b", {"present": "pass", "count": "fail", "start_posture": "pass"}),
        _score("c", {"present": "pass", "count": "n/a", "start_posture": "fail"}),
        _score("d", {"present": "fail", "count": "fail", "start_posture": "pass"}),
    ]
    s = summarize(scores, n_boot=200)
    assert (s.per_attribute["present"].k, s.per_attribute["present"].n) == (3, 4)
    assert (s.per_attribute["count"].k, s.per_attribute["count"].n) == (1, 3)  # n/a is not counted
    assert (s.per_attribute["start_posture"].k, s.per_attribute["start_posture"].n) == (3, 4)
    assert (s.clips_all_correct.k, s.clips_all_correct.n) == (1, 4)  # only clip a has every check right
    assert s.attribute_mean == pytest.approx((3 / 4 + 1 / 3 + 3 / 4) / 3)
    lo, hi = s.attribute_mean_interval
    assert 0.0 <= lo <= s.attribute_mean <= hi <= 1.0
    assert s.per_action["jump_in_place"]["count"].n == 3
    assert summarize(scores, n_boot=200).attribute_mean_interval == (lo, hi)  # seeded bootstrap
    json.dumps(s.to_dict())
    table = s.table(per_action=True)
    assert "| count | 0.333 |" in table and "clips with every attribute right" in table


def test_summary_needs_clips():
    with pytest.raises(MoScaleError):
        summarize([])


def test_caption_phrases_split_the_corpus_grammar():
    assert caption_phrases("A man jumps twice, then waves his left hand once.", 2) == ["a man jumps twice", "waves his left hand once"]
    assert caption_phrases("A woman bows once. After that, she turns around.", 2) == ["a woman bows once", "turns around"]
    three = "First the person claps twice, then spins once, and finally sits down."
    assert caption_phrases(three, 3) == ["first the person claps twice", "spins once", "sits down"]
    assert caption_phrases("A person walks forward.", 2) is None


def test_a_direction_the_caption_leaves_out_is_not_checked():
    turn = {"action": "turn", "angle": 180, "direction": "left"}
    assert applies("direction", turn, None)  # real motion: every labelled attribute
    assert not applies("direction", turn, "turns around")
    assert applies("direction", turn, "turns around to the left")
    assert applies("angle", turn, "turns around")
    hop = {"action": "hop", "count": 2, "side": "right"}
    assert not applies("side", hop, "hops on one leg twice") and applies("side", hop, "hops on his right leg twice")
    punch_once = {"action": "punch", "count": 1, "side": "both"}
    assert not applies("side", punch_once, None)  # one punch "with alternating fists" uses one fist
    assert applies("side", {**punch_once, "count": 2}, None)
    assert not applies("arms_in_phase", {"action": "wave", "count": 1, "side": "left"}, None)
    assert applies("arms_in_phase", {"action": "wave", "count": 1, "side": "both"}, None)


def test_score_clip_uses_the_caption_for_optional_attributes():
    c = generate_clip(1, 0, Program([ActionSpec("turn", angle=180, direction="left")]))
    label = c.label(1, 0)
    mirrored = c.joints.astype(np.float64) * np.array([-1.0, 1.0, 1.0])
    left, right = (list(side) for side in zip(*SMPL22_LR_PAIRS, strict=True))
    mirrored[:, left + right] = mirrored[:, right + left]
    named = score_clip(mirrored, label, "A person turns around to the left.")
    unnamed = score_clip(mirrored, label, "A person turns around.")
    assert [c.status for c in named.checks if c.attribute == "direction"] == ["fail"]
    assert [c.status for c in unnamed.checks if c.attribute == "direction"] == []
    assert unnamed.all_correct and not named.all_correct
    json.dumps(named.to_dict())


def test_bad_inputs_raise_one_line_errors():
    label = {"id": "x", "actions": [{"action": "jump_in_place", "count": 1}]}
    with pytest.raises(MoScaleError, match="shape"):
        score_clip(np.zeros((10, 21, 3)), label)
    with pytest.raises(MoScaleError, match="finite"):
        score_clip(np.full((10, 22, 3), np.nan), label)
    with pytest.raises(MoScaleError, match="no known program actions"):
        score_clip(np.zeros((10, 22, 3)), {"id": "y", "actions": [{"action": "moonwalk"}]})
    with pytest.raises(MoScaleError, match="no known program actions"):
        score_clip(np.zeros((10, 22, 3)), {"id": "z"})


def test_real_motion_of_a_small_corpus_passes_the_self_check(tmp_path, capsys):
    from moscale_cli.data.synth.corpus import build_corpus
    from moscale_cli.evaluation.program.corpus import load_labels, main, score_real

    root = tmp_path / "c"
    build_corpus(root, clips=8, seed=4, workers=1)
    labels = load_labels(root)
    scores = score_real(root)
    assert [s.clip_id for s in scores] == list(labels) and len(scores) == 8
    assert all(s.all_correct for s in scores), [s.failures() for s in scores]
    assert main([str(root), "--per-action"]) == 0
    out = capsys.readouterr().out
    assert "| present | 1.000 |" in out and "| action | attribute |" in out
    assert main([str(tmp_path / "missing")]) == 1
    assert "labels.jsonl not found" in capsys.readouterr().err
