from __future__ import annotations

import hashlib

import pytest
import torch

from moscale_cli.errors import ConfigError
from moscale_cli.models.length import LengthConfig, LengthEstimator
from moscale_cli.text.encoder import TextFeatures
from moscale_cli.training.length_stage import LengthStage, collate_pairs, load_length_run


def fake_text_fn(dim: int = 16):
    def fn(captions):
        rows = []
        for c in captions:
            seed = int(hashlib.sha1(c.encode()).hexdigest()[:8], 16)
            rows.append(torch.randn(dim, generator=torch.Generator().manual_seed(seed)))
        pooled = torch.stack(rows)
        return TextFeatures(pooled[:, None, :], torch.ones(len(captions), 1, dtype=torch.bool), pooled)

    return fn


class Pairs(torch.utils.data.Dataset):
    def __init__(self, pairs):
        self.pairs = pairs

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, i):
        return self.pairs[i]


def test_config_classes_and_conversions():
    cfg = LengthConfig(text_dim=8)
    assert (cfg.min_tokens, cfg.max_tokens, cfg.num_classes) == (10, 49, 40)
    m = LengthEstimator(cfg)
    assert m(torch.randn(3, 8)).shape == (3, 40)
    frames = torch.tensor([40, 43, 44, 196, 199, 12, 300])
    cls = m.frames_to_class(frames)
    assert cls.tolist() == [0, 0, 1, 39, 39, 0, 39]
    assert m.class_to_frames(cls).tolist() == [40, 40, 44, 196, 196, 40, 196]
    with pytest.raises(ConfigError):
        LengthConfig(min_frames=100, max_frames=50)


def test_predict_is_seeded_and_in_range():
    torch.manual_seed(0)
    m = LengthEstimator(LengthConfig(text_dim=8)).eval()
    x = torch.randn(64, 8)
    a = m.predict(x, generator=torch.Generator().manual_seed(3))
    b = m.predict(x, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert int(a.min()) >= 40 and int(a.max()) <= 196 and bool((a % 4 == 0).all())
    mode = m.predict(x, sample=False)
    assert torch.equal(mode, m.class_to_frames(m(x).argmax(-1)))
    assert len(set(a.tolist())) > 1  # sampling, not the mode


def test_stage_overfits_tiny_data_with_trainer(tmp_path):
    from moscale_cli.training.loop import TrainConfig, Trainer

    pairs = [(f"caption number {i}", 40 + 16 * i) for i in range(8)]
    cfg = LengthConfig(text_dim=16, hidden=64, dropout=0.0)
    stage = LengthStage(cfg, Pairs(pairs), fake_text_fn(16), val_set=Pairs(pairs))
    tc = TrainConfig(steps=60, batch_size=8, lr=1e-2, warmup=0, schedule="constant", grad_clip=0.0,
                     val_every=60, save_every=60, device="cpu", seed=0, log_every=20)
    Trainer(stage, tc, tmp_path / "run").fit()
    res = stage.evaluate(stage.model.eval(), Pairs(pairs))
    assert res["acc"] == 1.0 and res["mae_frames"] == 0.0
    loaded = load_length_run(tmp_path / "run")
    b = collate_pairs(pairs)
    pooled = fake_text_fn(16)(b["captions"]).pooled_BE
    assert torch.equal(loaded.predict(pooled, sample=False), b["lengths"])


def test_length_targets_are_the_natural_lengths_of_a_procedural_corpus(tmp_path):
    """Corpus v3 draws a clip's length independently of its count: the estimator learns the natural length
    (room for the asked count), not the drawn one; a corpus without natural lengths keeps the clip lengths."""
    import json
    import shutil

    from moscale_cli.data.dataset import MotionDataset
    from moscale_cli.data.synth.corpus import build_corpus
    from moscale_cli.training.length_stage import LengthPairs, length_targets

    root = tmp_path / "c"
    build_corpus(root, 12, seed=4, workers=1)
    rows = {r["id"]: r for r in map(json.loads, (root / "labels.jsonl").read_text().splitlines())}
    ds = MotionDataset(str(root), split="all")
    targets = length_targets(ds)
    assert targets == [rows[e.key]["natural_frames"] for e in ds.entries]
    assert sum(t != e.length for t, e in zip(targets, ds.entries, strict=True)) >= 6  # not the drawn lengths
    pairs = LengthPairs(ds)
    assert len(pairs) == sum(len(e.captions) for e in ds.entries)
    assert {(c, n) for c, n in pairs.pairs} == {(c.caption, rows[e.key]["natural_frames"]) for e in ds.entries for c in e.captions}
    # without labels.jsonl (real capture), the clip's own length
    plain = tmp_path / "plain"
    shutil.copytree(root, plain)
    (plain / "labels.jsonl").unlink()
    ds2 = MotionDataset(str(plain), split="all")
    assert length_targets(ds2) == [e.length for e in ds2.entries]
