"""Start-up cost of the ``moscale`` command against importing its heavy dependencies (issue 16).

    python benchmarks/bench_startup.py                       # 5 rounds, 32 prompts, table on stdout
    python benchmarks/bench_startup.py --runs 9 --json out/bench_startup.json
    python benchmarks/bench_startup.py --runs 3 --separate-rounds 0 --json -   # skip the 32 separate commands

Each round runs, one after the other (so that load changes hit both sides of a ratio alike):

    base   python -c "import torch, numpy, safetensors"
    cold   moscale -q generate "a person walks forward" --seconds 4 -o w.bvh   (MOSCALE_CACHE: a new empty folder)
    base   (again)
    warm   the same generate with a prompt cache that already holds the prompt
    base   (again)
    new    a prompt the cache has not seen (a new one every round), in the cache folder of the warm runs: a
           user's next prompt (the encoder is loaded and run; its file hashes are already memoised)
    help   moscale --help
    batch  moscale -q generate --prompts FILE -o b.bvh   (N prompts of 80 frames, new empty MOSCALE_CACHE)

and ``--separate-rounds`` times the same N prompts as N separate commands (one new cache folder shared by
the N commands, as a user's would be). Ratios: cold/base, warm/base and new/base per round (each against
the base run just before it), median over the rounds; motions per second of the batch run against the separate
commands. Wall time is what the aims are stated in; CPU time (user + sys of the process) is printed too,
as it moves less with the load of a shared machine.

By default the children run with a private bytecode folder (``PYTHONPYCACHEPREFIX``) and
``PYTHONDONTWRITEBYTECODE`` removed, after one warm-up run of each command: an installed package has its
``.pyc`` files, and a checkout in an environment that forbids them would otherwise pay the compilation of
every module on each start. ``--as-is`` keeps the environment untouched.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

PROMPT = "a person walks forward"
BASE_CODE = "import torch, numpy, safetensors"
AIMS = {"new_over_base": 1.45, "warm_over_base": 1.3, "help_s": 0.3, "batch_speedup": 5.0}

VERBS = [
    "walks forward",
    "runs in a circle",
    "jumps up twice",
    "waves with the right hand",
    "sits down slowly",
    "turns around",
    "kicks with the left leg",
    "claps hands",
    "crouches and stands up",
    "steps to the side",
    "raises both arms",
    "bows",
    "walks backwards",
    "hops on one foot",
    "stretches the arms",
    "spins once",
]
WHO = ["a person", "someone"]


def prompts_for(n: int) -> list[str]:
    """``n`` distinct prompts (verb x subject, then numbered)."""
    out = [f"{w} {v}" for w in WHO for v in VERBS]
    k = 0
    while len(out) < n:
        out.append(f"a person {VERBS[k % len(VERBS)]} ({k // len(VERBS) + 2})")
        k += 1
    return out[:n]


def moscale_command() -> list[str]:
    """The installed ``moscale`` console script of this interpreter (no shell shim), else ``python -m``."""
    script = Path(sysconfig.get_path("scripts")) / ("moscale.exe" if os.name == "nt" else "moscale")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "moscale_cli"]


@dataclass
class Sample:
    wall_s: float
    cpu_s: float


@dataclass
class Series:
    name: str
    command: str
    samples: list[Sample] = field(default_factory=list)

    def wall(self) -> list[float]:
        return [s.wall_s for s in self.samples]

    def cpu(self) -> list[float]:
        return [s.cpu_s for s in self.samples]


def run_timed(argv: list[str], env: dict[str, str], cwd: Path) -> Sample:
    """Wall time and CPU time (user + sys of the child and its children) of one command; exits on failure."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err
        )
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            sys.exit(
                f"command failed ({proc.returncode}): {' '.join(argv)}\n{err.read().decode(errors='replace')}"
            )
    return Sample(wall, ru.ru_utime + ru.ru_stime)


def child_env(as_is: bool, pycache: Path, threads: int | None) -> dict[str, str]:
    env = dict(os.environ)
    if not as_is:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def measure(args: argparse.Namespace, tmp: Path) -> dict:
    env = child_env(args.as_is, tmp / "pycache", args.threads)
    ms = moscale_command()
    model = ["--model", args.model] if args.model else []
    prompts = prompts_for(args.prompts)
    prompt_file = tmp / "prompts.txt"
    prompt_file.write_text("".join(f"{p}#80\n" for p in prompts), encoding="utf-8")
    out = tmp / "out"
    out.mkdir()
    warm_cache = tmp / "warm-cache"

    base_argv = [sys.executable, "-c", BASE_CODE]
    gen_argv = [*ms, "-q", "generate", PROMPT, "--seconds", "4", "-o", str(out / "w.bvh"), *model]
    help_argv = [*ms, "--help"]
    batch_argv = [*ms, "-q", "generate", "--prompts", str(prompt_file), "-o", str(out / "b.bvh"), *model]

    def with_cache(folder: Path) -> dict[str, str]:
        return {**env, "MOSCALE_CACHE": str(folder)}

    n_cold = 0

    def fresh_cache() -> dict[str, str]:
        nonlocal n_cold
        n_cold += 1
        return with_cache(tmp / f"cold-cache-{n_cold}")

    shown = lambda argv: " ".join(a if " " not in a else repr(a) for a in argv)  # noqa: E731
    series = {
        "base": Series("base", shown(base_argv)),
        "cold": Series("cold", shown(gen_argv) + "   [MOSCALE_CACHE=<new empty folder>]"),
        "warm": Series("warm", shown(gen_argv) + "   [MOSCALE_CACHE=<folder holding the prompt>]"),
        "new": Series("new", shown(gen_argv).replace(PROMPT, PROMPT + " <round>")
                      + "   [MOSCALE_CACHE=<the warm folder>, a prompt it has not seen]"),
        "help": Series("help", shown(help_argv)),
        "batch": Series("batch", shown(batch_argv) + f"   [{args.prompts} prompts, new empty MOSCALE_CACHE]"),
        "separate": Series(
            "separate",
            f"{args.prompts} x {shown(gen_argv[:3])} PROMPT --frames 80 -o s_K.bvh"
            "   [one new MOSCALE_CACHE for the sequence]",
        ),
    }
    ratios: dict[str, list[float]] = {
        "cold_over_base": [],
        "warm_over_base": [],
        "new_over_base": [],
        "cold_over_base_cpu": [],
        "warm_over_base_cpu": [],
        "new_over_base_cpu": [],
    }

    # warm-up: bytecode written, files in the page cache, the warm prompt cache filled
    for argv, e in (
        (base_argv, env),
        (help_argv, env),
        (gen_argv, with_cache(warm_cache)),
        (batch_argv, fresh_cache()),
    ):
        run_timed(argv, e, tmp)
    load_before = os.getloadavg()
    t_start = time.perf_counter()
    for r in range(args.runs):
        b1 = run_timed(base_argv, env, tmp)
        cold = run_timed(gen_argv, fresh_cache(), tmp)
        b2 = run_timed(base_argv, env, tmp)
        warm = run_timed(gen_argv, with_cache(warm_cache), tmp)
        b3 = run_timed(base_argv, env, tmp)
        new_argv = [PROMPT + f" round {r + 1}" if a == PROMPT else a for a in gen_argv]
        new = run_timed(new_argv, with_cache(warm_cache), tmp)
        hlp = run_timed(help_argv, env, tmp)
        batch = run_timed(batch_argv, fresh_cache(), tmp)
        for k, s in (
            ("base", b1),
            ("cold", cold),
            ("base", b2),
            ("warm", warm),
            ("base", b3),
            ("new", new),
            ("help", hlp),
            ("batch", batch),
        ):
            series[k].samples.append(s)
        ratios["cold_over_base"].append(cold.wall_s / b1.wall_s)
        ratios["warm_over_base"].append(warm.wall_s / b2.wall_s)
        ratios["new_over_base"].append(new.wall_s / b3.wall_s)
        ratios["new_over_base_cpu"].append(new.cpu_s / b3.cpu_s)
        ratios["cold_over_base_cpu"].append(cold.cpu_s / b1.cpu_s)
        ratios["warm_over_base_cpu"].append(warm.cpu_s / b2.cpu_s)
        if not args.quiet:
            print(
                f"round {r + 1}/{args.runs}: base {b1.wall_s:.2f}/{b2.wall_s:.2f}/{b3.wall_s:.2f} s, cold {cold.wall_s:.2f} s, "
                f"warm {warm.wall_s:.2f} s, new {new.wall_s:.2f} s, help {hlp.wall_s:.2f} s, batch {batch.wall_s:.2f} s",
                file=sys.stderr,
            )
    for r in range(args.separate_rounds):
        env_sep = fresh_cache()
        wall = cpu = 0.0
        for k, p in enumerate(prompts):
            s = run_timed(
                [*ms, "-q", "generate", p, "--frames", "80", "-o", str(out / f"s_{k}.bvh"), *model],
                env_sep,
                tmp,
            )
            wall, cpu = wall + s.wall_s, cpu + s.cpu_s
        series["separate"].samples.append(Sample(wall, cpu))
        if not args.quiet:
            print(
                f"separate {r + 1}/{args.separate_rounds}: {args.prompts} commands in {wall:.1f} s",
                file=sys.stderr,
            )
    elapsed = time.perf_counter() - t_start
    load_after = os.getloadavg()

    n = args.prompts
    batch_mps = n / med(series["batch"].wall())
    sep_mps = n / med(series["separate"].wall()) if series["separate"].samples else float("nan")
    summary = {
        "cold_over_base": med(ratios["cold_over_base"]),
        "warm_over_base": med(ratios["warm_over_base"]),
        "new_over_base": med(ratios["new_over_base"]),
        "cold_over_base_cpu": med(ratios["cold_over_base_cpu"]),
        "warm_over_base_cpu": med(ratios["warm_over_base_cpu"]),
        "new_over_base_cpu": med(ratios["new_over_base_cpu"]),
        "help_s": med(series["help"].wall()),
        "batch_motions_per_s": batch_mps,
        "separate_motions_per_s": sep_mps,
        "batch_speedup": batch_mps / sep_mps if series["separate"].samples else float("nan"),
    }
    return {
        "runs": args.runs,
        "separate_rounds": args.separate_rounds,
        "prompts": n,
        "moscale": shown(ms),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "omp_num_threads": env.get("OMP_NUM_THREADS"),
        "bytecode": "as the environment says" if args.as_is else "private PYTHONPYCACHEPREFIX, warmed up",
        "load_before": list(load_before),
        "load_after": list(load_after),
        "elapsed_s": elapsed,
        "series": {
            k: {**asdict(v), "wall_median_s": med(v.wall()), "cpu_median_s": med(v.cpu())}
            for k, v in series.items()
        },
        "ratios_per_round": ratios,
        "summary": summary,
        "aims": AIMS,
    }


def table(res: dict) -> str:
    s = res["summary"]
    lines = [
        f"moscale start-up ({res['runs']} rounds, {res['cpus']} CPUs, python {res['python']}, "
        f"OMP_NUM_THREADS={res['omp_num_threads'] or 'unset'}, bytecode: {res['bytecode']})",
        "load average before: {:.2f} {:.2f} {:.2f}, after: {:.2f} {:.2f} {:.2f}".format(
            *res["load_before"], *res["load_after"]
        ),
        "",
        "| run | wall median | wall min | wall max | CPU median | n | command |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for k, v in res["series"].items():
        walls = [x["wall_s"] for x in v["samples"]]
        if not walls:
            continue
        lines.append(
            f"| {k} | {v['wall_median_s']:.3f} s | {min(walls):.3f} s | {max(walls):.3f} s | "
            f"{v['cpu_median_s']:.3f} s | {len(walls)} | `{v['command']}` |"
        )
    a = res["aims"]

    def mark(ok: bool) -> str:
        return "yes" if ok else "NO"

    lines += [
        "",
        "| ratio | value | aim | met |",
        "| --- | ---: | ---: | :---: |",
        f"| warm generate / import (wall, median of per-round ratios) | {s['warm_over_base']:.2f}x | "
        f"<= {a['warm_over_base']}x | {mark(s['warm_over_base'] <= a['warm_over_base'])} |",
        f"| new-prompt generate / import (wall) | {s['new_over_base']:.2f}x | <= {a['new_over_base']}x | "
        f"{mark(s['new_over_base'] <= a['new_over_base'])} |",
        f"| cold generate (empty cache folder) / import (wall) | {s['cold_over_base']:.2f}x | | |",
        f"| warm generate / import (CPU) | {s['warm_over_base_cpu']:.2f}x | | |",
        f"| new-prompt generate / import (CPU) | {s['new_over_base_cpu']:.2f}x | | |",
        f"| cold generate / import (CPU) | {s['cold_over_base_cpu']:.2f}x | | |",
        f"| moscale --help (wall median) | {s['help_s']:.3f} s | <= {a['help_s']} s | {mark(s['help_s'] <= a['help_s'])} |",
    ]
    if res["series"]["separate"]["samples"]:
        lines.append(
            f"| --prompts batch vs {res['prompts']} separate commands (motions/s) | {s['batch_speedup']:.1f}x "
            f"({s['batch_motions_per_s']:.2f} vs {s['separate_motions_per_s']:.3f}) | >= {a['batch_speedup']}x | "
            f"{mark(s['batch_speedup'] >= a['batch_speedup'])} |"
        )
    else:
        lines.append(
            f"| --prompts batch (motions/s) | {s['batch_motions_per_s']:.2f} | (separate commands skipped) | |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--runs", type=int, default=5, help="rounds of base/cold/warm/help/batch (median reported)"
    )
    ap.add_argument(
        "--prompts", type=int, default=32, help="prompts in the --prompts file and separate commands"
    )
    ap.add_argument(
        "--separate-rounds", type=int, default=1, help="times the N separate commands are run (0 = skip)"
    )
    ap.add_argument(
        "--model", default=None, help="model directory or hub id (default: the installed default model)"
    )
    ap.add_argument(
        "--threads", type=int, default=None, help="OMP_NUM_THREADS for the commands (default: inherited)"
    )
    ap.add_argument("--as-is", action="store_true", help="keep the environment's bytecode settings")
    ap.add_argument(
        "--json", default=None, metavar="FILE", help="also write the results as JSON ('-' = stdout only)"
    )
    ap.add_argument("--quiet", action="store_true", help="no per-round lines on stderr")
    args = ap.parse_args(argv)
    if args.runs < 1 or args.prompts < 1 or args.separate_rounds < 0:
        ap.error("--runs and --prompts must be at least 1, --separate-rounds at least 0")
    tmp = Path(tempfile.mkdtemp(prefix="bench_startup_"))
    try:
        res = measure(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json == "-":
        print(json.dumps(res, indent=2))
        return 0
    print(table(res))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
