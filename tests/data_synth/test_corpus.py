"""The synthetic corpus on disk: layout, determinism, captions and tokens, labels, CLI."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from moscale_cli.cli.app import app, main
from moscale_cli.data.synth.caption_info import caption_infos
from moscale_cli.data.synth.captions import LEXICON, make_caption_set, make_captions, tokens_of
from moscale_cli.data.synth.corpus import build_corpus, split_of
from moscale_cli.data.synth.language.lexicon import WORD, known
from moscale_cli.data.synth.program import ActionSpec, Program, sample_program
from moscale_cli.errors import UsageError
from moscale_cli.motion.features import recover_from_ric
from moscale_cli.motion.normalize import compute_stats

POS = {"VERB", "NOUN", "DET", "ADP", "NUM", "ADV", "ADJ", "PRON", "CCONJ", "SCONJ", "AUX", "PART", "INTJ"}


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


def test_meta_records_the_corpus_version(corpus):
    meta = json.loads((corpus / "meta.json").read_text())
    assert meta["kind"] == "synth" and meta["corpus_version"] == 3 and meta["seed"] == 5 and meta["clips"] == 8


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
        held = (corpus / "texts_heldout" / f"{lb['id']}.txt").read_text().splitlines()
        assert 3 <= len(lines) <= 5 and len(set(lines)) == len(lines) and len(held) == 2
        for ln in lines + held:
            cap, toks, t0, t1 = ln.split("#")
            assert (t0, t1) == ("0.0", "0.0")
            words = WORD.findall(cap)
            pairs = [t.split("/") for t in toks.split()]
            assert len(pairs) == len(words)
            assert all(p in POS for _, p in pairs)
        assert lb["captions"] == [ln.split("#")[0] for ln in lines]
        assert lb["heldout_captions"] == [ln.split("#")[0] for ln in held]
        infos = caption_infos(lb)
        assert [i.text for i in infos] == lb["captions"] + lb["heldout_captions"]
        assert [i.split for i in infos] == ["train"] * len(lines) + ["heldout"] * 2
        assert all(len(i.states) == len(lb["actions"]) for i in infos)
        spans = [a["span"] for a in lb["actions"]]
        assert 0 <= spans[0][0] and spans[-1][1] <= lb["frames"]
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))
        assert lb["frames"] == np.load(corpus / "new_joints" / f"{lb['id']}.npy").shape[0]
        assert 40 <= lb["natural_frames"] <= 196
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
    assert tokens_of("A man does a side-straddle hop.") == "a/DET man/NOUN do/VERB a/DET sidestraddle/ADJ hop/NOUN"
    with pytest.raises(KeyError):
        tokens_of("a person moonwalks")


def test_captions_state_counts_sides_and_order():
    rng = np.random.default_rng(0)
    prog = Program([ActionSpec("jumping_jacks", count=3), ActionSpec("wave", count=2, side="left")])
    caps = make_captions(prog, rng, n_min=5, n_max=5)
    assert len(caps) == 5
    for cap, toks in caps:
        low = cap.lower()
        assert "left" in low and "left/" in toks
        assert low.startswith(("before ", "prior to ")) or low.index("jack" if "jack" in low else "jump") < low.index("wav")
    train, held = make_caption_set(prog, np.random.default_rng(1))
    assert 3 <= len(train) <= 5 and len(held) == 2
    assert all(c.states[1] == ["count", "side"] for c in train + held)


def test_every_program_word_is_in_the_lexicon():
    rng = np.random.default_rng(1)
    seen = Counter()
    for _ in range(400):
        prog = sample_program(rng)
        train, held = make_caption_set(prog, rng)
        for c in train + held:
            words = WORD.findall(c.text)
            assert all(known(w) for w in words), c.text
            assert all(w.lower().replace("-", "") in LEXICON for w in words if not w.isdigit()), c.text
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


def test_dataset_reader_accepts_the_corpus_and_never_reads_heldout_captions(corpus):
    from moscale_cli.data.dataset import MotionDataset

    ds = MotionDataset(str(corpus), split="all")
    item = ds[0]
    assert item["feats"].shape == (196, 263)
    assert "/" in item["tokens"]
    labels = {lb["id"]: lb for lb in map(json.loads, (corpus / "labels.jsonl").read_text().splitlines())}
    read = {c.caption for e in ds.entries for c in e.captions}
    assert read == {c for lb in labels.values() for c in lb["captions"]}
    assert not read & {c for lb in labels.values() for c in lb["heldout_captions"]}


def test_merge_carries_heldout_captions_and_labels(corpus, tmp_path):
    from moscale_cli.data.merge import merge_datasets

    out = tmp_path / "merged"
    merge_datasets(out, [corpus], prefix_names=True)
    names = (corpus / "all.txt").read_text().split()
    for n in names:
        assert (out / "texts_heldout" / f"c_{n}.txt").read_bytes() == (corpus / "texts_heldout" / f"{n}.txt").read_bytes()
    rows = [json.loads(ln) for ln in (out / "labels.jsonl").read_text().splitlines()]
    src = {lb["id"]: lb for lb in map(json.loads, (corpus / "labels.jsonl").read_text().splitlines())}
    for r in rows:
        old = src[r["id"].removeprefix("c_")]
        assert r["heldout_captions"] == old["heldout_captions"] and r["caption_info"] == old["caption_info"]
