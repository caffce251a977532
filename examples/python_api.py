"""Text to motion from Python with :class:`moscale_cli.pipeline.MoScalePipeline`.

    python examples/python_api.py                      # the installed default model
    python examples/python_api.py --model runs/gen/model --out out/api

Writes one BVH + NPY per motion into --out and prints what it made.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from moscale_cli.errors import MoScaleError
from moscale_cli.io.files import save_motion
from moscale_cli.pipeline import MoScalePipeline
from moscale_cli.sampling.config import SamplingConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model directory or hub id (default: the installed default model)")
    ap.add_argument("--out", default="out/api", help="output folder")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()

    pipe = MoScalePipeline.from_pretrained(args.model, device=args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # 1. one prompt, a fixed length in seconds, two samples (same seed -> same motions on every run)
    motions = pipe.generate("a person walks forward and waves with the right hand", seconds=4.0, num_samples=2, seed=0)
    # 2. several prompts: one with a length in frames, one whose length the estimator picks (None)
    # sampling options in one SamplingConfig. Left out (or None), the guidance is the one the model directory
    # recommends (g = 2 for the default model, else the reference's 5) with the reference's 1/2/5/10 passes and
    # top-p 0.9; here the reference's guidance g = 5 is asked for explicitly.
    motions += pipe.generate(["someone jumps twice", "a person sits down on a chair"], frames=[80, None], seed=1,
                             sampling=SamplingConfig(cfg=5.0, refine_steps=(1, 2, 5, 10), top_p=0.9))

    for i, m in enumerate(motions):
        stem = out / f"motion_{i}"
        save_motion(stem.with_suffix(".bvh"), m.joints, caption=m.caption)
        save_motion(stem.with_suffix(".npy"), m.joints)
        print(f"{stem}.bvh  {m.frames} frames ({m.seconds:.1f} s)  joints {m.joints.shape}  features {m.features.shape}  "
              f"'{m.caption}' (sample {m.sample_index})")


if __name__ == "__main__":
    try:
        main()
    except MoScaleError as e:
        raise SystemExit(f"error: {e}") from None
