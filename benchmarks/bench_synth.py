"""Procedural corpus: generation speed (clips/s with 1 and 2 worker processes, files written) and motion
quality over many clips (foot sliding while planted, bone-length error, planted-foot height).

Usage: python benchmarks/bench_synth.py [--clips 200] [--speed-clips 100] [--seed 0]

Foot sliding is the mean horizontal speed of the foot joints (SMPL-22 joints 10/11) over
  * stance frames: frames where the generator planted that foot (ground truth), and
  * low-and-slow frames: foot joint below 5 cm and slower than HumanML3D's contact threshold
    (squared displacement < 0.002 m^2 per frame), as a detector that knows nothing of the generator.
The ankle speed over stance frames is printed too (it moves legitimately while the heel rises).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np


def _speed(joints: np.ndarray, j: int) -> np.ndarray:
    return np.linalg.norm(np.diff(joints[:, j][:, [0, 2]], axis=0), axis=-1) * 20.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=200, help="clips for the quality metrics")
    ap.add_argument("--speed-clips", type=int, default=100, help="clips written per speed measurement")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from moscale_cli.data.synth.corpus import build_corpus, generate_clip
    from moscale_cli.motion.skeleton import SMPL22

    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            build_corpus(Path(d) / "c", args.speed_clips, seed=args.seed, workers=workers)
            dt = time.perf_counter() - t0
        print(f"write {args.speed_clips} clips, {workers} worker(s): {args.speed_clips / dt:7.1f} clips/s")

    stance_sum = stance_n = ankle_sum = 0.0
    det_sum = det_n = 0.0
    bone_err = 0.0
    planted_h: list[np.ndarray] = []
    frames = 0
    actions: Counter = Counter()
    t0 = time.perf_counter()
    for i in range(args.clips):
        clip = generate_clip(args.seed, i)
        j = clip.joints.astype(np.float64)
        frames += len(j)
        actions.update(a.action for a in clip.program.actions)
        for side, (ankle, foot) in enumerate((SMPL22.foot_left, SMPL22.foot_right)):
            planted = clip.contacts[1:, side] & clip.contacts[:-1, side]
            v = _speed(j, foot)
            stance_sum += v[planted].sum()
            ankle_sum += _speed(j, ankle)[planted].sum()
            stance_n += planted.sum()
            disp2 = (np.diff(j[:, foot], axis=0) ** 2).sum(-1)
            low_slow = (j[1:, foot, 1] < 0.05) & (j[:-1, foot, 1] < 0.05) & (disp2 < SMPL22.contact_threshold)
            det_sum += v[low_slow].sum()
            det_n += low_slow.sum()
        bl = np.linalg.norm(j[:, 1:] - j[:, list(SMPL22.parents[1:])], axis=-1)
        bone_err = max(bone_err, float(np.abs(bl - SMPL22.bone_lengths[1:]).max()))
        for side, foot in enumerate((10, 11)):
            planted_h.append(j[clip.contacts[:, side], foot, 1])
    dt = time.perf_counter() - t0
    print(f"generate {args.clips} clips in one process: {args.clips / dt:7.1f} clips/s ({frames / 20 / 60:.1f} min of motion)")
    print(f"foot sliding, stance frames (generator):   {100 * stance_sum / stance_n:5.2f} cm/s over {int(stance_n)} foot-frames")
    print(f"foot sliding, low-and-slow frames (detector): {100 * det_sum / det_n:5.2f} cm/s over {int(det_n)} foot-frames")
    print(f"ankle speed, stance frames (heel rise included): {100 * ankle_sum / stance_n:5.2f} cm/s")
    ph = np.concatenate(planted_h)
    print(f"max bone-length error: {bone_err:.2e} m")
    print(f"planted foot-joint height above the floor: mean {100 * ph.mean():.2f} cm, max {100 * ph.max():.2f} cm")
    print(f"actions drawn: {len(actions)} distinct; rarest: {', '.join(f'{a} {n}' for a, n in actions.most_common()[-3:])}")


if __name__ == "__main__":
    main()
