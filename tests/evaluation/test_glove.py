"""GloVe pickles are parsed without running code; POS and sequence rules of the protocol."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from moscale_cli.errors import MoScaleError
from moscale_cli.evaluation.glove import (
    POS_ENUMERATOR,
    UnsafePickleError,
    WordVectorizer,
    build_token_sequence,
    safe_load_pickle,
    safe_loads_pickle,
)

from .conftest import GLOVE_WORDS, write_glove


@pytest.mark.parametrize("proto", [0, 2, 4, 5])
def test_safe_parse_of_plain_lists_and_dicts(proto):
    obj = {"words": ["a", "b"], "idx": {"a": 0, "b": 1}, "t": (1, 2.5, None, True)}
    assert safe_loads_pickle(pickle.dumps(obj, protocol=proto)) == obj


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    p = tmp_path / "our_vab_words.pkl"
    p.write_bytes(pickle.dumps(["a", _Evil(marker)]))
    with pytest.raises(UnsafePickleError, match=r"posix\.system|os\.system|nt\.system"):
        safe_load_pickle(p)
    assert not marker.exists()


def test_non_plain_objects_are_refused():
    import collections

    with pytest.raises(UnsafePickleError, match="OrderedDict"):
        safe_loads_pickle(pickle.dumps(collections.OrderedDict(a=1)))
    with pytest.raises(UnsafePickleError, match="numpy"):
        safe_loads_pickle(pickle.dumps(np.int64(3)))
    with pytest.raises(MoScaleError, match="not a readable pickle"):
        safe_loads_pickle(b"\x80\x04garbage")


def test_malicious_glove_dir_is_refused(tmp_path):
    d = write_glove(tmp_path / "g")
    marker = tmp_path / "pwned"
    (d / "our_vab_idx.pkl").write_bytes(pickle.dumps({"a": _Evil(marker)}))
    with pytest.raises(UnsafePickleError):
        WordVectorizer.from_dir(d)
    assert not marker.exists()


def test_word_vectors_and_pos_rules(tmp_path):
    d = write_glove(tmp_path / "g")
    wv = WordVectorizer.from_dir(d)
    vecs = np.load(d / "our_vab_data.npy")
    vec, pos = wv["person/NOUN"]
    np.testing.assert_array_equal(vec, vecs[GLOVE_WORDS.index("person")])
    assert pos.argmax() == POS_ENUMERATOR["NOUN"] and pos.sum() == 1
    # VIP lists override spaCy's POS, checked in order Loc, Body, Obj, Act, Desc
    assert wv["walk/VERB"][1].argmax() == POS_ENUMERATOR["Act_VIP"]
    assert wv["left/ADJ"][1].argmax() == POS_ENUMERATOR["Loc_VIP"]
    assert wv["arm/NOUN"][1].argmax() == POS_ENUMERATOR["Body_VIP"]
    # unknown POS -> OTHER; out-of-vocabulary word -> unk vector and OTHER
    assert wv["the/CCONJ"][1].argmax() == POS_ENUMERATOR["OTHER"]
    v, p = wv["zebra/NOUN"]
    np.testing.assert_array_equal(v, vecs[GLOVE_WORDS.index("unk")])
    assert p.argmax() == POS_ENUMERATOR["OTHER"]


def test_sequence_building():
    toks = ["a/DET", "person/NOUN", "walk/VERB"]
    seq = build_token_sequence(toks)
    assert seq[:5] == ["sos/OTHER", *toks, "eos/OTHER"] and len(seq) == 22 and seq[5:] == ["unk/OTHER"] * 17
    long = [f"w{i}/NOUN" for i in range(25)]
    seq = build_token_sequence(long)
    assert seq == ["sos/OTHER", *long[:20], "eos/OTHER"]
    exact = [f"w{i}/NOUN" for i in range(20)]
    assert build_token_sequence(exact) == ["sos/OTHER", *exact, "eos/OTHER"]


def test_vectorizer_sequence_shapes(tmp_path):
    wv = WordVectorizer.from_dir(write_glove(tmp_path / "g"))
    w, p, n = wv.sequence("a/DET person/NOUN walk/VERB forward/ADV")
    assert w.shape == (22, 300) and p.shape == (22, 15) and n == 6
    np.testing.assert_array_equal(w[0], wv.word2vec["sos"])
    np.testing.assert_array_equal(w[5], wv.word2vec["eos"])
    np.testing.assert_array_equal(w[6], wv.word2vec["unk"])
    assert wv.sequence(["a/DET"] * 30)[2] == 22


def test_missing_glove_file_is_named(tmp_path):
    d = write_glove(tmp_path / "g")
    (d / "our_vab_idx.pkl").unlink()
    with pytest.raises(MoScaleError, match="our_vab_idx.pkl"):
        WordVectorizer.from_dir(d)
