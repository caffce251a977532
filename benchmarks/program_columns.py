"""Program reports side by side: the README's accuracy tables, made from `moscale eval --task program` reports.

Usage: python benchmarks/program_columns.py REPORT.json[#SIDE][=NAME] ... [--no-real] [--checks]

One markdown table: a row per attribute (in the detectors' order, an attribute that no report checks left
out), then the mean over attributes and the clips with every attribute right; a column per report (its model's
accuracy with the 95% interval the report carries), led by the real-motion column of the first report (the
detectors' self-check on the same clips; `--no-real` leaves it out). `--checks` adds the number of checks of
the last report. NAME is the column's title (default: the file's name without `.json`). SIDE picks another
side of the report than the model's: `#tokens` is the tokenizer's bound (`moscale eval --task program
--tokens`), `#real` the real motion. A report whose
clips differ from the first report's is flagged under the table: its column is not measured on the same clips.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from moscale_cli.evaluation.program.table import ATTRIBUTES


def load_report(spec: str) -> tuple[str, dict[str, Any]]:
    """``PATH[#SIDE][=NAME]`` -> (column name, report whose "model" results are SIDE's); a file that is not a
    program report, or a SIDE it does not have, is an error."""
    path, _, name = spec.partition("=")
    path, _, side = path.partition("#")
    p = Path(path)
    try:
        rep = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SystemExit(f"error: cannot read {p}: {e}") from None
    if rep.get("config", {}).get("task") != "program" or "model" not in rep.get("results", {}):
        raise SystemExit(f"error: {p} is not a `moscale eval --task program` report")
    if side:
        if side not in rep["results"]:
            raise SystemExit(f"error: {p} has no '{side}' results (it has: {', '.join(sorted(rep['results']))})")
        rep = {**rep, "results": {**rep["results"], "model": rep["results"][side]}}
    return name or (f"{p.stem}#{side}" if side else p.stem), rep


def _cell(r: dict[str, Any] | None) -> str:
    if r is None:
        return "-"
    return f"{r['acc']:.3f} [{r['lo']:.3f}, {r['hi']:.3f}]"


def _clips(rep: dict[str, Any]) -> list[str]:
    return sorted({g["clip"] for g in rep.get("generations", [])})


def columns_table(reports: list[tuple[str, dict[str, Any]]], real: bool = True, checks: bool = False) -> str:
    """The markdown table of ``(name, report)`` columns (see the module's docstring)."""
    if not reports:
        raise ValueError("no reports")
    cols: list[tuple[str, dict[str, Any]]] = []
    if real and "real" in reports[0][1]["results"]:
        cols.append(("real motion", reports[0][1]["results"]["real"]))
    cols += [(name, rep["results"]["model"]) for name, rep in reports]
    attrs = [a for a in ATTRIBUTES if any(a in c["per_attribute"] for _, c in cols)]
    head = ["attribute", *[n for n, _ in cols], *(["checks"] if checks else [])]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    last = reports[-1][1]["results"]["model"]
    for a in attrs:
        n = [str(last["per_attribute"].get(a, {}).get("n", "-"))] if checks else []
        lines.append("| " + " | ".join([a, *[_cell(c["per_attribute"].get(a)) for _, c in cols], *n]) + " |")
    lines.append("| **mean over attributes** | " + " | ".join(_cell(c["overall_attribute_mean"]) for _, c in cols)
                 + (" | |" if checks else " |"))
    n_gen = f" | {last['overall_clips_all_correct']['n']} |" if checks else " |"  # generations scored
    lines.append("| **every attribute right** | " + " | ".join(_cell(c["overall_clips_all_correct"]) for _, c in cols)
                 + n_gen)
    first = _clips(reports[0][1])
    notes = [f"note: column '{name}' is measured on other clips than '{reports[0][0]}'"
             for name, rep in reports[1:] if _clips(rep) != first]
    return "\n".join(lines + ([""] + notes if notes else []))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reports", nargs="+", help="program reports, each PATH[#SIDE][=NAME]")
    ap.add_argument("--no-real", action="store_true", help="leave out the real-motion column")
    ap.add_argument("--checks", action="store_true", help="add the number of checks of the last report")
    args = ap.parse_args(argv)
    print(columns_table([load_report(s) for s in args.reports], real=not args.no_real, checks=args.checks))


if __name__ == "__main__":
    sys.exit(main())
