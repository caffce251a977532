"""Dataset labels: label tables (formats, garbage), .json indices, file names, and their priorities."""

from __future__ import annotations

from pathlib import Path

import pytest

from moscale_cli.data.labels import LabelFinder, labels_from_name, parse_label_table, resolve_labels
from moscale_cli.errors import DatasetError


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text",
    [
        "walk\ndash\nbye\n",
        "# contents\n\nwalk\ndash  \nbye\n\n",
        "0 walk\n1 dash\n2 bye\n",
        "0: walk\n1:dash\n2:\tbye\n",
        "0,walk\n1,dash\n2,bye\n",
        "2 bye\n0 walk\n1 dash\n",
    ],
)
def test_table_formats(tmp_path: Path, text: str):
    assert parse_label_table(_write(tmp_path / "content_label.txt", text)) == {0: "walk", 1: "dash", 2: "bye"}


def test_table_keeps_given_indices_and_multiword_labels(tmp_path: Path):
    table = parse_label_table(_write(tmp_path / "t.txt", "1 walk back\n5 not-confident\n"))
    assert table == {1: "walk back", 5: "not-confident"}


@pytest.mark.parametrize(
    "text,msg",
    [
        ("walk\n0 dash\n", r"t.txt:2: mixes"),
        ("0 walk\n0 dash\n", r"t.txt:2: index 0 appears twice"),
        ("walk\n\x00\x01\x02\n", r"t.txt:2: .* is not a label"),
        ("walk\n12.5\n", r"t.txt:2: .* is not a label"),
        ("\n# nothing\n", "holds no labels"),
    ],
)
def test_table_garbage_is_one_clear_line(tmp_path: Path, text: str, msg: str):
    with pytest.raises(DatasetError, match=msg) as e:
        parse_label_table(_write(tmp_path / "t.txt", text))
    assert "\n" not in str(e.value)
    (tmp_path / "b.txt").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DatasetError, match="cannot be read"):
        parse_label_table(tmp_path / "b.txt")


def test_names():
    assert labels_from_name("dataset-1_walk-back_not-confident_003") == {
        "content": "walk-back",
        "style": "not-confident",
    }
    assert labels_from_name("dataset-2_raise-up-both-hands_normal_001") == {
        "content": "raise-up-both-hands",
        "style": "normal",
    }
    assert labels_from_name("jump_forward_02") == {"content": "jump forward"}
    assert labels_from_name("Walking") == {"content": "walking"}
    assert labels_from_name("take_003") == {} and labels_from_name("01_01") == {}


def test_priorities_and_warnings(tmp_path: Path):
    root = tmp_path / "ds"
    _write(root / "cfg" / "content_label.txt", "walk\ndash\nbye\n")
    _write(root / "cfg" / "style_label.txt", "childish\nhappy\n")
    finder = LabelFinder(root / "data")  # the source folder is data/; cfg/ lies beside it
    f = _write(root / "data" / "dataset-1_dash_childish_001.bvh", "")
    assert resolve_labels(f, finder) == ({"content": "dash", "style": "childish"}, [])
    _write(f.with_suffix(".json"), '{"content": 2, "style": 1}')  # own files win, with a warning
    labels, warns = resolve_labels(f, finder)
    assert labels == {"content": "bye", "style": "happy"} and len(warns) == 2
    assert "says content 'bye', the file name 'dash'; using 'bye'" in warns[0]
    _write(f.with_suffix(".json"), '{"content": 7, "style": "x"}')  # out of range: the name stays
    labels, warns = resolve_labels(f, finder)
    assert labels == {"content": "dash", "style": "childish"}
    assert "content index 7 is not in cfg/content_label.txt (3 labels)" in warns[0]
    assert "style = 'x' is not a label index" in warns[1]
    _write(f.with_suffix(".json"), "[1, 2]")
    assert "not a JSON object" in resolve_labels(f, finder)[1][0]
    g = _write(root / "data" / "sub" / "plain.bvh", "")  # no json, generic name: its words
    assert resolve_labels(g, finder) == ({"content": "plain"}, [])
    # without cfg tables, dataset-2 names use the built-in tables
    other = LabelFinder(tmp_path / "d2")
    h = _write(tmp_path / "d2" / "dataset-2_walk_normal_001.bvh", "")
    _write(h.with_suffix(".json"), '{"content": 3, "style": 5}')
    labels, warns = resolve_labels(h, other)
    assert labels == {"content": "run", "style": "normal"} and "using 'run'" in warns[0]
    # garbage in a table stops everything (it concerns every file)
    _write(root / "cfg" / "style_label.txt", "childish\n\x07\n")
    with pytest.raises(DatasetError, match="style_label.txt:2"):
        resolve_labels(f, LabelFinder(root / "data"))
