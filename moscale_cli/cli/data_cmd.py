"""`moscale data ...`: dataset building (synth, import-bvh, merge, stats)."""

from __future__ import annotations

import importlib

import typer

data_app = typer.Typer(help="Build datasets: procedural corpus, BVH import, merging.", no_args_is_help=True)

_SUBMODULES = ["moscale_cli.cli.data_synth_cmd", "moscale_cli.cli.data_import_cmd"]


def register(app: typer.Typer) -> None:
    for name in _SUBMODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue
            raise
        mod.register(data_app)
    app.add_typer(data_app, name="data")
