"""GloVe word vectors + POS one-hots for the official evaluator's text side (eval-protocol.md §3).

The vocabulary ships as two pickles (``our_vab_words.pkl``: list of words, ``our_vab_idx.pkl``: dict
word -> row) and one array (``our_vab_data.npy``). Pickles can run arbitrary code when loaded, so
they are read with :func:`safe_load_pickle`, which never resolves a global (no classes, no functions,
no reduce) and accepts only plain lists, tuples, dicts, str, int, float, bool and None.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

from moscale_cli.errors import MoScaleError

POS_ENUMERATOR = {
    "VERB": 0, "NOUN": 1, "DET": 2, "ADP": 3, "NUM": 4, "AUX": 5, "PRON": 6, "ADJ": 7, "ADV": 8,
    "Loc_VIP": 9, "Body_VIP": 10, "Obj_VIP": 11, "Act_VIP": 12, "Desc_VIP": 13, "OTHER": 14,
}  # fmt: skip

# Checked in this order; the first list containing the word gives its tag.
VIP_LISTS: tuple[tuple[str, frozenset[str]], ...] = (
    ("Loc_VIP", frozenset("left right clockwise counterclockwise anticlockwise forward back backward up down straight curve".split())),
    ("Body_VIP", frozenset("arm chin foot feet face hand mouth leg waist eye knee shoulder thigh".split())),
    ("Obj_VIP", frozenset("stair dumbbell chair window floor car ball handrail baseball basketball".split())),
    (
        "Act_VIP",
        frozenset(
            "walk run swing pick bring kick put squat throw hop dance jump turn stumble stop sit lift lower raise wash "
            "stand kneel stroll rub bend balance flap jog shuffle lean rotate spin spread climb".split()
        ),
    ),
    ("Desc_VIP", frozenset("slowly carefully fast careful slow quickly happy angry sad happily angrily sadly".split())),
)

MAX_TEXT_LEN = 20
_PLAIN = (list, tuple, dict, str, int, float, bool, type(None))
GLOVE_FILES = ("our_vab_data.npy", "our_vab_words.pkl", "our_vab_idx.pkl")


class UnsafePickleError(MoScaleError):
    """A pickle asked to import or call something; refused."""


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # noqa: D401 - pickle API
        raise UnsafePickleError(f"refusing to load {module}.{name} (only plain lists/dicts/strings/numbers are accepted)")

    def persistent_load(self, pid):
        raise UnsafePickleError("refusing a pickle with persistent ids")


def _check_plain(obj, depth: int = 0) -> None:
    if depth > 50:
        raise UnsafePickleError("pickle nests too deeply")
    if not isinstance(obj, _PLAIN) or type(obj) not in _PLAIN:
        raise UnsafePickleError(f"pickle holds a {type(obj).__name__}, only plain lists/dicts/strings/numbers are accepted")
    if isinstance(obj, (list, tuple)):
        for v in obj:
            _check_plain(v, depth + 1)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _check_plain(k, depth + 1)
            _check_plain(v, depth + 1)


def safe_loads_pickle(data: bytes, source: str = "pickle"):
    """Parse pickle bytes without executing code; plain containers and scalars only."""
    try:
        obj = _PlainUnpickler(io.BytesIO(data)).load()
    except UnsafePickleError as e:
        raise UnsafePickleError(f"{source}: {e}") from None
    except Exception as e:  # truncated or garbage data
        raise MoScaleError(f"{source}: not a readable pickle ({type(e).__name__}: {e})") from None
    try:
        _check_plain(obj)
    except UnsafePickleError as e:
        raise UnsafePickleError(f"{source}: {e}") from None
    return obj


def safe_load_pickle(path: str | Path):
    path = Path(path)
    if not path.is_file():
        raise MoScaleError(f"file not found: {path}")
    return safe_loads_pickle(path.read_bytes(), source=str(path))


def pos_onehot(pos: str) -> np.ndarray:
    v = np.zeros(len(POS_ENUMERATOR), dtype=np.float32)
    v[POS_ENUMERATOR.get(pos, POS_ENUMERATOR["OTHER"])] = 1.0
    return v


def vip_tag(word: str) -> str | None:
    for tag, words in VIP_LISTS:
        if word in words:
            return tag
    return None


class WordVectorizer:
    """Maps ``word/POS`` tokens to (GloVe vector (300,), POS one-hot (15,)) as the official evaluator expects."""

    def __init__(self, vectors: np.ndarray, words: list[str], word2idx: dict[str, int]) -> None:
        if vectors.ndim != 2:
            raise MoScaleError(f"GloVe vectors must be a 2-D array, got shape {vectors.shape}")
        for w in ("sos", "eos", "unk"):
            if w not in word2idx:
                raise MoScaleError(f"GloVe vocabulary lacks the special word '{w}'")
        self.dim = int(vectors.shape[1])
        self.word2vec: dict[str, np.ndarray] = {}
        for w in words:
            i = word2idx.get(w)
            if not isinstance(i, int) or not 0 <= i < len(vectors):
                raise MoScaleError(f"GloVe index of '{w}' is missing or out of range")
            self.word2vec[w] = vectors[i].astype(np.float32)
        for w in ("sos", "eos", "unk"):
            self.word2vec.setdefault(w, vectors[word2idx[w]].astype(np.float32))

    @classmethod
    def from_dir(cls, glove_dir: str | Path) -> WordVectorizer:
        d = Path(glove_dir)
        missing = [f for f in GLOVE_FILES if not (d / f).is_file()]
        if missing:
            raise MoScaleError(f"GloVe folder {d} lacks {', '.join(missing)}")
        try:
            vectors = np.load(d / "our_vab_data.npy", allow_pickle=False)
        except ValueError as e:
            raise MoScaleError(f"{d / 'our_vab_data.npy'}: not a plain numeric array ({e})") from None
        words = safe_load_pickle(d / "our_vab_words.pkl")
        idx = safe_load_pickle(d / "our_vab_idx.pkl")
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise MoScaleError(f"{d / 'our_vab_words.pkl'}: expected a list of words")
        if not isinstance(idx, dict):
            raise MoScaleError(f"{d / 'our_vab_idx.pkl'}: expected a dict word -> index")
        return cls(np.asarray(vectors, dtype=np.float32), words, idx)

    def __getitem__(self, token: str) -> tuple[np.ndarray, np.ndarray]:
        word, _, pos = token.partition("/")
        if word in self.word2vec:
            tag = vip_tag(word)
            return self.word2vec[word], pos_onehot(tag if tag is not None else pos)
        return self.word2vec["unk"], pos_onehot("OTHER")

    def sequence(self, tokens: list[str] | str, max_text_len: int = MAX_TEXT_LEN) -> tuple[np.ndarray, np.ndarray, int]:
        """(word_embs (max+2, 300), pos_onehot (max+2, 15), sent_len) with sos/eos wrapping and unk padding."""
        toks = build_token_sequence(tokens, max_text_len)
        sent_len = sentence_length(tokens, max_text_len)
        pairs = [self[t] for t in toks]
        return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs]), sent_len


def split_tokens(tokens: list[str] | str) -> list[str]:
    if isinstance(tokens, str):
        return [t for t in tokens.split(" ") if t]
    return list(tokens)


def sentence_length(tokens: list[str] | str, max_text_len: int = MAX_TEXT_LEN) -> int:
    """The evaluator's sent_len: number of tokens + 2 (sos/eos), at most ``max_text_len + 2``."""
    return min(len(split_tokens(tokens)), max_text_len) + 2


def build_token_sequence(tokens: list[str] | str, max_text_len: int = MAX_TEXT_LEN) -> list[str]:
    """Wrap in sos/eos (cropping to ``max_text_len`` tokens) and pad with unk to ``max_text_len + 2``."""
    toks = split_tokens(tokens)
    if len(toks) < max_text_len:
        toks = ["sos/OTHER", *toks, "eos/OTHER"]
        toks = toks + ["unk/OTHER"] * (max_text_len + 2 - len(toks))
    else:
        toks = ["sos/OTHER", *toks[:max_text_len], "eos/OTHER"]
    return toks
