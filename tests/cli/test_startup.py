"""Start-up: what `moscale --help` and `moscale generate` import, the CPU-thread choice, batched prompt encoding.

The import checks run the real entry point in a fresh interpreter and read ``sys.modules`` at exit (no timing:
the timings are in benchmarks/bench_startup.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from moscale_cli.utils.device import auto_cpu_threads

FAST = ["--refine-steps", "1,1,1,1", "--device", "cpu"]
HEAVY = ("matplotlib", "scipy", "sentence_transformers", "transformers")

# runs the CLI in-process and writes the sorted module names to argv[1] when the interpreter exits
WRAPPER = """
import atexit, json, sys
out = sys.argv[1]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
from moscale_cli.cli.app import main
main(sys.argv[2:])
"""


def cli_modules(tmp_path: Path, *args: object) -> tuple[set[str], subprocess.CompletedProcess]:
    """(top-level packages imported, the finished process) of ``moscale ARGS`` in a fresh interpreter."""
    dump = tmp_path / "modules.json"
    proc = subprocess.run(
        [sys.executable, "-c", WRAPPER, str(dump), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    names = json.loads(dump.read_text())
    return {n.split(".")[0] for n in names}, proc


def test_help_imports_neither_torch_nor_heavy_packages(tmp_path):
    top, proc = cli_modules(tmp_path, "--help")
    assert "generate" in proc.stdout
    assert "moscale_cli" in top
    assert not {"torch", "numpy", "rich", *HEAVY} & top  # plain click help: rich is not needed either


@pytest.mark.slow
def test_generate_bvh_npy_imports_no_plotting_scipy_transformers_or_rich(cli_model_dir, tmp_path):
    outs = [tmp_path / "w.bvh", tmp_path / "w.npy"]
    top, proc = cli_modules(
        tmp_path,
        "-q",
        "generate",
        "a person walks forward",
        "--frames",
        40,
        "-o",
        outs[0],
        "-o",
        outs[1],
        "--model",
        cli_model_dir,
        *FAST,
    )
    assert proc.stdout.split() == [str(o) for o in outs]
    assert np.load(outs[1]).shape == (40, 22, 3)
    assert outs[0].read_text().startswith("HIERARCHY")
    assert {"torch", "numpy", "safetensors"} <= top  # the wrapper did see the whole run
    assert not {*HEAVY, "rich"} & top


@pytest.mark.slow
def test_mp4_output_imports_matplotlib_and_writes_a_video(cli_model_dir, tmp_path):
    out = tmp_path / "w.mp4"
    top, proc = cli_modules(
        tmp_path,
        "-q",
        "generate",
        "a person jumps",
        "--frames",
        40,
        "-o",
        out,
        "--model",
        cli_model_dir,
        *FAST,
    )
    assert proc.stdout.split() == [str(out)]
    assert "matplotlib" in top
    head = out.read_bytes()[:12]
    assert head[4:8] == b"ftyp"  # an ISO media file


def test_prompt_file_text_is_encoded_in_one_batch(cli_model_dir, run_cli, tmp_path, monkeypatch):
    from moscale_cli.text.factory import clear_text_encoders, get_text_encoder
    from moscale_cli.text.light import LightBertBackend

    monkeypatch.setenv("MOSCALE_CACHE", str(tmp_path / "cache"))  # cold prompt cache
    clear_text_encoders()
    calls: list[list[str]] = []
    forward = LightBertBackend.forward

    def counting(self, texts, max_tokens):
        calls.append(list(texts))
        return forward(self, texts, max_tokens)

    monkeypatch.setattr(LightBertBackend, "forward", counting)
    prompts = [f"a person walks {k} steps" for k in range(6)] + ["a person walks 0 steps"]  # one repeated
    pf = tmp_path / "p.txt"
    pf.write_text("".join(f"{p}#40\n" for p in prompts))
    try:
        code, out, err = run_cli(
            "generate",
            "--prompts",
            pf,
            "-o",
            tmp_path / "p.npy",
            "--batch-size",
            2,
            "--model",
            cli_model_dir,
            *FAST,
        )
        assert code == 0, err
        assert get_text_encoder(None, 32, "cpu").backend == "light"
        assert calls == [list(dict.fromkeys(prompts))]  # every distinct prompt, one forward
        assert len(out.split()) == len(prompts)
        calls.clear()
        code, _, err = run_cli(
            "generate",
            "--prompts",
            pf,
            "-o",
            tmp_path / "q.npy",
            "--batch-size",
            2,
            "--model",
            cli_model_dir,
            *FAST,
        )
        assert code == 0, err
        assert calls == []  # all from the prompt cache, which gives the same features: the same motions
        for k in range(len(prompts)):
            assert np.array_equal(np.load(tmp_path / f"p_{k}.npy"), np.load(tmp_path / f"q_{k}.npy"))
    finally:
        clear_text_encoders()


@pytest.mark.parametrize(
    ("default", "cpus", "load", "env", "want"),
    [
        (2, 2, 3.0, {}, 1),  # busy 2-core machine: one thread
        (2, 2, 0.2, {}, 2),  # idle: torch's default
        (2, 2, 0.6, {}, 1),
        (8, 16, 2.0, {}, 8),  # never above torch's default
        (16, 16, 4.4, {}, 12),
        (4, 4, 40.0, {}, 1),  # never below one
        (4, 4, 3.0, {"OMP_NUM_THREADS": "4"}, None),  # the user's setting stays
        (4, 4, 3.0, {"MKL_NUM_THREADS": "2"}, None),
        (4, 4, 3.0, {"OMP_NUM_THREADS": " "}, 1),  # blank = not set
        (4, 4, None, {}, None),  # no load average (Windows)
    ],
)
def test_auto_cpu_threads(default, cpus, load, env, want):
    assert auto_cpu_threads(default, cpus, load, env) == want


def test_threads_option(cli_model_dir, run_cli, tmp_path):
    import torch

    def gen(threads: int):
        return run_cli("generate", "a jump", "-o", tmp_path / "t.npy", "--frames", 40, "--threads", threads,
                       "--model", cli_model_dir, *FAST)

    code, _, err = gen(0)
    assert code != 0 and "--threads must be at least 1" in err and len(err.strip().splitlines()) == 1
    code, _, err = gen(1)
    assert code == 0, err
    assert torch.get_num_threads() == 1  # (restored after the test by the conftest fixture)


def test_quiet_progress_draws_nothing_and_console_is_built_on_use(capsys):
    from moscale_cli.utils.console import STATE, LazyConsole, NullProgress, progress

    STATE.quiet = True
    with progress(transient=True) as bar:
        assert isinstance(bar, NullProgress)
        assert [bar.add_task("a", total=3), bar.add_task("b", total=1)] == [0, 1]
        bar.advance(0, 2)
        bar.update(1, completed=1)
    STATE.quiet = False
    with progress() as bar:
        assert not isinstance(bar, NullProgress)
    c = LazyConsole(stderr=True)
    assert "built=False" in repr(c)
    c.print("[bold]hello[/bold]")
    assert "built=True" in repr(c) and c.real is c.real
    assert capsys.readouterr().err.strip() == "hello"
