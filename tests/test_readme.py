"""Every command line of README.md runs, in order, in an empty folder, against small data.

How it works (and what to do when the README changes):

- Every line of every ```bash block (continuations joined, ``#`` comments dropped, ``a && b`` split into its
  commands) and every ```python block is collected in README order.
- A command listed in :data:`SKIP` (matched by its start) is not run; its reason says why (a GPU, HumanML3D or the
  official evaluator, the network, hours of training). Every other command runs as written, after the generic
  substitutions of :data:`SUBSTITUTIONS` (small data: ``--clips 40``, two training steps, one replication...) and
  the extra arguments of :data:`EXTRA_ARGS` (per command: what makes it short without changing what it does).
- The files a README line takes as input without making them (``clip.bvh``, ``mixamo.bvh``, ``prompts.txt``,
  a BVH folder to import, ...) are written first by :func:`write_inputs`, from synthetic motion and the test
  rigs of ``tests/motion/families.py``.
- A line that reads a training output (``runs/...``, ``cmp_next-token/...``) runs after the lines that write
  it (the README shows how to use a model before how to train one).

So a new README line runs by default. If it cannot run here, either make it runnable (an input in
``write_inputs``, a substitution or an extra argument) or list it in SKIP with the reason. Lines run in-process
through the CLI's entry point (``moscale`` + the line's arguments; ``python examples/X.py`` as a script).
"""

from __future__ import annotations

import io
import json
import re
import runpy
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

# command prefix -> why it does not run in this test
SKIP: dict[str, str] = {
    "pip install": "installs packages (the environment running this test already has them)",
    "python -m pytest": "the test suite itself",
    "torchrun": "needs several GPUs (DDP); '...' stands for the other arguments",
    "moscale train-tokenizer --data HumanML3D": "needs HumanML3D and the official evaluator's statistics",
    "moscale train --data HumanML3D": "needs HumanML3D (the reference recipe: days on a GPU)",
    "moscale eval --model runs/gen/model --data HumanML3D": "needs HumanML3D and the official T2M evaluator",
    "python examples/train_default.py": "trains the default model: hours on a CPU",
    "moscale data import-bvh ../shared/data/bandai-namco-motion-2.tar.gz": "the line above with the archive of "
    "../shared (2,902 files, minutes); the archive import is tested in tests/data",
}

# generic substitutions (regex -> replacement), applied to every command that runs: small data, short runs
SUBSTITUTIONS: list[tuple[str, str]] = [
    (r"--clips \d+", "--clips 40"),  # a 40-clip procedural corpus
    (r"--steps \d+", "--steps 2"),  # two optimiser steps
    (r"--epochs \d+", "--epochs 1"),
    (r"--replications \d+", "--replications 1"),
    (r"--mm-texts \d+", "--mm-texts 2"),
    (r"--batch-size \d+", "--batch-size 8"),
    (r"--warmup \d+", "--warmup 1"),
    (r"--batch 32\b", "--batch 2"),
    (r"runs/(default|v3)/datasets/merged", "datasets/merged"),  # the default models' corpora: the README's own merge
    (r"--data merged\b", "--data datasets/merged"),  # the comparison's short names for the same folders
    (r"--tokenizer tok\b", "--tokenizer runs/tok"),
    (r"--evaluator evaluator\b", "--evaluator runs/eval"),
]

# command prefix -> arguments added when the command does not already give that option
EXTRA_ARGS: dict[str, list[str]] = {
    "moscale train ": ["--preset", "tiny", "--steps", "2", "--batch-size", "8"],
    "moscale train-tokenizer": ["--preset", "tiny", "--steps", "2", "--batch-size", "8"],
    "moscale train-evaluator": ["--preset", "tiny", "--epochs", "1", "--batch-size", "8"],
    "moscale train-length": ["--epochs", "1", "--batch-size", "8"],
    "moscale eval": ["--replications", "1", "--mm-texts", "2", "--mm-samples", "10", "--max-clips", "4",
                     "--refine-steps", "1,1,1,1"],
    "moscale bench": ["--sections", "latency", "--repeats", "1", "--warmup", "0", "--no-next-token", "--batch", "2"],
}

# training outputs: a line that reads one of these runs after the line that writes it
OUTPUT_PREFIXES = ("runs/", "cmp_next-token")


@dataclass
class Line:
    lang: str  # "bash" or "python"
    text: str  # the command as written (python: the whole block)
    number: int  # line number in README.md


def readme_commands(text: str) -> list[Line]:
    """The README's commands in order: bash lines (continuations joined, comments dropped, ``&&`` split) and
    python blocks."""
    out: list[Line] = []
    for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
        lang, body = m.group(1), m.group(2)
        first = text[: m.start()].count("\n") + 2
        if lang == "python":
            out.append(Line("python", body, first))
            continue
        if lang not in ("bash", "sh", "shell", ""):
            continue
        for k, raw in enumerate(re.sub(r"\\\n\s*", " ", body).split("\n")):
            words = shlex.split(raw, comments=True)
            if not words:
                continue
            cmd: list[str] = []
            for w in [*words, "&&"]:
                if w == "&&":
                    if cmd:  # (a pipe stays a pipe: `cat FILE | CMD`)
                        out.append(Line("bash", " ".join(w if w == "|" else shlex.quote(w) for w in cmd), first + k))
                    cmd = []
                else:
                    cmd.append(w)
    return out


def skip_reason(cmd: str) -> str | None:
    return next((why for start, why in SKIP.items() if cmd.startswith(start)), None)


def prepare(cmd: str) -> list[str]:
    """The command's words after the substitutions and the extra arguments."""
    for pat, rep in SUBSTITUTIONS:
        cmd = re.sub(pat, rep, cmd)
    words = shlex.split(cmd)
    for start, extra in EXTRA_ARGS.items():
        if (cmd + " ").startswith(start):
            i = 0
            while i < len(extra):
                opt = extra[i]
                takes = i + 1 < len(extra) and not extra[i + 1].startswith("--")
                if opt not in words:
                    words += extra[i : i + 1 + takes]
                i += 1 + takes
    return words


def _order(lines: list[Line]) -> list[Line]:
    """README order, except that a line reading a training output runs after every line that writes one."""

    def writes(ln: Line) -> bool:
        w = shlex.split(ln.text) if ln.lang == "bash" else []
        return any(a == "--out" and i + 1 < len(w) and w[i + 1].startswith(OUTPUT_PREFIXES) for i, a in enumerate(w))

    def reads(ln: Line) -> bool:
        return not writes(ln) and any(p in ln.text for p in OUTPUT_PREFIXES)

    return [ln for ln in lines if not reads(ln)] + [ln for ln in lines if reads(ln)]


# ------------------------------------------------------------------------------------------- the inputs
def write_inputs(folder: Path, families) -> None:
    """The files README lines read without making them: motions, rigs, a mapping, a prompt file, a BVH folder."""
    from moscale_cli.io.files import save_motion

    walk = families.walk
    save_motion(folder / "clip.bvh", walk(120))  # 6 s: regions 2s:4s fit
    np.save(folder / "source.npy", walk(160).astype(np.float32))  # joints; regions up to 140, extended to 196
    mask = np.zeros(160, dtype=bool)
    mask[60:100] = True
    np.save(folder / "mask.npy", mask)
    np.save(folder / "a.npy", walk(60).astype(np.float32))
    np.save(folder / "b.npy", walk(60).astype(np.float32))
    np.save(folder / "motion.npy", walk(80).astype(np.float32))
    save_motion(folder / "motion.bvh", walk(80))
    for name, family in (("mixamo", "mixamo"), ("ue_mannequin", "ue_mannequin"), ("my_character", "collar"),
                         ("my_rig", "daz")):
        families.write_family(family, folder).rename(folder / f"{name}.bvh")
    families.write_family("daz", folder, frames=60).rename(folder / "other_rig.bvh")
    (folder / "mapping.json").write_text(json.dumps(families.FAMILIES["daz"]().mapping))
    (folder / "reach.json").write_text(json.dumps({"constraints": [
        {"joint": "right_wrist", "frames": [30], "positions": [[-0.3, 1.4, 0.35]]}]}))
    (folder / "prompts.txt").write_text("a person walks forward#80\nsomeone waves with the left hand#NA\n")
    bvh = folder / "path" / "to" / "bvh_folder"
    bvh.mkdir(parents=True)
    for k in range(6):
        motion = walk(90 + 10 * k) if k % 2 == 0 else families.squat_sway(90 + 10 * k)
        save_motion(bvh / f"clip{k}.bvh", motion)
        (bvh / f"clip{k}.txt").write_text("a person walks forward\n" if k % 2 == 0 else "a person squats and sways\n")


# ------------------------------------------------------------------------------------------- running
def run_line(line: Line, capsys) -> str | None:
    """Run one command; None when it succeeded, else what went wrong."""
    if line.lang == "python":
        try:
            exec(compile(line.text, f"README.md:{line.number}", "exec"), {"__name__": "__readme__"})
        except Exception as e:  # the report names the line
            return f"{type(e).__name__}: {e}"
        return None
    stdin = None
    if " | " in line.text:  # `cat FILE | CMD`: CMD with the file on its standard input
        left, right = line.text.split(" | ", 1)
        src = shlex.split(left)
        if src[0] != "cat" or len(src) != 2:
            return f"no way to run the pipe {left!r} in this test: add it to SKIP with the reason"
        stdin = Path(src[1]).read_text(encoding="utf-8")
        words = prepare(right)
    else:
        words = prepare(line.text)
    capsys.readouterr()
    code: int | str | None = 0
    old_stdin = sys.stdin
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        if words[0] == "moscale":
            from moscale_cli.cli.app import main

            main(["-q", *words[1:]])
        elif words[0] == "python" and len(words) > 1 and words[1].endswith(".py"):
            old = sys.argv
            sys.argv = words[1:]
            try:
                runpy.run_path(str(ROOT / words[1]), run_name="__main__")
            finally:
                sys.argv = old
        else:
            return f"no way to run {words[0]!r} in this test: add it to SKIP with the reason"
    except SystemExit as e:
        code = e.code
    finally:
        sys.stdin = old_stdin
    err = capsys.readouterr().err
    if code not in (0, None):
        return f"exit {code}: {err.strip().splitlines()[-1] if err.strip() else ''} (ran: {shlex.join(words)})"
    return None


def test_readme_commands_are_collected():
    lines = readme_commands(README.read_text(encoding="utf-8"))
    cmds = [ln.text for ln in lines if ln.lang == "bash"]
    assert any(c.startswith("moscale generate") for c in cmds) and any(ln.lang == "python" for ln in lines)
    # '&&' chains are split, comments dropped, continuations joined
    assert "moscale generate 'a person does two jumping jacks' -o out.bvh" in cmds
    assert not any("#" in c.split("'")[0] and c.strip().startswith("#") for c in cmds)
    for start in SKIP:  # no stale entries: every skip names a line the README has
        assert any(c.startswith(start) for c in cmds), f"SKIP entry {start!r} matches no README line"
    assert prepare("moscale data synth d --clips 8000 --seed 1") == ["moscale", "data", "synth", "d", "--clips", "40",
                                                                        "--seed", "1"]
    assert prepare("moscale train --data d --tokenizer t --out o --preset mini --steps 10000")[-6:] == [
        "--preset", "mini", "--steps", "2", "--batch-size", "8"]


@pytest.mark.slow
def test_every_readme_line_runs(tmp_path, monkeypatch, capsys, families):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MOSCALE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "100")
    write_inputs(tmp_path, families)
    lines = _order(readme_commands(README.read_text(encoding="utf-8")))
    failures, ran = [], 0
    for line in lines:
        if line.lang == "bash" and skip_reason(line.text):
            continue
        problem = run_line(line, capsys)
        ran += 1
        if problem:
            failures.append(f"README.md:{line.number}: {line.text.splitlines()[0][:100]}\n    {problem}")
    assert ran > 50
    assert not failures, "README lines that fail (make them runnable or list them in SKIP):\n" + "\n".join(failures)
