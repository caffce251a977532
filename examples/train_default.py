"""The recipe of the embedded default model: one command from raw data to a model directory.

    python examples/train_default.py --bandai ../shared/data/bandai-namco-motion-2.tar.gz --work runs/default

Steps (each one is a plain `moscale` command, printed before it runs, skipped when its output exists):
 1. the procedural corpus (`moscale data synth`, fixed seed and size);
 2. the Bandai-Namco capture (unpacked from the archive, `moscale data import-bvh`);
 3. both merged into one dataset with recomputed statistics (`moscale data merge`);
 4. the multi-scale tokenizer (`moscale train-tokenizer`);
 5. our evaluator (`moscale train-evaluator`);
 6. the generator and the length estimator (`moscale train`, exports WORK/generator/model);
 7. evaluation of the model against the real-motion row (`moscale eval --task t2m`, `--task reconstruction`);
 8. optionally, the model directory copied to --install (e.g. moscale_cli/assets/default) with fp16 weights.

Everything is seeded. On a GPU pass `--device cuda` and larger `--batch-size`; the defaults are the
settings the shipped model was trained with (see its model card, `moscale info`). A stage gets a
wall-clock budget with `--minutes-*` (MOSCALE_TIME_LIMIT_S), so the recipe fits a CPU afternoon.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path


def run(cmd: list[str], minutes: float = 0.0) -> None:
    env = dict(os.environ)
    if minutes > 0:
        env["MOSCALE_TIME_LIMIT_S"] = str(int(minutes * 60))
    print("+", " ".join(cmd), f"  [budget {minutes:g} min]" if minutes else "", flush=True)
    t = time.time()
    subprocess.run([sys.executable, "-m", "moscale_cli", *cmd], check=True, env=env)
    print(f"  done in {time.time() - t:.0f} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bandai", type=Path, required=True, help="bandai-namco-motion-2.tar.gz, its unpacked folder, or an imported dataset")
    ap.add_argument("--work", type=Path, default=Path("runs/default"))
    ap.add_argument("--synth-clips", type=int, default=8000)
    ap.add_argument("--synth-seed", type=int, default=2026)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tokenizer-preset", default="tiny")
    ap.add_argument("--generator-preset", default="tiny")
    ap.add_argument("--evaluator-preset", default="tiny")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--tokenizer-steps", type=int, default=2500)
    ap.add_argument("--generator-steps", type=int, default=2700)
    ap.add_argument("--evaluator-steps", type=int, default=3000)
    ap.add_argument("--minutes-tokenizer", type=float, default=0.0)
    ap.add_argument("--minutes-generator", type=float, default=0.0)
    ap.add_argument("--minutes-evaluator", type=float, default=0.0)
    ap.add_argument("--replications", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--install", type=Path, default=None, help="copy the model directory here (fp16 weights)")
    args = ap.parse_args()

    w = args.work
    w.mkdir(parents=True, exist_ok=True)
    ds = w / "datasets"
    ds.mkdir(exist_ok=True)
    synth, bandai, merged = ds / "synth", ds / "bandai", ds / "merged"
    cache = str(w / "text_cache")
    dev = ["--device", args.device]

    if not synth.exists():
        run(["data", "synth", str(synth), "--clips", str(args.synth_clips), "--seed", str(args.synth_seed),
             "--workers", str(args.workers)])
    if not bandai.exists():
        src = args.bandai
        if (src / "new_joint_vecs").is_dir():  # an imported dataset already
            bandai = src
        else:
            if src.is_file():
                raw = w / "bandai_raw"
                if not raw.exists():
                    print(f"+ unpacking {src} -> {raw}", flush=True)
                    with tarfile.open(src) as tf:
                        tf.extractall(raw, filter="data")
                src = raw
            run(["data", "import-bvh", str(src), str(bandai), "--workers", str(args.workers)])
    if not merged.exists():
        run(["data", "merge", str(merged), str(synth), str(bandai), "--prefix-names"])

    tok, evr, gen = w / "tokenizer", w / "evaluator", w / "generator"
    bs = str(args.batch_size)
    if not (tok / "tokenizer.safetensors").exists():
        run(["train-tokenizer", "--data", str(merged), "--out", str(tok), "--preset", args.tokenizer_preset,
             "--steps", str(args.tokenizer_steps), "--batch-size", bs, "--lr", "2e-3", "--schedule", "cosine",
             "--warmup", "100", "--val-every", "500", "--save-every", "500", "--seed", "10306", *dev],
            args.minutes_tokenizer)
    if not (evr / "evaluator.safetensors").exists():
        run(["train-evaluator", "--data", str(merged), "--out", str(evr), "--preset", args.evaluator_preset,
             "--steps", str(args.evaluator_steps), "--batch-size", "64", "--lr", "5e-4", "--schedule", "cosine",
             "--val-every", "500", "--save-every", "500", "--text-cache", cache, "--seed", "10306", *dev],
            args.minutes_evaluator)
    if not (gen / "model" / "config.json").exists():
        run(["train", "--data", str(merged), "--tokenizer", str(tok), "--out", str(gen), "--preset",
             args.generator_preset, "--steps", str(args.generator_steps), "--batch-size", "64", "--lr", "1e-3",
             "--schedule", "cosine", "--warmup", "150", "--val-every", "900", "--save-every", "900", "--length-epochs", "8",
             "--text-cache", cache, "--seed", "10306", *dev], args.minutes_generator)
    model = gen / "model"
    for task in ("reconstruction", "t2m"):
        report = w / f"eval_{task}.json"
        if not report.exists():
            run(["eval", "--model", str(model), "--data", str(merged), "--split", "test", "--evaluator", str(evr),
                 "--task", task, "--replications", str(args.replications), "--out", str(report), *dev])
    if args.install is not None:
        if args.install.exists():
            shutil.rmtree(args.install)
        shutil.copytree(model, args.install)
        print(f"installed {model} -> {args.install}")


if __name__ == "__main__":
    main()
