"""Procedural corpus captions: the phrasing banks (training and held-out phrasings per bank) and, for a corpus
folder, the words of its training captions (texts/) against those of its held-out captions (texts_heldout/).

Usage: python benchmarks/bench_phrasing.py [CORPUS] [--samples 20] [--seed 0]

Prints the number of phrasings per bank, the distinct words of each caption split (lower case, punctuation
removed), how many held-out words never occur in a training caption, the held-out phrasings found in
training captions (should be none), and a sample of captions of each split.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

import numpy as np


def _captions(folder: Path) -> list[str]:
    out = []
    for p in sorted(folder.glob("*.txt")):
        out += [ln.split("#", 1)[0] for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
    return out


def _words(caps: list[str]) -> Counter:
    c: Counter = Counter()
    for cap in caps:
        c.update(re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", cap.lower()))
    return c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", nargs="?", help="a corpus folder written by `moscale data synth`")
    ap.add_argument("--samples", type=int, default=20, help="captions of each split to print")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from moscale_cli.data.synth.language.action_banks import ACTION_BANKS
    from moscale_cli.data.synth.language.audit import entry_pattern, heldout_entries, normalize
    from moscale_cli.data.synth.language.word_banks import WORD_BANKS

    print(f"{'bank':24s} {'train':>5s} {'held-out':>8s}")
    totals = {"action": [0, 0], "other": [0, 0]}
    for kind, banks in (("action", ACTION_BANKS), ("other", WORD_BANKS)):
        for name, b in banks.items():
            print(f"{name:24s} {len(b.train):5d} {len(b.heldout):8d}")
            totals[kind][0] += len(b.train)
            totals[kind][1] += len(b.heldout)
    for kind, (tr, ho) in totals.items():
        what = f"{len(ACTION_BANKS)} action banks" if kind == "action" else f"{len(WORD_BANKS)} other banks"
        print(f"{what}: {tr} training + {ho} held-out phrasings ({ho / (tr + ho):.1%} held out)")
    if not args.corpus:
        return

    root = Path(args.corpus)
    train, held = _captions(root / "texts"), _captions(root / "texts_heldout")
    wt, wh = _words(train), _words(held)
    new = sorted(set(wh) - set(wt))
    print(f"\n{root}: {len(train)} training captions, {len(held)} held-out captions")
    print(f"distinct words: training {len(wt)}, held-out {len(wh)}; held-out words never in a training caption: "
          f"{len(new)} ({sum(wh[w] for w in new) / sum(wh.values()):.1%} of held-out word occurrences)")  # fmt: skip
    print("  " + " ".join(new))
    text = "\n".join(normalize(c) for c in train)
    leaks = [e.id for e in heldout_entries() if (p := entry_pattern(e)) is not None and p.search(text)]
    print(f"held-out phrasings found in training captions: {len(leaks)} {' '.join(leaks)}")
    rng = np.random.default_rng(args.seed)
    for name, caps in (("training", train), ("held-out", held)):
        print(f"\n{args.samples} {name} captions:")
        for i in sorted(rng.choice(len(caps), size=min(args.samples, len(caps)), replace=False)):
            print(f"  {caps[i]}")


if __name__ == "__main__":
    main()
