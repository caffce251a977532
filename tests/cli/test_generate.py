from __future__ import annotations

import json

import numpy as np
import pytest

from moscale_cli.io.files import load_motion

FAST = ["--refine-steps", "1,1,1,1"]


def test_generate_writes_bvh_npy_mp4(cli_model_dir, run_cli, tmp_path):
    outs = [tmp_path / "walk.bvh", tmp_path / "walk.npy", tmp_path / "walk.mp4"]
    code, out, err = run_cli("generate", "a person walks forward", *sum([["-o", o] for o in outs], []),
                             "--frames", 40, "--model", cli_model_dir, "--device", "cpu", *FAST)
    assert code == 0, err
    for o in outs:
        assert o.is_file() and o.stat().st_size > 0
        assert str(o) in out
    j = np.load(tmp_path / "walk.npy")
    assert j.shape == (40, 22, 3)
    bvh = load_motion(tmp_path / "walk.bvh")
    assert bvh.joints.shape[1:] == (22, 3) and abs(bvh.joints.shape[0] - 40) <= 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_features_option_writes_263_dims(cli_model_dir, run_cli, tmp_path):
    code, _, err = run_cli("generate", "a jump", "-o", tmp_path / "f.npy", "--features", "--seconds", 2.2,
                           "--model", cli_model_dir, *FAST)
    assert code == 0, err
    assert np.load(tmp_path / "f.npy").shape == (44, 263)


def test_same_seed_same_output_and_four_samples_differ(cli_model_dir, run_cli, tmp_path):
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    for o in (a, b):
        code, _, err = run_cli("generate", "a person waves", "-o", o, "--frames", 40, "--seed", 7, "--model", cli_model_dir, *FAST)
        assert code == 0, err
    assert np.array_equal(np.load(a), np.load(b))
    code, _, err = run_cli("generate", "a person waves", "-o", tmp_path / "s.npy", "--num-samples", 4,
                           "--frames", 40, "--model", cli_model_dir, *FAST)
    assert code == 0, err
    arrays = [np.load(tmp_path / f"s_{k}.npy") for k in range(4)]
    assert not (tmp_path / "s.npy").exists()
    for i in range(4):
        assert arrays[i].shape == (40, 22, 3)
        for j in range(i):
            assert not np.allclose(arrays[i], arrays[j])


def test_prompt_file(cli_model_dir, run_cli, tmp_path):
    pf = tmp_path / "prompts.txt"
    pf.write_text("a person walks#40\n\nsomeone jumps twice#NA\n")
    code, out, err = run_cli("generate", "--prompts", pf, "-o", tmp_path / "p.npy", "--model", cli_model_dir, *FAST)
    assert code == 0, err
    assert np.load(tmp_path / "p_0.npy").shape == (40, 22, 3)
    assert (tmp_path / "p_1.npy").is_file()


def test_info(cli_model_dir, run_cli):
    code, out, err = run_cli("info", cli_model_dir)
    assert code == 0, err
    assert "all-MiniLM-L6-v2" in out and "Apache-2.0" in out and "tiny-random" in out
    assert "reference's defaults (cfg 5)" in out
    code, out, _ = run_cli("info", cli_model_dir, "--json")
    cfg = json.loads(out)
    assert cfg["parameters"]["generator"] > 0


@pytest.mark.parametrize(
    "args, match",
    [
        (["", "-o", "{d}/x.bvh"], "empty"),
        (["   ", "-o", "{d}/x.bvh"], "empty"),
        (["walk", "-o", "{d}/x.bvh", "--frames", "36"], "shorter than the minimum of 40 frames"),
        (["walk", "-o", "{d}/x.bvh", "--frames", "400"], "longer than the maximum of 196 frames"),
        (["walk", "-o", "{d}/x.bvh", "--seconds", "12"], "longer than the maximum"),
        (["walk", "-o", "{d}/x.txt"], "supported extensions"),
        (["walk", "-o", "/dev/null/x.bvh"], "/dev/null is a file, not a folder"),
        (["walk"], "at least one output"),
        (["walk", "-o", "{d}/x.bvh", "--device", "tpu"], "unknown device 'tpu'"),
        (["walk", "-o", "{d}/x.bvh", "--refine-steps", "1,x"], "refine-steps"),
        (["walk", "-o", "{d}/x.bvh", "--frames", "40", "--seconds", "2"], "either --seconds or --frames"),
    ],
)
def test_bad_input_one_line_error(cli_model_dir, run_cli, tmp_path, args, match):
    args = [a.replace("{d}", str(tmp_path)) for a in args]
    code, out, err = run_cli("generate", "--model", cli_model_dir, *FAST, *args)
    assert code != 0
    assert match in err
    assert "Traceback" not in err
    assert len([line for line in err.strip().splitlines() if line.strip()]) <= 2
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_long_prompt_warns(cli_model_dir, run_cli, tmp_path):
    long = "a person walks forward slowly then turns left and waves with both hands before sitting down on a chair"
    code, _, err = run_cli("generate", long, "-o", tmp_path / "l.npy", "--frames", 40, "--model", cli_model_dir, *FAST)
    assert code == 0
    assert "truncated" in err
    assert (tmp_path / "l.npy").is_file()


def test_missing_and_incompatible_model(run_cli, tmp_path, cli_model_dir, monkeypatch):
    code, _, err = run_cli("generate", "walk", "-o", tmp_path / "x.bvh", "--model", tmp_path / "nope", *FAST)
    assert code == 1 and "model directory not found" in err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps({"format": "something-else"}))
    code, _, err = run_cli("generate", "walk", "-o", tmp_path / "x.bvh", "--model", bad, *FAST)
    assert code == 1 and "not a moscale model config" in err
    monkeypatch.setenv("MOSCALE_DEFAULT_MODEL", str(tmp_path / "no-default"))
    code, _, err = run_cli("generate", "walk", "-o", tmp_path / "x.bvh", *FAST)
    assert code == 1 and "no default model is installed; pass --model DIR" in err
    code, _, err = run_cli("info")
    assert code == 1 and "no default model is installed" in err
    assert not (tmp_path / "x.bvh").exists()


@pytest.mark.parametrize(
    "content, match",
    [
        ("a person walks#40\nno length here\n", "prompts.txt:2: expected 'text#frames' or 'text#NA'"),
        ("a person walks#40\n\nwave#forty\n", "prompts.txt:3: length 'forty'"),
        ("#40\n  # a comment\n", "prompts.txt holds no prompts"),
        ("  #NA\na person walks#forty\n", "prompts.txt:2: length 'forty'"),
        ("walk#20\n", "shorter than the minimum"),
    ],
)
def test_malformed_prompt_file(cli_model_dir, run_cli, tmp_path, content, match):
    pf = tmp_path / "prompts.txt"
    pf.write_text(content)
    code, _, err = run_cli("generate", "--prompts", pf, "-o", tmp_path / "p.npy", "--model", cli_model_dir, *FAST)
    assert code != 0 and match in err
    assert not list(tmp_path.glob("p*.npy"))
