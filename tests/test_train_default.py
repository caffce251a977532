"""examples/train_default.py: the pieces that decide what the recipe does next (no training here)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import load_module


@pytest.fixture(scope="module")
def recipe():
    return load_module("examples/train_default.py")


def test_last_step_reads_the_newest_checkpoint(recipe, tmp_path):
    assert recipe.last_step(tmp_path) == 0
    for s in (1000, 3000, 2000):
        (tmp_path / f"checkpoint-{s:08d}").mkdir()
    (tmp_path / "model").mkdir()  # exported at every stop: not a sign of a finished run
    assert recipe.last_step(tmp_path) == 3000


def test_reused_tokenizer_loads_as_a_tokenizer_run(recipe, tmp_path):
    import torch

    from moscale_cli.model_dir import default_model_dir, load_model_dir, load_tokenizer_run

    src = default_model_dir()
    if not (src / "config.json").is_file():
        pytest.skip("no default model installed")
    out = tmp_path / "tok"
    recipe.reuse_tokenizer(src, out)
    tok, norm = load_tokenizer_run(out)
    ref = load_model_dir(src)
    for (k, a), (k2, b) in zip(tok.state_dict().items(), ref.tokenizer.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a.float(), b.float())
    np.testing.assert_array_equal(norm.mean, ref.normalizer.mean)
    np.testing.assert_array_equal(norm.std, ref.normalizer.std)
    assert not out.with_name("tok.partial").exists()


def test_selection_prefers_program_within_ten_percent_of_the_best_fid(recipe):
    rows = [{"c": "a", "program": 0.9, "fid": 2.0}, {"c": "b", "program": 0.8, "fid": 1.0},
            {"c": "c", "program": 0.85, "fid": 1.09}]
    assert recipe.select_checkpoint(rows)["c"] == "c"
