"""Bench library and `moscale bench` CLI (CPU, tiny preset, minimal repeats)."""

from __future__ import annotations

import json

import pytest
import torch

from moscale_cli.bench import BenchConfig, build_models, random_text, run_bench, time_fn
from moscale_cli.errors import ConfigError


def test_time_fn_times_each_repeat_after_the_warmup(monkeypatch):
    """A fake clock that each call advances by a known duration: the warm-up runs are not timed, every
    repeat is, and the median is the middle duration."""
    import moscale_cli.bench as bench

    clock = [0.0]
    durations = iter([128.0, 64.0, 0.5, 0.25, 0.375, 7.0])  # two warm-up runs, then four timed ones (exact in binary)
    monkeypatch.setattr(bench.time, "perf_counter", lambda: clock[0])

    def fn():
        clock[0] += next(durations)

    t = time_fn(fn, torch.device("cpu"), repeats=4, warmup=2)
    assert t.times_s == [0.5, 0.25, 0.375, 7.0]
    assert t.median_s == 0.4375  # the mean of the two middle values of an even count


def test_config_defaults_depend_on_device_and_bad_values_fail():
    cpu = BenchConfig(preset="tiny").resolved(torch.device("cpu"))
    gpu = BenchConfig(preset="tiny").resolved(torch.device("cuda"))
    assert (cpu.batch, cpu.fast_mode) == (8, "eager") and (gpu.batch, gpu.fast_mode) == (1024, "graphs")
    assert gpu.tokenizer_batch == 256 and gpu.generator_batch == 64
    assert BenchConfig(preset="tiny", batch=5).resolved(torch.device("cuda")).batch == 5
    assert BenchConfig(compile=True).resolved(torch.device("cpu")).fast_mode == "compile"
    assert cpu.threads == (1, 2) and BenchConfig(threads=(3,)).resolved(torch.device("cpu")).threads == (3,)
    assert gpu.threads == (torch.get_num_threads(),)
    for bad in (dict(preset="huge"), dict(sections=("latency", "nope")), dict(batch=0), dict(repeats=0),
                dict(threads=()), dict(threads=(0, 1))):
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
    res = run_bench(BenchConfig(preset="tiny", device="cpu", sections=("latency",), repeats=2, warmup=0, sampling=quick,
                                threads=(1,)))
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
              "--repeats", "1", "--warmup", "0", "--threads", "1", "--json", str(out)])
        code = 0
    except SystemExit as e:
        code = e.code or 0
    o, _ = capsys.readouterr()
    assert code == 0
    assert "train gen." in o and "samples/s" in o and "1 thread" in o
    res = json.loads(out.read_text())
    [row] = res["rows"]
    assert row["section"] == "train_generator" and row["batch"] == 8 and row["samples_per_s"] > 0
    assert row["threads"] == 1 and res["config"]["threads"] == [1]
    assert res["env"]["threads"] == torch.get_num_threads()  # restored afterwards


def test_run_bench_times_every_row_at_each_thread_count(monkeypatch):
    """Each section runs once per thread count, with torch set to that count, and its rows say which."""
    import moscale_cli.bench as bench

    before = torch.get_num_threads()
    seen = []

    def rows(cfg, device, log):  # stands in for the timed training step: records the thread count it ran with
        seen.append(torch.get_num_threads())
        return [{"section": "train_tokenizer", "variant": "AdamW step", "batch": 2, "median_s": 1.0, "times_s": [1.0],
                 "samples_per_s": 2.0, "peak_mib": None}]

    monkeypatch.setattr(bench, "train_tokenizer_rows", rows)
    res = run_bench(BenchConfig(preset="tiny", device="cpu", sections=("train_tokenizer",), threads=(1, 2)))
    assert seen == [1, 2] and [r["threads"] for r in res["rows"]] == [1, 2]
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(("args", "message"), [(["--preset", "huge"], "unknown preset 'huge'"),
                                              (["--threads", "1,x"], "--threads takes thread counts"),
                                              (["--threads", "0"], "threads must be one or more counts >= 1")])
def test_cli_bench_bad_values_are_one_line_errors(capsys, args, message):
    from moscale_cli.cli.app import main

    with pytest.raises(SystemExit) as e:
        main(["bench", "--device", "cpu", *args])
    assert e.value.code != 0
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
