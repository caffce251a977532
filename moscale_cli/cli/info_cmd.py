"""`moscale info MODEL`: what a model directory holds (configs, sizes, training data, metrics, licence)."""

from __future__ import annotations

import json

import typer


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v, separators=(", ", ": "))
    return str(v)


def info_command(
    model: str = typer.Argument(None, help="Model directory or hub id (default: the installed default model)."),
    as_json: bool = typer.Option(False, "--json", help="Print config.json as JSON."),
) -> None:
    """Show what a model directory holds: configs, parameter counts, training data, metrics, licence."""
    from rich.table import Table

    from moscale_cli.cli.common import out
    from moscale_cli.model_dir import read_model_config, resolve_model

    path = resolve_model(model)
    cfg = read_model_config(path)
    if as_json:
        out.print_json(json.dumps(cfg))
        return
    params = cfg.get("parameters", {})
    te = cfg.get("text_encoder", {})
    head = Table(title=f"moscale model: {path}", show_header=False, title_justify="left")
    head.add_column(style="bold")
    head.add_column()
    rows = [
        ("name", cfg.get("name") or "-"),
        ("format", f"{cfg.get('format')} v{cfg.get('format_version')} (moscale {cfg.get('moscale_version', '?')})"),
        ("created", cfg.get("created", "-")),
        ("text encoder", f"{te.get('name')} (window {te.get('max_tokens')} tokens, dim {te.get('dim')})"),
        ("motion", f"{cfg.get('feature_dim')}-dim features, {cfg.get('skeleton', 'smpl22')}, {cfg.get('fps')} fps, "
                   f"{cfg.get('min_frames')}..{cfg.get('max_frames')} frames (unit {cfg.get('unit')})"),
        ("parameters", f"tokenizer {params.get('tokenizer', 0):,} | generator {params.get('generator', 0):,} | "
                       f"length {params.get('length', 0):,} | total {sum(int(v) for v in params.values()):,}"),
        ("weights", cfg.get("weights_dtype", "float32")),
        ("generator", f"{(cfg.get('generator') or {}).get('arch', 'next-scale')}"),
        ("length estimator", "yes" if cfg.get("length") else "no"),
        ("evaluator", f"{cfg['evaluator']}/ (used by moscale eval)" if cfg.get("evaluator") else "-"),
        ("sampling", ", ".join(f"{k} {v}" for k, v in cfg["sampling"].items()) + " (recommended; flags override)"
         if cfg.get("sampling") else "the reference's defaults (cfg 5)"),
        ("statistics", _fmt(cfg.get("stats", {}))),
        ("licence", cfg.get("license", "-")),
    ]
    for k, v in rows:
        head.add_row(k, str(v))
    out.print(head)
    for section in ("training", "metrics", "tokenizer", "generator", "length"):
        d = cfg.get(section)
        if not d:
            if section in ("training", "metrics"):
                out.print(f"[bold]{section}[/bold]: none recorded")
            continue
        t = Table(title=section, show_header=False, title_justify="left")
        t.add_column(style="bold")
        t.add_column()
        for k in sorted(d):
            t.add_row(k, _fmt(d[k]))
        out.print(t)


def register(app: typer.Typer) -> None:
    app.command("info")(info_command)
