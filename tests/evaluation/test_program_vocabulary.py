"""The program task reads the action table: every action has a detector and an evidence rule (checked when the
package is imported), and an action missing either is an error naming it."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from moscale_cli.data.synth.vocabulary import VOCABULARY, VocabularyError, make_vocabulary
from moscale_cli.evaluation.program.detectors import DETECTORS
from moscale_cli.evaluation.program.segment import EVIDENCE
from moscale_cli.evaluation.program.table import ATTRS, check_program_table

ROOT = Path(__file__).resolve().parents[2]


def with_extra(**fields) -> dict:
    """The corpus's table plus a "moonwalk" (a walk_backward with the given fields changed)."""
    extra = replace(VOCABULARY["walk_backward"], name="moonwalk", **fields)
    return make_vocabulary([*VOCABULARY.values(), extra])


def test_the_corpus_table_has_a_detector_and_an_evidence_rule_for_every_action():
    check_program_table()
    assert {d.detector for d in VOCABULARY.values()} == set(DETECTORS)
    assert {d.evidence for d in VOCABULARY.values()} == set(EVIDENCE)
    assert ATTRS == {name: d.checks for name, d in VOCABULARY.items()}


def test_an_action_without_a_detector_fails_naming_it():
    check_program_table(with_extra())  # a new action reusing existing detector and evidence passes
    with pytest.raises(VocabularyError, match=r"action 'moonwalk' has no detector: detector 'moonwalk_detector'"):
        check_program_table(with_extra(detector="moonwalk_detector"))


def test_an_action_without_an_evidence_rule_fails_naming_it():
    with pytest.raises(VocabularyError, match=r"action 'moonwalk' has no evidence rule: evidence 'glide'"):
        check_program_table(with_extra(evidence="glide"))


def test_an_action_checking_an_unknown_attribute_fails_naming_it():
    with pytest.raises(VocabularyError, match=r"action 'moonwalk' checks style"):
        check_program_table(with_extra(checks=("present", "style")))


def test_importing_the_program_task_with_an_action_missing_its_detector_fails():
    """The check runs at import: a table extended before the program task is imported stops the import."""
    code = (
        "from dataclasses import replace\n"
        "import moscale_cli.data.synth.vocabulary as v\n"
        "extra = replace(v.VOCABULARY['walk_backward'], name='moonwalk', detector='moonwalk_detector')\n"
        "v.VOCABULARY = v.make_vocabulary([*v.VOCABULARY.values(), extra])\n"
        "import moscale_cli.evaluation.program\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "VocabularyError: action 'moonwalk' has no detector" in r.stderr, r.stderr
