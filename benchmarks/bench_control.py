"""Spatial control with the default model: what coarse latents decode to, the errors of single targets, and time.

1. **Coarse latents.** For each prompt (8 s, ``--seed``), the pelvis path decoded from the latent of scale 0 alone,
   scales 0-1, 0-2, against the path of the whole latent (mean distance over frames, m): why a coarse scale's
   logits are optimised with the finer scales of a draft (``docs/method.md``).
2. **Targets.** A pelvis waypoint on a walk, a wrist target, a key pose (22 joints at one frame, taken from another
   generated motion): the error of the sampler's motion before the root correction and the post-process
   (``controlled_sample``), of the output with ``postprocess=False``, and of the default output; and the same
   joints of the unconstrained motion.
3. **Time.** ``MoScalePipeline.generate`` of an 8 s motion with and without ``--path "0,0 0,2 1.5,3"`` (process
   CPU time and wall time, the median of ``--repeats`` runs after a warm-up), and the same as whole
   ``moscale generate`` commands (a new process each: start-up, model and text-encoder loading included).

Usage: python benchmarks/bench_control.py [--repeats 3] [--no-cli] [--out FILE.json]
CPU, single thread (``OMP_NUM_THREADS=1``); about 2 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

PROMPTS = ("a person walks forward", "a person waves the right hand", "a person jumps twice")


def coarse_latents(pipe, seed: int) -> dict[str, list[float]]:
    from moscale_cli.motion.features import recover_from_ric
    from moscale_cli.sampling.sampler import sample

    tok, norm = pipe.tokenizer, pipe.normalizer
    lens = torch.full((len(PROMPTS),), 160)
    res = sample(pipe.generator, tok, pipe.encode_prompts(list(PROMPTS)), lens, pipe.check_sampling(None), seed)

    def pelvis(fhat: torch.Tensor) -> torch.Tensor:
        return recover_from_ric(norm.denormalize(tok.decode_latent(fhat, lens)), 22)[:, :160, 0]

    full = pelvis(res.fhat)
    out: dict[str, list[float]] = {}
    acc = None
    for k, ids in enumerate(res.ids[:-1]):
        c = tok.ids_to_contribution(ids, k, lens)
        acc = c if acc is None else acc + c
        out[f"scales 0-{k}"] = [round(float(v), 3) for v in (pelvis(acc) - full).norm(dim=-1).mean(1)]
    return out


def targets(pipe, seed: int) -> dict[str, dict[str, float]]:
    from moscale_cli.pipeline.constraints import Constraints
    from moscale_cli.sampling.control import controlled_sample
    from moscale_cli.sampling.targets import ControlTargets, target_errors

    ref = pipe.generate("a person raises both arms above the head", seconds=6, seed=3)[0]
    cases = {
        "pelvis waypoint (walk, frame 100 at 1.5, 2.5)": ("a person walks forward", 160,
                                                           Constraints.from_waypoint("100:1.5,2.5")),
        "right wrist (frame 70)": ("a person waves the right hand", 120, Constraints.from_json(
            [{"joint": "right_wrist", "frames": [70], "positions": [[-0.4, 1.5, 0.6]]}])),
        "key pose (frame 70, 22 joints)": ("a person stands and waves", 120, Constraints.from_json(
            [{"pose": 70, "joints": ref.joints[60].tolist()}])),
    }
    out = {}
    for name, (prompt, T, c) in cases.items():
        arr = c.resolve(T, origin=True)
        tg = ControlTargets.from_arrays([arr], T)
        res = controlled_sample(pipe.generator, pipe.tokenizer, pipe.normalizer, pipe.encode_prompts([prompt]),
                                torch.tensor([T]), tg, pipe.check_sampling(None), None, seed)
        sampler = target_errors(pipe.normalizer.denormalize(res.feats), tg)[0]
        raw = pipe.generate(prompt, frames=T, constraints=c, seed=seed, postprocess=False)[0]
        final = pipe.generate(prompt, frames=T, constraints=c, seed=seed)[0]
        free = pipe.generate(prompt, frames=T, seed=seed)[0]
        free.targets = arr
        out[name] = {"sampler_mean_m": round(float(sampler.mean()), 4),
                     "no_postprocess_mean_m": round(float(raw.target_errors().mean()), 4),
                     "output_mean_m": round(float(final.target_errors().mean()), 6),
                     "unconstrained_mean_m": round(float(free.target_errors().mean()), 4)}
    return out


def timing(pipe, repeats: int) -> dict[str, dict[str, float]]:
    from moscale_cli.pipeline.constraints import Constraints

    path = Constraints.from_path("0,0 0,2 1.5,3")
    out = {}
    for name, kw in (("unconstrained", {}), ("--path", {"constraints": path})):
        pipe.generate("a person walks forward", seconds=8, **kw)  # warm-up
        cpu, wall = [], []
        for r in range(repeats):
            c, w = time.process_time(), time.perf_counter()
            pipe.generate("a person walks forward", seconds=8, seed=r, **kw)
            cpu.append(time.process_time() - c)
            wall.append(time.perf_counter() - w)
        out[name] = {"cpu_s": round(statistics.median(cpu), 3), "wall_s": round(statistics.median(wall), 3)}
    out["ratio_cpu"] = round(out["--path"]["cpu_s"] / out["unconstrained"]["cpu_s"], 2)
    return out


def cli_timing(repeats: int) -> dict[str, dict[str, float]]:
    out = {}
    with tempfile.TemporaryDirectory() as d:
        for name, extra in (("unconstrained", []), ("--path", ["--path", "0,0 0,2 1.5,3"])):
            cpu, wall = [], []
            for r in range(repeats):
                cmd = [sys.executable, "-m", "moscale_cli", "-q", "generate", "a person walks forward", "--seconds", "8",
                       "--seed", str(r), "-o", str(Path(d) / f"m{r}.npy"), "--force", *extra]
                t0, r0 = time.perf_counter(), os.times()
                subprocess.run(cmd, check=True, capture_output=True)
                r1 = os.times()
                wall.append(time.perf_counter() - t0)
                cpu.append((r1.children_user - r0.children_user) + (r1.children_system - r0.children_system))
            out[name] = {"cpu_s": round(statistics.median(cpu), 3), "wall_s": round(statistics.median(wall), 3)}
    out["ratio_cpu"] = round(out["--path"]["cpu_s"] / out["unconstrained"]["cpu_s"], 2)
    out["ratio_wall"] = round(out["--path"]["wall_s"] / out["unconstrained"]["wall_s"], 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-cli", action="store_true", help="skip the whole-command timing")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    torch.set_num_threads(1)
    from moscale_cli.pipeline import MoScalePipeline

    pipe = MoScalePipeline.from_pretrained(None, device="cpu")
    report = {"coarse_latents_pelvis_m": coarse_latents(pipe, a.seed), "targets": targets(pipe, a.seed),
              "generate_8s": timing(pipe, a.repeats)}
    if not a.no_cli:
        report["command_8s"] = cli_timing(a.repeats)
    text = json.dumps(report, indent=2)
    print(text)
    if a.out:
        a.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
