"""A model directory's parts are bound together and every config.json value is checked (issue 22, items 2, 3):
a part of another run is one error naming both files, damaged statistics and NaN/inf weights are refused
naming the file and tensor, bad config.json values name the file, the key, the value and what is allowed,
and directories written before the fingerprints still load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from moscale_cli.checkpoint import read_metadata, tensors_fingerprint
from moscale_cli.errors import CheckpointError
from moscale_cli.model_dir import DEFAULT_MODEL_DIR, bind_model_dir, load_model_dir, read_model_config

PARTS = ("tokenizer.safetensors", "generator.safetensors", "length.safetensors", "stats.safetensors")


@pytest.fixture(scope="module")
def other_model_dir(tmp_path_factory, tiny_models) -> Path:
    """A second tiny model directory: same shapes, other weights (another "run")."""
    return tiny_models.build_tiny_model_dir(tmp_path_factory.mktemp("other") / "tiny", seed=1)


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _strip_metadata(d: Path) -> None:
    """Make ``d`` look like a directory written before the fingerprints (no metadata, no config entry)."""
    for f in PARTS:
        if (d / f).is_file():
            save_file(load_file(d / f), d / f)
    cfg = json.loads((d / "config.json").read_text())
    cfg.pop("fingerprints", None)
    (d / "config.json").write_text(json.dumps(cfg))


def test_export_binds_the_parts(tiny_model_dir):
    cfg = read_model_config(tiny_model_dir)
    meta = {f: read_metadata(tiny_model_dir / f) for f in PARTS}
    fp = {f: tensors_fingerprint(load_file(tiny_model_dir / f)) for f in PARTS}
    assert cfg["fingerprints"] == fp
    assert all(meta[f]["moscale.fingerprint"] == fp[f] for f in PARTS)
    assert meta["tokenizer.safetensors"]["moscale.stats"] == fp["stats.safetensors"]
    assert meta["generator.safetensors"]["moscale.tokenizer"] == fp["tokenizer.safetensors"]
    assert meta["generator.safetensors"]["moscale.stats"] == fp["stats.safetensors"]


@pytest.mark.parametrize("part, pair", [
    ("tokenizer.safetensors", "tokenizer.safetensors and generator.safetensors do not belong together"),
    ("stats.safetensors", "stats.safetensors and generator.safetensors do not belong together"),
    ("generator.safetensors", "tokenizer.safetensors and generator.safetensors do not belong together"),
])
def test_a_part_of_another_run_is_refused_naming_both_files(tiny_model_dir, other_model_dir, tmp_path, part, pair):
    d = _copy(tiny_model_dir, tmp_path / "m")
    shutil.copyfile(other_model_dir / part, d / part)
    with pytest.raises(CheckpointError) as ex:
        load_model_dir(d)
    msg = str(ex.value)
    assert pair in msg and f"{part} is not the one config.json was written with" in msg and "\n" not in msg


def test_a_swapped_part_without_fingerprints_is_refused_too(tiny_model_dir, other_model_dir, tmp_path):
    """A tokenizer of an older run (no metadata) is fingerprinted from its tensors."""
    d = _copy(tiny_model_dir, tmp_path / "m")
    save_file(load_file(other_model_dir / "tokenizer.safetensors"), d / "tokenizer.safetensors")
    with pytest.raises(CheckpointError, match="tokenizer.safetensors and generator.safetensors do not belong together"):
        load_model_dir(d)


def test_old_directories_without_fingerprints_still_load(tiny_model_dir, tmp_path):
    d = _copy(tiny_model_dir, tmp_path / "old")
    _strip_metadata(d)
    assert read_metadata(d / "generator.safetensors") == {}
    ref, m = load_model_dir(tiny_model_dir), load_model_dir(d)
    assert all(torch.equal(a, b) for a, b in zip(ref.generator.state_dict().values(), m.generator.state_dict().values(),
                                                   strict=True))
    fps = bind_model_dir(d)  # adds them, by the writer a new export uses
    assert fps == read_model_config(tiny_model_dir)["fingerprints"]
    assert read_metadata(d / "generator.safetensors") == read_metadata(tiny_model_dir / "generator.safetensors")
    load_model_dir(d)


def test_the_default_model_carries_its_fingerprints():
    cfg = read_model_config(DEFAULT_MODEL_DIR)
    for f in PARTS:
        meta = read_metadata(DEFAULT_MODEL_DIR / f)
        assert meta["moscale.fingerprint"] == cfg["fingerprints"][f] == tensors_fingerprint(load_file(DEFAULT_MODEL_DIR / f))
    assert read_metadata(DEFAULT_MODEL_DIR / "generator.safetensors")["moscale.tokenizer"] == cfg["fingerprints"][
        "tokenizer.safetensors"]


@pytest.mark.parametrize("value, match", [(0.0, "got 0 at dimension 5"), (-1.0, "got -1 at dimension 5"),
                                          (float("nan"), "NaN or infinite")])
def test_damaged_statistics_are_refused(tiny_model_dir, tmp_path, value, match):
    d = _copy(tiny_model_dir, tmp_path / "m")
    stats = load_file(d / "stats.safetensors")
    stats["std"][5] = value
    save_file(stats, d / "stats.safetensors")
    with pytest.raises(CheckpointError, match=match) as ex:
        load_model_dir(d)
    assert "stats.safetensors" in str(ex.value)


@pytest.mark.parametrize("part", ["generator.safetensors", "length.safetensors", "tokenizer.safetensors"])
def test_nan_weights_are_refused_naming_file_and_tensor(tiny_model_dir, tmp_path, part):
    d = _copy(tiny_model_dir, tmp_path / "m")
    sd = load_file(d / part)
    key = sorted(k for k, v in sd.items() if v.is_floating_point() and v.numel() > 3)[0]
    sd[key].view(-1)[2] = float("inf") if part == "length.safetensors" else float("nan")
    save_file(sd, d / part)
    with pytest.raises(CheckpointError, match=rf"{part}: tensor {key} holds 1 NaN or infinite value"):
        load_model_dir(d)


def _edit(cfg: dict, key: str, value: object) -> None:
    *path, last = key.split(".")
    for p in path:
        cfg = cfg[p]
    cfg[last] = value


@pytest.mark.parametrize("key, value, allowed", [
    ("generator.depth", "four", "generator.depth must be an integer, got \"four\""),
    ("fps", "fast", "fps must be a number > 0"),
    ("generator.scale_lengths", "abc", "generator.scale_lengths must be a list of integers, got \"abc\""),
    ("generator", [1, 2, 3], "generator must be an object of settings, got [1, 2, 3]"),
    ("unit", 0, "unit must be the tokenizer's time unit 4"),
    ("text_encoder.max_tokens", "x", "text_encoder.max_tokens must be an integer >= 1, got \"x\""),
    ("max_frames", -3, "max_frames must be an integer in [4, 196]"),
    ("min_frames", 1000, "min_frames must be an integer in [4, 196]"),
    ("tokenizer.width", 63, "width 63 is not divisible by heads 2"),
    ("tokenizer.dropout", 2.0, "the tokenizer settings do not give a working network"),
    ("generator.heads", 0, "generator"),
    ("length", "yes", "length must be an object of settings or null"),
    ("feature_dim", 300, "feature_dim must be the tokenizer's feature_dim 263"),
])
def test_bad_config_values_name_file_key_value(tiny_model_dir, tmp_path, key, value, allowed):
    d = _copy(tiny_model_dir, tmp_path / "m")
    cfg = json.loads((d / "config.json").read_text())
    _edit(cfg, key, value)
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError) as ex:
        load_model_dir(d)
    msg = str(ex.value)
    assert msg.startswith(f"{d / 'config.json'}: ") and allowed in msg and "\n" not in msg, msg


def test_bad_config_through_the_cli_is_one_line_never_internal(tiny_model_dir, tmp_path, run_cli):
    d = _copy(tiny_model_dir, tmp_path / "m")
    cfg = json.loads((d / "config.json").read_text())
    cfg["min_frames"], cfg["max_frames"] = 1000, -3
    (d / "config.json").write_text(json.dumps(cfg))
    code, _, err = run_cli("generate", "a person walks", "-o", tmp_path / "x.bvh", "--model", d, "--device", "cpu")
    assert code == 1 and "internal error" not in err and "config.json: max_frames" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "x.bvh").exists()
