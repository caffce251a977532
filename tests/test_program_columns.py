"""benchmarks/program_columns.py: program reports side by side, as the README's tables."""

from __future__ import annotations

import json

import pytest

from tests.conftest import load_module


def _mod():
    return load_module("benchmarks/program_columns.py")


def _rate(acc: float, n: int = 10) -> dict:
    return {"acc": acc, "lo": round(acc - 0.1, 4), "hi": round(acc + 0.05, 4), "k": round(acc * n), "n": n}


def _side(attrs: dict[str, float], mean: float, all_right: float) -> dict:
    return {"per_attribute": {a: _rate(v) for a, v in attrs.items()},
            "overall_attribute_mean": {"acc": mean, "lo": mean - 0.1, "hi": mean + 0.05},
            "overall_clips_all_correct": _rate(all_right)}


def _report(model: dict, clips: list[str], real: dict | None = None) -> dict:
    results = {"model": model, **({"real": real} if real else {})}
    return {"config": {"task": "program"}, "results": results,
            "generations": [{"clip": c, "all_correct": True} for c in clips]}


def test_columns_follow_the_detectors_order_with_the_real_column_first():
    m = _mod()
    real = _side({"count": 1.0, "present": 1.0}, 1.0, 1.0)
    a = _report(_side({"count": 0.25, "present": 0.8}, 0.5, 0.2), ["c1", "c2"], real)
    b = _report(_side({"present": 0.9, "order": 0.4}, 0.6, 0.3), ["c2", "c1"])
    lines = m.columns_table([("0.2.0", a), ("0.3", b)], checks=True).splitlines()
    assert lines[0] == "| attribute | real motion | 0.2.0 | 0.3 | checks |"
    assert [ln.split(" | ")[0] for ln in lines[2:]] == [
        "| present", "| count", "| order", "| **mean over attributes**", "| **every attribute right**"]
    assert lines[2] == "| present | 1.000 [0.900, 1.050] | 0.800 [0.700, 0.850] | 0.900 [0.800, 0.950] | 10 |"
    assert lines[3] == "| count | 1.000 [0.900, 1.050] | 0.250 [0.150, 0.300] | - | - |"
    assert lines[-1].endswith("| 0.300 [0.200, 0.350] | 10 |")  # the generations scored, from the report
    assert "note" not in "\n".join(lines)  # the same clips, in any order


def test_a_column_on_other_clips_is_flagged_and_real_can_be_left_out():
    m = _mod()
    side = _side({"present": 0.5}, 0.5, 0.5)
    out = m.columns_table([("a", _report(side, ["c1"], side)), ("b", _report(side, ["c9"]))], real=False)
    assert out.splitlines()[0] == "| attribute | a | b |"
    assert out.splitlines()[-1] == "note: column 'b' is measured on other clips than 'a'"


def test_cli_reads_reports_and_refuses_other_files(tmp_path, capsys):
    m = _mod()
    side = _side({"present": 0.5}, 0.5, 0.5)
    p = tmp_path / "own.json"
    p.write_text(json.dumps(_report(side, ["c1"], side)))
    m.main([f"{p}=own lengths"])
    assert capsys.readouterr().out.startswith("| attribute | real motion | own lengths |")
    t2m = tmp_path / "t2m.json"
    t2m.write_text(json.dumps({"config": {"task": "t2m"}, "results": {"model": {}}}))
    with pytest.raises(SystemExit, match="not a `moscale eval --task program` report"):
        m.main([str(t2m)])
    with pytest.raises(SystemExit, match="cannot read"):
        m.main([str(tmp_path / "missing.json")])


def test_a_side_of_a_report_makes_a_column(tmp_path, capsys):
    m = _mod()
    rep = _report(_side({"count": 0.4}, 0.4, 0.3), ["c1"], _side({"count": 1.0}, 1.0, 1.0))
    rep["results"]["tokens"] = _side({"count": 0.8}, 0.8, 0.7)
    p = tmp_path / "own.json"
    p.write_text(json.dumps(rep))
    m.main([f"{p}#tokens=tokens", f"{p}", "--no-real"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| attribute | tokens | own |"
    assert lines[2].startswith("| count | 0.800 [0.700, 0.850] | 0.400 [0.300, 0.450] |")
    name, _ = m.load_report(f"{p}#tokens")
    assert name == "own#tokens"
    with pytest.raises(SystemExit, match="has no 'baseline' results"):
        m.main([f"{p}#baseline"])
