"""Captions of synthetic programs: several phrasings per program with ``word/POS`` tokens.

The phrasings come from the banks of :mod:`moscale_cli.data.synth.language` (many ways to say each
action, count, side, direction, speed, style and sequence), split into training phrasings and held-out
phrasings. ``make_captions`` gives a clip's training captions (what ``texts/`` holds and models train on),
``make_caption_set`` also its held-out captions and what every caption states about every action.
Token fields follow HumanML3D: lower case, hyphens and punctuation dropped, nouns and verbs lemmatised.
"""

from __future__ import annotations

import numpy as np

from moscale_cli.data.synth.language.lexicon import LEXICON, tokens
from moscale_cli.data.synth.language.render import HELDOUT_CAPTIONS, TRAIN_CAPTIONS, Caption, caption_set
from moscale_cli.data.synth.program import Program


def tokens_of(text: str) -> str:
    """``word/POS`` tokens of a caption (``word|POS`` markup forces a tag); KeyError on a word the lexicon
    does not know."""
    return tokens(text)


def make_caption_set(
    program: Program,
    rng: np.random.Generator,
    n_train: tuple[int, int] = TRAIN_CAPTIONS,
    n_heldout: int = HELDOUT_CAPTIONS,
) -> tuple[list[Caption], list[Caption]]:
    """(training captions, held-out captions) of a program, each with its tokens and what it states."""
    return caption_set(program, rng, n_train, n_heldout)


def make_captions(
    program: Program, rng: np.random.Generator, n_min: int = 3, n_max: int = 5
) -> list[tuple[str, str]]:
    """``n_min``..``n_max`` distinct (caption, tokens) training phrasings of a program."""
    train, _ = caption_set(program, rng, (n_min, n_max), 0)
    return [(c.text, c.tokens) for c in train]


__all__ = ["LEXICON", "Caption", "make_caption_set", "make_captions", "tokens_of"]
