"""Motion I/O speed: BVH read (Bandai fixtures, 6 channels per joint) and write (SMPL-22 IK), and the
MP4 render time of 10 s of motion (200 frames at 20 fps).

Usage: python benchmarks/bench_io.py [--shared ../shared] [--repeat 3]
Prints frames/s for BVH read and write and seconds for the render; single process, CPU only.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = Path(__file__).resolve().parents[1]
    ap.add_argument(
        "--shared", type=Path, default=Path(os.environ.get("MOSCALE_SHARED", root.parent / "shared"))
    )
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from moscale_cli.io.bvh import bvh_to_smpl22, read_bvh, write_bvh
    from moscale_cli.io.video import render_video

    files = sorted((args.shared / "fixtures" / "bvh").glob("*.bvh"))
    if not files:
        raise SystemExit(f"no BVH fixtures under {args.shared}/fixtures/bvh")
    frames = sum(read_bvh(f).num_frames for f in files)
    t = _best(lambda: [read_bvh(f) for f in files], args.repeat)
    print(f"BVH read  (parse + FK, {len(files)} files, {frames} frames @30 fps): {frames / t:10.0f} frames/s")
    t = _best(lambda: [bvh_to_smpl22(f) for f in files], args.repeat)
    print(f"BVH -> SMPL-22 joints (map, metres, 20 fps):               {frames / t:10.0f} source frames/s")

    clips = [bvh_to_smpl22(f) for f in files]
    walk = max(clips, key=len)
    ten_s = np.concatenate([walk] * (200 // len(walk) + 1))[:200]  # 10 s at 20 fps
    n_out = sum(len(c) for c in clips)
    with tempfile.TemporaryDirectory() as d:
        t = _best(lambda: [write_bvh(Path(d) / f"{i}.bvh", c) for i, c in enumerate(clips)], args.repeat)
        print(f"BVH write (SMPL-22 IK, own bone lengths, {n_out} frames):       {n_out / t:10.0f} frames/s")
        t = _best(lambda: render_video(Path(d) / "ten.mp4", ten_s, title="10 s of walking"), 1)
        print(f"MP4 render, 10 s of motion (200 frames, 480x480, H.264):  {t:10.2f} s")
        t = _best(lambda: render_video(Path(d) / "ten.gif", ten_s, title="10 s of walking"), 1)
        print(f"GIF render, 10 s of motion (200 frames, 480x480):         {t:10.2f} s")


if __name__ == "__main__":
    main()
