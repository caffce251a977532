"""Plausibility of a BVH's Frame Time (issue 22, item 7): milliseconds are refused with a hint, a rate outside
1-1,000 fps or a clip over an hour long is a warning."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from moscale_cli.errors import MotionFileError
from moscale_cli.io.bvh import BvhTimingWarning, check_frame_time, read_bvh

RUN = "dataset-2_run_normal_001.bvh"


def _with_frame_time(src: Path, dst: Path, value: str) -> Path:
    text = src.read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("Frame Time"))
    dst.write_text(text.replace(line, f"Frame Time: {value}"))
    return dst


def test_milliseconds_are_refused_with_a_hint(bvh_fixture_dir, tmp_path):
    bad = _with_frame_time(bvh_fixture_dir / RUN, tmp_path / "ms.bvh", "33.3333")
    with pytest.raises(MotionFileError, match=r"looks like milliseconds; the file should say 'Frame Time: 0\.0333333' "
                                              r"\(30 fps\)"):
        read_bvh(bad)


def test_cli_convert_refuses_milliseconds_and_writes_nothing(bvh_fixture_dir, tmp_path, run_cli):
    bad = _with_frame_time(bvh_fixture_dir / RUN, tmp_path / "ms.bvh", "33.3333")
    code, _, err = run_cli("convert", bad, "-o", tmp_path / "o.npy")
    assert code == 1 and "looks like milliseconds" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.npy").exists()


@pytest.mark.parametrize("value, what", [("0.0001", "outside 1-1,000 fps"), ("1", None), ("0.5", None),
                                          ("250", "outside 1-1,000 fps")])
def test_implausible_rates_warn(bvh_fixture_dir, tmp_path, value, what):
    clip = _with_frame_time(bvh_fixture_dir / RUN, tmp_path / "r.bvh", value)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_bvh(clip)
    msgs = [str(w.message) for w in caught if issubclass(w.category, BvhTimingWarning)]
    assert (msgs == []) if what is None else (len(msgs) == 1 and what in msgs[0] and "r.bvh" in msgs[0])


def test_over_an_hour_warns_and_the_cli_prints_one_line(tmp_path, capsys):
    assert check_frame_time(1 / 30, 108_000, "x.bvh") is None  # exactly one hour at 30 fps
    note = check_frame_time(1 / 30, 181_334, "x.bvh")
    assert note is not None and "lasts 1.7 h" in note
    from moscale_cli.cli.app import main
    from moscale_cli.io.bvh import write_bvh
    from moscale_cli.motion.skeleton import SMPL22

    rest = np.asarray(SMPL22.rest_pose(), dtype=np.float64)
    rest[:, 1] -= rest[:, 1].min()
    joints = (rest[None] + np.random.default_rng(0).normal(0, 0.001, (40, 22, 3))).astype(np.float32)
    clip = tmp_path / "fast.bvh"
    write_bvh(clip, joints, fps=100_000)
    capsys.readouterr()
    main(["convert", str(clip), "-o", str(tmp_path / "x.npy")])  # a success returns (no SystemExit)
    err = capsys.readouterr().err
    assert err.count("warning: ") == 1 and "100000 fps" in err and "check its Frame Time" in err
    assert np.load(tmp_path / "x.npy").shape[1:] == (22, 3)
