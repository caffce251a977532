"""Zero-shot editing from Python: edit a region, extend, in-between, and compose a long motion.

    python examples/editing.py                                   # the installed default model
    python examples/editing.py --model runs/gen/model --source clip.npy --out out/editing
    python examples/editing.py --bvh ../shared/fixtures/bvh/dataset-2_walk_normal_001.bvh

Without --source, a 6 s motion is generated first and used as the source. Every result keeps the source's
frames outside the regenerated regions exactly; the seam numbers compare the jump where kept and generated
motion meet with the source's 95th-percentile per-frame joint displacement. A joints or BVH source is edited
in its own space (placement, facing, bone lengths); with --bvh, a BVH clip is edited and written back on its
own rig (its hierarchy, extra joints, frame rate and units; the frames outside the region verbatim).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from moscale_cli.errors import MoScaleError
from moscale_cli.io.files import save_motion
from moscale_cli.pipeline import MoScalePipeline
from moscale_cli.pipeline.source_rig import source_rig_frames, write_source_bvh


def report(name: str, m, out: Path) -> None:
    save_motion(out / f"{name}.bvh", m.joints, caption=m.caption)
    save_motion(out / f"{name}.npy", m.joints, features=m.features, write_features=True)
    s = m.seams
    print(f"{name:10s} {m.frames:5d} frames  regenerated {m.regions}  seam jump {s.jump * 100:.1f} cm "
          f"vs p95 step {s.p95 * 100:.1f} cm (x{s.ratio:.2f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model directory or hub id (default: the installed default model)")
    ap.add_argument("--source", default=None, help="source motion (.bvh or .npy); default: a generated one")
    ap.add_argument("--bvh", default=None, help="a BVH clip to edit (2 s to 4 s) and write back on its own rig")
    ap.add_argument("--out", default="out/editing", help="output folder")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()

    pipe = MoScalePipeline.from_pretrained(args.model, device=args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    source = args.source or pipe.generate("a person walks forward", frames=120, seed=0)[0].features

    # 1. regenerate frames 40..80 (2 s to 4 s) under a new text; frames 0..40 and 80..120 stay as they were
    report("edit", pipe.edit(source, "a person jumps in place", regions=[(40, 80)], seed=1), out)
    # 2. two regions and an unconditional edit
    report("edit2", pipe.edit(source, None, regions=[(0, 20), (100, 120)], unconditional=True, seed=2), out)
    # 3. extension (outpainting): 40 new frames before the source
    report("extend", pipe.edit(source, "a person stands up", frames=160, extend="start", seed=3), out)
    # 4. in-betweening: keep 1 s at each end, regenerate the middle
    report("inbetween", pipe.inbetween("a person turns around", source=source, keep_start=20, keep_end=20, seed=4), out)
    # 5. a 20 s motion from three prompts, each window continuing the last second of the previous one
    segments = [("a person walks forward", 160), ("a person turns around", 80), ("a person runs back", 160)]
    report("compose", pipe.compose(segments, overlap=20, seed=5), out)
    # 6. a BVH clip edited in its own space and written back on its own rig
    if args.bvh:
        m = pipe.edit(args.bvh, "a person jumps", regions=[(40, 80)], seed=6)  # frames at 20 fps = 2 s to 4 s
        report("bvh_edit", m, out)  # .bvh: the 22-joint skeleton in the clip's space; .npy: model-space features
        rows = source_rig_frames(m)
        write_source_bvh(m, out / "bvh_edit_on_rig.bvh", rows)
        print(f"{'':10s} on the clip's rig: {len(rows.keep)} frames, {int(rows.keep.sum())} of them the clip's lines verbatim")


if __name__ == "__main__":
    try:
        main()
    except MoScaleError as e:
        raise SystemExit(f"error: {e}") from None
