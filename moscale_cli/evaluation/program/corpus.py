"""Corpus side of the program task: read ``labels.jsonl`` and score a corpus's own (real) motion.

The real-motion rows are the detectors' self-check: on the procedural corpus's own joints every attribute
must score >= 0.95, else the detector (not the model) is wrong.

    python -m moscale_cli.evaluation.program.corpus DATA [--split test] [--per-action]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from moscale_cli.errors import DatasetError, MoScaleError
from moscale_cli.evaluation.program.score import ClipScore, score_clip, summarize


def load_labels(root: str | os.PathLike) -> dict[str, dict]:
    """``labels.jsonl`` of a corpus folder as {clip id: label}."""
    path = Path(root) / "labels.jsonl"
    if not path.is_file():
        raise DatasetError(f"{path} not found: the program task needs a procedural corpus (moscale data synth)")
    out = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                label = json.loads(line)
                out[str(label["id"])] = label
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise DatasetError(f"{path}:{n} is not a label row ({e})") from e
    return out


def split_ids(root: str | os.PathLike, split: str) -> list[str]:
    path = Path(root) / f"{split}.txt"
    if not path.is_file():
        raise DatasetError(f"{path} not found")
    return [s.strip() for s in path.read_text(encoding="utf-8").splitlines() if s.strip()]


def score_real(root: str | os.PathLike, ids: list[str] | None = None) -> list[ClipScore]:
    """Scores of the corpus's own joints (``new_joints/<id>.npy``) against their labels (every labelled
    attribute is checked: no caption). ``ids``: the clips to score (default: every labelled clip)."""
    labels = load_labels(root)
    ids = list(labels) if ids is None else ids
    scores = []
    for cid in ids:
        if cid not in labels:
            raise DatasetError(f"clip {cid} has no row in {Path(root) / 'labels.jsonl'}")
        path = Path(root) / "new_joints" / f"{cid}.npy"
        if not path.is_file():
            raise DatasetError(f"{path} not found")
        scores.append(score_clip(np.load(path), labels[cid]))
    return scores


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m moscale_cli.evaluation.program.corpus", description=__doc__.split("\n")[0])
    p.add_argument("data", help="corpus folder (moscale data synth)")
    p.add_argument("--split", default=None, help="score only this split's clips (default: every clip)")
    p.add_argument("--per-action", action="store_true", help="also print the table per action")
    p.add_argument("--failures", action="store_true", help="print every failed check")
    a = p.parse_args(argv)
    try:
        ids = split_ids(a.data, a.split) if a.split else None
        scores = score_real(a.data, ids)
    except MoScaleError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    print(summarize(scores).table(per_action=a.per_action))
    if a.failures:
        for s in scores:
            for line in s.failures():
                print(f"{s.clip_id}: {line}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
