"""A motion on your character's rig from Python, and how well the rig follows it, joint by joint.

    python examples/onto_rig.py motion.npy my_character.bvh                 # joints (T, 22, 3) or features
    python examples/onto_rig.py clip.bvh my_character.bvh --out out/rig     # any motion file moscale reads
    python examples/onto_rig.py motion.npy rig.bvh --mapping mapping.json   # names that are not detected

Writes OUT/<motion>_on_<rig>.bvh and .glb (the rig's hierarchy, rest pose, units and frame rate) and prints the
mapping found, the joint error after mapping the result back (against the motion scaled to the rig: the rig's
bone lengths, feet and hands placed) and the joints that differ most: joints the rig cannot move on their own
(a spine with fewer than three joints, a missing collar) show up there.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from moscale_cli.errors import MoScaleError
from moscale_cli.io.files import load_motion
from moscale_cli.motion.skeleton import SMPL22
from moscale_cli.pipeline.target_rig import load_target_rig, motion_on_rig, write_on_rig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("motion", help="motion file (.npy joints or features, .bvh)")
    ap.add_argument("rig", help="the rig, a .bvh file")
    ap.add_argument("--mapping", default=None, help="JSON mapping of the rig's joints (file or inline)")
    ap.add_argument("--out", default="out/rig", help="output folder")
    args = ap.parse_args()
    try:
        motion = load_motion(args.motion)
        rig = load_target_rig(args.rig, args.mapping)
        m = motion_on_rig(motion.joints, motion.fps, rig)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        stem = f"{Path(args.motion).stem}_on_{Path(args.rig).stem}"
        for ext in (".bvh", ".glb"):
            write_on_rig(out / f"{stem}{ext}", m, Path(args.motion).stem)
            print(out / f"{stem}{ext}")
    except MoScaleError as e:
        raise SystemExit(f"error: {e}") from None
    print(f"rig {rig.name}: {rig.clip.rig.num_joints} joints, {rig.kind} mapping, 1 unit = {rig.scale:g} m, "
          f"{m.frames} frames at {rig.fps:g} fps, leg ratio {m.leg_ratio * rig.scale:.3f}")
    for smpl, joint in rig.mapping.items():
        print(f"  {smpl:15s} <- {joint}")
    err = np.linalg.norm(m.back - m.target, axis=-1) * rig.scale * 1000.0
    print(f"joint error after mapping back: MPJPE {err.mean():.2f} mm, max {err.max():.2f} mm")
    for k in np.argsort(-err.max(0))[:5]:
        print(f"  {SMPL22.joint_names[k]:15s} mean {err[:, k].mean():6.2f} mm  max {err[:, k].max():6.2f} mm")


if __name__ == "__main__":
    main()
