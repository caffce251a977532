"""The gallery prompts, generated and checked: does the motion do what the text says?

    python examples/gallery.py                                  # the installed default model
    python examples/gallery.py --model runs/gen/model --seeds 5 --out out/gallery --video
    python examples/gallery.py --lengths estimated        # lengths from the model's length estimator

Each prompt is generated with seeds 0..N-1 at a fixed length (or the estimated one) and checked with the program task's kinematic
detectors (`moscale_cli.evaluation.program`) against a hand-written program (the action, its count, side,
direction or turn angle, start and end posture). Prints one row per prompt: the fraction of seeds with every
attribute right, per-attribute pass counts, and what the detectors measured on seed 0. With `--video`, writes
seed 0 of each prompt as MP4 (and BVH) to --out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from moscale_cli.errors import MoScaleError

# (prompt, frames, program actions)
GALLERY = [
    ("a person does two jumping jacks", 100, [{"action": "jumping_jacks", "count": 2}]),
    ("a person sits down", 80, [{"action": "sit_down"}]),
    ("a person turns around", 80, [{"action": "turn", "angle": 180}]),
    ("a person jumps three times", 100, [{"action": "jump_in_place", "count": 3}]),
    ("a person walks backwards", 100, [{"action": "walk_backward"}]),
    ("someone waves with the left hand twice", 80, [{"action": "wave", "count": 2, "side": "left"}]),
    ("a person squats twice", 100, [{"action": "squat", "count": 2}]),
    ("a person walks forward, then turns around", 140, [{"action": "walk_forward"}, {"action": "turn", "angle": 180}]),
]
FIELDS = ("action", "count", "side", "direction", "angle", "speed", "style", "duration", "span", "events")


def label_for(frames: int, actions: list[dict]) -> dict:
    """A labels.jsonl-like row: actions with every field (None where unset), spans split evenly."""
    n = len(actions)
    rows = []
    for i, a in enumerate(actions):
        row = {k: None for k in FIELDS}
        row.update(speed="normal", events=[], span=[i * frames // n, (i + 1) * frames // n], **a)
        rows.append(row)
    return {"actions": rows, "frames": frames}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model directory or hub id (default: the installed default model)")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("out/gallery"))
    ap.add_argument("--video", action="store_true", help="write seed 0 of every prompt as MP4 and BVH")
    ap.add_argument("--lengths", choices=("fixed", "estimated"), default="fixed",
                    help="fixed: the frame counts of the table below; estimated: the model's length estimator picks "
                         "the length from the text, as `moscale generate` does without --seconds/--frames")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    from moscale_cli.evaluation.program import score_clip
    from moscale_cli.io.files import save_motion
    from moscale_cli.pipeline import MoScalePipeline

    pipe = MoScalePipeline.from_pretrained(args.model, device=args.device)
    if args.video:
        args.out.mkdir(parents=True, exist_ok=True)
    print("| prompt | all right (seeds) | per attribute (passed/seeds) | seed 0 measured |")
    print("|---|---|---|---|")
    for prompt, frames, actions in GALLERY:
        n = frames if args.lengths == "fixed" else None
        motions = [pipe.generate(prompt, frames=n, seed=s)[0] for s in range(args.seeds)]
        scores = [score_clip(m.joints, label_for(len(m.joints), actions), prompt) for m in motions]
        per: dict[str, list[int]] = {}
        for sc in scores:
            for c in sc.applicable:
                per.setdefault(c.attribute, [0, 0])
                per[c.attribute][0] += c.status == "pass"
                per[c.attribute][1] += 1
        ok = sum(sc.all_correct for sc in scores)
        attrs = ", ".join(f"{a} {k}/{n}" for a, (k, n) in per.items())
        lengths = "/".join(str(len(m.joints)) for m in motions)
        first = f"{lengths} frames; " + "; ".join(c.note for c in scores[0].applicable if c.note and c.attribute not in ("present",))
        print(f"| {prompt} | {ok}/{len(scores)} | {attrs} | {first} |", flush=True)
        if args.video:
            stem = args.out / prompt.replace(" ", "_").replace(",", "")
            save_motion(stem.with_suffix(".mp4"), motions[0].joints, caption=prompt)
            save_motion(stem.with_suffix(".bvh"), motions[0].joints)


if __name__ == "__main__":
    try:
        main()
    except MoScaleError as e:
        raise SystemExit(f"error: {e}") from None
