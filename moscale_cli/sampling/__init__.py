"""Sampling: next-scale generation (sampler), editing masks and edit mode."""

# frames of smooth transition inside each regenerated region (editing, in-betweening, composition);
# kept here, free of torch imports, so the CLI can use it as an option default
DEFAULT_BLEND = 6
