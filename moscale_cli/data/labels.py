"""Labels of BVH datasets: the dataset's own label files, else the file name, else none.

Own files (Bandai-Namco style): a ``<name>.json`` beside each BVH holding label indices
(``{"content": 3, "style": 5}``) into label tables ``cfg/<key>_label.txt`` found in a ``cfg`` folder
beside the BVH's folder or above it (``dataset/cfg`` beside ``dataset/data``). A table holds one label
per line, its index being its position (blank lines and ``#`` comments skipped), or ``<index> <label>``
lines (also ``<index>: <label>``, ``<index>,<label>`` or tab-separated); garbage in a table is an error
that stops the import (it concerns every file). Without tables, files named ``dataset-2_*`` use the
built-in tables of Bandai-Namco-Research-Motiondataset-2.

File name: ``<dataset>_<content>_<style>_<number>`` gives content and style; other names give their
words as the content (``jump_forward_02`` -> "jump forward"), numbers and words such as "take" dropped.

A label that does not resolve (an index outside its table, a broken .json, a .json that disagrees
with the name) is a warning on that file; the other sources still apply.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from moscale_cli.data.captions import BANDAI_CONTENTS, BANDAI_STYLES
from moscale_cli.errors import DatasetError

TABLE_FILE = re.compile(r"^(?P<key>[A-Za-z0-9]+)_labels?\.txt$")
BUILTIN_TABLES: dict[str, dict[str, dict[int, str]]] = {
    "dataset-2": {
        "content": dict(enumerate(BANDAI_CONTENTS)),
        "style": dict(enumerate(BANDAI_STYLES)),
    }
}
DATASET_NAME = re.compile(r"^(?P<prefix>[A-Za-z]+-?\d+)_(?P<content>[^_]+)_(?P<style>[^_]+)_(?P<num>\d+)$")
_INDEXED = re.compile(r"^(?P<idx>\d+)\s*[:,;=\t ]\s*(?P<label>.*\S)$")
_LABEL_OK = re.compile(r"^[A-Za-z][A-Za-z0-9 _'.-]*$")
_JUNK_WORDS = {
    "take", "clip", "motion", "mocap", "anim", "animation", "capture", "test", "untitled", "bvh", "seq",
    "trial", "subject", "sub", "final", "export", "data", "dataset", "copy", "v",
}  # fmt: skip


def parse_label_table(path: Path) -> dict[int, str]:
    """index -> label of a table file (see the module docstring); DatasetError naming file:line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"label file {path} cannot be read ({type(e).__name__})") from None
    rows: list[tuple[int, str]] = []  # (line number, text)
    for n, raw in enumerate(text.splitlines(), start=1):
        s = raw.split("#", 1)[0].strip()
        if s:
            rows.append((n, s))
    if not rows:
        raise DatasetError(f"label file {path} holds no labels")
    indexed = [_INDEXED.match(s) for _, s in rows]
    if any(indexed) and not all(indexed):
        first = indexed[0] is None
        n = rows[[(m is None) != first for m in indexed].index(True)][0]
        raise DatasetError(f"label file {path}:{n}: mixes '<index> <label>' lines with plain labels")
    table: dict[int, str] = {}
    for pos, ((n, s), m) in enumerate(zip(rows, indexed, strict=True)):
        idx, label = (int(m["idx"]), m["label"].strip()) if m else (pos, s)
        if not _LABEL_OK.match(label) or len(label) > 64:
            raise DatasetError(
                f"label file {path}:{n}: {label[:40]!r} is not a label (letters, digits, -, _)"
            )
        if idx in table:
            raise DatasetError(f"label file {path}:{n}: index {idx} appears twice")
        table[idx] = label
    return table


@dataclass
class LabelTables:
    folder: Path | None
    tables: dict[str, dict[int, str]] = field(default_factory=dict)


class LabelFinder:
    """Finds and caches the label tables of the folders of a dataset rooted at ``src``."""

    def __init__(self, src: Path) -> None:
        self.src = src.resolve()
        self._cache: dict[Path, LabelTables] = {}

    def _tables_in(self, cfg: Path) -> dict[str, dict[int, str]]:
        out = {}
        for p in sorted(cfg.iterdir()):
            m = TABLE_FILE.match(p.name)
            if m and p.is_file():
                out[m["key"].lower()] = parse_label_table(p)
        return out

    def tables_for(self, bvh: Path) -> LabelTables:
        """The nearest ``cfg`` folder with label tables, from the BVH's folder up to ``src``'s parent."""
        folder = bvh.resolve().parent
        if folder in self._cache:
            return self._cache[folder]
        stop = self.src.parent
        d = folder
        found = LabelTables(None)
        while True:
            cfg = d / "cfg"
            if cfg.is_dir():
                tables = self._tables_in(cfg)
                if tables:
                    found = LabelTables(cfg, tables)
                    break
            if d == stop or d == d.parent:
                break
            d = d.parent
        self._cache[folder] = found
        return found


def _words(stem: str) -> list[str]:
    parts = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", stem)
    return [w.lower() for w in parts if not w.isdigit() and w.lower() not in _JUNK_WORDS and len(w) > 1]


def labels_from_name(stem: str) -> dict[str, str]:
    """Labels from a file name (see the module docstring); {} when it has no words."""
    m = DATASET_NAME.match(stem)
    if m:
        return {"content": m["content"], "style": m["style"]}
    words = _words(stem)
    return {"content": " ".join(words)} if words else {}


def labels_from_json(
    path: Path, tables: dict[str, dict[int, str]], where: str
) -> tuple[dict[str, str], list[str]]:
    """(labels, warnings) from a ``.json`` of label indices resolved through ``tables`` (read from the
    folder named ``where``; "" for built-in tables)."""
    warnings: list[str] = []
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return {}, [f"label file {path.name} is broken ({type(e).__name__}); labels taken from the file name"]
    if not isinstance(obj, dict):
        return {}, [f"label file {path.name} is not a JSON object; labels taken from the file name"]
    labels: dict[str, str] = {}
    for key, value in obj.items():
        table = tables.get(str(key).lower())
        if table is None:
            continue  # no table to resolve this key (not a warning: most datasets have none)
        if isinstance(value, str) and value in table.values():
            labels[str(key).lower()] = value
            continue
        try:
            idx = int(value)
            if isinstance(value, bool) or idx != value:
                raise ValueError
        except (TypeError, ValueError):
            warnings.append(f"{path.name}: {key} = {value!r} is not a label index")
            continue
        if idx not in table:
            shown = f"{where}/{key}_label.txt" if where else f"the built-in {key} labels"
            warnings.append(f"{path.name}: {key} index {idx} is not in {shown} ({len(table)} labels)")
            continue
        labels[str(key).lower()] = table[idx]
    return labels, warnings


def resolve_labels(bvh: Path, finder: LabelFinder) -> tuple[dict[str, str], list[str]]:
    """(labels, warnings) of one BVH file: own files first, the file name for what they leave open."""
    from_name = labels_from_name(bvh.stem)
    tables = finder.tables_for(bvh)
    where = tables.folder.name if tables.folder else ""  # "" = the built-in tables
    table_set = tables.tables
    if not table_set:
        m = DATASET_NAME.match(bvh.stem)
        table_set = BUILTIN_TABLES.get(m["prefix"], {}) if m else {}
    own: dict[str, str] = {}
    warnings: list[str] = []
    side = bvh.with_suffix(".json")
    if side.is_file() and table_set:
        own, warnings = labels_from_json(side, table_set, where)
    for key, label in own.items():
        if key in from_name and _norm(from_name[key]) != _norm(label):
            warnings.append(
                f"{side.name} says {key} {label!r}, the file name {from_name[key]!r}; using {label!r}"
            )
    return {**from_name, **own}, warnings


def _norm(label: str) -> str:
    return re.sub(r"[\s_-]+", "-", label.strip().lower())
