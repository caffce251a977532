"""Merging dataset folders and their statistics."""

from __future__ import annotations

import numpy as np
import pytest

from moscale_cli.data import layout
from moscale_cli.data.dataset import MotionDataset
from moscale_cli.data.merge import dataset_stats, merge_datasets
from moscale_cli.errors import DatasetError
from moscale_cli.motion.normalize import compute_stats

A_CLIPS = {
    "001": (60, ["a walks#a/DET walk/NOUN#0.0#0.0"]),
    "002": (80, ["a runs#a/DET run/NOUN#0.0#0.0", "a part#a/DET part/NOUN#1.0#3.5"]),
    "003": (44, ["a jumps#a/DET jump/NOUN#0.0#0.0"]),
}
B_CLIPS = {
    "001": (120, ["b waves#b/NOUN wave/VERB#0.0#0.0"]),
    "x": (210, ["b long#b/NOUN long/ADJ#0.0#0.0"]),
}


def _two(make_dataset):
    a, fa = make_dataset(
        name="setA", clips=A_CLIPS, splits={"train": ["001", "002"], "val": [], "test": ["003"]}
    )
    b, fb = make_dataset(
        name="setB", clips=B_CLIPS, splits={"train": ["x"], "val": ["001"], "test": []}, seed=5
    )
    return a, fa, b, fb


def test_merge_with_prefixes(make_dataset, tmp_path):
    a, fa, b, fb = _two(make_dataset)
    res = merge_datasets(tmp_path / "m", [a, b], prefix_names=True)
    out = tmp_path / "m"
    assert res.clips == 5 and res.per_source == {str(a): 3, str(b): 2}
    assert layout.read_split(out, "train") == ["setA_001", "setA_002", "setB_x"]
    assert layout.read_split(out, "val") == ["setB_001"]
    assert layout.read_split(out, "test") == ["setA_003"]
    assert sorted(layout.read_split(out, "all")) == sorted(
        ["setA_001", "setA_002", "setA_003", "setB_x", "setB_001"]
    )
    assert (out / "texts" / "setA_002.txt").read_bytes() == (a / "texts" / "002.txt").read_bytes()
    np.testing.assert_array_equal(np.load(layout.feature_path(out, "setB_001")), fb["001"])
    mean, std = compute_stats([*fa.values(), *fb.values()])
    np.testing.assert_allclose(np.load(out / "Mean.npy"), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.load(out / "Std.npy"), std, rtol=1e-5, atol=1e-6)
    ds = MotionDataset(out, split="train")
    assert sorted(ds.names) == ["setA_001", "setA_002", "setA_002@20-70"]  # setB_x is beyond 199 frames


def test_merge_errors(make_dataset, tmp_path):
    a, _, b, _ = _two(make_dataset)
    with pytest.raises(DatasetError, match="id 001 is in both .*--prefix-names"):
        merge_datasets(tmp_path / "m", [a, b])
    assert not (tmp_path / "m").exists() and not list(tmp_path.glob(".m.*"))
    k, _ = make_dataset(name="kit", clips={"k": (50, ["k#k/NOUN#0.0#0.0"])}, dim=251)
    with pytest.raises(DatasetError, match="different feature widths"):
        merge_datasets(tmp_path / "m", [a, k], prefix_names=True)
    (b / "val.txt").unlink()
    with pytest.raises(DatasetError, match="split file val.txt is missing"):
        merge_datasets(tmp_path / "m", [a, b], prefix_names=True)
    (b / "val.txt").write_text("001\n")
    (b / "texts" / "001.txt").unlink()
    with pytest.raises(DatasetError, match=r"val.txt lists 001 but texts/001.txt is missing"):
        merge_datasets(tmp_path / "m", [a, b], prefix_names=True)


def test_stats(make_dataset):
    a, _, _, _ = _two(make_dataset)
    (a / "train.txt").write_text("001\n002\nghost\n")
    st = dataset_stats(a)
    assert list(st.splits) == ["train", "val", "test"] and st.feature_dim == 263 and st.fps == 20
    tr = st.splits["train"]
    assert (tr.clips, tr.missing, tr.frames, tr.captions, tr.subclip_captions) == (3, 1, 140, 3, 1)
    assert tr.hours(20) == pytest.approx(140 / 20 / 3600)
    assert tr.length_summary()["min"] == 60 and tr.length_summary()["max"] == 80
    assert dict(tr.histogram()) == {
        "0-39": 0,
        "40-79": 1,
        "80-119": 1,
        "120-159": 0,
        "160-199": 0,
        ">=200": 0,
    }
    assert st.splits["val"].clips == 0 and st.splits["val"].length_summary() == {}
    for s in ("train", "val", "test"):
        (a / f"{s}.txt").unlink()
    with pytest.raises(DatasetError, match="no split files"):
        dataset_stats(a)


def test_merge_keeps_the_shortest_minimum_and_drops_clips_below_their_own(make_dataset, tmp_path):
    """A source imported with --min-len 12 keeps its short clips in the merge (meta.json min_len 12); a source
    without one (HumanML3D default 40) still loses its clips under 40 frames."""
    short, _ = make_dataset(name="short", clips={"s1": (16, ["x#x/NOUN#0.0#0.0"]), "s2": (60, ["y#y/NOUN#0.0#0.0"])},
                            splits={"train": ["s1", "s2"], "val": [], "test": []})
    (short / "meta.json").write_text('{"min_len": 12}')
    plain, _ = make_dataset(name="plain", clips={"p1": (20, ["z#z/NOUN#0.0#0.0"]), "p2": (48, ["w#w/NOUN#0.0#0.0"])},
                            splits={"train": ["p1", "p2"], "val": [], "test": []}, seed=3)
    out = tmp_path / "merged"
    merge_datasets(out, [short, plain], prefix_names=True)
    assert layout.meta_min_len(out) == 12
    names = set(layout.read_split(out, "train"))
    assert names == {"short_s1", "short_s2", "plain_p2"}
    ds = MotionDataset(out, split="train", stats="none", unit=4)
    assert len(ds) == 3  # the reader honours the merged minimum: the 16-frame clip is in


def test_merge_carries_the_procedural_labels_under_the_new_ids(make_dataset, tmp_path):
    import json

    a, _ = make_dataset(name="synth", clips={"c1": (60, ["x#x/NOUN#0.0#0.0"]), "c2": (48, ["y#y/NOUN#0.0#0.0"])},
                        splits={"train": ["c1"], "val": [], "test": ["c2"]})
    (a / "labels.jsonl").write_text(json.dumps({"id": "c1", "actions": [{"action": "wave"}]}) + "\n"
                                    + json.dumps({"id": "c2", "actions": [{"action": "clap"}]}) + "\n")
    b, _ = make_dataset(name="mocap", clips={"m1": (60, ["z#z/NOUN#0.0#0.0"])},
                        splits={"train": ["m1"], "val": [], "test": []}, seed=2)
    out = tmp_path / "merged"
    merge_datasets(out, [a, b], prefix_names=True)
    rows = [json.loads(x) for x in (out / "labels.jsonl").read_text().splitlines()]
    assert {r["id"]: r["actions"][0]["action"] for r in rows} == {"synth_c1": "wave", "synth_c2": "clap"}
