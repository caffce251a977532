"""The synthetic corpus on disk: layout, determinism, captions and tokens, labels, CLI."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from moscale_cli.cli.app import app, main
from moscale_cli.data.synth.captions import LEXICON, make_captions, tokens_of
from moscale_cli.data.synth.corpus import build_corpus, split_of
from moscale_cli.data.synth.program import ActionSpec, Program, sample_program
from moscale_cli.errors import UsageError
from moscale_cli.motion.features import recover_from_ric
from moscale_cli.motion.normalize import compute_stats

POS = {"VERB", "NOUN", "DET", "ADP", "NUM", "ADV", "ADJ", "PRON", "CCONJ", "SCONJ", "AUX"}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "c"
    build_corpus(out, 8, seed=5, workers=2)
    return out


def test_same_seed_gives_identical_files_with_any_worker_count(corpus, tmp_path):
    build_corpus(tmp_path / "one", 8, seed=5, workers=1)
    a, b = _files(corpus), _files(tmp_path / "one")
    assert a.keys() == b.keys()
    assert all(a[k] == b[k] for k in a)
    build_corpus(tmp_path / "other", 8, seed=6, workers=1)
    c = _files(tmp_path / "other")
    assert a["new_joints/synth_000000.npy"] != c["new_joints/synth_000000.npy"]


def test_layout_stats_and_roundtrip(corpus):
    names = (corpus / "all.txt").read_text().split()
    assert len(names) == 8
    splits = [(corpus / f"{s}.txt").read_text().split() for s in ("train", "val", "test")]
    assert sorted(sum(splits, [])) == sorted(names)
    feats = []
    for n in names:
        f = np.load(corpus / "new_joint_vecs" / f"{n}.npy")
        j = np.load(corpus / "new_joints" / f"{n}.npy")
        assert f.dtype == np.float32 and j.dtype == np.float32
        assert f.shape == (j.shape[0], 263) and j.shape[1:] == (22, 3)
        assert 40 <= f.shape[0] <= 196
        np.testing.assert_allclose(recover_from_ric(f), j, atol=1e-4)
        feats.append(f)
    mean, std = compute_stats(feats)
    np.testing.assert_array_equal(np.load(corpus / "Mean.npy"), mean)
    np.testing.assert_array_equal(np.load(corpus / "Std.npy"), std)


def test_captions_and_labels(corpus):
    labels = [json.loads(ln) for ln in (corpus / "labels.jsonl").read_text().splitlines()]
    assert [lb["id"] for lb in labels] == (corpus / "all.txt").read_text().split()
    for lb in labels:
        lines = (corpus / "texts" / f"{lb['id']}.txt").read_text().splitlines()
        assert len(lines) >= 3 and len(set(lines)) == len(lines)
        for ln in lines:
            cap, toks, t0, t1 = ln.split("#")
            assert (t0, t1) == ("0.0", "0.0")
            words = cap.lower().replace(",", " ").replace(".", " ").split()
            pairs = [t.split("/") for t in toks.split()]
            assert len(pairs) == len(words)
            assert all(p in POS for _, p in pairs)
        assert [c for c in lb["captions"]] == [ln.split("#")[0] for ln in lines]
        spans = [a["span"] for a in lb["actions"]]
        assert spans[0][0] == 0 and spans[-1][1] == lb["frames"]
        assert lb["frames"] == np.load(corpus / "new_joints" / f"{lb['id']}.npy").shape[0]
        for a in lb["actions"]:
            assert all(a["span"][0] <= e < a["span"][1] for e in a["events"])
            if a["count"] is not None and a["action"] not in ("side_step",):
                assert len(a["events"]) == a["count"]


def test_tokens_are_lemmatised_and_tagged():
    assert tokens_of("a person walks forward|ADV.") == "a/DET person/NOUN walk/VERB forward/ADV"
    assert tokens_of("someone waves the left|ADJ hand twice") == (
        "someone/PRON wave/VERB the/DET left/ADJ hand/NOUN twice/ADV"
    )
    assert tokens_of("a man does two jumping jacks|NOUN") == "a/DET man/NOUN do/VERB two/NUM jump/VERB jack/NOUN"
    with pytest.raises(KeyError):
        tokens_of("a person moonwalks")


def test_captions_state_counts_sides_and_order():
    rng = np.random.default_rng(0)
    prog = Program([ActionSpec("jumping_jacks", count=3), ActionSpec("wave", count=2, side="left")])
    caps = make_captions(prog, rng, n_min=5, n_max=5)
    assert len(caps) == 5
    for cap, toks in caps:
        low = cap.lower()
        assert "three" in low and ("twice" in low or "two times" in low) and "left" in low
        assert low.index("jumping jack") < low.index("wave")
        assert "three/NUM" in toks and "left/ADJ" in toks


def test_every_program_word_is_in_the_lexicon():
    rng = np.random.default_rng(1)
    seen = Counter()
    for _ in range(400):
        prog = sample_program(rng)
        for cap, _toks in make_captions(prog, rng):
            for w in cap.lower().replace(",", " ").replace(".", " ").split():
                assert w in LEXICON
            seen.update(a.action for a in prog.actions)
    assert len(seen) >= 30  # the sampler draws every action


def test_split_is_80_5_15():
    c = Counter(split_of(f"synth_{i:06d}", 0) for i in range(4000))
    assert abs(c["train"] / 4000 - 0.80) < 0.03
    assert abs(c["val"] / 4000 - 0.05) < 0.015
    assert abs(c["test"] / 4000 - 0.15) < 0.025


def test_refuses_non_empty_out_and_bad_counts(corpus, tmp_path):
    with pytest.raises(UsageError, match="not empty"):
        build_corpus(corpus, 2, seed=0)
    with pytest.raises(UsageError, match="--clips"):
        build_corpus(tmp_path / "x", 0)
    assert not (tmp_path / "x").exists()


def test_cli_synth(tmp_path, capsys):
    runner = CliRunner()
    out = tmp_path / "cli"
    r = runner.invoke(app, ["--quiet", "data", "synth", str(out), "--clips", "3", "--seed", "2", "--workers", "1"])
    assert r.exit_code == 0, r.output
    assert len((out / "all.txt").read_text().split()) == 3
    with pytest.raises(SystemExit) as ex:
        main(["--quiet", "data", "synth", str(out), "--clips", "3"])
    assert ex.value.code == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "not empty" in err[0]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no leftovers


def test_dataset_reader_accepts_the_corpus(corpus):
    from moscale_cli.data.dataset import MotionDataset

    ds = MotionDataset(str(corpus), split="all")
    item = ds[0]
    assert item["feats"].shape == (196, 263)
    assert "/" in item["tokens"]
