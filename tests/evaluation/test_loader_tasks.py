"""Evaluation loader (shuffle, drop_last, sentence-length order, evaluator stats), spaces and edit spans."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from moscale_cli.evaluation.evaluators import load_evaluator
from moscale_cli.evaluation.loader import EmbeddingRunner, EvalLoader, make_eval_dataset
from moscale_cli.evaluation.tasks import TaskRunner, edit_regions, keep_token_mask, load_model_handle

from .conftest import write_official_dir
from .helpers import CLASSES, build_our_evaluator_run, build_tiny_model_dir, write_corpus


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("ld")
    data = write_corpus(root / "data", per_class=5, eval_one_per_class=False)
    # vary the token counts so that sentence lengths differ inside batches
    for i, name in enumerate(sorted(p.stem for p in (data / "texts").glob("*.txt"))):
        cap, toks = CLASSES[int(name[:2])]
        extra = " ".join(["then/ADV", "slowly/ADV"] * (i % 4))
        (data / "texts" / f"{name}.txt").write_text(f"{cap}#{toks} {extra}#0.0#0.0\n")
    ev = build_our_evaluator_run(root / "ev", data)
    return root, data, ev


def test_loader_is_shuffled_drops_last_and_sorts_by_sentence_length(env):
    _, data, ev = env
    b = load_evaluator(str(ev))
    ds = make_eval_dataset(data, "test", b, seed=0)
    assert len(ds) == 40
    loader = EvalLoader(ds, batch_size=16, seed=3)
    batches = list(loader)
    assert len(batches) == len(loader) == 2 and all(len(x["lengths"]) == 16 for x in batches)  # 40 -> 2 full batches
    for x in batches:
        sl = x["sent_lens"].tolist()
        assert sl == sorted(sl, reverse=True) and len(set(sl)) > 1
    names = [n for x in batches for n in x["names"]]
    assert len(set(names)) == 32 and names != sorted(names)
    other_batches = list(EvalLoader(ds, batch_size=16, seed=4))
    other = [n for x in other_batches for n in x["names"]]
    assert other != names
    # each pass draws its own crops: the same clip gets different crops in different passes
    def crops(bs):
        return {n: (int(x["lengths"][i]), float(x["feats"][i, 0, 10])) for x in bs for i, n in enumerate(x["names"])}

    a, b2 = crops(batches), crops(other_batches)
    common = set(a) & set(b2)
    assert common and any(a[n] != b2[n] for n in common)
    assert crops(list(EvalLoader(ds, batch_size=16, seed=3))) == a  # and the same seed repeats them
    # lengths: multiples of 4, at most 196; padding is zero; values use the evaluator statistics
    x = batches[0]
    assert (x["lengths"] % 4 == 0).all() and (x["lengths"] <= 196).all()
    L = int(x["lengths"][0])
    assert torch.count_nonzero(x["feats"][0, L:]) == 0
    raw = np.load(data / "new_joint_vecs" / f"{x['names'][0]}.npy")
    clip = x["feats"][0, :L].numpy() * b.std + b.mean
    starts = [s for s in range(raw.shape[0] - L + 1) if np.allclose(raw[s : s + L], clip, atol=1e-4)]
    assert starts, "the item is not an evaluator-normalised crop of its clip"


def test_fewer_items_than_a_batch_is_an_error(env):
    _, data, ev = env
    ds = make_eval_dataset(data, "test", load_evaluator(str(ev)))
    with pytest.raises(Exception, match="fewer than one batch"):
        EvalLoader(ds, batch_size=64)


def test_model_space_round_trip_uses_both_statistics(env, tmp_path):
    _, data, ev = env
    b = load_evaluator(str(ev))
    handle = load_model_handle(build_tiny_model_dir(tmp_path / "m", data), torch.device("cpu"), need_generator=False)
    # give the model different statistics from the evaluator's
    from moscale_cli.motion.normalize import Normalizer

    rng = np.random.default_rng(0)
    handle.normalizer = Normalizer(rng.normal(size=263).astype(np.float32), rng.uniform(0.5, 2, 263).astype(np.float32))
    tr = TaskRunner("reconstruction", handle, b.normalizer)
    x = torch.randn(3, 196, 263)
    lengths = torch.tensor([196, 80, 40])
    m = tr.to_model_space(x)
    expected = (x.numpy() * b.std + b.mean - handle.normalizer.mean) / handle.normalizer.std
    np.testing.assert_allclose(m.numpy(), expected, rtol=1e-4, atol=1e-4)
    back = tr.to_eval_space(m, lengths)
    for i, L in enumerate(lengths.tolist()):
        np.testing.assert_allclose(back[i, :L].numpy(), x[i, :L].numpy(), rtol=1e-3, atol=1e-3)
        assert torch.count_nonzero(back[i, L:]) == 0


def test_edit_spans_follow_the_protocol():
    tl = torch.tensor([49, 20, 10])
    k = keep_token_mask("inbetween", tl, 49)
    assert k[0, :12].all() and not k[0, 12:37].any() and k[0, 37:49].all()
    assert k[1].tolist() == [True] * 5 + [False] * 10 + [True] * 5 + [False] * 29
    o = keep_token_mask("outpaint", tl, 49)
    assert o[1].tolist() == [False] * 5 + [True] * 10 + [False] * 34
    p = keep_token_mask("prefix", tl, 49)
    assert p[2].tolist() == [True] * 5 + [False] * 44
    s = keep_token_mask("suffix", tl, 49)
    assert s[0, 25:49].all() and not s[0, :25].any() and s[0].sum() == 24
    # the re-generated frame ranges: the complement of the kept tokens, in frames
    L = torch.tensor([196, 80, 40])
    assert edit_regions("inbetween", L, 4, 49) == [[(48, 148)], [(20, 60)], [(8, 32)]]
    assert edit_regions("outpaint", L, 4, 49)[1] == [(0, 20), (60, 80)]
    assert edit_regions("prefix", L, 4, 49)[2] == [(20, 40)]
    assert edit_regions("suffix", L, 4, 49)[0] == [(0, 100)]
    with pytest.raises(Exception, match="not an editing task"):
        keep_token_mask("t2m", tl, 49)


def test_edit_task_locks_source_tokens(env, tmp_path):
    _, data, ev = env
    b = load_evaluator(str(ev))
    handle = load_model_handle(build_tiny_model_dir(tmp_path / "m", data), torch.device("cpu"), need_generator=True)
    from moscale_cli.sampling.sampler import SamplingConfig, sample

    tr = TaskRunner("prefix", handle, b.normalizer, SamplingConfig(refine_steps=(1, 1, 1, 1)))
    batch = next(iter(EvalLoader(make_eval_dataset(data, "test", b), 8, seed=0)))
    lengths = batch["lengths"]
    gt = tr._gt_model_space(batch, lengths)
    spec = tr.edit_spec(gt, lengths)
    res = sample(handle.generator, handle.tokenizer, handle.text_fn(batch["captions"]), lengths, tr.sampling_cfg, 0, edit=spec)
    kept_any = False
    for ids, src, em in zip(res.ids, spec.locked_ids, spec.edit_mask, strict=True):
        locked = ~em & (src >= 0)
        kept_any |= bool(locked.any())
        assert torch.equal(ids[locked], src[locked])
    assert kept_any


def test_official_evaluator_embeds_batches(env, tmp_path):
    _, data, _ = env
    d = write_official_dir(tmp_path / "off")
    b = load_evaluator(f"official:{d}")
    b.mean, b.std = np.load(data / "Mean.npy"), np.load(data / "Std.npy")
    runner = EmbeddingRunner(b)
    batch = next(iter(EvalLoader(make_eval_dataset(data, "test", b), 8, seed=0)))
    t = runner.text_embeddings(batch)
    m = runner.motion_embeddings(batch["feats"], batch["lengths"])
    assert t.shape == (8, 512) and m.shape == (8, 512) and np.isfinite(t).all()
    # text embedding of a single item equals its row in the batch (packing handles the padding)
    one = {k: (v[:1] if torch.is_tensor(v) or isinstance(v, list) else v) for k, v in batch.items()}
    np.testing.assert_allclose(runner.text_embeddings(one)[0], t[0], rtol=1e-4, atol=1e-5)
