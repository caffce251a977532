"""The recipe of the embedded default model: one command from raw data to a model directory.

    python examples/train_default.py --bandai ../shared/data/bandai-namco-motion-2.tar.gz --work runs/v3 \
        --tokenizer-from moscale_cli/assets/default --baseline moscale_cli/assets/default

Steps (each one is a plain `moscale` command, printed before it runs, skipped when its output exists; run it
again after a stop and it goes on where it stopped: the generator resumes from its last checkpoint):
 1. the procedural corpus v3 (`moscale data synth`, fixed seed and size; its held-out phrasings are written
    apart, in `texts_heldout/`, and never trained on);
 2. the Bandai-Namco capture (unpacked from the archive, `moscale data import-bvh --min-len 11`: the short clips
    too);
 3. both merged into one dataset with recomputed statistics and the corpus's program labels (`moscale data merge`);
 4. the multi-scale tokenizer (`moscale train-tokenizer`), or `--tokenizer-from MODEL_DIR`: the tokenizer (and
    its normalisation statistics) of an existing model directory, fine-tuned on the merged data with the root
    and trajectory losses (`--init-from`, `--lambda-root`, `--lambda-traj`; --tokenizer-finetune-steps 0 keeps
    it as it is; the 0.2.0 tokenizer as it was turned a 360-degree circle by 138-220 degrees);
 5. our evaluator (`moscale train-evaluator`);
 6. the generator and the length estimator (`moscale train`: the reference recipe's optimiser, clipping and
    lr curve, scaled to the step budget: warm-up over 1/12 of the run from 0.005 x lr, cosine down to 0.01 x lr
    at the end of the run (`--cosine-horizon-epochs 0`); a checkpoint every --save-every steps; the CPU threads
    follow the idle cores);
 7. checkpoint selection on the validation split: every kept checkpoint is exported and scored with
    `moscale eval --task program` (first caption per clip, at the clips' own lengths and at random lengths; the
    score is the mean of both) and FID (`--task t2m`, one replication), both at guidance --select-cfg, over the
    last --select-last checkpoints (the earlier ones are far from converged); the shipped checkpoint has the best
    program score among those within 10 % of the best FID (the held-out phrasings are never used to choose);
 7b. the guidance g for the chosen checkpoint, by the same rule over --cfg-grid on the validation split (the
    reference's g = 5 is tuned for a 174 M-parameter model on HumanML3D; small models do better with less); it is
    written into the model directory as its recommended sampling (`--cfg` still overrides it);
 8. evaluation of the chosen model on the test split: program task (every caption at own lengths with the
    tokenizer's bound beside it (`--tokens`), first caption at random lengths, held-out phrasings; the first
    --test-max-clips clips, all by default), t2m with --replications replications (R-precision also with hard
    negatives), tokenizer reconstruction; with `--baseline MODEL_DIR` the same program and t2m rows for that model
    (the previous default), on the same evaluator;
 9. the evaluator and the metrics written into the model directory (`moscale eval` then works out of the box),
    and optionally the model directory copied to --install (e.g. moscale_cli/assets/default).

Everything is seeded. On a GPU pass `--device cuda`, larger presets and batches; the defaults are the settings
the shipped model was trained with (see its model card, `moscale info`). A stage gets a wall-clock budget with
`--minutes-*` (MOSCALE_TIME_LIMIT_S).
"""

from __future__ import annotations

import argparse
import json
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
    print("+ moscale", " ".join(cmd), f"  [budget {minutes:g} min]" if minutes else "", flush=True)
    t = time.time()
    subprocess.run([sys.executable, "-m", "moscale_cli", "-q", *cmd], check=True, env=env)
    print(f"  done in {time.time() - t:.0f} s", flush=True)


def last_step(run_dir: Path) -> int:
    """The step of the newest checkpoint of a training run (0 without any)."""
    return max((int(c.name.split("-")[1]) for c in run_dir.glob("checkpoint-*")), default=0)


def reuse_tokenizer(model_dir: Path, out: Path) -> None:
    """A tokenizer run folder made of a model directory's tokenizer and normalisation statistics."""
    import numpy as np
    from safetensors.numpy import load_file

    cfg = json.loads((model_dir / "config.json").read_text())
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "tokenizer_config.json").write_text(json.dumps(cfg["tokenizer"], indent=2))
    shutil.copy(model_dir / "tokenizer.safetensors", tmp / "tokenizer.safetensors")
    stats = load_file(str(model_dir / "stats.safetensors"))
    np.save(tmp / "Mean.npy", stats["mean"])
    np.save(tmp / "Std.npy", stats["std"])
    tmp.rename(out)
    print(f"+ tokenizer of {model_dir} -> {out}", flush=True)


def report(path: Path) -> dict:
    return json.loads(path.read_text())


def program_score(rep: dict) -> float:
    return float(rep["results"]["model"]["overall_attribute_mean"]["acc"])


def program_val(model_dir: Path, data: Path, prefix: Path, cfg: float, dev: list[str]) -> float:
    """The selection score on the validation split: the program accuracy (mean over attributes, first caption)
    at the clips' own lengths and at random lengths, averaged (users pick lengths; held-out phrasings never used)."""
    scores = []
    for lengths in ("own", "random"):
        rp = prefix.with_name(f"{prefix.name}_program_{lengths}.json")
        if not rp.exists():
            run(["eval", "--model", str(model_dir), "--data", str(data), "--split", "val", "--task", "program",
                 "--captions", "first", "--lengths", lengths, "--cfg", f"{cfg:g}", "--out", str(rp), *dev])
        scores.append(program_score(report(rp)))
    return sum(scores) / len(scores)


def fid_score(rep: dict) -> float:
    return float(rep["results"]["model"]["fid"]["mean"])


def select_checkpoint(rows: list[dict]) -> dict:
    """The best program accuracy among rows (checkpoints, or guidance values) whose FID is within 10 % of the
    best FID."""
    best_fid = min(r["fid"] for r in rows)
    ok = [r for r in rows if r["fid"] <= 1.1 * best_fid]
    return max(ok, key=lambda r: (r["program"], -r["fid"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bandai", type=Path, required=True, help="bandai-namco-motion-2.tar.gz, its unpacked folder, or an imported dataset")
    ap.add_argument("--work", type=Path, default=Path("runs/default"))
    ap.add_argument("--synth-clips", type=int, default=20000)
    ap.add_argument("--synth-seed", type=int, default=2026)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tokenizer-preset", default="tiny")
    ap.add_argument("--generator-preset", default="mini")
    ap.add_argument("--evaluator-preset", default="tiny")
    ap.add_argument("--tokenizer-steps", type=int, default=6000)
    ap.add_argument("--generator-steps", type=int, default=20000)
    ap.add_argument("--evaluator-steps", type=int, default=4000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--generator-lr", type=float, default=3e-4, help="the reference's lr at batch 64")
    ap.add_argument("--save-every", type=int, default=1000)
    ap.add_argument("--minutes-tokenizer", type=float, default=60.0)
    ap.add_argument("--minutes-generator", type=float, default=330.0)
    ap.add_argument("--minutes-evaluator", type=float, default=40.0)
    ap.add_argument("--cfg-grid", default="1,1.5,2,3,5", help="guidance values tried for the chosen checkpoint (val split)")
    ap.add_argument("--select-cfg", type=float, default=2.0,
                    help="guidance of the checkpoint selection (0.3 at step 6,000 on 300 val clips, random lengths: "
                         "program 0.788 at g 1, 0.768 at 2, 0.730 at 5)")
    ap.add_argument("--select-last", type=int, default=6, help="checkpoints scored for the selection: the last N kept")
    ap.add_argument("--replications", type=int, default=20, help="t2m replications on the test split")
    ap.add_argument("--test-max-clips", type=int, default=0,
                    help="program rows of the test split: the first N labelled clips (0 = all; the README's 0.2.0 rows "
                         "of corpus v3 used 500)")
    ap.add_argument("--test-captions", choices=("all", "first", "one"), default="all",
                    help="captions per test clip in the program task")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--bandai-min-len", type=int, default=11, help="shortest Bandai-Namco clip kept (frames)")
    ap.add_argument("--tokenizer-from", type=Path, default=None,
                    help="start from the tokenizer of this model directory instead of training one")
    ap.add_argument("--tokenizer-finetune-steps", type=int, default=2700,
                    help="fine-tune steps of the --tokenizer-from tokenizer (0 = use it as it is)")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="a model directory measured beside the new model on the test split (same evaluator)")
    ap.add_argument("--install", type=Path, default=None, help="copy the chosen model directory here")
    args = ap.parse_args()

    w = args.work
    w.mkdir(parents=True, exist_ok=True)
    ds = w / "datasets"
    ds.mkdir(exist_ok=True)
    synth, bandai, merged = ds / "synth", ds / "bandai", ds / "merged"
    dev = ["--device", args.device]

    # 1-3. data
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
            run(["data", "import-bvh", str(src), str(bandai), "--workers", str(args.workers), "--min-len",
                 str(args.bandai_min_len)])
    if not merged.exists():
        run(["data", "merge", str(merged), str(synth), str(bandai), "--prefix-names"])

    # 4-6. training
    tok, evr, gen = w / "tokenizer", w / "evaluator", w / "generator"
    bs = str(args.batch_size)
    ft_steps = args.tokenizer_finetune_steps
    if args.tokenizer_from is not None and ft_steps > 0:
        base = w / "tokenizer_base"
        if not (base / "tokenizer.safetensors").exists():
            reuse_tokenizer(args.tokenizer_from, base)
        if last_step(tok) < ft_steps:
            resume = ["--resume"] if last_step(tok) > 0 else []
            run(["train-tokenizer", "--data", str(merged), "--init-from", str(base), "--out", str(tok),
                 "--steps", str(ft_steps), "--batch-size", bs, "--lr", "3e-4", "--warmup", "150",
                 "--schedule", "cosine", "--lambda-root", "1.0", "--lambda-traj", "0.5", "--select", "global_mpjpe",
                 "--val-every", "450", "--save-every", "225", "--keep-last", "3", "--seed", "10306", "--threads", "0",
                 *resume, *dev], args.minutes_tokenizer)
            if last_step(tok) < ft_steps:
                sys.exit(f"the tokenizer fine-tune stopped at step {last_step(tok)} of {ft_steps} (time budget): "
                         "run this script again to go on from there")
    elif args.tokenizer_from is not None and not (tok / "tokenizer.safetensors").exists():
        reuse_tokenizer(args.tokenizer_from, tok)
    if not (tok / "tokenizer.safetensors").exists():
        run(["train-tokenizer", "--data", str(merged), "--out", str(tok), "--preset", args.tokenizer_preset,
             "--steps", str(args.tokenizer_steps), "--batch-size", bs, "--lr", "1e-3", "--schedule", "step",
             "--warmup", "200", "--val-every", "500", "--save-every", "500", "--seed", "10306", *dev],
            args.minutes_tokenizer)
    if not (evr / "evaluator.safetensors").exists():
        run(["train-evaluator", "--data", str(merged), "--out", str(evr), "--preset", args.evaluator_preset,
             "--steps", str(args.evaluator_steps), "--batch-size", bs, "--lr", "5e-4", "--schedule", "cosine",
             "--val-every", "500", "--save-every", "500", "--seed", "10306", *dev], args.minutes_evaluator)
    steps = args.generator_steps
    if last_step(gen) < steps:  # RUN/model is exported at every stop too: the checkpoints say how far it got
        resume = ["--resume"] if last_step(gen) > 0 else []
        run(["train", "--data", str(merged), "--tokenizer", str(tok), "--out", str(gen), "--preset",
             args.generator_preset, "--steps", str(steps), "--batch-size", bs, "--lr", str(args.generator_lr),
             "--warmup", str(steps // 12), "--cosine-horizon-epochs", "0", "--threads", "0",
             "--val-every", str(args.save_every), "--save-every", str(args.save_every), "--keep-last", "25",
             "--seed", "10306", *resume, *dev], args.minutes_generator)
        if last_step(gen) < steps:
            sys.exit(f"the generator stopped at step {last_step(gen)} of {steps} (time budget): run this script "
                     "again to go on from there")

    # 7. checkpoint selection on the validation split
    from moscale_cli.model_dir import update_model_dir
    from moscale_cli.training.train_model import export_checkpoint

    sel = w / "selection"
    sel.mkdir(exist_ok=True)
    rows = []
    for ck in sorted(gen.glob("checkpoint-*"))[-max(1, args.select_last):]:
        d = sel / ck.name
        if not (d / "config.json").exists():
            export_checkpoint(gen, ck, d)
        t_rep = sel / f"{ck.name}_t2m.json"
        if not t_rep.exists():
            run(["eval", "--model", str(d), "--data", str(merged), "--split", "val", "--evaluator", str(evr),
                 "--replications", "1", "--mm-texts", "0", "--cfg", f"{args.select_cfg:g}", "--out", str(t_rep), *dev])
        rows.append({"checkpoint": ck.name, "step": int(ck.name.split("-")[1]),
                     "program": program_val(d, merged, sel / ck.name, args.select_cfg, dev), "fid": fid_score(report(t_rep))})
        print(f"  {ck.name}: program (val) {rows[-1]['program']:.3f}, FID (val) {rows[-1]['fid']:.3f}", flush=True)
    (sel / "curve.json").write_text(json.dumps(rows, indent=2))
    best = select_checkpoint(rows)
    print(f"chosen: {best['checkpoint']}", flush=True)
    model = w / "model"
    if not (model / "config.json").exists():
        export_checkpoint(gen, gen / best["checkpoint"], model)

    # 7b. the guidance for the chosen checkpoint, same rule, val split
    d = sel / best["checkpoint"]
    g_rows = []
    for g in [float(x) for x in args.cfg_grid.split(",")]:
        tag = f"{best['checkpoint']}_cfg{g:g}"
        prefix, t_rep = sel / tag, sel / f"{tag}_t2m.json"
        if g == args.select_cfg:  # the checkpoint selection above ran with this g
            prefix, t_rep = sel / best["checkpoint"], sel / f"{best['checkpoint']}_t2m.json"
        if not t_rep.exists():
            run(["eval", "--model", str(d), "--data", str(merged), "--split", "val", "--evaluator", str(evr),
                 "--replications", "1", "--mm-texts", "0", "--cfg", f"{g:g}", "--out", str(t_rep), *dev])
        g_rows.append({"cfg": g, "program": program_val(d, merged, prefix, g, dev), "fid": fid_score(report(t_rep))})
        print(f"  cfg {g:g}: program (val) {g_rows[-1]['program']:.3f}, FID (val) {g_rows[-1]['fid']:.3f}", flush=True)
    (sel / "guidance.json").write_text(json.dumps(g_rows, indent=2))
    best_g = select_checkpoint(g_rows)
    print(f"chosen guidance: {best_g['cfg']:g}", flush=True)
    update_model_dir(model, sampling={"cfg": best_g["cfg"]})

    # 8. test-split evaluation of the chosen model (and of the baseline, on the same evaluator and clips)
    tests = {"program": ["--captions", args.test_captions, "--tokens"],
             "program_random": ["--task", "program", "--captions", "first", "--lengths", "random"],
             "program_heldout": ["--task", "program", "--captions", "heldout"],
             "t2m": ["--evaluator", str(evr), "--replications", str(args.replications)],
             "reconstruction": ["--evaluator", str(evr), "--replications", "3"]}
    models = {"": model, **({"baseline_": args.baseline} if args.baseline is not None else {})}
    reports = {}
    for tag, m_dir in models.items():
        for task, extra in tests.items():
            if tag and task == "reconstruction":
                continue
            rp = w / f"eval_{tag}{task}.json"
            if not rp.exists():
                task_arg = [] if "--task" in extra else ["--task", task]
                clips = ["--max-clips", str(args.test_max_clips)] if task.startswith("program") else []
                run(["eval", "--model", str(m_dir), "--data", str(merged), "--split", "test", *task_arg, *extra,
                     *clips, "--out", str(rp), *dev])
            reports[tag + task] = report(rp)
    for tag in models:
        print(f"{tag or 'model_'}test: program own {program_score(reports[tag + 'program']):.3f}, random "
              f"{program_score(reports[tag + 'program_random']):.3f}, held-out phrasings "
              f"{program_score(reports[tag + 'program_heldout']):.3f}, FID {fid_score(reports[tag + 't2m']):.3f}",
              flush=True)

    # 9. evaluator and metrics into the model directory
    prog, t2m = reports["program"]["results"], reports["t2m"]["results"]["model"]
    extra_prog = {f"program_test_{k}_attribute_mean": program_score(reports[f"program_{k}"]) for k in ("random", "heldout")}
    metrics = {"selected_checkpoint": best["checkpoint"], "selected_cfg": best_g["cfg"],
               "program_val_attribute_mean": round(best_g["program"], 4), "fid_val": round(best_g["fid"], 4),
               "program_test_attribute_mean": prog["model"]["overall_attribute_mean"]["acc"],
               "program_test_all_correct": prog["model"]["overall_clips_all_correct"]["acc"],
               **{f"program_test_{a}": r["acc"] for a, r in prog["model"]["per_attribute"].items()}, **extra_prog,
               **{f"program_test_tokens_{a}": r["acc"] for a, r in prog["tokens"]["per_attribute"].items()},
               **{f"test_{k}": round(v["mean"], 4) for k, v in t2m.items()},
               "tokenizer_test_mpjpe_mm": round(reports["reconstruction"]["results"]["model"]["mpjpe_mm"]["mean"], 2)}
    update_model_dir(model, evaluator_run=evr, metrics=metrics, name=f"moscale-default-{args.generator_preset}")
    print(json.dumps(metrics, indent=2))
    if args.install is not None:
        if args.install.exists():
            shutil.rmtree(args.install)
        shutil.copytree(model, args.install)
        print(f"installed {model} -> {args.install}")


if __name__ == "__main__":
    main()
