"""Generator training objective (masking, loss, stage) and an overfit check through the sampler."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch

from moscale_cli.models.generator import MASK_ID, GeneratorConfig, MoScaleTransformer
from moscale_cli.models.tokenizer import MSTokenizer, TokenizerConfig
from moscale_cli.sampling.sampler import SamplingConfig, sample
from moscale_cli.training.generator_stage import (
    GeneratorStage,
    generator_param_groups,
    load_generator_run,
    mask_tokens,
    masked_token_loss,
)


@dataclass
class Text:
    tokens_BSE: torch.Tensor
    mask_BS: torch.Tensor


def clips(B: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 1, 196)
    freq = torch.rand(B, 1, 263, generator=g) * 6 + 1
    phase = torch.rand(B, 1, 263, generator=g) * 6.28
    feats = torch.sin(freq * t[None, :, None] * 6.28 + phase)
    lengths = torch.linspace(196, 60, B).long() // 4 * 4
    return feats, lengths


def ready_tokenizer(feats: torch.Tensor, lengths: torch.Tensor) -> MSTokenizer:
    torch.manual_seed(0)
    tok = MSTokenizer(TokenizerConfig.preset("tiny"))
    tok.train()
    tok(feats, lengths)  # initialises the codebook from the data
    return tok.eval()


def text_for(B: int, seed: int = 0) -> Text:
    g = torch.Generator().manual_seed(seed)
    n = torch.randint(4, 13, (B,), generator=g)
    return Text(torch.randn(B, 12, 384, generator=g), torch.arange(12)[None] < n[:, None])


def test_mask_tokens_statistics():
    g = torch.Generator().manual_seed(0)
    B, L, K = 3000, 91, 64
    labels = torch.randint(0, K, (B, L), generator=g)
    labels[:, 80:] = -1
    inp, masked = mask_tokens(labels, K, noise_max=0.0, generator=g)
    assert not masked[:, 80:].any() and (inp[:, 80:] == -1).all()
    assert torch.equal(inp[~masked], labels[~masked])  # without extra noise only masked positions change
    frac = masked[:, :80].float().mean()
    assert abs(frac - 2 / math.pi) < 0.02  # E[cos(pi u / 2)]
    m = inp[masked]
    assert abs((m == MASK_ID).float().mean() - 0.8) < 0.01
    kept = (m == labels[masked]).float().mean()
    assert abs(kept - (0.1 + 0.1 / K)) < 0.01
    inp2, masked2 = mask_tokens(labels, K, noise_max=0.1, generator=torch.Generator().manual_seed(1))
    changed = (inp2 != labels) & ~masked2
    assert changed.any() and not changed[:, 80:].any()
    assert changed.float().mean() < 0.1


def test_loss_backward_frozen_tokenizer_and_reproducibility():
    feats, lengths = clips(4)
    tok = ready_tokenizer(feats, lengths)
    cb = tok.codebook.clone()
    gen = MoScaleTransformer(GeneratorConfig.preset("tiny", tokenizer=tok))
    text = text_for(4)

    def run(seed, perturb=0.6):
        gen.zero_grad()
        return masked_token_loss(gen, tok, feats, lengths, text, perturb, 0.1,
                                 generator=torch.Generator().manual_seed(seed))

    gen.eval()  # no dropout: identical seeds give identical losses
    a, logs = run(0)
    b, _ = run(0)
    c, _ = run(1)
    a, b, c = float(a.detach()), float(b.detach()), float(c.detach())
    assert math.isfinite(a) and a == b and a != c
    assert set(logs) == {"acc", "acc_s0", "acc_s1", "acc_s2", "acc_s3"}
    assert float(run(0, perturb=0.0)[0].detach()) != a  # perturbation changes the contexts
    gen.train()
    loss, _ = run(2)
    loss.backward()
    assert all(p.grad is not None for n, p in gen.named_parameters() if n != "conditioner.cfg_uncond")
    assert torch.equal(tok.codebook, cb) and not tok.training
    groups = generator_param_groups(gen, 0.05)
    no_decay = {id(p) for p in groups[1]["params"]}
    assert id(gen.conditioner.cfg_uncond) in no_decay and id(gen.token_emb.weight) in no_decay
    assert id(gen.trunk.head.bias) in no_decay and id(gen.trunk.lvl_embed.weight) in no_decay and id(gen.pos_start) in no_decay
    assert id(gen.conditioner.pool.queries) in no_decay
    assert id(gen.trunk.head.weight) not in no_decay


def test_stage_with_trainer_exports_a_loadable_generator(tmp_path):
    from moscale_cli.data.dataset import collate
    from moscale_cli.training.loop import TrainConfig, Trainer

    feats, lengths = clips(4)
    tok = ready_tokenizer(feats, lengths)
    caps = [f"caption {i}" for i in range(4)]
    items = [{"feats": feats[i], "length": int(lengths[i]), "caption": caps[i], "tokens": "", "name": str(i)} for i in range(4)]
    table = dict(zip(caps, range(4), strict=True))
    text = text_for(4)

    def text_fn(captions):
        idx = torch.tensor([table[c] for c in captions])
        return Text(text.tokens_BSE[idx], text.mask_BS[idx])

    stage = GeneratorStage([], tok, GeneratorConfig.preset("tiny", tokenizer=tok), text_fn,
                           train_dataset=items, val_dataset=items, collate=collate)
    cfg = TrainConfig(steps=3, batch_size=2, lr=1e-3, device="cpu", log_every=1, val_every=3, save_every=3)
    Trainer(stage, cfg, tmp_path / "run").fit()
    loaded = load_generator_run(tmp_path / "run")
    for (n, p), q in zip(stage.model.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(p.cpu(), q), n


@pytest.mark.slow
def test_overfit_four_clips_regenerates_their_tokens():
    """A tiny generator trained on 4 captioned clips regenerates each clip's tokens from its caption
    (greedy, light guidance). Each step sees every clip 4 times with different masks (~30 s on one core)."""
    B, R = 4, 4
    feats, lengths = clips(B)
    tok = ready_tokenizer(feats, lengths)
    text = text_for(B, seed=3)
    torch.manual_seed(0)
    gen = MoScaleTransformer(GeneratorConfig.preset("tiny", tokenizer=tok, dropout=0.0))
    opt = torch.optim.AdamW(generator_param_groups(gen, 0.0), lr=3e-3, betas=(0.9, 0.98))
    with torch.no_grad():
        latent = tok.encode_latent(feats, lengths)
    rep = Text(text.tokens_BSE.repeat(R, 1, 1), text.mask_BS.repeat(R, 1))
    g = torch.Generator().manual_seed(0)
    steps = 200
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)  # settle at the end: a stable result
    for _ in range(steps):
        loss, _ = masked_token_loss(gen, tok, feats.repeat(R, 1, 1), lengths.repeat(R), rep, 0.6, 0.1, generator=g,
                                    latent=latent.repeat(R, 1, 1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(gen.parameters(), 2.0)
        opt.step()
        sched.step()
    gen.eval()
    labels = tok.encode(feats, lengths)
    out = sample(gen, tok, text, lengths, SamplingConfig(top_k=1, cfg=0.5), 0)
    hit = sum(int(((a == b) & (b >= 0)).sum()) for a, b in zip(out.ids, labels, strict=True))
    total = sum(int((b >= 0).sum()) for b in labels)
    print("regenerated token accuracy", hit / total)
    assert hit / total >= 0.9, hit / total
