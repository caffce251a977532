"""End to end on a tiny dataset: train-tokenizer -> train (generator + length) -> model dir -> generate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

CAPTIONS = ["a person walks forward", "someone jumps up", "a man waves his hand", "a person turns around"]


@pytest.fixture(scope="module")
def varied_dataset(hml_fixture_dir: Path, tmp_path_factory) -> Path:
    """12 windows of the fixture clip with different lengths (40..128 frames) and captions, train + val."""
    root = tmp_path_factory.mktemp("varied")
    feats = np.load(hml_fixture_dir / "new_joint_vecs" / "012314.npy").astype(np.float32)
    (root / "new_joint_vecs").mkdir()
    (root / "texts").mkdir()
    names = []
    for i in range(12):
        length = 40 + 8 * i
        start = (7 * i) % max(1, feats.shape[0] - length)
        name = f"c{i:03d}"
        np.save(root / "new_joint_vecs" / f"{name}.npy", feats[start : start + length])
        cap = CAPTIONS[i % len(CAPTIONS)]
        (root / "texts" / f"{name}.txt").write_text(f"{cap}#x/NOUN#0.0#0.0\n{cap} slowly#x/NOUN#0.0#0.0\n")
        names.append(name)
    (root / "train.txt").write_text("\n".join(names) + "\n")
    (root / "val.txt").write_text("\n".join(names[:4]) + "\n")
    for f in ("Mean.npy", "Std.npy"):
        shutil.copy(hml_fixture_dir / f, root / f)
    return root


@pytest.fixture(scope="module")
def tokenizer_run(varied_dataset: Path, tmp_path_factory) -> Path:
    from moscale_cli.training.loop import TrainConfig
    from moscale_cli.training.tokenizer_stage import TokenizerStageConfig, train_tokenizer
    from moscale_cli.utils.console import STATE

    out = tmp_path_factory.mktemp("tok") / "run"
    was, STATE.quiet = STATE.quiet, True
    try:
        cfg = TrainConfig(steps=2, batch_size=4, lr=1e-3, warmup=0, device="cpu", seed=0, val_every=2, save_every=2)
        train_tokenizer([str(varied_dataset)], str(out), "tiny", cfg, TokenizerStageConfig(val_max_items=4))
    finally:
        STATE.quiet = was
    return out


@pytest.mark.slow
def test_train_exports_model_dir_usable_by_generate(varied_dataset, tokenizer_run, run_cli, tmp_path):
    run = tmp_path / "gen"
    cache = tmp_path / "cache"
    args = ["train", "--data", varied_dataset, "--tokenizer", tokenizer_run, "--out", run, "--preset", "tiny",
            "--steps", 3, "--batch-size", 4, "--device", "cpu", "--val-every", 3, "--save-every", 3,
            "--length-epochs", 2, "--text-tokens", 16, "--text-cache", cache, "--seed", 1]
    code, out, err = run_cli(*args)
    assert code == 0, err
    model = run / "model"
    for f in ("config.json", "tokenizer.safetensors", "generator.safetensors", "length.safetensors", "stats.safetensors", "README.md"):
        assert (model / f).is_file(), f
    cfg = json.loads((model / "config.json").read_text())
    assert cfg["text_encoder"]["max_tokens"] == 16 and cfg["generator"]["text_len"] == 16
    assert cfg["training"]["train_items"] == 12 and "val_loss" in cfg["metrics"] and "length_val_acc" in cfg["metrics"]
    assert list(cache.rglob("captions-*.safetensors"))
    # the model's statistics are the tokenizer run's
    from moscale_cli.model_dir import load_model_dir
    from moscale_cli.motion.normalize import Normalizer

    lm = load_model_dir(model)
    ref = Normalizer.from_dir(tokenizer_run)
    assert np.array_equal(lm.normalizer.mean, ref.mean) and np.array_equal(lm.normalizer.std, ref.std)

    # a chosen checkpoint exported as a model directory of its own
    import torch
    from safetensors.torch import load_file

    from moscale_cli.training.train_model import export_checkpoint

    exp = export_checkpoint(run, "checkpoint-00000003", tmp_path / "chosen", metrics={"program_all_correct": 0.1})
    chosen = load_model_dir(exp)
    ck = load_file(str(run / "checkpoint-00000003" / "model.safetensors"))
    assert all(torch.equal(chosen.generator.state_dict()[k], v) for k, v in ck.items())
    assert chosen.config["training"]["checkpoint"] == "checkpoint-00000003"
    assert chosen.config["metrics"]["program_all_correct"] == 0.1 and "val_loss" not in chosen.config["metrics"]

    o = tmp_path / "m.npy"
    code, _, err = run_cli("generate", "a person walks forward", "-o", o, "--model", model, "--refine-steps", "1,1,1,1")
    assert code == 0, err
    assert np.load(o).shape[1:] == (22, 3)

    # resuming a finished run is a no-op that keeps the model directory
    code, _, err = run_cli(*args, "--resume")
    assert code == 0, err
    # a second train into the same run without --resume is refused
    code, _, err = run_cli(*args)
    assert code != 0 and "--resume" in err

    # train-length on the train run replaces the model's length estimator
    before = (model / "length.safetensors").read_bytes()
    code, _, err = run_cli("train-length", "--data", varied_dataset, "--out", run, "--epochs", 3, "--batch-size", 8,
                           "--device", "cpu", "--text-cache", cache, "--seed", 5)
    assert code == 0, err
    assert (run / "length-1" / "length.safetensors").is_file()
    assert (model / "length.safetensors").read_bytes() != before
    assert load_model_dir(model).length is not None


def test_train_length_alone(varied_dataset, run_cli, tmp_path):
    from moscale_cli.training.length_stage import load_length_run

    run = tmp_path / "len"
    code, _, err = run_cli("train-length", "--data", varied_dataset, "--out", run, "--epochs", 2, "--batch-size", 8,
                           "--device", "cpu", "--text-tokens", 16, "--text-cache", tmp_path / "cache")
    assert code == 0, err
    m = load_length_run(run)
    assert m.cfg.num_classes == 40 and m.cfg.text_dim == 384


@pytest.mark.slow
def test_next_token_model_directory_round_trip(varied_dataset, tokenizer_run, run_cli, tmp_path):
    """`train --arch next-token` exports a model directory that load_model_dir builds as the next-token
    baseline, and generate, eval and bench all run on it."""
    import torch

    from moscale_cli.evaluation.evaluators import save_our_evaluator
    from moscale_cli.model_dir import load_model_dir
    from moscale_cli.models.evaluator import EvaluatorConfig, MoScaleEvaluator
    from moscale_cli.models.next_token import NextTokenTransformer
    from moscale_cli.motion.normalize import evaluator_std

    run = tmp_path / "nt"
    code, _, err = run_cli("train", "--data", varied_dataset, "--tokenizer", tokenizer_run, "--out", run, "--arch",
                           "next-token", "--preset", "tiny", "--steps", 3, "--batch-size", 4, "--device", "cpu",
                           "--val-every", 3, "--save-every", 3, "--no-length", "--text-tokens", 16,
                           "--text-cache", tmp_path / "cache", "--seed", 1)
    assert code == 0, err
    model = run / "model"
    lm = load_model_dir(model)
    assert isinstance(lm.generator, NextTokenTransformer) and lm.config["generator"]["arch"] == "next-token"

    o = tmp_path / "nt.npy"
    code, _, err = run_cli("generate", "a person walks forward", "-o", o, "--model", model, "--frames", 48)
    assert code == 0, err
    assert np.load(o).shape == (48, 22, 3)
    # editing needs locked tokens, which a causal baseline cannot do: one line, no output
    code, _, err = run_cli("edit", o, "a person jumps", "--region", "10:30", "-o", tmp_path / "e.npy", "--model", model)
    assert code != 0 and "next-scale" in err and not (tmp_path / "e.npy").exists()

    ev = tmp_path / "evaluator"
    torch.manual_seed(0)
    cfg = EvaluatorConfig.preset("tiny", text_encoder="sentence-transformers/all-MiniLM-L6-v2", text_max_tokens=16)
    ev.mkdir()
    save_our_evaluator(ev, MoScaleEvaluator(cfg), np.load(varied_dataset / "Mean.npy"),
                       evaluator_std(np.load(varied_dataset / "Std.npy")))
    report = tmp_path / "report.json"
    code, out, err = run_cli("eval", "--model", model, "--data", varied_dataset, "--evaluator", ev, "--split", "val",
                             "--batch-size", 4, "--replications", 1, "--mm-texts", 0, "--device", "cpu", "--out", report)
    assert code == 0, err
    res = json.loads(report.read_text())
    assert res["config"]["sampling"]["cfg"] == 5.0 and res["model"]
    assert set(res["results"]) == {"real", "model"} and "fid" in res["results"]["model"]

    code, out, err = run_cli("bench", "--model", model, "--device", "cpu", "--sections", "latency", "--repeats", 1,
                             "--warmup", 0, "--batch", 1)
    assert code == 0, err
    assert "next-token, KV cache" in out


def test_runs_share_the_caption_cache(varied_dataset, run_cli, tmp_path, monkeypatch):
    """Caption embeddings are cached once per (encoder weights, data) under MOSCALE_CACHE and read by every
    later run folder: the second run encodes nothing and rewrites nothing."""
    from moscale_cli.text.encoder import TextEncoder

    monkeypatch.setenv("MOSCALE_CACHE", str(tmp_path / "mc"))
    encoded: list[str] = []
    real = TextEncoder._compute

    def counting(self, prompts, batch_size):
        encoded.extend(prompts)
        return real(self, prompts, batch_size)

    monkeypatch.setattr(TextEncoder, "_compute", counting)
    args = ["--data", varied_dataset, "--epochs", 1, "--batch-size", 8, "--device", "cpu", "--text-tokens", 16]
    code, _, err = run_cli("train-length", "--out", tmp_path / "a", *args)
    assert code == 0, err
    (cached,) = list((tmp_path / "mc" / "captions").rglob("captions-*.safetensors"))
    assert len(set(encoded)) == 8  # the 4 captions and their "slowly" variants
    stamp = cached.stat().st_mtime_ns
    encoded.clear()
    code, _, err = run_cli("train-length", "--out", tmp_path / "b", *args)
    assert code == 0, err
    assert encoded == [] and cached.stat().st_mtime_ns == stamp
    assert not (tmp_path / "a" / "text_cache").exists() and not (tmp_path / "b" / "text_cache").exists()


def test_length_budget_follows_the_run():
    from moscale_cli.training.loop import TrainConfig
    from moscale_cli.training.train_model import default_length_train_config, length_run_config, run_fraction

    assert run_fraction(TrainConfig(steps=50), per_epoch=100, full_epochs=120) == 50 / 12000
    assert run_fraction(TrainConfig(epochs=60), per_epoch=100, full_epochs=120) == 0.5
    assert run_fraction(TrainConfig(epochs=240), per_epoch=100, full_epochs=120) == 1.0  # never more than a full run
    base = default_length_train_config("cpu", 0)
    assert (base.epochs, base.steps, base.warmup, base.batch_size) == (30, 0, 100, 128)
    # a full run on a large set keeps the reference budget (30 epochs of 263 batches = 7,890 steps)
    assert length_run_config(base, 33664, 1.0) == base
    # a 50-step generator run of a full 12,000: the same share of the length estimator's 7,890 steps
    short = length_run_config(base, 33664, 50 / 12000)
    assert (short.steps, short.warmup) == (33, 3)
    # a set smaller than a batch: one batch per epoch, the warm-up at most a tenth of the run
    tiny = length_run_config(base, 50, 1.0)
    assert (tiny.batch_size, tiny.epochs, tiny.warmup) == (50, 30, 3)
    explicit = length_run_config(default_length_train_config("cpu", 0, steps=400), 33664, 1.0)
    assert (explicit.steps, explicit.warmup) == (400, 40)


def test_length_budget_flags(run_cli, tmp_path):
    (tmp_path / "d").mkdir()
    base = ["train", "--data", tmp_path / "d", "--tokenizer", tmp_path / "d", "--out", tmp_path / "r"]
    code, _, err = run_cli(*base, "--length-steps", 5, "--length-epochs", 3)
    assert code == 2 and "either --length-steps or --length-epochs" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(*base, "--length-steps", 0)
    assert code == 2 and "at least 1" in err
    code, out, err = run_cli(*base, "--threads", 2, "--print-config")
    assert code == 0, err
    assert json.loads(out)["train"]["threads"] == 2


def test_length_estimator_is_a_function_of_its_seed(varied_dataset, run_cli, tmp_path):
    """Two runs with the same seed give the same estimator, whatever ran before in the process (its initial
    weights used to come from the global random state left by earlier work)."""
    from safetensors.torch import load_file

    args = ["--data", varied_dataset, "--epochs", 1, "--batch-size", 8, "--device", "cpu", "--text-tokens", 16,
            "--text-cache", tmp_path / "cache", "--seed", 3]
    code, _, err = run_cli("train-length", "--out", tmp_path / "a", *args)
    assert code == 0, err
    import torch

    torch.rand(7)  # other work in between moves the global random state
    code, _, err = run_cli("train-length", "--out", tmp_path / "b", *args)
    assert code == 0, err
    a, b = (load_file(str(tmp_path / r / "length.safetensors")) for r in ("a", "b"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
