"""How far a text encoder carries words it was never trained on: held-out phrasings against their action.

Usage: python benchmarks/bench_text_encoder.py CORPUS [--text-encoder NAME] [--split val] [--clips 400]
       [--train-clips 4000] [--seed 0]

CORPUS is a folder written by `moscale data synth` (with `labels.jsonl`). Only one-action clips are used, so a
caption has one right answer. The encoder's pooled sentence vectors of the *training* phrasings of
``--train-clips`` clips of the train split fit three read-outs of the action: the nearest training caption,
a 10-nearest vote, and a small MLP. Each is then asked the action of the *held-out* phrasings (and, as a
check, of the training phrasings) of ``--clips`` clips of ``--split``. No generator is involved: the numbers
say how much of a paraphrase's meaning the encoder's vectors keep, which bounds what a generator conditioned
on them can do with words its training captions never used. Compare encoders before spending hours on a
training run (`--text-encoder` takes any sentence-transformers name or folder).
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

Pairs = list[tuple[str, str]]  # (caption, action)


def one_action_pairs(labels: Path, ids: Sequence[str], field: str, max_clips: int = 0) -> Pairs:
    """(caption, action) of the one-action clips among ``ids`` (the first ``max_clips`` of them in file order
    when > 0); ``field`` is "captions" or "heldout_captions"."""
    want = set(ids)
    out: Pairs = []
    n = 0
    with labels.open(encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r.get("id") in want and len(r.get("actions") or []) == 1:
                out += [(c, r["actions"][0]["action"]) for c in r.get(field) or []]
                n += 1
                if n == max_clips:
                    break
    return out


def probe(train_X: np.ndarray, train_y: Sequence[str], tests: dict[str, tuple[np.ndarray, Sequence[str]]],
          seed: int = 0, steps: int = 600) -> dict[str, dict[str, Any]]:
    """Action accuracy of three read-outs fitted on ``train_X`` (unit vectors, one row per caption) for every
    test set: ``nn1`` (nearest training caption), ``knn10`` (vote of the 10 nearest) and ``mlp``."""
    acts = sorted(set(train_y))
    col = {a: i for i, a in enumerate(acts)}
    ta = np.array(train_y)
    g = torch.Generator().manual_seed(seed)
    X = torch.tensor(train_X, dtype=torch.float32)
    y = torch.tensor([col[a] for a in train_y])
    torch.manual_seed(seed)
    mlp = torch.nn.Sequential(torch.nn.Dropout(0.2), torch.nn.Linear(X.shape[1], 512), torch.nn.GELU(),
                              torch.nn.Dropout(0.3), torch.nn.Linear(512, len(acts)))
    opt = torch.optim.AdamW(mlp.parameters(), 1e-3, weight_decay=1e-2)
    scale = 10.0  # unit vectors -> logits of a useful range
    for _ in range(steps):
        b = torch.randint(0, len(X), (min(512, len(X)),), generator=g)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(mlp(X[b] * scale), y[b]).backward()
        opt.step()
    mlp.eval()
    out: dict[str, dict[str, Any]] = {}
    for name, (E, want) in tests.items():
        sim = E @ train_X.T
        top = np.argsort(-sim, axis=1)[:, :10]
        nn1 = ta[top[:, 0]]
        vote = [Counter(ta[t].tolist()).most_common(1)[0][0] for t in top]
        with torch.no_grad():
            pred = mlp(torch.tensor(E, dtype=torch.float32) * scale).argmax(1).tolist()
        w = np.array(want)
        out[name] = {"n": float(len(w)), "nn1": float(np.mean(nn1 == w)), "knn10": float(np.mean(np.array(vote) == w)),
                     "mlp": float(np.mean(np.array([acts[p] for p in pred]) == w))}
        per: dict[str, list[bool]] = defaultdict(list)
        for p, a in zip(pred, want, strict=True):
            per[a].append(acts[p] == a)
        out[name]["per_action_mlp"] = {a: float(np.mean(v)) for a, v in sorted(per.items())}
    return out


def _embedder(name: str | None, threads: int) -> Callable[[list[str]], np.ndarray]:
    from moscale_cli.text.encoder import TextEncoder

    torch.set_num_threads(threads)
    enc = TextEncoder(name, device="cpu", max_tokens=64)

    def embed(caps: list[str]) -> np.ndarray:
        v = enc.encode(caps, warn=False, cache=False).pooled_BE.float()
        return torch.nn.functional.normalize(v, dim=-1).numpy()

    return embed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", help="a corpus folder written by `moscale data synth` (labels.jsonl, train.txt, ...)")
    ap.add_argument("--text-encoder", default=None, help="sentence-transformers name or folder (default: all-MiniLM-L6-v2)")
    ap.add_argument("--split", default="val", help="split whose held-out phrasings are asked (default val)")
    ap.add_argument("--clips", type=int, default=400, help="one-action clips of --split")
    ap.add_argument("--train-clips", type=int, default=4000, help="clips of the train split drawn (one-action ones kept)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    root = Path(args.corpus)
    labels = root / "labels.jsonl"
    for p in (labels, root / "train.txt", root / f"{args.split}.txt"):
        if not p.is_file():
            raise SystemExit(f"error: {p} not found (a corpus written by `moscale data synth` has it)")
    rng = random.Random(args.seed)
    train_ids = [s.strip() for s in (root / "train.txt").read_text().splitlines() if s.strip()]
    test_ids = [s.strip() for s in (root / f"{args.split}.txt").read_text().splitlines() if s.strip()]
    train = one_action_pairs(labels, rng.sample(train_ids, min(args.train_clips, len(train_ids))), "captions")
    held = one_action_pairs(labels, test_ids, "heldout_captions", args.clips)
    own = one_action_pairs(labels, test_ids, "captions", args.clips)
    keep = {a for _, a in held}
    if not train or not held:
        raise SystemExit("error: no one-action clips with held-out phrasings in this corpus")
    embed = _embedder(args.text_encoder, args.threads)
    res = probe(embed([c for c, _ in train]), [a for _, a in train],
                {"held-out phrasings": (embed([c for c, _ in held]), [a for _, a in held]),
                 "training phrasings": (embed([c for c, _ in own]), [a for _, a in own])}, seed=args.seed)
    print(f"encoder {args.text_encoder or 'all-MiniLM-L6-v2 (default)'}; fitted on {len(train)} training captions "
          f"of the train split; {len(keep)} actions")
    print(f"{'asked':20s} {'captions':>8s} {'nearest':>8s} {'10-vote':>8s} {'MLP':>6s}")
    for name, r in res.items():
        print(f"{name:20s} {int(r['n']):8d} {r['nn1']:8.3f} {r['knn10']:8.3f} {r['mlp']:6.3f}")
    per = res["held-out phrasings"]["per_action_mlp"]
    print("held-out phrasings, MLP, per action: " + ", ".join(f"{a} {v:.2f}" for a, v in per.items()))


if __name__ == "__main__":
    main()
