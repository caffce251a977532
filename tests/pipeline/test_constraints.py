"""Constraints files and shorthands: what they resolve to, and one clear line for every kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from moscale_cli.errors import UsageError
from moscale_cli.motion.skeleton import SMPL22_NAMES
from moscale_cli.pipeline.constraints import Constraints, constrained_frames, joint_index, pins_of

GOOD = {"constraints": [
    {"joint": "pelvis", "frames": [0, 50, 100], "positions": [[0, None, 0], [0.5, None, 1.5], [2.0, None, 2.0]]},
    {"joint": "right_wrist", "frames": [30], "positions": [[-0.3, 1.6, 0.35]]},
    {"pose": 80, "joints": [[0.01 * j, 1.0 + 0.01 * j, 0.5] for j in range(22)]},
]}


def write(tmp_path: Path, obj: object, name: str = "c.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(obj) if not isinstance(obj, str) else obj, encoding="utf-8")
    return p


def test_the_issue_format_resolves_to_nan_free_coordinates(tmp_path):
    c = Constraints.load(write(tmp_path, GOOD))
    a = c.resolve(120, origin=True)
    assert a.shape == (120, 22, 3)
    assert a[50, 0, 0] == 0.5 and np.isnan(a[50, 0, 1]) and a[50, 0, 2] == 1.5
    np.testing.assert_array_equal(a[30, 21], [-0.3, 1.6, 0.35])
    np.testing.assert_allclose(a[80, 5], [0.05, 1.05, 0.5])
    assert np.flatnonzero(constrained_frames(a)).tolist() == [0, 30, 50, 80, 100]
    assert np.isfinite(a).sum() == 2 * 3 + 3 + 22 * 3
    assert c.last_frame == 100
    assert c.joints[0] == "pelvis" and "right_wrist" in c.joints
    pins = pins_of(a)
    assert sorted(pins) == list(range(22))
    assert pins[0][0].tolist() == [0, 50, 80, 100] and np.isnan(pins[0][1][1, 1])


def test_a_bare_list_and_forgiving_joint_names():
    c = Constraints.from_json([{"joint": "Right Wrist", "frames": [3], "positions": [[0, 1, 0]]}])
    assert c.targets[0].joint == SMPL22_NAMES.index("right_wrist")
    assert joint_index("LEFT-FOOT", "x") == SMPL22_NAMES.index("left_foot")


def test_path_spreads_points_over_the_clip_and_waypoints_add_up():
    c = Constraints.from_path("0,0 0,2 1.5,3") + Constraints.from_waypoint("60:0.5,2") + Constraints.from_waypoint("10:0,0.9,0.2")
    a = c.resolve(101, origin=True)
    assert np.flatnonzero(np.isfinite(a[:, 0]).any(-1)).tolist() == [0, 10, 50, 60, 100]
    np.testing.assert_array_equal(a[100, 0], [1.5, np.nan, 3.0])
    np.testing.assert_array_equal(a[50, 0], [0.0, np.nan, 2.0])
    np.testing.assert_array_equal(a[60, 0], [0.5, np.nan, 2.0])
    np.testing.assert_array_equal(a[10, 0], [0.0, 0.9, 0.2])
    assert not np.isfinite(a[:, 1:]).any()
    assert Constraints.from_path("0,0;1,1").resolve(4)[3, 0, 0] == 1.0  # ';' separates points too


def test_from_cli_combines_the_three_options(tmp_path):
    p = write(tmp_path, GOOD)
    c = Constraints.from_cli(p, "0,0 1,1", ["120:1,1"])
    a = c.resolve(130, origin=True)
    assert a[129, 0, 0] == 1.0 and a[120, 0, 2] == 1.0 and a[30, 21, 1] == 1.6
    assert not Constraints.from_cli(None, None, [])


BAD_FILES = [
    ("[", "not valid JSON (line 1"),
    ({"constraints": []}, "the constraints list is empty"),
    ({"constraint": []}, "unknown key 'constraint'"),
    ({"constraints": {"joint": "pelvis"}}, "must be a list of entries"),
    ({"constraints": [5]}, "entry 1: an entry must be an object"),
    ({"constraints": [{"frames": [1], "positions": [[0, 0, 0]]}]}, "entry 1: an entry needs either"),
    ({"constraints": [{"joint": "right_hand", "frames": [1], "positions": [[0, 0, 0]]}]},
     "entry 1: unknown joint 'right_hand' (did you mean right_wrist?)"),
    ({"constraints": [{"joint": "tail", "frames": [1], "positions": [[0, 0, 0]]}]}, "the joints are pelvis, left_hip"),
    ({"constraints": [{"joint": "pelvis", "frame": [1], "positions": [[0, 0, 0]]}]},
     "entry 1 (pelvis): unknown key 'frame' (expected joint, frames, positions)"),
    ({"constraints": [{"joint": "pelvis", "positions": [[0, 0, 0]]}]}, "entry 1 (pelvis): missing \"frames\""),
    ({"constraints": [{"joint": "pelvis", "frames": [1, 2], "positions": [[0, 0, 0]]}]},
     "entry 1 (pelvis): 2 frame(s) but 1 position row(s)"),
    ({"constraints": [{"joint": "pelvis", "frames": [1], "positions": [[0, 0]]}]},
     "the position at frame 1 is 2 values; expected [x, y, z]"),
    ({"constraints": [{"joint": "pelvis", "frames": [1], "positions": [[0, "a", 0]]}]}, "y = 'a' is not a number"),
    ({"constraints": [{"joint": "pelvis", "frames": [1], "positions": [[None, None, None]]}]},
     "leaves x, y and z free"),
    ('{"constraints": [{"joint": "pelvis", "frames": [1], "positions": [[NaN, 0, 0]]}]}', "x = nan is not a finite number"),
    ('{"constraints": [{"joint": "pelvis", "frames": [1], "positions": [[0, Infinity, 0]]}]}', "y = inf is not a finite"),
    ({"constraints": [{"joint": "pelvis", "frames": [-1], "positions": [[0, 0, 0]]}]}, "frame -1 is negative"),
    ({"constraints": [{"joint": "pelvis", "frames": [1.5], "positions": [[0, 0, 0]]}]}, "frame 1.5 is not a whole number"),
    ({"constraints": [{"joint": "pelvis", "frames": [True], "positions": [[0, 0, 0]]}]}, "frame True is not a whole"),
    ({"constraints": [{"joint": "pelvis", "frames": [4, 4], "positions": [[0, 0, 0], [0, 0, 0]]}]},
     "frame 4 is listed twice"),
    ({"constraints": [{"joint": "pelvis", "frames": [], "positions": []}]}, "\"frames\" must be a non-empty list"),
    ({"constraints": [{"pose": 3, "joints": [[0, 0, 0]] * 21}]},
     "entry 1 (pose at frame 3): \"joints\" has 21 rows, expected 22"),
    ({"constraints": [{"pose": 3, "joints": [[0, 0, 0]] * 21 + [[0, 0]]}]}, "row 22 (right_wrist) is 2 values"),
    ({"constraints": [{"pose": 3, "joints": [[None, None, None]] * 22}]}, "every joint is left free"),
    ({"constraints": [{"joint": "pelvis", "pose": 3, "frames": [1], "positions": [[0, 0, 0]]}]}, "needs either"),
]


@pytest.mark.parametrize(("content", "message"), BAD_FILES)
def test_bad_files_are_one_line_naming_the_entry(tmp_path, content, message):
    p = write(tmp_path, content)
    with pytest.raises(UsageError) as e:
        Constraints.load(p)
    text = str(e.value)
    assert message in text
    assert "\n" not in text
    assert text.startswith(p.name if "JSON" not in message else str(p))


BAD_RESOLVE = [
    ({"constraints": [{"joint": "left_foot", "frames": [150], "positions": [[0, 0, 0]]}]},
     "c.json: entry 1 (left_foot): frame 150 is outside the motion (frames 0..119)"),
    ({"constraints": [{"joint": "pelvis", "frames": [0], "positions": [[0.5, None, 0]]}]},
     "the pelvis at frame 0 is asked to be at x = 0.5"),
    ({"constraints": [{"joint": "pelvis", "frames": [9], "positions": [[0.5, None, 0]]},
                      {"pose": 9, "joints": [[0, 0, 0]] * 22}]},
     "entry 2 (pose at frame 9): pelvis at frame 9 is already constrained by c.json: entry 1 (pelvis) (x = 0.5, not 0)"),
]


@pytest.mark.parametrize(("content", "message"), BAD_RESOLVE)
def test_bad_frames_are_named_once_the_length_is_known(tmp_path, content, message):
    c = Constraints.load(write(tmp_path, content))
    with pytest.raises(UsageError) as e:
        c.resolve(120, origin=True)
    assert message in str(e.value)


def test_the_same_value_twice_is_fine_and_the_origin_check_is_optional():
    c = Constraints.from_json([{"joint": "pelvis", "frames": [0, 9], "positions": [[0.5, None, 0], [1, 1, 1]]},
                               {"joint": "pelvis", "frames": [9], "positions": [[1, None, None]]}])
    a = c.resolve(10)  # an edit of a source in its own space has no origin to keep
    assert a[0, 0, 0] == 0.5 and a[9, 0, 0] == 1.0


def test_kept_frames_are_refused():
    kept = np.zeros(50, dtype=bool)
    kept[:20] = True
    with pytest.raises(UsageError, match=r"--waypoint '10:1,1': frame 10 is kept from the source \(gen\); constraints must"):
        Constraints.from_waypoint("10:1,1").resolve(50, kept=kept, kept_why=" (gen)")
    assert np.isfinite(Constraints.from_waypoint("30:1,1").resolve(50, kept=kept)[30, 0]).sum() == 2


@pytest.mark.parametrize(("text", "message"), [
    ("0,0", "give at least two points"),
    ("0,0 1", "point 2 '1' is not x,z"),
    ("0,0 1,2,3", "point 2 '1,2,3' is not x,z"),
    ("0,0 a,1", "holds 'a', not a number"),
    ("0,0 inf,1", "is not finite"),
])
def test_bad_paths(text, message):
    with pytest.raises(UsageError, match="--path") as e:
        Constraints.from_path(text)
    assert message in str(e.value)


@pytest.mark.parametrize(("text", "message"), [
    ("0,2", "write FRAME:X,Z"),
    ("x:0,2", "frame 'x' is not a whole number"),
    ("-4:0,2", "frame -4 is negative"),
    ("4:1", "the position must be X,Z or X,Y,Z"),
    ("4:1,2,3,4", "the position must be X,Z or X,Y,Z"),
    ("4:1,b", "holds 'b', not a number"),
])
def test_bad_waypoints(text, message):
    with pytest.raises(UsageError, match="--waypoint") as e:
        Constraints.from_waypoint(text)
    assert message in str(e.value)


def test_path_longer_than_the_motion_and_missing_file(tmp_path):
    with pytest.raises(UsageError, match="5 points do not fit the motion of 4 frames"):
        Constraints.from_path("0,0 1,1 2,2 3,3 4,4").resolve(4)
    with pytest.raises(UsageError, match="not found"):
        Constraints.load(tmp_path / "nope.json")
