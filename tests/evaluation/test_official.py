"""Official evaluator layout: keys/shapes of the spec, safe loading, refusal of bad files."""

from __future__ import annotations

import os
import pickle
import pickletools
import zipfile

import numpy as np
import pytest
import torch

from moscale_cli.errors import CheckpointError, MoScaleError
from moscale_cli.evaluation.evaluators import load_evaluator, load_official_evaluator
from moscale_cli.models.evaluator import OfficialEvaluator

from .conftest import official_state, write_official_dir

pytestmark = pytest.mark.slow  # builds and runs the official evaluator's networks (8 s in all)

H = 512


def test_state_dict_layout_matches_spec_hml_and_kit():
    m = OfficialEvaluator(263)
    mv = {k: tuple(v.shape) for k, v in m.movement_encoder.state_dict().items()}
    assert mv == {
        "main.0.weight": (512, 259, 4), "main.0.bias": (512,), "main.3.weight": (512, 512, 4), "main.3.bias": (512,),
        "out_net.weight": (512, 512), "out_net.bias": (512,),
    }  # fmt: skip
    te = {k: tuple(v.shape) for k, v in m.text_encoder.state_dict().items()}
    gru = {f"gru.{n}{s}": shp for s in ("", "_reverse") for n, shp in
           (("weight_ih_l0", (3 * H, H)), ("weight_hh_l0", (3 * H, H)), ("bias_ih_l0", (3 * H,)), ("bias_hh_l0", (3 * H,)))}  # fmt: skip
    assert te == {
        "hidden": (2, 1, H), "pos_emb.weight": (300, 15), "pos_emb.bias": (300,), "input_emb.weight": (H, 300),
        "input_emb.bias": (H,), **gru, "output_net.0.weight": (H, 2 * H), "output_net.0.bias": (H,),
        "output_net.1.weight": (H,), "output_net.1.bias": (H,), "output_net.3.weight": (512, H), "output_net.3.bias": (512,),
    }  # fmt: skip
    mo = {k: tuple(v.shape) for k, v in m.motion_encoder.state_dict().items()}
    H2 = 1024
    assert mo["hidden"] == (2, 1, H2) and mo["input_emb.weight"] == (H2, 512)
    assert mo["gru.weight_ih_l0"] == (3 * H2, H2) and mo["gru.weight_hh_l0_reverse"] == (3 * H2, H2)
    assert mo["output_net.0.weight"] == (H2, 2 * H2) and mo["output_net.1.weight"] == (H2,)
    assert mo["output_net.3.weight"] == (512, H2) and len(mo) == len(te) - 2
    assert OfficialEvaluator(251).movement_encoder.main[0].weight.shape == (512, 247, 4)


def test_official_dir_loads_without_missing_or_unexpected_keys(official_dir):
    b = load_evaluator(f"official:{official_dir}")
    ref = official_state(263)
    for name in ("movement_encoder", "text_encoder", "motion_encoder"):
        sd = getattr(b.model, name).state_dict()
        assert set(sd) == set(ref[name])
        for k in sd:
            assert torch.equal(sd[k], ref[name][k]), k
    assert b.feature_dim == 263 and b.mean.shape == (263,) and b.info["epoch"] == 7
    assert b.word_vectorizer is not None


def test_kit_dimension_is_read_from_the_weights(tmp_path):
    d = write_official_dir(tmp_path, dim_pose=251, state=official_state(251))
    b = load_official_evaluator(d)
    assert b.feature_dim == 251 and b.model.movement_encoder.main[0].weight.shape[1] == 247


def test_co_embeddings_are_length_sorted_and_aligned(official_dir):
    b = load_evaluator(f"official:{official_dir}")
    torch.manual_seed(0)
    B = 6
    motions = torch.randn(B, 196, 263)
    m_lens = torch.tensor([40, 196, 80, 120, 40, 160])
    word = torch.randn(B, 22, 300)
    pos = torch.zeros(B, 22, 15)
    cap = torch.tensor([12, 10, 9, 7, 5, 4])
    t, m = b.model.get_co_embeddings(word, pos, cap, motions, m_lens)
    idx = torch.argsort(m_lens, descending=True, stable=True)
    assert idx.tolist() == [1, 5, 3, 2, 0, 4]
    with torch.no_grad():
        m_each = torch.cat([b.model.motion_embeddings_unsorted(motions[i : i + 1], m_lens[i : i + 1]) for i in idx.tolist()])
        t_each = torch.cat([b.model.text_encoder(word[i : i + 1], pos[i : i + 1], cap[i : i + 1]) for i in idx.tolist()])
    torch.testing.assert_close(m, m_each, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(t, t_each, atol=1e-5, rtol=1e-5)
    # padding beyond the length does not change the motion embedding
    motions2 = motions.clone()
    motions2[0, 44:] = 5.0  # the last latent sees frames up to 41
    _, m2 = b.model.get_co_embeddings(word, pos, cap, motions2, m_lens)
    torch.testing.assert_close(m2[4], m[4])


@pytest.mark.parametrize("where", ["movement_encoder", "text_encoder", "motion_encoder"])
def test_wrong_key_is_refused_naming_it(tmp_path, where):
    st = official_state()
    first = next(iter(st[where]))
    st[where]["bogus.weight"] = st[where].pop(first)
    d = write_official_dir(tmp_path, state=st)
    with pytest.raises(CheckpointError, match=rf"\[{where}\]: missing key {first}"):
        load_official_evaluator(d)
    st = official_state()
    st[where]["bogus.weight"] = torch.zeros(3)
    d = write_official_dir(tmp_path / "b", state=st)
    with pytest.raises(CheckpointError, match=rf"\[{where}\]: unexpected key bogus\.weight"):
        load_official_evaluator(d)


def test_wrong_shape_is_refused_naming_it(tmp_path):
    st = official_state()
    st["motion_encoder"]["input_emb.weight"] = torch.zeros(1024, 256)
    d = write_official_dir(tmp_path, state=st)
    with pytest.raises(CheckpointError, match=r"motion_encoder.*input_emb\.weight.*\(1024, 256\)"):
        load_official_evaluator(d)


def test_missing_submodule_is_refused(tmp_path):
    st = official_state()
    del st["text_encoder"]
    d = write_official_dir(tmp_path, state=st)
    with pytest.raises(CheckpointError, match="text_encoder"):
        load_official_evaluator(d)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_finest_tar_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "pwned"
    st = official_state()
    st["epoch"] = _Evil(marker)
    d = write_official_dir(tmp_path, state=st)
    with pytest.raises(CheckpointError, match="refused"):
        load_official_evaluator(d)
    assert not marker.exists()
    # sanity, without unpickling: the file really asks the unpickler to import and call a shell function
    tar = d / "text_mot_match" / "model" / "finest.tar"
    with zipfile.ZipFile(tar) as zf:
        pkl = zf.read(next(n for n in zf.namelist() if n.endswith("data.pkl")))
    args = [str(arg) for op, arg, _ in pickletools.genops(pkl) if op.name in ("GLOBAL", "SHORT_BINUNICODE", "BINUNICODE")]
    words = {w for a in args for w in a.split()}
    assert "system" in words and words & {"os", "posix", "nt"}


def test_missing_meta_is_a_clear_error(tmp_path):
    d = write_official_dir(tmp_path, meta=False)
    with pytest.raises(CheckpointError, match="meta"):
        load_official_evaluator(d)


def test_meta_with_wrong_dim_is_refused(tmp_path):
    d = write_official_dir(tmp_path)
    np.save(d / "Comp_v6_KLD005" / "meta" / "std.npy", np.ones(251, dtype=np.float32))
    with pytest.raises(CheckpointError, match=r"std\.npy.*263"):
        load_official_evaluator(d)


def test_missing_folder_and_non_run_are_errors(tmp_path):
    with pytest.raises(MoScaleError, match="not found"):
        load_evaluator(f"official:{tmp_path / 'nope'}")
    with pytest.raises(MoScaleError, match="not an evaluator run"):
        load_evaluator(str(tmp_path))


def test_pickle_module_is_not_used_for_weights(tmp_path, monkeypatch):
    # the official tar goes through torch.load(weights_only=True): a plain-pickle reader is never invoked
    d = write_official_dir(tmp_path)
    calls = []
    orig = pickle.Unpickler

    class Spy(orig):  # type: ignore[misc,valid-type]
        def __init__(self, *a, **k):
            calls.append(1)
            super().__init__(*a, **k)

    monkeypatch.setattr(pickle, "Unpickler", Spy)
    load_official_evaluator(d)
    assert calls == []
