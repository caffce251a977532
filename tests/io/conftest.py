"""Helpers for the io tests: fixture BVH paths and SMPL-22 joints that lie on the target skeleton."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def bvh_files(bvh_fixture_dir: Path) -> list[Path]:
    files = sorted(bvh_fixture_dir.glob("*.bvh"))
    assert files, f"no .bvh files in {bvh_fixture_dir}"
    return files


@pytest.fixture(scope="session")
def short_bvh(bvh_files: list[Path]) -> Path:
    """The fixture clip with the fewest frames (keeps CLI/MP4 tests fast)."""
    return min(bvh_files, key=lambda p: p.stat().st_size)


def _on_skeleton(joints: np.ndarray) -> np.ndarray:
    from moscale_cli.motion.features import joints_to_features, recover_from_ric

    return np.asarray(recover_from_ric(joints_to_features(joints)), dtype=np.float32)


@pytest.fixture(scope="session")
def on_skeleton():
    """Joints -> joints on the SMPL-22 target skeleton (HumanML3D features and back), as a function."""
    return _on_skeleton


_CHANNEL_NAMES = {"Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation"}


def check_bvh_grammar(text: str) -> dict:
    """Check a BVH text against the line-based grammar BVH importers such as Blender's read, written
    from the format description: one keyword per line (HIERARCHY; ROOT/JOINT <name>; '{'; OFFSET x y z;
    CHANNELS n <n channel names>; End Site; '}'), then MOTION, 'Frames: N', 'Frame Time: t' (t > 0)
    and exactly N lines of exactly C numbers (C = sum of the channel counts). Returns a summary;
    raises AssertionError naming the line at the first violation."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [ln.rstrip("\r") for ln in lines]
    i = 0

    def fail(msg: str):
        raise AssertionError(f"line {i + 1}: {msg}: {lines[i] if i < len(lines) else '<end of file>'!r}")

    def words() -> list[str]:
        if i >= len(lines):
            fail("unexpected end of file")
        return lines[i].split()

    def numbers(ws: list[str], n: int, what: str) -> list[float]:
        if len(ws) != n:
            fail(f"{what} needs {n} numbers")
        try:
            return [float(w) for w in ws]
        except ValueError:
            fail(f"{what} holds a non-number")

    if words() != ["HIERARCHY"]:
        fail("expected HIERARCHY")
    i += 1
    names, channels, depth_max = [], 0, 0

    def block(kind: str, depth: int) -> None:
        nonlocal i, channels, depth_max
        depth_max = max(depth_max, depth)
        ws = words()
        if kind == "End":
            if ws != ["End", "Site"]:
                fail("expected End Site")
        elif len(ws) < 2 or ws[0] != kind:
            fail(f"expected {kind} <name>")
        else:
            names.append(" ".join(ws[1:]))
        i += 1
        if words() != ["{"]:
            fail("expected '{' on its own line")
        i += 1
        ws = words()
        if not ws or ws[0] != "OFFSET":
            fail("expected OFFSET")
        numbers(ws[1:], 3, "OFFSET")
        i += 1
        if kind == "End":
            if words() != ["}"]:
                fail("expected '}' closing the End Site")
            i += 1
            return
        ws = words()
        if len(ws) < 2 or ws[0] != "CHANNELS":
            fail("expected CHANNELS")
        try:
            n = int(ws[1])
        except ValueError:
            fail("channel count is not an integer")
        if len(ws) != 2 + n or not set(ws[2:]) <= _CHANNEL_NAMES:
            fail(f"CHANNELS must list exactly {n} channel names")
        channels += n
        i += 1
        while True:
            ws = words()
            if ws == ["}"]:
                i += 1
                return
            if ws and ws[0] == "JOINT":
                block("JOINT", depth + 1)
            elif ws == ["End", "Site"]:
                block("End", depth + 1)
            else:
                fail("expected JOINT, End Site or '}'")

    block("ROOT", 0)
    if words() != ["MOTION"]:
        fail("expected MOTION after the hierarchy")
    i += 1
    ws = words()
    if len(ws) != 2 or ws[0] != "Frames:" or not ws[1].isdigit():
        fail("expected 'Frames: N'")
    n_frames = int(ws[1])
    i += 1
    ws = words()
    if ws[:2] != ["Frame", "Time:"]:
        fail("expected 'Frame Time: t'")
    (ft,) = numbers(ws[2:], 1, "Frame Time")
    if not ft > 0:
        fail("frame time must be positive")
    i += 1
    for _ in range(n_frames):
        numbers(words(), channels, "frame line")
        i += 1
    while i < len(lines):
        if lines[i].strip():
            fail("text after the last frame")
        i += 1
    return {"joints": names, "channels": channels, "frames": n_frames, "frame_time": ft}


@pytest.fixture(scope="session")
def bvh_grammar():
    """The grammar checker as a fixture: ``bvh_grammar(text) -> summary``."""
    return check_bvh_grammar
