"""MotionDataset / collate / loader on small HumanML3D-layout folders made in the test."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from moscale_cli.data.dataset import DatasetWarning, MotionDataset, collate, make_loader
from moscale_cli.errors import DatasetError
from moscale_cli.motion.normalize import evaluator_std

CLIPS = {
    "000001": (100, ["a person walks forward#a/DET person/NOUN walk/VERB forward/ADV#0.0#0.0",
                     "someone strolls ahead#someone/PRON stroll/VERB ahead/ADV#nan#nan"]),
    "000002": (30, ["too short clip#too/ADV short/ADJ clip/NOUN#0.0#0.0"]),
    "000003": (150, ["a person jumps#a/DET person/NOUN jump/VERB#0.0#0.0",
                     "a person waves#a/DET person/NOUN wave/VERB#1.0#3.0",
                     "a person bows#a/DET person/NOUN bow/VERB#0.0#1.0"]),
    "000004": (210, ["too long clip#too/ADV long/ADJ clip/NOUN#0.0#0.0"]),
    "000005": (199, ["a long walk#a/DET long/ADJ walk/NOUN#0.0#0.0"]),
    "000006": (120, ["only a part#only/ADV a/DET part/NOUN#2.0#4.5"]),
}  # fmt: skip


def _denorm(ds, item):
    n = item["length"]
    return ds.normalizer.denormalize(item["feats"][:n].numpy())


def _find_window(raw, window):
    for off in range(raw.shape[0] - window.shape[0] + 1):
        if np.allclose(raw[off : off + window.shape[0]], window, atol=1e-4):
            return off
    return None


def test_entries_filters_and_subclips(make_dataset):
    root, _ = make_dataset(clips=CLIPS)
    ds = MotionDataset(root, split="train")
    assert sorted(ds.names) == ["000001", "000003", "000003@20-60", "000005", "000006@40-90"]
    # 000002 (30 frames) and 000003's 0..1 s sub-clip (20 frames) are too short; 000004 (210) too long
    assert ds.report.too_short == 2 and ds.report.too_long == 1
    assert ds.report.problems == 0
    lens = dict(zip(ds.names, ds.lengths.tolist(), strict=True))
    assert lens == {"000001": 100, "000003": 150, "000003@20-60": 40, "000005": 199, "000006@40-90": 50}
    assert ds.feature_dim == 263


def test_items_crop_normalise_pad(make_dataset):
    root, feats = make_dataset(clips=CLIPS)
    ds = MotionDataset(root, split="train", seed=3)
    mean, std = np.load(root / "Mean.npy"), np.load(root / "Std.npy")
    seen_lengths: dict[str, set[int]] = {}
    for epoch in range(12):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            it = ds[i]
            e = ds.entries[i]
            n = it["length"]
            assert it["feats"].shape == (196, 263) and it["feats"].dtype == torch.float32
            assert n % 4 == 0 and n <= 196
            L = e.length
            assert n in (4 * (min(L, 196) // 4), 4 * (min(L, 196) // 4 - 1))
            assert torch.all(it["feats"][n:] == 0)
            # normalised with Mean/Std of the folder, and a contiguous window of the raw clip
            raw = feats[e.file][e.start : e.end]
            win = it["feats"][:n].numpy() * std + mean
            assert _find_window(raw, win) is not None
            seen_lengths.setdefault(it["name"], set()).add(n)
    assert seen_lengths["000001"] == {100, 96}  # both 'single' and 'double' crops occur
    assert seen_lengths["000005"] == {196, 192}  # 199 frames never give more than 196
    assert seen_lengths["000003@20-60"] == {40, 36}


def test_subclip_holds_its_frames_and_caption(make_dataset):
    root, feats = make_dataset(clips=CLIPS)
    ds = MotionDataset(root, split="train")
    i = ds.names.index("000003@20-60")
    it = ds[i]
    assert it["caption"] == "a person waves" and it["tokens"] == "a/DET person/NOUN wave/VERB"
    off = _find_window(feats["000003"][20:60], _denorm(ds, it))
    assert off is not None
    whole = ds[ds.names.index("000003")]
    assert whole["caption"] == "a person jumps"  # tagged captions never attach to the whole clip


def test_random_caption_per_item(make_dataset):
    root, _ = make_dataset(clips=CLIPS)
    ds = MotionDataset(root, split="train")
    i = ds.names.index("000001")
    caps = set()
    for epoch in range(20):
        ds.set_epoch(epoch)
        it = ds[i]
        caps.add((it["caption"], it["tokens"]))
    assert caps == {
        ("a person walks forward", "a/DET person/NOUN walk/VERB forward/ADV"),
        ("someone strolls ahead", "someone/PRON stroll/VERB ahead/ADV"),
    }
    ds.set_epoch(5)
    a = ds[i]
    b = ds[i]
    assert a["caption"] == b["caption"] and torch.equal(a["feats"], b["feats"])  # deterministic per epoch


def test_evaluator_stats_and_given_normalizer(make_dataset):
    from moscale_cli.motion.normalize import Normalizer

    root, _ = make_dataset(clips=CLIPS)
    ds = MotionDataset(root, stats="evaluator")
    std = np.load(root / "Std.npy")
    np.testing.assert_allclose(ds.normalizer.std, evaluator_std(std))
    assert np.allclose(ds.normalizer.std[:4], std[:4] / 25)
    norm = Normalizer(np.zeros(263), np.full(263, 2.0))
    ds2 = MotionDataset(root, normalizer=norm)
    assert ds2.normalizer is norm
    with pytest.raises(DatasetError, match="normaliser has 251 dims"):
        MotionDataset(root, normalizer=Normalizer(np.zeros(251), np.ones(251)))


def test_length_options_and_crop_long(make_dataset):
    root, _ = make_dataset(clips=CLIPS)
    ds = MotionDataset(root, min_len=20, max_len=64)
    # 000002 (30) and the 20-frame sub-clip now pass; 100.. frame clips are beyond 64+4
    assert sorted(ds.names) == ["000002", "000003@0-20", "000003@20-60", "000006@40-90"]
    assert all(ds[i]["feats"].shape == (64, 263) for i in range(len(ds)))
    ds = MotionDataset(root, max_len=64, crop_long=True)
    assert "000004" in ds.names
    for i in range(len(ds)):
        assert ds[i]["length"] <= 64


def test_collate_and_loader(make_dataset):
    root, _ = make_dataset(clips=CLIPS)
    ds = MotionDataset(root)
    batch = collate([ds[i] for i in range(3)])
    assert batch["feats"].shape == (3, 196, 263)
    assert batch["mask"].dtype == torch.bool and batch["mask"].shape == (3, 196)
    assert torch.equal(batch["mask"].sum(1), batch["lengths"])
    assert len(batch["captions"]) == len(batch["tokens"]) == len(batch["names"]) == 3

    loader = make_loader(ds, batch_size=2, shuffle=True, drop_last=True, seed=7)
    assert len(loader) == 2
    e0 = [b["names"] for b in loader]
    e1 = [b["names"] for b in loader]
    assert all(len(n) == 2 for n in e0) and len(e0) == 2
    again = make_loader(ds, batch_size=2, shuffle=True, drop_last=True, seed=7)
    assert [b["names"] for b in again] == e0  # seeded
    assert [b["names"] for b in again] == e1  # epoch by epoch
    orders = {tuple(sum(e, [])) for e in (e0, e1)}
    for _ in range(2, 8):
        orders.add(tuple(sum((b["names"] for b in again), [])))
    assert len(orders) > 1  # epochs reshuffle
    full = make_loader(ds, batch_size=2, shuffle=False, seed=1)
    assert len(full) == 3 and sum((b["names"] for b in full), []) == ds.names  # in order


def test_workers_give_the_same_batches(make_dataset):
    root, _ = make_dataset(clips=CLIPS)
    ds = MotionDataset(root)
    a = list(make_loader(ds, batch_size=2, shuffle=True, seed=4, num_workers=0))
    b = list(make_loader(ds, batch_size=2, shuffle=True, seed=4, num_workers=2))
    for x, y in zip(a, b, strict=True):
        assert x["names"] == y["names"] and torch.equal(x["feats"], y["feats"])


def test_eval_mode_fields(make_dataset):
    root, _ = make_dataset(clips=CLIPS)
    ds = MotionDataset(root, mode="eval", stats="evaluator")
    assert list(ds.lengths) == sorted(ds.lengths)
    it = ds[0]
    assert it["word_tokens"][0] == "sos/OTHER" and len(it["word_tokens"]) == 22
    assert it["sent_len"] == len(it["tokens"].split()) + 2
    assert it["word_tokens"][it["sent_len"] - 1] == "eos/OTHER"
    batch = collate([ds[0], ds[1]])
    assert batch["sent_lens"].tolist() == [ds[0]["sent_len"], ds[1]["sent_len"]]


def test_broken_files_are_reported(make_dataset):
    clips = {k: CLIPS[k] for k in ("000001", "000003", "000005")}
    root, _ = make_dataset(clips=clips, splits={"train": [*clips, "missing1"]})
    np.save(root / "new_joint_vecs" / "wrongdim.npy", np.zeros((80, 250), np.float32))
    bad = np.zeros((80, 263), np.float32)
    bad[3, 5] = np.nan
    np.save(root / "new_joint_vecs" / "nanclip.npy", bad)
    (root / "new_joint_vecs" / "garbage.npy").write_bytes(b"not a numpy file")
    np.save(root / "new_joint_vecs" / "nocaps.npy", np.zeros((80, 263), np.float32))
    np.save(root / "new_joint_vecs" / "badline.npy", np.zeros((80, 263), np.float32))
    (root / "texts" / "badline.txt").write_text("a fine caption#a/DET#0.0#0.0\nno tags here\n")
    names = [*clips, "missing1", "wrongdim", "nanclip", "garbage", "nocaps", "badline"]
    (root / "train.txt").write_text("\n".join(names) + "\n")
    with pytest.warns(DatasetWarning, match="1 missing feature files"):
        ds = MotionDataset(root)
    r = ds.report
    assert r.missing == ["hml/missing1"]
    assert len(r.broken) == 3 and {b.split(":")[0] for b in r.broken} == {
        "hml/wrongdim",
        "hml/nanclip",
        "hml/garbage",
    }
    assert r.captions == ["hml/nocaps: no caption file"]
    assert len(r.malformed_lines) == 1 and r.malformed_lines[0].startswith("hml/texts/badline.txt:2")
    assert "badline" in ds.names  # its valid line still counts
    assert r.problems == 6


def test_errors(make_dataset, tmp_path):
    root, _ = make_dataset(clips=CLIPS)
    with pytest.raises(DatasetError, match="split file val.txt is missing"):
        MotionDataset(root, split="val")
    with pytest.raises(DatasetError, match="does not exist"):
        MotionDataset(tmp_path / "nowhere")
    (root / "test.txt").write_text("000002\n000004\n")
    with pytest.raises(DatasetError, match="no usable clips"):
        MotionDataset(root, split="test")
    (root / "Mean.npy").unlink()
    with pytest.raises(DatasetError, match="Mean.npy is missing"):
        MotionDataset(root)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MotionDataset(root, stats="none")  # no statistics needed, no warnings


def test_kit_variant(make_dataset):
    clips = {"03950": (30, ["a person kicks#a/DET person/NOUN kick/VERB#0.0#0.0"]),
             "00002": (20, ["too short#too/ADV short/ADJ#0.0#0.0"]),
             "00003": (180, ["a person walks#a/DET person/NOUN walk/VERB#0.0#0.0"])}  # fmt: skip
    root, feats = make_dataset(name="kit", clips=clips, dim=251)
    ds = MotionDataset(root, stats="evaluator")
    assert ds.feature_dim == 251 and ds.spec.min_len == 24 and ds.skeleton.name == "kit21"
    assert sorted(ds.names) == ["00003", "03950"]
    it = ds[ds.names.index("03950")]
    assert it["feats"].shape == (196, 251) and it["length"] in (28, 24)
    std = np.load(root / "Std.npy")
    assert np.allclose(ds.normalizer.std[247:], std[247:] / 25)


def test_several_roots(make_dataset):
    a, _ = make_dataset(name="a", clips={k: CLIPS[k] for k in ("000001", "000003")}, seed=1)
    b, fb = make_dataset(name="b", clips={"x1": (64, ["b clip#b/NOUN clip/NOUN#0.0#0.0"])}, seed=2)
    ds = MotionDataset([a, b])
    assert sorted(ds.names) == ["000001", "000003", "000003@20-60", "x1"]
    np.testing.assert_allclose(ds.normalizer.mean, np.load(a / "Mean.npy"))  # the first root's stats
    it = ds[ds.names.index("x1")]
    assert _find_window(fb["x1"], _denorm(ds, it)) is not None
    c, _ = make_dataset(name="c", clips={"k": (64, ["c#c/NOUN#0.0#0.0"])}, dim=251)
    with pytest.raises(DatasetError, match="different feature widths"):
        MotionDataset([a, c])


def test_meta_min_len_is_the_readers_default(make_dataset):
    root, _ = make_dataset(clips=CLIPS)
    assert "000002" not in MotionDataset(root).names  # 30 frames < 40
    (root / "meta.json").write_text('{"kind": "bvh-import", "min_len": 12}')
    ds = MotionDataset(root)
    assert "000002" in ds.names and "000006@40-90" in ds.names
    assert "000002" not in MotionDataset(root, min_len=40).names  # an explicit value still wins
    (root / "meta.json").write_text('{"min_len": 1}')
    assert "000002" in MotionDataset(root).names
    for bad in ('{"min_len": "12"}', "[1, 2]", "{broken"):
        (root / "meta.json").write_text(bad)
        with pytest.raises(DatasetError, match="meta.json"):
            MotionDataset(root)
