"""The action table: its entries are consistent, programs draw only what an entry allows, every action has a
generator, and a broken entry or a missing generator is an error naming the action."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from moscale_cli.data.synth.actions import GENERATORS
from moscale_cli.data.synth.program import sample_program
from moscale_cli.data.synth.vocabulary import (
    ACTION_NAMES,
    VOCABULARY,
    ActionDef,
    VocabularyError,
    action_def,
    check_registry,
    make_vocabulary,
)


@pytest.fixture(scope="module")
def programs():
    rng = np.random.default_rng(0)
    return [sample_program(rng) for _ in range(3000)]


def test_programs_draw_only_what_each_entry_allows(programs):
    seen = Counter()
    for prog in programs:
        for a in prog.actions:
            d = VOCABULARY[a.action]
            seen[a.action] += 1
            assert (a.count in d.counts) if d.counts else a.count is None
            assert (a.side in d.sides) if d.sides else a.side is None
            assert (a.direction in d.directions) if d.directions else a.direction is None
            if d.manner == "circle":  # a closed circle (None), a half circle or an arc
                assert a.angle in (None, 180, 90)
            else:
                assert (a.angle in d.angles) if d.angles else a.angle is None
            if d.durations is None:
                assert a.duration is None
            else:
                assert d.durations[0] <= a.duration <= d.durations[1]
            assert a.speed in d.speeds
    assert set(seen) == set(ACTION_NAMES)  # every action is drawn
    # the weights are the entries' (walk_forward 3.0 is drawn more often than idle 0.4)
    assert seen["walk_forward"] > 3 * seen["idle"]


def test_one_speed_actions_are_never_slow_or_fast_and_runs_never_slow(programs):
    speeds: dict[str, set[str]] = {}
    for prog in programs:
        for a in prog.actions:
            speeds.setdefault(a.action, set()).add(a.speed)
    assert speeds["turn"] == speeds["sit_down"] == {"normal"}
    assert speeds["run_forward"] == {"normal", "fast"}
    assert speeds["walk_forward"] == {"slow", "normal", "fast"}


def test_postures_chain_seated_actions(programs):
    """An action that ends seated is followed by one that starts seated; those come first otherwise."""
    for prog in programs:
        defs = [VOCABULARY[a.action] for a in prog.actions]
        for i, d in enumerate(defs):
            if d.start_posture == "seated" and i > 0:
                assert defs[i - 1].end_posture == "seated"
            if d.end_posture == "seated" and i + 1 < len(defs):
                assert defs[i + 1].start_posture == "seated"
        assert all(a.action != b.action for a, b in zip(prog.actions, prog.actions[1:], strict=False))


def test_shared_generators_read_the_entries_not_the_names():
    assert {d.generator for d in VOCABULARY.values()} == set(GENERATORS)
    assert VOCABULARY["walk_circle"].verb == "walk" and VOCABULARY["walk_circle"].manner == "circle"
    assert VOCABULARY["jump_forward"].verb == VOCABULARY["jump_in_place"].verb == "jump"
    assert VOCABULARY["clap"].verb == "clap" and VOCABULARY["clap"].manner is None


def test_an_action_without_a_generator_is_an_error_naming_it():
    extra = replace(VOCABULARY["hop"], name="skip", generator="skip")
    table = make_vocabulary([*VOCABULARY.values(), extra])
    check_registry("generator", "generator", GENERATORS)  # the corpus's own table passes
    with pytest.raises(VocabularyError, match=r"action 'skip' has no generator: generator 'skip'"):
        check_registry("generator", "generator", GENERATORS, table)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(counts=()), "counts are drawn for"),
        (dict(kind="duration"), "durations are drawn for"),
        (dict(sides=("up",)), "sides"),
        (dict(speeds=("slow", "fast")), "speeds"),
        (dict(checks=("count",)), "checks must start with 'present'"),
        (dict(angles=(90,)), "angles and angle_weights"),
        (dict(caption_optional=("direction",)), "caption_optional"),
        (dict(in_phase_when=("colour", "red")), "in_phase_when"),
    ],
)
def test_an_inconsistent_entry_is_an_error_naming_it(change, message):
    with pytest.raises(VocabularyError, match=rf"action 'hop': .*{message}"):
        replace(VOCABULARY["hop"], **change)


def test_a_name_twice_and_an_unknown_name_are_errors():
    with pytest.raises(VocabularyError, match="'hop' is defined twice"):
        make_vocabulary([VOCABULARY["hop"], VOCABULARY["hop"]])
    with pytest.raises(VocabularyError, match="unknown action 'moonwalk'"):
        action_def("moonwalk")
    assert action_def("hop") is VOCABULARY["hop"]


def test_the_table_is_read_only():
    with pytest.raises(TypeError):
        VOCABULARY["hop"] = VOCABULARY["kick"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        VOCABULARY["hop"].weight = 2.0  # type: ignore[misc]
    assert isinstance(VOCABULARY["hop"], ActionDef)


def test_an_action_without_a_phrasing_bank_or_direction_words_is_an_error_naming_it():
    from moscale_cli.data.synth.language.action_banks import ACTION_BANKS, DIRECTION_FAMILY
    from moscale_cli.data.synth.language.word_banks import DIRECTION_BANKS

    check_registry("phrasing bank", "name", ACTION_BANKS)  # the corpus's own table passes
    assert DIRECTION_FAMILY == {n: d.direction_words for n, d in VOCABULARY.items() if d.direction_words}
    table = make_vocabulary([*VOCABULARY.values(), replace(VOCABULARY["hop"], name="skip")])
    with pytest.raises(VocabularyError, match=r"action 'skip' has no phrasing bank"):
        check_registry("phrasing bank", "name", ACTION_BANKS, table)
    table = make_vocabulary([replace(VOCABULARY["turn"], direction_words="diagonal")])
    with pytest.raises(VocabularyError, match=r"action 'turn' has no direction words: direction_words 'diagonal'"):
        check_registry("direction words", "direction_words", DIRECTION_BANKS, table, optional=True)
    with pytest.raises(VocabularyError, match=r"action 'hop': direction_words for an action without directions"):
        replace(VOCABULARY["hop"], direction_words="lateral")
