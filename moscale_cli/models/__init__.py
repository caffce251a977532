"""Models: plain nn.Modules (no file I/O). Import the submodules directly, e.g. ``moscale_cli.models.tokenizer``."""
