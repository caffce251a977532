"""Physical plausibility of generated locomotion before and after the post-process, against real clips.

Prompts: walk, run, jog in a circle, walk backwards, walk and turn; each with every seed of ``--seeds``
(default 0 1 2 3: 20 motions), ``--seconds`` long, default model unless ``--model``. Each motion is generated
with ``postprocess=False`` (raw) and with the default post-process (clean), written as NPY joints and as BVH
(``moscale_cli.io.files.save_motion``, as ``moscale generate -o`` writes them), the BVH read back with the
reader of ``moscale convert`` (``bvh_to_smpl22``). Reported per set: the metrics of ``evaluation/physics.py``
(foot skate, floating, penetration, jerk, bone-length variation) on the NPY joints and on the BVH read back,
the largest NPY-BVH distance of a motion, and the post-process time. Real rows: the BVH clips of the
fixtures (all five, and the three walk/run clips) and, with ``--real DIR``, every ``*.bvh`` under DIR (all,
and the walk/run clips by file name).

``--program DATA``: also score the program detectors (``moscale eval --task program``'s scorer) on the test
split of a procedural corpus (``--program-clips`` clips), on the same generated joints with and without the
post-process.

Usage: python benchmarks/bench_physics.py [--seeds 0 1 2 3] [--real DIR] [--program DATA] [--out FILE.json]
CPU, single process; about 1 minute for the 20 motions.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np

PROMPTS = (
    "a person walks forward",
    "a person runs forward",
    "a person jogs in a circle",
    "a person walks backwards",
    "a person walks and turns to the left",
)
LOCOMOTION = re.compile(r"_(walk|run)")


def _fmt(row: dict) -> str:
    return (f"skate {row['foot_skate']:.3f}  floating {row['floating']:.3f}  penetration {row['penetration_mm']:.2f} mm  "
            f"jerk {row['jerk']:.1f}  bone CV {row['bone_cv']:.3f}% (worst {row['bone_cv_max']:.3f}%)")


def _real_rows(files: list[Path]) -> dict[str, dict]:
    from moscale_cli.evaluation.physics import physics_summary
    from moscale_cli.io.bvh import bvh_to_smpl22

    joints = {p: bvh_to_smpl22(p) for p in files}
    loco = [j for p, j in joints.items() if LOCOMOTION.search(p.name)]
    out = {"all": physics_summary(joints.values())}
    if loco:
        out["locomotion"] = physics_summary(loco)
    return out


def _program(model: str | None, data: str, clips: int, seed: int) -> dict:
    import torch

    from moscale_cli.evaluation.program.corpus import load_labels
    from moscale_cli.evaluation.program.score import score_clip, summarize
    from moscale_cli.evaluation.program.task import ProgramEvalConfig, generate_joints, plan_jobs, program_ids
    from moscale_cli.evaluation.tasks import load_model_handle
    from moscale_cli.model_dir import resolve_model
    from moscale_cli.motion.postprocess import postprocess
    from moscale_cli.sampling.config import SamplingConfig

    labels = load_labels(data)
    ids = program_ids(data, "test", labels, clips)
    handle = load_model_handle(resolve_model(model), torch.device("cpu"), need_generator=True)
    cfg = ProgramEvalConfig(captions="first", max_clips=clips, seed=seed)
    jobs = plan_jobs(labels, ids, cfg, int(handle.tokenizer.unit), int(handle.tokenizer.max_frames))
    raw = generate_joints(handle, jobs, SamplingConfig().for_model(handle.sampling), seed, 32)
    out = {}
    for name, joints in (("raw", raw), ("postprocessed", [postprocess(j).joints for j in raw])):
        scores = [score_clip(j, labels[job.clip], job.caption) for j, job in zip(joints, jobs, strict=True)]
        s = summarize(scores, seed=seed).to_dict()
        out[name] = {"attribute_mean": s["overall_attribute_mean"]["acc"],
                     "all_correct": s["overall_clips_all_correct"]["acc"],
                     "per_attribute": {k: v["acc"] for k, v in s["per_attribute"].items()}}
    out["generations"] = len(jobs)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = Path(__file__).resolve().parents[1]
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("MOSCALE_SHARED", root.parent / "shared")))
    ap.add_argument("--model", default=None, help="model directory (default: the installed default model)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--real", type=Path, default=None, help="a folder of real BVH clips (e.g. an unpacked sample)")
    ap.add_argument("--program", default=None, help="a procedural corpus (moscale data synth) for the program check")
    ap.add_argument("--program-clips", type=int, default=200)
    ap.add_argument("--out", type=Path, default=None, help="also write the numbers to this JSON file")
    args = ap.parse_args()

    import torch

    from moscale_cli.evaluation.physics import physics_summary
    from moscale_cli.io.bvh import bvh_to_smpl22
    from moscale_cli.io.files import save_motion
    from moscale_cli.pipeline import MoScalePipeline

    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    report: dict = {"prompts": list(PROMPTS), "seeds": args.seeds, "seconds": args.seconds, "real": {}}
    fixtures = sorted((args.shared / "fixtures" / "bvh").glob("*.bvh"))
    if fixtures:
        report["real"]["fixtures"] = _real_rows(fixtures)
    if args.real is not None:
        report["real"][str(args.real)] = _real_rows(sorted(args.real.rglob("*.bvh")))

    pipe = MoScalePipeline.from_pretrained(args.model, device="cpu")
    sets: dict[str, list] = {"raw": [], "postprocessed": []}
    took = {"raw": 0.0, "postprocessed": 0.0}
    for seed in args.seeds:
        for key, post in (("raw", False), ("postprocessed", True)):
            t0 = time.perf_counter()
            sets[key] += pipe.generate(list(PROMPTS), seconds=args.seconds, seed=seed, postprocess=post)
            took[key] += time.perf_counter() - t0
    n = len(sets["raw"])
    report["seconds_per_motion"] = {k: v / n for k, v in took.items()}
    with tempfile.TemporaryDirectory() as tmp:
        for key, motions in sets.items():
            npys, bvhs, gaps = [], [], []
            for i, m in enumerate(motions):
                pn, pb = Path(tmp) / f"{key}_{i}.npy", Path(tmp) / f"{key}_{i}.bvh"
                save_motion(pn, m.joints, fps=m.fps)
                save_motion(pb, m.joints, fps=m.fps)
                npy, bvh = np.load(pn), bvh_to_smpl22(pb)
                npys.append(npy)
                bvhs.append(bvh)
                gaps.append(float(np.linalg.norm(npy - bvh, axis=-1).max()))
            report[key] = {"npy": physics_summary(npys), "bvh": physics_summary(bvhs),
                           "npy_bvh_max_mm": 1000 * max(gaps), "npy_bvh_mean_max_mm": 1000 * float(np.mean(gaps))}
    if args.program:
        report["program"] = _program(args.model, args.program, args.program_clips, 0)

    print(f"generated locomotion: {len(PROMPTS)} prompts x seeds {args.seeds} = {n} motions of {args.seconds:g} s")
    for key in ("raw", "postprocessed"):
        r = report[key]
        print(f"  {key:14s} NPY: {_fmt(r['npy'])}")
        print(f"  {'':14s} BVH: {_fmt(r['bvh'])}")
        print(f"  {'':14s} NPY vs BVH read back: max {r['npy_bvh_max_mm']:.3f} mm (mean of per-motion max "
              f"{r['npy_bvh_mean_max_mm']:.3f} mm); generate: {report['seconds_per_motion'][key]:.3f} s per motion")
    for src, rows in report["real"].items():
        for k, row in rows.items():
            print(f"real {Path(src).name} {k} ({row['clips']} clips): {_fmt(row)}")
    if "program" in report:
        p = report["program"]
        for key in ("raw", "postprocessed"):
            print(f"program ({p['generations']} generations) {key}: attribute mean {p[key]['attribute_mean']:.4f}, "
                  f"all correct {p[key]['all_correct']:.4f}")
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
