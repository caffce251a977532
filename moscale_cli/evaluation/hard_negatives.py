"""Batches with hard negatives for R-precision on the procedural corpus.

In shuffled batches of 32 the other motions of a batch almost always show other actions, so an evaluator
that only reads the verb ranks the right motion first (real-motion R@3 near 1 on the corpus). Here each
item's batch holds as many items as possible with the *same action(s)* but another count, side,
direction or turn angle ("jumps twice" next to "jumps four times", "waves the left hand" next to "waves
the right hand"), so that ranking the right motion first needs the details.

Rules (all deterministic from ``seed``):

* the *signature* of an item is the sequence of its program's verbs (the action table's ``verb``:
  walk_forward, walk_backward, walk_sideways and walk_circle are the verb "walk" with a direction, their
  ``manner``; jump_in_place and jump_forward the verb "jump"); its *details* are each action's
  ``(direction, count, side, angle)``. Two items are hard negatives of each other when their signatures are
  equal and their details differ;
* items whose signature group shows at least two different details form *hard groups*; the others
  (walk forward, or a group whose items all share the same details) are *fillers*;
* a hard group of up to ``batch_size`` items goes whole into one batch; a larger one is split into
  near-equal chunks with the details interleaved, so every chunk mixes them;
* chunks are packed into the ``len(items) // batch_size`` batches, largest first, each into the batch
  with the most room (a chunk larger than every batch's room is split across batches); fillers fill up the
  remaining places;
* like the standard protocol's ``drop_last``, ``len(items) % batch_size`` items are left out of each
  replication: random fillers first (hard groups stay whole), then random grouped items;
* the order of the batches and of the items inside each batch is shuffled.

Plain data in (label dicts with ``actions``, as in ``labels.jsonl``), lists of index batches out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from moscale_cli.data.synth.vocabulary import VOCABULARY
from moscale_cli.errors import UsageError

DETAIL_FIELDS = ("count", "side", "direction", "angle")


def verb(action: dict) -> tuple[str, str | None]:
    """An action as (verb, direction): the corpus names some directions in the action itself (the action
    table's ``manner``: walk_forward, walk_backward, walk_sideways + left, walk_circle + left...;
    jump_in_place and jump_forward), so those become one verb with a direction. An action the table does
    not know is its own verb."""
    name, direction = str(action["action"]), action.get("direction")
    d = VOCABULARY.get(name)
    if d is None or d.manner is None:
        return (name if d is None else d.verb), direction
    return d.verb, f"{d.manner} {direction}" if direction else d.manner


def signature(label: dict) -> tuple[str, ...]:
    """The sequence of verbs of a label's program (walk forward and walk backward share one)."""
    return tuple(verb(a)[0] for a in label["actions"])


def details(label: dict) -> tuple:
    """Each action's (direction, count, side, angle), the direction as :func:`verb` reads it."""
    return tuple((verb(a)[1], a.get("count"), a.get("side"), a.get("angle")) for a in label["actions"])


def is_hard_pair(a: dict, b: dict) -> bool:
    """Same actions in the same order, differing in some count, side, direction or angle."""
    return signature(a) == signature(b) and details(a) != details(b)


def _interleave(items: list[int], keys: list[tuple], rng: np.random.Generator) -> list[int]:
    """Round-robin over the distinct details (in random order) so that any run of items mixes them."""
    by: dict[tuple, list[int]] = defaultdict(list)
    for i, k in zip(items, keys, strict=True):
        by[k].append(i)
    lists = [by[k] for k in sorted(by, key=repr)]
    order = rng.permutation(len(lists))
    lists = [lists[j] for j in order]
    out: list[int] = []
    while any(lists):
        for lst in lists:
            if lst:
                out.append(lst.pop(0))
    return out


def hard_negative_batches(labels: Sequence[dict], batch_size: int = 32, seed: int = 0) -> list[list[int]]:
    """Index batches (each of ``batch_size``) over ``labels`` for one replication; see the module doc."""
    if batch_size < 2:
        raise UsageError("the batch size must be at least 2")
    n = len(labels)
    n_batches = n // batch_size
    if n_batches == 0:
        raise UsageError(f"{n} items cannot fill one batch of {batch_size}")
    rng = np.random.default_rng(seed)
    perm = [int(i) for i in rng.permutation(n)]
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i in perm:
        groups[signature(labels[i])].append(i)
    chunks: list[list[int]] = []
    fillers: list[int] = []
    for sig in sorted(groups, key=repr):
        items = groups[sig]
        keys = [details(labels[i]) for i in items]
        if len(set(keys)) < 2:
            fillers.extend(items)
            continue
        mixed = _interleave(items, keys, rng)
        k = -(-len(mixed) // batch_size)  # chunks of near-equal size
        for c in range(k):
            chunks.append(mixed[c::k])
    # drop_last: leave out len % batch_size items, fillers first
    drop = n - n_batches * batch_size
    fillers = [fillers[j] for j in rng.permutation(len(fillers))]
    dropped = set(fillers[:drop])
    fillers = fillers[drop:]
    if len(dropped) < drop:
        grouped = [i for c in chunks for i in c]
        extra = [grouped[j] for j in rng.permutation(len(grouped))[: drop - len(dropped)]]
        dropped |= set(extra)
        chunks = [[i for i in c if i not in dropped] for c in chunks]
        chunks = [c for c in chunks if c]
    # pack the chunks, largest first (ties in random order), each into the batch with the most room
    tie = rng.permutation(len(chunks))
    order = sorted(range(len(chunks)), key=lambda c: (-len(chunks[c]), int(tie[c])))
    batches: list[list[int]] = [[] for _ in range(n_batches)]
    for c in order:
        rest = list(chunks[c])
        while rest:
            b = max(range(n_batches), key=lambda j: (batch_size - len(batches[j]), -j))
            room = batch_size - len(batches[b])
            batches[b].extend(rest[:room])
            rest = rest[room:]
    for b in batches:
        need = batch_size - len(b)
        b.extend(fillers[:need])
        fillers = fillers[need:]
    out = [[b[j] for j in rng.permutation(len(b))] for b in batches]
    return [out[j] for j in rng.permutation(len(out))]


def random_batches(n: int, batch_size: int = 32, seed: int = 0) -> list[list[int]]:
    """The standard protocol's batches for comparison: a seeded shuffle cut into full batches (drop_last)."""
    perm = [int(i) for i in np.random.default_rng(seed).permutation(n)]
    return [perm[k : k + batch_size] for k in range(0, (n // batch_size) * batch_size, batch_size)]


def hard_negative_stats(labels: Sequence[dict], batches: list[list[int]]) -> dict:
    """How hard the batches are, over the items in them: the mean number of hard negatives of an item
    inside its own batch, the fraction of items with at least one, how many the whole set would allow (the
    mean of min(hard negatives in the set, batch size - 1)), and the expected R@1 / R@3 of a *verb-only* matcher
    (one that tells programs apart by their verbs alone and ranks same-verb motions in random order:
    for an item with m - 1 same-signature motions in its batch, R@k = min(1, k / m))."""
    sig = [signature(lb) for lb in labels]
    det = [details(lb) for lb in labels]
    counts, r1, r3 = [], [], []
    for b in batches:
        for i in b:
            counts.append(sum(1 for j in b if j != i and sig[j] == sig[i] and det[j] != det[i]))
            m = sum(1 for j in b if sig[j] == sig[i])
            r1.append(min(1.0, 1.0 / m))
            r3.append(min(1.0, 3.0 / m))
    size = max((len(b) for b in batches), default=1)
    by_sig: dict[tuple, list[int]] = defaultdict(list)
    for i, s in enumerate(sig):
        by_sig[s].append(i)
    possible = []
    for i in (i for b in batches for i in b):
        k = sum(1 for j in by_sig[sig[i]] if det[j] != det[i])
        possible.append(min(k, size - 1))
    c = np.asarray(counts, dtype=np.float64)
    return {
        "items": int(len(c)),
        "mean_hard_in_batch": float(c.mean()) if len(c) else 0.0,
        "frac_with_hard": float((c > 0).mean()) if len(c) else 0.0,
        "mean_hard_possible": float(np.mean(possible)) if possible else 0.0,
        "verb_only_r1": float(np.mean(r1)) if r1 else 0.0,
        "verb_only_r3": float(np.mean(r3)) if r3 else 0.0,
    }


__all__ = [
    "DETAIL_FIELDS",
    "details",
    "hard_negative_batches",
    "hard_negative_stats",
    "is_hard_pair",
    "random_batches",
    "signature",
]
