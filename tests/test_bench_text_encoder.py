"""benchmarks/bench_text_encoder.py: the read-outs that bound what an encoder carries to held-out phrasings."""

from __future__ import annotations

import json

import numpy as np

from tests.conftest import load_module


def _mod():
    return load_module("benchmarks/bench_text_encoder.py")


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _clustered(rng: np.random.Generator, centres: np.ndarray, labels: list[int], noise: float) -> np.ndarray:
    return _unit(centres[labels] + noise * rng.standard_normal((len(labels), centres.shape[1])))


def test_probe_reads_actions_from_separable_vectors_and_not_from_noise():
    """Captions whose vectors cluster by action are read right by every read-out; a test set whose vectors
    carry nothing of the action (independent noise) is read at about chance (4 actions: 0.25)."""
    bench = _mod()
    rng = np.random.default_rng(0)
    acts = ["clap", "jump", "walk", "wave"]
    centres = _unit(rng.standard_normal((4, 32)))
    train_lab = [i % 4 for i in range(200)]
    test_lab = [i % 4 for i in range(400)]
    train_X = _clustered(rng, centres, train_lab, 0.1)
    tests = {"kept": (_clustered(rng, centres, test_lab, 0.1), [acts[i] for i in test_lab]),
             "lost": (_unit(rng.standard_normal((400, 32))), [acts[i] for i in test_lab])}
    res = bench.probe(train_X, [acts[i] for i in train_lab], tests, steps=200)
    for k in ("nn1", "knn10", "mlp"):
        assert res["kept"][k] == 1.0
        assert 0.1 < res["lost"][k] < 0.4
    assert res["kept"]["n"] == 400 and set(res["kept"]["per_action_mlp"]) == set(acts)


def test_one_action_pairs_keeps_one_action_clips_of_the_split(tmp_path):
    bench = _mod()
    rows = [{"id": "a", "actions": [{"action": "wave"}], "captions": ["waves"], "heldout_captions": ["greets"]},
            {"id": "b", "actions": [{"action": "wave"}, {"action": "jump"}], "captions": ["waves, jumps"],
             "heldout_captions": ["greets, hops"]},
            {"id": "c", "actions": [{"action": "jump"}], "captions": ["jumps", "leaps up"], "heldout_captions": ["bounds"]}]
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert bench.one_action_pairs(labels, ["a", "b", "c"], "heldout_captions") == [("greets", "wave"), ("bounds", "jump")]
    assert bench.one_action_pairs(labels, ["b", "c"], "captions") == [("jumps", "jump"), ("leaps up", "jump")]
    assert bench.one_action_pairs(labels, ["a", "c"], "captions", max_clips=1) == [("waves", "wave")]
