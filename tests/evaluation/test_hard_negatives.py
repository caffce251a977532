"""Hard-negative batches for R-precision: every item once per replication, same-verb items with other details
packed together, deterministic from the seed."""

from __future__ import annotations

import numpy as np
import pytest

from moscale_cli.errors import UsageError
from moscale_cli.evaluation.hard_negatives import (
    details,
    hard_negative_batches,
    hard_negative_stats,
    is_hard_pair,
    random_batches,
    signature,
    verb,
)


def lab(*actions: dict) -> dict:
    return {"actions": [dict(a) for a in actions]}


def jump(n: int) -> dict:
    return lab({"action": "jump_in_place", "count": n})


def test_verbs_fold_the_directions_named_in_the_action():
    assert verb({"action": "walk_forward"}) == ("walk", "forward")
    assert verb({"action": "walk_backward"}) == ("walk", "backward")
    assert verb({"action": "walk_sideways", "direction": "left"}) == ("walk", "sideways left")
    assert verb({"action": "jog_circle", "direction": "right"}) == ("jog", "circle right")
    assert verb({"action": "jump_forward"}) == ("jump", "forward")
    assert verb({"action": "wave", "side": "left"}) == ("wave", None)
    assert verb({"action": "turn", "direction": "left"}) == ("turn", "left")


def test_hard_pairs_share_the_verbs_and_differ_in_a_detail():
    assert is_hard_pair(jump(2), jump(3))
    assert not is_hard_pair(jump(2), jump(2))
    assert is_hard_pair(lab({"action": "walk_forward"}), lab({"action": "walk_backward"}))
    assert is_hard_pair(lab({"action": "wave", "count": 2, "side": "left"}), lab({"action": "wave", "count": 2, "side": "right"}))
    assert not is_hard_pair(jump(2), lab({"action": "squat", "count": 3}))
    two = lab({"action": "jump_in_place", "count": 2}, {"action": "wave", "count": 1, "side": "left"})
    other = lab({"action": "jump_in_place", "count": 2}, {"action": "wave", "count": 1, "side": "right"})
    assert is_hard_pair(two, other) and not is_hard_pair(two, jump(2))
    assert signature(two) == ("jump", "wave") and details(two)[1] == (None, 1, "left", None)


def _mixed_set(n_fill: int = 60, seed: int = 0, squats: int = 40) -> list[dict]:
    """Four small hard groups (jumps, waves, walks, turns), one big one (squats), and fillers without partners."""
    rng = np.random.default_rng(seed)
    items = [jump(int(c)) for c in (1, 2, 3, 4, 5, 2)]
    items += [lab({"action": "wave", "count": 2, "side": s}) for s in ("left", "right", "both")]
    items += [lab({"action": a}) for a in ("walk_forward", "walk_backward", "walk_forward")]
    items += [lab({"action": "turn", "angle": a, "direction": "left"}) for a in (90, 180)]
    items += [lab({"action": "squat", "count": int(c)}) for c in rng.integers(1, 5, squats)]
    fill = ["bow", "clap", "stretch", "idle", "march", "climb", "crouch", "throw"]
    items += [lab({"action": fill[i % len(fill)], "count": 1, "uid": i}) for i in range(n_fill)]
    return items


def test_every_item_once_full_batches_and_drop_last():
    items = _mixed_set()
    n = len(items)
    batches = hard_negative_batches(items, batch_size=32, seed=0)
    assert len(batches) == n // 32 and all(len(b) == 32 for b in batches)
    flat = [i for b in batches for i in b]
    assert len(flat) == len(set(flat)) == (n // 32) * 32
    assert set(flat) <= set(range(n))


def test_small_hard_groups_stay_whole_and_big_ones_are_split_evenly():
    items = _mixed_set()
    batches = hard_negative_batches(items, batch_size=32, seed=1)
    where = {i: k for k, b in enumerate(batches) for i in b}
    for group in (range(0, 6), range(6, 9), range(9, 12), range(12, 14)):
        assert len({where[i] for i in group}) == 1  # dropped items only come from the fillers here
    squat_batches = [sum(1 for i in b if items[i]["actions"][0]["action"] == "squat") for b in batches]
    assert sorted(squat_batches)[-2:] == [20, 20]


def test_items_meet_their_hard_negatives_far_more_than_in_random_batches():
    items = _mixed_set(n_fill=110, squats=0)
    hard = hard_negative_stats(items, hard_negative_batches(items, 32, seed=2))
    rand = hard_negative_stats(items, random_batches(len(items), 32, seed=2))
    assert hard["mean_hard_in_batch"] > 3 * rand["mean_hard_in_batch"]
    assert hard["verb_only_r3"] < rand["verb_only_r3"]
    assert hard["mean_hard_in_batch"] <= hard["mean_hard_possible"] + 1e-9


def test_deterministic_from_the_seed():
    items = _mixed_set()
    a = hard_negative_batches(items, 32, seed=7)
    assert a == hard_negative_batches(items, 32, seed=7)
    assert a != hard_negative_batches(items, 32, seed=8)
    assert random_batches(100, 32, 3) == random_batches(100, 32, 3)


def test_when_fillers_run_short_grouped_items_are_dropped():
    items = [jump(1 + i % 5) for i in range(70)]  # one hard group of 70, no fillers
    batches = hard_negative_batches(items, batch_size=32, seed=0)
    flat = [i for b in batches for i in b]
    assert len(batches) == 2 and len(set(flat)) == 64


def test_verb_only_matcher_stats_by_hand():
    items = [jump(1), jump(2), lab({"action": "bow", "count": 1}), lab({"action": "clap", "count": 1})]
    s = hard_negative_stats(items, [[0, 1, 2, 3]])
    # the two jumps tie for a verb-only matcher: R@1 = 1/2 for each, the others are unique
    assert s["verb_only_r1"] == pytest.approx((0.5 + 0.5 + 1 + 1) / 4)
    assert s["verb_only_r3"] == 1.0
    assert s["mean_hard_in_batch"] == pytest.approx(0.5) and s["frac_with_hard"] == pytest.approx(0.5)


def test_too_few_items_or_a_bad_batch_size_are_usage_errors():
    with pytest.raises(UsageError):
        hard_negative_batches([jump(1)] * 10, batch_size=32)
    with pytest.raises(UsageError):
        hard_negative_batches([jump(1)] * 10, batch_size=1)
