"""Task defaults shared by the pipeline and the CLI (free of torch imports, so ``--help`` stays fast)."""

# frames of smooth transition inside each regenerated region (editing, in-betweening, composition)
DEFAULT_BLEND = 6
