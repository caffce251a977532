"""BVH folder import: fixture clips, windows, captions, splits, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from moscale_cli.data import layout
from moscale_cli.data.bvh_import import (
    ImportConfig,
    import_bvh_folder,
    split_of,
    window_captions,
    window_starts,
)
from moscale_cli.data.dataset import MotionDataset
from moscale_cli.data.layout import CaptionLine
from moscale_cli.errors import DatasetError
from moscale_cli.motion.features import recover_from_ric
from moscale_cli.motion.normalize import compute_stats
from moscale_cli.motion.skeleton import SMPL22

WALK = "dataset-2_walk_normal_001"


def _copy_fixtures(src: Path, dst: Path, names: list[str] | None = None) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for p in sorted(src.iterdir()):
        if names is None or p.stem in names:
            shutil.copy(p, dst / p.name)
    return dst


def _long_bvh(src: Path, dst: Path, repeat: int = 2) -> None:
    """A BVH whose motion is the source's frames ``repeat`` times over."""
    text = src.read_text()
    head, motion = text.split("MOTION", 1)
    lines = motion.strip("\n").splitlines()
    frames = [ln for ln in lines[2:] if ln.strip()]
    n = len(frames) * repeat
    dst.write_text(head + f"MOTION\nFrames: {n}\n{lines[1]}\n" + "\n".join(frames * repeat) + "\n")


def test_window_starts_and_captions():
    assert window_starts(150, 196, 160) == [0]
    assert window_starts(196, 196, 160) == [0]
    assert window_starts(400, 196, 160) == [0, 160, 204]
    assert window_starts(356, 196, 160) == [0, 160]
    for total in range(197, 700, 37):
        s = window_starts(total, 196, 160)
        assert s[-1] + 196 == total and all(b - a <= 160 for a, b in zip(s, s[1:], strict=False))
    caps = [CaptionLine("whole"), CaptionLine("first", "", 0.5, 4.0), CaptionLine("late", "", 12.0, 19.0)]
    assert window_captions(caps, 0, 150, 150, 40, 20) == caps  # the whole clip: unchanged
    w = window_captions(caps, 160, 196, 400, 40, 20)  # frames 160..356 = 8.0..17.8 s
    assert [c.caption for c in w] == ["whole", "late"]
    assert (w[1].start, w[1].end) == (4.0, 9.8)  # 240..356 moved into the window
    w0 = window_captions(caps, 0, 196, 400, 40, 20)
    assert [(c.caption, c.start, c.end) for c in w0] == [("whole", 0.0, 0.0), ("first", 0.5, 4.0)]


def test_split_hash_is_seeded_and_balanced():
    names = [f"clip_{i:05d}" for i in range(4000)]
    a = [split_of(n, 0) for n in names]
    assert a == [split_of(n, 0) for n in names]
    assert a != [split_of(n, 1) for n in names]
    frac = {s: a.count(s) / len(a) for s in ("train", "val", "test")}
    assert (
        abs(frac["train"] - 0.80) < 0.03
        and abs(frac["val"] - 0.05) < 0.015
        and abs(frac["test"] - 0.15) < 0.03
    )


def test_fixture_bvhs_import(bvh_fixture_dir, tmp_path):
    out = tmp_path / "ds"
    res = import_bvh_folder(bvh_fixture_dir, out, ImportConfig(workers=1))
    assert res.files == 5 and not res.failed
    # the raise-up fixture is 33 frames at 20 fps: too short for the 40-frame minimum, skipped with the reason
    assert [n for n, _ in res.skipped] == ["dataset-2_raise-up-both-hands_normal_001"]
    assert "too short" in res.skipped[0][1]
    names = layout.read_split(out, "all")
    assert sorted(names) == sorted(p.stem for p in bvh_fixture_dir.glob("*.bvh") if "raise" not in p.stem)
    assert res.clips == 4 and res.frames == sum(np.load(layout.feature_path(out, n)).shape[0] for n in names)
    feats = []
    for n in names:
        f = np.load(layout.feature_path(out, n))
        j = np.load(layout.joints_path(out, n))
        assert f.dtype == np.float32 and f.shape[1] == 263 and 40 <= f.shape[0] <= 196
        assert j.shape == (f.shape[0], 22, 3)
        np.testing.assert_allclose(j, recover_from_ric(f, 22), atol=1e-6)  # joints agree with features
        assert j[..., 1].min() > -0.05  # on the floor, not under it
        caps = layout.read_captions(layout.text_path(out, n))
        assert len(caps) >= 3 and len({c.caption for c in caps}) == len(caps)
        assert all(c.tokens and c.whole_clip for c in caps)
        feats.append(f)
    content = {n: n.split("_")[1] for n in names}
    for n, c in content.items():
        caps = " | ".join(c.caption for c in layout.read_captions(layout.text_path(out, n)))
        key = {"walk": "walk", "run": "ru", "walk-turn-left": "left", "wave-left-hand": "left"}[c]
        assert caps.count(key) >= 3, caps
    # splits partition all.txt; stats are those of the written features
    parts = [
        layout.read_split(out, s) if layout.split_path(out, s).exists() else []
        for s in ("train", "val", "test")
    ]
    assert sorted(sum(parts, [])) == sorted(names)
    mean, std = compute_stats(feats, SMPL22)
    np.testing.assert_allclose(np.load(out / "Mean.npy"), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.load(out / "Std.npy"), std, rtol=1e-5, atol=1e-6)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["clips"] == 4 and "CC BY-NC" in meta["license"]
    ds = MotionDataset(out, split="all")
    assert len(ds) == 4 and ds[0]["feats"].shape == (196, 263)
    assert not list(tmp_path.glob(".*partial"))  # no staging folder left behind


def test_long_clip_windows_and_sidecar(bvh_fixture_dir, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _long_bvh(bvh_fixture_dir / f"{WALK}.bvh", src / "longwalk.bvh", repeat=3)  # 819 frames at 30 fps
    (src / "longwalk.txt").write_text(
        "a person walks for a long time\n"  # plain text: tokens get tagged
        "someone walks forward#someone/PRON walk/VERB forward/ADV#0.0#0.0\n"
        "the start of a walk#the/DET start/NOUN of/ADP a/DET walk/NOUN#0.0#4.0\n"
    )
    shutil.copy(bvh_fixture_dir / "dataset-2_run_normal_001.bvh", src / "short_run.bvh")
    (src / "short_run.txt").write_text("a person runs\n")
    out = tmp_path / "ds"
    res = import_bvh_folder(src, out, ImportConfig(workers=1, captions="sidecar"))
    assert not res.failed and not res.skipped
    names = sorted(layout.read_split(out, "all"))
    total = 819 * 20 // 30  # 546 joint frames at 20 fps -> 545 feature frames
    starts = window_starts(total - 1, 196, 160)
    assert names == [f"longwalk_w{k:02d}" for k in range(len(starts))] + ["short_run"]
    for k in range(len(starts)):
        f = np.load(layout.feature_path(out, f"longwalk_w{k:02d}"))
        assert f.shape == (196, 263)
        caps = layout.read_captions(layout.text_path(out, f"longwalk_w{k:02d}"))
        assert caps[0].caption == "a person walks for a long time"
        assert caps[0].tokens == "a/DET person/NOUN walk/VERB for/ADP a/DET long/ADJ time/NOUN"
        assert ("the start of a walk" in [c.caption for c in caps]) == (k == 0)
    # all windows of one file fall in the same split
    splits = {s: set(layout.read_split(out, s)) for s in ("train", "val", "test")}
    homes = {s for s, ns in splits.items() for n in ns if n.startswith("longwalk")}
    assert len(homes) == 1
    # the first window's tagged caption becomes a 80-frame sub-clip entry of the reader
    ds = MotionDataset(out, split="all")
    assert "longwalk_w00@0-80" in ds.names


def test_corrupt_bvh_among_good_ones(bvh_fixture_dir, tmp_path):
    src = _copy_fixtures(bvh_fixture_dir, tmp_path / "src")
    text = (src / f"{WALK}.bvh").read_text()
    (src / "dataset-2_walk_normal_002.bvh").write_text(text[: len(text) // 3])  # truncated
    (src / "dataset-2_run_normal_002.bvh").write_text(text.replace("CHANNELS 6", "CHANNELS 9", 1))
    (src / "dataset-2_walk_normal_003.bvh").write_bytes(b"\x00\xff garbage")
    (src / "dataset-2_walk_normal_004.bvh").write_text(text)  # good motion, broken label file
    (src / "dataset-2_walk_normal_004.json").write_text('{"content": 0,')
    res = import_bvh_folder(src, tmp_path / "ds", ImportConfig(workers=2))
    failed = sorted(n for n, _ in res.failed)
    assert failed == ["dataset-2_run_normal_002", "dataset-2_walk_normal_002", "dataset-2_walk_normal_003"]
    assert all(why and "\n" not in why for _, why in res.failed)
    # a label file that does not resolve is a warning; the labels come from the file name
    assert [n for n, _ in res.warnings] == ["dataset-2_walk_normal_004"]
    assert "dataset-2_walk_normal_004.json is broken" in res.warnings[0][1]
    assert res.imported == 5 and sorted(layout.read_split(tmp_path / "ds", "all")) == sorted(
        [p.stem for p in bvh_fixture_dir.glob("*.bvh") if "raise" not in p.stem]
        + ["dataset-2_walk_normal_004"]
    )
    meta = json.loads((tmp_path / "ds" / "meta.json").read_text())
    assert sorted(f["file"] for f in meta["failed"]) == failed
    assert [f["file"] for f in meta["warnings"]] == ["dataset-2_walk_normal_004"]


def test_workers_give_identical_datasets(bvh_fixture_dir, tmp_path):
    a = import_bvh_folder(bvh_fixture_dir, tmp_path / "a", ImportConfig(workers=1, seed=3))
    b = import_bvh_folder(bvh_fixture_dir, tmp_path / "b", ImportConfig(workers=2, seed=3))
    assert a.splits == b.splits
    for p in sorted((tmp_path / "a").rglob("*")):
        if p.is_file() and p.name != "meta.json":
            assert p.read_bytes() == (tmp_path / "b" / p.relative_to(tmp_path / "a")).read_bytes(), p


def test_bad_inputs(bvh_fixture_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no .bvh files"):
        import_bvh_folder(tmp_path / "empty", tmp_path / "o1")
    with pytest.raises(DatasetError, match="does not exist"):
        import_bvh_folder(tmp_path / "nowhere", tmp_path / "o1")
    src = _copy_fixtures(bvh_fixture_dir, tmp_path / "src", [WALK])
    (src / f"{WALK}.txt").write_text("a fine line\na#b#c\n")
    with pytest.raises(DatasetError, match=rf"malformed caption line .*{WALK}.txt:2"):
        import_bvh_folder(src, tmp_path / "o1", ImportConfig(captions="sidecar"))
    assert not (tmp_path / "o1").exists() and not list(tmp_path.glob(".o1*"))
    (src / f"{WALK}.txt").unlink()
    (src / f"{WALK}.json").write_text('{"content": 3, "style": 5}')  # says run, the name says walk
    res = import_bvh_folder(src, tmp_path / "o1", ImportConfig(captions="labels", workers=1))
    assert res.warnings == [(WALK, f"{WALK}.json says content 'run', the file name 'walk'; using 'run'")]
    caps = layout.read_captions(layout.text_path(tmp_path / "o1", WALK))
    assert all("run" in c.caption or "jog" in c.caption for c in caps)  # the dataset's own label file wins
    (src / f"{WALK}.json").write_text('{"content": 0, "style": 5}')
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep me")
    with pytest.raises(DatasetError, match="not empty"):
        import_bvh_folder(src, tmp_path / "full")
    assert (tmp_path / "full" / "x").read_text() == "keep me"
    # --overwrite replaces only an earlier import's output, never a foreign folder
    with pytest.raises(DatasetError, match="not an earlier `moscale data import-bvh` output"):
        import_bvh_folder(src, tmp_path / "full", ImportConfig(workers=1, overwrite=True))
    assert (tmp_path / "full" / "x").read_text() == "keep me"
    (tmp_path / "o1" / "extra.txt").write_text("from before")
    import_bvh_folder(src, tmp_path / "o1", ImportConfig(workers=1, overwrite=True))
    assert not (tmp_path / "o1" / "extra.txt").exists()
    assert layout.read_split(tmp_path / "o1", "all") == [WALK]


def test_mapping_option(bvh_fixture_dir, tmp_path):
    from moscale_cli.errors import MoScaleError
    from moscale_cli.io.bvh import BUILTIN_MAPPINGS

    src = _copy_fixtures(bvh_fixture_dir, tmp_path / "src", [WALK])
    ref = import_bvh_folder(src, tmp_path / "ref", ImportConfig(workers=1))
    mp = dict(BUILTIN_MAPPINGS["bandai-namco"])
    (tmp_path / "map.json").write_text(json.dumps(mp))
    import_bvh_folder(src, tmp_path / "same", ImportConfig(workers=1, mapping=str(tmp_path / "map.json")))
    a = np.load(layout.feature_path(tmp_path / "ref", WALK))
    np.testing.assert_array_equal(np.load(layout.feature_path(tmp_path / "same", WALK)), a)
    assert ref.clips == 1
    # a mapping with the legs swapped gives other features (the mapping is really used)
    swapped = dict(mp)
    for l_name, r_name in (
        ("left_hip", "right_hip"),
        ("left_knee", "right_knee"),
        ("left_ankle", "right_ankle"),
    ):
        swapped[l_name], swapped[r_name] = mp[r_name], mp[l_name]
    import_bvh_folder(src, tmp_path / "swap", ImportConfig(workers=1, mapping=json.dumps(swapped)))
    assert not np.allclose(np.load(layout.feature_path(tmp_path / "swap", WALK)), a, atol=1e-3)
    # structural mistakes are caught before any work; a joint the file lacks fails that file
    bad = dict(mp)
    del bad["head"]
    with pytest.raises(MoScaleError, match="lacks SMPL-22 joints: head"):
        import_bvh_folder(src, tmp_path / "o", ImportConfig(mapping=json.dumps(bad)))
    with pytest.raises(MoScaleError, match="invalid JSON"):
        import_bvh_folder(src, tmp_path / "o", ImportConfig(mapping="{not json"))
    absent = dict(mp, head="NoSuchJoint")
    with pytest.raises(DatasetError, match="no clip could be imported .*NoSuchJoint"):
        import_bvh_folder(src, tmp_path / "o", ImportConfig(workers=1, mapping=json.dumps(absent)))
    assert not (tmp_path / "o").exists()


DS1_CONTENTS = ["bow", "bye", "dash", "walk", "kick", "punch", "respond", "walk-back"]
DS1_STYLES = ["active", "angry", "childish", "happy", "normal", "old", "proud", "sad", "not-confident", "tired", "giant", "musical"]  # fmt: skip


def _fake_dataset1(bvh_fixture_dir: Path, root: Path, index_form: bool = False) -> list[str]:
    """A small Bandai-Namco-Research-Motiondataset-1 look-alike: data/dataset-1_{content}_{style}_{id}.bvh
    (the run fixture's motion), a .json of indices into cfg/content_label.txt and cfg/style_label.txt."""
    (root / "data").mkdir(parents=True)
    (root / "cfg").mkdir()
    lines = [f"{i} {c}" if index_form else c for i, c in enumerate(DS1_CONTENTS)]
    (root / "cfg" / "content_label.txt").write_text("\n".join(lines) + "\n")
    (root / "cfg" / "style_label.txt").write_text("\n".join(DS1_STYLES) + "\n")
    text = (bvh_fixture_dir / "dataset-2_run_normal_001.bvh").read_text()
    stems = []
    for ci, si in ((2, 2), (1, 2), (6, 11), (7, 8), (0, 9), (5, 1)):  # (6, 11): beyond dataset-2's tables
        stem = f"dataset-1_{DS1_CONTENTS[ci]}_{DS1_STYLES[si]}_{ci * 7 + si:03d}"
        (root / "data" / f"{stem}.bvh").write_text(text)
        (root / "data" / f"{stem}.json").write_text(json.dumps({"content": ci, "style": si}))
        stems.append(stem)
    (root / "LICENSE").write_text("CC BY-NC 4.0\n")
    return stems


@pytest.mark.parametrize("index_form", [False, True])
def test_dataset1_lookalike_imports_every_file(bvh_fixture_dir, tmp_path, index_form):
    root = tmp_path / "Bandai-Namco-Research-Motiondataset-1"
    stems = _fake_dataset1(bvh_fixture_dir, root, index_form)
    for src in (root, root / "data"):  # the dataset folder, or its data/ folder (cfg/ lies beside it)
        out = tmp_path / f"ds_{src.name}"
        res = import_bvh_folder(src, out, ImportConfig(workers=1))
        assert res.imported == len(stems) and not res.failed and not res.skipped and not res.warnings
        assert sorted(layout.read_split(out, "all")) == sorted(stems)
        for stem in stems:
            _, content, style, _ = stem.split("_")
            caps = layout.read_captions(layout.text_path(out, stem))
            assert len(caps) == 4 and all(c.tokens for c in caps)
            words = [w for w in (content + "-" + style).split("-") if w not in ("walk", "not")]
            for c in caps:
                assert all(w in c.caption for w in words) or content == "walk", (stem, c.caption)
        meta = json.loads((out / "meta.json").read_text())
        assert "Motiondataset-1" in meta["license"] and (out / "LICENSE-source").is_file()


def test_dataset1_bad_labels(bvh_fixture_dir, tmp_path):
    root = tmp_path / "ds1"
    stems = _fake_dataset1(bvh_fixture_dir, root)
    (root / "data" / f"{stems[0]}.json").write_text('{"content": 40, "style": 2}')  # index out of range
    res = import_bvh_folder(root, tmp_path / "o", ImportConfig(workers=1))
    assert res.imported == len(stems) and [n for n, _ in res.warnings] == [stems[0]]
    assert "content index 40 is not in cfg/content_label.txt (8 labels)" in res.warnings[0][1]
    # garbage in a label table: one clear line, no output
    (root / "cfg" / "style_label.txt").write_text("active\nangry\n\x00\x00\x00\n")
    with pytest.raises(DatasetError, match=r"style_label.txt:3: .* is not a label") as e:
        import_bvh_folder(root, tmp_path / "o2", ImportConfig(workers=1))
    assert "\n" not in str(e.value) and not (tmp_path / "o2").exists() and not list(tmp_path.glob(".o2*"))


def test_min_len_keeps_short_clips_and_the_reader_follows(bvh_fixture_dir, tmp_path):
    src = _copy_fixtures(
        bvh_fixture_dir, tmp_path / "src", ["dataset-2_raise-up-both-hands_normal_001", WALK]
    )
    res = import_bvh_folder(src, tmp_path / "d40", ImportConfig(workers=1))
    assert res.too_short == [("dataset-2_raise-up-both-hands_normal_001", 33)]
    res = import_bvh_folder(src, tmp_path / "d20", ImportConfig(workers=1, min_len=20))
    assert res.imported == 2 and not res.skipped and not res.too_short
    meta = json.loads((tmp_path / "d20" / "meta.json").read_text())
    assert meta["min_len"] == 20 and meta["max_len"] == 196
    ds = MotionDataset(tmp_path / "d20", split="all")  # the dataset's own minimum, no option needed
    assert "dataset-2_raise-up-both-hands_normal_001" in ds.names
    assert (
        "dataset-2_raise-up-both-hands_normal_001" not in MotionDataset(tmp_path / "d40", split="all").names
    )
    from moscale_cli.errors import UsageError

    with pytest.raises(UsageError, match="4 <= min_len"):
        import_bvh_folder(src, tmp_path / "d2", ImportConfig(min_len=2))


def test_other_rigs_cm_120fps_fingers(tmp_path, rigs):
    from moscale_cli.io.bvh import write_rig

    src = tmp_path / "mocap"
    (src / "a").mkdir(parents=True)
    rig, _ = rigs.mixamo_rig(prefix="mixamorig:", units=100.0, order="XYZ")
    write_rig(src / "a" / "jump_forward_02.bvh", rig, rigs.random_values(rig, 480, seed=1), 1 / 120)
    cmu, _ = rigs.mixamo_rig(prefix="", units=1.0, order="ZYX", six_channels=True, fingers=False)
    write_rig(src / "Walking.bvh", cmu, rigs.random_values(cmu, 90, seed=2, walk=0.02), 1 / 30)
    # broken rigs among them: no legs to map, and a zero-length thigh
    legless, _ = rigs.mixamo_rig(prefix="", rename={"LeftUpLeg": "LeftWing", "RightUpLeg": "RightWing"})
    write_rig(src / "flap_01.bvh", legless, rigs.random_values(legless, 60, seed=3), 1 / 30)
    flat, smpl = rigs.mixamo_rig(prefix="")
    flat.offsets[smpl.index(4)] = 0.0  # the knee sits on the hip
    write_rig(src / "squat_01.bvh", flat, rigs.random_values(flat, 60, seed=4), 1 / 30)
    out = tmp_path / "ds"
    res = import_bvh_folder(src, out, ImportConfig(workers=1))
    assert sorted(layout.read_split(out, "all")) == ["Walking", "jump_forward_02"]
    failed = dict(res.failed)
    assert sorted(failed) == ["flap_01", "squat_01"]
    assert "cannot map the skeleton to SMPL-22: no left hip, right hip joint found" in failed["flap_01"]
    assert "zero-length bones" in failed["squat_01"] and "left_hip-left_knee" in failed["squat_01"]
    f = np.load(layout.feature_path(out, "jump_forward_02"))
    assert f.shape == (int(479 / 120 * 20), 263)  # 4 s at 120 fps -> 80 frames at 20 fps (79 features)
    j = np.load(layout.joints_path(out, "jump_forward_02"))
    assert 1.0 < float(np.ptp(j[0, :, 1])) < 2.0  # centimetres detected: a body height in metres
    caps = [c.caption for c in layout.read_captions(layout.text_path(out, "jump_forward_02"))]
    assert all("jump" in c and "forward" in c for c in caps), caps
    assert all(
        "walking" in c for c in (c.caption for c in layout.read_captions(layout.text_path(out, "Walking")))
    )


def test_cli_reports_short_clips_in_one_line_and_label_warnings(bvh_fixture_dir, tmp_path):
    from typer.testing import CliRunner

    from moscale_cli.cli.app import app

    raise_up = "dataset-2_raise-up-both-hands_normal_001"
    src = _copy_fixtures(bvh_fixture_dir, tmp_path / "src", [raise_up, WALK])
    for i in (2, 3):
        shutil.copy(src / f"{raise_up}.bvh", src / f"dataset-2_raise-up-both-hands_normal_00{i}.bvh")
    (src / f"{WALK}.json").write_text('{"content": 99, "style": 5}')
    r = CliRunner().invoke(app, ["data", "import-bvh", str(src), str(tmp_path / "o"), "-j", "1"])
    assert r.exit_code == 0, r.output
    short = [ln for ln in r.output.splitlines() if "shorter than --min-len 40" in ln]
    assert len(short) == 1 and "3 files" in short[0] and "--min-len 33 keeps them" in short[0]
    assert "content index 99 is not in the built-in content labels" in r.output
    assert "1/4 files" in r.output
    r = CliRunner().invoke(
        app, ["data", "import-bvh", str(src), str(tmp_path / "o2"), "-j", "1", "--min-len", "33"]
    )
    assert r.exit_code == 0 and "4/4 files" in r.output, r.output
