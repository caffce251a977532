"""Training says when captions are longer than the text window (a cut caption loses its last actions)."""

from __future__ import annotations

from moscale_cli.training.train_model import warn_cut_captions


class _WordEncoder:
    """Counts a token per word plus [CLS] and [SEP], like a real tokenizer on plain words."""

    max_tokens = 8

    def count_tokens(self, prompts: list[str]) -> list[int]:
        return [len(p.split()) + 2 for p in prompts]


def test_cut_captions_are_counted_once_and_named_with_the_longest(capsys):
    caps = ["a person walks", "a person walks",  # a duplicate counts once
            "a person walks forward then turns around and sits",  # 9 words -> 11 tokens
            "one two three four five six"]  # 6 words -> 8 tokens: fits exactly
    msg = warn_cut_captions(_WordEncoder(), caps)
    assert msg is not None
    assert msg.startswith("1 of 3 captions (33.3%) are longer than the text window of 8 tokens (the longest has 11)")
    assert "--text-tokens" in msg
    assert "--text-tokens" in capsys.readouterr().err


def test_no_warning_when_every_caption_fits(capsys):
    assert warn_cut_captions(_WordEncoder(), ["a person jumps", "one two three four five six"]) is None
    assert warn_cut_captions(_WordEncoder(), []) is None
    assert capsys.readouterr().err == ""
