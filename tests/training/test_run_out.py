"""A training run folder may not be, contain or lie inside a dataset it trains on (issue 22, item 1)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("command, out", [
    (["train-tokenizer"], "{d}/run"),
    (["train", "--tokenizer", "{t}"], "{d}"),
    (["train-length"], "{p}"),
    (["train-evaluator"], "{d}/eval"),
])
def test_out_inside_or_around_the_data_is_refused(run_cli, tmp_path, command, out):
    data = tmp_path / "datasets" / "d"
    data.mkdir(parents=True)
    (data / "keep.txt").write_text("data")
    fill = {"{d}": str(data), "{t}": str(tmp_path / "tok"), "{p}": str(tmp_path / "datasets")}

    def sub(a: str) -> str:
        for k, v in fill.items():
            a = a.replace(k, v)
        return a

    code, _, err = run_cli(*[sub(a) for a in command], "--data", data, "--out", sub(out), "--device", "cpu")
    assert code == 2 and "would destroy its own input" in err and "--out" in err, err
    assert sorted(p.name for p in data.iterdir()) == ["keep.txt"]
