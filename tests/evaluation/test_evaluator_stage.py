"""Our evaluator learns: InfoNCE training on a tiny corpus drives R-precision far above chance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from moscale_cli.evaluation.evaluators import load_evaluator
from moscale_cli.models.evaluator import EvaluatorConfig, MoScaleEvaluator, info_nce
from moscale_cli.training.evaluator_stage import (
    EvaluatorStage,
    EvaluatorStageConfig,
    make_text_fn,
    same_caption_matrix,
)

from .helpers import write_corpus


@pytest.fixture(scope="session")
def text_fn():
    return make_text_fn(None, 16, "cpu")


def test_info_nce_is_minimal_for_aligned_pairs():
    torch.manual_seed(0)
    x = torch.randn(8, 16)
    good, _ = info_nce(x, x, torch.tensor(0.05))
    bad, _ = info_nce(x, x[torch.randperm(8)], torch.tensor(0.05))
    assert good < 0.01 < bad
    # identical captions are not negatives: a duplicate pair does not raise the loss
    same = same_caption_matrix(["a", "b", "a", "c", "d", "e", "f", "g"])
    assert same[0, 2] and not same[0, 1]
    y = x.clone()
    y[2] = y[0]
    l_masked, _ = info_nce(y, y, torch.tensor(0.05), same)
    l_plain, _ = info_nce(y, y, torch.tensor(0.05))
    assert l_masked < l_plain


def test_embeddings_have_fixed_norm_and_co_embeddings_sort_by_length():
    cfg = EvaluatorConfig.preset("tiny", text_dim=12)
    m = MoScaleEvaluator(cfg).eval()
    B = 5
    tok, mask, pooled = torch.randn(B, 7, 12), torch.ones(B, 7, dtype=torch.bool), torch.randn(B, 12)
    mask[1, 3:] = False
    lens = torch.tensor([40, 80, 60, 196, 40])
    t, mo = m.get_co_embeddings(tok, mask, pooled, torch.randn(B, 196, 263), lens)
    assert t.shape == (B, 64) and mo.shape == (B, 64)
    torch.testing.assert_close(t.norm(dim=-1), torch.full((B,), cfg.embed_scale))
    tu = m.text_embeddings_unsorted(tok, mask, pooled)
    torch.testing.assert_close(t, tu[torch.tensor([3, 1, 2, 0, 4])])


@pytest.mark.slow
def test_evaluator_overfits_a_tiny_corpus(tmp_path, text_fn):
    from moscale_cli.training.loop import TrainConfig, Trainer

    root = write_corpus(tmp_path / "data", per_class=5)
    cfg = EvaluatorConfig.preset("tiny", text_dim=text_fn.dim, text_encoder=text_fn.encoder.name, text_max_tokens=16)
    torch.manual_seed(0)
    stage = EvaluatorStage([root], cfg, text_fn, EvaluatorStageConfig(val_split="val", val_batch_size=32), seed=0)
    before = stage.validate(stage.model.eval())
    steps = 80
    tcfg = TrainConfig(steps=steps, batch_size=32, lr=2e-3, device="cpu", val_every=steps, save_every=steps, warmup=10,
                       schedule="constant", log_every=50)
    res = Trainer(stage, tcfg, tmp_path / "run").fit()
    after = stage.validate(stage.model.eval())
    # 8 distinct captions per validation batch: chance is 1/8 at top-1
    assert before["top1"] <= 0.5
    assert after["top1"] >= 0.85 and after["top3"] == 1.0, (before, after)
    assert res["best"] == pytest.approx(after["top3"])
    # the exported run loads as an evaluator and reproduces the embeddings
    b = load_evaluator(str(tmp_path / "run"))
    assert b.kind == "moscale" and b.feature_dim == 263 and b.text_encoder_name == text_fn.encoder.name
    np.testing.assert_allclose(b.mean, stage.normalizer.mean)
    x = torch.randn(2, 196, 263)
    lens = torch.tensor([80, 40])
    torch.testing.assert_close(b.model.motion_embeddings_unsorted(x, lens), stage.model.eval().motion_embeddings_unsorted(x, lens))


@pytest.mark.slow
def test_train_evaluator_command_exports_a_loadable_run(tmp_path, capsys):
    from moscale_cli.cli.app import main

    root = write_corpus(tmp_path / "data", per_class=2)
    run = tmp_path / "run"
    try:
        main(["--quiet", "train-evaluator", "--data", str(root), "--out", str(run), "--preset", "tiny", "--steps", "4",
              "--batch-size", "8", "--device", "cpu", "--val-every", "2", "--text-max-tokens", "16"])
    except SystemExit as e:
        assert not e.code, capsys.readouterr().err
    for f in ("evaluator.safetensors", "evaluator_config.json", "stats.safetensors", "log.jsonl"):
        assert (run / f).is_file(), f
    b = load_evaluator(str(run))
    assert b.model.cfg.text_max_tokens == 16 and b.model.cfg.coemb_dim == 64
    # evaluator statistics: dataset mean, std with root and contact dims divided by 25
    from moscale_cli.motion.normalize import evaluator_std

    np.testing.assert_allclose(b.std, evaluator_std(np.load(root / "Std.npy")), rtol=1e-6)
