"""What each caption of a procedural clip says: read from the ``caption_info`` field of ``labels.jsonl``.

Every clip's label row lists its training captions (``captions``, the lines of ``texts/<id>.txt``), its
held-out captions (``heldout_captions``, the lines of ``texts_heldout/<id>.txt``) and, per caption, a
record::

    {"text": "A man turns around, then waves his left hand twice.", "split": "train",
     "states": [["angle"], ["count", "side"]], "vague_count": [false, false]}

``states[i]`` lists the attributes the caption states for the program's action ``i`` (``count``, ``side``,
``direction``, ``angle``, ``speed``, ``style``); an attribute the program has but the caption does not state
("turns around" says no direction) should not be checked against a motion generated from that caption.
``vague_count[i]`` is true when the count is said without its number ("several times", "a few squats").
Corpora written before these records existed have no ``caption_info``: the functions below then return
nothing, and callers fall back to their own rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from moscale_cli.errors import DatasetError

CAPTION_SPLITS = ("train", "heldout")


@dataclass(frozen=True)
class CaptionInfo:
    text: str
    split: str  # "train" | "heldout"
    states: tuple[frozenset[str], ...]  # per action
    vague_count: tuple[bool, ...]  # per action

    def states_attr(self, action: int, attr: str) -> bool:
        """Whether the caption states ``attr`` (``count``, ``side``, ``direction``...) of that action."""
        return attr in self.states[action]

    def exact_count(self, action: int) -> bool:
        """Whether the caption gives action ``action``'s count exactly ("twice", "3 times", "a couple of")."""
        return self.states_attr(action, "count") and not self.vague_count[action]


def _bad(label: dict, why: str) -> DatasetError:
    return DatasetError(f"label {label.get('id', '?')}: caption_info {why}")


def caption_infos(label: dict, split: str | None = None) -> list[CaptionInfo]:
    """The caption records of a label row (those of ``split`` when given), in file order; [] when the row
    has none (an older corpus). DatasetError on a malformed record."""
    if split is not None and split not in CAPTION_SPLITS:
        raise ValueError(f"split must be one of {CAPTION_SPLITS}, got {split!r}")
    rows = label.get("caption_info")
    if rows is None:
        return []
    if not isinstance(rows, list):
        raise _bad(label, "is not a list")
    n = len(label.get("actions") or [])
    out = []
    for k, r in enumerate(rows):
        if (
            not isinstance(r, dict)
            or not isinstance(r.get("text"), str)
            or r.get("split") not in CAPTION_SPLITS
        ):
            raise _bad(label, f"record {k} needs a text and a split (train or heldout)")
        states, vague = r.get("states"), r.get("vague_count")
        if (not isinstance(states, list) or not isinstance(vague, list) or len(states) != n or len(vague) != n
                or not all(isinstance(s, list) and all(isinstance(a, str) for a in s) for s in states)
                or not all(isinstance(v, bool) for v in vague)):  # fmt: skip
            raise _bad(label, f"record {k} needs states and vague_count for each of the {n} actions")
        if split is None or r["split"] == split:
            out.append(CaptionInfo(r["text"], r["split"], tuple(frozenset(s) for s in states), tuple(vague)))
    return out


def caption_info(label: dict, text: str) -> CaptionInfo | None:
    """The record of the caption ``text`` of a label row (None: the row has no records, or not this text)."""
    for info in caption_infos(label):
        if info.text == text:
            return info
    return None


def captions_of(label: dict, split: str = "train") -> list[str]:
    """A label row's captions of one split: ``captions`` (train) or ``heldout_captions`` (heldout)."""
    if split not in CAPTION_SPLITS:
        raise ValueError(f"split must be one of {CAPTION_SPLITS}, got {split!r}")
    key = "captions" if split == "train" else "heldout_captions"
    caps = label.get(key) or []
    if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
        raise DatasetError(f"label {label.get('id', '?')}: {key} is not a list of captions")
    return list(caps)


__all__ = ["CAPTION_SPLITS", "CaptionInfo", "caption_info", "caption_infos", "captions_of"]
