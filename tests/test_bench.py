"""Bench library and `moscale bench` CLI (CPU, tiny preset, minimal repeats)."""

from __future__ import annotations

import json

import pytest
import torch

from moscale_cli.bench import BenchConfig, build_models, random_text, run_bench, time_fn
from moscale_cli.errors import ConfigError


def test_time_fn_runs_warmup_and_repeats():
    calls = []
    t = time_fn(lambda: calls.append(1), torch.device("cpu"), repeats=3, warmup=2)
    assert len(calls) == 5 and len(t.times_s) == 3
    assert min(t.times_s) <= t.median_s <= max(t.times_s)


def test_config_defaults_depend_on_device_and_bad_values_fail():
    cpu = BenchConfig(preset="tiny").resolved(torch.device("cpu"))
    gpu = BenchConfig(preset="tiny").resolved(torch.device("cuda"))
    assert (cpu.batch, cpu.fast_mode) == (8, "eager") and (gpu.batch, gpu.fast_mode) == (1024, "graphs")
    assert gpu.tokenizer_batch == 256 and gpu.generator_batch == 64
    assert BenchConfig(preset="tiny", batch=5).resolved(torch.device("cuda")).batch == 5
    assert BenchConfig(compile=True).resolved(torch.device("cpu")).fast_mode == "compile"
    for bad in (dict(preset="huge"), dict(sections=("latency", "nope")), dict(batch=0), dict(repeats=0)):
        with pytest.raises(ConfigError):
            BenchConfig(**bad)


def test_models_and_text_have_the_expected_shapes():
    tok, gen = build_models("tiny", torch.device("cpu"))
    assert not gen.training and not tok.training
    assert gen.cfg.text_dim == 384 and list(gen.cfg.scale_lengths) == list(tok.scale_lengths)
    assert tok.codebook.std() > 0.5  # a random codebook, not zeros
    t = random_text(3, torch.device("cpu"))
    assert t.tokens_BSE.shape == (3, 20, 384) and t.mask_BS.all()


def test_run_bench_latency_rows_use_the_given_sampling():
    from moscale_cli.sampling.config import SamplingConfig

    quick = SamplingConfig(refine_steps=(1, 1, 1, 1), cfg=0.0)
    res = run_bench(BenchConfig(preset="tiny", device="cpu", sections=("latency",), repeats=2, warmup=0, sampling=quick))
    names = [r["variant"] for r in res["rows"]]
    assert names == ["plain, no cache", "plain, KV cache", "fast eager fp32", "next-token (KV)"]
    for r in res["rows"]:
        assert r["batch"] == 1 and len(r["times_s"]) == 2 and all(t > 0 for t in r["times_s"])
    assert tuple(res["config"]["sampling"]["refine_steps"]) == (1, 1, 1, 1) and res["config"]["sampling"]["cfg"] == 0.0
    assert res["params"]["generator"] > 0 and res["env"]["device"] == "cpu"
    json.dumps(res)


def test_cli_bench_writes_json(tmp_path, capsys):
    from moscale_cli.cli.app import main

    out = tmp_path / "bench.json"
    try:
        main(["--quiet", "bench", "--preset", "tiny", "--device", "cpu", "--sections", "train_generator",
              "--repeats", "1", "--warmup", "0", "--json", str(out)])
        code = 0
    except SystemExit as e:
        code = e.code or 0
    o, _ = capsys.readouterr()
    assert code == 0
    assert "train gen." in o and "samples/s" in o
    res = json.loads(out.read_text())
    [row] = res["rows"]
    assert row["section"] == "train_generator" and row["batch"] == 8 and row["samples_per_s"] > 0


def test_cli_bench_bad_preset_is_a_one_line_error(capsys):
    from moscale_cli.cli.app import main

    with pytest.raises(SystemExit) as e:
        main(["bench", "--preset", "huge", "--device", "cpu"])
    assert e.value.code != 0
    err = capsys.readouterr().err
    assert "unknown preset 'huge'" in err and "Traceback" not in err
