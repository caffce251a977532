"""Trained weights inherit the licence of their training data (e.g. CC BY-NC data -> non-commercial model)."""

from __future__ import annotations

import json

from moscale_cli.data.merge import dataset_licenses
from moscale_cli.training.train_model import model_license


def test_licences_pass_through_merges_and_into_the_model(tmp_path):
    a, b, merged = tmp_path / "bandai", tmp_path / "synth", tmp_path / "merged"
    for d in (a, b, merged):
        d.mkdir()
    (a / "meta.json").write_text(json.dumps({"license": "Some mocap set, CC BY-NC 4.0"}))
    (b / "meta.json").write_text(json.dumps({"kind": "synth"}))
    (merged / "meta.json").write_text(json.dumps({"licenses": dataset_licenses([a, b])}))
    lic = dataset_licenses([merged])
    assert lic == {"bandai": "Some mocap set, CC BY-NC 4.0"}
    assert model_license("", lic).startswith("CC-BY-NC-4.0")
    assert "non-commercial" in model_license("", lic)
    assert model_license("", dataset_licenses([b])) == "Apache-2.0"
    assert model_license("MIT", lic) == "MIT"  # an explicit choice wins
